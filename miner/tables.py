"""The tables toxmine writes from Arrow: each one's columns and types, declared once, and the one way
rows get in (`insert`).

Every declaration lists the table's columns in the order `sql/migrations` leaves them, typed as
DuckDB reads them from Arrow; tests/miner/test_tables.py checks each against a freshly migrated
database, so a migration and its declaration cannot drift apart.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Literal

import duckdb
import pyarrow as pa

__all__ = [
    "DOCUMENTS",
    "DOC_MINHASH",
    "EVAL_METRICS",
    "GENERATIONS",
    "JUDGEMENTS",
    "PROMPTS",
    "ROWS_SUFFIX",
    "SAFETY_METRICS",
    "SCORED_DOCS",
    "SCORES",
    "TABLES",
    "Table",
    "insert",
    "registered",
    "relation_kind",
    "views_among",
]


@dataclass(frozen=True)
class Table:
    """A database table: its name and every column's Arrow type, in table order."""

    name: str
    schema: pa.Schema

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(self.schema.names)

    def schema_of(self, columns: Sequence[str]) -> pa.Schema:
        """The declared types of `columns` (in that order); an undeclared column is a ValueError."""
        unknown = [name for name in columns if name not in self.schema.names]
        if unknown:
            raise ValueError(f"table {self.name} has no column {', '.join(unknown)}")
        return pa.schema([self.schema.field(name) for name in columns])

    def arrow(self, columns: Mapping[str, Sequence[Any]]) -> pa.Table:
        """Rows given column by column (some of the table's columns, in any order), typed as declared."""
        return pa.table(dict(columns), schema=self.schema_of(list(columns)))

    def from_rows(self, rows: Sequence[Mapping[str, Any]]) -> pa.Table:
        """Rows given as mappings of column -> value, typed as declared. Every row names the same
        columns (the first row's); no rows make an empty table without columns."""
        if not rows:
            return pa.table({})
        names = list(rows[0])
        for row in rows:
            if row.keys() != rows[0].keys():
                raise ValueError(f"rows for table {self.name} name different columns: {names} and {list(row)}")
        return pa.Table.from_pylist(list(rows), schema=self.schema_of(names))


def _table(name: str, *columns: tuple[str, pa.DataType]) -> Table:
    return Table(name, pa.schema(list(columns)))


_str, _int, _bigint, _double, _bool = pa.string(), pa.int32(), pa.int64(), pa.float64(), pa.bool_()

DOCUMENTS = _table(
    "documents",
    ("doc_id", _str), ("url", _str), ("crawl", _str), ("warc_file", _str), ("warc_record_id", _str),
    ("warc_offset", _bigint), ("fetch_time", pa.timestamp("us")), ("lang", _str), ("script", _str),
    ("lang_score", _double), ("text", pa.large_string()), ("n_chars", _int), ("text_hash", _str), ("dup_of", _str),
    ("extractor", _str), ("extractor_version", _str),
)  # fmt: skip
DOC_MINHASH = _table("doc_minhash", ("doc_id", _str), ("seq", _bigint), ("signature", pa.binary()))
SCORES = _table(
    "scores",
    ("text_hash", _str), ("scorer", _str), ("scorer_version", _str), ("attribute", _str), ("value", _double),
)  # fmt: skip
PROMPTS = _table(
    "prompts",
    ("prompt_id", _str), ("doc_id", _str), ("lang", _str), ("span_start", _int), ("span_end", _int),
    ("prompt", _str), ("continuation", _str), ("toxicity", _double), ("prompt_toxicity", _double),
    ("continuation_toxicity", _double), ("bucket", _int), ("scorer", _str), ("scorer_version", _str),
    ("source", _str), ("category", _str), ("harmful", _bool), ("attributes_json", _str),
)  # fmt: skip
SCORED_DOCS = _table("scored_docs", ("doc_id", _str), ("scorer", _str), ("n_prompts", _int))
GENERATIONS = _table(
    "generations",
    ("eval_run_id", _str), ("prompt_id", _str), ("sample_idx", _int), ("text", _str), ("toxicity", _double),
    ("scorer", _str), ("error", _str), ("truncated", _bool), ("lang", _str), ("lang_score", _double),
    ("empty", _bool),
)  # fmt: skip
EVAL_METRICS = _table(
    "eval_metrics",
    ("eval_run_id", _str), ("lang", _str), ("bucket", _str), ("metric", _str), ("value", _double),
    ("ci_low", _double), ("ci_high", _double), ("n_prompts", _int), ("n_failed", _int), ("n_empty", _int),
    ("flag", _str),
)  # fmt: skip
JUDGEMENTS = _table(
    "judgements",
    ("eval_run_id", _str), ("prompt_id", _str), ("sample_idx", _int), ("judge", _str), ("judge_version", _str),
    ("safe", _bool), ("compliance", _str), ("category", _str), ("score", _double), ("error", _str),
    ("label", _str),
)  # fmt: skip
SAFETY_METRICS = _table(
    "safety_metrics",
    ("eval_run_id", _str), ("judge", _str), ("grouping", _str), ("group_value", _str), ("metric", _str),
    ("value", _double), ("ci_low", _double), ("ci_high", _double), ("n_prompts", _int), ("n_failed", _int),
    ("flag", _str), ("n_invalid", _int),
)  # fmt: skip

TABLES = (DOCUMENTS, DOC_MINHASH, SCORES, PROMPTS, SCORED_DOCS, GENERATIONS, EVAL_METRICS, JUDGEMENTS, SAFETY_METRICS)


@contextmanager
def registered(con: duckdb.DuckDBPyConnection, name: str, rows: pa.Table) -> Iterator[str]:
    """`rows` visible to SQL on `con` as the view `name` for the block; unregistered however it ends."""
    con.register(name, rows)
    try:
        yield name
    finally:
        con.unregister(name)


ROWS_SUFFIX = "_rows"
"""With the Parquet layout a bulk table is a view over files; rows written inside the database go to
`<table>_rows`, which the view shows too (miner/layout.py)."""


def relation_kind(con: duckdb.DuckDBPyConnection, name: str) -> str | None:
    """What `name` is in the database's main schema: 'BASE TABLE', 'VIEW', or None when absent."""
    kind = con.execute(
        "SELECT table_type FROM information_schema.tables WHERE table_schema = 'main' AND table_name = ?", [name]
    ).fetchone()
    return str(kind[0]) if kind else None


def views_among(con: duckdb.DuckDBPyConnection, names: Sequence[str]) -> set[str]:
    """Which of `names` are views in the database's main schema (one query for them all)."""
    rows = con.execute(
        "SELECT view_name FROM duckdb_views() WHERE database_name = current_database() AND schema_name = 'main' "
        "AND NOT internal AND list_contains(?, view_name)",
        [sorted(set(names))],
    ).fetchall()
    return {str(row[0]) for row in rows}


def _target(con: duckdb.DuckDBPyConnection, table: Table) -> str:
    """Where rows for `table` go: the table, or its `_rows` table when `table` is a view."""
    return f"{table.name}{ROWS_SUFFIX}" if relation_kind(con, table.name) == "VIEW" else table.name


Conflict = Literal["error", "ignore", "replace"]


def insert(
    con: duckdb.DuckDBPyConnection,
    table: Table,
    rows: pa.Table,
    constants: Mapping[str, Any] | None = None,
    on_conflict: Conflict = "error",
) -> int:
    """Insert `rows` into `table` by column name, with `constants` (column -> value) added to every
    row; columns given neither way take their defaults. A row whose key is taken raises (`error`),
    is skipped (`ignore`) or replaces the stored one (`replace`). Returns the rows inserted; no rows
    run no SQL. Call inside the caller's transaction when it must be atomic with other writes."""
    constants = dict(constants or {})
    table.schema_of([*constants, *rows.column_names])  # every column declared
    for field in rows.schema:
        declared = table.schema.field(field.name).type
        if field.type != declared:
            raise TypeError(f"column {table.name}.{field.name} is {field.type}, declared {declared}")
    if rows.num_rows == 0:
        return 0
    view = f"_insert_{table.name}"
    verb = "INSERT OR REPLACE" if on_conflict == "replace" else "INSERT"
    fixed = "".join(f'? AS "{name}", ' for name in constants)
    tail = " ON CONFLICT DO NOTHING" if on_conflict == "ignore" else ""
    with registered(con, view, rows):
        result = con.execute(
            f"{verb} INTO {_target(con, table)} BY NAME SELECT {fixed}* FROM {view}{tail}", list(constants.values())
        ).fetchall()  # all of it: a result left unread keeps the connection busy
    return int(result[0][0]) if result else 0
