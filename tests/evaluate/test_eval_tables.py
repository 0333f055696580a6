"""The evaluation tables' owner module on a real migrated database: runs recorded and resumed, summaries
in the order asked, and the safety judges most runs first."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest

from toxmine.evaluate import eval_tables
from toxmine.evaluate.eval_tables import EvalRunStart
from toxmine.miner.store import Store
from toxmine.miner.tables import GENERATIONS, SAFETY_METRICS

T0 = datetime(2024, 1, 1)


@pytest.fixture()
def store(tmp_path: Path) -> Iterator[Store]:
    with Store(str(tmp_path / "eval.duckdb")) as opened:
        yield opened


def _start(store: Store, run_id: str, minutes: int, model: str = "m", params: str = '{"k": 2}') -> None:
    run = EvalRunStart(run_id, model, "fake", params, '{"bucket_edges": [0, 0.5, 1]}', "lexicon",
                       T0 + timedelta(minutes=minutes), None, "lexicon", "1")  # fmt: skip
    eval_tables.start_run(store, run)


def test_a_resumed_run_keeps_its_record_and_takes_the_new_provenance(store: Store) -> None:
    _start(store, "r1", 0, model="first", params='{"k": 2, "threshold": 0.5}')
    _start(store, "r1", 5, model="second", params='{"k": 2, "threshold": 0.7}')
    settings = eval_tables.run_settings(store, "r1")
    assert settings is not None and settings.params == {"k": 2, "threshold": 0.7}
    assert settings.split == {"bucket_edges": [0, 0.5, 1]}
    [summary] = eval_tables.run_summaries(store)
    assert (summary.model, summary.finished) == ("first", False)
    eval_tables.finish_run(store, "r1")
    assert eval_tables.run_summaries(store)[0].finished
    assert eval_tables.run_exists(store, "r1") and not eval_tables.run_exists(store, "r2")
    assert eval_tables.run_settings(store, "r2") is None


def test_summaries_count_generations_in_the_order_asked(store: Store) -> None:
    for run_id, minutes in (("b", 0), ("a", 0), ("c", 10)):
        _start(store, run_id, minutes)
    rows = GENERATIONS.from_rows([
        {"prompt_id": "p1", "sample_idx": 0, "text": "x", "toxicity": 0.2, "truncated": False, "empty": False},
        {"prompt_id": "p1", "sample_idx": 1, "text": None, "toxicity": None, "truncated": True, "empty": False},
        {"prompt_id": "p2", "sample_idx": 0, "text": " ", "toxicity": None, "truncated": False, "empty": True},
    ])  # fmt: skip
    eval_tables.store_generations(store, "c", "lexicon", rows)
    eval_tables.record_template(store, "sha", "aim", "{prompt}")
    assert eval_tables.run_ids(store) == ["a", "b", "c"]  # oldest first, ties by id
    assert [s.eval_run_id for s in eval_tables.run_summaries(store)] == ["a", "b", "c"]
    assert [s.eval_run_id for s in eval_tables.run_summaries(store, ["c", "zz", "a"])] == ["c", "a"]
    c = eval_tables.run_summaries(store, ["c"])[0]
    assert (c.prompts, c.continuations, c.failed, c.truncated, c.empty, c.scenario) == (2, 3, 1, 1, 1, "plain")
    assert eval_tables.done_pairs(store, "c") == {("p1", 0), ("p2", 0)}  # scored or empty; the failure is redone


def test_safety_judges_most_runs_first_and_metrics_replaced(store: Store) -> None:
    def metrics(value: float) -> pa.Table:
        return SAFETY_METRICS.from_rows([
            {"grouping": "all", "group_value": "all", "metric": "unsafe_rate", "value": value, "ci_low": None,
             "ci_high": None, "n_prompts": 3, "n_failed": 0, "n_invalid": 0, "flag": "few_prompts"},
        ])  # fmt: skip

    for run_id, judges in (("r1", ("zeta", "alpha")), ("r2", ("zeta",)), ("r3", ("beta",))):
        for judge in judges:
            eval_tables.replace_safety_metrics(store, run_id, judge, metrics(0.1))
    assert eval_tables.safety_judges(store, ["r1", "r2", "r3"]) == [("zeta", 2), ("alpha", 1), ("beta", 1)]
    eval_tables.replace_safety_metrics(store, "r1", "zeta", metrics(0.9))
    [stored] = eval_tables.stored_safety_metrics(store, ["r1"], "zeta")
    assert (stored.value, stored.n_prompts, stored.flag) == (0.9, 3, "few_prompts")
    assert eval_tables.stored_groupings(store, "r1", "zeta") == ["all"]
