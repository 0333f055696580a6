"""The `imports` table (migration 007): one row per prompt-set file imported under a source name.
Every read and write toxmine does on it is a function here (evaluate/imports.py calls them)."""

from __future__ import annotations

from dataclasses import dataclass

import duckdb

from toxmine.miner.store import Store, utc_now

__all__ = ["ImportRecord", "find_import", "record_import"]


@dataclass(frozen=True)
class ImportRecord:
    """One imported file: under which source name, read how, and what it stored."""

    source: str
    format: str
    file: str  # absolute path as imported
    sha256: str
    n_rows: int
    n_prompts: int
    scorer: str  # who scored the prompts' toxicity


def find_import(store: Store, source: str, sha256: str) -> ImportRecord | None:
    """The import of the file with this checksum under `source`, if done before."""
    row = store.con.execute(
        "SELECT source, format, file, sha256, n_rows, n_prompts, scorer FROM imports WHERE source = ? AND sha256 = ?",
        [source, sha256],
    ).fetchone()
    if row is None:
        return None
    return ImportRecord(str(row[0]), str(row[1]), str(row[2]), str(row[3]), int(row[4]), int(row[5]), str(row[6]))


def record_import(con: duckdb.DuckDBPyConnection, record: ImportRecord) -> None:
    """Record a finished import (call inside the transaction that stores its prompts)."""
    con.execute(
        "INSERT INTO imports VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        [record.source, record.format, record.file, record.sha256, record.n_rows, record.n_prompts, record.scorer,
         utc_now()],
    )  # fmt: skip
