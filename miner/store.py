"""The DuckDB store: schema migrations from `sql/`, and atomic per-input commits."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from importlib import resources
from types import TracebackType
from typing import Protocol

import duckdb

from .errors import ConfigError, StoreError
from .tables import registered, views_among
from .task_files import read_table_file

__all__ = ["InputOutcome", "Store", "StoredUnit", "migrations", "utc_now"]

_MIGRATION_NAME = re.compile(r"(\d+)_([\w-]+)\.sql")
_ALTER_TABLE = re.compile(r"^\s*ALTER\s+TABLE\s+(\w+)", re.IGNORECASE | re.MULTILINE)
_COMMENTS = re.compile(r"--[^\n]*")
_STATEMENT_END = re.compile(r";[ \t]*(?:\n|$)")


def utc_now() -> datetime:
    return datetime.now(timezone.utc).replace(tzinfo=None)


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every migration shipped in `sql/migrations`, in order."""
    found = []
    for entry in resources.files("toxmine.sql").joinpath("migrations").iterdir():
        match = _MIGRATION_NAME.fullmatch(entry.name)
        if match:
            found.append((int(match.group(1)), match.group(2), entry.read_text(encoding="utf-8")))
    return sorted(found)


class StoredUnit(Protocol):
    """The files of one finalized unit (see `units.FinalUnit`): documents and signatures as Parquet
    (by their `.parquet` name) or Arrow IPC."""

    @property
    def documents_path(self) -> str: ...
    @property
    def signatures_path(self) -> str: ...
    @property
    def bands_file(self) -> str: ...  # relative to the database's bands folder
    @property
    def start(self) -> int: ...
    @property
    def n_documents(self) -> int: ...
    @property
    def n_duplicates(self) -> int: ...


@dataclass
class InputOutcome:
    """What one input produced, as recorded in `sources` and `drops`."""

    source: str
    crawl: str | None
    status: str  # done | partial | failed
    n_records: int = 0
    error: str | None = None
    drops: dict[str, int] = field(default_factory=dict)
    started_at: datetime = field(default_factory=utc_now)
    finished_at: datetime = field(default_factory=utc_now)
    n_selected: int | None = None  # a record group's records (those not stored already)
    bytes_fetched: int | None = None  # bytes read (over the network, or from disk)
    bytes_whole: int | None = None  # the size of the whole WARC file(s), when known
    languages: dict[str, list[int]] = field(default_factory=dict)  # index language -> targeting.COUNTS
    files: dict[str, list[int | None]] = field(default_factory=dict)  # a group's WARC file -> [n_selected, bytes
    # fetched, bytes of the whole file]


class Store:
    """A toxmine DuckDB file. Opening applies pending migrations."""

    def __init__(self, path: str, read_only: bool = False, memory_limit: str | None = None) -> None:
        self.path = path
        config: dict[str, str | bool | int | float | list[str]] = {"memory_limit": memory_limit} if memory_limit else {}
        if not read_only:  # the writer reads task files once: caching their blocks would only grow its memory
            config["enable_external_file_cache"] = False
        try:
            self.con = duckdb.connect(path, read_only=read_only, config=config)
        except duckdb.IOException as exc:
            raise StoreError(f"{path}: cannot open database ({str(exc).splitlines()[0]})") from exc
        except duckdb.Error as exc:
            raise ConfigError(f"{path}: bad database setting ({str(exc).splitlines()[0]})") from exc
        if not read_only:
            self._migrate()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self.con.close()

    @contextmanager
    def transaction(self) -> Iterator[duckdb.DuckDBPyConnection]:
        """Run the block in one transaction: committed at the end, rolled back on any error."""
        self.con.execute("BEGIN TRANSACTION")
        try:
            yield self.con
        except BaseException:
            self.con.execute("ROLLBACK")
            raise
        self.con.execute("COMMIT")

    # -- schema -------------------------------------------------------------------------
    def _migrate(self) -> None:
        self.con.execute(
            "CREATE TABLE IF NOT EXISTS schema_migrations "
            "(version INTEGER PRIMARY KEY, name VARCHAR NOT NULL, applied_at TIMESTAMP NOT NULL)"
        )
        applied = {row[0] for row in self.con.execute("SELECT version FROM schema_migrations").fetchall()}
        pending = [migration for migration in migrations() if migration[0] not in applied]
        # a new database takes every migration in one transaction (one commit, all or none); an
        # existing one, each in its own, so that what applies is kept when a later one fails
        for batch in [pending] if not applied else [[migration] for migration in pending]:
            if batch:
                self._apply(batch)

    def _apply(self, batch: list[tuple[int, str, str]]) -> None:
        with self.transaction() as con:
            for version, name, sql in batch:
                try:
                    for statement in self._applicable(sql):
                        con.execute(statement)
                    con.execute("INSERT INTO schema_migrations VALUES (?, ?, ?)", [version, name, utc_now()])
                except duckdb.Error as exc:
                    raise StoreError(f"{self.path}: migration {version:03d}_{name} failed: {exc}") from exc

    def _applicable(self, sql: str) -> list[str]:
        """A migration as statements to run: whole, unless it alters a table that is a view here
        (the Parquet layout's `documents`, whose files carry their own columns); then it is cut
        at each `;` that ends a line and those `ALTER TABLE` statements are left out."""
        altered_names = _ALTER_TABLE.findall(_COMMENTS.sub("", sql))
        views = views_among(self.con, altered_names) if altered_names else set()
        if not views:
            return [sql]
        kept = []
        for part in _STATEMENT_END.split(sql):
            statement = _COMMENTS.sub("", part).strip()
            altered = _ALTER_TABLE.match(statement)
            if statement and not (altered and altered.group(1) in views):
                kept.append(statement)
        return kept

    def schema_version(self) -> int:
        row = self.con.execute("SELECT max(version) FROM schema_migrations").fetchone()
        return int(row[0]) if row and row[0] is not None else 0

    # -- settings and runs ----------------------------------------------------------------
    def settings(self) -> dict[str, str]:
        """The settings fixed for this database (dedup, prompts, layout)."""
        return {str(key): str(value) for key, value in self.con.execute("SELECT key, value FROM settings").fetchall()}

    def ensure_settings(self, wanted: dict[str, str]) -> None:
        """Store settings on first use; raise ConfigError if they differ from stored ones."""
        stored = self.settings()
        clashes = [f"{k}={stored[k]} (asked {v})" for k, v in wanted.items() if k in stored and stored[k] != v]
        if clashes:
            raise ConfigError(
                f"{self.path} was built with other settings: {', '.join(clashes)}; "
                "use the same options or a new database"
            )
        missing = [(k, v) for k, v in wanted.items() if k not in stored]
        if missing:
            self.con.executemany("INSERT INTO settings VALUES (?, ?)", missing)

    def start_run(self, config: dict[str, object], version: str) -> str:
        run_id = uuid.uuid4().hex[:16]
        self.con.execute(
            "INSERT INTO runs VALUES (?, ?, NULL, ?, ?)",
            [run_id, utc_now(), json.dumps(config, sort_keys=True, default=str), version],
        )
        return run_id

    def finish_run(self, run_id: str) -> None:
        self.con.execute("UPDATE runs SET finished_at = ? WHERE run_id = ?", [utc_now(), run_id])

    # -- inputs ----------------------------------------------------------------------------
    def finished_sources(self) -> set[str]:
        """Inputs already committed (done or partial); failed ones are tried again."""
        rows = self.con.execute("SELECT source FROM sources WHERE status IN ('done', 'partial')").fetchall()
        return {row[0] for row in rows}

    def stored_offsets(self, keys: Sequence[str]) -> dict[str, set[int]]:
        """The offsets of the records stored as documents (any input, any run) of the WARC files whose
        `sources.crawl_key` (their path from `crawl-data/`, whatever the host) is in `keys`."""
        if not keys:
            return {}
        rows = self.con.execute(
            "SELECT k, warc_offset FROM (SELECT CASE WHEN strpos(warc_file, 'crawl-data/') > 0 THEN "
            "substr(warc_file, strpos(warc_file, 'crawl-data/')) ELSE warc_file END AS k, warc_offset FROM documents) "
            "WHERE list_contains(?, k)",
            [list(set(keys))],
        ).fetchall()
        found: dict[str, set[int]] = {}
        for warc_file, offset in rows:
            found.setdefault(str(warc_file), set()).add(int(offset))
        return found

    def record_group_files(self) -> dict[str, list[str]]:
        """WARC files some of whose records were stored by record groups: file -> those groups."""
        rows = self.con.execute(
            "SELECT f.warc_file, s.source FROM source_files f JOIN sources s USING (source) "
            "WHERE s.status IN ('done', 'partial') ORDER BY s.source"
        ).fetchall()
        found: dict[str, list[str]] = {}
        for warc_file, source in rows:
            found.setdefault(str(warc_file), []).append(str(source))
        return found

    def next_ordinal(self) -> int:
        """The ordinal of the next mined document: after every ordinal an earlier run used."""
        row = self.con.execute(
            "SELECT greatest((SELECT coalesce(max(seq) + 1, 0) FROM doc_minhash), "
            "(SELECT coalesce(max(first_ordinal + n_documents), 0) FROM band_files))"
        ).fetchone()
        return int(row[0]) if row else 0

    def band_files(self) -> list[tuple[str, int]]:
        """(path relative to the bands folder, kept documents) of every stored band file."""
        rows = self.con.execute("SELECT path, n_kept FROM band_files ORDER BY first_ordinal, path").fetchall()
        return [(str(path), int(n)) for path, n in rows]

    def add_band_files(self, rows: list[tuple[str, int, int, int]]) -> None:
        """Record band files made for stored documents (path, first ordinal, ordinals, kept)."""
        with self.transaction() as con:
            con.executemany("INSERT INTO band_files VALUES (?, NULL, ?, ?, ?, NULL)", rows)

    def band_file_ranges(self) -> list[tuple[str, int, int]]:
        """(path relative to the bands folder, first ordinal, ordinals) of every stored band file, in ordinal order."""
        rows = self.con.execute("SELECT path, first_ordinal, n_documents FROM band_files ORDER BY first_ordinal")
        return [(str(path), int(first), int(count)) for path, first, count in rows.fetchall()]

    def kept_rows(self, first: int, last: int) -> Iterator[tuple[str, str, bytes, int]]:
        """(doc_id, text_hash, signature, ordinal) of the kept documents with ordinals `first`..`last`, in order."""
        return self._kept_rows("WHERE m.seq BETWEEN ? AND ?", [first, last])

    def uncovered_kept_rows(self) -> Iterator[tuple[str, str, bytes, int]]:
        """As `kept_rows`, of the kept documents no band file covers (mined before band files), in ordinal order.
        Every band file counts its unit's kept documents, so when the counts agree nothing is read."""
        row = self.con.execute(
            "SELECT (SELECT count(*) FROM doc_minhash) > (SELECT coalesce(sum(n_kept), 0) FROM band_files)"
        ).fetchone()
        if not (row and row[0]):
            return iter(())
        return self._kept_rows(
            "WHERE NOT EXISTS (SELECT 1 FROM band_files b WHERE m.seq BETWEEN b.first_ordinal "
            "AND b.first_ordinal + b.n_documents - 1)",
            [],
        )

    def _kept_rows(self, where: str, params: list[object]) -> Iterator[tuple[str, str, bytes, int]]:
        cursor = self.con.execute(
            "SELECT m.doc_id, d.text_hash, m.signature, m.seq FROM doc_minhash m JOIN documents d USING (doc_id) "
            f"{where} ORDER BY m.seq",
            params,
        )
        while batch := cursor.fetchmany(10_000):
            for doc_id, digest, signature, seq in batch:
                yield str(doc_id), str(digest), bytes(signature), int(seq)

    def commit_units(
        self, outcome: InputOutcome, run_id: str, units: Sequence[StoredUnit], insert_rows: bool = True
    ) -> tuple[int, int]:
        """Store one input atomically: its units (their documents and kept signatures inserted
        unless `insert_rows` is off, for the Parquet layout; their band files recorded), its drops
        and its `sources` row. Returns (documents, duplicates). Any error rolls it all back."""
        con = self.con
        with self.transaction():
            self._clear_source(outcome.source)
            for unit in units:
                if insert_rows:
                    self._insert_file("documents", unit.documents_path)
                    self._insert_file("doc_minhash", unit.signatures_path)
                con.execute(
                    "INSERT INTO band_files VALUES (?, ?, ?, ?, ?, ?)",
                    [unit.bands_file, outcome.source, unit.start, unit.n_documents,
                     unit.n_documents - unit.n_duplicates, run_id],
                )  # fmt: skip
            n_docs = sum(unit.n_documents for unit in units)
            n_dups = sum(unit.n_duplicates for unit in units)
            self._write_source_row(outcome, run_id, n_docs, n_dups)
        return n_docs, n_dups

    def _insert_file(self, table: str, path: str) -> None:
        """Insert a task's file into `table` by column name: Parquet (by its `.parquet` name) or Arrow IPC."""
        if path.endswith(".parquet"):
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM read_parquet(?)", [path])
            return
        with registered(self.con, "_task_file", read_table_file(path)):
            self.con.execute(f"INSERT INTO {table} BY NAME SELECT * FROM _task_file")

    def record_failure(self, outcome: InputOutcome, run_id: str) -> None:
        """Record a failed input (no documents) so the failure is visible and retried later."""
        with self.transaction():
            self._clear_source(outcome.source)
            self._write_source_row(outcome, run_id, 0, 0)

    def _clear_source(self, source: str) -> None:
        """Forget an earlier failed attempt at `source` (its row and drop counts). The other rows of a
        source are only ever written with its `sources` row: without one there is nothing to forget."""
        if self.con.execute("SELECT 1 FROM sources WHERE source = ?", [source]).fetchone() is None:
            return
        self.con.execute("DELETE FROM band_files WHERE source = ?", [source])
        self.con.execute("DELETE FROM drops WHERE source = ?", [source])
        self.con.execute("DELETE FROM source_languages WHERE source = ?", [source])
        self.con.execute("DELETE FROM source_files WHERE source = ?", [source])
        self.con.execute("DELETE FROM sources WHERE source = ?", [source])

    def _write_source_row(self, outcome: InputOutcome, run_id: str, n_docs: int, n_dups: int) -> None:
        self.con.execute(
            "INSERT INTO sources (source, crawl, status, n_records, n_documents, n_duplicates, error, run_id, "
            "started_at, finished_at, n_selected, bytes_fetched, bytes_whole) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                outcome.source,
                outcome.crawl,
                outcome.status,
                outcome.n_records,
                n_docs,
                n_dups,
                outcome.error,
                run_id,
                outcome.started_at,
                outcome.finished_at,
                outcome.n_selected,
                outcome.bytes_fetched,
                outcome.bytes_whole,
            ],
        )
        files = sorted((outcome.source, warc, *cost) for warc, cost in outcome.files.items())
        languages = sorted((outcome.source, lang, *counts) for lang, counts in outcome.languages.items())
        drops = sorted((outcome.source, reason, n) for reason, n in outcome.drops.items() if n)
        self._insert_values("source_files", files)
        self._insert_values("source_languages", languages)
        self._insert_values("drops", drops)

    def _insert_values(self, table: str, rows: Sequence[tuple[object, ...]]) -> None:
        """Insert `rows` (all of one width) into `table` with one statement (executemany runs one per row)."""
        if not rows:
            return
        row = f"({', '.join(['?'] * len(rows[0]))})"
        self.con.execute(f"INSERT INTO {table} VALUES {', '.join([row] * len(rows))}", [v for r in rows for v in r])
