"""The table declarations match the migrated database, and `insert` is the one way rows get in."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pyarrow as pa
import pytest

from toxmine.miner.split import EXPORT_COLUMNS
from toxmine.miner.store import Store
from toxmine.miner.tables import DOCUMENTS, PROMPTS, SCORED_DOCS, SCORES, TABLES, Table, insert, registered


@pytest.fixture(scope="module")
def migrated(tmp_path_factory: pytest.TempPathFactory) -> Iterator[duckdb.DuckDBPyConnection]:
    store = Store(str(tmp_path_factory.mktemp("tables") / "x.duckdb"))
    yield store.con
    store.close()


def _duckdb_columns(con: duckdb.DuckDBPyConnection, relation: str) -> list[tuple[str, str]]:
    return [(str(row[0]), str(row[1])) for row in con.execute(f"DESCRIBE {relation}").fetchall()]


def _declared_columns(con: duckdb.DuckDBPyConnection, table: Table) -> list[tuple[str, str]]:
    """The declaration as DuckDB reads it from Arrow (names, order and DuckDB types)."""
    with registered(con, "_declared", table.schema.empty_table()):
        return _duckdb_columns(con, "_declared")


@pytest.mark.parametrize("table", TABLES, ids=lambda t: t.name)
def test_declaration_matches_the_migrated_table(migrated: duckdb.DuckDBPyConnection, table: Table) -> None:
    assert _declared_columns(migrated, table) == _duckdb_columns(migrated, table.name)


def test_a_changed_declaration_is_caught(migrated: duckdb.DuckDBPyConnection) -> None:
    changed = Table(
        "prompts", PROMPTS.schema.set(PROMPTS.schema.get_field_index("bucket"), pa.field("bucket", pa.int64()))
    )
    assert _declared_columns(migrated, changed) != _duckdb_columns(migrated, "prompts")
    migrated.execute("CREATE TABLE widened AS SELECT * FROM prompts LIMIT 0")
    migrated.execute("ALTER TABLE widened ADD COLUMN extra VARCHAR")
    assert _declared_columns(migrated, Table("widened", PROMPTS.schema)) != _duckdb_columns(migrated, "widened")


def test_export_columns_come_from_prompts_and_documents() -> None:
    assert set(EXPORT_COLUMNS) <= set(PROMPTS.columns) | set(DOCUMENTS.columns)


def _count(con: duckdb.DuckDBPyConnection, sql: str) -> int:
    rows = con.execute(sql).fetchall()
    assert len(rows) == 1
    return int(rows[0][0])


def _views(con: duckdb.DuckDBPyConnection) -> list[str]:
    return [
        str(row[0])
        for row in con.execute("SELECT view_name FROM duckdb_views() WHERE temporary AND NOT internal").fetchall()
    ]


def test_insert_adds_constants_and_handles_conflicts(tmp_path: Path) -> None:
    with Store(str(tmp_path / "x.duckdb")) as store:
        con = store.con
        rows = SCORES.arrow({"text_hash": ["a", "b"], "attribute": ["toxicity"] * 2, "value": [0.1, 0.2]})
        assert insert(con, SCORES, rows, {"scorer": "lexicon", "scorer_version": "1"}) == 2
        assert con.execute("SELECT * FROM scores ORDER BY text_hash").fetchall() == [
            ("a", "lexicon", "1", "toxicity", 0.1),
            ("b", "lexicon", "1", "toxicity", 0.2),
        ]
        again = SCORES.arrow({"text_hash": ["a", "c"], "attribute": ["toxicity"] * 2, "value": [0.9, 0.3]})
        with pytest.raises(duckdb.ConstraintException):
            insert(con, SCORES, again, {"scorer": "lexicon", "scorer_version": "1"})
        assert insert(con, SCORES, again, {"scorer": "lexicon", "scorer_version": "1"}, on_conflict="ignore") == 1
        assert _count(con, "SELECT value * 10 FROM scores WHERE text_hash = 'a'") == 1  # kept
        insert(con, SCORES, again, {"scorer": "lexicon", "scorer_version": "1"}, on_conflict="replace")
        assert _count(con, "SELECT value * 10 FROM scores WHERE text_hash = 'a'") == 9  # replaced
        assert _count(con, "SELECT count(*) FROM scores") == 3
        assert _views(con) == []  # the rows' view is gone, after the failed insert too


def test_insert_refuses_undeclared_columns_and_types(tmp_path: Path) -> None:
    with Store(str(tmp_path / "x.duckdb")) as store:
        con = store.con
        with pytest.raises(ValueError, match="scored_docs has no column n_docs"):
            insert(con, SCORED_DOCS, pa.table({"doc_id": ["d"], "n_docs": [1]}), {"scorer": "s"})
        with pytest.raises(ValueError, match="scored_docs has no column judge"):
            insert(con, SCORED_DOCS, SCORED_DOCS.arrow({"doc_id": ["d"], "n_prompts": [1]}), {"judge": "s"})
        with pytest.raises(TypeError, match=r"scored_docs.n_prompts is int64, declared int32"):
            insert(con, SCORED_DOCS, pa.table({"doc_id": ["d"], "n_prompts": [1]}), {"scorer": "s"})
        assert insert(con, SCORED_DOCS, SCORED_DOCS.from_rows([]), {"scorer": "s"}) == 0
        assert _count(con, "SELECT count(*) FROM scored_docs") == 0 and _views(con) == []


def test_rows_are_typed_as_declared() -> None:
    rows = PROMPTS.from_rows([{"prompt_id": "p", "bucket": 2, "harmful": None}])
    assert rows.schema == PROMPTS.schema_of(["prompt_id", "bucket", "harmful"])
    with pytest.raises(ValueError, match="name different columns"):
        PROMPTS.from_rows([{"prompt_id": "p"}, {"prompt_id": "q", "bucket": 1}])
    with pytest.raises(ValueError, match="prompts has no column colour"):
        PROMPTS.arrow({"colour": ["red"]})
