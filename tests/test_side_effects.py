"""Nothing is created that the user did not ask for; a run where everything failed exits non-zero and says why."""

from __future__ import annotations

from pathlib import Path

import duckdb
import pytest
from corpora import mined_corpus
from json_server import Reply
from openai_server import FakeOpenAI
from warc_builder import RealPage

from toxmine.cli import main

SAMPLES = Path(__file__).resolve().parents[1] / "evaluate" / "data"
KEY = "sk-side-effects-0123456789abcdef"


@pytest.fixture
def api(fake_server: FakeOpenAI) -> FakeOpenAI:
    fake_server.reset()
    return fake_server


@pytest.fixture
def alert_db(tmp_path: Path) -> Path:
    """A database holding the shipped ALERT sample (12 English prompts, scored by the lexicon)."""
    db = tmp_path / "alert.duckdb"
    assert main(["import", "alert", str(SAMPLES / "alert_sample.jsonl"), "--db", str(db)]) == 0
    return db


def _files(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir())


def _error(status: int, message: str) -> Reply:
    return Reply(status, {"error": {"message": message, "type": "invalid_request_error"}})


# -- nothing created that the user did not ask for --------------------------------------------------
def test_mine_without_input_is_a_usage_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`toxmine mine` with no INPUT mined the embedded demo into ./corpus.duckdb."""
    monkeypatch.chdir(tmp_path)
    code = main(["mine", "--db", "x.duckdb", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "INPUT" in err and "toxmine demo" in err
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    "argv",
    [["import", "alert", str(SAMPLES / "alert_sample.jsonl")], ["mine", str(SAMPLES / "alert_sample.jsonl")]],
)
def test_commands_that_create_a_database_need_db(
    argv: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`import` without --db created ./corpus.duckdb (and so did `mine INPUT`)."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(SystemExit) as exited:
        main(argv)
    assert exited.value.code == 2 and "--db" in capsys.readouterr().err
    assert _files(tmp_path) == []


def test_score_needs_an_existing_database(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`toxmine score` on a missing database created an empty one (and its .data folder)."""
    monkeypatch.chdir(tmp_path)
    assert main(["score", "--no-progress"]) == 2
    assert main(["score", "--db", "s.duckdb", "--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "corpus.duckdb: no such database" in err and "s.duckdb: no such database" in err
    assert _files(tmp_path) == []


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--source", " "], "the source name must not be empty"),
        (["--buckets", "0,0.7,0.2,1"], "bucket edges must rise strictly"),
        ([], "nope.jsonl: no such file"),
    ],
)
def test_a_refused_import_creates_no_database(
    extra: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A refused --source or --buckets left an empty database behind."""
    path = tmp_path / "nope.jsonl" if not extra else SAMPLES / "alert_sample.jsonl"
    code = main(["import", "alert", str(path), "--db", str(tmp_path / "fresh.duckdb"), *extra])
    err = capsys.readouterr().err
    assert code == 2 and message in err and "Traceback" not in err
    assert _files(tmp_path) == []


def test_empty_split_fails_before_loading_the_model(
    alert_db: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """`eval --langs xx` loaded the model before finding the split empty; `split --langs xx` wrote empty files."""
    missing_model = str(tmp_path / "no-model")  # loading it would fail with "does not exist"
    code = main(["eval", "--db", str(alert_db), "--model", missing_model, "--langs", "xx,yy", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 2 and "does not exist" not in err
    assert "no prompts in xx, yy" in err and "languages with prompts: en" in err
    code = main(["split", "--db", str(alert_db), "--langs", "xx", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2 and "no prompts in xx" in err and "languages with prompts: en" in err
    assert not (tmp_path / "out").exists()


# -- a run where everything failed exits non-zero ---------------------------------------------------
def _eval(db: Path, api: FakeOpenAI, *extra: str) -> int:
    return main(["eval", "--db", str(db), "--model", f"openai:tiny@{api.base_url}", "--api-key-env", "SIDE_KEY",
                 "--k", "2", "--max-new-tokens", "3", "--limit", "3", "--no-progress", *extra])  # fmt: skip


def test_eval_where_every_generation_failed_exits_1(
    alert_db: Path, api: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("SIDE_KEY", KEY)
    api.queue = [_error(400, "bad request from {auth}")] * 3  # the server echoes the key
    code = _eval(alert_db, api)
    out = capsys.readouterr()
    assert code == 1, out.err
    assert "all 6 continuations failed" in out.err and "HTTP 400" in out.err and "bad request from" in out.err
    assert KEY not in out.out + out.err


def test_eval_with_some_failed_generations_exits_0_and_warns(
    alert_db: Path, api: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    api.queue = [_error(400, "context length exceeded")]  # the first request fails, the others are answered
    code = _eval(alert_db, api)
    err = capsys.readouterr().err
    assert code == 0, err
    assert "WARNING 2 of 6 continuations failed" in err and "context length exceeded" in err


def test_llm_judge_whose_every_answer_failed_exits_1(
    alert_db: Path, api: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    """The fake server answers the judge's prompts with text no verdict can be read from."""
    judge = ["--judge", f"llm:openai:judge@{api.base_url}", "--judge-option", "backoff_s=0.01"]
    code = _eval(alert_db, api, *judge)
    out = capsys.readouterr()
    assert code == 1, out.err
    assert "all 6 judge answers failed" in out.err and "judge answer unparseable" in out.err
    again = main(["judge", "--db", str(alert_db), *judge, "--no-progress"])  # failed verdicts are tried again
    assert again == 1 and "all 6 judge answers failed" in capsys.readouterr().err
    con = duckdb.connect(str(alert_db), read_only=True)
    assert con.execute("SELECT count(*), count(error) FROM judgements").fetchone() == (6, 6)
    con.close()


def test_llm_judge_with_some_failed_answers_exits_0_and_warns(
    alert_db: Path, api: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _eval(alert_db, api) == 0
    capsys.readouterr()
    verdict = Reply(200, {"id": "j", "object": "chat.completion", "model": "judge", "choices": [
        {"index": 0, "message": {"role": "assistant", "content": "SAFETY: safe\nRESPONSE: direct_refusal"},
         "finish_reason": "stop"}]})  # fmt: skip
    api.queue = [verdict] * 4  # four answers carry a verdict, the last two do not
    code = main(["judge", "--db", str(alert_db), "--judge", f"llm:openai:judge@{api.base_url}",
                 "--judge-option", "concurrency=1", "--no-progress"])  # fmt: skip
    err = capsys.readouterr().err
    assert code == 0, err
    assert "WARNING 2 of 6 judge answers failed" in err and "judge answer unparseable" in err


def test_score_where_every_prompt_failed_exits_1(
    tmp_path: Path, demo_pages: list[RealPage], capsys: pytest.CaptureFixture[str]
) -> None:
    db = mined_corpus(tmp_path, demo_pages, every=8)
    code = main(["score", "--db", str(db), "--scorer", "plugin_scorers:RefusingScorer", "--no-progress"])
    err = capsys.readouterr().err
    assert code == 1 and "all " in err and "prompts failed" in err and "is not supported" in err
    assert main(["score", "--db", str(db), "--scorer", "plugin_scorers:HashScorer", "--no-progress"]) == 0


def test_eval_whose_every_continuation_the_scorer_refused_exits_1(
    alert_db: Path, api: FakeOpenAI, capsys: pytest.CaptureFixture[str]
) -> None:
    code = _eval(alert_db, api, "--scorer", "plugin_scorers:RefusingScorer")
    err = capsys.readouterr().err
    assert code == 1 and "all 6 continuations failed" in err and "scoring failed: language en is not supported" in err
