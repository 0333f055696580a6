#!/usr/bin/env python3
"""Overhead and scaling of the Ray executor against the local one, and a capacity plan for a crawl.

A benchmark, not a test: it prints one Markdown table and a capacity plan, and writes the same
figures as JSON. In one run, over the same WARC files, each measurement a fresh subprocess (this
script's `_mine-child` mode) mining into a fresh temporary DuckDB file, no scoring:

1. `mine(..., executor="local")` with workers=1 and workers=2;
2. `mine(..., executor="ray")` on a fresh local Ray instance of 1 and of 2 CPUs. The child starts
   Ray itself (`start_ray(RayOptions(num_cpus=N))`, what `mine()` would do) and sends one trivial
   task round trip, timed apart as the start-up; `mine()` then finds Ray running and mines. Wall
   = start-up + mining + `ray.shutdown()`, as a user sees it; the mining phase alone is reported
   too, and the per-CPU rate of the capacity plan uses it (start-up is once per cluster run);
3. ratios ray(1)/local(1), ray(2)/local(2) (Ray's overhead), ray(2)/ray(1) (scaling), the
   throughput per CPU, and the driver's CPU seconds per document (the single writer's ceiling);
4. the kept doc ids and `dup_of` links of every database against local workers=1 (asserted);
5. unless `--no-scoring`: the lexicon scorer locally and as a `RayScorerPool` of 1 and 2 actors,
   through `score_documents` on copies of the mined database cut to `--score-docs` (1,000) kept
   documents, and `score_batch` alone on their texts;
6. a capacity plan for a full Common Crawl snapshot from the measured per-CPU rate, and for the
   classifier from the CPU scorer rate of `bench_scoring.py` (a GPU rate is an assumption unless
   `--scoring-json` holds a `--device cuda` run).

The machine check (2 concurrent CPU-bound processes vs 1) runs at start and end: on a shared
machine, a 2-CPU figure cannot scale past it.

    bench/build_bench_corpus.sh                        # once: bench/.cache/warc/part-00..07.warc.gz
    .venv/bin/python bench/bench_ray.py                # ~8-10 minutes on 2 cores
    .venv/bin/python bench/bench_ray.py DIR --no-scoring --json out.json --tmp-dir /tmp
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from benchkit import (
    cpu_seconds,
    descendants_cpu,
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

PACKAGES = ("toxmine", "ray", "duckdb", "trafilatura", "pyarrow")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_WARC_DIR = os.path.join(BENCH_DIR, ".cache", "warc")
DEFAULT_JSON = os.path.join(BENCH_DIR, ".cache", "ray.json")
DEFAULT_SCORING_JSON = os.path.join(BENCH_DIR, ".cache", "scoring.json")
MINE_CHILD = "_mine-child"
SCORE_CHILD = "_score-child"
RUNS = (("local", 1), ("local", 2), ("ray", 1), ("ray", 2))

# Capacity-plan assumptions: approximate public figures for one Common Crawl snapshot.
CC_WARC_FILES = 90_000  # WARC files per monthly snapshot (~1 GB compressed each)
CC_HTML_PAGES = 3.0e9  # HTML pages per snapshot (~33,000-35,000 per WARC file)
TEXTS_PER_PROMPT = 3  # prompt, continuation, whole span
CPU_SCORER_SEQ_S = 7.0  # XLM-R-base shapes, T=128, 2 CPU cores (bench_scoring.py on the 2-core VM)
CPU_SCORER_CORES = 2
GPU_SEQ_S_ASSUMED = 2_000.0  # NOT measured: XLM-R-base, bf16, T=128, one A100-class GPU
CLUSTER_CORES = (100, 1_000)


# -- children ------------------------------------------------------------------------------------


def _noop() -> int:
    return 1


def _mine_child(argv: Sequence[str]) -> int:
    """`bench_ray.py _mine-child EXECUTOR N DB SHARDS FILE...`: mine once, print JSON on stdout."""
    executor, n, db_path, shard_dir, files = argv[0], int(argv[1]), argv[2], argv[3], list(argv[4:])
    from toxmine.miner import LocalFile, ProcessOptions, mine
    from toxmine.miner.executors import RayOptions, start_ray

    inputs = [LocalFile(path) for path in files]
    result: dict[str, Any] = {"executor": executor, "cpus": n, "files": len(files)}
    if executor == "local":
        cpu_self = cpu_seconds(resource.RUSAGE_SELF)
        started = time.perf_counter()
        report = mine(inputs, db_path, ProcessOptions(), workers=n)
        result["wall_s"] = result["mine_wall_s"] = time.perf_counter() - started
        cpu = cpu_seconds(resource.RUSAGE_SELF) - cpu_self + cpu_seconds(resource.RUSAGE_CHILDREN)
        result["cpu_s"] = result["mine_cpu_s"] = cpu
    else:
        started = time.perf_counter()
        import ray

        result["import_s"] = time.perf_counter() - started
        options = RayOptions(num_cpus=n)
        cpu_began = cpu_seconds(resource.RUSAGE_SELF)
        began = time.perf_counter()
        start_ray(options)
        result["init_s"] = time.perf_counter() - began
        ray.get(ray.remote(num_cpus=1)(_noop).remote())
        ready = time.perf_counter()
        result["startup_s"] = ready - began
        tree_before, self_before = descendants_cpu(), cpu_seconds(resource.RUSAGE_SELF)
        report = mine(inputs, db_path, ProcessOptions(), workers=n, executor="ray", ray=options, work_dir=shard_dir)
        mined = time.perf_counter()
        tree_after, self_after = descendants_cpu(), cpu_seconds(resource.RUSAGE_SELF)
        ray.shutdown()
        ended = time.perf_counter()
        result["mine_wall_s"] = mined - ready
        result["shutdown_s"] = ended - mined
        result["wall_s"] = ended - began
        result["driver_cpu_s"] = self_after - self_before
        result["ray_processes_cpu_s"] = sum(cpu - tree_before.get(pid, 0.0) for pid, cpu in tree_after.items())
        result["mine_cpu_s"] = result["driver_cpu_s"] + result["ray_processes_cpu_s"]
        result["cpu_s"] = cpu_seconds(resource.RUSAGE_SELF) - cpu_began + sum(tree_after.values())
        result["ray_processes"] = len(tree_after)
    result.update(
        records=report.records,
        documents=report.documents,
        duplicates=report.duplicates,
        failed=report.failed,
        partial=report.partial,
        db_bytes=os.path.getsize(db_path),
    )
    print(json.dumps(result))
    return 0


def _score_child(argv: Sequence[str]) -> int:
    """`bench_ray.py _score-child DB FOLDER N`: the lexicon scorer locally and as a Ray actor pool of
    1 and 2, through `score_documents` on a fresh copy of DB cut to its first N kept documents (by
    doc id, a hash: a spread sample; 0 = all) each, then `score_batch` alone on the same texts."""
    source_db, folder, n_docs = argv[0], argv[1], int(argv[2])
    import duckdb
    import ray

    from toxmine.miner.executors import RayOptions, start_ray
    from toxmine.miner.score_units import score_documents
    from toxmine.miner.scoring import create_scorer
    from toxmine.miner.scoring.ray_pool import RayScorerPool
    from toxmine.miner.store import Store

    def through_stage(label: str, scorer: Any) -> dict[str, Any]:
        copy = os.path.join(folder, f"score-{label}.duckdb")
        shutil.copyfile(source_db, copy)
        with Store(copy) as store:
            report = score_documents(store, scorer)
            texts = store.con.execute("SELECT prompt, continuation, lang FROM prompts").fetchall()
        os.remove(copy)
        return {
            "documents": report.documents,
            "prompts": report.prompts,
            "texts_scored": report.texts_scored,
            "wall_s": report.elapsed_s,
            "texts_per_s": rate(report.texts_scored, report.elapsed_s),
            "texts": texts,
        }

    def alone(scorer: Any, texts: list[str], langs: list[str | None], batch: int = 256) -> dict[str, Any]:
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            scorer.score_batch(texts[start : start + batch], langs[start : start + batch])
        wall = time.perf_counter() - started
        return {"texts": len(texts), "wall_s": wall, "texts_per_s": rate(len(texts), wall)}

    sample_db = os.path.join(folder, "score-sample.duckdb")
    shutil.copyfile(source_db, sample_db)
    if n_docs > 0:
        con = duckdb.connect(sample_db)
        con.execute(
            "DELETE FROM documents WHERE doc_id NOT IN "
            "(SELECT doc_id FROM documents WHERE dup_of IS NULL ORDER BY doc_id LIMIT ?)",
            [n_docs],
        )
        con.close()
    source_db = sample_db
    out: dict[str, Any] = {}
    local = create_scorer("lexicon")
    stage = through_stage("local", local)
    pairs = stage.pop("texts")
    texts = [text for prompt, continuation, _ in pairs for text in (prompt, continuation)]
    langs = [lang for _, _, lang in pairs for _ in range(2)]
    warm = min(len(texts), 512)
    local.score_batch(texts[:warm], langs[:warm])  # any lazily built matcher, before timing
    out["local"] = {"stage": stage, "score_batch": alone(local, texts, langs)}
    began = time.perf_counter()
    start_ray(RayOptions(num_cpus=2))
    out["ray_startup_s"] = time.perf_counter() - began
    for actors in (1, 2):
        started = time.perf_counter()
        pool = RayScorerPool("lexicon", actors=actors)
        made = time.perf_counter() - started
        stage = through_stage(f"ray{actors}", pool)
        stage.pop("texts")
        out[f"pool_{actors}"] = {"pool_start_s": made, "stage": stage, "score_batch": alone(pool, texts, langs)}
        pool.close()
    ray.shutdown()
    print(json.dumps(out))
    return 0


# -- parent ---------------------------------------------------------------------------------------
def _child_env() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("RAY_USAGE_STATS_ENABLED", "0")  # no usage report: this machine talks to no one
    return env


def _run_child(command: list[str]) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False, env=_child_env())
    if done.returncode != 0:
        sys.stderr.write(done.stderr)
        raise SystemExit(f"child failed (exit {done.returncode}): {shlex.join(command)}")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    result["process_wall_s"] = time.perf_counter() - started
    return result


def _mine_run(files: Sequence[str], executor: str, n: int, folder: str) -> dict[str, Any]:
    run_dir = os.path.join(folder, f"{executor}{n}")
    os.makedirs(run_dir)
    db_path = os.path.join(run_dir, "bench.duckdb")
    shards = os.path.join(run_dir, "shards")
    script = os.path.abspath(__file__)
    result = _run_child([sys.executable, script, MINE_CHILD, executor, str(n), db_path, shards, *files])
    result["db"] = db_path
    if result["failed"] or result["partial"]:
        log(f"warning: {executor}({n}) reported failed={result['failed']} partial={result['partial']}")
    return result


def _doc_links(db_path: str) -> tuple[list[str], dict[str, str | None]]:
    import duckdb

    con = duckdb.connect(db_path, read_only=True)
    try:
        rows = con.execute("SELECT doc_id, dup_of FROM documents ORDER BY doc_id").fetchall()
    finally:
        con.close()
    kept = [doc_id for doc_id, dup_of in rows if dup_of is None]
    return kept, dict(rows)


def _html_pages(files: Sequence[str]) -> int:
    from toxmine.miner import LocalFile
    from toxmine.miner.records import HtmlPage
    from toxmine.miner.warc import read_html_pages

    return sum(isinstance(event, HtmlPage) for path in files for event in read_html_pages(LocalFile(path)))


def _cpu_scorer(path: str) -> tuple[float, int, float | None, str]:
    """CPU seq/s at T=128 and its cores, a measured GPU seq/s (or None), and where they came from."""
    try:
        with open(path, encoding="utf-8") as handle:
            scoring = json.load(handle)
        points = [p for p in scoring["scorer"] if p["tokens"] == 128 and not p.get("contended")]
        best = max(p["seq_per_s"] for p in points)
    except (OSError, KeyError, TypeError, ValueError):
        return CPU_SCORER_SEQ_S, CPU_SCORER_CORES, None, "bench_scoring.py on this 2-core VM (not re-measured)"
    if scoring.get("device", "cpu").startswith("cuda"):
        return CPU_SCORER_SEQ_S, CPU_SCORER_CORES, best, f"GPU: measured, {path} ({scoring.get('device_name')})"
    cores = int(scoring["machine"].get("torch_threads") or CPU_SCORER_CORES)
    return best, cores, None, f"measured, {path}"


def _plan(r: dict[str, Any], args: argparse.Namespace) -> dict[str, Any]:
    ray2, local1 = r["runs"]["ray2"], r["runs"]["local1"]
    per_core = ray2["mine_pages_per_s"] / 2
    core_hours = CC_HTML_PAGES / per_core / 3600
    kept_per_page = ratio(local1["documents"] - local1["duplicates"], r["html_pages"])
    scoring = r.get("scoring")
    measured_ppd = scoring["local"]["stage"]["prompts"] / scoring["local"]["stage"]["documents"] if scoring else None
    prompts_per_doc = measured_ppd if measured_ppd else 8.0
    cpu_seq_s, cpu_cores, gpu_measured, scorer_source = _cpu_scorer(args.scoring_json)
    texts = CC_HTML_PAGES * kept_per_page * prompts_per_doc * TEXTS_PER_PROMPT
    gpu_seq_s = gpu_measured or args.gpu_seq_s
    gpu_hours = texts / gpu_seq_s / 3600
    writer_docs_per_s = rate(ray2["documents"], ray2["driver_cpu_s"])
    writer_pages_per_s = rate(r["html_pages"], ray2["driver_cpu_s"])
    return {
        "assumptions": {
            "warc_files": CC_WARC_FILES,
            "html_pages": CC_HTML_PAGES,
            "pages_per_warc": CC_HTML_PAGES / CC_WARC_FILES,
            "kept_docs_per_page": kept_per_page,
            "prompts_per_doc": prompts_per_doc,
            "prompts_per_doc_measured": measured_ppd,
            "texts_per_prompt": TEXTS_PER_PROMPT,
            "cpu_scorer_seq_s": cpu_seq_s,
            "cpu_scorer_cores": cpu_cores,
            "cpu_scorer_source": scorer_source,
            "gpu_seq_s": gpu_seq_s,
            "gpu_seq_s_measured": gpu_measured is not None,
        },
        "mining": {
            "pages_per_core_s": per_core,
            "seconds_per_warc_per_core": CC_HTML_PAGES / CC_WARC_FILES / per_core,
            "core_hours": core_hours,
            "hours_on": {str(c): core_hours / c for c in CLUSTER_CORES},
            "writer_docs_per_s": writer_docs_per_s,
            "writer_pages_per_s": writer_pages_per_s,
            "writer_floor_hours": CC_HTML_PAGES / writer_pages_per_s / 3600,
        },
        "scoring": {
            "texts": texts,
            "cpu_core_hours": texts / (cpu_seq_s / cpu_cores) / 3600,
            "gpu_hours": gpu_hours,
            "gpus_for_a_week": gpu_hours / (7 * 24),
            "gpus_to_keep_pace": {
                str(c): c * per_core * kept_per_page * prompts_per_doc * TEXTS_PER_PROMPT / gpu_seq_s
                for c in CLUSTER_CORES
            },
        },
    }


# -- report -------------------------------------------------------------------------------------
def _rows(r: dict[str, Any]) -> list[tuple[str, ...]]:
    machine, runs, ratios = r["machine"], r["runs"], r["ratios"]
    pages = r["html_pages"]
    rows: list[tuple[str, ...]] = [
        (
            "0",
            "machine check: 2 concurrent CPU-bound processes vs 1",
            "",
            "",
            "",
            f"x{num(machine['parallel_speedup_start'], 2)} / x{num(machine['parallel_speedup_end'], 2)}",
            "",
            "at start / at end; ~x2 on an idle 2-core machine; bounds every 2-CPU figure",
        )
    ]
    labels = {
        "local1": ("1a", "`mine()` local executor, workers=1"),
        "local2": ("1b", "`mine()` local executor, workers=2"),
        "ray1": ("1c", "`mine()` Ray executor, fresh local Ray, num_cpus=1"),
        "ray2": ("1d", "`mine()` Ray executor, fresh local Ray, num_cpus=2"),
    }
    for name, (key, label) in labels.items():
        run = runs[name]
        note = f"{run['documents']:,} documents stored ({run['duplicates']:,} duplicates)"
        if run["executor"] == "ray":
            note += (
                f"; incl. start-up {num(run['startup_s'], 1)} s + shutdown {num(run['shutdown_s'], 1)} s; "
                f"mining phase {num(run['mine_wall_s'], 1)} s = **{num(run['mine_pages_per_s'])} pages/s**; "
                f"its CPU s: driver {num(run['driver_cpu_s'], 1)}, Ray's processes and workers "
                f"{num(run['ray_processes_cpu_s'], 1)}"
            )
        else:
            note += "; CPU = this process and its workers"
        rows.append(
            (
                key,
                label,
                f"{pages:,} pages",
                num(run["wall_s"], 1),
                num(run["cpu_s"], 1),
                f"**{num(run['pages_per_s'])}**",
                f"**{num(run['documents_per_s'])}**",
                note,
            )
        )
    for n, key in ((1, "2a"), (2, "2b")):
        run = runs[f"ray{n}"]
        rows.append(
            (
                key,
                f"Ray start-up, num_cpus={n}: `ray.init` + 1 trivial task round trip",
                "",
                num(run["startup_s"], 2),
                "",
                "",
                "",
                f"of it `ray.init` {num(run['init_s'], 2)} s; `ray.shutdown()` {num(run['shutdown_s'], 2)} s; "
                f"`import ray` {num(run['import_s'], 2)} s (not counted)",
            )
        )
    for key, label, name, note in (
        ("3a", "ratio ray(1) / local(1)", "ray1_over_local1", "Ray's overhead at 1 CPU"),
        ("3b", "ratio ray(2) / local(2)", "ray2_over_local2", "Ray's overhead at 2 CPUs"),
        ("3c", "ratio ray(2) / ray(1)", "ray2_over_ray1", "scaling; cannot pass row 0"),
        ("3d", "ratio local(2) / local(1)", "local2_over_local1", "for reference"),
    ):
        rows.append(
            (
                key,
                label,
                "",
                "",
                "",
                f"**{num(ratios[name], 2)}**",
                "",
                f"{note}; pages/s over pages/s, whole wall; mining phase only: {num(ratios[name + '_mining'], 2)}",
            )
        )
    per_cpu = ", ".join(
        f"{name} {num(runs[name]['documents_per_s'] / runs[name]['cpus'])}"
        for name in ("local1", "local2", "ray1", "ray2")
    )
    rows.append(
        (
            "3e",
            "throughput per CPU (mining phase for Ray)",
            "",
            "",
            "",
            f"{num(r['plan']['mining']['pages_per_core_s'], 2)} pages/s/CPU (ray2)",
            f"{num(runs['ray2']['mine_documents_per_s'] / 2, 2)} docs/s/CPU (ray2)",
            f"documents/s per CPU, whole wall: {per_cpu}; the 1-CPU runs also use the 2nd core a little "
            "(writer, Ray's processes)",
        )
    )
    plan = r["plan"]["mining"]
    rows.append(
        (
            "3f",
            "single writer (Ray driver: dedup + DuckDB) CPU per document, ray(2)",
            f"{runs['ray2']['documents']:,} docs",
            "",
            num(runs["ray2"]["driver_cpu_s"], 1),
            f"{num(plan['writer_pages_per_s'])}",
            f"{num(plan['writer_docs_per_s'])}",
            "ceiling of one driver if it had a core to itself (documents / driver CPU s), "
            f"= {num(plan['writer_pages_per_s'] / plan['pages_per_core_s'], 0)} worker CPUs",
        )
    )
    rows.append(
        (
            "4",
            "same database: kept doc ids and `dup_of`, each run vs local(1)",
            f"{r['equality']['kept']:,} kept",
            "",
            "",
            "**OK**" if r["equality"]["ok"] else "**DIFFERENT**",
            "",
            ", ".join(f"{name}: {'OK' if same else 'different'}" for name, same in r["equality"]["runs"].items()),
        )
    )
    scoring = r.get("scoring")
    if scoring:
        for key, name, label in (
            ("5a", "local", "lexicon scorer, local (in-process)"),
            ("5b", "pool_1", "lexicon scorer, `RayScorerPool` 1 actor"),
            ("5c", "pool_2", "lexicon scorer, `RayScorerPool` 2 actors"),
        ):
            part = scoring[name]
            stage, alone = part["stage"], part["score_batch"]
            start = f"; pool start {num(part['pool_start_s'], 2)} s" if "pool_start_s" in part else ""
            rows.append(
                (
                    key,
                    f"{label}, through `score_documents`",
                    f"{stage['texts_scored']:,} texts",
                    num(stage["wall_s"], 2),
                    "",
                    f"{num(stage['texts_per_s'], 0)} texts/s",
                    "",
                    f"{stage['prompts']:,} prompts of {stage['documents']:,} docs; `score_batch` alone (batches "
                    f"of 256): **{num(alone['texts_per_s'], 0)} texts/s**{start}",
                )
            )
    return rows


def _table(r: dict[str, Any]) -> str:
    header = (
        "| # | measurement | n | wall s | CPU s | pages/s | documents/s | notes |\n"
        "|---|---|---:|---:|---:|---:|---:|---|"
    )
    return "\n".join([header, *markdown_rows(_rows(r))])


def _plan_text(r: dict[str, Any]) -> str:
    plan = r["plan"]
    a, m, s = plan["assumptions"], plan["mining"], plan["scoring"]
    hours = m["hours_on"]
    gpu_label = "measured" if a["gpu_seq_s_measured"] else "**assumed, not measured**"
    ppd = "measured here" if a["prompts_per_doc_measured"] else "the cap `max_spans_per_doc`"
    keep = s["gpus_to_keep_pace"]
    small, large = (str(c) for c in CLUSTER_CORES)
    texts_how = (
        f"pages x {a['kept_docs_per_page']:.2f} kept docs/page (this corpus) x {a['prompts_per_doc']:.1f} "
        f"prompts/doc ({ppd}) x {a['texts_per_prompt']} texts"
    )
    cpu_how = f"{a['cpu_scorer_seq_s']:.1f} seq/s on {a['cpu_scorer_cores']} cores, T=128 ({a['cpu_scorer_source']})"
    rows = [
        (
            "HTML pages in a snapshot",
            f"{a['html_pages']:,.0f}",
            f"~{a['warc_files']:,} WARC files x ~1 GB compressed, ~{a['pages_per_warc']:,.0f} pages each "
            "(approximate public figures)",
        ),
        (
            "mining rate per CPU",
            f"{m['pages_per_core_s']:.2f} pages/s",
            "measured: Ray executor, 2 CPUs, mining phase / 2 (row 1d)",
        ),
        ("one WARC file on one CPU", f"{m['seconds_per_warc_per_core'] / 60:,.0f} min", "pages per WARC / rate"),
        ("mining, CPU-hours", f"{m['core_hours']:,.0f}", "pages / rate per CPU / 3600"),
        (
            f"mining on {small} / {large} CPUs",
            f"{hours[small]:,.0f} h / {hours[large]:,.0f} h",
            "CPU-hours / CPUs, if the writer keeps up (below)",
        ),
        (
            "one writer's floor",
            f"{m['writer_floor_hours']:,.0f} h",
            "pages / writer pages/s (row 3f) / 3600: one database's least time, whatever the CPUs",
        ),
        ("texts to score", f"{s['texts']:,.3g}", texts_how),
        ("classifier on CPU, CPU-hours", f"{s['cpu_core_hours']:,.3g}", cpu_how),
        (
            "classifier on GPU, GPU-hours",
            f"{s['gpu_hours']:,.0f}",
            f"texts / G / 3600, G = {a['gpu_seq_s']:,.0f} seq/s per GPU ({gpu_label})",
        ),
        ("GPUs to finish scoring in a week", f"{s['gpus_for_a_week']:,.0f}", "GPU-hours / 168"),
        (
            f"GPUs to keep pace with {small} / {large} mining CPUs",
            f"{keep[small]:.1f} / {keep[large]:.1f}",
            "CPUs x pages/s/CPU x docs/page x prompts/doc x 3 / G",
        ),
    ]
    lines = [
        "### Capacity plan: one Common Crawl snapshot",
        "",
        "| quantity | value | how |",
        "|---|---:|---|",
        *markdown_rows(rows),
        "",
        f"- The per-CPU rate comes from ~{r['html_pages']:,} documentation pages on a shared 2-core VM, the "
        "Ray driver (writer) sharing the 2 cores; real crawl pages differ (more boilerplate and non-text, "
        "shorter texts) and reading from S3 adds network time: treat it as +-2x.",
        f"- The single writer (dedup + DuckDB on the driver) takes ~{m['writer_docs_per_s']:,.0f} documents per "
        f"CPU-second (row 3f), i.e. ~{m['writer_pages_per_s']:,.0f} pages/s: about "
        f"{m['writer_pages_per_s'] / m['pages_per_core_s']:,.0f} worker CPUs saturate it, and its in-memory "
        "dedup index grows with every kept document. For a whole snapshot, mine into several databases "
        "(e.g. one per range of WARC files, each with its own writer) and deduplicate across them after.",
        "- GPUs: n_GPU = texts / (G x hours x 3600), or to keep pace with mining, n_GPU = CPUs x pages/s/CPU "
        "x docs/page x prompts/doc x 3 / G. G must be measured with `bench/bench_scoring.py --device cuda` "
        "on a GPU machine (no GPU here); pass its JSON with `--scoring-json` to use it.",
    ]
    return "\n".join(lines)


def _report(r: dict[str, Any]) -> str:
    machine, corpus = r["machine"], r["corpus"]
    version_list = ", ".join(f"{k} {v}" for k, v in machine["versions"].items())
    lines = [
        "## toxmine Ray executor benchmark",
        "",
        f"- command: `{r['command']}`",
        f"- machine: nproc {machine['nproc']} (usable {machine['usable_cpus']}), {machine['cpu']}, "
        f"{machine['platform']}; load average at start {machine['loadavg_start']}, at end {machine['loadavg_end']}",
        f"- versions: {version_list}",
        f"- corpus: {corpus['files']} files in `{corpus['warc_dir']}`, {corpus['bytes'] / 1e6:,.1f} MB, "
        f"{r['html_pages']:,} HTML 200 pages; each run a fresh subprocess and a fresh DuckDB file, no scoring",
        f"- benchmark took {r['total_seconds']:.0f} s",
        "",
        _table(r),
        "",
        _plan_text(r),
    ]
    return "\n".join(lines)


# -- main ----------------------------------------------------------------------------------------
def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warc_dir", nargs="?", default=DEFAULT_WARC_DIR, help="folder of WARC files")
    parser.add_argument("--json", default=DEFAULT_JSON, help="figures go here (default: %(default)s)")
    parser.add_argument("--tmp-dir", default=None, help="folder for the temporary DuckDB files and shards")
    parser.add_argument("--no-scoring", action="store_true", help="skip the scorer actor pool part")
    parser.add_argument(
        "--score-docs",
        type=int,
        default=1000,
        help="kept documents (a spread sample) whose prompts the scorer part scores; 0 = all (default: %(default)s)",
    )
    parser.add_argument(
        "--scoring-json",
        default=DEFAULT_SCORING_JSON,
        help="bench_scoring.py figures for the plan, if present (default: %(default)s)",
    )
    parser.add_argument(
        "--gpu-seq-s",
        type=float,
        default=GPU_SEQ_S_ASSUMED,
        help="assumed GPU classifier seq/s for the plan when --scoring-json has no CUDA run (default: %(default)s)",
    )
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == MINE_CHILD:
        return _mine_child(arguments[1:])
    if arguments and arguments[0] == SCORE_CHILD:
        return _score_child(arguments[1:])
    args = _parse(arguments)
    began = time.perf_counter()
    loadavg_start = loadavg()
    folder = args.warc_dir
    files = warc_files(folder)

    capacity_start = parallel_capacity()
    log(f"2 processes vs 1: x{capacity_start:.2f}")
    runs: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="toxmine-bench-ray-", dir=args.tmp_dir) as work:
        for executor, n in RUNS:
            log(f"{executor}({n}) on {len(files)} files, fresh subprocess")
            runs[f"{executor}{n}"] = run = _mine_run(files, executor, n, work)
            log(f"{executor}({n}): {run['wall_s']:.1f} s, {run['documents']:,} documents")
        reference_kept, reference_links = _doc_links(runs["local1"]["db"])
        same = {}
        for name in ("local2", "ray1", "ray2"):
            kept, links = _doc_links(runs[name]["db"])
            same[name] = kept == reference_kept and links == reference_links
        equality = {"kept": len(reference_kept), "documents": len(reference_links), "runs": same}
        equality["ok"] = all(same.values())
        print(f"kept doc ids and dup_of, ray(2) vs local(1): {'OK' if same['ray2'] else 'DIFFERENT'}")
        scoring = None
        if not args.no_scoring:
            log("lexicon scorer: local and RayScorerPool of 1 and 2 actors, fresh subprocess")
            script = os.path.abspath(__file__)
            command = [sys.executable, script, SCORE_CHILD, runs["local1"]["db"], work, str(args.score_docs)]
            scoring = _run_child(command)
    capacity_end = parallel_capacity()
    log(f"2 processes vs 1: x{capacity_end:.2f}")
    html_pages = _html_pages(files)
    for run in runs.values():
        run.pop("db")
        run["pages_per_s"] = rate(html_pages, run["wall_s"])
        run["documents_per_s"] = rate(run["documents"], run["wall_s"])
        run["mine_pages_per_s"] = rate(html_pages, run["mine_wall_s"])
        run["mine_documents_per_s"] = rate(run["documents"], run["mine_wall_s"])
    ratios: dict[str, float] = {}
    for a, b in (("ray1", "local1"), ("ray2", "local2"), ("ray2", "ray1"), ("local2", "local1")):
        ratios[f"{a}_over_{b}"] = ratio(runs[a]["pages_per_s"], runs[b]["pages_per_s"])
        ratios[f"{a}_over_{b}_mining"] = ratio(runs[a]["mine_pages_per_s"], runs[b]["mine_pages_per_s"])
    results: dict[str, Any] = {
        "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
        "machine": machine_facts(PACKAGES, loadavg_start, capacity_start, capacity_end),
        "corpus": {"warc_dir": folder, "files": len(files), "bytes": sum(os.path.getsize(p) for p in files)},
        "html_pages": html_pages,
        "runs": runs,
        "ratios": ratios,
        "equality": equality,
        "scoring": scoring,
    }
    results["plan"] = _plan(results, args)
    results["total_seconds"] = time.perf_counter() - began
    print(_report(results))
    write_json(args.json, results)
    assert equality["ok"], f"databases differ from local(1): {same}"
    return 0


if __name__ == "__main__":
    sys.exit(main())
