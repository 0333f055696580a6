"""Small corpora built from the shipped demo pages: a real WARC, mined (and scored) into DuckDB."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import duckdb
from plugin_scorers import HashScorer
from warc_builder import Page, RealPage, write_warc

from toxmine.miner.mine import mine
from toxmine.miner.score_units import score_documents
from toxmine.miner.sources import LocalFile
from toxmine.miner.store import Store, migrations


def mined_corpus(folder: Path, demo_pages: list[RealPage], every: int, score: bool = False) -> Path:
    """Every `every`-th demo page written to a WARC, mined into `folder/corpus.duckdb`, and
    scored with the deterministic HashScorer plug-in when `score` is set."""
    warc = folder / "sample.warc.gz"
    write_warc(warc, [Page(p.url, p.payload, content_type=p.content_type) for p in demo_pages[::every]])
    db = folder / "corpus.duckdb"
    mine([LocalFile(str(warc))], str(db))
    if score:
        with Store(str(db)) as store:
            score_documents(store, HashScorer())
    return db


def warcs_of(folder: Path, chunks: list[list[RealPage]]) -> list[LocalFile]:
    """One WARC file per chunk of pages, `folder/part-<i>.warc.gz`; each page's URL gets `#<i>`, so
    pages repeated across chunks are duplicates by text, not by record."""
    folder.mkdir(parents=True, exist_ok=True)
    files = []
    for i, chunk in enumerate(chunks):
        path = folder / f"part-{i}.warc.gz"
        write_warc(path, [Page(f"{p.url}#{i}", p.payload, content_type=p.content_type) for p in chunk])
        files.append(LocalFile(str(path)))
    return files


def copy_database(source: Path, target: Path) -> None:
    """A copy of a mined database with its `.data` folder (band files, Parquet layout files)."""
    target.write_bytes(source.read_bytes())
    shutil.copytree(str(source) + ".data", str(target) + ".data")


def db_snapshot(db: Path) -> dict[str, list[tuple[Any, ...]]]:
    """What must match between two mining runs on the same inputs (not timings or run ids)."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            "documents": con.execute("SELECT * FROM documents ORDER BY doc_id").fetchall(),
            "doc_minhash": con.execute("SELECT * FROM doc_minhash ORDER BY seq").fetchall(),
            "sources": con.execute(
                "SELECT source, crawl, status, n_records, n_documents, n_duplicates, error FROM sources ORDER BY source"
            ).fetchall(),
            "drops": con.execute("SELECT * FROM drops ORDER BY source, reason").fetchall(),
        }
    finally:
        con.close()


def database_at_version(path: Path, version: int) -> duckdb.DuckDBPyConnection:
    """A database file with the migrations up to `version` applied, as an older toxmine left it (open:
    the caller adds its rows and closes it)."""
    con = duckdb.connect(str(path))
    con.execute("CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, name VARCHAR, applied_at TIMESTAMP)")
    for number, name, sql in migrations():
        if number <= version:
            con.execute(sql)
            con.execute("INSERT INTO schema_migrations VALUES (?, ?, now())", [number, name])
    return con
