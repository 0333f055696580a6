"""Two-stage language ID: how often a head's guess keeps the decision of one prediction on
`max_chars`, and what it costs (a benchmark, not a test).

The texts are those `bench_stages.py` extracts (default: the shipped demo WARC). For each
candidate (`head_chars`, `head_accept`) it prints the share of texts whose language, script and
kept-or-dropped decision (score >= threshold) are the same as with the head off, the share that
needed the second prediction, and LID CPU microseconds per text (`time.process_time`, best of
`--repeat`).

    taskset -c 0 .venv/bin/python bench/bench_lid_heads.py miner/data/demo.warc.gz bench/.cache/warc/part-0*.warc.gz
"""

from __future__ import annotations

import argparse
import gc
import glob
import os
import sys
import time
from typing import Any

from bench_stages import _texts
from benchkit import cpu_model, log

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CANDIDATES = [(h, a) for h in (1000, 1500, 2000, 3000) for a in (0.85, 0.9, 0.93, 0.95, 0.97, 0.99)]


class _CountingModel:
    """The real model, counting its predictions."""

    def __init__(self, model: Any) -> None:
        self.model, self.calls = model, 0

    def predict(self, text: str, k: int = 1) -> Any:
        self.calls += 1
        return self.model.predict(text, k=k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warcs", nargs="*", help="WARC files (default: miner/data/*.warc.gz)")
    parser.add_argument("--repeat", type=int, default=2, help="timed runs per candidate; the fastest counts")
    parser.add_argument("--time", action="store_true", help="time every candidate (else only agreement)")
    args = parser.parse_args()

    from toxmine.miner.langid import FastTextLid, LidOptions

    paths = args.warcs or sorted(glob.glob(os.path.join(_ROOT, "miner", "data", "*.warc.gz")))
    log(f"reading and extracting {len(paths)} WARC files")
    texts = [text for _, text in _texts(paths)[1]]
    options = LidOptions()
    lid = FastTextLid(options.model_path)

    def run(head_chars: int, head_accept: float) -> tuple[float, list[Any]]:
        best, guesses = float("inf"), []
        for _ in range(args.repeat if args.time or head_chars == 0 else 1):
            gc.collect()
            started = time.process_time()
            guesses = lid.predict(texts, options.max_chars, head_chars, head_accept)
            best = min(best, time.process_time() - started)
        return best, guesses

    def decision(guess: Any) -> tuple[str, str | None, bool]:
        return guess.lang, guess.script, guess.score >= options.threshold

    seconds, base = run(0, 0.0)
    n = len(texts)
    print(f"`{' '.join(['python', *sys.argv])}`: {n} texts ({sum(map(len, texts)) // n:,} chars mean), "
          f"max_chars={options.max_chars}, threshold={options.threshold}; CPU time; {cpu_model()}\n")  # fmt: skip
    print("| head_chars | head_accept | same decision | second prediction | LID µs/text |")
    print("|---:|---:|---:|---:|---:|")
    print(f"| 0 (off) | - | 100.00% | - | {seconds * 1e6 / n:,.0f} |")
    for head_chars, head_accept in _CANDIDATES:
        seconds, guesses = run(head_chars, head_accept)
        same = sum(decision(a) == decision(b) for a, b in zip(guesses, base, strict=True))
        counting = _CountingModel(lid._model)
        lid._model, model = counting, lid._model
        lid.predict(texts, options.max_chars, head_chars, head_accept)
        lid._model = model
        timing = f"{seconds * 1e6 / n:,.0f}" if args.time else "-"
        mark = " (default)" if (head_chars, head_accept) == (options.head_chars, options.head_accept) else ""
        print(f"| {head_chars}{mark} | {head_accept} | {100 * same / n:.2f}% | "
              f"{100 * (counting.calls - n) / n:.1f}% | {timing} |", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
