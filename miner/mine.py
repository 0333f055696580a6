"""Run the mining pipeline over many inputs into one DuckDB file.

The stages are the same on every executor (this process, a pool of forked processes, or Ray
tasks on a cluster; see `executors`): units (inputs, or record ranges of large files) are mined
into files; the partitioned near-dedup (`neardup`) decides every duplicate against all
stored documents and all new ones, with no process holding all signatures; each unit is
finalized (documents with `dup_of`, kept signatures and bucket keys); and each input is
committed atomically with its `sources` row, in input order. Every finished task's files are
kept in the work folder until its input is committed, so an interrupted run resumes to the
same database, redoing no finished unit or stage.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import logging
import os
import shutil
import time
from collections import Counter
from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from .band_segments import DEFAULT_FANOUT, compact_band_files
from .corpus_reads import TargetingSummary, run_drops, run_targeting
from .errors import ConfigError, StoreError
from .executors import EXECUTORS, Executor, RayOptions, SerialExecutor, TaskFailed, executor_for
from .extract_sandbox import close_process_sandbox
from .extractors.catalog import extractor_identity
from .langid import FastTextLid
from .layout import ensure_layout, publish_unit
from .native import warn_if_not_built
from .neardup import DedupJob, NewUnit, StoredKeys, decide_duplicates
from .process import InputResult, ProcessOptions, merge_parts
from .progress import MiningProgress
from .sources import InputSource, RecordGroup, crawl_key
from .store import InputOutcome, Store, utc_now
from .stored_bands import bands_folder_for, stored_band_files
from .targeting import KEPT, counted
from .task_files import release_task_connections
from .units import (
    DEFAULT_UNIT_MB,
    FinalizeTask,
    FinalUnit,
    MineTask,
    Unit,
    UnitResult,
    finalize_unit,
    mine_unit,
    plan_units,
    share_lid,
    unit_files,
)
from .warc_parsers import warc_parser

__all__ = ["MineReport", "mine", "work_dir_for"]

log = logging.getLogger(__name__)


@dataclass
class MineReport:
    """What a run did: counts, failures and the per-language / per-reason summaries."""

    run_id: str
    inputs: int
    skipped: int
    processed: int = 0
    records: int = 0
    documents: int = 0
    duplicates: int = 0
    elapsed_s: float = 0.0
    failed: list[tuple[str, str]] = field(default_factory=list)
    partial: list[tuple[str, str]] = field(default_factory=list)
    drops: list[tuple[str, int]] = field(default_factory=list)
    targeting: TargetingSummary | None = None  # what record groups cost and found
    _languages: dict[str, list[int]] = field(default_factory=dict)

    @property
    def languages(self) -> list[tuple[str, int, int]]:
        """(language, kept, duplicates) of the documents the run stored, most kept first."""
        rows = [(lang, kept, dups) for lang, (kept, dups) in self._languages.items()]
        return sorted(rows, key=lambda row: (-row[1], row[0]))

    def add_languages(self, counts: dict[str, list[int]]) -> None:
        for lang, (kept, dups) in counts.items():
            row = self._languages.setdefault(lang, [0, 0])
            row[0] += kept
            row[1] += dups

    @property
    def ok(self) -> bool:
        return not self.failed and not self.partial


def work_dir_for(db_path: str) -> str:
    """Where a run keeps its unit and stage files by default: beside the database (kept across
    runs, so that what an interrupted run finished is reused, not made again)."""
    folder = os.path.dirname(os.path.abspath(db_path))
    return os.path.join(folder, f".{os.path.basename(db_path)}.work")


def _own_folder(work_dir: str, db_path: str) -> str:
    """The run's folder inside a `--work-dir` the user names (which may hold the user's files, or
    another database's runs): only this folder is ever cleaned."""
    tag = hashlib.blake2b(os.path.abspath(db_path).encode(), digest_size=4).hexdigest()
    return os.path.join(work_dir, f"toxmine-{os.path.basename(db_path)}-{tag}")


@dataclass
class _Input:
    """One input of the run: its units' results as they finish, then its merged result."""

    source_name: str
    parts: int
    done: dict[int, UnitResult] = field(default_factory=dict)

    def merged(self) -> InputResult:
        return merge_parts([self.done[part].result for part in range(self.parts)])


def _failed_unit(unit: Unit, error: str) -> UnitResult:
    outcome = InputOutcome(source=unit.source.name, crawl=unit.source.crawl, status="failed", error=error)
    outcome.finished_at = utc_now()
    return UnitResult(unit, InputResult(outcome, [], 0), "")


def _mine_units(
    runner: Executor, units: list[Unit], options: ProcessOptions, folder: str, bar: MiningProgress
) -> list[_Input]:
    inputs: list[_Input] = []
    for unit in units:
        if unit.part == 0:
            inputs.append(_Input(unit.source.name, unit.parts))
    tasks = [MineTask(unit, options, folder) for unit in units]
    for index, outcome in runner.map_unordered(mine_unit, tasks):
        unit = units[index]
        if isinstance(outcome, TaskFailed):
            # logged once, as its input's error, when the input is settled
            log.debug("%s: task failed: %s", unit.source.name, outcome.message, extra={"source": unit.source.name})
            outcome = _failed_unit(unit, f"{unit.source.name}: task failed: {outcome.message}")
        state = inputs[unit.index]
        state.done[unit.part] = outcome
        log.debug("mined unit %d/%d of %s", unit.part + 1, unit.parts, unit.source.name)
        bar.advance(unit.source.name, outcome.result.outcome.n_records, outcome.result.n_documents)
        if len(state.done) == state.parts:
            bar.input_done()
    return inputs


def _job_dir(work: str, units: list[NewUnit], stored: list[StoredKeys], partitions: int) -> str:
    """A stage folder named by everything the decision depends on (a resumed run finds it)."""
    digest = hashlib.blake2b(digest_size=10)
    for unit in units:
        digest.update(f"{os.path.basename(unit.keys_path)}:{unit.start}\n".encode())
    for keys in stored:
        digest.update(f"{os.path.basename(keys.path)}\n".encode())
    digest.update(str(partitions).encode())
    return os.path.join(work, f"dedup-{digest.hexdigest()}")


def _config_dict(options: ProcessOptions, workers: int, lid_path: str, executor: str) -> dict[str, Any]:
    config = asdict(options)
    config["lid"]["model_path"] = lid_path
    langs = options.lid.langs
    config["lid"]["langs"] = sorted(langs) if langs is not None else None
    config["workers"] = workers
    config["executor"] = executor
    config["extract"]["identity"] = extractor_identity(options.extract.extractor).as_config()
    return config


def _numbered(store: Store, live: list[_Input]) -> list[tuple[UnitResult, int]]:
    """The live units in input order, each with the ordinal of its first document: new documents
    come after every ordinal an earlier run used."""
    start = store.next_ordinal()
    numbered = []
    for state in live:
        for part in range(state.parts):
            done = state.done[part]
            numbered.append((done, start))
            start += done.result.n_documents
    return numbered


def _decide(
    runner: Executor, store: Store, numbered: list[tuple[UnitResult, int]], options: ProcessOptions, work: str,
    bands: str, partitions: int, memory: str,
) -> list[str]:  # fmt: skip
    new_units = [NewUnit(done.keys_path, start) for done, start in numbered]
    stored = stored_band_files(store, bands, options.dedup)
    job = DedupJob(_job_dir(work, new_units, stored, partitions), partitions, tuple(new_units), tuple(stored), memory)

    def progress(stage: str, done: int, total: int) -> None:
        log.info("near-dedup %s: %d/%d partitions", stage, done, total)

    return decide_duplicates(job, runner, progress)


def _finalize(
    runner: Executor, numbered: list[tuple[UnitResult, int]], decisions: list[str], work: str, bands: str, memory: str,
    layout: str,
) -> dict[str, FinalUnit]:  # fmt: skip
    file_format = "parquet" if layout == "parquet" else "arrow"  # the Parquet layout keeps the files; else inserted
    tasks = [
        FinalizeTask(done.unit.key, done.result.spill_paths[0], done.keys_path, start, done.result.n_documents,
                     tuple(decisions), work, bands, memory, _index_langs(done.unit.source), file_format)
        for done, start in numbered
    ]  # fmt: skip
    return _run_finalize(runner, tasks) if tasks else {}


def _index_langs(source: InputSource) -> tuple[tuple[str, int, str], ...]:
    """A record group's records with their index language (for the kept documents per index language)."""
    if not isinstance(source, RecordGroup):
        return ()
    return tuple((warc, offset, lang) for (warc, offset), lang in source.index_languages().items())


def _run_finalize(runner: Executor, tasks: list[FinalizeTask]) -> dict[str, FinalUnit]:
    finals: dict[str, FinalUnit] = {}
    for index, result in runner.map_unordered(finalize_unit, tasks):
        if isinstance(result, TaskFailed):
            raise StoreError(f"finalizing unit {tasks[index].key} failed: {result.message} (run again to resume; if "
                             f"it fails the same way, delete {tasks[index].folder} and it is done again)")  # fmt: skip
        finals[result.key] = result
        log.debug("unit %s finalized", result.key)
    return finals


def mine(
    inputs: Sequence[InputSource],
    db_path: str,
    options: ProcessOptions | None = None,
    workers: int = 1,
    show_progress: bool = False,
    version: str = "0",
    memory_limit: str | None = None,
    executor: str | Executor = "local",
    ray: RayOptions | None = None,
    work_dir: str | None = None,
    partitions: int | None = None,
    unit_mb: float = DEFAULT_UNIT_MB,
    task_memory: str = "1GB",
    layout: str | None = None,
    batch_inputs: int | None = None,
    compact_fanout: int = DEFAULT_FANOUT,
) -> MineReport:
    """Mine `inputs` into the DuckDB file at `db_path`; inputs already stored are skipped.

    `memory_limit` (e.g. "512MB") caps DuckDB's buffer pool in this process; `task_memory` caps
    each near-dedup task's (they spill to disk beyond it). `executor="ray"` runs every task on Ray
    (`ray` says where; a local instance with `workers` CPUs by default). `work_dir` holds the
    run's unit and stage files (default: beside the database; on a cluster, a folder every node
    can read and write). `partitions` (default: the executor's CPUs) splits the near-dedup;
    local files over `unit_mb` are mined in several record ranges. The result is the same whatever
    the executor, workers, partitions or unit size. `layout` (`tables` or `parquet`, see `layout`)
    is chosen when the database is made; None keeps the stored one. `batch_inputs` runs every
    stage and commits for that many inputs at a time (in input order), so results show and work
    files are freed as the run goes; the result is the same (each batch dedups against the stored
    documents, as a later run would). Once `compact_fanout` units (or generations of merged
    ones) have key files of their own, their keys are merged (`band_segments`), so that later
    runs open a few files per partition, not one per unit ever mined.
    """
    options = options or ProcessOptions()
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    extractor_identity(options.extract.extractor)  # an unknown name or a broken plug-in fails here, before any work
    warc_parser(options.warc_reader)  # likewise an unknown or uninstalled WARC reader
    if isinstance(executor, str) and executor not in EXECUTORS:
        raise ConfigError(f"unknown executor {executor!r}; known: {', '.join(EXECUTORS)}")
    if partitions is not None and partitions < 1:
        raise ConfigError(f"--partitions must be at least 1, got {partitions}")
    if unit_mb <= 0:
        raise ConfigError(f"--unit-mb must be positive, got {unit_mb}")
    if batch_inputs is not None and batch_inputs < 1:
        raise ConfigError(f"--batch-inputs must be at least 1, got {batch_inputs}")
    if compact_fanout < 2:
        raise ConfigError(f"--compact-fanout must be at least 2, got {compact_fanout}")
    warn_if_not_built()
    lid = FastTextLid(options.lid.model_path)
    lid.check_langs(options.lid.langs)
    share_lid(lid)
    started = time.monotonic()
    work = work_dir_for(db_path) if work_dir is None else _own_folder(work_dir, db_path)
    try:  # the run's error, before any input is tried (each would fail, blamed for it)
        os.makedirs(work, exist_ok=True)
    except OSError as exc:
        raise ConfigError(f"--work-dir {work_dir or work}: cannot make the run's folder there ({exc})") from exc
    bands = bands_folder_for(db_path)

    with ExitStack() as cleanup:
        runner = executor_for(executor, workers, ray)
        if isinstance(executor, str):  # a runner passed in is its owner's to close
            cleanup.callback(runner.close)
        cleanup.callback(release_task_connections)  # the tasks run here kept one DuckDB open
        if isinstance(runner, SerialExecutor) and options.extract.sandbox:
            cleanup.callback(close_process_sandbox)  # this process extracts (in its sandbox)
        with Store(db_path, memory_limit=memory_limit) as store:
            # a database keeps its signature scheme (databases from before `dedup.hash`: the legacy one)
            options = replace(options, dedup=options.dedup.for_database(store.settings()))
            store.ensure_settings(options.dedup.as_settings())
            stored_layout = ensure_layout(store, layout)
            finished = store.finished_sources()
            todo = list({source.name: source for source in inputs if source.name not in finished}.values())  # once each
            run_id = store.start_run(_config_dict(options, workers, lid.model_path, runner.name), version)
            report = MineReport(run_id=run_id, inputs=len(inputs), skipped=len(inputs) - len(todo))
            if report.skipped:
                log.info("skipping %s already in %s", counted(report.skipped, "input"), db_path)
            run = _Run(runner, store, db_path, options, work, bands, partitions or runner.workers, task_memory,
                       stored_layout, run_id, report, compact_fanout)  # fmt: skip
            todo = _without_stored_records(run, todo)
            size = batch_inputs or len(todo) or 1
            stored_band_files(store, bands, options.dedup)  # a merge due now reads them: lost ones made again
            _compact(run)
            with MiningProgress(len(todo), show_progress) as bar:
                for first in range(0, len(todo), size):
                    states = _mine_batch(run, todo[first : first + size], unit_mb, bar)
                    _compact(run)
                    if size < len(todo):  # the batch is stored: its work files go now, not at the end
                        _clean_batch(work, states)
            store.finish_run(run_id)
            report.drops, report.targeting = run_drops(store, run_id), run_targeting(store, run_id)
            _clean(work)
    report.elapsed_s = time.monotonic() - started
    return report


@dataclass(frozen=True)
class _Run:
    """What every batch of a mining run shares."""

    runner: Executor
    store: Store
    db_path: str
    options: ProcessOptions
    work: str
    bands: str
    partitions: int
    task_memory: str
    layout: str
    run_id: str
    report: MineReport
    fanout: int


def _mine_batch(run: _Run, todo: list[InputSource], unit_mb: float, bar: MiningProgress) -> list[_Input]:
    """Every stage for the inputs `todo`, then each input committed in order; their units' results."""
    units = plan_units(todo, run.options, max(1, int(unit_mb * (1 << 20))))
    states = _mine_units(run.runner, units, run.options, os.path.join(run.work, "units"), bar)
    results = [state.merged() for state in states]
    live = [state for state, result in zip(states, results, strict=True) if result.outcome.status != "failed"]
    for result in results:
        if result.outcome.status == "failed":
            _record_failure(run.store, result, run.run_id, run.report)
    numbered = _numbered(run.store, live)
    decisions = (
        _decide(run.runner, run.store, numbered, run.options, run.work, run.bands, run.partitions, run.task_memory)
        if numbered
        else []
    )
    final = os.path.join(run.work, "final")
    finals = _finalize(run.runner, numbered, decisions, final, run.bands, run.task_memory, run.layout)
    for state, result in zip(states, results, strict=True):
        if result.outcome.status != "failed":
            stored = [finals[state.done[part].unit.key] for part in range(state.parts)]
            if run.layout == "parquet":
                for unit in stored:
                    publish_unit(run.db_path, unit)
            _commit(run.store, result, stored, run.run_id, run.report, insert_rows=run.layout == "tables")
    return states


def _without_stored_records(run: _Run, todo: list[InputSource]) -> list[InputSource]:
    """Record groups less their records already stored as documents (by another record list, or by
    mining the whole file) or named by an earlier group of this run, so that no record is stored twice;
    and a whole WARC file some of whose records record groups stored, or this run's groups name, fails
    (mining it whole would store those again)."""
    groups = [source for source in todo if isinstance(source, RecordGroup)]
    stored = run.store.stored_offsets([crawl_key(file.warc_name) for group in groups for file in group.files])
    by_groups: dict[str, list[str]] = {}
    if len(groups) < len(todo):
        for warc, sources in run.store.record_group_files().items():
            by_groups.setdefault(crawl_key(warc), []).extend(sources)
    for group in groups:
        for file in group.files:
            by_groups.setdefault(crawl_key(file.warc_name), [group.name])
    kept: list[InputSource] = []
    for source in todo:
        if isinstance(source, RecordGroup):
            left = source.without(stored)
            for file in left.files:  # claimed: a later group of this run leaves them out
                stored.setdefault(crawl_key(file.warc_name), set()).update(pointer.offset for pointer in file.pointers)
            stored_already = source.n_records - left.n_records
            if stored_already:
                log.info("%s: %d of its %d records are stored already (or in another group); fetching the other %d",
                         source.name, stored_already, source.n_records, left.n_records)  # fmt: skip
            if left.files:
                kept.append(left)
            else:
                run.report.skipped += 1
        elif crawl_key(source.name) in by_groups:
            example = by_groups[crawl_key(source.name)][0]
            outcome = InputOutcome(source.name, source.crawl, "failed", error=(
                f"{source.name}: record lists stored or are mining records of this WARC file (e.g. {example}); "
                "mining it whole would store them twice: mine it into another database"
            ))  # fmt: skip
            _record_failure(run.store, InputResult(outcome, [], 0), run.run_id, run.report)
        else:
            kept.append(source)
    return kept


def _compact(run: _Run) -> None:
    """Merge stored key files where due (also a merge an interrupted run left unfinished)."""
    compact_band_files(run.store, run.bands, run.runner, run.work, run.partitions, run.task_memory, run.fanout,
                       progress=log.info)  # fmt: skip


def _clean_batch(work: str, states: list[_Input]) -> None:
    """Remove a committed batch's unit files and stage folders (other batches' units stay)."""
    release_task_connections()  # this process's task database may spill into a stage folder
    for state in states:
        for done in state.done.values():
            for path in unit_files(os.path.join(work, "units"), done.unit.key):
                with contextlib.suppress(OSError):
                    os.remove(path)
    shutil.rmtree(os.path.join(work, "final"), ignore_errors=True)
    for pattern in ("dedup-*", "compact-*"):
        for path in glob.glob(os.path.join(glob.escape(work), pattern)):
            shutil.rmtree(path, ignore_errors=True)


def _clean(work: str) -> None:
    """Remove what this run made in the work folder (the folder too when nothing else is in it)."""
    release_task_connections()
    for name in ("units", "final", "tmp"):
        shutil.rmtree(os.path.join(work, name), ignore_errors=True)
    for pattern in ("dedup-*", "compact-*"):
        for path in glob.glob(os.path.join(glob.escape(work), pattern)):
            shutil.rmtree(path, ignore_errors=True)
    with contextlib.suppress(OSError):
        os.rmdir(work)


def _record_failure(store: Store, result: InputResult, run_id: str, report: MineReport) -> None:
    outcome = result.outcome
    report.processed += 1
    report.records += outcome.n_records
    store.record_failure(outcome, run_id)
    report.failed.append((outcome.source, outcome.error or "failed"))
    log.error("%s", outcome.error, extra={"source": outcome.source, "status": outcome.status})


def _commit(
    store: Store, result: InputResult, units: list[FinalUnit], run_id: str, report: MineReport, insert_rows: bool
) -> None:
    outcome = result.outcome
    report.processed += 1
    report.records += outcome.n_records
    kept = Counter[str]()  # a record group's kept documents by index language, known once dedup decided
    for unit in units:
        kept.update(unit.index_kept)
    for lang, counts in outcome.languages.items():
        counts[KEPT] = kept[lang]
    n_docs, n_dups = store.commit_units(outcome, run_id, units, insert_rows)
    for unit in units:
        report.add_languages(unit.languages)
    report.documents += n_docs
    report.duplicates += n_dups
    if outcome.status == "partial":
        report.partial.append((outcome.source, outcome.error or "partial"))
        log.error("%s", outcome.error, extra={"source": outcome.source, "status": outcome.status})
    log.info(
        "%s: %d records, %d documents (%d duplicates)",
        outcome.source,
        outcome.n_records,
        n_docs,
        n_dups,
        extra={
            "source": outcome.source,
            "status": outcome.status,
            "records": outcome.n_records,
            "documents": n_docs,
            "duplicates": n_dups,
        },
    )
