#!/usr/bin/env python3
"""Scale benchmark of issue 12: the driver, the near-dedup tasks, end-to-end rates, a capacity model.

A benchmark, not a test: it prints one Markdown table and a capacity model, and writes the same
figures as JSON. Every measurement is a fresh subprocess (this script's `_driver-child` and
`_tasks-child` modes), so each process's CPU and peak RSS are its own. In one run:

1. the driver (the process calling `mine()`, workers=2: forked pool workers do the tasks) on
   synthetic WARC files of small, distinct HTML pages with exact and near duplicates, at two
   sizes (`--small`, `--large` documents): its own CPU seconds per document (`RUSAGE_SELF`) and
   peak RSS (`ru_maxrss`), for (a) the old driver (commit 9974f9d, in-memory DedupIndex and every
   row inserted by the driver), run from a `git worktree` of that commit through a package tree
   of symlinks (`toxmine.miner.__file__` is checked), (b) the new stages with the tables layout,
   (c) the new stages with the parquet layout; RSS growth per document between the sizes;
2. the peak RSS of each near-dedup task against the partition count P (`--partitions`), on the
   larger corpus's real bucket-key files (copied while the (c) run decides): every task runs in
   a fresh forked process (a pool with maxtasksperchild=1, forked from a small parent), and its
   peak is reported whole and above its RSS at the task's start (the fork caveat: a child's
   `ru_maxrss` starts from its parent's RSS);
3. pages/s end-to-end on the bench corpus (`--corpus-files` of it), old local executor vs new,
   workers=1 and 2, and their ratio (`--ray`: the new stages on Ray with 2 CPUs too);
4. a capacity model for 3e9 pages on 1,000 CPUs from the measured per-stage costs: CPU per
   document of each stage (every task's own CPU, measured inside the task), bytes each stage
   writes (the shuffle), component rounds, the driver's commit cost per unit, and task memory
   at `--model-partitions` from the slope of part 2.

    .venv/bin/python bench/bench_scale.py                  # ~13-15 minutes on 2 cores
    .venv/bin/python bench/bench_scale.py --small 2000 --large 10000 --corpus-files 2   # a quick look
"""

from __future__ import annotations

import argparse
import functools
import glob
import gzip
import json
import os
import random
import resource
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from benchkit import (
    cpu_seconds,
    descendants_cpu,
    loadavg,
    log,
    machine_facts,
    markdown_rows,
    num,
    old_package,
    parallel_capacity,
    rate,
    ratio,
    rss_now,
    run_child,
    use_old_tree,
    warc_files,
    write_json,
)

PACKAGES = ("toxmine", "duckdb", "pyarrow", "trafilatura", "datasketch", "ray")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
DEFAULT_WARC_DIR = os.path.join(BENCH_DIR, ".cache", "warc")
DEFAULT_JSON = os.path.join(BENCH_DIR, ".cache", "scale.json")
OLD_COMMIT = "9974f9d"
OLD_TREE = "/tmp/old12"
OLD_PKG = "/tmp/oldpkg"
DRIVER_CHILD = "_driver-child"
TASKS_CHILD = "_tasks-child"

# Capacity model targets.
MODEL_PAGES = 3.0e9
MODEL_CPUS = 1_000
MODEL_UNIT_PAGES = 8_000  # ~256 MB of a ~1 GB, ~33,000-page Common Crawl WARC file (DEFAULT_UNIT_MB)

WORDS = (  # noqa: SIM905 (a word list reads best as text)
    "time year people way day man thing woman life child world school state family student group country "
    "problem hand part place case week company system program question work government number night "
    "point home water room mother area money story fact month lot right study book eye job word business "
    "issue side kind head house service friend father power hour game line end member law car city "
    "community name president team minute idea kid body information back parent face others level office "
    "door health person art war history party result change morning reason research girl guy moment air "
    "teacher force education foot boy age policy everything process music market sense nation plan "
    "college interest death experience effect use class control care field development role effort rate "
    "heart drug show leader light voice wife police mind price report decision son view relationship "
    "town road arm difference value building action model season society tax director position player "
    "record paper space ground form event official matter center couple site project activity star table "
    "need court oil situation cost industry figure street image phone data picture practice piece land "
    "product doctor wall patient worker news test movie north love support technology step baby computer "
    "type attention film tree source organization hair window evidence population site river garden "
    "bridge summer winter spring autumn train station letter answer island"
).split()


# -- synthetic corpus -------------------------------------------------------------------------------
def _record(url: str, body: bytes, rng: random.Random) -> bytes:
    http = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\nContent-Length: %d\r\n\r\n" % len(body)
    block = http + body
    record_id = f"<urn:uuid:{rng.getrandbits(128):032x}>"
    head = (
        "WARC/1.0\r\nWARC-Type: response\r\n"
        f"WARC-Record-ID: {record_id}\r\nWARC-Date: 2026-01-01T00:00:00Z\r\nWARC-Target-URI: {url}\r\n"
        f"Content-Type: application/http; msgtype=response\r\nContent-Length: {len(block)}\r\n\r\n"
    ).encode()
    return gzip.compress(head + block + b"\r\n\r\n", compresslevel=1)


def _page(title: str, words: list[str]) -> bytes:
    half = len(words) // 2
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head><body><article>"
        f"<h1>{title}</h1><p>{' '.join(words[:half])}.</p><p>{' '.join(words[half:])}.</p></article></body></html>"
    ).encode()


def make_corpus(folder: str, files: int, pages_per_file: int, seed: int = 12) -> list[str]:
    """`files` WARC files of small distinct pages (~40 words each): ~4% exact copies and ~4% near
    copies (two words changed) of an earlier page, spread over all files."""
    rng = random.Random(seed)
    os.makedirs(folder, exist_ok=True)
    earlier: list[list[str]] = []
    paths = []
    for f in range(files):
        path = os.path.join(folder, f"synthetic-{f:03d}.warc.gz")
        paths.append(path)
        with open(path, "wb") as handle:
            for i in range(pages_per_file):
                roll = rng.random()
                if earlier and roll < 0.04:
                    words = rng.choice(earlier)
                elif earlier and roll < 0.08:
                    words = list(rng.choice(earlier))
                    for _ in range(2):
                        words[rng.randrange(len(words))] = rng.choice(WORDS)
                else:
                    words = [rng.choice(WORDS) for _ in range(40)]
                    if len(earlier) < 5_000:
                        earlier.append(words)
                    else:
                        earlier[rng.randrange(len(earlier))] = words
                url = f"https://site{f}.example/page/{i}"
                handle.write(_record(url, _page(f"Page {f} {i}", words), rng))
    return paths


# -- task measurement (runs inside workers) --------------------------------------------------------
def _measured(fn: Callable[[Any], Any], item: Any) -> tuple[Any, dict[str, float]]:
    """Run a task; its CPU counts the worker's own and its live children's (the extraction sandbox)."""
    rss_start, cpu, wall, before = rss_now(), cpu_seconds(resource.RUSAGE_SELF), time.perf_counter(), descendants_cpu()
    result = fn(item)
    after = descendants_cpu()
    return result, {
        "cpu_s": cpu_seconds(resource.RUSAGE_SELF) - cpu + sum(t - before.get(pid, 0.0) for pid, t in after.items()),
        "wall_s": time.perf_counter() - wall,
        "rss_start": rss_start,
        "maxrss": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024,
    }


def _stage_of(fn: Callable[[Any], Any], item: Any) -> str:
    stage = getattr(item, "stage", None)
    if isinstance(stage, str):
        return "components" if stage.startswith("cc") else stage
    return getattr(fn, "__name__", "task")


def _folder_bytes(folder: str) -> dict[str, int]:
    sizes: dict[str, int] = {}
    for path in glob.glob(os.path.join(folder, "*", "*.parquet")):
        stage = os.path.basename(os.path.dirname(path))
        name = "components" if stage.startswith("cc") else stage
        if stage == "buckets":
            name = "buckets.members" if path.endswith(".members.parquet") else "buckets.edges"
        sizes[name] = sizes.get(name, 0) + os.path.getsize(path)
    return sizes


class MeasuredExecutor:
    """Wraps an executor: every task's own CPU, wall and RSS (measured in the worker), the driver's
    CPU in and between stages, and (optionally) a copy of the near-dedup job's key files and the
    bytes each dedup stage wrote."""

    def __init__(self, inner: Any, keep_keys: str | None = None) -> None:
        self.inner, self.name, self.workers = inner, inner.name, inner.workers
        self.keep_keys = keep_keys
        self.tasks: list[dict[str, Any]] = []
        self.calls: list[dict[str, Any]] = []
        self.job: Any = None
        self.dedup_bytes: dict[str, int] = {}
        self.keys_bytes = 0
        self.rounds = 0

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from toxmine.miner.executors import TaskFailed

        name = getattr(fn, "__name__", "task")
        if name == "_bucket_task" and items and self.job is None:
            self._capture(items[0].job)
        if name == "finalize_unit" and self.job is not None:
            self.dedup_bytes = _folder_bytes(self.job.workdir)
        if name == "_large_star_task":
            self.rounds += 1
        call = {
            "fn": name,
            "stage": _stage_of(fn, items[0]) if items else name,
            "tasks": len(items),
            "driver_cpu_start": cpu_seconds(resource.RUSAGE_SELF),
            "wall_start": time.perf_counter(),
        }
        for index, outcome in self.inner.map_unordered(functools.partial(_measured, fn), items):
            if isinstance(outcome, TaskFailed):
                yield index, outcome
                continue
            result, stats = outcome
            stats["stage"] = call["stage"]
            self.tasks.append(stats)
            yield index, result
        call["driver_cpu_end"], call["wall_end"] = cpu_seconds(resource.RUSAGE_SELF), time.perf_counter()
        self.calls.append(call)

    def _capture(self, job: Any) -> None:
        self.job = job
        self.keys_bytes = sum(os.path.getsize(u.keys_path) for u in job.new_units)
        if self.keep_keys:
            os.makedirs(self.keep_keys, exist_ok=True)
            units = []
            for unit in job.new_units:
                target = os.path.join(self.keep_keys, os.path.basename(unit.keys_path))
                shutil.copyfile(unit.keys_path, target)
                units.append({"keys_path": target, "start": unit.start})
            with open(os.path.join(self.keep_keys, "units.json"), "w", encoding="utf-8") as handle:
                json.dump(units, handle)

    def close(self) -> None:
        self.inner.close()

    def summary(self) -> dict[str, Any]:
        stages: dict[str, dict[str, float]] = {}
        for task in self.tasks:
            entry = stages.setdefault(task["stage"], {"tasks": 0, "cpu_s": 0.0, "wall_s": 0.0, "max_task_wall_s": 0.0})
            entry["tasks"] += 1
            entry["cpu_s"] += task["cpu_s"]
            entry["wall_s"] += task["wall_s"]
            entry["max_task_wall_s"] = max(entry["max_task_wall_s"], task["wall_s"])
        for call in self.calls:
            stages.setdefault(call["stage"], {})["stage_wall_s"] = (
                stages.get(call["stage"], {}).get("stage_wall_s", 0.0) + call["wall_end"] - call["wall_start"]
            )
        inside = sum(c["driver_cpu_end"] - c["driver_cpu_start"] for c in self.calls)
        return {
            "stages": stages,
            "driver_cpu_in_stages_s": inside,
            "dedup_bytes": self.dedup_bytes,
            "keys_bytes": self.keys_bytes,
            "rounds": self.rounds,
            "last_stage_end": self.calls[-1]["wall_end"] if self.calls else None,
        }


# -- children ---------------------------------------------------------------------------------------
def _db_digest(db_path: str) -> dict[str, Any]:
    import duckdb

    con = duckdb.connect(db_path, read_only=True)
    try:
        row = con.execute(
            "SELECT count(*), count(dup_of), "
            "md5(string_agg(doc_id || ':' || coalesce(dup_of, ''), ',' ORDER BY doc_id)) "
            "FROM documents"
        ).fetchone()
    finally:
        con.close()
    assert row is not None
    return {"rows": int(row[0]), "dups": int(row[1]), "md5": str(row[2])}


def _driver_child(argv: Sequence[str]) -> int:
    """`_driver-child IMPL WORKERS DB KEEP_KEYS FILE...` (IMPL: old, tables, parquet, ray): mine once
    with the local executor (Ray for `ray`), print JSON on stdout."""
    impl, workers, db_path, keep_keys, files = argv[0], int(argv[1]), argv[2], argv[3], list(argv[4:])
    result: dict[str, Any] = {"impl": impl, "workers": workers, "files": len(files)}
    if impl == "old":
        result["package"] = use_old_tree(OLD_PKG, OLD_TREE)
    from toxmine.miner import LocalFile, ProcessOptions, mine

    result["package"] = result.get("package") or os.path.realpath(sys.modules["toxmine.miner"].__file__ or "")
    inputs = [LocalFile(path) for path in files]
    measured = None
    if impl == "old":
        started_cpu, started = cpu_seconds(resource.RUSAGE_SELF), time.perf_counter()
        report = mine(inputs, db_path, ProcessOptions(), workers=workers)
    else:
        from toxmine.miner.executors import PoolExecutor, RayExecutor, RayOptions

        if impl == "ray":
            inner: Any = RayExecutor(RayOptions(num_cpus=workers))
        elif workers > 1:
            inner = PoolExecutor(workers)
        else:
            inner = None  # mine()'s own SerialExecutor, as a user gets it
        measured = MeasuredExecutor(inner, keep_keys or None) if inner is not None else None
        layout = "parquet" if impl == "parquet" else "tables"
        started_cpu, started = cpu_seconds(resource.RUSAGE_SELF), time.perf_counter()
        report = mine(inputs, db_path, ProcessOptions(), workers=workers, executor=measured or "local", layout=layout)
    result["wall_s"] = time.perf_counter() - started
    result["driver_cpu_s"] = cpu_seconds(resource.RUSAGE_SELF) - started_cpu
    result["driver_maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    if measured is not None:
        ended = time.perf_counter()
        summary = measured.summary()
        result["tail_s"] = ended - summary.pop("last_stage_end") if summary.get("last_stage_end") else None
        result.update(summary)
        measured.close()
    result["total_cpu_s"] = cpu_seconds(resource.RUSAGE_SELF) + cpu_seconds(resource.RUSAGE_CHILDREN)
    result.update(
        records=report.records,
        documents=report.documents,
        duplicates=report.duplicates,
        failed=len(report.failed),
        digest=_db_digest(db_path),
    )
    print(json.dumps(result))
    return 0


class _FreshPool:
    """Every task in a fresh forked process (maxtasksperchild=1) of a pool of `workers`."""

    name = "local"

    def __init__(self, workers: int) -> None:
        import multiprocessing

        self.workers = workers
        self._pool = multiprocessing.get_context("fork").Pool(workers, maxtasksperchild=1)

    def map_unordered(self, fn: Callable[[Any], Any], items: Sequence[Any]) -> Iterator[tuple[int, Any]]:
        from toxmine.miner.executors import _call

        yield from self._pool.imap_unordered(_call, [(i, fn, item) for i, item in enumerate(items)], chunksize=1)

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


def _tasks_child(argv: Sequence[str]) -> int:
    """`_tasks-child KEYS_DIR WORKDIR P`: the near-dedup of the kept key files with P partitions,
    each task in a fresh process; print per-stage task peaks as JSON."""
    keys_dir, workdir, partitions = argv[0], argv[1], int(argv[2])
    from toxmine.miner.neardup import DedupJob, NewUnit, decide_duplicates

    with open(os.path.join(keys_dir, "units.json"), encoding="utf-8") as handle:
        units = tuple(NewUnit(u["keys_path"], u["start"]) for u in json.load(handle))
    job = DedupJob(workdir, partitions, units, (), "1GB")
    runner = MeasuredExecutor(_FreshPool(2))
    parent_rss = rss_now()
    started = time.perf_counter()
    decide_duplicates(job, runner)
    wall = time.perf_counter() - started
    runner.close()
    peaks: dict[str, dict[str, float]] = {}
    for task in runner.tasks:
        entry = peaks.setdefault(task["stage"], {"tasks": 0, "max_rss": 0, "max_growth": 0, "cpu_s": 0.0})
        entry["tasks"] += 1
        entry["max_rss"] = max(entry["max_rss"], task["maxrss"])
        entry["max_growth"] = max(entry["max_growth"], task["maxrss"] - task["rss_start"])
        entry["cpu_s"] += task["cpu_s"]
    import duckdb
    import pyarrow.parquet as pq

    key_rows = sum(pq.ParquetFile(u.keys_path).metadata.num_rows for u in units)
    key_bytes = sum(os.path.getsize(u.keys_path) for u in units)
    con = duckdb.connect(config={"threads": 1})
    scan_cpu = cpu_seconds(resource.RUSAGE_SELF)
    con.execute(
        "SELECT count(*), sum(octet_length(key)) FROM read_parquet(?) WHERE khash % ? = 0",
        [[u.keys_path for u in units], partitions],
    ).fetchall()
    scan_cpu = cpu_seconds(resource.RUSAGE_SELF) - scan_cpu
    con.close()
    print(
        json.dumps(
            {
                "partitions": partitions,
                "wall_s": wall,
                "parent_rss": parent_rss,
                "stages": peaks,
                "key_rows": key_rows,
                "key_bytes": key_bytes,
                "scan_cpu_s": scan_cpu,
                "rounds": runner.rounds,
                "bytes": _folder_bytes(workdir),
            }
        )
    )
    return 0


# -- parent -----------------------------------------------------------------------------------------
def _run_child(args: list[str]) -> dict[str, Any]:
    return run_child(os.path.abspath(__file__), args)


def _mine(impl: str, workers: int, files: list[str], tmp: str, keep_keys: str = "") -> dict[str, Any]:
    folder = tempfile.mkdtemp(prefix=f"{impl}{workers}-", dir=tmp)
    try:
        log(f"mine: {impl}, workers={workers}, {len(files)} files")
        result = _run_child([DRIVER_CHILD, impl, str(workers), os.path.join(folder, "db.duckdb"), keep_keys, *files])
        log(
            f"  {result['documents']:,} documents in {result['wall_s']:.1f} s, "
            f"driver CPU {result['driver_cpu_s']:.2f} s, "
            f"peak RSS {result['driver_maxrss'] / 2**20:.0f} MiB"
        )
        return result
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _mib(n: float | None) -> str:
    return "n/a" if n is None else f"{n / 2**20:,.0f} MiB"


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == DRIVER_CHILD:
        return _driver_child(argv[1:])
    if argv and argv[0] == TASKS_CHILD:
        return _tasks_child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warc_dir", nargs="?", default=DEFAULT_WARC_DIR)
    parser.add_argument("--small", type=int, default=10_000, help="pages of the small synthetic corpus")
    parser.add_argument("--large", type=int, default=100_000, help="pages of the large synthetic corpus")
    parser.add_argument("--pages-per-file", type=int, default=5_000)
    parser.add_argument("--partitions", default="2,8,32", help="P of part 2, comma separated")
    parser.add_argument("--corpus-files", type=int, default=8, help="bench corpus files of part 3 (0: skip part 3)")
    parser.add_argument("--ray", action="store_true", help="part 3: the new stages on Ray with 2 CPUs too")
    parser.add_argument("--model-partitions", type=int, default=4_096)
    parser.add_argument("--json", default=DEFAULT_JSON)
    parser.add_argument("--tmp-dir", default=None)
    parser.add_argument("--report", metavar="JSON", help="print the table and model again from a run's JSON")
    args = parser.parse_args(argv)
    if args.report:
        with open(args.report, encoding="utf-8") as handle:
            saved = json.load(handle)
        saved["model"] = capacity_model(saved, args.model_partitions)
        print_report(saved)
        return 0
    began = time.perf_counter()
    load_start = loadavg()
    speed_start = parallel_capacity()
    old_package(REPO_DIR, OLD_COMMIT, OLD_TREE, OLD_PKG)
    tmp = tempfile.mkdtemp(prefix="bench-scale-", dir=args.tmp_dir)
    results: dict[str, Any] = {"command": shlex.join([sys.executable, *sys.argv])}
    try:
        # corpus
        per_file = args.pages_per_file
        n_files = -(-args.large // per_file)
        t = time.perf_counter()
        synthetic = make_corpus(os.path.join(tmp, "synthetic"), n_files, per_file)
        small_files = synthetic[: max(1, -(-args.small // per_file))]
        results["synthetic"] = {
            "pages_per_file": per_file,
            "small_files": len(small_files),
            "large_files": n_files,
            "bytes": sum(os.path.getsize(p) for p in synthetic),
            "make_s": time.perf_counter() - t,
        }
        log(f"synthetic corpus: {n_files} files x {per_file} pages in {results['synthetic']['make_s']:.0f} s")
        # part 1
        drivers: dict[str, dict[str, Any]] = {}
        keys_dir = os.path.join(tmp, "keys")
        for size, files in (("small", small_files), ("large", synthetic)):
            for impl in ("old", "tables", "parquet"):
                keep = keys_dir if (size, impl) == ("large", "parquet") else ""
                drivers[f"{impl}-{size}"] = _mine(impl, 2, files, tmp, keep)
        results["drivers"] = drivers
        # part 2
        tasks = []
        for p in [int(x) for x in args.partitions.split(",") if x]:
            log(f"near-dedup tasks: P={p}")
            tasks.append(_run_child([TASKS_CHILD, keys_dir, os.path.join(tmp, f"dedup-{p}"), str(p)]))
            shutil.rmtree(os.path.join(tmp, f"dedup-{p}"), ignore_errors=True)
        results["tasks"] = tasks
        # part 3
        e2e: dict[str, dict[str, Any]] = {}
        if args.corpus_files > 0:
            corpus = warc_files(args.warc_dir)[: args.corpus_files]
            results["corpus"] = {"dir": args.warc_dir, "files": len(corpus), "bytes": sum(map(os.path.getsize, corpus))}
            for workers in (1, 2):
                for impl in ("old", "tables"):
                    e2e[f"{impl}{workers}"] = _mine(impl, workers, corpus, tmp)
            if args.ray:
                e2e["ray2"] = _mine("ray", 2, corpus, tmp)
        results["e2e"] = e2e
    except BaseException:
        write_json(args.json + ".partial", results)  # what was measured before the failure
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"] = machine_facts(PACKAGES, load_start, speed_start, parallel_capacity(), old_commit=OLD_COMMIT)
    results["elapsed_s"] = time.perf_counter() - began
    write_json(args.json, results)  # the measurements first: `--report` renders them again
    results["model"] = capacity_model(results, args.model_partitions)
    print_report(results)
    write_json(args.json, results)
    return 0


# -- capacity model ---------------------------------------------------------------------------------
def _slope(points: list[tuple[float, float]]) -> float:
    """Least-squares slope of y over x."""
    n = len(points)
    if n < 2:
        return float("nan")
    mx, my = sum(x for x, _ in points) / n, sum(y for _, y in points) / n
    den = sum((x - mx) ** 2 for x, _ in points)
    return sum((x - mx) * (y - my) for x, y in points) / den if den else float("nan")


def capacity_model(results: dict[str, Any], partitions: int) -> dict[str, Any]:
    """Per-stage wall on MODEL_CPUS for MODEL_PAGES from measured per-document costs."""
    large = results["drivers"]["parquet-large"]
    tables = results["drivers"]["tables-large"]
    docs = large["documents"]
    pages_large = large["records"]
    e2e = results.get("e2e", {})
    real = e2e.get("tables2")
    stages = large["stages"]
    model: dict[str, Any] = {"pages": MODEL_PAGES, "cpus": MODEL_CPUS, "partitions": partitions}
    # documents per page and mining CPU per page from the real corpus when measured
    if real and "stages" in real and "mine_unit" in real["stages"]:
        mine_cpu_page = real["stages"]["mine_unit"]["cpu_s"] / real["records"]
        docs_per_page = real["documents"] / real["records"]
        model["mining_source"] = "bench corpus (real pages), workers=2"
    else:
        mine_cpu_page = stages["mine_unit"]["cpu_s"] / pages_large
        docs_per_page = docs / pages_large
        model["mining_source"] = "synthetic pages"
    n_docs = MODEL_PAGES * docs_per_page
    keys_per_doc = results["tasks"][0]["key_rows"] / docs if results.get("tasks") else float("nan")
    rows: list[dict[str, Any]] = []

    def add(stage: str, cpu_per_doc: float, tasks: float, inputs: str, bytes_per_doc: float | None = None) -> None:
        cpu_total = cpu_per_doc * (n_docs if stage != "mine" else MODEL_PAGES)
        waves = max(1.0, tasks / MODEL_CPUS)
        wall = cpu_total / min(MODEL_CPUS, tasks) if tasks < MODEL_CPUS else cpu_total / MODEL_CPUS
        rows.append(
            {
                "stage": stage,
                "cpu_per_doc_s": cpu_per_doc,
                "cpu_h": cpu_total / 3600,
                "tasks": tasks,
                "waves": waves,
                "wall_h": wall / 3600,
                "inputs": inputs,
                "bytes_per_doc": bytes_per_doc,
                "bytes_total": None if bytes_per_doc is None else bytes_per_doc * n_docs,
            }
        )

    units = MODEL_PAGES / MODEL_UNIT_PAGES
    add(
        "mine (extract, LID, MinHash, keys)",
        mine_cpu_page,
        units,
        f"{model['mining_source']}: CPU s per page",
        large["keys_bytes"] / docs,
    )
    dedup_bytes = large["dedup_bytes"]
    for stage, out in (
        ("buckets", ("buckets.members", "buckets.edges")),
        ("components", ("components",)),
        ("labels", ("labels",)),
        ("decide", ("decide",)),
    ):
        if stage in stages:
            written = sum(dedup_bytes.get(name, 0) for name in out)
            add(
                stage,
                stages[stage]["cpu_s"] / docs,
                partitions,
                f"{stages[stage]['tasks']} tasks measured",
                written / docs,
            )
    # every bucket task scans every unit's key file (`khash % P = p` prunes no row group): P scans in all
    tasks = results.get("tasks", [])
    scan_per_row = min(t["scan_cpu_s"] / t["key_rows"] for t in tasks) if tasks else float("nan")
    key_bytes_row = tasks[0]["key_bytes"] / tasks[0]["key_rows"] if tasks else float("nan")
    scan_cpu = scan_per_row * keys_per_doc * partitions  # per document
    model.update(
        scan_cpu_per_key_row=scan_per_row,
        key_bytes_per_row=key_bytes_row,
        scan_bytes_total=key_bytes_row * keys_per_doc * n_docs * partitions,
    )
    add(
        "buckets: P scans of all key files",
        scan_cpu,
        partitions,
        f"{scan_per_row * 1e9:.1f} ns CPU per key row scanned x {keys_per_doc:.0f} keys/doc x P",
    )
    if "finalize_unit" in stages:
        add("finalize", stages["finalize_unit"]["cpu_s"] / docs, units, "per unit task")
    # the driver: commit per unit (parquet: a row per unit; tables: INSERT of every row)
    # the driver outside the stages (planning, commits, summaries): marginal cost, large - small run
    drivers = results["drivers"]

    def outside(run: dict[str, Any]) -> float:
        return float(run["driver_cpu_s"] - run["driver_cpu_in_stages_s"])

    def units_of(run: dict[str, Any]) -> int:
        return int(run["stages"].get("finalize_unit", {}).get("tasks", 1))

    n_units_measured = units_of(large) - units_of(drivers["parquet-small"])
    added_docs = docs - drivers["parquet-small"]["documents"]
    commit_parquet = outside(large) - outside(drivers["parquet-small"])
    commit_tables = outside(tables) - outside(drivers["tables-small"])
    model["driver_commit_s_per_unit"] = {
        "parquet": commit_parquet / n_units_measured,
        "tables": commit_tables / n_units_measured,
    }
    model["driver_commit_s_per_doc"] = {"parquet": commit_parquet / added_docs, "tables": commit_tables / added_docs}
    model["driver_wait_cpu_s_per_doc"] = large["driver_cpu_in_stages_s"] / docs
    for layout, per_doc in model["driver_commit_s_per_doc"].items():
        per_unit = model["driver_commit_s_per_unit"][layout]
        cost = per_unit * units if layout == "parquet" else per_doc * n_docs
        rows.append(
            {
                "stage": f"driver commit ({layout} layout, one process)",
                "cpu_per_doc_s": cost / n_docs,
                "cpu_h": cost / 3600,
                "tasks": 1,
                "waves": 1,
                "wall_h": cost / 3600,
                "inputs": f"{per_unit * 1000:.1f} ms per unit, {per_doc * 1e6:.0f} µs per doc "
                f"(marginal over {n_units_measured} added units of {added_docs / n_units_measured:,.0f} docs)",
                "bytes_per_doc": None,
                "bytes_total": None,
            }
        )
    # rounds: observed; the model scales them by log2(n)^2 / log2(n_measured)^2 as an upper bound
    rounds = large.get("rounds", 0)
    model["rounds_measured"] = rounds
    # memory per task from part 2: peak growth of the heaviest dedup task vs key rows per partition
    points = []
    for entry in results.get("tasks", []):
        per_part = entry["key_rows"] / entry["partitions"]
        growth = max(s["max_growth"] for s in entry["stages"].values())
        points.append((per_part, growth))
    slope = _slope(points)
    base = min((g - slope * x for x, g in points), default=float("nan"))
    keys_per_partition = n_docs * keys_per_doc / partitions
    model.update(
        docs=n_docs,
        docs_per_page=docs_per_page,
        keys_per_doc=keys_per_doc,
        units=units,
        task_bytes_per_key_row=slope,
        task_base_bytes=base,
        keys_per_partition=keys_per_partition,
        task_peak_bytes=base + slope * keys_per_partition,
        rows=rows,
    )
    model["bound"] = max(rows, key=lambda r: r["wall_h"])["stage"]
    model["bound_parallel"] = max((r for r in rows if r["tasks"] > 1), key=lambda r: r["wall_h"])["stage"]
    return model


# -- report -----------------------------------------------------------------------------------------
def print_report(results: dict[str, Any]) -> None:
    machine = results["machine"]
    syn = results["synthetic"]
    drivers = results["drivers"]
    print("## toxmine scale benchmark (issue 12)\n")
    print(f"- command: `{results['command']}`")
    print(
        f"- machine: nproc {machine['nproc']} (usable {machine['usable_cpus']}), {machine['cpu']}, "
        f"{machine['platform']}; load average at start {machine['loadavg_start']}, at end {machine['loadavg_end']}; "
        f"2-vs-1-process check x{machine['parallel_speedup_start']:.2f} / x{machine['parallel_speedup_end']:.2f}"
    )
    print("- versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()))
    print(
        f"- synthetic corpus: {syn['large_files']} WARC files x {syn['pages_per_file']:,} small pages "
        f"({syn['bytes'] / 2**20:.1f} MB, ~8% exact or near copies); small = first {syn['small_files']} files; "
        f"old driver = commit {OLD_COMMIT} from a worktree"
    )
    if "corpus" in results:
        c = results["corpus"]
        print(f"- bench corpus: {c['files']} files of `{c['dir']}`, {c['bytes'] / 2**20:.1f} MB")
    print(f"- benchmark took {results['elapsed_s']:.0f} s\n")
    rows: list[list[str]] = [["#", "measurement", "old (9974f9d)", "new, tables", "new, parquet", "new/old", "notes"]]
    names = ("old", "tables", "parquet")
    for size in ("small", "large"):
        d = [drivers[f"{n}-{size}"] for n in names]
        per_doc = [x["driver_cpu_s"] / max(1, x["documents"]) * 1e6 for x in d]
        rows.append(
            [
                f"1{'a' if size == 'small' else 'b'}",
                f"driver CPU per document, {d[0]['documents']:,} docs",
                *[f"{v:,.0f} µs" for v in per_doc],
                f"{ratio(per_doc[1], per_doc[0]):.2f} / {ratio(per_doc[2], per_doc[0]):.2f}",
                f"workers=2; driver wall {' / '.join(num(x['wall_s']) for x in d)} s",
            ]
        )
    marginal = []
    for n in names:
        s, lg = drivers[f"{n}-small"], drivers[f"{n}-large"]
        marginal.append((lg["driver_cpu_s"] - s["driver_cpu_s"]) / max(1, lg["documents"] - s["documents"]))
    rows.append(
        [
            "1b'",
            "driver CPU per added document (large - small)",
            *[f"{v * 1e6:,.0f} µs" for v in marginal],
            f"{ratio(marginal[1], marginal[0]):.2f} / {ratio(marginal[2], marginal[0]):.2f}",
            "the fixed start-up (imports, LID model, pool) cancels out",
        ]
    )
    for size in ("small", "large"):
        d = [drivers[f"{n}-{size}"] for n in names]
        rss = [x["driver_maxrss"] for x in d]
        rows.append(
            [
                f"1{'c' if size == 'small' else 'd'}",
                f"driver peak RSS, {d[0]['documents']:,} docs",
                *[_mib(v) for v in rss],
                f"{ratio(rss[1], rss[0]):.2f} / {ratio(rss[2], rss[0]):.2f}",
                "ru_maxrss of the process calling mine()",
            ]
        )
    growth = []
    for n in names:
        s, lg = drivers[f"{n}-small"], drivers[f"{n}-large"]
        growth.append((lg["driver_maxrss"] - s["driver_maxrss"]) / max(1, lg["documents"] - s["documents"]))
    rows.append(
        [
            "1e",
            "driver RSS growth per document (large - small)",
            *[f"{g:,.0f} B" for g in growth],
            f"{ratio(growth[1], growth[0]):.2f} / {ratio(growth[2], growth[0]):.2f}",
            "issue: old grows ~5.5 KB per kept document",
        ]
    )
    same = all(
        drivers[f"{n}-{size}"]["digest"] == drivers[f"old-{size}"]["digest"]
        for n in names
        for size in ("small", "large")
    )
    rows.append(
        [
            "1f",
            "same documents and dup_of as old",
            "",
            "",
            "",
            "**OK**" if same else "**DIFFERENT**",
            f"large: {drivers['old-large']['digest']['dups']:,} duplicates of "
            f"{drivers['old-large']['digest']['rows']:,}",
        ]
    )
    for i, entry in enumerate(results.get("tasks", [])):
        heaviest = max(entry["stages"].items(), key=lambda kv: kv[1]["max_growth"])
        detail = ", ".join(f"{k} {_mib(v['max_growth'])} / {v['cpu_s']:.1f} CPU s" for k, v in entry["stages"].items())
        rows.append(
            [
                f"2{chr(ord('a') + i)}",
                f"near-dedup task peak, P={entry['partitions']}",
                f"{entry['key_rows'] / entry['partitions']:,.0f} key rows / partition",
                "",
                f"{_mib(heaviest[1]['max_rss'])} whole, **{_mib(heaviest[1]['max_growth'])}** above start",
                "",
                f"heaviest: {heaviest[0]}; per stage, peak above start / CPU: {detail}; "
                f"one scan of all key files: {entry['scan_cpu_s']:.2f} CPU s; {entry['rounds']} component rounds; "
                f"fresh process per task, forked from a {_mib(entry['parent_rss'])} parent; "
                f"wall {entry['wall_s']:.1f} s",
            ]
        )
    e2e = results.get("e2e", {})
    for workers in (1, 2):
        old, new = e2e.get(f"old{workers}"), e2e.get(f"tables{workers}")
        if old and new:
            po, pn = rate(old["records"], old["wall_s"]), rate(new["records"], new["wall_s"])
            same_db = "same db" if old["digest"] == new["digest"] else "**different db**"
            rows.append(
                [
                    f"3{'a' if workers == 1 else 'b'}",
                    f"bench corpus pages/s, workers={workers}",
                    f"{po:,.1f}",
                    f"**{pn:,.1f}**",
                    "",
                    f"**{ratio(pn, po):.2f}**",
                    f"{old['records']:,} records, {new['documents']:,} docs; wall {old['wall_s']:.1f} / "
                    f"{new['wall_s']:.1f} s; driver CPU {old['driver_cpu_s']:.1f} / "
                    f"{new['driver_cpu_s']:.1f} s; {same_db}",
                ]
            )
    if "ray2" in e2e and "old2" in e2e:
        ray, old = e2e["ray2"], e2e["old2"]
        pr, po = rate(ray["records"], ray["wall_s"]), rate(old["records"], old["wall_s"])
        rows.append(
            [
                "3c",
                "bench corpus pages/s, Ray 2 CPUs (incl. start-up)",
                f"{po:,.1f}",
                f"{pr:,.1f}",
                "",
                f"{ratio(pr, po):.2f}",
                "vs old local workers=2",
            ]
        )
    new2 = e2e.get("tables2")
    if new2 and "stages" in new2:
        parts = ", ".join(f"{k} {v['cpu_s']:.1f}" for k, v in new2["stages"].items())
        rows.append(
            [
                "3d",
                "new workers=2: task CPU s by stage",
                "",
                parts,
                "",
                "",
                f"driver CPU {new2['driver_cpu_s']:.1f} s, of it between stages (commit) "
                f"{new2['driver_cpu_s'] - new2['driver_cpu_in_stages_s']:.1f} s",
            ]
        )
    print("\n".join(markdown_rows([*rows[:1], ["---"] * 2 + ["---:"] * 4 + ["---"], *rows[1:]])))
    print_model(results["model"])


def _hours(h: float) -> str:
    return f"{h * 60:,.1f} min" if h < 1 else f"{h:,.2f} h"


def print_model(model: dict[str, Any]) -> None:
    print(f"\n### Capacity model: {model['pages']:.0e} pages on {model['cpus']:,} CPUs, P = {model['partitions']:,}\n")
    print(
        f"- documents: {model['docs']:.3g} ({model['docs_per_page']:.2f} per page, {model['mining_source']}); "
        f"units: {model['units']:,.0f} of {MODEL_UNIT_PAGES:,} pages; "
        f"key rows per document: {model['keys_per_doc']:.1f}"
    )
    print(
        f"- wall per stage = CPU s per doc x docs / min(CPUs, tasks); component rounds measured: "
        f"{model['rounds_measured']} (scaled as measured: rounds grow ~log^2 of the longest chain, not of n)"
    )
    print()
    rows = [
        [
            "stage",
            "CPU s / doc (measured)",
            "CPU-hours",
            "tasks",
            "wall",
            "written (shuffle) per doc",
            "total",
            "measured input",
        ]
    ]
    for r in model["rows"]:
        rows.append(
            [
                r["stage"],
                f"{r['cpu_per_doc_s'] * 1e6:,.0f} µs",
                f"{r['cpu_h']:,.1f}",
                f"{r['tasks']:,.0f}",
                _hours(r["wall_h"]),
                "" if r["bytes_per_doc"] is None else f"{r['bytes_per_doc']:,.0f} B",
                "" if r["bytes_total"] is None else f"{r['bytes_total'] / 1e12:,.2f} TB",
                r["inputs"],
            ]
        )
    print("\n".join(markdown_rows([*rows[:1], ["---"] + ["---:"] * 6 + ["---"], *rows[1:]])))
    print(
        f"\n- task memory at P={model['partitions']:,}: {model['keys_per_partition']:,.0f} key rows per bucket "
        f"partition x {model['task_bytes_per_key_row']:,.0f} B per row (slope of part 2) + "
        f"{_mib(model['task_base_bytes'])} = **{_mib(model['task_peak_bytes'])}** per task before DuckDB's "
        f"memory_limit (1GB) makes it spill"
    )
    print(
        f"- bucket stage reads: every one of the P tasks scans every unit's key file: "
        f"{model['key_bytes_per_row']:.1f} B per key row x {model['keys_per_doc']:.0f} keys/doc x docs x P = "
        f"**{model['scan_bytes_total'] / 1e15:,.2f} PB** read from shared storage at P={model['partitions']:,}"
    )
    print(f"- bound: **{model['bound']}**; among parallel stages: {model['bound_parallel']}")


if __name__ == "__main__":
    sys.exit(main())
