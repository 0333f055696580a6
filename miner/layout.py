"""Where the bulk mining tables live: inside the DuckDB file (`tables`, the default), or as
Parquet files beside it (`parquet`) with views of the same names and columns in the database.

With `parquet`, `documents` and `doc_minhash` are one Parquet file per mined unit under
`<database>.data/<table>/`, written by the tasks and moved there by the driver, which then only
records the unit in `band_files`: the view shows a file once its unit is recorded, so a unit is
visible whole or not at all, and the driver never reads a document. An analyst still runs
`duckdb corpus.duckdb "SELECT ... FROM documents"`, as do `toxmine sql`, `query`, `split`, `eval`,
the notebooks and the report. The views name the folder by its absolute path: move the database
and its `.data` folder together, then run `toxmine mine` once (with no inputs) to point them at
the new place.
"""

from __future__ import annotations

import os

from .errors import ConfigError, StoreError
from .store import Store, StoredUnit
from .task_files import quoted

__all__ = ["BULK_TABLES", "LAYOUTS", "data_folder_for", "ensure_layout", "publish_unit", "stored_layout"]

LAYOUTS = ("tables", "parquet")
BULK_TABLES = ("documents", "doc_minhash")
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
        count = store.con.execute("SELECT count(*) FROM documents").fetchone()
        layout = "tables" if count and count[0] else wanted or "tables"
        if wanted is not None and wanted != layout:
            raise ConfigError(
                f"{store.path} already holds documents in its tables; --layout {wanted} needs a new database"
            )
        with store.transaction() as con:
            if layout == "parquet":
                _views_over_parquet(store, data_folder_for(store.path))
            con.execute("INSERT INTO settings VALUES (?, ?)", [_SETTING, layout])
        return layout
    if wanted is not None and wanted != stored:
        raise ConfigError(f"{store.path} was built with --layout {stored} (asked {wanted}); use it or a new database")
    if stored == "parquet":
        _check_files(store, data_folder_for(store.path))
        with store.transaction():
            _views_over_parquet(store, data_folder_for(store.path))  # the folder may have moved
    return stored


def _check_files(store: Store, folder: str) -> None:
    """Every file the views need is in `folder` (else a view would fail, or show fewer documents)."""
    names = [_SCHEMA_FILE] + [str(row[0]) for row in store.con.execute("SELECT path FROM band_files").fetchall()]
    missing = [path for name in names for table in BULK_TABLES
               if not os.path.exists(path := os.path.join(folder, table, name))]  # fmt: skip
    if missing:
        more = f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""
        raise StoreError(
            f"{store.path}: its Parquet layout's file {missing[0]} is missing{more}; move the database's .data "
            "folder beside it (or restore the files), then run again"
        )


def _views_over_parquet(store: Store, folder: str) -> None:
    for table in BULK_TABLES:
        target = os.path.join(folder, table)
        os.makedirs(target, exist_ok=True)
        kind = store.con.execute(
            "SELECT table_type FROM information_schema.tables WHERE table_name = ?", [table]
        ).fetchone()
        if kind and kind[0] == "BASE TABLE":
            schema = os.path.join(target, _SCHEMA_FILE)
            store.con.execute(f"COPY (SELECT * FROM {table} WHERE false) TO '{quoted(schema)}' (FORMAT parquet)")
            store.con.execute(f"DROP TABLE {table}")
        files = quoted(os.path.join(target, "*.parquet"))
        store.con.execute(
            f"CREATE OR REPLACE VIEW {table} AS SELECT * EXCLUDE (filename) FROM read_parquet('{files}', "
            "filename = true) WHERE parse_filename(filename) IN (SELECT path FROM band_files)"
        )


def publish_unit(db_path: str, unit: StoredUnit) -> None:
    """Move a finalized unit's files into the Parquet layout's folders (before its unit is
    recorded; a file moved by an interrupted commit is already in place)."""
    folder = data_folder_for(db_path)
    for table, source in (("documents", unit.documents_path), ("doc_minhash", unit.signatures_path)):
        target = os.path.join(folder, table, unit.bands_file)
        if os.path.exists(source):
            os.replace(source, target)
        elif not os.path.exists(target):
            raise ConfigError(f"{source}: the finalized unit's file is missing; delete the work folder and run again")
