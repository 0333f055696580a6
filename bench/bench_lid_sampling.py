"""Two-stage language ID from a spread sample of words: how often the sample's guess keeps the
decision of one prediction on `max_chars`, and what it costs (a benchmark, not a test).

The texts are those `bench_stages.py` extracts from the WARC files given, with each extractor of
`--extractors`. For each candidate (`sample_chars`, `sample_run`, `sample_margin`) it prints the
share of texts whose language, script and kept-or-dropped decision (score >= threshold) are the
same as with sampling off, the share that needed the second prediction, the characters the model
read per text, and LID CPU microseconds per text (`time.process_time`, best of `--repeat`; every
candidate with `--time`, else the default and off).

    taskset -c 0 .venv/bin/python bench/bench_lid_sampling.py bench/.cache/warc/part-0[0-3].warc.gz   # tuned here
    taskset -c 0 .venv/bin/python bench/bench_lid_sampling.py bench/.cache/warc/part-0[4-7].warc.gz \\
        miner/data/demo.warc.gz   # held out
"""

from __future__ import annotations

import argparse
import gc
import glob
import os
import sys
import time
from dataclasses import replace
from typing import Any

from bench_stages import _texts
from benchkit import cpu_model, log

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_CANDIDATES = [
    (chars, run, margin) for chars in (500, 750, 1000, 1500) for run in (1, 4, 16) for margin in (0.15, 0.43, 0.7)
]


class _CountingModel:
    """The real model, counting its predictions and the characters it reads."""

    def __init__(self, model: Any) -> None:
        self.model, self.calls, self.chars = model, 0, 0

    def predict(self, text: str, k: int = 1) -> Any:
        self.calls += 1
        self.chars += len(text)
        return self.model.predict(text, k=k)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warcs", nargs="*", help="WARC files (default: miner/data/*.warc.gz)")
    parser.add_argument("--extractors", default="fast,trafilatura", help="comma-separated (default fast,trafilatura)")
    parser.add_argument("--repeat", type=int, default=3, help="timed runs per candidate; the fastest counts")
    parser.add_argument("--time", action="store_true", help="time every candidate (else the default and off)")
    args = parser.parse_args()

    from toxmine.miner.langid import FastTextLid, LidOptions

    paths = args.warcs or sorted(glob.glob(os.path.join(_ROOT, "miner", "data", "*.warc.gz")))
    texts: list[str] = []
    for extractor in args.extractors.split(","):
        log(f"reading {len(paths)} WARC files, extracting with {extractor}")
        texts += [text for _, text in _texts(paths, extractor)[1]]
    default = LidOptions()
    lid = FastTextLid(default.model_path)

    def run(options: LidOptions, timed: bool) -> tuple[float, list[Any], _CountingModel]:
        best, guesses = float("inf"), []
        for _ in range(args.repeat if timed else 0):
            gc.collect()
            started = time.process_time()
            guesses = lid.predict(texts, options)
            best = min(best, time.process_time() - started)
        counting = _CountingModel(lid._model)
        lid._model, model = counting, lid._model
        try:
            guesses = lid.predict(texts, options)
        finally:
            lid._model = model
        return best, guesses, counting

    def decision(guess: Any) -> tuple[str, str | None, bool]:
        return guess.lang, guess.script, guess.score >= default.threshold

    off_seconds, base, off_count = run(replace(default, sample_chars=0), True)
    n = len(texts)
    print(f"`{' '.join(['python', *sys.argv])}`: {n} texts ({sum(map(len, texts)) // n:,} chars mean; "
          f"extractors {args.extractors}), max_chars={default.max_chars}, threshold={default.threshold}; "
          f"CPU time, best of {args.repeat}; {cpu_model()}\n")  # fmt: skip
    columns = (
        "sample_chars",
        "sample_run",
        "sample_margin (accept)",
        "same decision",
        "second prediction",
        "chars read",
    )
    print("| " + " | ".join(columns) + " | LID µs/text |")
    print("|---:|---:|---:|---:|---:|---:|---:|")
    print(f"| 0 (off) | - | - | 100.00% | - | {off_count.chars / n:,.0f} | {off_seconds * 1e6 / n:,.0f} |")
    for chars, run_words, margin in _CANDIDATES:
        options = replace(default, sample_chars=chars, sample_run=run_words, sample_margin=margin)
        is_default = options == default
        seconds, guesses, counting = run(options, args.time or is_default)
        same = sum(decision(a) == decision(b) for a, b in zip(guesses, base, strict=True))
        sampled = counting.calls - n  # texts predicted twice
        timing = f"{seconds * 1e6 / n:,.0f}" if seconds != float("inf") else "-"
        mark = " (default)" if is_default else ""
        print(f"| {chars}{mark} | {run_words} | {margin} ({options.sample_accept:.3f}) | {100 * same / n:.2f}% | "
              f"{100 * sampled / n:.1f}% | {counting.chars / n:,.0f} | {timing} |", flush=True)  # fmt: skip

    print("\nThe default sampling at other `--lid-threshold` values (the decision: language, script, score >= it):\n")
    print("| threshold | sample_accept | same decision | chars read |")
    print("|---:|---:|---:|---:|")
    for threshold in (0.5, 0.65, 0.8, 0.9, 0.95):
        at = replace(default, threshold=threshold)
        _, guesses, counting = run(at, False)
        _, whole, _ = run(replace(at, sample_chars=0), False)
        same = sum(
            (a.lang, a.script, a.score >= threshold) == (b.lang, b.script, b.score >= threshold)
            for a, b in zip(guesses, whole, strict=True)
        )
        print(
            f"| {threshold} | {at.sample_accept:.3f} | {100 * same / n:.2f}% | {counting.chars / n:,.0f} |", flush=True
        )


if __name__ == "__main__":
    main()
