"""What `toxmine eval` tells its user as it runs: the plan, a bar over the generations with its total, a
line per stage with its duration; and no loading bars of its libraries (unless -v)."""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from pathlib import Path

import pytest
from corpora import mined_corpus
from plugin_scorers import HashScorer
from tiny_models import build_tiny_causal_lm
from warc_builder import RealPage

from toxmine.cli import main
from toxmine.evaluate.backends import Backend, Completion, create_backend
from toxmine.evaluate.eval_progress import EvalPlan, generation_progress
from toxmine.evaluate.params import GenerationParams
from toxmine.evaluate.run import EvalSelection, run_eval
from toxmine.miner.progress import QUIET_ENVIRONMENT
from toxmine.miner.split import SplitOptions
from toxmine.miner.store import Store

THIRD_PARTY_BARS = ("Loading weights", "it/s]", "Writing model shards")


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "lm")


@pytest.fixture(scope="module")
def db(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> Path:
    """One corpus for the module: each test evaluates its own --limit, so each is a run of its own."""
    return mined_corpus(tmp_path_factory.mktemp("corpus"), demo_pages, every=8, score=True)


@pytest.fixture(autouse=True)
def _hermetic_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """The quieting switches `main` sets in the environment are undone after each test."""
    for key in QUIET_ENVIRONMENT:
        monkeypatch.setenv(key, "")  # remembers the value before (or its absence) to restore it
        monkeypatch.delenv(key)


def _eval(db: Path, model: Path, limit: int, *extra: str) -> list[str]:
    return ["eval", "--db", str(db), "--model", str(model), "--k", "2", "--max-new-tokens", "3", "--limit", str(limit),
            *extra]  # fmt: skip


def test_eval_states_its_plan_a_bar_with_a_total_and_each_stage(
    db: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_eval(db, model, 4, "--progress", "--judge", "heuristic")) == 0
    err = capsys.readouterr().err
    assert "plan: 4 prompts" in err and "x 2 samples = 8 generations" in err, err
    assert err.index("plan:") < err.index("generate: ")  # stated before generating
    assert re.search(r"generate: 100%\|[^\r\n]*\| 8/8 \[[\d:]+<[\d:]+, +[\d.]+(gen/s|s/gen)\]", err), (
        err
    )  # total, rate, ETA
    assert re.search(r"judge: 100%\|[^\r\n]*\| 8/8 \[", err) and not re.search(r"judge: 0verdict \[", err), (
        err
    )  # a total from the start
    stages = (
        "load model: done in",
        "generate: 8 generations in",
        "score: 8 continuations scored by lexicon in",
        "metrics: computed in",
        "judge: 8 continuations labelled in",
        "safety metrics: computed in",
    )
    for stage in stages:
        assert re.search(re.escape(stage) + r" \d+\.\ds", err), (stage, err)
    assert not any(bar in err for bar in THIRD_PARTY_BARS), err
    assert main(_eval(db, model, 4, "--no-progress")) == 0  # resumed: everything is stored
    again = capsys.readouterr().err
    assert "= 8 generations; 8 already stored, 0 to generate" in again and "/8 [" not in again, again


def test_no_library_bars_when_stderr_is_not_a_terminal(
    db: Path, model: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(_eval(db, model, 3)) == 0  # capsys' stderr is not a terminal: no bar of ours either
    err = capsys.readouterr().err
    assert not any(bar in err for bar in THIRD_PARTY_BARS) and "%|" not in err, err
    assert "generate: 6 generations in" in err


def test_without_a_bar_progress_is_a_plain_line_now_and_then(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="toxmine")
    with generation_progress(bar=False, every_s=0) as progress:
        progress.plan(EvalPlan(prompts=6, samples_per_prompt=2, stored=4))
        progress.advance(2)
        progress.advance(6)  # the last batch: the stage's own line follows, no progress line
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1 and re.fullmatch(r"generate: 2/8 generations \(25%\), [\d.,]+/s, about \d+:\d\d left",
                                            lines[0]), lines  # fmt: skip


class _WholeBatches:
    """The same model behind a backend that takes each batch in one call (as vLLM and HTTP backends do)."""

    def __init__(self, inner: Backend) -> None:
        self.inner, self.name, self.model = inner, inner.name, inner.model

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        return self.inner.generate(prompts, params)


def test_the_bar_moves_per_prompt_when_the_backend_generates_prompt_by_prompt(db: Path, model: Path) -> None:
    local = create_backend(str(model))
    params = GenerationParams(k=2, max_new_tokens=2)
    for backend, expected in ((local, [2] * 5), (_WholeBatches(local), [10])):
        plans: list[EvalPlan] = []
        moves: list[int] = []
        with Store(db) as store:
            run_eval(store, backend, params, EvalSelection(SplitOptions(), limit=5), HashScorer(), batch_prompts=8,
                     progress=moves.append, on_plan=plans.append)  # fmt: skip
        assert [(p.prompts, p.planned, p.todo) for p in plans] == [(5, 10, 10)] and moves == expected


def test_verbose_keeps_the_libraries_own_bars(db: Path, model: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(_eval(db, model, 2, "-v")) == 0
    assert "Loading weights" in capsys.readouterr().err
    assert main(_eval(db, model, 2)) == 0  # and the next command without -v is quiet again
    assert "Loading weights" not in capsys.readouterr().err
