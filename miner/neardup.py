"""Global near-dedup as partitioned tasks: no process holds all signatures or all documents.

The decision is `DedupIndex`'s, bit for bit: documents in order (stored documents first, then
new ones by their ordinal), each a duplicate of the earliest *kept* document it collides with
(the exact text hash first, else any LSH band), else kept. Stored documents stay kept.

Stages (each a list of independent tasks, one per partition; see `executors`):
1. buckets: the bucket keys (`bands`) of new units and of stored kept documents, shuffled by
   `khash` range (`key_range`); a task groups its keys and keeps buckets with 2+ members, at least one new. It
   writes each member (incidence, partitioned by `ordinal % P`) and a star of edges per bucket.
2. components: the collision graph's connected components by alternating large-star and
   small-star rounds (Kiveris et al., "Connected Components in MapReduce and Beyond", SoCC
   2014; O(log^2 n) rounds), until every component is a star around its smallest ordinal.
3. labels: every member row gets its component's root, partitioned by `root % P`.
4. decide: greedy decisions never cross a component, so a task replays them per component, in
   ordinal order, and writes the duplicates (ordinal, dup_of) sorted by ordinal.

Every task writes its output under a temporary name, renames it, and writes a small marker last;
a retried or resumed task whose marker exists returns the stored result. DuckDB does the
grouping and sorting inside each task, spilling to disk beyond `memory_limit`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import duckdb
import pyarrow as pa

from .bands import EXACT_BAND
from .errors import StoreError
from .executors import Executor, TaskFailed
from .task_files import copy_to_parquet, quoted, read_marker, task_connection, write_marker, write_parquet

__all__ = ["DECISIONS_SCHEMA", "DedupJob", "NewUnit", "StoredKeys", "decide_duplicates", "key_range"]

log = logging.getLogger(__name__)

_MAX_ROUNDS = 200  # far above O(log^2 n) for any real corpus: a guard against a bug looping
_BUCKET_SPAN = 1 << 40  # bucket ids: partition * span + rank within the partition

DECISIONS_SCHEMA = pa.schema([("ordinal", pa.int64()), ("dup_of", pa.string())])


@dataclass(frozen=True)
class NewUnit:
    """A mined unit's key file (see `bands.keys_table`) and the ordinal of its first document."""

    keys_path: str
    start: int


@dataclass(frozen=True)
class StoredKeys:
    """A file of stored kept documents' bucket keys (a unit's band file, or a segment of merged
    ones, see `band_segments`), and the `khash` range its keys lie in."""

    path: str
    khash_low: int = 0
    khash_high: int = (1 << 32) - 1


@dataclass(frozen=True)
class DedupJob:
    """One run's decision: its new units, the stored kept documents' band files, and where to work."""

    workdir: str
    partitions: int
    new_units: tuple[NewUnit, ...]
    stored_bands: tuple[StoredKeys, ...] = ()
    memory_limit: str = "1GB"


@dataclass(frozen=True)
class _Task:
    job: DedupJob
    stage: str  # folder of the output
    partition: int
    source: str = ""  # folder of the input (component rounds)


ProgressFn = Callable[[str, int, int], None]
"""Called as (stage, tasks done, tasks in the stage)."""


def _connect(job: DedupJob) -> duckdb.DuckDBPyConnection:
    return task_connection(job.memory_limit, os.path.join(job.workdir, "tmp"))


def _output(task: _Task, name: str = "") -> str:
    return os.path.join(task.job.workdir, task.stage, f"{task.partition:05d}{name}.parquet")


def _marker(task: _Task) -> str:
    return os.path.join(task.job.workdir, task.stage, f"{task.partition:05d}.done.json")


def _once(task: _Task, work: Callable[[_Task], dict[str, int]]) -> dict[str, int]:
    """Run `work` unless its marker says it ran; the marker is written last."""
    marker = _marker(task)
    found = read_marker(marker)
    if found is not None:
        return {str(k): int(v) for k, v in found.items()}
    os.makedirs(os.path.dirname(marker), exist_ok=True)
    result = work(task)
    write_marker(marker, result)
    return result


# -- stage 1: buckets ---------------------------------------------------------------------------
def key_range(partition: int, partitions: int) -> tuple[int, int]:
    """The `khash` values (inclusive) of a partition: contiguous ranges, so that key files sorted
    by `khash` let each task read only its own row groups, whatever the number of partitions."""
    span = 1 << 32
    return -(-partition * span // partitions), -(-(partition + 1) * span // partitions) - 1


def _bucket_task(task: _Task) -> dict[str, int]:
    return _once(task, _buckets)


def _buckets(task: _Task) -> dict[str, int]:
    job, p, parts = task.job, task.partition, task.job.partitions
    low, high = key_range(p, parts)
    con = _connect(job)
    try:
        con.register("_units", pa.table({"path": [u.keys_path for u in job.new_units],
                                         "start": pa.array([u.start for u in job.new_units], pa.int64())}))  # fmt: skip
        selects = []
        params: list[Any] = []
        if job.new_units:
            selects.append(
                "SELECT k.band, k.key, u.start + k.row AS ordinal, k.doc_id, false AS stored "
                "FROM read_parquet(?, filename = true) k JOIN _units u ON k.filename = u.path "
                f"WHERE k.khash BETWEEN {low} AND {high}"
            )
            params.append([u.keys_path for u in job.new_units])
        stored = [keys.path for keys in job.stored_bands if keys.khash_low <= high and keys.khash_high >= low]
        if stored:  # only the files whose range meets the task's
            selects.append(
                "SELECT band, key, ordinal, doc_id, true AS stored FROM read_parquet(?) "
                f"WHERE khash BETWEEN {low} AND {high}"
            )
            params.append(stored)
        if not selects:
            selects.append("SELECT NULL::UTINYINT AS band, NULL::BLOB AS key, NULL::BIGINT AS ordinal, "
                           "NULL::VARCHAR AS doc_id, NULL::BOOLEAN AS stored WHERE false")  # fmt: skip
        con.execute("CREATE TEMP TABLE members AS " + " UNION ALL ".join(selects), params)
        con.execute(
            "CREATE TEMP TABLE buckets AS SELECT band, key, root, "
            f"{p}::BIGINT * {_BUCKET_SPAN} + row_number() OVER (ORDER BY root, band, key) AS bucket FROM ("
            "SELECT band, key, min(ordinal) AS root FROM members GROUP BY band, key "
            "HAVING count(*) >= 2 AND bool_or(NOT stored))"
        )
        copy_to_parquet(
            con,
            f"SELECT m.ordinal % {parts} AS part, b.bucket, m.ordinal, m.doc_id, m.band = {EXACT_BAND} AS exact, "
            "m.stored FROM members m JOIN buckets b USING (band, key) ORDER BY part, m.ordinal, b.bucket",
            _output(task, ".members"),
        )
        copy_to_parquet(
            con,
            f"WITH star AS (SELECT b.root, m.ordinal FROM members m JOIN buckets b USING (band, key) "
            f"WHERE m.ordinal <> b.root) SELECT u % {parts} AS part, u, v FROM ("
            "SELECT root AS u, ordinal AS v FROM star UNION SELECT ordinal, root FROM star) ORDER BY part, u, v",
            _output(task, ".edges"),
        )
        row = con.execute("SELECT count(*) FROM buckets").fetchone()
        return {"buckets": int(row[0]) if row else 0}
    finally:
        con.close()


# -- stage 2: connected components (large-star / small-star) ------------------------------------
def _edge_files(task: _Task) -> str:
    """The edge files of the stage `task.source` (the bucket stage writes members beside them)."""
    name = "*.edges.parquet" if task.source == "buckets" else "*.parquet"
    return quoted(os.path.join(task.job.workdir, task.source, name))


def _edges_of(task: _Task) -> str:
    """The task's share of the undirected edge set in `task.source` (both directions stored)."""
    return f"SELECT DISTINCT u, v FROM read_parquet('{_edge_files(task)}') WHERE part = {task.partition}"


def _symmetric(pairs: str, parts: int) -> str:
    """Both directions of the (a, b) pairs, a <> b, partitioned by their first node."""
    return (
        f"SELECT DISTINCT a % {parts} AS part, a AS u, b AS v FROM ("
        f"SELECT a, b FROM ({pairs}) UNION ALL SELECT b, a FROM ({pairs})) WHERE a <> b ORDER BY part, u, v"
    )


def _large_star_task(task: _Task) -> dict[str, int]:
    return _once(task, _large_star)


def _large_star(task: _Task) -> dict[str, int]:
    """Each node links its larger neighbours to its smallest neighbour (itself included); also
    counts the nodes of the input that are not yet in a star (0 everywhere: converged)."""
    con = _connect(task.job)
    try:
        con.execute(f"CREATE TEMP TABLE e AS {_edges_of(task)}")
        row = con.execute(
            "SELECT count(*) FROM (SELECT u, count(*) FILTER (WHERE v < u) AS lower, count(*) FILTER (WHERE v > u) "
            "AS higher FROM e GROUP BY u) WHERE lower >= 2 OR (lower = 1 AND higher >= 1)"
        ).fetchone()
        unsettled = int(row[0]) if row else 0
        pairs = (
            "SELECT e.v AS a, m.m AS b FROM e JOIN (SELECT u, least(u, min(v)) AS m FROM e GROUP BY u) m USING (u) "
            "WHERE e.v > e.u"
        )
        copy_to_parquet(con, _symmetric(pairs, task.job.partitions), _output(task))
        return {"unsettled": unsettled}
    finally:
        con.close()


def _small_star_task(task: _Task) -> dict[str, int]:
    return _once(task, _small_star)


def _small_star(task: _Task) -> dict[str, int]:
    """Each node links itself and its smaller neighbours to the smallest of them."""
    con = _connect(task.job)
    try:
        con.execute(f"CREATE TEMP TABLE e AS {_edges_of(task)}")
        pairs = (
            "SELECT n.v AS a, m.m AS b FROM (SELECT u, v FROM e WHERE v < u) n "
            "JOIN (SELECT u, min(v) AS m FROM e WHERE v < u GROUP BY u) m USING (u) "
            "UNION ALL SELECT u AS a, min(v) AS b FROM e WHERE v < u GROUP BY u"
        )
        copy_to_parquet(con, _symmetric(pairs, task.job.partitions), _output(task))
        return {}
    finally:
        con.close()


# -- stage 3: labels ------------------------------------------------------------------------------
def _label_task(task: _Task) -> dict[str, int]:
    return _once(task, _labels)


def _labels(task: _Task) -> dict[str, int]:
    job, q, parts = task.job, task.partition, task.job.partitions
    con = _connect(job)
    try:
        con.execute(
            "CREATE TEMP TABLE labels AS SELECT u AS ordinal, least(u, min(v)) AS root FROM "
            f"read_parquet('{_edge_files(task)}') "
            f"WHERE part = {q} GROUP BY u"
        )
        members = quoted(os.path.join(job.workdir, "buckets", "*.members.parquet"))
        copy_to_parquet(
            con,
            f"SELECT l.root % {parts} AS part, l.root, m.ordinal, m.bucket, m.doc_id, m.exact, m.stored "
            f"FROM read_parquet('{members}') m JOIN labels l USING (ordinal) WHERE m.part = {q} "
            "ORDER BY part, l.root, m.ordinal, m.bucket",
            _output(task),
        )
        return {}
    finally:
        con.close()


# -- stage 4: decide ------------------------------------------------------------------------------
def _decide_task(task: _Task) -> dict[str, int]:
    return _once(task, _decide)


def _member_rows(con: duckdb.DuckDBPyConnection, query: str) -> Iterator[tuple[int, int, int, str, bool, bool]]:
    reader = con.sql(query).to_arrow_reader(8192)
    for batch in reader:
        columns = [batch.column(i).to_pylist() for i in range(batch.num_columns)]
        yield from zip(*columns, strict=True)


def _decide(task: _Task) -> dict[str, int]:
    """Replay the greedy decision per component, in ordinal order."""
    job = task.job
    con = _connect(job)
    dups: list[tuple[int, str]] = []
    try:
        labelled = quoted(os.path.join(job.workdir, "labels", "*.parquet"))
        rows = _member_rows(
            con,
            f"SELECT root, ordinal, bucket, doc_id, exact, stored FROM read_parquet('{labelled}') "
            f"WHERE part = {task.partition} ORDER BY root, ordinal, bucket",
        )
        first_kept: dict[int, tuple[int, str]] = {}  # bucket -> earliest kept member (ordinal, doc_id)
        root = node = -1
        node_doc = ""
        node_stored = False
        node_buckets: list[tuple[int, bool]] = []

        def settle() -> None:
            if node < 0:
                return
            verdict = None if node_stored else _verdict(node_buckets, first_kept)
            if verdict is None:
                for bucket, _ in node_buckets:
                    first_kept.setdefault(bucket, (node, node_doc))
            else:
                dups.append((node, verdict))

        for row_root, ordinal, bucket, doc_id, exact, stored in rows:
            if ordinal != node:
                settle()
                if row_root != root:
                    first_kept.clear()
                    root = row_root
                node, node_doc, node_stored, node_buckets = ordinal, doc_id, stored, []
            node_buckets.append((bucket, exact))
        settle()
    finally:
        con.close()
    dups.sort()
    table = pa.table(
        {"ordinal": pa.array([d[0] for d in dups], pa.int64()), "dup_of": pa.array([d[1] for d in dups], pa.string())},
        schema=DECISIONS_SCHEMA,
    )
    write_parquet(table, _output(task), row_group=65536)
    return {"duplicates": len(dups)}


def _verdict(buckets: list[tuple[int, bool]], first_kept: dict[int, tuple[int, str]]) -> str | None:
    """The doc_id a new document duplicates (exact hash first, else the earliest kept band
    collision), or None: kept."""
    for bucket, exact in buckets:
        if exact and bucket in first_kept:
            return first_kept[bucket][1]
    found = [first_kept[bucket] for bucket, exact in buckets if not exact and bucket in first_kept]
    return min(found)[1] if found else None


# -- driver -----------------------------------------------------------------------------------------
def _run_stage(
    executor: Executor, fn: Callable[[_Task], dict[str, int]], tasks: list[_Task], progress: ProgressFn | None
) -> list[dict[str, int]]:
    results: list[dict[str, int]] = [{} for _ in tasks]
    for done, (index, result) in enumerate(executor.map_unordered(fn, tasks), start=1):
        if isinstance(result, TaskFailed):
            task = tasks[index]
            raise StoreError(
                f"near-dedup stage {task.stage}, partition {task.partition} failed: {result.message} "
                f"(work kept in {task.job.workdir}: run the same command again to resume; if it fails the same "
                "way, a file there is damaged: delete that folder and the stage is done again)"
            )
        results[index] = result
        if progress is not None:
            progress(tasks[0].stage, done, len(tasks))
    return results


def decide_duplicates(job: DedupJob, executor: Executor, progress: ProgressFn | None = None) -> list[str]:
    """Run the stages; return the decision files (duplicates only, each sorted by ordinal).

    The work folder keeps every finished task, so a run killed at any point resumes where it
    stopped when called again with the same job."""
    if job.partitions < 1:
        raise ValueError(f"partitions must be at least 1, got {job.partitions}")
    parts = range(job.partitions)

    def stage(name: str, fn: Callable[[_Task], dict[str, int]], source: str = "") -> list[dict[str, int]]:
        return _run_stage(executor, fn, [_Task(job, name, p, source) for p in parts], progress)

    buckets = stage("buckets", _bucket_task)
    log.info("near-dedup: %d buckets with 2+ members", sum(r.get("buckets", 0) for r in buckets))
    edges = "buckets"
    for round_no in range(_MAX_ROUNDS):
        large = f"cc{round_no:03d}-large"
        unsettled = sum(r["unsettled"] for r in stage(large, _large_star_task, edges))
        if unsettled == 0:
            break
        edges = f"cc{round_no:03d}-small"
        stage(edges, _small_star_task, large)
    else:
        raise StoreError(f"near-dedup components did not converge in {_MAX_ROUNDS} rounds ({job.workdir})")
    stage("labels", _label_task, edges)
    decided = stage("decide", _decide_task)
    log.info("near-dedup: %d duplicates", sum(r["duplicates"] for r in decided))
    return [_output(_Task(job, "decide", p)) for p in parts]
