#!/usr/bin/env python3
"""What per-prompt seeding costs the local transformers backend (issue 11, bug 4).

A benchmark, not a test. The backend now draws each prompt's k samples in one `generate` call seeded
from (seed, prompt), so `--batch-size` never changes a sample. Before, it padded 8 prompts into one
call seeded with `seed + batch start`: faster on a CPU, but a prompt's samples depended on its batch.
In one run, on the same prompts of a fresh demo database, both ways side by side at k=4 and k=25
(RTP's k): continuations/s and their ratio, and whether the samples of a prompt stay the same when
the prompts are regrouped (batch of 8 vs one by one).

    .venv/bin/python bench/bench_seeding.py                    # ~3 minutes on 2 cores
    .venv/bin/python bench/bench_seeding.py --model PATH --prompts 16 --ks 4,25
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench_eval import _model_dir, _prompts
from benchkit import cpu_model, loadavg, log, num, rate


def _batched_old(backend: Any, prompts: list[str], k: int, max_new_tokens: int, seed: int, batch: int) -> list[str]:
    """The former generate(): `batch` prompts left-padded into one call, seeded with seed + batch start."""
    import torch

    texts: list[str] = []
    for start in range(0, len(prompts), batch):
        encoded = [backend._encode(p, True, max_new_tokens)[0] for p in prompts[start : start + batch]]
        padded = backend.tokenizer.pad({"input_ids": encoded}, return_tensors="pt")
        torch.manual_seed(seed + start)
        with torch.inference_mode():
            out = backend.lm.generate(**padded, do_sample=True, temperature=1.0, top_p=0.9, top_k=0,
                                      max_new_tokens=max_new_tokens, num_return_sequences=k,
                                      pad_token_id=backend.tokenizer.pad_token_id)  # fmt: skip
        texts += backend.tokenizer.batch_decode(out[:, padded["input_ids"].shape[1] :], skip_special_tokens=True)
    return texts


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="default", help="model folder, or default (SmolLM2-135M-Instruct)")
    parser.add_argument("--prompts", type=int, default=16)
    parser.add_argument("--ks", default="4,25", help="continuations per prompt")
    parser.add_argument("--max-new-tokens", type=int, default=20, help="as the RTP preset")
    parser.add_argument("--batch", type=int, default=8, help="prompts per call of the former batched way")
    args = parser.parse_args()

    from toxmine.evaluate.backends import create_backend
    from toxmine.evaluate.params import GenerationParams

    with tempfile.TemporaryDirectory() as tmp:
        prompts = [p for _, p in _prompts(Path(tmp), args.prompts)]
    backend: Any = create_backend(_model_dir(args.model))
    log(f"{len(prompts)} prompts, model {args.model}; {cpu_model()}, load {loadavg()}")
    print(f"| k | per-prompt seeded (now) | batched by {args.batch} (before) | now / before | "
          "same samples when regrouped (now / before) |")  # fmt: skip
    print("|---|---|---|---|---|")
    for k in (int(x) for x in args.ks.split(",")):
        params = GenerationParams(k=k, max_new_tokens=args.max_new_tokens, seed=1)
        started = time.perf_counter()
        now = backend.generate(prompts, params)
        now_rate = rate(len(prompts) * k, time.perf_counter() - started)
        started = time.perf_counter()
        before = _batched_old(backend, prompts, k, args.max_new_tokens, 1, args.batch)
        before_rate = rate(len(prompts) * k, time.perf_counter() - started)
        regrouped_now = [c.text for p in prompts[:2] for c in backend.generate([p], params)[0]]
        same_now = regrouped_now == [c.text for s in now[:2] for c in s]
        regrouped_before = _batched_old(backend, prompts[:2], k, args.max_new_tokens, 1, 1)
        same_before = regrouped_before == before[: 2 * k]
        same = f"{'yes' if same_now else 'no'} / {'yes' if same_before else 'no'}"
        print(f"| {k} | {num(now_rate, 2)} cont/s | {num(before_rate, 2)} cont/s | "
              f"{num(now_rate / before_rate, 2)} | {same} |")  # fmt: skip
    print(f"\ncommand: {Path(sys.executable).name} {' '.join(sys.argv)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
