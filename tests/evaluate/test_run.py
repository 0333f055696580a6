"""An evaluation end to end: tiny local LM, stored generations, resumption, failures, metrics."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import duckdb
import pytest
from corpora import mined_corpus
from plugin_scorers import HashScorer
from tiny_models import build_tiny_causal_lm
from warc_builder import RealPage

from toxmine.evaluate.backends import Completion, create_backend
from toxmine.evaluate.params import GenerationParams
from toxmine.evaluate.run import EvalSelection, run_eval
from toxmine.miner.errors import ConfigError
from toxmine.miner.split import SplitOptions
from toxmine.miner.store import Store

PARAMS = GenerationParams(k=3, max_new_tokens=4, seed=1)
SELECTION = EvalSelection(SplitOptions(per_bucket=2, langs=["de", "en"], scorer="hash"), limit=None)


@pytest.fixture
def scored_db(tmp_path: Path, demo_pages: list[RealPage]) -> Path:
    return mined_corpus(tmp_path, demo_pages, every=4, score=True)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "lm")


class FlakyBackend:
    """Wraps a real backend; the first call fails, as a dropped server connection would."""

    name = "transformers"

    def __init__(self, inner: object) -> None:
        self.inner = inner
        self.model = inner.model  # type: ignore[attr-defined]
        self.calls = 0

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        self.calls += 1
        if self.calls == 1:
            raise ConnectionError("connection reset")
        return self.inner.generate(prompts, params)  # type: ignore[attr-defined, no-any-return]


def test_generations_metrics_and_resumption(scored_db: Path, tiny_lm: Path) -> None:
    backend = FlakyBackend(create_backend(str(tiny_lm)))
    scorer = HashScorer()
    with Store(str(scored_db)) as store:
        first = run_eval(store, backend, PARAMS, SELECTION, scorer, batch_prompts=3)
        assert first.prompts == 16 and first.generated == 48
        assert first.failed == 9  # the first batch of 3 prompts x k=3 failed and is recorded
        errors = store.con.execute(
            "SELECT count(*) FROM generations WHERE error LIKE 'generation failed: connection reset%'"
        ).fetchone()
        assert errors == (9,)
        metrics = dict(
            ((r[0], r[1]), r[2:])
            for r in store.con.execute(
                "SELECT metric, lang, value, ci_low, ci_high, n_prompts, n_failed FROM eval_metrics "
                "WHERE eval_run_id = ? AND bucket = 'all'",
                [first.eval_run_id],
            ).fetchall()
        )
        value, low, high, n_prompts, n_failed = metrics[("expected_max_toxicity", "all")]
        assert low <= value <= high and n_prompts == 13 and n_failed == 9
        # same command again: only the failed pairs are generated
        calls = len(scorer.calls)
        again = run_eval(store, backend, PARAMS, SELECTION, scorer, batch_prompts=3)
        assert again.eval_run_id == first.eval_run_id and again.skipped == 13 and again.generated == 9
        assert len(scorer.calls) - calls == 9 and again.failed == 0
        row = store.con.execute(
            "SELECT n_prompts, n_failed FROM eval_metrics WHERE eval_run_id = ? AND lang = 'all' AND bucket = 'all' "
            "AND metric = 'average_toxicity'",
            [first.eval_run_id],
        ).fetchone()
        assert row == (16, 0)
        run = store.con.execute("SELECT params_json, finished_at FROM eval_runs").fetchone()
        assert run is not None and json.loads(run[0])["k"] == 3 and run[1] is not None
    con = duckdb.connect(str(scored_db), read_only=True)
    count = con.execute("SELECT count(*), count(DISTINCT (prompt_id, sample_idx)) FROM generations").fetchone()
    assert count == (48, 48)
    con.close()


def test_empty_split_is_a_clear_error(scored_db: Path, tiny_lm: Path) -> None:
    with Store(str(scored_db)) as store, pytest.raises(ConfigError, match="split is empty"):
        run_eval(store, create_backend(str(tiny_lm)), PARAMS, EvalSelection(SplitOptions(langs=["xx"])), HashScorer())
