"""Red-team: band-file compaction against lost or damaged files and odd settings. A merge due at
the start of a run (a fanout lowered, or a run stopped after its commit) reads every input it
merges, so a lost unit band file is made again first; a fanout under 2 is refused before a run
is recorded."""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import duckdb
import pytest
from corpora import db_snapshot, warcs_of
from warc_builder import RealPage

from toxmine.miner.errors import ConfigError
from toxmine.miner.executors import SerialExecutor, TaskFailed
from toxmine.miner.mine import mine
from toxmine.miner.sources import LocalFile
from toxmine.miner.stored_bands import bands_folder_for
from toxmine.miner.task_files import parquet_intact
from toxmine.miner.units import mine_unit

T = TypeVar("T")
R = TypeVar("R")


def _inputs(folder: Path, demo_pages: list[RealPage]) -> list[LocalFile]:
    pages = demo_pages[::3]
    return warcs_of(folder, [pages[0::3], pages[1::3] + pages[0:6], pages[2::3] + pages[1:7]])


def _rows(db: Path, query: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(query).fetchall()


@pytest.fixture(scope="module")
def unmerged(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> tuple[list[LocalFile], Path]:
    folder = tmp_path_factory.mktemp("faults")
    inputs = _inputs(folder / "warc", demo_pages)
    db = folder / "unmerged.duckdb"
    assert mine(inputs[:2], str(db), compact_fanout=1000).ok
    return inputs, db


def _copy(source: Path, target: Path) -> Path:
    target.write_bytes(source.read_bytes())
    shutil.copytree(str(source) + ".data", str(target) + ".data")
    return target


def test_a_merge_due_at_the_start_of_a_run_makes_a_lost_unit_band_file_again(
    unmerged: tuple[list[LocalFile], Path], tmp_path: Path
) -> None:
    inputs, source = unmerged
    reference = _copy(source, tmp_path / "reference.duckdb")
    assert mine(inputs, str(reference), compact_fanout=1000).ok
    db = _copy(source, tmp_path / "lost.duckdb")
    units = _rows(db, "SELECT path FROM band_files ORDER BY path")
    assert len(units) >= 2
    (Path(bands_folder_for(str(db))) / str(units[0][0])).unlink()
    report = mine(inputs, str(db), compact_fanout=2)  # the stored units' merge is due before mining
    assert report.ok and report.duplicates >= 5
    assert _rows(db, "SELECT count(*) > 0 FROM band_segments") == [(True,)]
    assert db_snapshot(db) == db_snapshot(reference)


@pytest.mark.parametrize("fanout", [0, 1])
def test_a_fanout_under_two_is_refused_before_the_run_is_recorded(
    unmerged: tuple[list[LocalFile], Path], tmp_path: Path, fanout: int
) -> None:
    inputs, source = unmerged
    db = _copy(source, tmp_path / "fanout.duckdb")
    runs = _rows(db, "SELECT count(*) FROM runs")
    with pytest.raises(ConfigError, match="--compact-fanout"):
        mine(inputs, str(db), compact_fanout=fanout)
    assert _rows(db, "SELECT count(*) FROM runs") == runs


def test_a_damaged_segment_drops_its_generation_and_the_next_run_decides_the_same(
    unmerged: tuple[list[LocalFile], Path], tmp_path: Path
) -> None:
    """A segment file cut short (a disk full, a copy stopped) is as good as lost: its generation
    is dropped and its units' own files are made again, never a failed run or a missed key."""
    inputs, source = unmerged
    reference = _copy(source, tmp_path / "reference.duckdb")
    assert mine(inputs, str(reference), compact_fanout=1000).ok
    db = _copy(source, tmp_path / "damaged.duckdb")
    assert mine([], str(db), compact_fanout=2).ok  # the stored units merged
    segments = _rows(db, "SELECT path FROM band_segments ORDER BY n_keys DESC")
    assert segments
    damaged = Path(bands_folder_for(str(db))) / str(segments[0][0])
    damaged.write_bytes(damaged.read_bytes()[: damaged.stat().st_size // 2])
    report = mine(inputs, str(db), compact_fanout=1000)
    assert report.ok and report.duplicates >= 5
    assert db_snapshot(db) == db_snapshot(reference)


def test_a_damaged_unit_band_file_is_made_again(unmerged: tuple[list[LocalFile], Path], tmp_path: Path) -> None:
    inputs, source = unmerged
    reference = _copy(source, tmp_path / "reference.duckdb")
    assert mine(inputs, str(reference), compact_fanout=1000).ok
    db = _copy(source, tmp_path / "damaged.duckdb")
    unit = Path(bands_folder_for(str(db))) / str(_rows(db, "SELECT path FROM band_files ORDER BY path")[0][0])
    unit.write_bytes(unit.read_bytes()[:-20])
    report = mine(inputs, str(db), compact_fanout=1000)
    assert report.ok and report.duplicates >= 5
    assert db_snapshot(db) == db_snapshot(reference)


class _Stopped(Exception):
    pass


class _StopsAtMining(SerialExecutor):
    """Serial, but the mining stage stops the run (as a killed driver would): after the merge due
    at the run's start is recorded, before the run cleans its work folder."""

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R | TaskFailed]]:
        if fn is mine_unit:
            raise _Stopped
        return super().map_unordered(fn, items)


@pytest.mark.parametrize("damage", ["lost", "cut short"])
def test_a_segment_lost_after_a_stopped_run_is_merged_again_not_taken_from_its_old_work(
    unmerged: tuple[list[LocalFile], Path], tmp_path: Path, damage: str
) -> None:
    """The stopped run's merge work (markers saying done) stays in the work folder; the dropped
    generation's number and inputs come again, so the same work folder is met: the rerun merges
    the range again instead of failing on, or recording, the lost or damaged segment."""
    inputs, source = unmerged
    reference = _copy(source, tmp_path / "reference.duckdb")
    assert mine(inputs, str(reference), compact_fanout=1000).ok
    db = _copy(source, tmp_path / "stopped.duckdb")
    with pytest.raises(_Stopped):
        mine(inputs, str(db), executor=_StopsAtMining(), compact_fanout=2)
    segments = _rows(db, "SELECT path FROM band_segments ORDER BY n_keys DESC")
    assert segments
    segment = Path(bands_folder_for(str(db))) / str(segments[0][0])
    if damage == "lost":
        segment.unlink()
    else:
        segment.write_bytes(segment.read_bytes()[:-20])
    report = mine(inputs, str(db), compact_fanout=2)
    assert report.ok and report.duplicates >= 5
    assert db_snapshot(db) == db_snapshot(reference)
    recorded = _rows(db, "SELECT path, n_keys FROM band_segments")
    assert recorded and all(
        parquet_intact(os.path.join(bands_folder_for(str(db)), str(p)), int(str(n))) for p, n in recorded
    )
