"""The Parquet layout answers every query as the tables layout does: the same demo corpus mined
both ways (and scored), then every table and view compared with EXCEPT ALL both ways, through a
plain duckdb connection as an analyst opens the file."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from corpora import warcs_of
from plugin_scorers import HashScorer
from warc_builder import RealPage

from toxmine.miner.errors import ConfigError
from toxmine.miner.mine import mine
from toxmine.miner.score_stage import score_documents
from toxmine.miner.sources import LocalFile
from toxmine.miner.store import Store

# differ between any two runs: ids, clocks, the versions that built them
_RUN_COLUMNS = {"run_id", "started_at", "finished_at", "applied_at", "scored_at", "created_at", "config_json"}


def _inputs(folder: Path, demo_pages: list[RealPage]) -> list[LocalFile]:
    pages = demo_pages[::2]
    return warcs_of(folder, [pages[0::2], pages[1::2] + pages[0:8]])


def _relations(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, list[str]]:
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = ? "
        "ORDER BY table_name, ordinal_position",
        [catalog],
    ).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("layouts")
    inputs = _inputs(folder / "warc", demo_pages)
    dbs = (folder / "tables.duckdb", folder / "parquet.duckdb")
    for db, layout in zip(dbs, ("tables", "parquet"), strict=True):
        first = mine(inputs[:1], str(db), layout=layout, unit_mb=0.05)  # two runs: stored documents come first
        second = mine(inputs, str(db), unit_mb=0.05)
        assert first.ok and second.ok and second.duplicates >= 5
        with Store(str(db)) as store:
            score_documents(store, HashScorer())
    return dbs


def test_every_relation_answers_the_same_in_both_layouts(both: tuple[Path, Path]) -> None:
    tables, parquet = both
    con = duckdb.connect(str(parquet), read_only=True)  # an analyst's plain duckdb
    con.execute(f"ATTACH '{tables}' AS t (READ_ONLY)")
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = "
                             "'parquet'").fetchall())  # fmt: skip
    assert kinds["documents"] == kinds["doc_minhash"] == "VIEW"
    relations = _relations(con, "parquet")
    assert set(relations) >= {"documents", "doc_minhash", "kept_documents", "sources", "drops", "prompts"}
    other = _relations(con, "t")
    compared = 0
    for name, columns in relations.items():
        if name in ("runs", "schema_migrations", "settings"):
            continue
        assert other[name] == columns, name  # same columns in the same order
        keep = ", ".join(f'"{c}"' for c in columns if c not in _RUN_COLUMNS)
        for left, right in ((f"main.{name}", f"t.{name}"), (f"t.{name}", f"main.{name}")):
            query = f"SELECT count(*) FROM (SELECT {keep} FROM {left} EXCEPT ALL SELECT {keep} FROM {right})"
            assert con.execute(query).fetchone() == (0,), f"{left} has rows {right} lacks"
        compared += 1
    sizes = con.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM doc_minhash), "
                        "(SELECT count(*) FROM prompts)").fetchone()  # fmt: skip
    con.close()
    assert compared >= 8 and sizes is not None and min(sizes) > 50


def test_parquet_documents_live_in_files_and_the_layout_is_kept(both: tuple[Path, Path]) -> None:
    tables, parquet = both
    files = sorted((Path(str(parquet) + ".data") / "documents").glob("*.parquet"))
    assert len(files) >= 3  # the schema file and one per unit
    assert tables.stat().st_size > parquet.stat().st_size  # the texts are not in the database file
    with Store(str(parquet)) as store, pytest.raises(ConfigError, match="--layout parquet"):
        from toxmine.miner.layout import ensure_layout

        ensure_layout(store, "tables")


def test_an_unrecorded_unit_file_is_not_visible(both: tuple[Path, Path], tmp_path: Path) -> None:
    """A file an interrupted commit moved in before recording its unit stays out of the views."""
    _, parquet = both
    folder = Path(str(parquet) + ".data") / "documents"
    stray = folder / "not-committed.parquet"
    con = duckdb.connect(str(parquet), read_only=True)
    before = con.execute("SELECT count(*) FROM documents").fetchone()
    con.execute(f"COPY (SELECT * FROM documents LIMIT 5) TO '{stray}' (FORMAT parquet)")
    after = con.execute("SELECT count(*) FROM documents").fetchone()
    con.close()
    stray.unlink()
    assert before == after
