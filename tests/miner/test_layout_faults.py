"""Red-team: a Parquet-layout database whose `.data` folder is damaged or missing. Lost band files
are rebuilt without hiding a stored document; a database moved without its `.data` folder, or a
unit file gone, is a clear error naming what is missing, and the database is left as it was."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import duckdb
import pytest
from corpora import db_snapshot
from warc_builder import Page, RealPage, write_warc

from toxmine.miner.errors import ToxmineError
from toxmine.miner.layout import data_folder_for
from toxmine.miner.mine import mine
from toxmine.miner.sources import LocalFile
from toxmine.miner.stored_bands import bands_folder_for


def _inputs(folder: Path, demo_pages: list[RealPage]) -> list[LocalFile]:
    """Two inputs, the second repeating pages of the first (duplicates against stored documents)."""
    folder.mkdir(parents=True, exist_ok=True)
    pages = demo_pages[2::4]
    paths = []
    for i, chunk in enumerate([pages[0::2], pages[1::2] + pages[0:10]]):
        path = folder / f"part-{i}.warc.gz"
        write_warc(path, [Page(f"{p.url}#{i}", p.payload, content_type=p.content_type) for p in chunk])
        paths.append(LocalFile(str(path)))
    return paths


def _count(db: Path) -> int:
    con = duckdb.connect(str(db), read_only=True)
    try:
        row = con.execute("SELECT count(*) FROM documents").fetchone()
        return int(row[0]) if row else 0
    finally:
        con.close()


@pytest.mark.slow
def test_lost_band_files_of_a_parquet_database_are_rebuilt_without_hiding_its_documents(
    tmp_path: Path, demo_pages: list[RealPage]
) -> None:
    inputs = _inputs(tmp_path / "warc", demo_pages)
    empty = tmp_path / "warc" / "no-documents.warc.gz"  # a unit with no documents, between two with some
    write_warc(empty, [Page(f"http://example.com/{i}.png", b"\x89PNG", content_type="image/png") for i in range(3)])
    again = tmp_path / "warc" / "part-0-again.warc.gz"  # all duplicates of part-0
    shutil.copy(inputs[0].path, again)
    first = [inputs[0], LocalFile(str(empty)), LocalFile(str(again))]
    whole = tmp_path / "whole.duckdb"
    mine(first, str(whole), layout="parquet")
    mine(inputs, str(whole))
    db = tmp_path / "lost.duckdb"
    mine(first, str(db), layout="parquet")
    stored = _count(db)
    shutil.rmtree(bands_folder_for(str(db)))
    report = mine(inputs, str(db))
    assert report.ok and report.duplicates >= 10
    assert _count(db) > stored  # the first input's documents are still in the view
    assert db_snapshot(db) == db_snapshot(whole)


def test_a_parquet_database_moved_without_its_data_folder_is_a_clear_error(
    tmp_path: Path, demo_pages: list[RealPage]
) -> None:
    inputs = _inputs(tmp_path / "warc", demo_pages)
    db = tmp_path / "a" / "corpus.duckdb"
    db.parent.mkdir()
    mine(inputs[:1], str(db), layout="parquet")
    moved = tmp_path / "b" / "corpus.duckdb"
    moved.parent.mkdir()
    shutil.move(db, moved)  # the .data folder stays behind
    shutil.rmtree(data_folder_for(str(db)))  # and is lost
    with pytest.raises(ToxmineError, match=r"corpus\.duckdb\.data"):
        mine(inputs, str(moved))
    assert not os.path.exists(data_folder_for(str(moved)))  # no empty folder made to look like a layout


def test_a_lost_unit_file_is_a_clear_error_not_a_smaller_view(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    inputs = _inputs(tmp_path / "warc", demo_pages)
    db = tmp_path / "corpus.duckdb"
    mine(inputs[:1], str(db), layout="parquet")
    documents = Path(data_folder_for(str(db))) / "documents"
    (lost,) = [p for p in documents.iterdir() if not p.name.startswith("_")]
    lost.unlink()
    with pytest.raises(ToxmineError, match=lost.name):
        mine(inputs, str(db))
