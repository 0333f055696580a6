"""Band-file compaction: stored units' bucket keys merged into generations of segments (tiered),
so later near-dedup tasks open a few files each. Decisions stay those of one uninterrupted run;
a lost segment, or a merge stopped midway, costs a rebuild or a resume, never a decision."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import duckdb
import pytest
from corpora import db_snapshot, warcs_of
from warc_builder import RealPage

from toxmine.miner.band_segments import SEGMENTS, _merge_range
from toxmine.miner.dedup import DedupOptions
from toxmine.miner.executors import SerialExecutor, TaskFailed
from toxmine.miner.mine import mine
from toxmine.miner.sources import LocalFile
from toxmine.miner.store import Store
from toxmine.miner.stored_bands import bands_folder_for, stored_band_files

pytestmark = pytest.mark.slow  # every test here waits on a module fixture that takes over 3 s

T = TypeVar("T")
R = TypeVar("R")


def _inputs(folder: Path, demo_pages: list[RealPage]) -> list[LocalFile]:
    """Seven inputs, each repeating pages of the one before (duplicates against stored documents)."""
    pages = demo_pages[::2]
    chunks = [pages[i::6] + pages[max(0, i - 1) :: 6][:3] for i in range(6)] + [pages[0:12]]
    return warcs_of(folder, chunks)


def _keys(paths: list[str]) -> list[tuple[object, ...]]:
    con = duckdb.connect()
    try:
        return con.execute(
            "SELECT khash, band, key, ordinal, doc_id FROM read_parquet(?) ORDER BY ALL", [paths]
        ).fetchall()
    finally:
        con.close()


def _rows(db: Path, query: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(query).fetchall()
    finally:
        con.close()


@pytest.fixture(scope="module")
def runs(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> tuple[list[LocalFile], Path, Path]:
    """(inputs, one run over the first six without compaction, a run per input compacting at fanout 2)."""
    folder = tmp_path_factory.mktemp("segments")
    inputs = _inputs(folder / "warc", demo_pages)
    whole, compacted = folder / "whole.duckdb", folder / "compacted.duckdb"
    assert mine(inputs[:6], str(whole), compact_fanout=1000).duplicates >= 10
    for source in inputs[:6]:
        assert mine([source], str(compacted), unit_mb=0.02, partitions=3, compact_fanout=2).ok
    return inputs, whole, compacted


def test_merged_keys_give_the_same_decisions_and_fewer_files(runs: tuple[list[LocalFile], Path, Path]) -> None:
    _, whole, compacted = runs
    assert db_snapshot(compacted) == db_snapshot(whole)
    units = _rows(compacted, "SELECT count(*) FROM band_files")[0][0]
    levels = dict(_rows(compacted, "SELECT level, count(DISTINCT generation) FROM band_segments GROUP BY level"))
    assert isinstance(units, int) and units >= 12 and max(levels) >= 1  # generations were merged a level up
    assert all(count < 2 for count in levels.values())  # no level holds a fanout's worth of generations
    bands = Path(bands_folder_for(str(compacted)))
    recorded = {str(row[0]) for row in _rows(compacted, "SELECT path FROM band_segments")}
    assert {f"{SEGMENTS}/{p.name}" for p in (bands / SEGMENTS).iterdir()} == recorded  # replaced ones removed
    compacted_units = {str(row[0]) for row in _rows(compacted, "SELECT unit FROM band_compacted")}
    assert compacted_units and not any((bands / unit).exists() for unit in compacted_units)
    with Store(str(compacted)) as store:
        read = stored_band_files(store, str(bands), DedupOptions())
    with Store(str(whole)) as store:
        unmerged = stored_band_files(store, bands_folder_for(str(whole)), DedupOptions())
    assert len(read) < units / 2  # what the next run's bucket tasks open
    keys = [_keys([k.path for k in files]) for files in (read, unmerged)]
    assert keys[0] == keys[1] and len(keys[0]) == 15 * len(db_snapshot(whole)["doc_minhash"])  # every key, once


def test_a_lost_segment_drops_its_generation_and_the_next_run_decides_the_same(
    runs: tuple[list[LocalFile], Path, Path], tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    inputs, _, compacted = runs
    db = tmp_path / "lost.duckdb"
    db.write_bytes(compacted.read_bytes())
    import shutil

    shutil.copytree(str(compacted) + ".data", str(db) + ".data")
    lost = _rows(db, "SELECT path FROM band_segments ORDER BY n_keys DESC LIMIT 1")[0][0]
    (Path(bands_folder_for(str(db))) / str(lost)).unlink()
    reference = tmp_path / "reference.duckdb"
    mine(inputs, str(reference), compact_fanout=1000)
    with caplog.at_level(logging.WARNING):
        report = mine(inputs, str(db), compact_fanout=1000)  # the seventh input repeats pages of the first
    assert report.processed == 1 and report.duplicates >= 5
    assert "segment files missing" in caplog.text and "band file missing or damaged, made again" in caplog.text
    assert db_snapshot(db) == db_snapshot(reference)


class _Stopped(Exception):
    pass


class _StopsInAMerge(SerialExecutor):
    """Serial, but the first merge stops after its first range (as a killed driver would)."""

    def __init__(self) -> None:
        super().__init__()
        self.stopped = False

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R | TaskFailed]]:
        for number, pair in enumerate(super().map_unordered(fn, items)):
            if fn is _merge_range and number == 1 and not self.stopped:
                self.stopped = True
                raise _Stopped
            yield pair


def test_a_merge_stopped_midway_resumes_on_the_next_run(
    runs: tuple[list[LocalFile], Path, Path], tmp_path: Path
) -> None:
    inputs, whole, _ = runs
    db = tmp_path / "stopped.duckdb"
    runner = _StopsInAMerge()
    with pytest.raises(_Stopped):
        mine(inputs[:6], str(db), executor=runner, unit_mb=0.02, partitions=3, compact_fanout=2)
    assert _rows(db, "SELECT count(*) FROM band_segments") == [(0,)]  # nothing recorded midway
    assert mine(inputs[:6], str(db), unit_mb=0.02, partitions=3, compact_fanout=2).skipped == 6  # resumes the merge
    assert _rows(db, "SELECT count(*) > 0 FROM band_segments") == [(True,)]
    assert db_snapshot(db) == db_snapshot(whole)
