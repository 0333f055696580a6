"""Per-document CPU cost of `mine()` after a document is built (a benchmark, not a test).

Everything `toxmine mine` does besides reading, extraction, LID and MinHash: the spill file,
the unit's key file, the near-dedup stages, finalizing each unit, committing it into DuckDB, and
the run's fixed costs (opening the database, migrations, settings, layout). The documents are
made once from the WARC files given (default: `bench/.cache/warc/part-0[0-3].warc.gz`) with
`process_input` (`--extractor`, default `fast`) and kept in memory; each timed run is a real
`mine()` into a fresh database whose `process_input` only replays them into the spill file, in
batches of `batch_size` as the pipeline writes them.

    taskset -c 0 .venv/bin/python bench/bench_writer.py
    taskset -c 0 .venv/bin/python bench/bench_writer.py bench/.cache/warc/*.warc.gz --repeat 7

Prints one Markdown table: CPU microseconds per stored document (`time.process_time`, which
counts DuckDB's threads; median and best of `--repeat`), for the tables and the Parquet layout;
`spill write` is the share of the replay spent in `SpillWriter.write`, `empty run` is `mine()`
of no input into a fresh database (the fixed cost).
"""

from __future__ import annotations

import argparse
import gc
import glob
import os
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from typing import Any

from benchkit import cpu_model, log, markdown_rows, versions

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warcs", nargs="*", help="WARC files (default: bench/.cache/warc/part-0[0-3].warc.gz)")
    parser.add_argument("--repeat", type=int, default=5, help="runs per row (default 5)")
    parser.add_argument("--extractor", default="fast", help="extractor that makes the documents (default fast)")
    args = parser.parse_args()

    import importlib

    from toxmine.miner import units
    from toxmine.miner.extract_sandbox import close_process_sandbox
    from toxmine.miner.langid import FastTextLid

    _mine_module = importlib.import_module("toxmine.miner.mine")
    from toxmine.miner.process import InputResult, ProcessOptions, process_input
    from toxmine.miner.records import Document
    from toxmine.miner.sources import InputSource, LocalFile
    from toxmine.miner.spill import SpillWriter, read_spill

    paths = args.warcs or sorted(glob.glob(os.path.join(_ROOT, "bench", ".cache", "warc", "part-0[0-3].warc.gz")))
    base = ProcessOptions()
    options = replace(base, extract=replace(base.extract, extractor=args.extractor))
    lid = FastTextLid(options.lid.model_path)
    made: dict[str, tuple[InputResult, list[Document]]] = {}
    with tempfile.TemporaryDirectory() as folder:
        for number, path in enumerate(paths):
            spill_path = os.path.join(folder, f"{number}.arrow")
            result = process_input(LocalFile(path), options, lid, spill_path)
            rows = [row for batch in read_spill(spill_path) for row in batch.to_pylist()]
            docs = []
            for row in rows:
                row.pop("n_chars")
                stamp = row["fetch_time"]
                row["fetch_time"] = None if stamp is None else stamp.isoformat() + "Z"
                docs.append(Document(**row))
            made[LocalFile(path).name] = (result, docs)
    close_process_sandbox()
    n_docs = sum(len(docs) for _, docs in made.values())
    log(f"{len(paths)} inputs, {n_docs} documents")

    spill_seconds = [0.0]

    def replay(source: InputSource, options: ProcessOptions, lid: Any, spill_path: str, **_: Any) -> InputResult:
        result, docs = made[source.name]
        started = time.process_time()
        with SpillWriter(spill_path) as spill:
            for first in range(0, len(docs), options.batch_size):
                spill.write(docs[first : first + options.batch_size])
        spill_seconds[0] += time.process_time() - started
        return InputResult(replace(result.outcome), [spill_path], len(docs), list(result.problems))

    units.process_input = replay  # type: ignore[assignment]
    inputs = [LocalFile(path) for path in paths]

    def timed(layout: str, sources: list[LocalFile]) -> tuple[float, float]:
        with tempfile.TemporaryDirectory() as folder:
            gc.collect()
            spill_seconds[0] = 0.0
            started = time.process_time()
            report = _mine_module.mine(sources, os.path.join(folder, "bench.duckdb"), options, layout=layout)
            seconds = time.process_time() - started
            assert report.documents == (n_docs if sources else 0), report
            return seconds, spill_seconds[0]

    rows: list[tuple[str, str, str, str]] = []
    for layout in ("tables", "parquet"):
        timed(layout, inputs)  # warm-up: imports, the LID model's first load
        runs = [timed(layout, inputs) for _ in range(args.repeat)]
        totals = [total for total, _ in runs]
        spills = [spill for _, spill in runs]
        empty = [timed(layout, [])[0] for _ in range(args.repeat)]
        for name, values, per in (
            (f"mine() after the document, --layout {layout}", totals, n_docs),
            (f"  of which spill write, --layout {layout}", spills, n_docs),
            (f"empty run (fixed cost), --layout {layout}", empty, 1),
        ):
            unit = "µs/doc" if per > 1 else "ms/run"
            scale = 1e6 / per if per > 1 else 1e3
            rows.append((name, f"{statistics.median(values) * scale:,.1f}", f"{min(values) * scale:,.1f}", unit))
            log(f"{name}: {rows[-1][1]} {unit}")

    packages = ", ".join(f"{k} {v}" for k, v in versions(["duckdb", "pyarrow"]).items())
    print(f"`{' '.join(['python', *sys.argv])}`: {len(paths)} inputs, {n_docs} documents; CPU time, "
          f"{args.repeat} runs; {cpu_model()}; {packages}\n")  # fmt: skip
    print("| what | median | best | unit |")
    print("|---|---:|---:|---|")
    for line in markdown_rows(rows):
        print(line)


if __name__ == "__main__":
    main()
