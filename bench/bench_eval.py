#!/usr/bin/env python3
"""Evaluation throughput: continuations/s of the local and the HTTP backend, scorers beside them.

A benchmark, not a test. In one run, on the same prompts of a fresh demo database:

1. the local transformers backend (default: the embedded SmolLM2-135M-Instruct; each prompt's k
   samples are one seeded call, see bench_seeding.py): continuations/s and generated tokens/s;
2. the OpenAI-compatible HTTP backend against `transformers serve` on 127.0.0.1 serving the same
   model folder, at several concurrency limits (the server ignores `n`, so the backend asks
   again for the missing samples: k requests per prompt);
3. the scorers on the continuations just generated: lexicon, and the transformers classifier
   with xlm-roberta-base's shapes when `bench_scoring.py` has built it;
4. scorer texts/s over continuations/s: above 1, scoring does not bound the evaluation.

    .venv/bin/python bench/bench_eval.py                       # ~5 minutes on 2 cores
    .venv/bin/python bench/bench_eval.py --model PATH --prompts 32 --k 4 --max-new-tokens 20
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

BENCH_DIR = Path(__file__).resolve().parent
SCORER_MODEL = BENCH_DIR / ".cache" / "models" / "xlmr-base-arch"


def _timed(func: Callable[[], Any], min_seconds: float = 0.0) -> tuple[Any, float, int]:
    """Run `func` until `min_seconds` have passed (at least once): its last result, the mean
    wall seconds per call, and the number of calls."""
    calls, started, result = 0, time.perf_counter(), None
    while True:
        result = func()
        calls += 1
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            return result, elapsed / calls, calls


def _prompts(folder: Path, n: int) -> list[tuple[str, str]]:
    """(lang, prompt) of `n` prompts of a fresh demo database, spread over languages and buckets."""
    from toxmine.miner.demo import demo_warc_path
    from toxmine.miner.mine import mine
    from toxmine.miner.score_units import score_documents
    from toxmine.miner.scoring import create_scorer
    from toxmine.miner.sources import LocalFile
    from toxmine.miner.split import SplitOptions, select_split
    from toxmine.miner.store import Store

    db = folder / "demo.duckdb"
    mine([LocalFile(str(demo_warc_path()))], str(db))
    with Store(str(db)) as store:
        score_documents(store, create_scorer("lexicon"))
        table, _ = select_split(store, SplitOptions(per_bucket=n))
    rows = list(zip(table.column("lang").to_pylist(), table.column("prompt").to_pylist(), strict=True))
    step = max(1, len(rows) // n)
    return [(str(lang), str(prompt)) for lang, prompt in rows[::step][:n]]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@contextmanager
def _serve(model_dir: str, log_path: Path) -> Iterator[str]:
    """`transformers serve` on 127.0.0.1 for `model_dir`; yields the base URL."""
    import httpx

    port = _free_port()
    command = [str(Path(sys.executable).with_name("transformers")), "serve", model_dir, "--host", "127.0.0.1",
               "--port", str(port), "--device", "cpu"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1"}
    with open(log_path, "w") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 180
        while True:
            if server.poll() is not None:
                raise RuntimeError(f"transformers serve exited:\n{log_path.read_text()[-2000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"transformers serve not ready in 180 s:\n{log_path.read_text()[-2000:]}")
            time.sleep(0.5)
        yield f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()


def _model_dir(spec: str) -> str:
    if spec == "default":
        from toxmine.evaluate.default_model import default_cache_root, default_model_dir

        return str(default_model_dir(default_cache_root()))
    return spec


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model folder, or default (SmolLM2-135M-Instruct)")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--k", type=int, default=4, help="continuations per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=20, help="as the RTP preset")
    parser.add_argument("--concurrency", default="1,4", help="HTTP concurrency limits")
    parser.add_argument("--json", default=str(BENCH_DIR / ".cache" / "eval.json"))
    args = parser.parse_args()

    import torch
    from transformers import AutoTokenizer

    from toxmine.evaluate.backends import create_backend
    from toxmine.evaluate.params import GenerationParams
    from toxmine.miner.scoring import create_scorer

    results: dict[str, Any] = {"command": " ".join([Path(sys.executable).name, *sys.argv]), "rows": []}
    rows: list[tuple[str, str, str, str]] = []  # what, n, result, notes

    def row(what: str, n: str, result: str, notes: str = "", **data: Any) -> None:
        rows.append((what, n, result, notes))
        results["rows"].append({"what": what, **data})
        print(f"[bench] {what}: {result} {notes}", file=sys.stderr, flush=True)

    started = time.perf_counter()
    work = Path(tempfile.mkdtemp(prefix="toxmine-bench-eval-"))
    model_dir = _model_dir(args.model)
    tokenizer = AutoTokenizer.from_pretrained(model_dir)
    prompts = _prompts(work, args.prompts)
    texts, langs = [p for _, p in prompts], [lang for lang, _ in prompts]
    params = GenerationParams(k=args.k, max_new_tokens=args.max_new_tokens, temperature=1.0, top_p=0.9, seed=0)
    n_cont = len(texts) * args.k

    def count_tokens(samples: list[list[Any]]) -> int:
        return sum(len(tokenizer(c.text, add_special_tokens=False)["input_ids"]) for s in samples for c in s if c.text)

    generated: list[str] = []
    best_local = 0.0
    backend = create_backend(args.model, device="cpu")
    backend.generate(texts[:1], GenerationParams(k=1, max_new_tokens=4))  # warm-up
    samples, seconds, _ = _timed(lambda: backend.generate(texts, params))
    tokens = count_tokens(samples)
    generated = [c.text for s in samples for c in s if c.text]
    best_local = n_cont / seconds
    row("local transformers", f"{len(texts)} x k={args.k}", f"{best_local:.2f} cont/s",
        f"{tokens / seconds:.1f} new tokens/s; {seconds:.1f} s",
        continuations_per_s=best_local, tokens_per_s=tokens / seconds, seconds=seconds)  # fmt: skip
    del backend

    best_http = 0.0
    with _serve(model_dir, work / "serve.log") as url:
        for concurrency in [int(c) for c in args.concurrency.split(",")]:
            backend = create_backend(f"openai:{model_dir}@{url}", concurrency=concurrency)
            backend.generate(texts[:1], GenerationParams(k=1, max_new_tokens=4))  # warm-up
            samples, seconds, _ = _timed(lambda b=backend: b.generate(texts, params))
            failed = sum(1 for s in samples for c in s if c.text is None)
            best_http = max(best_http, n_cont / seconds)
            tokens = count_tokens(samples)
            row(f"HTTP openai (transformers serve), concurrency {concurrency}", f"{len(texts)} x k={args.k}",
                f"{n_cont / seconds:.2f} cont/s", f"{tokens / seconds:.1f} new tokens/s; {failed} failed",
                concurrency=concurrency, continuations_per_s=n_cont / seconds, failed=failed)  # fmt: skip

    cont_langs = [lang for lang in langs for _ in range(args.k)][: len(generated)]
    lexicon = create_scorer("lexicon")
    _, seconds, _ = _timed(lambda: lexicon.score_batch(generated, cont_langs), min_seconds=2.0)
    lexicon_rate = len(generated) / seconds
    fastest = max(best_local, best_http)
    row("scorer: lexicon", f"{len(generated)} continuations", f"{lexicon_rate:,.0f} texts/s",
        f"x{lexicon_rate / fastest:,.0f} the fastest generation", texts_per_s=lexicon_rate)  # fmt: skip
    if SCORER_MODEL.exists():
        torch.set_num_threads(os.cpu_count() or 1)
        classifier = create_scorer("transformers", model=str(SCORER_MODEL), device="cpu", batch_size=32)
        classifier.score_batch(generated[:8], cont_langs[:8])
        _, seconds, _ = _timed(lambda: classifier.score_batch(generated, cont_langs), min_seconds=3.0)
        rate = len(generated) / seconds
        row("scorer: transformers, xlm-roberta-base shapes (random weights)", f"{len(generated)} continuations",
            f"{rate:,.1f} texts/s", f"x{rate / fastest:,.1f} the fastest generation",
            texts_per_s=rate)  # fmt: skip
    else:
        row("scorer: transformers", "-", "not measured", f"run bench/bench_scoring.py first ({SCORER_MODEL})")

    results["seconds"] = time.perf_counter() - started
    print("## toxmine evaluation benchmark\n")
    print(f"- command: `{results['command']}`")
    cpu = platform.processor() or platform.machine()
    print(f"- machine: nproc {os.cpu_count()}, {cpu}, torch {torch.__version__}, CPU only; "
          f" model `{args.model}` ({model_dir}); prompts from the demo database; "
          f"k={args.k}, max_new_tokens={args.max_new_tokens}, top_p=0.9")  # fmt: skip
    print(f"- benchmark took {results['seconds']:.0f} s\n")
    print("| measurement | n | result | notes |\n|---|---:|---:|---|")
    for what, n, result, notes in rows:
        print(f"| {what} | {n} | {result} | {notes} |")
    Path(args.json).parent.mkdir(parents=True, exist_ok=True)
    Path(args.json).write_text(json.dumps(results, indent=1))
    print(f"\nfigures written to {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
