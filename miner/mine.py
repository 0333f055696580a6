"""Run the mining pipeline over many inputs into one DuckDB file.

Workers (processes on this machine, or Ray tasks on a cluster: see `ray_mining`) read, extract,
identify and sign documents; this process is the single writer: it deduplicates against
everything already stored and commits each input atomically with its `sources` row, in input
order, so an interrupted run resumes to the same database whichever executor ran it.
"""

from __future__ import annotations

import logging
import multiprocessing
import os
import shutil
import signal
import threading
import time
from collections.abc import Iterator, Sequence
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from queue import Empty
from typing import Any

import pyarrow as pa

from .dedup import DedupIndex
from .errors import ConfigError
from .extract_sandbox import close_process_sandbox
from .langid import FastTextLid
from .process import InputResult, ProcessOptions, ProgressCallback, merge_parts, process_input
from .progress import MiningProgress
from .ray_mining import RayOptions, ray_results, ray_session
from .sources import InputSource, LocalFile
from .spill import read_spills_in_order
from .store import Store

__all__ = ["MineReport", "mine", "shard_dir_for"]

log = logging.getLogger(__name__)

_MAX_PARTS = 4  # most parts one local input is split into for parallel workers

_DOC_COLUMNS = [
    "doc_id", "url", "crawl", "warc_file", "warc_record_id", "warc_offset", "fetch_time",
    "lang", "script", "lang_score", "text", "n_chars", "text_hash",
]  # fmt: skip


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
    languages: list[tuple[str, int, int]] = field(default_factory=list)  # lang, kept, duplicates
    drops: list[tuple[str, int]] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.failed and not self.partial


# -- worker side ---------------------------------------------------------------------------
# One LID model per worker process, loaded by the pool initializer (fastText models cannot be
# pickled); the module-level slot is that process's own, not state shared across the program.
# Each worker extracts through its own sandbox process (`extract_sandbox.process_sandbox`,
# started on its first page); the sandbox exits when its worker does, even on pool.terminate().
_worker_slot: dict[str, Any] = {}


def _worker_init(options: ProcessOptions, queue: Any) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the main process's to handle, once
    _worker_slot["lid"] = FastTextLid(options.lid.model_path)
    _worker_slot["options"] = options
    _worker_slot["queue"] = queue


def _worker_progress(source: str, records: int, documents: int) -> None:
    _worker_slot["queue"].put((source, records, documents))


@dataclass(frozen=True)
class _Task:
    """Part `part` of `parts` of input number `index` (see `process_input`)."""

    index: int
    source: InputSource
    spill_path: str
    part: int = 0
    parts: int = 1


def _worker_run(task: _Task) -> tuple[_Task, InputResult]:
    options, lid = _worker_slot["options"], _worker_slot["lid"]
    result = process_input(task.source, options, lid, task.spill_path, _worker_progress, part=(task.part, task.parts))
    return task, result


def _size_hint(source: InputSource) -> int:
    """Bytes of a local input (0 when unknown), to start the longest inputs first."""
    try:
        return os.path.getsize(source.path) if isinstance(source, LocalFile) else 0
    except OSError:
        return 0


def _tasks(todo: Sequence[InputSource], spill_dir: str, workers: int) -> list[_Task]:
    """Work units in input order. With several workers a local file is split into interleaved
    record parts, so that one slow file cannot leave the other workers idle at the end; each
    part re-reads (decompresses) the whole file, about 1% of the work, hence at most 4 parts.
    Remote inputs are read once, whole."""
    parts = min(workers, _MAX_PARTS) if workers > 1 else 1
    tasks = []
    for index, source in enumerate(todo):
        n = parts if isinstance(source, LocalFile) else 1
        for part in range(n):
            tasks.append(_Task(index, source, os.path.join(spill_dir, f"{index:06d}.{part}.arrow"), part, n))
    return tasks


def _start_pool(workers: int, options: ProcessOptions, queue: Any, context: Any) -> Any:
    """A fork pool whose workers ignore SIGINT from birth: a terminal's Ctrl-C reaches every
    process of the group, and the main process alone should answer it (one message, no worker
    tracebacks). The main process ignores it only while forking (main thread only)."""
    if threading.current_thread() is not threading.main_thread():
        return context.Pool(workers, initializer=_worker_init, initargs=(options, queue))
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        return context.Pool(workers, initializer=_worker_init, initargs=(options, queue))
    finally:
        signal.signal(signal.SIGINT, previous)


def _in_input_order(pool: Any, tasks: list[_Task]) -> Iterator[InputResult]:
    """Run tasks largest input first (less idle time at the end) but yield each input's merged
    result in input order, so commits, and hence dedup decisions, do not depend on scheduling."""
    tasks = sorted(tasks, key=lambda t: -_size_hint(t.source))
    pending: dict[int, list[tuple[int, InputResult]]] = {}
    finished: dict[int, InputResult] = {}
    next_index = 0
    for task, result in pool.imap_unordered(_worker_run, tasks, chunksize=1):
        parts = pending.setdefault(task.index, [])
        parts.append((task.part, result))
        if len(parts) == task.parts:
            finished[task.index] = merge_parts([r for _, r in sorted(parts, key=lambda p: p[0])])
            del pending[task.index]
        while next_index in finished:
            yield finished.pop(next_index)
            next_index += 1


# -- writer side ---------------------------------------------------------------------------
class _Ingest:
    """Deduplicate a spill file's documents against the index and shape them for DuckDB."""

    def __init__(self, index: DedupIndex, next_seq: int) -> None:
        self.index = index
        self.next_seq = next_seq

    def batches(self, spill_paths: list[str]) -> Iterator[tuple[pa.Table, pa.Table]]:
        for batch in read_spills_in_order(spill_paths):
            doc_ids = batch.column("doc_id").to_pylist()
            hashes = batch.column("text_hash").to_pylist()
            signatures = batch.column("minhash").to_pylist()
            dup_of: list[str | None] = []
            kept_ids: list[str] = []
            kept_sigs: list[bytes] = []
            seqs: list[int] = []
            for doc_id, digest, signature in zip(doc_ids, hashes, signatures, strict=True):
                duplicate = self.index.check_and_add(doc_id, digest, signature)
                dup_of.append(duplicate)
                if duplicate is None:
                    kept_ids.append(doc_id)
                    kept_sigs.append(signature)
                    seqs.append(self.next_seq)
                    self.next_seq += 1
            docs = pa.Table.from_batches([batch.select(_DOC_COLUMNS)]).append_column(
                "dup_of", pa.array(dup_of, pa.string())
            )
            sigs = pa.table(
                {
                    "doc_id": pa.array(kept_ids, pa.string()),
                    "seq": pa.array(seqs, pa.int64()),
                    "signature": pa.array(kept_sigs, pa.binary()),
                }
            )
            yield docs, sigs


def _spill_dir(db_path: str) -> str:
    folder = os.path.dirname(os.path.abspath(db_path))
    return os.path.join(folder, f".{os.path.basename(db_path)}.spill")


def _load_index(store: Store, options: ProcessOptions) -> _Ingest:
    index = DedupIndex(options.dedup)
    index.load(store.kept_signatures())
    return _Ingest(index, store.next_seq())


def _summaries(store: Store, run_id: str) -> tuple[list[tuple[str, int, int]], list[tuple[str, int]]]:
    languages = store.con.execute(
        "SELECT d.lang, count(*) FILTER (WHERE d.dup_of IS NULL), "
        "count(*) FILTER (WHERE d.dup_of IS NOT NULL) "
        "FROM documents d JOIN sources s ON s.source = d.warc_file WHERE s.run_id = ? "
        "GROUP BY d.lang ORDER BY 2 DESC, 1",
        [run_id],
    ).fetchall()
    drops = store.con.execute(
        "SELECT reason, sum(n)::BIGINT FROM drops JOIN sources USING (source) WHERE run_id = ? "
        "GROUP BY reason ORDER BY 2 DESC, 1",
        [run_id],
    ).fetchall()
    return [(str(a), int(b), int(c)) for a, b, c in languages], [(str(a), int(b)) for a, b in drops]


def _config_dict(options: ProcessOptions, workers: int, lid_path: str, executor: str) -> dict[str, Any]:
    config = asdict(options)
    config["lid"]["model_path"] = lid_path
    langs = options.lid.langs
    config["lid"]["langs"] = sorted(langs) if langs is not None else None
    config["workers"] = workers
    config["executor"] = executor
    return config


def _ray_progress(results: Iterator[InputResult], bar: MiningProgress) -> Iterator[InputResult]:
    """Ray tasks report when they finish: advance the bar by each whole input."""
    for result in results:
        bar.advance(result.outcome.source, result.outcome.n_records, result.n_documents)
        yield result


def shard_dir_for(db_path: str) -> str:
    """Where the Ray executor keeps shards by default: beside the database (kept across runs,
    so that shards finished by an interrupted run are loaded, not made again)."""
    folder = os.path.dirname(os.path.abspath(db_path))
    return os.path.join(folder, f".{os.path.basename(db_path)}.shards")


def mine(
    inputs: Sequence[InputSource],
    db_path: str,
    options: ProcessOptions | None = None,
    workers: int = 1,
    show_progress: bool = False,
    version: str = "0",
    memory_limit: str | None = None,
    executor: str = "local",
    ray: RayOptions | None = None,
    shard_dir: str | None = None,
) -> MineReport:
    """Mine `inputs` into the DuckDB file at `db_path`; inputs already stored are skipped.

    `memory_limit` (e.g. "512MB") caps DuckDB's buffer pool in the writer; by default DuckDB
    may cache up to 80% of RAM of the growing database. `executor="ray"` runs the per-input work
    as Ray tasks (`ray` says where; a local instance with `workers` CPUs by default) writing
    Parquet shards to `shard_dir` (default: beside the database); the result is the same.
    """
    options = options or ProcessOptions()
    if workers < 1:
        raise ConfigError(f"--workers must be at least 1, got {workers}")
    if executor not in ("local", "ray"):
        raise ConfigError(f"unknown executor {executor!r}; known: local, ray")
    lid = FastTextLid(options.lid.model_path)
    lid.check_langs(options.lid.langs)
    started = time.monotonic()

    pool = None
    queue: Any = None
    ray_options = ray or RayOptions(num_cpus=workers)
    with ExitStack() as cleanup:
        if executor == "ray":
            cleanup.enter_context(ray_session(ray_options))
        elif workers > 1:  # worker processes are forked before DuckDB starts its threads
            context = multiprocessing.get_context("fork")
            queue = context.Queue()
            pool = _start_pool(workers, options, queue, context)
            cleanup.callback(pool.join)
            cleanup.callback(pool.terminate)
        elif options.extract.sandbox:  # this process extracts (in its sandbox): end that with the run
            cleanup.callback(close_process_sandbox)
        with Store(db_path, memory_limit=memory_limit) as store:
            store.ensure_settings(options.dedup.as_settings())
            finished = store.finished_sources()
            todo = [source for source in inputs if source.name not in finished]
            run_id = store.start_run(_config_dict(options, workers, lid.model_path, executor), version)
            report = MineReport(run_id=run_id, inputs=len(inputs), skipped=len(inputs) - len(todo))
            if report.skipped:
                log.info("skipping %d inputs already in %s", report.skipped, db_path)
            spill_dir = _spill_dir(db_path)
            shutil.rmtree(spill_dir, ignore_errors=True)  # leftovers of an interrupted run
            os.makedirs(spill_dir, exist_ok=True)
            ingest = _load_index(store, options)
            tasks = _tasks(todo, spill_dir, workers)
            with MiningProgress(len(todo), show_progress) as bar:
                results: Iterator[InputResult]
                drainer = None
                if executor == "ray":
                    shards = shard_dir or shard_dir_for(db_path)
                    results = _ray_progress(ray_results(todo, options, shards, ray_options), bar)
                elif pool is None:
                    callback: ProgressCallback = bar.advance
                    results = (
                        merge_parts([process_input(t.source, options, lid, t.spill_path, callback)]) for t in tasks
                    )
                else:
                    stop = threading.Event()
                    drainer = threading.Thread(target=_drain, args=(queue, bar, stop), daemon=True)
                    drainer.start()
                    results = _in_input_order(pool, tasks)
                try:
                    for result in results:
                        _commit(store, ingest, result, run_id, report)
                        bar.input_done()
                finally:
                    if drainer is not None:
                        stop.set()
                        drainer.join(timeout=5)
            store.finish_run(run_id)
            report.languages, report.drops = _summaries(store, run_id)
            shutil.rmtree(spill_dir, ignore_errors=True)
    report.elapsed_s = time.monotonic() - started
    return report


def _drain(queue: Any, bar: MiningProgress, stop: threading.Event) -> None:
    while not stop.is_set():
        try:
            source, records, documents = queue.get(timeout=0.2)
        except Empty:
            continue
        except (EOFError, OSError):
            return
        bar.advance(source, records, documents)


def _commit(store: Store, ingest: _Ingest, result: InputResult, run_id: str, report: MineReport) -> None:
    outcome = result.outcome
    report.processed += 1
    report.records += outcome.n_records
    if outcome.status == "failed":
        store.record_failure(outcome, run_id)
        report.failed.append((outcome.source, outcome.error or "failed"))
        log.error("%s", outcome.error, extra={"source": outcome.source, "status": outcome.status})
        return
    # A failed commit rolls the input back and ends the run (the in-memory index then holds
    # documents that were not stored; the next run rebuilds it from the database).
    try:
        n_docs, n_dups = store.commit_input(outcome, run_id, ingest.batches(result.spill_paths))
    finally:
        for path in result.spill_paths:
            if os.path.exists(path):
                os.remove(path)
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
