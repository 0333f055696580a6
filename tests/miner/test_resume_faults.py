"""Red-team: resumption must never reuse a work file made for another decision, and the work
folder's cleanup must never remove what the user owns."""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import duckdb
import pytest
from corpora import db_snapshot
from warc_builder import Page, RealPage, write_warc

from toxmine.miner.errors import ConfigError
from toxmine.miner.executors import SerialExecutor, TaskFailed
from toxmine.miner.mine import mine
from toxmine.miner.sources import LocalFile
from toxmine.miner.units import finalize_unit

T = TypeVar("T")
R = TypeVar("R")


class InterruptedAfterFinalize(SerialExecutor):
    """Runs every task, and stops the run (as Ctrl-C would) once the units are finalized,
    before any input is committed."""

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R | TaskFailed]]:
        yield from super().map_unordered(fn, items)
        if fn is finalize_unit:
            raise KeyboardInterrupt


def _warc(path: Path, pages: list[RealPage], tag: str) -> str:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_warc(path, [Page(f"{p.url}#{tag}", p.payload, content_type=p.content_type) for p in pages])
    return str(path)


def test_a_resumed_run_with_an_input_added_before_finalized_units(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    """Run 1 on [a, c] stops after finalizing; run 2 on [b, a, c], where b holds c's pages: a and c
    now come after b, so their ordinals and c's duplicates differ from run 1's finalized files."""
    a = _warc(tmp_path / "w" / "a.warc.gz", demo_pages[0:20], "a")
    b = _warc(tmp_path / "w" / "b.warc.gz", demo_pages[20:40], "b")
    c = _warc(tmp_path / "w" / "c.warc.gz", demo_pages[20:40], "c")
    db = tmp_path / "corpus.duckdb"
    with pytest.raises(KeyboardInterrupt):
        mine([LocalFile(a), LocalFile(c)], str(db), executor=InterruptedAfterFinalize())
    report = mine([LocalFile(b), LocalFile(a), LocalFile(c)], str(db))
    assert report.ok
    expected = tmp_path / "expected.duckdb"
    mine([LocalFile(b), LocalFile(a), LocalFile(c)], str(expected))
    assert db_snapshot(db) == db_snapshot(expected)


def test_an_input_that_failed_before_the_interruption_is_read_again(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    """A failure is not a finished unit: an input unreadable in an interrupted run is retried by
    the next one (as after a run that was not interrupted), not failed again from the work folder."""
    a = _warc(tmp_path / "w" / "a.warc.gz", demo_pages[0:20], "a")
    x = tmp_path / "w" / "x.warc.gz"
    x.write_bytes(b"not a WARC file at all\n" * 50)
    db = tmp_path / "corpus.duckdb"
    with pytest.raises(KeyboardInterrupt):
        mine([LocalFile(a), LocalFile(str(x))], str(db), executor=InterruptedAfterFinalize())
    _warc(x, demo_pages[20:40], "x")  # readable now (a network input that failed once, say)
    report = mine([LocalFile(a), LocalFile(str(x))], str(db))
    assert report.ok, report.failed
    expected = tmp_path / "expected.duckdb"
    mine([LocalFile(a), LocalFile(str(x))], str(expected))
    assert db_snapshot(db) == db_snapshot(expected)


def test_the_work_folder_cleanup_leaves_the_users_files(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    """`--work-dir /scratch` is a folder the user owns: a run removes what it made there, and
    nothing else (not the user's own `tmp`, `units`, `final` or `dedup-*` folders)."""
    a = _warc(tmp_path / "w" / "a.warc.gz", demo_pages[0:10], "a")
    scratch = tmp_path / "scratch"
    owned = [scratch / name / "precious.txt" for name in ("tmp", "units", "final", "dedup-notes")]
    for path in owned:
        path.parent.mkdir(parents=True)
        path.write_text("the user's")
    report = mine([LocalFile(a)], str(tmp_path / "corpus.duckdb"), work_dir=str(scratch))
    assert report.ok and report.documents > 5
    assert all(path.read_text() == "the user's" for path in owned)
    assert sorted(p.name for p in scratch.iterdir()) == ["dedup-notes", "final", "tmp", "units"]


def test_an_unusable_work_folder_is_a_clear_error_not_failed_inputs(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    """A --work-dir that cannot be a folder is the run's error, before any input is tried: not one
    failed input per input, each blamed for the work folder."""
    a = _warc(tmp_path / "w" / "a.warc.gz", demo_pages[0:10], "a")
    not_a_folder = tmp_path / "scratch"
    not_a_folder.write_text("a file")
    db = tmp_path / "corpus.duckdb"
    with pytest.raises(ConfigError, match="scratch"):
        mine([LocalFile(a)], str(db), work_dir=str(not_a_folder))
    if db.exists():
        con = duckdb.connect(str(db), read_only=True)
        assert con.execute("SELECT count(*) FROM sources").fetchone() == (0,)
        con.close()


def test_an_input_listed_twice_is_mined_once(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    """`mine([a, a])` (the API does not go through `resolve_inputs`) stores `a` once, as `mine([a])`."""
    a = _warc(tmp_path / "w" / "a.warc.gz", demo_pages[0:20], "a")
    db = tmp_path / "twice.duckdb"
    report = mine([LocalFile(a), LocalFile(a)], str(db))
    assert report.ok and report.skipped == 1
    once = tmp_path / "once.duckdb"
    mine([LocalFile(a)], str(once))
    assert db_snapshot(db) == db_snapshot(once)


@pytest.mark.slow
def test_damaged_task_markers_make_their_tasks_run_again(
    tmp_path: Path, demo_pages: list[RealPage], caplog: pytest.LogCaptureFixture
) -> None:
    """A marker damaged outside toxmine (cut, not JSON) is no finished task: the resumed run does
    the task again, names the file in a warning, and stores what an uninterrupted run stores."""
    a = _warc(tmp_path / "w" / "a.warc.gz", demo_pages[0:20], "a")
    c = _warc(tmp_path / "w" / "c.warc.gz", demo_pages[10:30], "c")
    db = tmp_path / "corpus.duckdb"
    with pytest.raises(KeyboardInterrupt):
        mine([LocalFile(a), LocalFile(c)], str(db), executor=InterruptedAfterFinalize())
    work = Path(tmp_path / ".corpus.duckdb.work")
    damaged = [*work.glob("units/*.json"), *work.glob("dedup-*/decide/*.json"), *work.glob("final/*.json")]
    assert len(damaged) >= 3
    for marker in damaged:
        marker.write_text('{"outcome": {"sou')  # cut mid-write by something else
    report = mine([LocalFile(a), LocalFile(c)], str(db))
    assert report.ok
    expected = tmp_path / "expected.duckdb"
    mine([LocalFile(a), LocalFile(c)], str(expected))
    assert db_snapshot(db) == db_snapshot(expected)
    assert str(damaged[0]) in caplog.text and "unreadable task marker" in caplog.text
