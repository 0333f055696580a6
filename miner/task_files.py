"""Files of pipeline tasks, each whole or absent: Parquet outputs and the small JSON marker a
task writes last, saying that its outputs are whole. Everything is written under a temporary
name and renamed. A marker that cannot be read (damaged outside toxmine) counts as absent: the
task runs again, with a warning naming it. Tasks query with their own DuckDB connection.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, cast

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = [
    "copy_to_parquet",
    "parquet_intact",
    "quoted",
    "read_marker",
    "read_table_file",
    "release_task_connections",
    "skip_pandas_probe",
    "task_connection",
    "whole_file",
    "write_marker",
    "write_parquet",
    "write_table_file",
]

log = logging.getLogger(__name__)

ROW_GROUP = 8192  # rows per Parquet row group of task outputs (readers prune by them)


def quoted(text: str) -> str:
    """`text` inside a single-quoted SQL string literal (a path, a name)."""
    return text.replace("'", "''")


@contextmanager
def whole_file(path: str) -> Iterator[str]:
    """A temporary name to write `path` under; renamed to `path` when the block ends, else removed."""
    work = f"{path}.{uuid.uuid4().hex}.tmp"
    try:
        yield work
        os.replace(work, path)
    finally:
        if os.path.exists(work):
            os.remove(work)


def copy_to_parquet(
    con: duckdb.DuckDBPyConnection, query: str, path: str, params: list[Any] | None = None, row_group: int = ROW_GROUP
) -> None:
    """Write a query's rows to `path` as Parquet, whole or not at all."""
    with whole_file(path) as work:
        con.execute(f"COPY ({query}) TO '{quoted(work)}' (FORMAT parquet, COMPRESSION zstd, ROW_GROUP_SIZE "
                    f"{row_group})", params or [])  # fmt: skip


def write_parquet(table: pa.Table, path: str, row_group: int = ROW_GROUP, dictionary: bool | list[str] = True) -> None:
    """Write an Arrow table to `path` as Parquet, whole or not at all; `dictionary`: the columns to
    dictionary-encode (all by default; a column of random values, as bucket keys, only loses by it)."""
    with whole_file(path) as work:
        pq.write_table(table, work, compression="zstd", row_group_size=row_group, use_dictionary=dictionary)


def write_table_file(table: pa.Table, path: str) -> None:
    """Write an Arrow table to `path`, whole or not at all: Parquet when the name ends in
    `.parquet`, else Arrow IPC (next to nothing to write, read back memory-mapped)."""
    if path.endswith(".parquet"):
        write_parquet(table, path)
        return
    with whole_file(path) as work, pa.OSFile(work, "wb") as sink, pa.ipc.new_file(sink, table.schema) as writer:
        writer.write_table(table)


def read_table_file(path: str) -> pa.Table:
    """A whole table file: Parquet by its `.parquet` name, else Arrow IPC, memory-mapped (its
    columns are not copied)."""
    if path.endswith(".parquet"):
        return pq.read_table(path)
    with pa.memory_map(path, "r") as source:
        return pa.ipc.open_file(source).read_all()


def task_connection(memory_limit: str, spill_folder: str | None = None) -> duckdb.DuckDBPyConnection:
    """A DuckDB connection of its own for one task (temporary tables and views are the connection's,
    gone when it is closed) on an in-memory database of this process: one thread (a task is one
    CPU), `memory_limit`, spilling to `spill_folder` beyond it. The database is kept for the next
    task with the same settings (opening one costs ~10 ms, more than most tasks' queries); a task
    that names no spill folder takes the database as it is, whichever folder it spills to."""
    if spill_folder is not None:
        os.makedirs(spill_folder, exist_ok=True)
    key = (os.getpid(), memory_limit, spill_folder)
    with _shared_lock:
        held = _shared.get("key")
        if spill_folder is None and held is not None and held[:2] == key[:2]:
            key = held  # no spill folder asked for: the one the database has will do
        if held != key:
            _release_shared()
            con = duckdb.connect(config={"threads": 1, "memory_limit": memory_limit})
            if spill_folder is not None:
                con.execute(f"SET temp_directory = '{quoted(spill_folder)}'")
            _shared.update(key=key, con=con)
        return cast(duckdb.DuckDBPyConnection, _shared["con"]).cursor()


_shared: dict[str, Any] = {}  # this process's task database: its settings ("key") and connection ("con")
_shared_lock = threading.Lock()
_inherited: list[Any] = []  # a forked worker's copies of its parent's database: kept, never used or closed


def release_task_connections() -> None:
    """Close this process's task database (before its spill folder is removed, or at the end of a run)."""
    with _shared_lock:
        _release_shared()


def _release_shared() -> None:
    """Close this process's task database (a parent's, inherited through fork, is only set aside)."""
    con = _shared.pop("con", None)
    key = _shared.pop("key", None)
    if con is None:
        return
    if key is not None and key[0] == os.getpid():
        con.close()
    else:
        _inherited.append(con)


def parquet_intact(path: str, rows: int | None = None) -> bool:
    """Whether `path` is a Parquet file with its footer whole (and `rows` rows, when given): not
    missing, and not cut short by a full disk or a stopped copy."""
    try:
        found = pq.read_metadata(path).num_rows
    except (OSError, pa.ArrowException):
        return False
    return rows is None or found == rows


def read_marker(path: str) -> dict[str, Any] | None:
    """The marker's content, or None when there is none or it is unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: unreadable task marker, the task runs again (%s)", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("%s: unreadable task marker, the task runs again (not an object)", path)
        return None
    return data


def write_marker(path: str, data: dict[str, Any]) -> None:
    """Write the marker whole."""
    with whole_file(path) as work, open(work, "w", encoding="utf-8") as handle:
        json.dump(data, handle)


def skip_pandas_probe() -> None:
    """Spare this process pandas' import (0.3-0.4 CPU-s), which pyarrow makes at its first
    conversion of a Python list only to ask whether the list is a pandas object; toxmine never
    hands pyarrow one. The probe runs once, here, with pandas hidden; pyarrow's own pandas
    functions (`from_pandas`, `to_pandas`) still import it when called. For the processes the
    CLI owns (mining and its forked workers); a no-op where pandas is imported already."""
    if "pandas" in sys.modules:
        return
    sys.meta_path.insert(0, _NO_PANDAS)
    try:
        pa.array([0])
    finally:
        sys.meta_path.remove(_NO_PANDAS)


class _NoPandas:
    """An import finder for which pandas does not exist."""

    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "pandas":
            raise ModuleNotFoundError("hidden from pyarrow's probe", name=name)


_NO_PANDAS = _NoPandas()
