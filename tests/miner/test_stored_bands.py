"""Databases whose stored documents have no band files (mined before them, or moved without their
`.data` folder) get them rebuilt from doc_minhash, and later runs deduplicate against every stored
document exactly as an uninterrupted run does."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from corpora import warcs_of
from warc_builder import RealPage

from toxmine.miner.mine import mine
from toxmine.miner.sources import LocalFile
from toxmine.miner.stored_bands import bands_folder_for


def _inputs(folder: Path, demo_pages: list[RealPage]) -> list[LocalFile]:
    pages = demo_pages[1::3]
    return warcs_of(folder, [pages[0::2], pages[1::2] + pages[0:10]])


def _decisions(db: Path) -> list[tuple[str, str | None]]:
    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute("SELECT doc_id, dup_of FROM documents ORDER BY doc_id").fetchall()
    con.close()
    return rows


@pytest.mark.slow
@pytest.mark.parametrize("how", ["older database", "bands folder lost"])
def test_later_runs_deduplicate_against_documents_without_band_files(
    tmp_path: Path, demo_pages: list[RealPage], how: str
) -> None:
    inputs = _inputs(tmp_path / "warc", demo_pages)
    whole = tmp_path / "whole.duckdb"
    mine(inputs, str(whole))
    db = tmp_path / "old.duckdb"
    mine(inputs[:1], str(db))
    shutil.rmtree(bands_folder_for(str(db)))
    if how == "older database":  # as toxmine <= 0.11 left it: no band files, kept documents numbered 0, 1, 2...
        con = duckdb.connect(str(db))
        con.execute("DELETE FROM band_files")
        con.execute("UPDATE doc_minhash SET seq = r.n FROM (SELECT doc_id, row_number() OVER (ORDER BY seq) - 1 AS n "
                    "FROM doc_minhash) r WHERE doc_minhash.doc_id = r.doc_id")  # fmt: skip
        con.close()
    report = mine(inputs, str(db))
    assert report.duplicates >= 10  # the second input repeats pages of the first: found against stored ones
    assert _decisions(db) == _decisions(whole)
    con = duckdb.connect(str(db), read_only=True)
    rebuilt = con.execute("SELECT count(*) FROM band_files WHERE source IS NULL").fetchone()
    kept = con.execute("SELECT (SELECT sum(n_kept) FROM band_files), (SELECT count(*) FROM doc_minhash)").fetchone()
    con.close()
    assert rebuilt == ((1,) if how == "older database" else (0,))  # a lost file is made again under its name
    assert kept is not None and kept[0] == kept[1]
    assert all(Path(bands_folder_for(str(db)), name).exists() for name in _band_file_names(db))


def _band_file_names(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    names = [row[0] for row in con.execute("SELECT path FROM band_files").fetchall()]
    con.close()
    return names


@pytest.mark.slow
def test_a_parquet_layout_database_that_lost_its_band_files_keeps_every_document(
    tmp_path: Path, demo_pages: list[RealPage]
) -> None:
    """With --layout parquet band_files also says which units the views show: making lost band
    files again must never hide a stored document."""
    inputs = _inputs(tmp_path / "warc", demo_pages)
    whole = tmp_path / "whole.duckdb"
    mine(inputs, str(whole))
    db = tmp_path / "p.duckdb"
    mine(inputs[:1], str(db), layout="parquet")
    before = _decisions(db)
    shutil.rmtree(bands_folder_for(str(db)))
    mine(inputs, str(db))
    after = _decisions(db)
    assert set(before) <= set(after) and after == _decisions(whole)
