"""SIGKILL at every stage, then the same command again: the database equals an uninterrupted
run's, and no finished unit is mined again. The driver is a real `toxmine mine` process killed
when its log says a stage is under way; workers are real Ray workers that die (SIGKILL) in the
first task of each stage, which Ray then retries."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import duckdb
import pytest
import ray
from corpora import copy_database, db_snapshot, warcs_of
from plugin_scorers import HashScorer
from warc_builder import RealPage

from toxmine.miner.executors import RayExecutor, RayOptions, TaskFailed
from toxmine.miner.mine import mine, work_dir_for
from toxmine.miner.score_units import score_documents
from toxmine.miner.scoring import create_scorer
from toxmine.miner.scoring.ray_pool import RayScorerPool
from toxmine.miner.sources import LocalFile
from toxmine.miner.store import Store

T = TypeVar("T")
R = TypeVar("R")

pytestmark = [pytest.mark.slow, pytest.mark.subprocess]


def _inputs(folder: Path, demo_pages: list[RealPage]) -> list[str]:
    """Three WARC files whose pages repeat across files (duplicates between units)."""
    pages = demo_pages[::3]
    return [f.path for f in warcs_of(folder, [pages[0::3], pages[1::3], pages[2::3] + pages[0:10]])]


@pytest.fixture(scope="module")
def reference(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> tuple[list[str], Path]:
    folder = tmp_path_factory.mktemp("kills")
    paths = _inputs(folder / "warc", demo_pages)
    db = folder / "reference.duckdb"
    report = mine([LocalFile(p) for p in paths], str(db), unit_mb=0.02)
    assert report.ok and report.duplicates >= 5
    return paths, db


def _command(paths: list[str], db: Path) -> list[str]:
    return [sys.executable, "-m", "toxmine", "mine", *paths, "--db", str(db), "--no-score", "-v", "--partitions", "3",
            "--unit-mb", "0.02"]  # fmt: skip


# what the driver's log says while each stage is under way (the first task of the stage is done)
STAGES = {
    "mining": "mined unit",
    "buckets": "near-dedup buckets: 1/3",
    "components": "near-dedup cc000-large: 1/3",
    "labels": "near-dedup labels: 1/3",
    "decide": "near-dedup decide: 1/3",
    "finalize": "finalized",
    "commit": "documents (",
}


@pytest.mark.parametrize("stage", list(STAGES))
def test_driver_killed_at_each_stage_resumes_to_the_same_database(
    reference: tuple[list[str], Path], tmp_path: Path, stage: str
) -> None:
    paths, expected = reference
    db = tmp_path / "killed.duckdb"
    env = {**os.environ, "CI": "1"}
    proc = subprocess.Popen(_command(paths, db), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    first_log = []
    for line in proc.stderr:
        first_log.append(line)
        if STAGES[stage] in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "".join(first_log)[-3000:]
    finished_first = sum("mined unit" in line for line in first_log)
    rerun = subprocess.run(_command(paths, db), capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert db_snapshot(db) == db_snapshot(expected)
    mined_again, units = rerun.stderr.count("mining unit"), rerun.stderr.count("mined unit")
    assert mined_again == max(0, units - finished_first)  # finished units are never mined again
    assert not Path(work_dir_for(str(db))).exists()


def _die_in_first_attempt(job: tuple[Callable[[Any], Any], str, Any]) -> Any:
    """Run the task, except that the first task of each stage SIGKILLs its own worker first."""
    fn, flags, item = job
    flag = os.path.join(flags, fn.__name__)
    try:
        os.close(os.open(flag, os.O_CREAT | os.O_EXCL))
    except FileExistsError:
        return fn(item)
    os.kill(os.getpid(), signal.SIGKILL)
    raise AssertionError("unreachable")


class KillingRayExecutor(RayExecutor):
    """Ray tasks whose first task of every stage dies by SIGKILL mid-flight (then Ray retries it)."""

    def __init__(self, options: RayOptions, flags: Path) -> None:
        super().__init__(options)
        self.flags = flags

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R | TaskFailed]]:
        jobs = [(fn, str(self.flags), item) for item in items]
        yield from super().map_unordered(_die_in_first_attempt, jobs)  # type: ignore[arg-type]


@pytest.mark.ray
def test_ray_workers_killed_in_every_stage_are_retried(reference: tuple[list[str], Path], tmp_path: Path) -> None:
    paths, expected = reference
    (tmp_path / "flags").mkdir()
    ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])  # Ray workers cannot import this test module
    runner = KillingRayExecutor(RayOptions(num_cpus=2, max_retries=3), tmp_path / "flags")
    try:
        db = tmp_path / "ray.duckdb"
        report = mine([LocalFile(p) for p in paths], str(db), executor=runner, partitions=3, unit_mb=0.02)
    finally:
        runner.close()
    assert report.ok
    killed = set(os.listdir(tmp_path / "flags"))  # small-star rounds run only when a component is not yet a star
    # (and _merge_range is the band-file compaction: these inputs make more units than its fanout)
    assert killed - {"_small_star_task"} == {"mine_unit", "_bucket_task", "_large_star_task", "_label_task",
                                              "_decide_task", "finalize_unit", "_merge_range"}  # fmt: skip
    assert db_snapshot(db) == db_snapshot(expected)


@pytest.mark.ray
def test_a_scorer_actor_killed_mid_unit_is_restarted_and_the_unit_retried(
    reference: tuple[list[str], Path], tmp_path: Path
) -> None:
    """The actor scoring a unit dies by SIGKILL in its first batch: Ray restarts it, the unit is
    scored again, and the prompts equal a local run's."""
    _, mined = reference
    here, there = tmp_path / "here.duckdb", tmp_path / "there.duckdb"
    for copy in (here, there):
        copy_database(mined, copy)
    with Store(str(here)) as store:
        expected = score_documents(store, HashScorer())
    tests = str(Path(__file__).resolve().parents[1])
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             runtime_env={"env_vars": {"PYTHONPATH": tests}})  # fmt: skip
    try:
        pool = RayScorerPool("plugin_scorers:DyingOnceScorer", {"flag": str(tmp_path / "died")}, actors=1)
        with Store(str(there)) as store:
            report = score_documents(store, pool, run=pool.score_units)
        pool.close()
    finally:
        ray.shutdown()
    assert (tmp_path / "died").exists()
    assert (report.documents, report.prompts) == (expected.documents, expected.prompts) and expected.prompts > 20
    query = "SELECT prompt_id, toxicity, bucket FROM prompts ORDER BY prompt_id"
    rows = [duckdb.connect(str(db), read_only=True).execute(query).fetchall() for db in (here, there)]
    assert rows[0] == rows[1]


@pytest.mark.ray
@pytest.mark.parametrize("layout", ["tables", "parquet"])
def test_driver_killed_while_actors_score_resumes_to_the_same_prompts(
    reference: tuple[list[str], Path], tmp_path: Path, layout: str
) -> None:
    """`toxmine score --executor ray` killed after its first task is committed, then run again:
    the prompts equal a local scoring run's, each task committed once (with `--layout parquet`:
    its files recorded once in scored_files)."""
    paths, mined = reference
    here, there = tmp_path / "here.duckdb", tmp_path / "there.duckdb"
    copy_database(mined, here)
    if layout == "tables":
        copy_database(mined, there)
    else:
        assert mine([LocalFile(p) for p in paths], str(there), layout="parquet", unit_mb=0.02).ok
    with Store(str(here)) as store:
        score_documents(store, create_scorer("lexicon"))
    command = [sys.executable, "-m", "toxmine", "score", "--db", str(there), "--executor", "ray", "--workers", "2",
               "--scorer-actors", "1"]  # fmt: skip
    env = {**os.environ, "CI": "1"}
    proc = subprocess.Popen(command, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    seen = []
    for line in proc.stderr:
        seen.append(line)
        if "scored unit" in line:
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=120)
    assert proc.returncode == -signal.SIGKILL, "".join(seen)[-3000:]
    rerun = subprocess.run(command, capture_output=True, text=True, env=env, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    query = "SELECT prompt_id, toxicity, bucket, scorer FROM prompts ORDER BY prompt_id"
    rows = [duckdb.connect(str(db), read_only=True).execute(query).fetchall() for db in (here, there)]
    assert len(rows[0]) > 20 and rows[0] == rows[1]
    tasks = "SELECT count(*), count(DISTINCT path) FROM scored_files"
    recorded = duckdb.connect(str(there), read_only=True).execute(tasks).fetchone()
    assert recorded is not None and recorded[0] == recorded[1] and (recorded[0] > 1) == (layout == "parquet")
