"""Compaction of stored band files: the bucket keys of many committed units merged into one
generation of segment files, each holding one contiguous `khash` range, so that a near-dedup
task opens the few segments overlapping its range instead of one file per unit ever mined.

Merges are tiered, as in a log-structured merge tree: once `fanout` units have band files of
their own, their keys become a level-0 generation; once `fanout` generations share a level, they
become one generation a level up. A bucket task so reads fewer than `fanout` unit files plus
fewer than `fanout` segments per level, for log_fanout(units) levels, however many units are
stored. Keys move between files but never change, so every decision is the same (tested).

A merge runs as one task per `khash` range on the run's executor (each writes its segment whole,
then a marker, in a work folder named by the merge's inputs, so a killed merge resumes). The
driver then moves the segments into `<bands>/segments/` and records them, with the units or
generations they replace, in one transaction; files no row names any more are removed after.
A segment file that goes missing drops its whole generation: its units' own files are made
again from doc_minhash (`stored_bands`), as for any lost band file.

This module owns the tables `band_segments` and `band_compacted` (migration 013).
"""

from __future__ import annotations

import hashlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass

from .errors import StoreError
from .executors import Executor, TaskFailed
from .neardup import StoredKeys, key_range
from .store import Store
from .task_files import copy_to_parquet, parquet_intact, read_marker, task_connection, write_marker

__all__ = ["DEFAULT_FANOUT", "compact_band_files", "drop_broken_generations", "segment_keys", "uncompacted_units"]

log = logging.getLogger(__name__)

DEFAULT_FANOUT = 16
SEGMENTS = "segments"  # the folder of segment files, inside the bands folder


@dataclass(frozen=True)
class _MergeTask:
    """One `khash` range of a merge: the keys of `inputs` in it, sorted, into one segment."""

    inputs: tuple[StoredKeys, ...]
    partition: int
    partitions: int
    folder: str
    memory_limit: str

    @property
    def output(self) -> str:
        return os.path.join(self.folder, f"{self.partition:05d}.parquet")


def _merge_range(task: _MergeTask) -> dict[str, int]:
    """Write the task's segment (none when no key falls in its range); its number of keys."""
    marker = f"{task.output}.done.json"
    found = read_marker(marker)
    if found is not None:
        return {"keys": int(found["keys"])}
    low, high = key_range(task.partition, task.partitions)
    paths = [keys.path for keys in task.inputs if keys.khash_low <= high and keys.khash_high >= low]
    n_keys = 0
    if paths:
        con = task_connection(task.memory_limit, os.path.join(task.folder, "tmp"))
        try:
            query = (
                f"SELECT khash, band, key, ordinal, doc_id FROM read_parquet(?) WHERE khash BETWEEN {low} AND {high}"
            )
            row = con.execute(f"SELECT count(*) FROM ({query})", [paths]).fetchone()
            n_keys = int(row[0]) if row else 0
            if n_keys:
                copy_to_parquet(con, query + " ORDER BY khash, ordinal", task.output, [paths])
        finally:
            con.close()
    write_marker(marker, {"keys": n_keys})
    return {"keys": n_keys}


def uncompacted_units(store: Store) -> list[str]:
    """The band files (relative to the bands folder) of units whose keys are in no segment."""
    rows = store.con.execute(
        "SELECT path FROM band_files WHERE path NOT IN (SELECT unit FROM band_compacted) ORDER BY first_ordinal, path"
    ).fetchall()
    return [str(row[0]) for row in rows]


def segment_keys(store: Store, folder: str, generations: list[int] | None = None) -> list[StoredKeys]:
    """The recorded segments (of `generations`; default all) as near-dedup input: each one's path
    under `folder` and its `khash` range."""
    rows = store.con.execute(
        "SELECT path, khash_low, khash_high FROM band_segments WHERE ? IS NULL OR list_contains(?, generation) "
        "ORDER BY generation, khash_low",
        [generations, generations],
    ).fetchall()
    return [StoredKeys(os.path.join(folder, str(path)), int(low), int(high)) for path, low, high in rows]


def drop_broken_generations(store: Store, folder: str) -> None:
    """Forget every generation with a segment file missing or damaged (cut short): its units count
    as uncompacted again (their own files, made again from doc_minhash where gone, hold their keys)."""
    rows = store.con.execute("SELECT path, generation, n_keys FROM band_segments").fetchall()
    broken = sorted({int(gen) for path, gen, n in rows if not parquet_intact(os.path.join(folder, str(path)), n)})
    if not broken:
        return
    log.warning("%s: segment files missing or damaged in %s: generations %s dropped, units' band files made again",
                store.path, folder, ", ".join(map(str, broken)))  # fmt: skip
    with store.transaction() as con:
        con.execute("DELETE FROM band_compacted WHERE list_contains(?, generation)", [broken])
        con.execute("DELETE FROM band_segments WHERE list_contains(?, generation)", [broken])


def _next_merge(store: Store, folder: str, fanout: int) -> tuple[list[StoredKeys], list[str], list[int], int] | None:
    """(inputs, units, generations they replace, level) of the next merge due, or None."""
    units = uncompacted_units(store)
    if len(units) >= fanout:
        return [StoredKeys(os.path.join(folder, unit)) for unit in units], units, [], 0
    levels = store.con.execute(
        "SELECT level, list(DISTINCT generation ORDER BY generation) FROM band_segments GROUP BY level "
        "HAVING count(DISTINCT generation) >= ? ORDER BY level LIMIT 1",
        [fanout],
    ).fetchone()
    if levels is None:
        return None
    level, generations = int(levels[0]), [int(g) for g in levels[1]]
    return segment_keys(store, folder, generations), [], generations, level + 1


def compact_band_files(
    store: Store,
    folder: str,
    executor: Executor,
    work: str,
    partitions: int,
    memory_limit: str = "1GB",
    fanout: int = DEFAULT_FANOUT,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Run every merge due (see the module's docstring); the number of merges run."""
    if fanout < 2:
        raise StoreError(f"band-file compaction needs a fanout of at least 2, got {fanout}")
    os.makedirs(os.path.join(folder, SEGMENTS), exist_ok=True)
    merges = 0
    while (due := _next_merge(store, folder, fanout)) is not None:
        inputs, units, replaced, level = due
        row = store.con.execute("SELECT coalesce(max(generation), 0) + 1 FROM band_segments").fetchone()
        generation = int(row[0]) if row else 1
        digest = hashlib.blake2b(digest_size=10)
        for keys in inputs:
            digest.update(f"{os.path.basename(keys.path)}\n".encode())
        digest.update(f"{generation}:{partitions}".encode())
        merge_folder = os.path.join(work, f"compact-{digest.hexdigest()}")
        os.makedirs(merge_folder, exist_ok=True)
        tasks = [_MergeTask(tuple(inputs), p, partitions, merge_folder, memory_limit) for p in range(partitions)]
        for task in tasks:
            _forget_lost_output(task, folder, generation)
        counts = [0] * partitions
        for index, result in executor.map_unordered(_merge_range, tasks):
            if isinstance(result, TaskFailed):
                raise StoreError(f"band-file compaction, range {index} failed: {result.message} (work kept in "
                                 f"{merge_folder}: run again to resume)")  # fmt: skip
            counts[index] = result["keys"]
        segments = _publish(tasks, counts, folder, generation)
        with store.transaction() as con:
            con.executemany(
                "INSERT INTO band_segments VALUES (?, ?, ?, ?, ?, ?)",
                [(name, generation, level, *key_range(p, partitions), n) for p, name, n in segments],
            )
            if units:
                con.executemany("INSERT INTO band_compacted VALUES (?, ?)", [(unit, generation) for unit in units])
            if replaced:
                con.execute("UPDATE band_compacted SET generation = ? WHERE list_contains(?, generation)",
                            [generation, replaced])  # fmt: skip
                con.execute("DELETE FROM band_segments WHERE list_contains(?, generation)", [replaced])
        _remove_unnamed(store, folder)
        merges += 1
        if progress is not None:
            progress(f"compacted {len(inputs)} band files into generation {generation} (level {level})")
    return merges


def _segment_name(generation: int, partition: int) -> str:
    return os.path.join(SEGMENTS, f"g{generation}-{partition:05d}.parquet")


def _forget_lost_output(task: _MergeTask, folder: str, generation: int) -> None:
    """Drop the marker of a range whose segment is neither in the work folder nor whole where it
    was moved (a stopped run's merge met again after its generation was lost): it merges again."""
    marker = f"{task.output}.done.json"
    found = read_marker(marker)
    if found is None or not int(found["keys"]) or os.path.exists(task.output):
        return
    if not parquet_intact(os.path.join(folder, _segment_name(generation, task.partition)), int(found["keys"])):
        os.remove(marker)


def _publish(tasks: list[_MergeTask], counts: list[int], folder: str, generation: int) -> list[tuple[int, str, int]]:
    """Move the merge's segments into `<folder>/segments/`; (range, name, keys) of each."""
    published = []
    for task, n_keys in zip(tasks, counts, strict=True):
        if not n_keys:
            continue
        name = _segment_name(generation, task.partition)
        target = os.path.join(folder, name)
        if os.path.exists(task.output):
            os.replace(task.output, target)
        elif not os.path.exists(target):
            raise StoreError(f"{task.output}: a compaction segment is missing; delete {task.folder} and run again")
        published.append((task.partition, name, n_keys))
    return published


def _remove_unnamed(store: Store, folder: str) -> None:
    """Remove the band files of compacted units and segment files no generation names (replaced,
    or left by a merge killed before it was recorded)."""
    named = {str(row[0]) for row in store.con.execute("SELECT path FROM band_segments").fetchall()}
    segments = os.path.join(folder, SEGMENTS)
    for name in os.listdir(segments):
        if os.path.join(SEGMENTS, name) not in named and name.endswith(".parquet"):
            os.remove(os.path.join(segments, name))
    for (unit,) in store.con.execute("SELECT unit FROM band_compacted").fetchall():
        path = os.path.join(folder, str(unit))
        if os.path.exists(path):
            os.remove(path)
