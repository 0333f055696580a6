#!/usr/bin/env python3
"""Main-text extraction quality and speed on the labelled article benchmark.

The metric is the one of the benchmark's README (Zyte's article-extraction benchmark): word
4-gram shingles, per-page tp/fp/fn normalised to sum 1, precision and recall averaged over
pages, F1 of the two means, and a bootstrap over pages for the +-.

    .venv/bin/python bench/extraction_metric.py --extractor fast
    .venv/bin/python bench/extraction_metric.py --extractor trafilatura --folder DIR --repeat 3

Speed is pages per CPU-second of this process, pinned to one core: parse and extraction only,
the HTML already decoded to str. The table has one row per half of the pages in sorted sha256
order (even indices, on which the fast extractor was tuned; odd indices, held out) and one for all.
"""

from __future__ import annotations

import argparse
import codecs
import gzip
import json
import math
import os
import random
import re
import sys
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

DEFAULT_FOLDER = Path("/work/shared/extraction-benchmark")
BOOTSTRAP_SAMPLES = 1000
BOOTSTRAP_SEED = 0
SHINGLE_SIZE = 4

_TOKEN_RE = re.compile(r"\w+")
_META_CHARSET_RE = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.IGNORECASE)

Extract = Callable[[str, str], "str | None"]


@dataclass(frozen=True)
class BenchPage:
    """One labelled page: its HTML decoded to str and the hand-checked article text."""

    sha256: str
    url: str
    html: str
    truth: str


@dataclass(frozen=True)
class PageScore:
    """A page's shingle counts, normalised so that tp + fp + fn = 1 (all 0 when both texts are empty)."""

    tp: float
    fp: float
    fn: float


@dataclass(frozen=True)
class Scores:
    """Precision, recall and F1 over pages, each with its bootstrap standard deviation."""

    precision: float
    recall: float
    f1: float
    precision_sd: float
    recall_sd: float
    f1_sd: float


# -- the metric -------------------------------------------------------------------------------------
def tokens(text: str) -> list[str]:
    """The benchmark's tokens: runs of word characters."""
    return _TOKEN_RE.findall(text)


def shingles(text: str, size: int = SHINGLE_SIZE) -> Counter[tuple[str, ...]]:
    """Counts of the word `size`-grams of `text`; a text of fewer tokens is one shingle, no tokens none."""
    words = tokens(text)
    if not words:
        return Counter()
    if len(words) < size:
        return Counter([tuple(words)])
    return Counter(tuple(words[i : i + size]) for i in range(len(words) - size + 1))


def score_page(truth: str, predicted: str | None) -> PageScore:
    """tp, fp, fn of the shingles of `predicted` against `truth`, divided by their sum."""
    true_counts = shingles(truth)
    pred_counts = shingles(predicted or "")
    tp = fp = fn = 0
    for key in true_counts.keys() | pred_counts.keys():
        t, p = true_counts.get(key, 0), pred_counts.get(key, 0)
        tp += min(t, p)
        fp += max(0, p - t)
        fn += max(0, t - p)
    total = tp + fp + fn
    if total == 0:
        return PageScore(0.0, 0.0, 0.0)
    return PageScore(tp / total, fp / total, fn / total)


def _mean_ratio(pages: Sequence[PageScore], wrong: Callable[[PageScore], float]) -> float:
    """Mean of tp / (tp + wrong) over pages where it is defined; 1 for a page with fp = fn = 0."""
    values: list[float] = []
    for page in pages:
        if page.fp == 0 and page.fn == 0:
            values.append(1.0)
        elif page.tp + wrong(page) > 0:
            values.append(page.tp / (page.tp + wrong(page)))
    return sum(values) / len(values) if values else 0.0


def precision_recall_f1(pages: Sequence[PageScore]) -> tuple[float, float, float]:
    """Mean precision, mean recall, and the F1 of the two means."""
    precision = _mean_ratio(pages, lambda p: p.fp)
    recall = _mean_ratio(pages, lambda p: p.fn)
    f1 = 2 * precision * recall / (precision + recall) if precision + recall > 0 else 0.0
    return precision, recall, f1


def _sd(values: Sequence[float]) -> float:
    mean = sum(values) / len(values)
    return math.sqrt(sum((v - mean) ** 2 for v in values) / max(1, len(values) - 1))


def scores(pages: Sequence[PageScore], samples: int = BOOTSTRAP_SAMPLES, seed: int = BOOTSTRAP_SEED) -> Scores:
    """The metric over `pages`, with the standard deviation of `samples` bootstrap resamples of the pages."""
    precision, recall, f1 = precision_recall_f1(pages)
    rng = random.Random(seed)
    boot: list[tuple[float, float, float]] = []
    if pages:
        for _ in range(samples):
            boot.append(precision_recall_f1(rng.choices(pages, k=len(pages))))
    if len(boot) < 2:
        return Scores(precision, recall, f1, 0.0, 0.0, 0.0)
    return Scores(
        precision, recall, f1, _sd([b[0] for b in boot]), _sd([b[1] for b in boot]), _sd([b[2] for b in boot])
    )


# -- the benchmark folder ---------------------------------------------------------------------------
def decode_page(payload: bytes) -> str:
    """HTML bytes to str: the charset of the first meta tag naming one, else UTF-8; bad bytes replaced."""
    match = _META_CHARSET_RE.search(payload[:8192])
    encoding = "utf-8"
    if match:
        try:
            encoding = codecs.lookup(match.group(1).decode("ascii")).name
        except (LookupError, UnicodeDecodeError):
            encoding = "utf-8"
    return payload.decode(encoding, errors="replace")


def load_benchmark(folder: Path | str = DEFAULT_FOLDER) -> list[BenchPage]:
    """Every labelled page of the benchmark folder, in sorted sha256 order."""
    folder = Path(folder)
    truth = json.loads((folder / "ground-truth.json").read_text(encoding="utf-8"))
    pages = []
    for sha256 in sorted(truth):
        payload = gzip.decompress((folder / "html" / f"{sha256}.html.gz").read_bytes())
        entry = truth[sha256]
        pages.append(BenchPage(sha256, entry.get("url", ""), decode_page(payload), entry.get("articleBody") or ""))
    return pages


# -- extractors -------------------------------------------------------------------------------------
def make_extractor(name: str) -> Extract:
    """The named extractor as a function (html, url) -> text."""
    if name == "fast":
        from toxmine.miner.extractors.fast import FastExtractor

        fast_extract: Extract = FastExtractor().extract
        return fast_extract
    if name in ("trafilatura", "trafilatura-fast"):
        import trafilatura

        fast = name == "trafilatura-fast"

        def run_trafilatura(html: str, url: str) -> str | None:
            return trafilatura.extract(
                html,
                url=url,
                output_format="txt",
                favor_precision=True,
                include_comments=False,
                include_tables=False,
                deduplicate=False,
                fast=fast,
            )

        return run_trafilatura
    if name == "resiliparse":
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        def run_resiliparse(html: str, url: str) -> str | None:
            return extract_plain_text(HTMLTree.parse(html), main_content=True)

        return run_resiliparse
    raise ValueError(f"unknown extractor {name!r}: fast, trafilatura, trafilatura-fast, resiliparse")


def run_extractor(
    extract: Extract, pages: Sequence[BenchPage], repeat: int = 1
) -> tuple[list[str | None], list[float]]:
    """Each page's text and its CPU seconds (the least of `repeat` runs)."""
    texts: list[str | None] = []
    seconds: list[float] = []
    for page in pages:
        best = float("inf")
        text: str | None = None
        for _ in range(repeat):
            start = time.process_time()
            text = extract(page.html, page.url)
            best = min(best, time.process_time() - start)
        texts.append(text)
        seconds.append(best)
    return texts, seconds


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--extractor", default="fast", help="fast, trafilatura, trafilatura-fast or resiliparse")
    parser.add_argument("--folder", type=Path, default=DEFAULT_FOLDER)
    parser.add_argument("--repeat", type=int, default=1, help="runs per page; its least CPU time counts")
    parser.add_argument("--cpu", type=int, default=0, help="core to pin to (-1: no pinning)")
    parser.add_argument("--worst", type=int, default=0, help="also list the N pages of lowest F1")
    args = parser.parse_args(argv)
    if args.cpu >= 0 and hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {args.cpu})
    pages = load_benchmark(args.folder)
    extract = make_extractor(args.extractor)
    extract("<html><body><p>" + "warm up " * 40 + "</p></body></html>", "http://example.com/")
    texts, seconds = run_extractor(extract, pages, args.repeat)
    page_scores = [score_page(page.truth, text) for page, text in zip(pages, texts, strict=True)]
    print(f"extractor {args.extractor}, {len(pages)} pages of {args.folder}, pinned to cpu {args.cpu}")
    print("| half | pages | pages/CPU-s | precision | recall | F1 |")
    print("|---|---:|---:|---:|---:|---:|")
    for half, index in (
        ("even", range(0, len(pages), 2)),
        ("odd", range(1, len(pages), 2)),
        ("all", range(len(pages))),
    ):
        chosen = list(index)
        cpu = sum(seconds[i] for i in chosen)
        s = scores([page_scores[i] for i in chosen])
        print(
            f"| {half} | {len(chosen)} | {len(chosen) / cpu if cpu else float('inf'):.0f} "
            f"| {s.precision:.3f} ± {s.precision_sd:.3f} | {s.recall:.3f} ± {s.recall_sd:.3f} "
            f"| {s.f1:.3f} ± {s.f1_sd:.3f} |"
        )
    if args.worst:
        ranked = sorted(range(len(pages)), key=lambda i: precision_recall_f1([page_scores[i]])[2])
        for i in ranked[: args.worst]:
            p, r, f = precision_recall_f1([page_scores[i]])
            page = pages[i]
            print(f"{i:4d} {page.sha256[:12]} P {p:.2f} R {r:.2f} F1 {f:.2f} {seconds[i] * 1000:.1f} ms {page.url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
