"""Red-team review of issue 11: places where a stored or reported number could still be wrong or mislabeled,
each reproduced on real DuckDB files, real local models and real migrations."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from corpora import database_at_version, mined_corpus
from plugin_scorers import HashScorer
from tiny_models import build_tiny_causal_lm
from warc_builder import RealPage

from toxmine.evaluate.backends import Completion, create_backend
from toxmine.evaluate.metrics import MetricOptions, PromptScores, compute_balanced, compute_metrics, mean_with_ci
from toxmine.evaluate.params import PRESETS, GenerationParams
from toxmine.evaluate.protocols import PROTOCOLS, departures
from toxmine.evaluate.report import collect_report, render_markdown
from toxmine.evaluate.run import EvalSelection, load_prompt_scores, run_eval, store_metrics
from toxmine.miner.errors import ConfigError
from toxmine.miner.split import SplitOptions
from toxmine.miner.store import Store

PARAMS = GenerationParams(k=2, max_new_tokens=3, seed=1)


class ScriptedBackend:
    """A model whose answers the test controls (the rest of the run is real)."""

    name = "scripted"
    model = "scripted"

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        return [[Completion("you are an idiot") for _ in range(params.k)] for _ in prompts]


@pytest.fixture(scope="module")
def scored_db(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> Path:
    return mined_corpus(tmp_path_factory.mktemp("db"), demo_pages, every=4, score=True)


def _copy(db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.duckdb"
    target.write_bytes(db.read_bytes())
    return target


def test_rerun_with_another_min_prompts_uses_and_records_it(scored_db: Path, tmp_path: Path) -> None:
    """min_prompts is left out of the run id (metrics are recomputed), but a rerun kept the first start's
    params_json, so the stored metrics ignored the new --min-prompts and still recorded the old one."""
    db = _copy(scored_db, tmp_path)
    selection = EvalSelection(SplitOptions(per_bucket=2, langs=["de", "en"], scorer="hash"))
    with Store(str(db)) as store:
        first = run_eval(store, ScriptedBackend(), PARAMS, selection, HashScorer(), metric_options=MetricOptions())
        again = run_eval(store, ScriptedBackend(), PARAMS, selection, HashScorer(),
                         metric_options=MetricOptions(min_prompts=2))  # fmt: skip
        assert again.eval_run_id == first.eval_run_id and again.skipped == again.prompts
        stored = json.loads(store.con.execute(
            "SELECT params_json FROM eval_runs WHERE eval_run_id = ?", [first.eval_run_id]).fetchone()[0])  # type: ignore[index]  # fmt: skip
        flag = store.con.execute(
            "SELECT flag, ci_low FROM eval_metrics WHERE eval_run_id = ? AND lang = 'all' AND bucket = 'all' "
            "AND metric = 'expected_max_toxicity'",
            [first.eval_run_id],
        ).fetchone()
    assert first.prompts >= 2
    assert stored["min_prompts"] == 2
    assert flag is not None and flag[0] is None and flag[1] is not None


@pytest.mark.parametrize("bad", [0, -3])
def test_min_prompts_below_one_is_refused(bad: int) -> None:
    with pytest.raises(ConfigError, match="--min-prompts must be at least 1"):
        MetricOptions(min_prompts=bad)


def test_one_prompt_never_gets_a_zero_width_interval() -> None:
    """Bug 8 through the back door: with --min-prompts 1 a one-prompt cell got a bootstrap interval [x, x]."""
    one = [PromptScores("p", "de", 0, (0.94, 0.2))]
    options = MetricOptions(min_prompts=1)
    for value in [*compute_metrics(one, options), *compute_balanced(one, options)]:
        assert value.ci_low is None or value.ci_low < value.ci_high, value  # type: ignore[operator]
    assert mean_with_ci([0.94], min_prompts=1)[1:] == (None, None)
    assert mean_with_ci([0.2, 0.9], resamples=0)[1:] == (None, None)  # no resamples: no interval, not [m, m]


def test_report_threshold_override_is_shown_and_is_a_departure(scored_db: Path, tmp_path: Path) -> None:
    """`toxmine report --threshold 0.3` recomputed every figure at 0.3 but the provenance table still said 0.5
    and the comparability table could still call the run comparable."""
    db = _copy(scored_db, tmp_path)
    selection = EvalSelection(SplitOptions(per_bucket=1, langs=["de"], scorer="hash"))
    with Store(str(db)) as store:
        run_eval(store, ScriptedBackend(), PARAMS, selection, HashScorer())
        data = collect_report(store, threshold=0.3)
    text = render_markdown(data)
    assert "| threshold | 0.3 |" in text
    comparability = text.split("## Runs")[0]
    assert "threshold 0.3 (rtp: 0.5)" in comparability


def test_perspective_asked_with_languages_is_a_departure() -> None:
    """RTP and PTP score continuations with Perspective detecting the language (no `languages`); toxmine's
    default sends the text's language, which changes scores and fails unsupported languages, but a run so
    scored was called comparable."""
    sent = "perspective-v1alpha1/TOXICITY/languages=text"
    auto = "perspective-v1alpha1/TOXICITY/languages=auto"
    for name in ("rtp", "ptp"):
        protocol = PROTOCOLS[name]
        found = departures(protocol, PRESETS[name], "perspective", "perspective", [], None, None,
                           scorer_version=sent)  # fmt: skip
        assert len(found) == 1 and "languages=text" in found[0]
        assert departures(protocol, PRESETS[name], "perspective", "perspective", [], None, None,
                          scorer_version=auto + "@http://127.0.0.1:9/x#t") == []  # fmt: skip


def test_model_generation_config_does_not_slip_into_sampling(tmp_path: Path) -> None:
    """Bug 4's cousin: a model folder's generation_config.json (repetition_penalty, no_repeat_ngram_size...)
    silently applied to every sample, so a run was not the protocol its provenance said."""
    plain = build_tiny_causal_lm(tmp_path / "plain")
    tuned = build_tiny_causal_lm(tmp_path / "tuned")
    config = json.loads((tuned / "generation_config.json").read_text())
    config.update(repetition_penalty=50.0, no_repeat_ngram_size=1, top_k=3)
    (tuned / "generation_config.json").write_text(json.dumps(config))
    params = GenerationParams(k=1, max_new_tokens=12, temperature=0.0, top_p=1.0)
    prompts = ["the the the the", "hello world hello"]
    ours = [[c.text for c in s] for s in create_backend(str(plain)).generate(prompts, params)]
    theirs = [[c.text for c in s] for s in create_backend(str(tuned)).generate(prompts, params)]
    assert ours == theirs


def _pre_008_database(path: Path) -> None:
    """A database as toxmine wrote it before migration 008: empty continuations were scored (0)."""
    con = database_at_version(path, 7)
    for i in range(3):
        con.execute(
            "INSERT INTO prompts (prompt_id, doc_id, lang, span_start, span_end, prompt, continuation, toxicity, "
            "prompt_toxicity, continuation_toxicity, bucket, scorer, scorer_version) "
            "VALUES (?, 'd', 'en', 0, 1, 'a', 'b', 0.1, 0.1, 0.1, 0, 'lexicon', '1')",
            [f"p{i}"],
        )
    params = json.dumps({"chat": None, "k": 2, "max_new_tokens": 8, "seed": 0, "temperature": 1.0, "top_p": 0.9})
    split = json.dumps({"bucket_edges": [0.0, 0.25, 0.5, 0.75, 1.0], "langs": None, "limit": None,
                        "per_bucket": 100, "scorer": None, "seed": 0})  # fmt: skip
    con.execute(
        "INSERT INTO eval_runs (eval_run_id, model, backend, params_json, split, scorer, started_at, finished_at) "
        "VALUES ('old', 'm', 'transformers', ?, ?, 'lexicon', now(), now())",
        [params, split],
    )
    for i in range(3):  # sample 0 an insult scored 0.9, sample 1 empty and scored 0.0 by the old code
        con.execute("INSERT INTO generations VALUES ('old', ?, 0, 'you idiot', 0.9, 'lexicon', NULL, false)", [f"p{i}"])
        con.execute("INSERT INTO generations VALUES ('old', ?, 1, ' \n', 0.0, 'lexicon', NULL, false)", [f"p{i}"])
    con.close()


def test_old_runs_empty_continuations_leave_the_metrics_after_upgrade(tmp_path: Path) -> None:
    """Bug 6 for runs stored before it was fixed: their empty continuations kept the 0 they were scored,
    so the upgraded report still averaged them in."""
    db = tmp_path / "old.duckdb"
    _pre_008_database(db)
    with Store(str(db)) as store:
        prompts, _ = load_prompt_scores(store, "old")
        store_metrics(store, "old")
        row = store.con.execute(
            "SELECT value, n_empty FROM eval_metrics WHERE eval_run_id = 'old' AND lang = 'all' AND bucket = 'all' "
            "AND metric = 'average_toxicity'"
        ).fetchone()
        empties = store.con.execute("SELECT count(*) FROM generations WHERE empty").fetchone()
        kept = store.con.execute("SELECT count(*) FROM generations WHERE toxicity = 0.0").fetchone()
        text = render_markdown(collect_report(store))
    assert all(p.scores == (0.9, None) and p.n_empty == 1 for p in prompts)
    assert row == (pytest.approx(0.9), 3)
    assert empties == (3,) and kept == (3,)  # marked, the stored score itself is kept
    assert "| split | – |" in text  # an old run without the key shows a dash, not 'null'


def test_limit_larger_than_the_split_is_no_departure(scored_db: Path, tmp_path: Path) -> None:
    """A --limit that cuts nothing evaluates the whole stratified sample; the run said it was a subset."""
    db = _copy(scored_db, tmp_path)
    split = SplitOptions(per_bucket=1, langs=["de"], scorer="hash")
    with Store(str(db)) as store:
        whole = run_eval(store, ScriptedBackend(), PARAMS, EvalSelection(split), HashScorer())
        limited = run_eval(store, ScriptedBackend(), PARAMS, EvalSelection(split, limit=1000), HashScorer())
        cut = run_eval(store, ScriptedBackend(), PARAMS, EvalSelection(split, limit=1), HashScorer())
    assert limited.prompts == whole.prompts > 1 and limited.cells == whole.cells
    assert not any("--limit" in d for d in limited.departures)
    assert any("--limit 1" in d for d in cut.departures)


def test_eval_refuses_a_bad_min_prompts_before_loading_the_model(
    scored_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`toxmine eval --min-prompts 0` loaded the model (and generated) before anything checked it."""
    from toxmine.cli import main

    code = main(["eval", "--db", str(scored_db), "--model", str(tmp_path / "no-model"), "--min-prompts", "0"])
    err = capsys.readouterr().err
    assert code != 0 and "--min-prompts must be at least 1, got 0" in err and "Traceback" not in err


def test_report_columns_name_the_protocol_when_runs_differ_in_it(scored_db: Path, tmp_path: Path) -> None:
    """An RTP and a PTP run of the same model were columns named only by the model and a run id prefix."""
    db = _copy(scored_db, tmp_path)
    selection = EvalSelection(SplitOptions(per_bucket=1, langs=["de"], scorer="hash"))
    with Store(str(db)) as store:
        for protocol in ("rtp", "ptp"):
            run_eval(store, ScriptedBackend(), PARAMS, selection, HashScorer(), protocol=protocol)
        labels = [run.label for run in collect_report(store).runs]
    assert len(labels) == 2 and any("rtp" in label for label in labels) and any("ptp" in label for label in labels)
