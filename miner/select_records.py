"""`toxmine select`: the record pointers of the wanted languages, from Common Crawl's columnar index.

Each index file is one unit, run by an executor (this process, a process pool, or Ray): it writes the rows
it selects (`cc_index`) to a part Parquet file, then a marker with its counts, in a work folder beside the
output (or under `--work-dir`), both under temporary names renamed when complete. A rerun with the same
selection reuses the finished parts, so only failed or unfinished files are read again. When every unit is
done the parts are merged into the output, sorted by (warc_filename, warc_record_offset), written under a
temporary name and renamed, and the work folder is removed.

`limit_records` keeps at most N records per language, a deterministic uniform sample: the N whose URL has
the lowest 64-bit blake2b hash (ties broken by URL, WARC file and offset). The index is sorted by SURT, so
its first N rows would come from a few domains. Each unit keeps its own N lowest per language, the merge
the N lowest of all: the same records whatever the split into files, shards or workers.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from tqdm import tqdm

from .cc_index import SELECTED_SCHEMA, IndexReader, RecordFilter
from .errors import ConfigError, ToxmineError
from .executors import Executor, RayOptions, TaskFailed, executor_for
from .http import HttpOptions, redact_url
from .index_inputs import IndexFile, IndexSelection, resolve_index_files
from .targeting import byte_size, counted
from .task_files import quoted, task_connection, whole_file

__all__ = [
    "METADATA_KEY",
    "OUTPUT_SCHEMA",
    "LangSummary",
    "SelectOptions",
    "SelectReport",
    "SelectUnit",
    "UnitCounts",
    "format_summary",
    "lowest_per_lang",
    "run_unit",
    "sample_keys",
    "select_records",
]

log = logging.getLogger(__name__)

OUTPUT_SCHEMA = SELECTED_SCHEMA.append(pa.field("crawl", pa.string()))
METADATA_KEY = b"toxmine.select"
_SAMPLE_KEY = "sample_key"
_SAMPLE_ORDER = [
    ("lang", "ascending"),
    (_SAMPLE_KEY, "ascending"),
    ("url", "ascending"),
    ("warc_filename", "ascending"),
    ("warc_record_offset", "ascending"),
]


@dataclass(frozen=True)
class SelectOptions:
    """What is selected, how many per language, and how index files are fetched."""

    record_filter: RecordFilter
    limit_records: int | None = None
    http: HttpOptions = field(default_factory=HttpOptions)
    batch_size: int = 65_536
    merge_memory: str = "1GB"  # the final merge sorts within this, spilling to disk beyond it

    def __post_init__(self) -> None:
        if self.limit_records is not None and self.limit_records < 1:
            raise ConfigError(f"--limit-records must be at least 1, got {self.limit_records}")

    def tag(self) -> str:
        """What decides a unit's rows: parts made with another tag are never reused."""
        what = {
            "langs": sorted(self.record_filter.langs),
            "primary_only": self.record_filter.primary_only,
            "mime": sorted(self.record_filter.mimes),
            "limit": self.limit_records,
        }
        return _digest(json.dumps(what, sort_keys=True), 6)

    def part_schema(self) -> pa.Schema:
        return OUTPUT_SCHEMA if self.limit_records is None else OUTPUT_SCHEMA.append(pa.field(_SAMPLE_KEY, pa.uint64()))


@dataclass(frozen=True)
class SelectUnit:
    """One index file to read into the part file `part` (its marker beside it)."""

    index: IndexFile
    part: str
    options: SelectOptions
    spill_dir: str

    @property
    def marker(self) -> str:
        return f"{self.part}.done.json"


@dataclass
class UnitCounts:
    """What one unit read and selected (its marker's content)."""

    index_file: str
    crawl: str | None
    rows_read: int
    selected: dict[str, int]
    bytes_read: int
    bytes_total: int
    row_groups_skipped: int = 0


@dataclass(frozen=True)
class UnitOutcome:
    counts: UnitCounts | None
    error: str | None = None


@dataclass(frozen=True)
class LangSummary:
    """Per language: records selected, distinct WARC files they are in, and their bytes."""

    lang: str
    records: int
    warc_files: int
    bytes: int


@dataclass
class SelectReport:
    """What a run did. `output` is None when a unit failed (nothing was written)."""

    output: str | None
    index_files: int
    reused: int
    failed: list[tuple[str, str]]
    languages: list[LangSummary]
    records: int
    rows_read: int
    index_bytes_read: int
    index_bytes_total: int
    elapsed_s: float
    warc_files: int = 0  # distinct WARC files the records are in

    @property
    def ok(self) -> bool:
        return not self.failed


def _digest(text: str, size: int = 8) -> str:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=size).hexdigest()


def sample_keys(urls: pa.Array | pa.ChunkedArray) -> pa.Array:
    """The 64-bit blake2b hash of each URL (big-endian; a null URL as ""), `--limit-records`' sample order."""
    keys = [
        int.from_bytes(hashlib.blake2b((url or "").encode("utf-8", "surrogatepass"), digest_size=8).digest(), "big")
        for url in urls.to_pylist()
    ]
    return pa.array(keys, pa.uint64())


def lowest_per_lang(table: pa.Table, limit: int) -> pa.Table:
    """At most `limit` rows per `lang`: those of the lowest sample keys (ties by url, WARC file, offset)."""
    ordered = table.sort_by(_SAMPLE_ORDER)
    if ordered.num_rows == 0:
        return ordered
    langs = ordered["lang"].to_numpy(zero_copy_only=False)
    positions = np.arange(len(langs))
    starts = np.r_[True, langs[1:] != langs[:-1]]
    rank = positions - np.maximum.accumulate(np.where(starts, positions, 0))
    return ordered.filter(pa.array(rank < limit))


def _count_by_lang(table: pa.Table) -> dict[str, int]:
    if table.num_rows == 0:
        return {}
    counts = pc.value_counts(table["lang"].combine_chunks()).to_pylist()
    return {str(item["values"]): int(item["counts"]) for item in counts}


def _with_crawl(table: pa.Table, crawl: str | None, schema: pa.Schema) -> pa.Table:
    table = table.append_column("crawl", pa.array([crawl] * table.num_rows, pa.string()))
    if _SAMPLE_KEY in schema.names:
        table = table.append_column(_SAMPLE_KEY, sample_keys(table["url"]))
    return table.select(schema.names).cast(schema)


def _write_atomically(path: str, write: Callable[[str], None]) -> None:
    with whole_file(path) as work:
        write(work)


def run_unit(unit: SelectUnit) -> UnitOutcome:
    """Read one index file into its part file and marker. Bad data (an unreadable file, a missing
    column, an HTTP failure) is an outcome with the error naming the file; a fault such as a full
    disk raises (the executor reports it)."""
    try:
        return UnitOutcome(_select_unit(unit))
    except ToxmineError as exc:
        return UnitOutcome(None, str(exc))


def _select_unit(unit: SelectUnit) -> UnitCounts:
    options = unit.options
    schema = options.part_schema()
    crawl = unit.index.crawl
    with IndexReader(unit.index.location, options.http, unit.spill_dir) as reader:
        batches = reader.selected(options.record_filter, options.batch_size)
        if options.limit_records is None:
            counts: dict[str, int] = {}

            def write(path: str) -> None:
                with pq.ParquetWriter(path, schema) as writer:
                    for table in batches:
                        for lang, n in _count_by_lang(table).items():
                            counts[lang] = counts.get(lang, 0) + n
                        writer.write_table(_with_crawl(table, crawl, schema))

            _write_atomically(unit.part, write)
        else:
            kept = schema.empty_table()
            for table in batches:
                kept = lowest_per_lang(
                    pa.concat_tables([kept, _with_crawl(table, crawl, schema)]), options.limit_records
                )
            counts = _count_by_lang(kept)
            _write_atomically(unit.part, lambda path: pq.write_table(kept, path))
        result = UnitCounts(
            unit.index.name,
            crawl,
            reader.tally.rows_read,
            dict(sorted(counts.items())),
            reader.bytes_read,
            reader.tally.bytes_total,
            reader.tally.row_groups_skipped,
        )
    text = json.dumps(asdict(result), sort_keys=True)
    _write_atomically(unit.marker, lambda path: _write_text(path, text))
    return result


def _write_text(path: str, text: str) -> None:
    with open(path, "w", encoding="utf-8") as handle:
        handle.write(text)


def _finished(unit: SelectUnit) -> UnitCounts | None:
    """The counts of a unit an earlier run finished (its part and marker both there), else None."""
    try:
        with open(unit.marker, encoding="utf-8") as handle:
            counts = UnitCounts(**json.load(handle))
    except (OSError, ValueError, TypeError):
        return None
    return counts if os.path.exists(unit.part) else None


def work_folder_for(output: str, work_dir: str | None) -> str:
    """Where a run keeps its parts: beside the output, or a folder of its own inside `work_dir`."""
    name = os.path.basename(output)
    if work_dir is None:
        return os.path.join(os.path.dirname(os.path.abspath(output)), f".{name}.work")
    return os.path.join(work_dir, f"toxmine-select-{name}-{_digest(os.path.abspath(output), 4)}")


def _check_output(output: str) -> None:
    folder = os.path.dirname(os.path.abspath(output))
    if not os.path.isdir(folder):
        raise ConfigError(f"--output-path {output}: no such folder {folder}")
    if os.path.isdir(output):
        raise ConfigError(f"--output-path {output}: is a folder; name the Parquet file to write")
    if not output.lower().endswith(".parquet"):
        raise ConfigError(f"--output-path {output}: select writes Parquet; name a .parquet file")


def select_records(
    inputs: Sequence[str],
    output: str,
    options: SelectOptions,
    selection: IndexSelection | None = None,
    *,
    executor: str | Executor = "local",
    workers: int = 1,
    ray: RayOptions | None = None,
    work_dir: str | None = None,
    version: str = "",
    show_progress: bool = False,
) -> SelectReport:
    """Select the records of `inputs` into the Parquet file `output` (see the module)."""
    started = time.monotonic()
    _check_output(output)
    selection = selection or IndexSelection()
    files = resolve_index_files(list(inputs), selection)
    folder = os.path.join(work_folder_for(output, work_dir), f"select-{options.tag()}")
    try:
        os.makedirs(folder, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--work-dir {work_dir or folder}: cannot make the run's folder there ({exc})") from exc
    units = [
        SelectUnit(file, os.path.join(folder, f"part-{_digest(file.name)}.parquet"), options, folder) for file in files
    ]
    counts: dict[int, UnitCounts] = {}
    for index, unit in enumerate(units):
        if (finished := _finished(unit)) is not None:
            counts[index] = finished
    reused = len(counts)
    failed = _run_units(units, counts, executor_for(executor, workers, ray), show_progress)
    rows_read = sum(c.rows_read for c in counts.values())
    bytes_read, bytes_total = sum(c.bytes_read for c in counts.values()), sum(c.bytes_total for c in counts.values())
    if failed:
        return SelectReport(
            None, len(units), reused, failed, [], 0, rows_read, bytes_read, bytes_total, time.monotonic() - started
        )
    metadata = _metadata(inputs, files, options, selection, version)
    *languages, total = _merge([unit.part for unit in units], options.limit_records, output, metadata,
                               os.path.join(folder, "spill"), options.merge_memory)  # fmt: skip
    for stale in glob.glob(os.path.join(glob.escape(os.path.dirname(folder)), "select-*")):
        shutil.rmtree(stale, ignore_errors=True)  # this output's parts, and those of runs with other options
    with contextlib.suppress(OSError):  # other selections' parts may still be there
        os.rmdir(os.path.dirname(folder))
    return SelectReport(
        output,
        len(units),
        reused,
        [],
        languages,
        total.records,
        rows_read,
        bytes_read,
        bytes_total,
        time.monotonic() - started,
        total.warc_files,
    )


def _run_units(
    units: list[SelectUnit], counts: dict[int, UnitCounts], executor: Executor, show_progress: bool
) -> list[tuple[str, str]]:
    """Run the units not finished yet, filling `counts`; the (index file, error) of those that failed."""
    todo = [index for index in range(len(units)) if index not in counts]
    failed: list[tuple[str, str]] = []
    selected = sum(sum(c.selected.values()) for c in counts.values())
    bar = tqdm(
        total=len(units),
        initial=len(counts),
        unit="file",
        desc="index files",
        disable=not show_progress,
        dynamic_ncols=True,
    )
    try:
        for position, outcome in executor.map_unordered(run_unit, [units[index] for index in todo]):
            unit = units[todo[position]]
            error = outcome.message if isinstance(outcome, TaskFailed) else outcome.error
            if isinstance(outcome, UnitOutcome) and outcome.counts is not None:
                counts[todo[position]] = outcome.counts
                selected += sum(outcome.counts.selected.values())
            else:
                log.error("%s", error if error and unit.index.name in error else f"{unit.index.name}: {error}")
                failed.append((unit.index.name, error or "failed"))
            bar.set_postfix_str(f"{selected:,} records selected", refresh=False)
            bar.update(1)
    finally:
        bar.close()
        executor.close()
    return failed


def _merge(parts: list[str], limit: int | None, output: str, metadata: dict[bytes, bytes], spill: str,
           memory: str) -> list[LangSummary]:  # fmt: skip
    """Write the part files' rows to `output` sorted by (warc_filename, offset), at most `limit` per language
    (the lowest sample keys), with `metadata`: out of core (DuckDB sorts within `memory`, spilling to
    `spill`), so a selection larger than memory is merged too. Returns the per-language summaries."""
    columns = ", ".join(OUTPUT_SCHEMA.names)
    files = ", ".join(f"'{quoted(part)}'" for part in parts)
    rows = f"SELECT * FROM read_parquet([{files}])"
    if limit is not None:
        order = ", ".join(name for name, _ in _SAMPLE_ORDER[1:])
        rows += f" QUALIFY row_number() OVER (PARTITION BY lang ORDER BY {order}) <= {int(limit)}"
    kv = ", ".join(f"'{quoted(key.decode())}': '{quoted(value.decode())}'" for key, value in metadata.items())
    con = task_connection(memory, spill)
    try:
        with whole_file(output) as work:
            con.execute(f"COPY (SELECT {columns} FROM ({rows}) ORDER BY warc_filename, warc_record_offset) TO "
                        f"'{quoted(work)}' (FORMAT parquet, COMPRESSION zstd, KV_METADATA {{{kv}}})")  # fmt: skip
            found = con.execute(
                "SELECT lang, count(*), count(DISTINCT warc_filename), sum(warc_record_length) FROM read_parquet(?) "
                "GROUP BY ROLLUP (lang) ORDER BY lang NULLS LAST",
                [work],
            ).fetchall()
    finally:
        con.close()
    return [LangSummary("" if lang is None else str(lang), int(n), int(files_), int(size or 0))
            for lang, n, files_, size in found]  # fmt: skip


def _metadata(
    inputs: Sequence[str], files: list[IndexFile], options: SelectOptions, selection: IndexSelection, version: str
) -> dict[bytes, bytes]:
    crawls = sorted({file.crawl for file in files if file.crawl})
    shard = selection.shard
    what = {
        "toxmine_version": version,
        "input": [IndexFile(spec).name for spec in inputs],
        "crawl": crawls[0] if len(crawls) == 1 else None,
        "langs": sorted(options.record_filter.langs),
        "primary_only": options.record_filter.primary_only,
        "mime": sorted(options.record_filter.mimes),
        "limit_records": options.limit_records,
        "shard": f"{shard[0]}/{shard[1]}" if shard else None,
        "limit_files": selection.limit_files,
        "cc_base_url": redact_url(selection.cc_base_url),
        "index_files": [file.name for file in files],
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    return {METADATA_KEY: json.dumps(what).encode()}


def format_summary(report: SelectReport, langs: Sequence[str] = ()) -> str:
    """The per-language table (every asked language, those with no record too) and the index bytes read."""
    found = {summary.lang: summary for summary in report.languages}
    lines = [f"{'lang':<8}{'records':>12}{'WARC files':>12}{'record bytes':>14}"]
    for lang in sorted(set(langs) | set(found)):
        summary = found.get(lang, LangSummary(lang, 0, 0, 0))
        lines.append(f"{lang:<8}{summary.records:>12,}{summary.warc_files:>12,}{byte_size(summary.bytes):>14}")
    total_bytes = sum(summary.bytes for summary in report.languages)
    lines.append(f"{'total':<8}{report.records:>12,}{report.warc_files:>12,}{byte_size(total_bytes):>14}")
    share = report.index_bytes_read / report.index_bytes_total if report.index_bytes_total else 0.0
    earlier = f" ({report.reused} done by an earlier run)" if report.reused else ""
    lines.append(
        f"index: {counted(report.index_files, 'file')}{earlier}, {counted(report.rows_read, 'row')}; "
        f"read {byte_size(report.index_bytes_read)} of {byte_size(report.index_bytes_total)} ({share:.1%})"
    )
    return "\n".join(lines) + "\n"
