"""Red-team: a resumed scoring run names its tasks as the stopped run did, so it reuses their
finished work (markers, files moved into the Parquet layout but not recorded) instead of scoring
them again; the names must not depend on the order the database returns rows in."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from corpora import mined_corpus
from plugin_scorers import HashScorer
from warc_builder import RealPage

from toxmine.miner.errors import ToxmineError
from toxmine.miner.prompts import PromptOptions
from toxmine.miner.score_units import _tasks, score_documents
from toxmine.miner.scoring_tables import handled_documents
from toxmine.miner.store import Store


def _task_keys(store: Store, work: Path) -> list[str]:
    os.makedirs(work, exist_ok=True)
    return [task.key for task in _tasks(store, store.path, HashScorer(), PromptOptions(), str(work), 5, 64)]


def test_task_names_do_not_depend_on_the_order_handled_documents_are_stored_in(
    tmp_path: Path, demo_pages: list[RealPage]
) -> None:
    db = mined_corpus(tmp_path, demo_pages, every=3)
    with Store(str(db)) as store:
        with pytest.raises(ToxmineError, match="failed on a batch"):  # a stopped run: some tasks committed
            score_documents(store, HashScorer(fail_after=150), task_docs=5)
        keys = _task_keys(store, tmp_path / "work")
        assert any(key.count(".") == 3 for key in keys)  # a unit with handled documents: its skip digest
        # the same rows stored in another order (as another run's tasks, or files, may leave them)
        store.con.execute("CREATE TEMP TABLE handled AS SELECT * FROM scored_docs ORDER BY doc_id DESC")
        store.con.execute("DELETE FROM scored_docs; INSERT INTO scored_docs SELECT * FROM handled")
        assert _task_keys(store, tmp_path / "work") == keys


def test_the_handled_documents_of_a_large_unit_come_back_in_one_order(tmp_path: Path) -> None:
    """At scale DuckDB joins in parallel and returns rows in any order: the documents a unit's
    tasks skip (their digest names the tasks) must come back the same on every run."""
    with Store(str(tmp_path / "big.duckdb")) as store:
        store.con.execute("SET threads = 4")
        store.con.execute(
            "INSERT INTO doc_minhash SELECT 'd' || lpad(i::VARCHAR, 7, '0'), i, ''::BLOB FROM range(300000) t(i)"
        )
        store.con.execute("INSERT INTO scored_docs SELECT doc_id, 'hash', 1 FROM doc_minhash ORDER BY hash(seq)")
        runs = {handled_documents(store, "hash", 0, 299999) for _ in range(4)}
    assert len(runs) == 1
