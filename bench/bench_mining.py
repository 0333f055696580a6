#!/usr/bin/env python3
"""Throughput and memory benchmark of the mining pipeline on a folder of real WARC files.

A benchmark, not a test: it prints one Markdown table and writes the same figures as JSON.
In one run, over the same files, it measures

1. the reader alone: raw warcio iteration vs `read_html_pages` (records/s);
2. each stage on one core over the HTTP 200 HTML pages: decode, extraction, LID (batches of
   128), dedup signature (docs/s);
3. raw `trafilatura.extract(payload_bytes)` on one core over the same pages (the yardstick),
   interleaved page by page with the extraction stage so that both see the same conditions;
4. end-to-end `mine()` into a fresh DuckDB file with 1 and with 2 workers;
5. peak RSS of the 1-worker end-to-end run on 2 files vs on all files.

Every end-to-end run is a fresh subprocess (this script's `_e2e-child` mode), so each peak RSS
is its own. They run first, while this process is still small: on Linux a child's `ru_maxrss`
starts from the RSS of the process that spawned it. Parts 1-3 then run in this process, pinned
to one CPU. Wall and CPU seconds are both reported: on a shared machine CPU time is the
steadier figure for the one-core parts.

    .venv/bin/python bench/bench_mining.py                    # bench/.cache/warc
    .venv/bin/python bench/bench_mining.py DIR --max-pages 500 --json out.json
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, suppress
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TypeVar

if TYPE_CHECKING:
    from toxmine.miner.records import HtmlPage, LangGuess

from benchkit import (
    loadavg,
    log,
    machine_facts,
    markdown_rows,
    num,
    parallel_capacity,
    rate,
    ratio,
    warc_files,
    write_json,
)

PACKAGES = ("toxmine", "trafilatura", "lxml", "warcio", "fasttext-predict", "datasketch", "duckdb")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_WARC_DIR = os.path.join(BENCH_DIR, ".cache", "warc")
DEFAULT_JSON = os.path.join(BENCH_DIR, ".cache", "results.json")
CHILD_MODE = "_e2e-child"
LID_BATCH = 128

T = TypeVar("T")


# -- measuring -----------------------------------------------------------------------------------
@dataclass
class Timing:
    """Wall and CPU seconds of one measurement."""

    wall: float
    cpu: float

    def as_dict(self) -> dict[str, float]:
        return {"wall_s": self.wall, "cpu_s": self.cpu}


def _timed(func: Callable[[], T]) -> tuple[T, Timing]:
    gc.collect()
    wall, cpu = time.perf_counter(), time.process_time()
    result = func()
    return result, Timing(time.perf_counter() - wall, time.process_time() - cpu)


def _cpu_seconds(who: int) -> float:
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def _maxrss_kib(who: int) -> int:
    """ru_maxrss in KiB (Linux reports KiB, macOS bytes)."""
    value = resource.getrusage(who).ru_maxrss
    return value // 1024 if sys.platform == "darwin" else value


def _vm_kib(name: str) -> int | None:
    """A `VmRSS` / `VmHWM` line of /proc/self/status in KiB (Linux only)."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(name + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


@contextmanager
def _one_core() -> Iterator[int | None]:
    """Pin this process to one CPU for the duration (where the OS supports it)."""
    if not hasattr(os, "sched_setaffinity"):
        yield None
        return
    previous = os.sched_getaffinity(0)
    cpu = max(previous)
    os.sched_setaffinity(0, {cpu})
    try:
        yield cpu
    finally:
        os.sched_setaffinity(0, previous)


# -- 4 + 5. end-to-end, in a fresh subprocess each --------------------------------------------------
def _e2e_child(argv: Sequence[str]) -> int:
    """`bench_mining.py _e2e-child WORKERS DB FILE...`: run mine() once, print JSON on stdout."""
    workers, db_path, files = int(argv[0]), argv[1], list(argv[2:])
    from toxmine.miner import LocalFile, ProcessOptions, mine

    rss_before = _vm_kib("VmRSS")
    cpu_self = _cpu_seconds(resource.RUSAGE_SELF)
    started = time.perf_counter()
    report = mine([LocalFile(path) for path in files], db_path, ProcessOptions(), workers=workers)
    wall = time.perf_counter() - started
    cpu = _cpu_seconds(resource.RUSAGE_SELF) - cpu_self + _cpu_seconds(resource.RUSAGE_CHILDREN)
    result = {
        "workers": workers,
        "files": len(files),
        "wall_s": wall,
        "cpu_s": cpu,
        "records": report.records,
        "documents": report.documents,
        "duplicates": report.duplicates,
        "failed": report.failed,
        "partial": report.partial,
        "drops": dict(report.drops),
        "db_bytes": os.path.getsize(db_path),
        "rss_before_mine_kib": rss_before,
        "vm_hwm_kib": _vm_kib("VmHWM"),
        "maxrss_self_kib": _maxrss_kib(resource.RUSAGE_SELF),
        "maxrss_children_kib": _maxrss_kib(resource.RUSAGE_CHILDREN),
    }
    print(json.dumps(result))
    return 0


def _run_e2e(files: Sequence[str], workers: int, tmp_dir: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="toxmine-bench-", dir=tmp_dir) as folder:
        db_path = os.path.join(folder, "bench.duckdb")
        command = [sys.executable, os.path.abspath(__file__), CHILD_MODE, str(workers), db_path, *files]
        started = time.perf_counter()
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        process_wall = time.perf_counter() - started
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"end-to-end child failed (exit {done.returncode}): {shlex.join(command)}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = process_wall
    if result["failed"] or result["partial"]:
        log(f"warning: mine() reported failed={result['failed']} partial={result['partial']}")
    return result


# -- 1. reader -------------------------------------------------------------------------------------
def _raw_warcio(files: Sequence[str]) -> int:
    from warcio.archiveiterator import ArchiveIterator

    n = 0
    for path in files:
        with open(path, "rb") as handle:
            for record in ArchiveIterator(handle):
                record.content_stream().read()
                n += 1
    return n


@dataclass
class ReaderCounts:
    records: int = 0
    html_pages: int = 0
    problems: int = 0
    skipped: dict[str, int] = field(default_factory=dict)


def _our_reader(files: Sequence[str], keep: list[HtmlPage] | None = None) -> ReaderCounts:
    from toxmine.miner import LocalFile
    from toxmine.miner.records import HtmlPage
    from toxmine.miner.warc import RecordProblem, Skipped, read_html_pages

    counts = ReaderCounts()
    for path in files:
        for event in read_html_pages(LocalFile(path)):
            if isinstance(event, RecordProblem):
                counts.problems += 1
                continue
            counts.records += 1
            if isinstance(event, Skipped):
                counts.skipped[event.reason.value] = counts.skipped.get(event.reason.value, 0) + 1
            elif isinstance(event, HtmlPage):
                counts.html_pages += 1
                if keep is not None:
                    keep.append(event)
    return counts


def _import_all() -> None:
    import trafilatura  # noqa: F401
    import warcio.archiveiterator  # noqa: F401

    import toxmine.miner.process  # noqa: F401


def _reader(files: Sequence[str], repeat: int) -> dict[str, Any]:
    """Both readers `repeat` times, interleaved; the best wall and best CPU time of each."""
    raw: list[Timing] = []
    ours: list[Timing] = []
    raw_records = 0
    counts = ReaderCounts()
    for _ in range(max(1, repeat)):
        raw_records, timing = _timed(lambda: _raw_warcio(files))
        raw.append(timing)
        counts, timing = _timed(lambda: _our_reader(files))
        ours.append(timing)
    raw_best = Timing(min(t.wall for t in raw), min(t.cpu for t in raw))
    ours_best = Timing(min(t.wall for t in ours), min(t.cpu for t in ours))
    return {
        "repeat": max(1, repeat),
        "raw_records": raw_records,
        "raw": raw_best.as_dict(),
        "raw_records_per_s": rate(raw_records, raw_best.wall),
        "raw_records_per_cpu_s": rate(raw_records, raw_best.cpu),
        "ours_records": counts.records,
        "ours": ours_best.as_dict(),
        "ours_records_per_s": rate(counts.records, ours_best.wall),
        "ours_records_per_cpu_s": rate(counts.records, ours_best.cpu),
        "ratio_ours_over_raw": ratio(raw_best.wall, ours_best.wall),
        "ratio_ours_over_raw_cpu": ratio(raw_best.cpu, ours_best.cpu),
        "html_pages": counts.html_pages,
        "problems": counts.problems,
        "skipped": counts.skipped,
    }


# -- 2. stages and 3. raw trafilatura -----------------------------------------------------------------
@dataclass
class StageResult:
    name: str
    n_in: int
    timing: Timing
    n_out: int
    note: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "n_in": self.n_in,
            **self.timing.as_dict(),
            "docs_per_s": rate(self.n_in, self.timing.wall),
            "docs_per_cpu_s": rate(self.n_in, self.timing.cpu),
            "cpu_ms_per_doc": 1000 * self.timing.cpu / self.n_in if self.n_in else None,
            "n_out": self.n_out,
            "note": self.note,
        }


def _sample(pages: list[HtmlPage], max_pages: int) -> list[HtmlPage]:
    """At most `max_pages` pages spread evenly over the corpus (all pages when 0)."""
    if max_pages <= 0 or len(pages) <= max_pages:
        return pages
    return [pages[i * len(pages) // max_pages] for i in range(max_pages)]


def _trafilatura_warm_up(document: str | bytes) -> None:
    """One extraction first, so lazy imports inside trafilatura are not charged to a stage."""
    import trafilatura

    from toxmine.miner.extract import ExtractOptions

    with suppress(Exception):
        trafilatura.extract(document, **ExtractOptions().trafilatura_kwargs())


def _stages(pages: list[HtmlPage]) -> tuple[list[StageResult], StageResult]:
    from toxmine.miner.decode import decode_html
    from toxmine.miner.dedup import minhash_signature, normalize_text, text_hash
    from toxmine.miner.extract import ExtractTimeout, extract_text
    from toxmine.miner.langid import FastTextLid
    from toxmine.miner.process import ProcessOptions

    options = ProcessOptions()
    lid = FastTextLid(options.lid.model_path)
    results: list[StageResult] = []

    # decode: every page
    def decode_all() -> list[str]:
        return [decode_html(page.payload, page.declared_charset)[0] for page in pages]

    htmls, timing = _timed(decode_all)
    note = "decode_html(payload, declared charset)"
    results.append(StageResult("decode", len(pages), timing, len(htmls), note))

    # extraction and the raw trafilatura yardstick: every page, interleaved page by page (the
    # two take turns going first), so drift in machine load and warm caches are shared fairly;
    # each call is timed on its own. Pages are dropped as process.py drops them.
    import trafilatura

    raw_kwargs = options.extract.trafilatura_kwargs()
    dropped = {"empty": 0, "too_short": 0, "timeout": 0, "error": 0}
    raw_errors = raw_nonempty = 0
    ours = Timing(0.0, 0.0)
    raw = Timing(0.0, 0.0)
    slowest = 0.0
    texts: list[str] = []

    def ours_one(page: HtmlPage, html: str) -> None:
        nonlocal slowest
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            text = extract_text(html, page.url, options.extract)
        except ExtractTimeout:
            dropped["timeout"] += 1
            return
        except Exception:
            dropped["error"] += 1
            return
        finally:
            took = time.perf_counter() - wall
            ours.wall += took
            ours.cpu += time.process_time() - cpu
            slowest = max(slowest, took)
        if text is None:
            dropped["empty"] += 1
        elif len(text) < options.min_chars:
            dropped["too_short"] += 1
        else:
            texts.append(text)

    def raw_one(page: HtmlPage) -> None:
        nonlocal raw_errors, raw_nonempty
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            raw_nonempty += bool(trafilatura.extract(page.payload, **raw_kwargs))
        except Exception:
            raw_errors += 1
        finally:
            raw.wall += time.perf_counter() - wall
            raw.cpu += time.process_time() - cpu

    if pages:  # lazy imports inside trafilatura are charged to neither
        _trafilatura_warm_up(pages[0].payload)
        _trafilatura_warm_up(htmls[0])
    gc.collect()
    for i, (page, html) in enumerate(zip(pages, htmls, strict=True)):
        if i % 2:
            raw_one(page)
            ours_one(page, html)
        else:
            ours_one(page, html)
            raw_one(page)
    drops = ", ".join(f"{k} {v}" for k, v in dropped.items() if v) or "none"
    results.append(
        StageResult(
            "extract",
            len(pages),
            ours,
            len(texts),
            f"{len(texts):,} texts >= {options.min_chars} chars (dropped: {drops}); slowest page {slowest:.2f} s wall",
        )
    )
    yardstick = StageResult(
        "raw_trafilatura",
        len(pages),
        raw,
        raw_nonempty,
        f"`trafilatura.extract(payload_bytes, **ExtractOptions().trafilatura_kwargs())`; "
        f"{raw_nonempty:,} non-empty, {raw_errors} errors",
    )

    # LID: the extracted texts, in batches as process.py batches them
    def lid_all() -> list[LangGuess]:
        guesses: list[LangGuess] = []
        for start in range(0, len(texts), LID_BATCH):
            guesses.extend(lid.predict(texts[start : start + LID_BATCH]))
        return guesses

    guesses, timing = _timed(lid_all)
    confident = [(t, g) for t, g in zip(texts, guesses, strict=True) if g.score >= options.lid.threshold]
    langs: dict[str, int] = {}
    for _, guess in confident:
        langs[guess.lang] = langs.get(guess.lang, 0) + 1
    top = " ".join(f"{k}:{v}" for k, v in sorted(langs.items(), key=lambda kv: (-kv[1], kv[0]))[:8])
    results.append(
        StageResult(
            "lid",
            len(texts),
            timing,
            len(confident),
            f"{len(confident):,} with score >= {options.lid.threshold}; {len(langs)} langs, top {top}",
        )
    )

    # dedup signature: the documents process.py would keep
    def sign_all() -> int:
        for text, guess in confident:
            normalized = normalize_text(text)
            text_hash(normalized)
            minhash_signature(normalized, guess.lang, guess.script, options.dedup)
        return len(confident)

    signed, timing = _timed(sign_all)
    mean_chars = sum(len(text) for text, _ in confident) // max(1, len(confident))
    results.append(
        StageResult(
            "dedup_signature",
            len(confident),
            timing,
            signed,
            f"normalize_text + text_hash + minhash_signature ({options.dedup.num_perm} perms); "
            f"mean {mean_chars:,} chars",
        )
    )
    return results, yardstick


# -- report ------------------------------------------------------------------------------------------
def _mib(kib: int | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:,.0f} MiB"


Row = tuple[str, str, str, str, str, str, str, str]


def _rows(r: dict[str, Any]) -> list[Row]:
    rows: list[Row] = []
    machine = r["machine"]
    rows.append(
        (
            "0",
            "machine check: 2 concurrent CPU-bound processes vs 1",
            "",
            "",
            "",
            f"x{num(machine['parallel_speedup_start'], 2)} / x{num(machine['parallel_speedup_end'], 2)}",
            "",
            "speedup at start / at end; ~x2 on an idle 2-core machine, bounds 4d",
        )
    )
    reader = r["reader"]
    best = f"best of {reader['repeat']}"
    rows.append(
        (
            "1a",
            "reader: raw warcio `ArchiveIterator`, every `content_stream().read()`",
            f"{reader['raw_records']:,} records",
            num(reader["raw"]["wall_s"], 2),
            num(reader["raw"]["cpu_s"], 2),
            f"{num(reader['raw_records_per_s'], 0)} records/s",
            f"{num(reader['raw_records_per_cpu_s'], 0)} records/s",
            best,
        )
    )
    rows.append(
        (
            "1b",
            "reader: `read_html_pages`",
            f"{reader['ours_records']:,} records",
            num(reader["ours"]["wall_s"], 2),
            num(reader["ours"]["cpu_s"], 2),
            f"{num(reader['ours_records_per_s'], 0)} records/s",
            f"{num(reader['ours_records_per_cpu_s'], 0)} records/s",
            f"{best}; **ours/raw = {num(reader['ratio_ours_over_raw'], 2)}** "
            f"(CPU {num(reader['ratio_ours_over_raw_cpu'], 2)}); {reader['html_pages']:,} HTML 200 pages, "
            f"{reader['problems']} problems",
        )
    )
    labels = {
        "decode": ("2a", "stage: decode (`decode_html`)"),
        "extract": ("2b", "stage: extraction (`extract_text`, pipeline ExtractOptions)"),
        "lid": ("2c", "stage: LID (`FastTextLid.predict`, batches of 128)"),
        "dedup_signature": ("2d", "stage: dedup signature"),
    }
    for name, stage in r["stages"].items():
        key, label = labels[name]
        rows.append(
            (
                key,
                label,
                f"{stage['n_in']:,} docs",
                num(stage["wall_s"], 2),
                num(stage["cpu_s"], 2),
                f"{num(stage['docs_per_s'])} docs/s",
                f"{num(stage['docs_per_cpu_s'])} docs/s",
                f"{num(stage['cpu_ms_per_doc'], 2)} CPU ms/doc; {stage['note']}",
            )
        )
    chain = r["stage_chain"]
    rows.append(
        (
            "2e",
            "stages 2a-2d added up, per HTML page in",
            f"{r['sample_pages']:,} pages",
            num(chain["wall_s"], 2),
            num(chain["cpu_s"], 2),
            f"{num(chain['pages_per_s'])} docs/s",
            f"{num(chain['pages_per_cpu_s'])} docs/s",
            "no reader, spill, dedup index or DuckDB: compare with 4a",
        )
    )
    raw = r["raw_trafilatura"]
    rows.append(
        (
            "3",
            "**yardstick**: raw trafilatura, same pages",
            f"{raw['n_in']:,} docs",
            num(raw["wall_s"], 2),
            num(raw["cpu_s"], 2),
            f"{num(raw['docs_per_s'])} docs/s",
            f"{num(raw['docs_per_cpu_s'])} docs/s",
            f"{num(raw['cpu_ms_per_doc'], 2)} CPU ms/doc; {raw['note']}",
        )
    )
    ratios = r["ratios"]
    rows.append(
        (
            "3b",
            "ratio extraction (2b) / raw trafilatura, same pages",
            "",
            "",
            "",
            num(ratios["extract_over_raw_trafilatura_wall"], 2),
            f"**{num(ratios['extract_over_raw_trafilatura'], 2)}**",
            "docs/s over docs/s; the two ran interleaved page by page; stages 2a-2d (2e): "
            f"{num(ratios['chain_over_raw_trafilatura'], 2)}",
        )
    )
    for key, name in (("4a", "e2e_1_worker"), ("4b", "e2e_2_workers")):
        e2e = r[name]
        rows.append(
            (
                key,
                f"end-to-end `mine()`, workers={e2e['workers']}, fresh DuckDB",
                f"{e2e['html_pages']:,} pages",
                num(e2e["wall_s"], 1),
                num(e2e["cpu_s"], 1),
                f"{num(e2e['pages_per_s'])} docs/s",
                f"{num(e2e['pages_per_cpu_s'])} docs/s",
                f"{e2e['documents']:,} documents stored = **{num(e2e['documents_per_s'])} stored/s** "
                f"({e2e['duplicates']:,} of them duplicates); CPU = all processes",
            )
        )
    rows.append(
        (
            "4c",
            "ratio e2e(1 worker) / raw trafilatura",
            "",
            "",
            "",
            f"**{num(ratios['e2e1_over_raw_trafilatura'], 2)}**",
            num(ratios["e2e1_over_raw_trafilatura_cpu"], 2),
            "4a runs over every page, 3 over the sample: per-page cost is heavy-tailed, see 3b",
        )
    )
    rows.append(
        (
            "4d",
            "ratio e2e(2 workers) / e2e(1 worker)",
            "",
            "",
            "",
            f"**{num(ratios['e2e2_over_e2e1'], 2)}**",
            num(ratios["e2e2_over_e2e1_cpu"], 2),
            f"nproc {r['machine']['nproc']}; CPU column: docs per CPU-second, i.e. parallel overhead",
        )
    )
    for key, name in (("5a", "rss_small"), ("5b", "rss_all")):
        rss = r[name]
        rows.append(
            (
                key,
                f"peak RSS, `mine()` workers=1 on {rss['files']} files",
                f"{rss['html_pages']:,} pages",
                num(rss["wall_s"], 1),
                num(rss["cpu_s"], 1),
                f"**{_mib(rss['maxrss_self_kib'])}**",
                "",
                f"ru_maxrss self (children {_mib(rss['maxrss_children_kib'])}); "
                f"VmHWM {_mib(rss['vm_hwm_kib'])}; RSS after imports {_mib(rss['rss_before_mine_kib'])}",
            )
        )
    rows.append(
        (
            "5c",
            f"peak RSS growth, {r['rss_all']['files']} files vs {r['rss_small']['files']}",
            "",
            "",
            "",
            f"**x{num(ratios['rss_all_over_small'], 3)}**",
            "",
            f"for x{num(ratios['input_growth'], 2)} the HTML pages; 5b is the same run as 4a",
        )
    )
    return rows


def _table(results: dict[str, Any]) -> str:
    header = (
        "| # | measurement | n | wall s | CPU s | result (wall) | result (CPU time) | notes |\n"
        "|---|---|---:|---:|---:|---:|---:|---|"
    )
    lines = markdown_rows(_rows(results))
    return "\n".join([header, *lines])


def _report(r: dict[str, Any]) -> str:
    machine, corpus, reader = r["machine"], r["corpus"], r["reader"]
    version_list = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    lines = [
        "## toxmine mining benchmark",
        "",
        f"- command: `{r['command']}`",
        f"- machine: nproc {machine['nproc']} (usable {machine['usable_cpus']}), {machine['cpu']}, "
        f"{machine['platform']}; parts 1-3 pinned to CPU {machine['pinned_cpu']}; "
        f"load average at start {machine['loadavg_start']}, at end {machine['loadavg_end']}",
        f"- versions: {version_list}",
        f"- corpus: {corpus['files']} files in `{corpus['warc_dir']}`, {corpus['bytes'] / 1e6:,.1f} MB, "
        f"{reader['ours_records']:,} records, {reader['html_pages']:,} HTML 200 pages; "
        f"parts 2-3 on {r['sample_pages']:,} of the pages, spread evenly",
        f"- benchmark took {r['total_seconds']:.0f} s",
        "",
        _table(r),
    ]
    return "\n".join(lines)


# -- main --------------------------------------------------------------------------------------------
def _parse(argv: Sequence[str]) -> argparse.Namespace:
    formatter = argparse.RawDescriptionHelpFormatter
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=formatter)
    parser.add_argument("warc_dir", nargs="?", default=DEFAULT_WARC_DIR, help="folder of WARC files")
    parser.add_argument("--json", default=DEFAULT_JSON, help="figures go here (default: %(default)s)")
    parser.add_argument(
        "--max-pages",
        type=int,
        default=500,
        help="HTML pages (spread evenly) for parts 2-3; 0 = all (default: %(default)s)",
    )
    parser.add_argument("--reader-repeat", type=int, default=3, help="passes of part 1, best kept")
    parser.add_argument("--rss-files", type=int, default=2, help="files in the small RSS run (default: 2)")
    parser.add_argument("--tmp-dir", default=None, help="folder for the temporary DuckDB files")
    parser.add_argument("--reader-only", action="store_true", help="only part 1 (reader vs raw warcio), as JSON")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == CHILD_MODE:
        return _e2e_child(arguments[1:])
    args = _parse(arguments)
    began = time.perf_counter()
    loadavg_start = loadavg()
    folder = args.warc_dir
    files = warc_files(folder)
    if args.reader_only:
        with _one_core():
            _import_all()
            print(json.dumps(_reader(files, args.reader_repeat), indent=1, default=str))
        return 0
    small = files[: max(1, min(args.rss_files, len(files)))]

    capacity_start = parallel_capacity()
    log(f"2 processes vs 1: x{capacity_start:.2f}")
    # 4 + 5 first, while this process is small (see the module docstring).
    log(f"{len(files)} files; end-to-end runs, each in a fresh subprocess")
    rss_small = _run_e2e(small, 1, args.tmp_dir)
    log(f"workers=1 on {len(small)} files: {rss_small['wall_s']:.1f} s")
    e2e_1 = _run_e2e(files, 1, args.tmp_dir)
    log(f"workers=1 on {len(files)} files: {e2e_1['wall_s']:.1f} s")
    e2e_2 = _run_e2e(files, 2, args.tmp_dir)
    log(f"workers=2 on {len(files)} files: {e2e_2['wall_s']:.1f} s")

    with _one_core() as cpu:
        _import_all()  # so that no timing below pays for an import
        reader = _reader(files, args.reader_repeat)
        log(f"reader: raw {reader['raw']['wall_s']:.2f} s, ours {reader['ours']['wall_s']:.2f} s (best)")
        small_pages = _our_reader(small).html_pages
        pages: list[HtmlPage] = []
        _our_reader(files, pages)
        sample = _sample(pages, args.max_pages)
        del pages
        stages, raw = _stages(sample)
        log("stages: " + ", ".join(f"{s.name} {s.timing.wall:.1f} s" for s in [*stages, raw]))

    capacity_end = parallel_capacity()
    log(f"2 processes vs 1: x{capacity_end:.2f}")
    html_pages = reader["html_pages"]
    for e2e in (e2e_1, e2e_2):
        e2e["html_pages"] = html_pages
        e2e["pages_per_s"] = rate(html_pages, e2e["wall_s"])
        e2e["pages_per_cpu_s"] = rate(html_pages, e2e["cpu_s"])
        e2e["documents_per_s"] = rate(e2e["documents"], e2e["wall_s"])
    rss_small["html_pages"] = small_pages
    raw_dict = raw.as_dict()
    stage_rate = {stage.name: rate(stage.n_in, stage.timing.cpu) for stage in stages}
    chain_wall = sum(s.timing.wall for s in stages)
    chain_cpu = sum(s.timing.cpu for s in stages)
    results: dict[str, Any] = {
        "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
        "machine": machine_facts(PACKAGES, loadavg_start, capacity_start, capacity_end, pinned_cpu=cpu),
        "corpus": {
            "warc_dir": folder,
            "files": len(files),
            "bytes": sum(os.path.getsize(path) for path in files),
        },
        "sample_pages": len(sample),
        "reader": reader,
        "stages": {stage.name: stage.as_dict() for stage in stages},
        "stage_chain": {
            "wall_s": chain_wall,
            "cpu_s": chain_cpu,
            "pages_per_s": rate(len(sample), chain_wall),
            "pages_per_cpu_s": rate(len(sample), chain_cpu),
        },
        "raw_trafilatura": raw_dict,
        "e2e_1_worker": e2e_1,
        "e2e_2_workers": e2e_2,
        "rss_small": rss_small,
        "rss_all": e2e_1,
        "ratios": {
            "extract_over_raw_trafilatura_wall": ratio(raw.timing.wall, stages[1].timing.wall),
            "extract_over_raw_trafilatura": ratio(stage_rate["extract"], raw_dict["docs_per_cpu_s"]),
            "chain_over_raw_trafilatura": ratio(rate(len(sample), chain_cpu), raw_dict["docs_per_cpu_s"]),
            "e2e1_over_raw_trafilatura": ratio(e2e_1["pages_per_s"], raw_dict["docs_per_s"]),
            "e2e1_over_raw_trafilatura_cpu": ratio(e2e_1["pages_per_cpu_s"], raw_dict["docs_per_cpu_s"]),
            "e2e2_over_e2e1": ratio(e2e_2["pages_per_s"], e2e_1["pages_per_s"]),
            "e2e2_over_e2e1_cpu": ratio(e2e_2["pages_per_cpu_s"], e2e_1["pages_per_cpu_s"]),
            "rss_all_over_small": ratio(e2e_1["maxrss_self_kib"], rss_small["maxrss_self_kib"]),
            "input_growth": ratio(html_pages, small_pages),
        },
    }
    results["total_seconds"] = time.perf_counter() - began
    print(_report(results))
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
