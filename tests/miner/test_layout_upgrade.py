"""Red-team: a database made with the previous toxmine's Parquet layout (documents and doc_minhash
as views over files, but prompts, scores and scored_docs still tables inside the database) opened by
this one: mining goes on and scoring writes rows the views show, the old rows kept."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pytest
from corpora import warcs_of
from plugin_scorers import HashScorer
from warc_builder import RealPage

from toxmine.miner.layout import SCORED_TABLES, data_folder_for
from toxmine.miner.mine import mine
from toxmine.miner.score_units import score_documents
from toxmine.miner.sources import LocalFile
from toxmine.miner.store import Store


def _previous_layout(db: Path) -> None:
    """Turn a Parquet-layout database back into the previous toxmine's: scored tables inside it."""
    with duckdb.connect(str(db)) as con:
        for table in SCORED_TABLES:
            con.execute(f"CREATE TEMP TABLE shown_{table} AS SELECT * FROM {table}")
            con.execute(f"DROP VIEW {table}")
            con.execute(f"ALTER TABLE {table}_rows RENAME TO {table}")
            con.execute(f"INSERT INTO {table} SELECT * FROM shown_{table}")
        con.execute("DELETE FROM scored_files")
    for table in SCORED_TABLES:
        shutil.rmtree(Path(data_folder_for(str(db))) / table)


@pytest.fixture
def old(tmp_path: Path, demo_pages: list[RealPage]) -> tuple[Path, list[LocalFile]]:
    inputs = warcs_of(tmp_path / "warc", [demo_pages[::6], demo_pages[3::6]])
    db = tmp_path / "old.duckdb"
    assert mine(inputs[:1], str(db), layout="parquet").ok
    with Store(str(db)) as store:
        score_documents(store, HashScorer())
        scored = store.con.execute("SELECT count(*) FROM prompts").fetchone()
    _previous_layout(db)
    with duckdb.connect(str(db)) as con:
        assert con.execute("SELECT count(*) FROM prompts").fetchone() == scored
    return db, inputs


def test_mining_on_with_the_previous_parquet_layout_keeps_its_scored_rows(old: tuple[Path, list[LocalFile]]) -> None:
    db, inputs = old
    with duckdb.connect(str(db), read_only=True) as con:
        before = con.execute("SELECT count(*) FROM prompts").fetchone()
    report = mine(inputs, str(db))
    assert report.ok
    with Store(str(db)) as store:
        score_documents(store, HashScorer())
        rows = store.con.execute("SELECT count(*), count(DISTINCT prompt_id) FROM prompts").fetchone()
    assert before is not None and rows is not None and rows[0] > before[0] and rows[0] == rows[1]


def test_scoring_a_database_of_the_previous_parquet_layout_shows_its_prompts(old: tuple[Path, list[LocalFile]]) -> None:
    db, _ = old
    with duckdb.connect(str(db)) as con:  # forget the scoring: the old layout with nothing scored yet
        for table in SCORED_TABLES:
            con.execute(f"DELETE FROM {table}")
    with Store(str(db)) as store:
        report = score_documents(store, HashScorer())
        shown = store.con.execute("SELECT count(*) FROM prompts").fetchone()
    assert report.prompts > 0 and shown == (report.prompts,)
