#!/usr/bin/env python3
"""Scoring benchmark of issue 12: the old page loop against the unit tasks, in-process and on Ray actors.

A benchmark, not a test: it prints one Markdown table and writes the same figures as JSON. Every
scoring run is a fresh subprocess (this script's `_score-child` mode) on a fresh copy of a mined
database, with the offline `lexicon` scorer, so each process's CPU (`RUSAGE_SELF`) and peak RSS
(`ru_maxrss`) are its own. The corpus is bench_scale's synthetic WARC files (small distinct pages,
~8% exact or near copies), mined at two sizes (`--small`, `--large` pages; the large database is the
small one mined on with the remaining files), by the old code into a tables database and by the
new code into a tables and a parquet database (`mine(..., layout=...)`). In one run, at both sizes:

(a) in-process scoring: the old `score_stage.score_documents` (commit f8bd473: pages of 256 kept
    documents read from the database, committed page by page), run from a `git worktree` of that
    commit through a copy of its package (`toxmine.miner.__file__` is checked), vs the new
    `score_units.score_documents` on the tables and on the parquet database: documents/s,
    prompts/s, documents per CPU-second of the process, and new/old (the issue: no more than 10%
    slower on one machine);
(b) the new path on Ray (local Ray, 2 CPUs; `RayScorerPool("lexicon", actors=2)`,
    `run=pool.score_units`): the driver's own CPU seconds per document, its peak RSS and its RSS
    growth during scoring, tables vs parquet layout, and their change between the sizes (per added
    document);
(c) the prompts of every run at a size are equal: count and an md5 over every column but the texts'
    own (those by their md5).

    .venv/bin/python bench/bench_score_units.py              # ~9-10 minutes on 2 cores
    .venv/bin/python bench/bench_score_units.py --small 1000 --large 3000 --no-ray   # a quick look
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from bench_scale import make_corpus
from benchkit import (
    cpu_seconds,
    loadavg,
    log,
    machine_facts,
    markdown_rows,
    old_package,
    parallel_capacity,
    rate,
    ratio,
    rss_now,
    run_child,
    use_old_tree,
    write_json,
)

PACKAGES = ("toxmine", "duckdb", "pyarrow", "ray")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
REPO_DIR = os.path.dirname(BENCH_DIR)
DEFAULT_JSON = os.path.join(BENCH_DIR, ".cache", "score_units.json")
OLD_COMMIT = "f8bd473"
OLD_TREE = "/tmp/old12-score"
OLD_PKG = "/tmp/oldpkg-score"
MINE_CHILD = "_mine-child"
SCORE_CHILD = "_score-child"
DATABASES = (("old", "tables"), ("new", "tables"), ("new", "parquet"))
IN_PROCESS = ("old-tables", "new-tables", "new-parquet")
ON_RAY = ("ray-tables", "ray-parquet")
SIZES = ("small", "large")
PROMPTS_DIGEST = (
    "SELECT count(*), md5(string_agg(concat_ws('|', prompt_id, doc_id, lang, span_start, span_end, md5(prompt), "
    "md5(continuation), toxicity, prompt_toxicity, continuation_toxicity, bucket, scorer, scorer_version), ',' "
    "ORDER BY prompt_id, scorer)) FROM prompts"
)


# -- children ---------------------------------------------------------------------------------------
def _mine_child(argv: Sequence[str]) -> int:
    """`_mine-child CODE LAYOUT DB FILE...` (CODE: old or new): mine FILE... into DB (inputs stored
    already are skipped) with the local executor, workers=2; print JSON."""
    code, layout, db_path, files = argv[0], argv[1], argv[2], list(argv[3:])
    package = use_old_tree(OLD_PKG, OLD_TREE) if code == "old" else ""
    from toxmine.miner import LocalFile, ProcessOptions, mine

    started = time.perf_counter()
    inputs = [LocalFile(path) for path in files]
    if code == "old":
        report = mine(inputs, db_path, ProcessOptions(), workers=2)
    else:
        report = mine(inputs, db_path, ProcessOptions(), workers=2, layout=layout)
    print(json.dumps({"package": package, "documents": report.documents, "wall_s": time.perf_counter() - started}))
    return 0


def _score_child(argv: Sequence[str]) -> int:
    """`_score-child RUN DB` (RUN: old-tables, new-tables, new-parquet, ray-tables, ray-parquet): score
    every kept document of DB with the lexicon scorer; print this process's figures and the prompts'
    digest as JSON."""
    run, db_path = argv[0], argv[1]
    result: dict[str, Any] = {"run": run}
    if run.startswith("old"):
        result["package"] = use_old_tree(OLD_PKG, OLD_TREE)
    from toxmine.miner.scoring import create_scorer
    from toxmine.miner.store import Store

    store = Store(db_path)
    pool: Any = None
    if run.startswith("old"):
        from toxmine.miner.score_stage import score_documents as old_score_documents

        scorer: Any = create_scorer("lexicon")
        scorer.score_batch(["warm up the word lists"], ["en"])

        def score() -> Any:
            return old_score_documents(store, scorer)

    else:
        from toxmine.miner.layout import ensure_layout
        from toxmine.miner.score_units import score_documents

        ensure_layout(store, None)  # a copied parquet database: its views point at the copy's .data folder
        if run.startswith("ray"):
            from toxmine.miner.executors import RayOptions, start_ray
            from toxmine.miner.scoring.ray_pool import RayScorerPool

            began = time.perf_counter()
            start_ray(RayOptions(num_cpus=2))
            pool = RayScorerPool("lexicon", actors=2)
            pool.score_batch(["warm up the word lists"] * 128, ["en"] * 128)
            result["ray_start_s"] = time.perf_counter() - began

            def score() -> Any:
                return score_documents(store, pool, run=pool.score_units)

        else:
            scorer = create_scorer("lexicon")
            scorer.score_batch(["warm up the word lists"], ["en"])

            def score() -> Any:
                return score_documents(store, scorer)

    result["rss_start"] = rss_now()
    result["maxrss_start"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    cpu, started = cpu_seconds(resource.RUSAGE_SELF), time.perf_counter()
    report = score()
    result["wall_s"] = time.perf_counter() - started
    result["cpu_s"] = cpu_seconds(resource.RUSAGE_SELF) - cpu
    result["maxrss"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    result.update(documents=report.documents, prompts=report.prompts, texts_scored=report.texts_scored)
    if pool is not None:
        import ray

        pool.close()
        ray.shutdown()
    row = store.con.execute(PROMPTS_DIGEST).fetchone()
    assert row is not None
    result["digest"] = {"count": int(row[0]), "md5": str(row[1])}
    store.close()
    print(json.dumps(result))
    return 0


# -- parent -----------------------------------------------------------------------------------------
def _child(args: list[str]) -> dict[str, Any]:
    return run_child(os.path.abspath(__file__), args)


def _mine_databases(tmp: str, small_files: list[str], all_files: list[str]) -> dict[str, Any]:
    """Every database of DATABASES at both sizes under `tmp/mined/NAME-SIZE/`; the large one is the
    small one mined on with the remaining files."""
    mined: dict[str, Any] = {}
    for code, layout in DATABASES:
        name = f"{code}-{layout}"
        growing = os.path.join(tmp, "mined", f"{name}-large")
        os.makedirs(growing)
        db = os.path.join(growing, "db.duckdb")
        for size, files in (("small", small_files), ("large", all_files)):
            log(f"mine: {name}, {len(files)} files")
            mined[f"{name}-{size}"] = _child([MINE_CHILD, code, layout, db, *files])
            if size == "small":
                shutil.copytree(growing, os.path.join(tmp, "mined", f"{name}-small"))
    return mined


def _score(tmp: str, run: str, size: str) -> dict[str, Any]:
    """Score a fresh copy of the database `run` needs at `size`, in a fresh subprocess."""
    source = {"old-tables": "old-tables", "new-tables": "new-tables", "ray-tables": "new-tables"}.get(
        run, "new-parquet"
    )
    folder = os.path.join(tmp, "runs", f"{run}-{size}")
    shutil.copytree(os.path.join(tmp, "mined", f"{source}-{size}"), folder)
    try:
        result = _child([SCORE_CHILD, run, os.path.join(folder, "db.duckdb")])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
    log(
        f"  {run}, {size}: {result['documents']:,} documents, {result['prompts']:,} prompts "
        f"in {result['wall_s']:.1f} s, CPU {result['cpu_s']:.1f} s, peak RSS {result['maxrss'] / 2**20:.0f} MiB"
    )
    return result


def _keep_best(runs: dict[str, dict[str, Any]], key: str, result: dict[str, Any]) -> None:
    """Keep the fastest of a run's repeats (wall), with every repeat's wall and the least CPU of them."""
    before = runs.get(key)
    walls = [*(before["walls"] if before else []), result["wall_s"]]
    cpu_min = min([*([before["cpu_s_min"]] if before else []), result["cpu_s"]])
    best = result if before is None or result["wall_s"] < before["wall_s"] else before
    runs[key] = {**best, "walls": walls, "cpu_s_min": cpu_min}


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == MINE_CHILD:
        return _mine_child(argv[1:])
    if argv and argv[0] == SCORE_CHILD:
        return _score_child(argv[1:])
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--small", type=int, default=5_000, help="pages of the small synthetic corpus")
    parser.add_argument("--large", type=int, default=20_000, help="pages of the large synthetic corpus")
    parser.add_argument("--pages-per-file", type=int, default=2_500, help="pages per WARC file (a unit each)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each in-process scoring (best kept)")
    parser.add_argument("--no-ray", action="store_true", help="leave out part (b)")
    parser.add_argument("--json", default=DEFAULT_JSON)
    parser.add_argument("--tmp-dir", default=None)
    parser.add_argument("--report", metavar="JSON", help="print the table again from a run's JSON")
    args = parser.parse_args(argv)
    if args.report:
        with open(args.report, encoding="utf-8") as handle:
            print_report(json.load(handle))
        return 0
    began = time.perf_counter()
    load_start = loadavg()
    speed_start = parallel_capacity()
    old_package(REPO_DIR, OLD_COMMIT, OLD_TREE, OLD_PKG)
    tmp = tempfile.mkdtemp(prefix="bench-score-units-", dir=args.tmp_dir)
    results: dict[str, Any] = {"command": shlex.join([sys.executable, *sys.argv])}
    try:
        per_file = args.pages_per_file
        n_files = -(-args.large // per_file)
        synthetic = make_corpus(os.path.join(tmp, "synthetic"), n_files, per_file)
        small_files = synthetic[: max(1, -(-args.small // per_file))]
        results["synthetic"] = {
            "pages_per_file": per_file,
            "small_files": len(small_files),
            "large_files": n_files,
            "bytes": sum(os.path.getsize(p) for p in synthetic),
        }
        results["mined"] = _mine_databases(tmp, small_files, synthetic)
        runs: dict[str, dict[str, Any]] = {}
        for size in SIZES:
            for turn in range(args.repeat):  # in-process runs take turns going first
                order = IN_PROCESS[turn % 3 :] + IN_PROCESS[: turn % 3]
                for run in order:
                    _keep_best(runs, f"{run}-{size}", _score(tmp, run, size))
            for run in () if args.no_ray else ON_RAY:
                runs[f"{run}-{size}"] = _score(tmp, run, size)
        results["runs"] = runs
    except BaseException:
        write_json(args.json + ".partial", results)  # what was measured before the failure
        raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    results["machine"] = machine_facts(PACKAGES, load_start, speed_start, parallel_capacity(), old_commit=OLD_COMMIT)
    results["elapsed_s"] = time.perf_counter() - began
    print_report(results)
    write_json(args.json, results)
    return 0


# -- report -----------------------------------------------------------------------------------------
def _mib(n: float) -> str:
    return f"{n / 2**20:,.0f} MiB"


def _ratios(values: list[float]) -> str:
    return f"{ratio(values[1], values[0]):.2f} / {ratio(values[2], values[0]):.2f}"


def print_report(results: dict[str, Any]) -> None:
    machine, syn, runs = results["machine"], results["synthetic"], results["runs"]
    print("## toxmine scoring benchmark: old page loop vs unit tasks (issue 12)\n")
    print(f"- command: `{results['command']}`")
    print(
        f"- machine: nproc {machine['nproc']} (usable {machine['usable_cpus']}), {machine['cpu']}, "
        f"{machine['platform']}; load average at start {machine['loadavg_start']}, at end {machine['loadavg_end']}; "
        f"2-vs-1-process check x{machine['parallel_speedup_start']:.2f} / x{machine['parallel_speedup_end']:.2f}"
    )
    print("- versions: " + ", ".join(f"{k} {v}" for k, v in machine["versions"].items()))
    print(
        f"- corpus: {syn['large_files']} synthetic WARC files x {syn['pages_per_file']:,} pages "
        f"({syn['bytes'] / 2**20:.1f} MB), small = first {syn['small_files']}; scorer `lexicon`; "
        f"old = commit {OLD_COMMIT} from a worktree"
    )
    print(f"- benchmark took {results['elapsed_s']:.0f} s\n")
    rows: list[list[str]] = [
        ["#", "measurement", f"old ({OLD_COMMIT})", "new, tables", "new, parquet", "new/old", "notes"]
    ]
    for size in SIZES:
        if f"old-tables-{size}" not in runs:
            continue
        r = [runs[f"{name}-{size}"] for name in IN_PROCESS]
        label = "a" if size == "small" else "b"
        docs = [rate(x["documents"], x["wall_s"]) for x in r]
        prompts = [rate(x["prompts"], x["wall_s"]) for x in r]
        per_cpu = [rate(x["documents"], x.get("cpu_s_min", x["cpu_s"])) for x in r]
        n = f"{r[0]['documents']:,} docs"
        walls = " / ".join(",".join(f"{w:.1f}" for w in x.get("walls", [x["wall_s"]])) for x in r)
        rows += [
            [f"a{label}1", f"in-process documents/s, {n}", *[f"{v:,.0f}" for v in docs], f"**{_ratios(docs)}**",
             f"best of {len(r[0].get('walls', [0]))}; walls {walls} s"],
            [f"a{label}2", f"in-process prompts/s, {n}", *[f"{v:,.0f}" for v in prompts], _ratios(prompts),
             f"{r[0]['prompts']:,} prompts, {r[0]['texts_scored']:,} texts scored"],
            [f"a{label}3", f"in-process documents per CPU-s, {n}", *[f"{v:,.0f}" for v in per_cpu],
             _ratios(per_cpu), "least CPU of the repeats (the process's own): steadier than wall when shared"],
        ]  # fmt: skip
    if all(f"{name}-{size}" in runs for name in ON_RAY for size in SIZES):
        ray = {size: [runs[f"{name}-{size}"] for name in ON_RAY] for size in SIZES}
        for size in SIZES:
            r = ray[size]
            n = f"{r[0]['documents']:,} docs"
            cpu = [x["cpu_s"] / max(1, x["documents"]) * 1e6 for x in r]
            growth = [x["maxrss"] - x["rss_start"] for x in r]
            label = "a" if size == "small" else "b"
            rows += [
                [f"b{label}1", f"Ray: driver CPU per document, {n}", "", f"{cpu[0]:,.0f} µs", f"{cpu[1]:,.0f} µs",
                 f"p/t {ratio(cpu[1], cpu[0]):.2f}",
                 f"driver CPU {r[0]['cpu_s']:.2f} / {r[1]['cpu_s']:.2f} s; wall {r[0]['wall_s']:.1f} / "
                 f"{r[1]['wall_s']:.1f} s ({rate(r[0]['documents'], r[0]['wall_s']):,.0f} / "
                 f"{rate(r[1]['documents'], r[1]['wall_s']):,.0f} docs/s)"],
                [f"b{label}2", f"Ray: driver peak RSS, {n}", "", _mib(r[0]["maxrss"]), _mib(r[1]["maxrss"]),
                 f"p/t {ratio(r[1]['maxrss'], r[0]['maxrss']):.2f}",
                 f"peak above the RSS at the start of scoring: {_mib(growth[0])} / {_mib(growth[1])}"],
            ]  # fmt: skip
        small, large = ray["small"], ray["large"]
        added = [lg["documents"] - s["documents"] for s, lg in zip(small, large, strict=True)]
        cpu_added = [(lg["cpu_s"] - s["cpu_s"]) / max(1, a) * 1e6 for s, lg, a in zip(small, large, added, strict=True)]
        rss_added = [(lg["maxrss"] - s["maxrss"]) / max(1, a) for s, lg, a in zip(small, large, added, strict=True)]
        rows += [
            ["bc", "Ray: driver CPU per added document (large - small)", "", f"{cpu_added[0]:,.0f} µs",
             f"{cpu_added[1]:,.0f} µs", f"p/t {ratio(cpu_added[1], cpu_added[0]):.2f}",
             "fixed costs (imports, Ray start, pool) cancel out"],
            ["bd", "Ray: driver peak RSS growth per added document", "", f"{rss_added[0]:,.0f} B",
             f"{rss_added[1]:,.0f} B", "", f"{added[0]:,} added documents"],
        ]  # fmt: skip
    for size in SIZES:
        digests = {name: run["digest"] for name, run in runs.items() if name.endswith(f"-{size}")}
        if not digests:
            continue
        same = len({(d["count"], d["md5"]) for d in digests.values()}) == 1
        first = next(iter(digests.values()))
        rows.append(
            [
                f"c{'a' if size == 'small' else 'b'}",
                f"prompts equal in all {len(digests)} runs, {size}",
                "",
                "",
                "",
                "**OK**" if same else "**DIFFERENT**",
                f"{first['count']:,} prompts, md5 {first['md5'][:12]}"
                + ("" if same else "; " + ", ".join(f"{k}: {d['count']} {d['md5'][:8]}" for k, d in digests.items())),
            ]
        )
    print("\n".join(markdown_rows([*rows[:1], ["---"] * 2 + ["---:"] * 4 + ["---"], *rows[1:]])))


if __name__ == "__main__":
    sys.exit(main())
