"""Issue 11's bugs in a run, each reproduced on a real mined DuckDB file: prompts grouped under another
scorer's bucket, an unstratified --limit, a run id blind to the scorer version, top-k slipping in, seeds
that depend on the batch size, continuations scored as the prompt's language, empty continuations
scored 0, and runs from before provenance was recorded."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest
from corpora import database_at_version, mined_corpus
from plugin_scorers import HashScorer
from tiny_models import build_tiny_causal_lm
from warc_builder import RealPage

import toxmine.evaluate.run as run_module
from toxmine.evaluate.backends import Completion, create_backend
from toxmine.evaluate.params import GenerationParams
from toxmine.evaluate.run import EvalSelection, load_prompt_scores, run_eval
from toxmine.evaluate.safety import load_verdicts
from toxmine.miner.score_units import score_documents
from toxmine.miner.scoring import TextScore
from toxmine.miner.scoring.lexicon import LexiconScorer
from toxmine.miner.split import SplitOptions
from toxmine.miner.store import Store

PARAMS = GenerationParams(k=2, max_new_tokens=3, seed=1)


class FlatScorer:
    """A second prompt scorer that puts every prompt in the top bucket."""

    name = "flat"
    version = "1"

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]:
        return [TextScore(0.99) for _ in texts]


class ScriptedBackend:
    """A model that answers every prompt with the same scripted samples (a stand-in for a model whose
    answers we need to control; the rest of the run is real)."""

    name = "scripted"

    def __init__(self, samples: Sequence[str]) -> None:
        self.samples = list(samples)
        self.model = "scripted"
        self.calls = 0

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        self.calls += 1
        return [[Completion(self.samples[i % len(self.samples)]) for i in range(params.k)] for _ in prompts]


@pytest.fixture(scope="module")
def two_scorer_db(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> Path:
    db = mined_corpus(tmp_path_factory.mktemp("db"), demo_pages, every=4, score=True)
    with Store(str(db)) as store:
        score_documents(store, FlatScorer())  # a second scorer after the first, as a user upgrading would
    return db


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "lm")


def _copy(db: Path, tmp_path: Path) -> Path:
    target = tmp_path / "copy.duckdb"
    target.write_bytes(db.read_bytes())
    return target


def test_metrics_use_the_prompt_scorer_the_split_was_drawn_with(two_scorer_db: Path, tmp_path: Path) -> None:
    """Bug 1: prompt rows were picked by DISTINCT ON without ORDER BY, so another scorer's bucket could apply."""
    db = _copy(two_scorer_db, tmp_path)
    selection = EvalSelection(SplitOptions(per_bucket=3, langs=["de", "en"], scorer="flat"))
    with Store(str(db)) as store:
        report = run_eval(store, ScriptedBackend(["fine"]), PARAMS, selection, HashScorer())
        prompts, _ = load_prompt_scores(store, report.eval_run_id)
        assert prompts and {p.bucket for p in prompts} == {3}  # flat put every prompt in the top bucket
        buckets = {r[0] for r in store.con.execute(
            "SELECT DISTINCT bucket FROM eval_metrics WHERE eval_run_id = ? AND lang = 'all'", [report.eval_run_id]
        ).fetchall()}  # fmt: skip
        assert buckets & {"0", "1", "2"} == set() and "3" in buckets
        run = store.con.execute(
            "SELECT prompt_scorer, prompt_scorer_version FROM eval_runs WHERE eval_run_id = ?", [report.eval_run_id]
        ).fetchone()
        assert run == ("flat", "1")


def test_limit_is_spread_over_the_cells(two_scorer_db: Path, tmp_path: Path) -> None:
    """Bug 2: --limit took the first N rows of the split sorted by language and bucket."""
    db = _copy(two_scorer_db, tmp_path)
    split = SplitOptions(per_bucket=3, langs=["de", "en"], scorer="hash")
    with Store(str(db)) as store:
        full = run_eval(store, ScriptedBackend(["fine"]), PARAMS, EvalSelection(split), HashScorer())
        small = run_eval(store, ScriptedBackend(["fine"]), PARAMS, EvalSelection(split, limit=4), HashScorer())
        wider = run_eval(store, ScriptedBackend(["fine"]), PARAMS, EvalSelection(split, limit=10), HashScorer())
    cells = set(full.cells)
    assert len(cells) >= 6
    assert len(small.cells) == 4 and set(small.cells) <= cells and max(small.cells.values()) == 1
    assert sum(wider.cells.values()) == 10 and set(wider.cells) == cells  # every cell before any cell twice
    assert max(wider.cells.values()) - min(wider.cells.values()) <= 1
    assert small.departures and any("--limit 4" in d for d in small.departures)


def test_run_id_covers_the_scorer_version_and_toxmine_version(
    two_scorer_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Bug 3: rerunning with another word list resumed the old run and reported its old scores."""
    db = _copy(two_scorer_db, tmp_path)
    selection = EvalSelection(SplitOptions(per_bucket=1, langs=["de"], scorer="hash"))
    backend = ScriptedBackend(["fine"])
    with Store(str(db)) as store:
        first = run_eval(store, backend, PARAMS, selection, HashScorer())
        newer = HashScorer()
        newer.version = "2"
        second = run_eval(store, backend, PARAMS, selection, newer)
        assert second.eval_run_id != first.eval_run_id and second.skipped == 0
        again = run_eval(store, backend, PARAMS, selection, newer)
        assert again.eval_run_id == second.eval_run_id and again.skipped == again.prompts
        topk = run_eval(store, backend, GenerationParams(k=2, max_new_tokens=3, seed=1, top_k=40), selection, newer)
        assert topk.eval_run_id != second.eval_run_id
        monkeypatch.setattr(run_module, "__version__", "99.0")
        upgraded = run_eval(store, backend, PARAMS, selection, newer)
        assert upgraded.eval_run_id != second.eval_run_id
        stored = json.loads(
            store.con.execute(
                "SELECT params_json FROM eval_runs WHERE eval_run_id = ?", [upgraded.eval_run_id]
            ).fetchone()[0]  # type: ignore[index]
        )
    for key in (
        "top_k",
        "scorer_version",
        "toxmine_version",
        "prompt_scorer",
        "prompt_scorer_version",
        "protocol",
        "threshold",
        "comparison",
        "bootstrap_resamples",
        "bootstrap_seed",
        "min_prompts",
        "prompts_digest",
    ):
        assert key in stored, key
    assert stored["scorer_version"] == "2" and stored["toxmine_version"] == "99.0" and stored["top_k"] == 0


def test_transformers_backend_sends_top_k_and_seeds_per_prompt(tiny_lm: Path) -> None:
    """Bug 4: no top_k was passed (transformers' default top_k=50 applied), and the seed was
    `seed + batch start`, so --batch-size changed the samples."""
    backend = create_backend(str(tiny_lm))
    seen: list[object] = []
    generate = backend.lm.generate  # type: ignore[attr-defined]

    def spy(**kwargs: object) -> object:
        seen.append(kwargs.get("top_k"))
        return generate(**kwargs)

    backend.lm.generate = spy  # type: ignore[attr-defined]
    params = GenerationParams(k=3, max_new_tokens=5, seed=7)
    prompts = ["der Hund läuft", "the cat sat on", "un deux trois", "vier fünf"]
    together = backend.generate(prompts, params)
    assert seen and set(seen) == {0}
    one_by_one = [backend.generate([p], params)[0] for p in prompts]
    assert [[c.text for c in s] for s in together] == [[c.text for c in s] for s in one_by_one]
    reordered = backend.generate(prompts[::-1], params)[::-1]
    assert [[c.text for c in s] for s in reordered] == [[c.text for c in s] for s in together]


def test_continuations_are_scored_in_their_own_language(two_scorer_db: Path, tmp_path: Path) -> None:
    """Bug 5: an English insult answering a German prompt was scored with the German word list (0.0)."""
    db = _copy(two_scorer_db, tmp_path)
    selection = EvalSelection(SplitOptions(per_bucket=1, langs=["de"], scorer="hash"))
    insult = "you are a fucking idiot"
    scorer = LexiconScorer()
    assert scorer.score_batch([insult], ["de"])[0].toxicity == 0.0  # what the old code stored
    with Store(str(db)) as store:
        report = run_eval(store, ScriptedBackend([insult]), PARAMS, selection, scorer)
        rows = store.con.execute(
            "SELECT g.lang, g.lang_score, g.toxicity, p.lang FROM generations g JOIN prompts p USING (prompt_id) "
            "WHERE g.eval_run_id = ? AND p.scorer = 'hash'",
            [report.eval_run_id],
        ).fetchall()
    assert rows and all(prompt_lang == "de" for *_, prompt_lang in rows)
    assert all(lang == "en" and score is not None and score >= 0.5 for lang, score, _, _ in rows)
    assert all(toxicity > 0.9 for _, _, toxicity, _ in rows)


def test_empty_continuations_are_recorded_apart_not_scored_zero(two_scorer_db: Path, tmp_path: Path) -> None:
    """Bug 6: empty continuations were scored (0 by the lexicon) and counted as prompts' samples."""
    db = _copy(two_scorer_db, tmp_path)
    selection = EvalSelection(SplitOptions(per_bucket=2, langs=["de", "en"], scorer="hash"))
    backend = ScriptedBackend(["", "you are a fucking idiot", "  \n "])
    scorer = HashScorer()
    with Store(str(db)) as store:
        report = run_eval(store, backend, GenerationParams(k=3, max_new_tokens=3), selection, scorer)
        assert report.empty == 2 * report.prompts and report.failed == 0
        assert all(text.strip() for text in scorer.calls)  # nothing blank reached the scorer
        empties = store.con.execute(
            "SELECT count(*), count(toxicity), count(error) FROM generations WHERE eval_run_id = ? AND empty",
            [report.eval_run_id],
        ).fetchone()
        assert empties == (2 * report.prompts, 0, 0)
        row = store.con.execute(
            "SELECT n_prompts, n_failed, n_empty FROM eval_metrics WHERE eval_run_id = ? AND lang = 'all' "
            "AND bucket = 'all' AND metric = 'average_toxicity'",
            [report.eval_run_id],
        ).fetchone()
        assert row == (report.prompts, 0, 2 * report.prompts)
        calls = backend.calls
        again = run_eval(store, backend, GenerationParams(k=3, max_new_tokens=3), selection, scorer)
        assert again.skipped == again.prompts and backend.calls == calls  # empties are done, not retried


def test_runs_from_before_provenance_get_their_prompt_scorer(tmp_path: Path) -> None:
    """A database whose runs predate migration 008 gets each run's prompt scorer from its split, or from
    the scorer holding its prompts."""
    db = tmp_path / "old.duckdb"
    con = database_at_version(db, 7)
    for scorer in ("lexicon", "hash"):
        con.execute(
            "INSERT INTO prompts (prompt_id, doc_id, lang, span_start, span_end, prompt, continuation, toxicity, "
            "prompt_toxicity, continuation_toxicity, bucket, scorer, scorer_version) "
            "VALUES ('p1', 'd1', 'de', 0, 10, 'a', 'b', 0.1, 0.1, 0.1, 0, ?, '1')",
            [scorer],
        )
    for run, scorer in (("r1", '"hash"'), ("r2", "null")):
        con.execute(
            "INSERT INTO eval_runs (eval_run_id, model, backend, params_json, split, scorer, started_at) "
            f"VALUES (?, 'm', 'transformers', '{{\"k\": 1}}', '{{\"scorer\": {scorer}}}', 'lexicon', now())",
            [run],
        )
    con.execute("INSERT INTO generations VALUES ('r2', 'p1', 0, 'x', 0.1, 'lexicon', NULL, false)")
    con.close()
    with Store(str(db)) as store:
        rows = store.con.execute("SELECT eval_run_id, prompt_scorer FROM eval_runs ORDER BY 1").fetchall()
    assert rows == [("r1", "hash"), ("r2", "hash")]  # r2: tie between scorers, broken by name


def test_safety_reads_harm_from_the_runs_prompt_scorer(two_scorer_db: Path, tmp_path: Path) -> None:
    """Bug 1 in the safety metrics: prompts were taken from the alphabetically first scorer ('flat' here,
    which calls every prompt toxic), not from the scorer the run's split was drawn with."""
    db = _copy(two_scorer_db, tmp_path)
    selection = EvalSelection(SplitOptions(per_bucket=3, langs=["de", "en"], scorer="hash"))
    with Store(str(db)) as store:
        report = run_eval(store, ScriptedBackend(["fine"]), PARAMS, selection, HashScorer())
        verdicts = load_verdicts(store, report.eval_run_id, "any-judge", ["all"])
        expected = dict(
            store.con.execute("SELECT prompt_id, toxicity >= 0.5 FROM prompts WHERE scorer = 'hash'").fetchall()
        )
    assert verdicts and {v.harmful for v in verdicts} == {True, False}
    assert all(v.harmful == expected[v.prompt_id] for v in verdicts)


class GermanOnlyScorer:
    """A scorer that has only a German model (as a word list covers some languages): says so by `supports`."""

    name = "german-only"
    version = "1"

    def __init__(self) -> None:
        self.langs: list[str | None] = []

    def supports(self, lang: str) -> bool:
        return lang == "de"

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]:
        self.langs.extend(langs)
        return [TextScore(0.5) for _ in texts]


def test_a_continuation_language_the_scorer_lacks_falls_back_to_the_prompts(
    two_scorer_db: Path, tmp_path: Path
) -> None:
    """An English continuation to a German prompt, scored by a scorer without English: scored as German (the
    prompt's language) and stored so, not scored as a language the scorer cannot read (the lexicon gave 0.0)."""
    db = _copy(two_scorer_db, tmp_path)
    selection = EvalSelection(SplitOptions(per_bucket=1, langs=["de"], scorer="hash"))
    scorer = GermanOnlyScorer()
    with Store(str(db)) as store:
        report = run_eval(store, ScriptedBackend(["you are a fucking idiot"]), PARAMS, selection, scorer)
        rows = store.con.execute(
            "SELECT DISTINCT lang, lang_score FROM generations WHERE eval_run_id = ?", [report.eval_run_id]
        ).fetchall()
    assert set(scorer.langs) == {"de"} and rows == [("de", None)]
    lexicon = LexiconScorer()
    assert lexicon.supports("en") and lexicon.supports("nb") and not lexicon.supports("la")  # type: ignore[attr-defined]
