"""Where the bulk mining tables live: inside the DuckDB file (`tables`, the default), or as
Parquet files beside it (`parquet`) with views of the same names and columns in the database.

With `parquet`, `documents` and `doc_minhash` are one Parquet file per mined unit under
`<database>.data/<table>/`, written by the tasks and moved there by the driver, which then only
records the unit in `band_files`: the view shows a file once its unit is recorded, so a unit is
visible whole or not at all, and the driver never reads a document. Scoring does the same for
`prompts`, `scores` and `scored_docs`: one file per scored unit under `<database>.data/<table>/`,
shown once recorded in `scored_files`; the rows written inside the database (imported prompts,
evaluation's continuation scores) live in `<table>_rows` and the view shows both. `scores` is a
cache keyed by (text_hash, scorer, scorer_version, attribute): two units of one run may score the
same text, so its view keeps one row per key (the database's own, else the first file's). An analyst still runs
`duckdb corpus.duckdb "SELECT ... FROM documents"`, as do `toxmine sql`, `query`, `split`, `eval`,
the notebooks and the report. The views name the folder by its absolute path: move the database
and its `.data` folder together, then run `toxmine mine` on it once (inputs already stored are skipped)
to point them at the new place.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from .corpus_reads import stored_documents
from .errors import ConfigError, StoreError
from .scoring_tables import scored_file_names
from .store import Store, StoredUnit
from .tables import ROWS_SUFFIX, relation_kind
from .task_files import quoted

__all__ = [
    "BULK_TABLES",
    "LAYOUTS",
    "SCORED_TABLES",
    "data_folder_for",
    "ensure_layout",
    "publish_scored",
    "publish_unit",
    "stored_layout",
]

LAYOUTS = ("tables", "parquet")
BULK_TABLES = ("documents", "doc_minhash")  # files recorded in band_files
SCORED_TABLES = ("prompts", "scores", "scored_docs")  # files recorded in scored_files, plus <table>_rows
_KEYS = {"scores": "text_hash, scorer, scorer_version, attribute"}  # a cache: one row per key
_RECORDS = {**dict.fromkeys(BULK_TABLES, "band_files"), **dict.fromkeys(SCORED_TABLES, "scored_files")}
_SETTING = "storage.layout"
_SCHEMA_FILE = "_schema.parquet"  # no rows: gives the view its columns while no unit is stored


def data_folder_for(db_path: str) -> str:
    """`<database>.data` beside the database file."""
    return os.path.abspath(db_path) + ".data"


def stored_layout(store: Store) -> str | None:
    """The layout a database was made with (None: not chosen yet)."""
    return store.settings().get(_SETTING)


def ensure_layout(store: Store, wanted: str | None) -> str:
    """The database's layout: the stored one, or `wanted` (default `tables`) for a new database.
    A database that already holds documents keeps its layout; asking for another is an error."""
    if wanted is not None and wanted not in LAYOUTS:
        raise ConfigError(f"unknown layout {wanted!r}; known: {', '.join(LAYOUTS)}")
    stored = stored_layout(store)
    if stored is None:
        layout = "tables" if stored_documents(store) else wanted or "tables"
        if wanted is not None and wanted != layout:
            raise ConfigError(
                f"{store.path} already holds documents in its tables; --layout {wanted} needs a new database"
            )
        with store.transaction():
            if layout == "parquet":
                _views_over_parquet(store, data_folder_for(store.path))
            store.ensure_settings({_SETTING: layout})
        return layout
    if wanted is not None and wanted != stored:
        raise ConfigError(f"{store.path} was built with --layout {stored} (asked {wanted}); use it or a new database")
    if stored == "parquet":
        _check_files(store, data_folder_for(store.path))
        with store.transaction():
            _views_over_parquet(store, data_folder_for(store.path))  # the folder may have moved
    return stored


def _check_files(store: Store, folder: str) -> None:
    """Every file the views need is in `folder` (else a view would fail, or show fewer rows)."""
    recorded = {"band_files": [name for name, _ in store.band_files()], "scored_files": scored_file_names(store)}
    missing: list[str] = []
    for table, record in _RECORDS.items():
        if _is_table(store, table):
            continue  # a previous toxmine's layout kept it in the database: it becomes a view now
        names = [_SCHEMA_FILE, *recorded[record]]
        missing += [path for name in names if not os.path.exists(path := os.path.join(folder, table, name))]
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise StoreError(
            f"{store.path}: its Parquet layout's file {missing[0]} is missing{more}; move the database's .data "
            "folder beside it (or restore the files), then run again"
        )


def _is_table(store: Store, table: str) -> bool:
    """Whether `table` is a table of the database (not a view)."""
    return relation_kind(store.con, table) == "BASE TABLE"


def _views_over_parquet(store: Store, folder: str) -> None:
    con = store.con
    for table, record in _RECORDS.items():
        target = os.path.join(folder, table)
        os.makedirs(target, exist_ok=True)
        if _is_table(store, table):
            schema = os.path.join(target, _SCHEMA_FILE)
            con.execute(f"COPY (SELECT * FROM {table} WHERE false) TO '{quoted(schema)}' (FORMAT parquet)")
            if table in SCORED_TABLES:  # its rows stay in the database, beside the files
                con.execute(f"ALTER TABLE {table} RENAME TO {table}{ROWS_SUFFIX}")
            else:
                con.execute(f"DROP TABLE {table}")
        files = quoted(os.path.join(target, "*.parquet"))
        recorded = (
            "SELECT * EXCLUDE (filename), filename AS _origin "
            f"FROM read_parquet('{files}', filename = true, union_by_name = true) "
            f"WHERE parse_filename(filename) IN (SELECT path FROM {record})"
        )
        if table in SCORED_TABLES:
            recorded = f"SELECT *, '' AS _origin FROM {table}{ROWS_SUFFIX} UNION ALL BY NAME {recorded}"
        if table in _KEYS:
            first = f"row_number() OVER (PARTITION BY {_KEYS[table]} ORDER BY _origin) = 1"
            recorded = f"SELECT * FROM ({recorded}) QUALIFY {first}"
        con.execute(f"CREATE OR REPLACE VIEW {table} AS SELECT * EXCLUDE (_origin) FROM ({recorded})")


def _move_into(folder: str, table: str, source: str, name: str, what: str) -> None:
    """Move a task's file to `<folder>/<table>/<name>`; one moved by an interrupted commit is already there."""
    target = os.path.join(folder, table, name)
    if os.path.exists(source):
        os.replace(source, target)
    elif not os.path.exists(target):
        raise ConfigError(f"{source}: the {what}'s file is missing; delete the work folder and run again")


def publish_unit(db_path: str, unit: StoredUnit) -> None:
    """Move a finalized unit's files into the Parquet layout's folders (before its unit is recorded)."""
    folder = data_folder_for(db_path)
    for table, source in (("documents", unit.documents_path), ("doc_minhash", unit.signatures_path)):
        _move_into(folder, table, source, unit.bands_file, "finalized unit")


def publish_scored(db_path: str, name: str, files: Mapping[str, str]) -> None:
    """Move a scored unit's files ({table: path} for each of SCORED_TABLES) into the Parquet
    layout's folders as `name` (before the caller records it in `scored_files`)."""
    folder = data_folder_for(db_path)
    for table in SCORED_TABLES:
        _move_into(folder, table, files[table], name, "scored unit")
