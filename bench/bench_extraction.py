#!/usr/bin/env python3
"""Extractors side by side: speed, quality, and what mining costs with each (issue 15).

A benchmark, not a test: one run prints one Markdown table and writes the figures as JSON.

1. Quality and speed on the labelled benchmark (`../shared/extraction-benchmark`, its README
   has the metric, implemented in `extraction_metric.py`): per extractor, pages per CPU-second
   (extraction only, in this process, HTML already decoded) and precision / recall / F1 with
   bootstrap +- over pages.
2. Speed on the bench corpus (`bench/.cache/warc`): the same, over its HTML pages.
3. End to end: `toxmine mine --extractor fast --no-score` on the bench corpus with 1 worker
   pinned to one core and 2 workers on two, in a fresh process each; pages per CPU-second of
   every process (the CLI, its workers, their extraction sandboxes) next to the raw extractor's
   (row 2): the ratio is the share of mining cost that is extraction. The default (trafilatura)
   end to end too, for the capacity plan.
4. toxmine's default against datatrove's WarcReader -> Trafilatura -> LanguageFilter on the same
   WARC file (`datatrove_compare.py`, its own venv), as a ratio of pages per CPU-second.
5. The capacity plan for one Common Crawl snapshot per extractor: the non-extraction cost per
   page measured in 3 (end to end less raw extraction), plus each extractor's raw cost (row 2).

    .venv/bin/python bench/bench_extraction.py                      # everything, ~15 min on 2 cores
    .venv/bin/python bench/bench_extraction.py --parts 2 --skip-datatrove --json out.json
"""

from __future__ import annotations

import argparse
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from benchkit import (
    compile_toxmine,
    corpus_pages,
    loadavg,
    log,
    machine_facts,
    markdown_rows,
    num,
    parallel_capacity,
    warc_files,
    write_json,
)

PACKAGES = ("toxmine", "trafilatura", "resiliparse", "selectolax", "lxml", "fastwarc", "warcio", "datasketch")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_WARC_DIR = os.path.join(BENCH_DIR, ".cache", "warc")
DEFAULT_LABELLED = os.path.join(BENCH_DIR, "..", "..", "shared", "extraction-benchmark")
DEFAULT_JSON = os.path.join(BENCH_DIR, ".cache", "extraction.json")
SNAPSHOT_PAGES = 3_000_000_000  # HTML pages in one Common Crawl snapshot (as bench/README's earlier plans)


def _pin(cpus: Sequence[int]) -> None:
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, set(cpus))


def _children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


# -- 1 and 2: raw extraction, in this process -------------------------------------------------------
def _timed(extract: Callable[[str, str | None], str | None], pages: Sequence[tuple[str, str]]) -> tuple[float, list]:
    """CPU seconds to extract every page once (after one warm-up page), and the texts."""
    extract("<html><body><p>" + "warm up " * 40 + "</p></body></html>", None)
    started = time.process_time()
    texts = [extract(html, url) for url, html in pages]
    return time.process_time() - started, texts


def _raw(names: Sequence[str], labelled: list[Any], corpus: list[tuple[str, str]]) -> dict[str, Any]:
    from extraction_metric import score_page, scores

    from toxmine.miner.extractors.catalog import create_extractor, extractor_identity

    rows: dict[str, Any] = {}
    for name in names:
        extractor = create_extractor(name)
        log(f"raw extraction: {name}")
        row: dict[str, Any] = {"identity": extractor_identity(name).as_config()}
        if labelled:
            seconds, texts = _timed(extractor.extract, [(page.url, page.html) for page in labelled])
            q = scores([score_page(page.truth, text) for page, text in zip(labelled, texts, strict=True)])
            row["labelled"] = {
                "pages": len(labelled), "cpu_s": seconds, "precision": q.precision, "recall": q.recall, "f1": q.f1,
                "precision_pm": q.precision_sd, "recall_pm": q.recall_sd, "f1_pm": q.f1_sd,
            }  # fmt: skip
        seconds, texts = _timed(extractor.extract, corpus)
        row["corpus"] = {"pages": len(corpus), "cpu_s": seconds, "texts": sum(1 for t in texts if t)}
        rows[name] = row
    return rows


# -- 3: end to end ------------------------------------------------------------------------------------
def _mine(files: Sequence[str], extractor: str, workers: int, cpus: Sequence[int], tmp: str | None) -> dict[str, Any]:
    """`toxmine mine` in a fresh process pinned to `cpus`: CPU of it and every descendant."""
    toxmine = os.path.join(os.path.dirname(sys.executable), "toxmine")
    with tempfile.TemporaryDirectory(prefix="toxmine-bench-", dir=tmp) as folder:
        db = os.path.join(folder, "bench.duckdb")
        command = [
            toxmine,
            "mine",
            *files,
            "--db",
            db,
            "--no-score",
            "--extractor",
            extractor,
            "--workers",
            str(workers),
        ]
        command = ["taskset", "-c", ",".join(map(str, cpus)), *command]
        before, started = _children_cpu(), time.perf_counter()
        with tempfile.TemporaryFile() as err:
            proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=err, env={**os.environ, "CI": "1"})
            seen = _watch_cpu(proc)
            wall, cpu = time.perf_counter() - started, _children_cpu() - before
            err.seek(0)
            done = subprocess.CompletedProcess(command, proc.returncode, "", err.read().decode(errors="replace"))
        # pool workers' sandboxes are not always reaped by a waiting parent, so RUSAGE_CHILDREN misses
        # them: count every process of the tree as last sampled (each loses < 50 ms at its end)
        cpu = max(cpu, sum(seen.values()))
        if done.returncode != 0:
            sys.stderr.write(done.stderr[-4000:])
            raise SystemExit(f"mining failed ({done.returncode}): {shlex.join(command[:8])} ...")
        import duckdb

        with duckdb.connect(db, read_only=True) as con:
            docs = con.execute("SELECT count(*), count(*) FILTER (WHERE dup_of IS NULL) FROM documents").fetchone()
    assert docs is not None
    return {"extractor": extractor, "workers": workers, "cpus": list(cpus), "wall_s": wall, "cpu_s": cpu,
            "documents": docs[0], "kept": docs[1]}  # fmt: skip


def _watch_cpu(proc: subprocess.Popen[bytes], every_s: float = 0.05) -> dict[int, float]:
    """CPU seconds of `proc` and every descendant, as last sampled, until `proc` ends."""
    import psutil

    seen: dict[int, float] = {}
    root = psutil.Process(proc.pid)
    while proc.poll() is None:
        try:
            tree = [root, *root.children(recursive=True)]
        except psutil.Error:
            tree = []
        for process in tree:
            try:
                times = process.cpu_times()
            except psutil.Error:
                continue
            seen[process.pid] = times.user + times.system
        time.sleep(every_s)
    return seen


# -- report -------------------------------------------------------------------------------------------
def _table(rows: list[tuple[str, ...]]) -> list[str]:
    return markdown_rows([rows[0], tuple("---" for _ in rows[0]), *rows[1:]])


def _pm(value: float, err: float) -> str:
    return f"{value:.3f} +- {err:.3f}"


def _plan_row(name: str, raw_per_page: float, other_per_page: float) -> tuple[str, ...]:
    per_page = raw_per_page + other_per_page
    hours = SNAPSHOT_PAGES * per_page / 3600
    return (name, num(1 / raw_per_page, 0), num(1 / per_page, 0), f"{hours:,.0f}", f"{hours / 1000:,.1f} h")


def _report(r: dict[str, Any]) -> str:
    lines = ["## Extractors: quality and speed", ""]
    head = ("extractor", "benchmark pages/CPU-s", "precision", "recall", "F1", "corpus pages/CPU-s")
    rows: list[tuple[str, ...]] = [head]
    for name, row in r["raw"].items():
        q = row.get("labelled")
        c = row["corpus"]
        quality = (
            (num(q["pages"] / q["cpu_s"], 0), _pm(q["precision"], q["precision_pm"]), _pm(q["recall"], q["recall_pm"]),
             _pm(q["f1"], q["f1_pm"]))
            if q else ("", "", "", "")
        )  # fmt: skip
        rows.append((name, *quality, num(c["pages"] / c["cpu_s"], 0)))
    lines += _table(rows)
    e2e = r["e2e"]
    raw_fast = r["raw"][r["fast"]]["corpus"]
    raw_rate = raw_fast["pages"] / raw_fast["cpu_s"]
    lines += ["", "## End to end on the bench corpus", ""]
    rows = [("run", "pages", "CPU-s", "wall s", "pages/CPU-s", "raw extractor pages/CPU-s", "ratio")]
    for run in e2e:
        raw = r["raw"][run["extractor"]]["corpus"]
        rate_raw = raw["pages"] / raw["cpu_s"]
        rate = r["pages"] / run["cpu_s"]
        rows.append((f"--extractor {run['extractor']} --workers {run['workers']} (CPUs {run['cpus']})",
                     str(r["pages"]), num(run["cpu_s"], 1), num(run["wall_s"], 1), num(rate, 0), num(rate_raw, 0),
                     f"**{rate / rate_raw:.2f}**"))  # fmt: skip
    lines += _table(rows)
    if r.get("datatrove"):
        dt = r["datatrove"]
        from datatrove_compare import table

        lines += ["", "## toxmine's default vs datatrove (`datatrove_compare.py`)", "", *table(dt)]
    fast_runs = [run for run in e2e if run["extractor"] == r["fast"] and run["workers"] == 1]
    startup = (r.get("datatrove") or {}).get("toxmine", {}).get("startup_cpu_s", 0.0)
    other = (fast_runs[0]["cpu_s"] - startup) / r["pages"] - 1 / raw_rate  # per page, start-up paid once per run
    lines += ["", f"## Capacity plan: one Common Crawl snapshot ({SNAPSHOT_PAGES:,} HTML pages)", ""]
    rows = [("extractor", "extraction pages/CPU-s", "mining pages/CPU-s", "CPU-hours", "on 1,000 CPUs")]
    for name, row in r["raw"].items():
        c = row["corpus"]
        rows.append(_plan_row(name, c["cpu_s"] / c["pages"], other))
    lines += _table(rows)
    lines += [
        "",
        f"Mining per page = the extractor's raw CPU per page + {other * 1000:.2f} ms of everything else "
        f"(reading, decoding, the sandbox, LID, dedup, storing), measured end to end with `{r['fast']}` on 1 worker "
        f"less toxmine's start-up ({startup:.2f} CPU-s, paid once per run, not per page).",
    ]
    return "\n".join(lines)


def _parse(argv: Sequence[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warc_dir", nargs="?", default=DEFAULT_WARC_DIR)
    parser.add_argument("--labelled", default=DEFAULT_LABELLED, help="the labelled extraction benchmark folder")
    parser.add_argument("--parts", type=int, default=4, help="bench corpus files to use (default 4)")
    parser.add_argument("--extractors", default="trafilatura,trafilatura-fast,resiliparse,fast")
    parser.add_argument("--fast", default="fast", help="the extractor measured end to end (default fast)")
    parser.add_argument("--skip-datatrove", action="store_true")
    parser.add_argument("--tmp", default=None, help="folder for the databases")
    parser.add_argument("--json", default=DEFAULT_JSON)
    parser.add_argument("--report-only", action="store_true", help="print the report of the --json file again")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    args = _parse(argv)
    sys.path.insert(0, BENCH_DIR)
    if args.report_only:
        import json

        with open(args.json, encoding="utf-8") as handle:
            print(_report(json.load(handle)))
        return 0
    from extraction_metric import load_benchmark

    files = warc_files(args.warc_dir)[: args.parts]
    if not files:
        raise SystemExit(f"no WARC files in {args.warc_dir}: run bench/build_bench_corpus.sh")
    names = [name for name in args.extractors.split(",") if name]
    load_start, speedup_start = loadavg(), parallel_capacity()
    labelled = load_benchmark(args.labelled) if os.path.isdir(args.labelled) else []
    corpus = corpus_pages(files)
    log(f"{len(labelled)} labelled pages, {len(corpus)} corpus pages in {len(files)} files")
    _pin([0])
    raw = _raw(names, labelled, corpus)
    _pin(range(os.cpu_count() or 1))
    compile_toxmine()
    e2e = [
        _mine(files, args.fast, 1, [0], args.tmp),
        _mine(files, args.fast, 2, [0, 1], args.tmp),
        _mine(files, "trafilatura", 1, [0], args.tmp),
    ]
    datatrove = None
    if not args.skip_datatrove:
        from datatrove_compare import compare

        datatrove = compare(files[:2])
    results = {
        "files": files,
        "pages": len(corpus),
        "fast": args.fast,
        "raw": raw,
        "e2e": e2e,
        "datatrove": datatrove,
        "machine": machine_facts(PACKAGES, load_start, speedup_start, parallel_capacity()),
        "command": shlex.join([os.path.relpath(__file__), *(argv if argv is not None else sys.argv[1:])]),
    }
    print(_report(results))
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
