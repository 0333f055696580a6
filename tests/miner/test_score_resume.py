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
from toxmine.miner.score_units import ScoreUnitTask, _tasks, score_documents
from toxmine.miner.scoring_tables import handled_documents
from toxmine.miner.store import Store


def _tasks_of(store: Store, work: Path, task_docs: int = 5) -> list[ScoreUnitTask]:
    os.makedirs(work, exist_ok=True)
    return list(_tasks(store, store.path, HashScorer(), PromptOptions(), str(work), task_docs, 64))


def _task_keys(store: Store, work: Path) -> list[str]:
    return [task.key for task in _tasks_of(store, work)]


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


def test_a_unit_failing_midway_on_a_shared_cache_leaves_the_next_unit_whole(
    tmp_path: Path, demo_pages: list[RealPage]
) -> None:
    """An actor's cache outlives a unit that fails after some pages: the next unit's files hold
    its own prompts and handled documents only, and every score the cache made goes out once."""
    import dataclasses

    import duckdb

    from toxmine.miner.score_units import ScoreCache, score_unit

    db = mined_corpus(tmp_path, demo_pages, every=3)
    work = tmp_path / "work"
    with Store(str(db)) as store:
        tasks = [dataclasses.replace(t, page_size=2, score_batch=4) for t in _tasks_of(store, work, 6)]
    assert len(tasks) >= 3
    cache = ScoreCache()
    first = score_unit(HashScorer(), tasks[0], cache)
    cached = cache.store.con.execute("SELECT count(*) FROM scores").fetchone()
    failing = HashScorer(fail_after=60)  # scores its first pages, then fails
    with pytest.raises(ToxmineError, match="scoring backend went away"):
        score_unit(failing, tasks[1], cache)
    unsent = cache.store.con.execute("SELECT count(*) FROM scores").fetchone()
    assert cached is not None and unsent is not None and unsent[0] > cached[0]  # its first pages' scores
    after = score_unit(HashScorer(), tasks[2], cache)
    con = duckdb.connect()
    docs = {r[0] for r in con.execute("SELECT doc_id FROM read_parquet(?)", [after.done_path]).fetchall()}
    prompted = {
        r[0] for r in con.execute("SELECT DISTINCT doc_id FROM read_parquet(?)", [after.prompts_path]).fetchall()
    }
    assert prompted <= docs and len(docs) == after.documents
    sent = con.execute("SELECT count(*), count(DISTINCT text_hash || attribute) FROM read_parquet(?)",
                       [[first.scores_path, after.scores_path]]).fetchone()  # fmt: skip
    made = cache.store.con.execute("SELECT count(*) FROM scores").fetchone()
    cache.close()
    assert sent is not None and sent[0] == sent[1] and (sent[0],) == made
