"""Mining and scoring on a real local Ray cluster: same database as the local executor, a killed
worker retried without a lost or doubled shard, resumption across runs, and scorer actors."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import psutil
import pytest
import ray
from corpora import db_snapshot, warcs_of
from warc_builder import RealPage

from toxmine.miner.mine import mine, work_dir_for
from toxmine.miner.process import ProcessOptions
from toxmine.miner.prompts import PromptOptions
from toxmine.miner.score_units import score_documents
from toxmine.miner.scoring import create_scorer
from toxmine.miner.scoring.ray_pool import RayScorerPool
from toxmine.miner.sources import LocalFile
from toxmine.miner.store import Store
from toxmine.miner.units import MineTask, mine_unit, plan_units

pytestmark = pytest.mark.ray


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[None]:
    """One local Ray instance (2 CPUs) for the in-process tests of this module."""
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _inputs(folder: Path, demo_pages: list[RealPage]) -> list[LocalFile]:
    """Three WARC files whose pages repeat across files (exact and near duplicates between shards)."""
    pages = demo_pages[::2]
    return warcs_of(folder, [pages[0::3], pages[1::3], pages[2::3] + pages[0:12]])  # the third repeats the first


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> tuple[list[LocalFile], Path]:
    """The inputs and the database the local executor makes of them."""
    folder = tmp_path_factory.mktemp("ray-ref")
    inputs = _inputs(folder / "warc", demo_pages)
    db = folder / "local.duckdb"
    mine(inputs, str(db), workers=1)
    return inputs, db


def test_ray_executor_equals_local(ray_cluster: None, reference: tuple[list[LocalFile], Path], tmp_path: Path) -> None:
    inputs, local = reference
    db = tmp_path / "ray.duckdb"
    report = mine(inputs, str(db), executor="ray", workers=2)
    assert report.processed == 3 and report.ok and report.duplicates >= 5
    assert db_snapshot(db) == db_snapshot(local)  # same kept doc_ids, dup_of links, signatures, sources
    assert not Path(work_dir_for(str(db))).exists()  # every unit stored, then its files removed
    con = duckdb.connect(str(db), read_only=True)
    config = json.loads(con.execute("SELECT config_json FROM runs").fetchone()[0])
    cross = con.execute(
        "SELECT count(*) FROM documents d JOIN documents k ON d.dup_of = k.doc_id WHERE d.warc_file <> k.warc_file"
    ).fetchone()[0]
    con.close()
    assert config["executor"] == "ray" and cross >= 5  # duplicates found across shards


def test_resume_reuses_finished_shards_and_skips_loaded_inputs(
    ray_cluster: None, reference: tuple[list[LocalFile], Path], tmp_path: Path
) -> None:
    inputs, local = reference
    db = tmp_path / "resume.duckdb"
    first = mine(inputs[:1], str(db), executor="ray")
    assert first.processed == 1
    # an interrupted run left the third input's unit mined but not stored
    units = Path(work_dir_for(str(db))) / "units"
    with Store(str(db)) as store:  # the options as mine() resolves them against the database (its hash scheme)
        options = ProcessOptions(dedup=ProcessOptions().dedup.for_database(store.settings()))
    unit = plan_units([inputs[2]], options)[0]
    mine_unit(MineTask(unit, options, str(units)))
    marker = units / f"{unit.key}.json"
    note = json.loads(marker.read_text())
    note["outcome"]["n_records"] += 1000  # a mark that shows whether the unit is reused or made again
    marker.write_text(json.dumps(note))
    second = mine(inputs, str(db), executor="ray")
    assert (second.skipped, second.processed) == (1, 2)
    snapshot, expected = db_snapshot(db), db_snapshot(local)
    assert snapshot["documents"] == expected["documents"] and snapshot["doc_minhash"] == expected["doc_minhash"]
    records = {row[0]: row[3] for row in snapshot["sources"]}
    assert records[inputs[2].name] == {row[0]: row[3] for row in expected["sources"]}[inputs[2].name] + 1000
    assert not Path(work_dir_for(str(db))).exists()


def test_scorer_actor_pool_scores_like_a_local_scorer(
    ray_cluster: None, reference: tuple[list[LocalFile], Path], tmp_path: Path
) -> None:
    _, local = reference
    copies = [tmp_path / "a.duckdb", tmp_path / "b.duckdb"]
    for copy in copies:
        copy.write_bytes(local.read_bytes())
    pool = RayScorerPool("lexicon", actors=2, chunk=16)
    scorers = [create_scorer("lexicon"), pool]
    assert (pool.name, pool.version) == (scorers[0].name, scorers[0].version)
    for copy, scorer in zip(copies, scorers, strict=True):
        with Store(str(copy)) as store:
            report = score_documents(store, scorer, PromptOptions(), score_batch=100)
            assert report.prompts > 50
    pool.close()
    query = "SELECT prompt_id, toxicity, prompt_toxicity, continuation_toxicity, bucket, scorer_version FROM prompts"
    rows = [duckdb.connect(str(c), read_only=True).execute(query + " ORDER BY prompt_id").fetchall() for c in copies]
    assert rows[0] == rows[1]


def _scoring_tables(db: Path) -> dict[str, list[tuple[object, ...]]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return {
            "prompts": con.execute(
                "SELECT * EXCLUDE (source, category, harmful, attributes_json) FROM prompts ORDER BY prompt_id"
            ).fetchall(),
            "scores": con.execute("SELECT * FROM scores ORDER BY ALL").fetchall(),
            "scored_docs": con.execute("SELECT * FROM scored_docs ORDER BY ALL").fetchall(),
        }
    finally:
        con.close()


def test_actors_score_the_stored_units_like_a_local_run(
    ray_cluster: None, reference: tuple[list[LocalFile], Path], tmp_path: Path
) -> None:
    """Actors read each unit's documents themselves (the database's tables, or the Parquet layout's
    files) and return prompt files: the same prompts, scores and handled documents as score_documents."""
    inputs, local = reference
    here, tables = tmp_path / "here.duckdb", tmp_path / "tables.duckdb"
    for copy in (here, tables):
        copy.write_bytes(local.read_bytes())
    parquet = tmp_path / "parquet.duckdb"
    mine(inputs, str(parquet), layout="parquet", executor="ray", workers=2)
    with Store(str(here)) as store:
        expected = score_documents(store, create_scorer("lexicon"), PromptOptions(), score_batch=100)
    pool = RayScorerPool("lexicon", actors=2, chunk=16)
    try:
        for db in (tables, parquet):
            with Store(str(db)) as store:
                report = score_documents(store, pool, PromptOptions(), score_batch=100, run=pool.score_units)
            assert (report.documents, report.prompts) == (expected.documents, expected.prompts)
            assert _scoring_tables(db) == _scoring_tables(here)
            assert not Path(str(db) + ".scoring").exists()
    finally:
        pool.close()
    assert expected.prompts > 50


def _ray_workers_of(parent: int) -> list[psutil.Process]:
    """Ray worker processes started under process `parent` that are running a mining task now."""
    found = []
    for process in psutil.Process(parent).children(recursive=True):
        try:
            if "mine_unit" in " ".join(process.cmdline()):
                found.append(process)
        except psutil.Error:
            continue
    return found


@pytest.mark.subprocess
def test_cli_ray_run_survives_a_killed_worker(reference: tuple[list[LocalFile], Path], tmp_path: Path) -> None:
    """`toxmine mine --executor ray` starts its own local Ray instance; SIGKILL one worker while it
    runs a task: Ray retries the task and the database equals the local executor's. Then the
    prompts are scored by the scorer actors."""
    inputs, local = reference
    db = tmp_path / "cli.duckdb"
    cmd = [sys.executable, "-m", "toxmine", "mine", *(s.name for s in inputs), "--db", str(db), "--executor", "ray",
           "--workers", "2"]  # fmt: skip
    proc = subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CI": "1"})  # fmt: skip
    killed: list[int] = []

    def kill_one() -> None:
        deadline = time.monotonic() + 120
        while not killed and proc.poll() is None and time.monotonic() < deadline:
            workers = _ray_workers_of(proc.pid)
            if workers:
                workers[0].send_signal(signal.SIGKILL)
                killed.append(workers[0].pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_one)
    killer.start()
    out, err = proc.communicate(timeout=300)
    killer.join()
    assert proc.returncode == 0, err[-3000:]
    assert killed, "no Ray worker was seen running a mining task"
    assert db_snapshot(db) == db_snapshot(local)
    assert "3 inputs processed" in out
    con = duckdb.connect(str(db), read_only=True)
    scored = con.execute("SELECT count(*), min(scorer), max(scorer) FROM prompts").fetchone()
    con.close()
    assert scored[0] > 50 and scored[1] == scored[2] == "lexicon"  # scored by the actor pool


@pytest.mark.subprocess
def test_cli_score_on_ray_actors(reference: tuple[list[LocalFile], Path], tmp_path: Path) -> None:
    """`toxmine score --executor ray`: a database mined earlier is scored by Ray actors, as locally."""
    _, local = reference
    on_ray, here = tmp_path / "ray.duckdb", tmp_path / "here.duckdb"
    for copy in (on_ray, here):
        copy.write_bytes(local.read_bytes())
    command = [sys.executable, "-m", "toxmine", "score", "--db"]
    env = {**os.environ, "CI": "1"}
    ray_run = subprocess.run([*command, str(on_ray), "--executor", "ray", "--workers", "2", "--scorer-actors", "2"],
                             capture_output=True, text=True, timeout=300, env=env)  # fmt: skip
    local_run = subprocess.run([*command, str(here)], capture_output=True, text=True, timeout=300, env=env)
    assert ray_run.returncode == local_run.returncode == 0, ray_run.stderr[-3000:]
    query = "SELECT prompt_id, toxicity, bucket, scorer, scorer_version FROM prompts ORDER BY prompt_id"
    rows = [duckdb.connect(str(db), read_only=True).execute(query).fetchall() for db in (on_ray, here)]
    assert len(rows[0]) > 50 and rows[0] == rows[1]
