"""Results as files: lm-evaluation-harness's results JSON and samples JSONL, from real runs in DuckDB."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path
from typing import Any

import duckdb
import pytest
from corpora import mined_corpus
from json_server import Reply
from openai_server import FakeOpenAI
from tiny_models import build_tiny_causal_lm
from warc_builder import RealPage

from toxmine import __version__
from toxmine.cli import main
from toxmine.evaluate import eval_tables
from toxmine.evaluate.backends import create_backend
from toxmine.evaluate.imports import import_prompts
from toxmine.evaluate.judges import create_judge
from toxmine.evaluate.judging import judge_run
from toxmine.evaluate.params import GenerationParams
from toxmine.evaluate.redaction import redact_json, register_secret
from toxmine.evaluate.results_files import JudgeSpec, sanitize_model_name, write_results
from toxmine.evaluate.run import EvalSelection, run_eval
from toxmine.miner.errors import ConfigError
from toxmine.miner.scoring import create_scorer
from toxmine.miner.split import SplitOptions
from toxmine.miner.store import Store

PARAMS = GenerationParams(k=3, max_new_tokens=4, seed=7)
SELECTION = EvalSelection(SplitOptions(per_bucket=2, langs=["en", "it", "zh"], scorer="lexicon"), limit=5)
ROOT = Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "evaluate" / "data"


@pytest.fixture(scope="module")
def imported_db(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped ALERT and MultiJail samples imported into a real database (scored by the lexicon)."""
    db = tmp_path_factory.mktemp("imported") / "s.duckdb"
    with Store(str(db)) as store:
        scorer = create_scorer("lexicon")
        import_prompts(store, "alert", SAMPLES / "alert_sample.jsonl", scorer)
        import_prompts(store, "multijail", SAMPLES / "multijail_sample.csv", scorer)
    return db


@pytest.fixture(scope="module")
def judged_run(
    tmp_path_factory: pytest.TempPathFactory, imported_db: Path, fake_server: FakeOpenAI
) -> tuple[Path, str]:
    """A real run of an OpenAI-compatible server on 127.0.0.1 over those prompts, judged by the heuristic."""
    db = tmp_path_factory.mktemp("run") / "s.duckdb"
    shutil.copyfile(imported_db, db)
    fake_server.reset()
    backend = create_backend(f"openai:tiny@{fake_server.base_url}", backoff_s=0.01)
    with Store(str(db)) as store:
        report = run_eval(store, backend, PARAMS, SELECTION, create_scorer("lexicon"), batch_prompts=4)
        judge_run(store, report.eval_run_id, create_judge("heuristic"), group_by=["source"])
    return db, report.eval_run_id


def _files(folder: Path, pattern: str) -> list[Path]:
    return sorted(folder.rglob(pattern))


def _lines(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_results_json_and_samples_hold_the_stored_run(judged_run: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = judged_run
    with Store(str(db)) as store:
        files = write_results(store, run_id, tmp_path / "out", [JudgeSpec("heuristic", {}, "heuristic")])
    document = json.loads(files.results.read_text(encoding="utf-8"))
    # lm-eval's names: PATH/<sanitized model>/results_<date>.json and samples_<task>_<date>.jsonl beside it
    assert document["model_name"].startswith("tiny@http://127.0.0.1:")
    assert files.results.parent == tmp_path / "out" / sanitize_model_name(document["model_name"])
    assert files.results.parent.name.startswith("tiny@http__127.0.0.1__") and files.results.name.startswith("results_")
    date_id = files.results.name.removeprefix("results_").removesuffix(".json")
    assert files.samples.name == f"samples_toxicity_{date_id}.jsonl" and ":" not in date_id

    con = duckdb.connect(str(db), read_only=True)
    rows = con.execute(
        "SELECT lang, bucket, metric, value, ci_low, ci_high, n_prompts FROM eval_metrics WHERE eval_run_id = ?",
        [run_id],
    ).fetchall()
    stored = {(lang, bucket, metric): (value, low, high, n) for lang, bucket, metric, value, low, high, n in rows}
    # n per language counted here from the generations themselves: prompts with a scored continuation
    per_lang = dict(con.execute(
        "SELECT p.lang, count(DISTINCT g.prompt_id) FROM generations g JOIN prompts p USING (prompt_id) "
        "WHERE g.eval_run_id = ? AND g.toxicity IS NOT NULL AND NOT g.empty GROUP BY 1",
        [run_id]).fetchall())  # fmt: skip
    generations = con.execute("SELECT count(*) FROM generations WHERE eval_run_id = ?", [run_id]).fetchone()
    judged = con.execute("SELECT count(*) FROM judgements WHERE eval_run_id = ?", [run_id]).fetchone()
    safety = con.execute(
        "SELECT value, n_prompts FROM safety_metrics WHERE eval_run_id = ? AND grouping = 'all' "
        "AND metric = 'refusal_rate'", [run_id]).fetchone()  # fmt: skip
    scorer_version = con.execute("SELECT any_value(scorer_version) FROM prompts").fetchone()
    con.close()

    results = document["results"]
    assert set(per_lang) == {"en", "it", "zh"} and sum(per_lang.values()) == 5
    for lang, n in per_lang.items():
        entry = results[f"toxicity_{lang}_all"]
        assert entry["expected_max_toxicity_n,none"] == n
        assert (entry["lang"], entry["bucket"]) == (lang, "all")
    assert results["toxicity_all_all"]["average_toxicity_n,none"] == 5
    assert len(stored) > 9 and {f"toxicity_{lang}_{bucket}" for lang, bucket, _ in stored} == set(
        document["group_subtasks"]["toxicity"])  # fmt: skip
    for (lang, bucket, metric), (value, low, high, n) in stored.items():
        entry = results[f"toxicity_{lang}_{bucket}"]
        assert entry[f"{metric},none"] == pytest.approx(value) and entry[f"{metric}_n,none"] == n
        assert entry[f"{metric}_ci_low,none"] == low and entry[f"{metric}_ci_high,none"] == high
    assert results["toxicity_all_0"]["bucket_range"] == "[0, 0.25)"
    assert results["toxicity_en_all"]["expected_max_toxicity_flag,none"] == "few_prompts"  # under 10 prompts
    assert safety is not None
    refusal = results["safety_all_all"]
    assert (
        refusal["refusal_rate,heuristic"] == pytest.approx(safety[0])
        and refusal["refusal_rate_n,heuristic"] == safety[1]
    )
    assert {"safety_source_alert", "safety_source_multijail", "safety_lang_zh"} <= set(results)
    assert document["higher_is_better"]["toxicity"]["average_toxicity"] is False
    assert document["higher_is_better"]["safety"]["safety_score"] is True
    assert document["n-samples"] == {"toxicity": {"original": 5, "effective": 5}}

    config = document["config"]
    assert (config["seed"], config["random_seed"], config["k"], config["max_new_tokens"]) == (7, 7, 3, 4)
    assert config["gen_kwargs"]["seed"] == 7 and config["limit"] == 5 and config["split"]["per_bucket"] == 2
    assert config["backend"] == "openai" and config["model_revision"] == f"endpoint:{fake_server_url(document)}"
    assert config["chat_effective"] is True and config["template"] is None and config["protocol"] == "rtp"
    assert config["scorer"] == "lexicon" and scorer_version is not None
    assert config["scorer_version"] == scorer_version[0] == document["versions"]["scorer:lexicon"]
    assert config["judges"] == [{"judge": "heuristic", "judge_version": config["judges"][0]["judge_version"],
                                 "verdicts": judged[0], "spec": "heuristic", "options": {}}]  # fmt: skip
    assert document["versions"]["toxmine"] == __version__ == document["toxmine_version"]
    assert document["versions"]["judge:heuristic"] == config["judges"][0]["judge_version"]
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "HEAD"], capture_output=True, text=True).stdout.strip()
    assert document["git_hash"] == head and len(head) == 40
    assert document["eval_run_id"] == run_id and document["finished"] is True and document["end_time"]
    assert float(document["total_evaluation_time_seconds"]) >= 0 and document["date"] > 0

    samples = _lines(files.samples)
    assert generations is not None and len(samples) == generations[0] == files.samples_written == 5 * PARAMS.k
    assert [(s["prompt_id"], s["sample_idx"]) for s in samples] == sorted((s["prompt_id"], s["sample_idx"])
                                                                          for s in samples)  # fmt: skip
    first = samples[0]
    assert {"prompt_id", "prompt", "prompt_lang", "continuation", "continuation_lang", "toxicity", "verdicts",
            "sample_idx", "bucket", "error", "empty", "source", "category"} <= set(first)  # fmt: skip
    assert first["continuation"].startswith(f" continuation {first['sample_idx']} (seed 7) of ")
    assert first["prompt"] in first["continuation"] and first["prompt_lang"] in {"en", "it", "zh"}
    assert sum("heuristic" in s["verdicts"] for s in samples) == judged[0] == len(samples)
    assert {s["verdicts"]["heuristic"]["label"] for s in samples} <= {"safe", "unsafe", "invalid"}


def fake_server_url(document: dict[str, Any]) -> str:
    return str(document["model_name"]).split("@", 1)[1]


def test_json_output_path_and_no_file_overwritten(judged_run: tuple[Path, str], tmp_path: Path) -> None:
    db, run_id = judged_run
    with Store(str(db)) as store:
        one = write_results(store, run_id, tmp_path / "res.json")
        two = write_results(store, run_id, tmp_path / "res.json")
    assert one.results.parent == tmp_path and one.results.name.startswith("res_") and one.results.suffix == ".json"
    assert one.samples.parent == tmp_path and one.results != two.results and one.samples != two.samples
    with Store(str(db)) as store, pytest.raises(ConfigError, match="no evaluation run nope"):
        write_results(store, "nope", tmp_path / "x")


def test_export_results_command_writes_every_stored_run(judged_run: tuple[Path, str], tmp_path: Path,
                                                        capsys: pytest.CaptureFixture[str]) -> None:  # fmt: skip
    db, run_id = judged_run
    assert main(["export-results", "--db", str(db), "--output-path", str(tmp_path / "out")]) == 0
    results = _files(tmp_path / "out", "results_*.json")
    with Store(str(db), read_only=True) as store:
        runs = eval_tables.run_ids(store)
    assert run_id in runs and sorted(json.loads(r.read_text())["eval_run_id"] for r in results) == sorted(runs)
    assert f"{run_id}: results written to" in capsys.readouterr().out
    blocked = tmp_path / "file"
    blocked.write_text("x")
    assert main(["export-results", "--db", str(db), "--output-path", str(blocked / "out")]) == 2
    assert "is a file, not a folder" in capsys.readouterr().err
    assert main(["export-results", "--db", str(db), "--run", "nope", "--output-path", str(tmp_path / "o")]) == 2
    assert "no evaluation run nope" in capsys.readouterr().err


def test_redact_json_masks_secret_keys_urls_and_registered_secrets() -> None:
    register_secret("sk-results-files-secret-1")
    cleaned = redact_json({
        "api_key": "abc", "api_key_env": "OPENAI_API_KEY", "headers": {"Authorization": "Bearer x"},
        "url": "https://user:pw@h.example/v1?api-key=abc123&x=1", "max_new_tokens": 4,
        "text": ["echo: sk-results-files-secret-1"], "sk-results-files-secret-1": 1,
    })  # fmt: skip
    assert cleaned == {
        "api_key": "***", "api_key_env": "OPENAI_API_KEY", "headers": {"Authorization": "***"},
        "url": "https://***@h.example/v1?api-key=***&x=1", "max_new_tokens": 4, "text": ["echo: ***"], "***": 1,
    }  # fmt: skip


def test_eval_output_path_keeps_keys_out_of_the_files(
    fake_server: FakeOpenAI, imported_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`toxmine eval --output-path` with an HTTP model whose key the server echoes into its answers, and a
    plug-in judge given a token: neither secret reaches the results or samples files."""
    db = tmp_path / "s.duckdb"
    shutil.copyfile(imported_db, db)
    key, token = "sk-output-path-key-93b1", "tok-judge-secret-5d2e"
    monkeypatch.setenv("RESULTS_TEST_KEY", key)
    fake_server.reset()
    fake_server.require_key = key
    answer = {"choices": [{"index": i, "message": {"role": "assistant", "content": f"said {{auth}} {i}"}}
                          for i in range(2)]}  # fmt: skip
    fake_server.queue = [Reply(200, answer) for _ in range(3)]
    args = ["eval", "--db", str(db), "--model", f"openai:tiny@{fake_server.base_url}", "--api-key-env",
            "RESULTS_TEST_KEY", "--k", "2", "--max-new-tokens", "3", "--per-bucket", "3", "--langs", "en",
            "--limit", "3", "--seed", "11", "--no-progress", "--judge", "plugin_judges:TokenJudge",
            "--judge-option", f"api_token={token}", "--judge-option", f"endpoint=https://mod.example/v1?key={token}",
            "--output-path", str(tmp_path / "out")]  # fmt: skip
    assert main(args) == 0
    assert fake_server.queue == []  # every answer echoed the key
    results, samples = _files(tmp_path / "out", "results_*.json"), _files(tmp_path / "out", "samples_*.jsonl")
    assert len(results) == 1 and len(samples) == 1
    text = results[0].read_text(encoding="utf-8") + samples[0].read_text(encoding="utf-8")
    assert key not in text and token not in text and text.count("said Bearer ***") == 3 * 2
    config = json.loads(results[0].read_text(encoding="utf-8"))["config"]
    assert config["seed"] == 11 and config["backend"] == "openai" and config["limit"] == 3
    judge = config["judges"][0]
    assert (judge["judge"], judge["spec"], judge["verdicts"]) == ("token-judge", "plugin_judges:TokenJudge", 6)
    assert judge["options"] == {"api_token": "***", "endpoint": "https://mod.example/v1?key=***"}
    assert len(_lines(samples[0])) == 3 * 2


@pytest.mark.slow
def test_eval_command_with_a_local_model_writes_results(
    tmp_path: Path, demo_pages: list[RealPage], capsys: pytest.CaptureFixture[str]
) -> None:
    """A local transformers model on a mined corpus: the files hold its run; a file in the way of
    --output-path is refused before the model loads and the run starts."""
    db = mined_corpus(tmp_path, demo_pages, every=4, score=True)
    model = build_tiny_causal_lm(tmp_path / "lm")
    args = ["eval", "--db", str(db), "--model", str(model), "--k", "2", "--max-new-tokens", "3", "--per-bucket",
            "2", "--langs", "de,en", "--prompt-scorer", "hash", "--limit", "4", "--seed", "5",
            "--no-progress"]  # fmt: skip
    blocked = tmp_path / "blocked"
    blocked.write_text("x")
    assert main([*args, "--output-path", str(blocked)]) == 2
    assert f"--output-path {blocked}: {blocked} is a file" in capsys.readouterr().err
    with Store(str(db), read_only=True) as store:
        assert eval_tables.run_ids(store) == []
    assert main([*args, "--output-path", str(tmp_path / "out")]) == 0
    assert "results written to" in capsys.readouterr().out
    [results] = _files(tmp_path / "out", "results_*.json")
    [samples] = _files(tmp_path / "out", "samples_toxicity_*.jsonl")
    assert results.parent.name == sanitize_model_name(str(model)) and samples.parent == results.parent
    document = json.loads(results.read_text(encoding="utf-8"))
    config = document["config"]
    assert (config["backend"], config["seed"], config["k"], config["limit"]) == ("transformers", 5, 2, 4)
    assert config["model"] == str(model) and config["model_args"]["revision"] == config["model_revision"]
    assert config["dtype"] and config["device"] == "cpu" and config["chat_effective"] is False
    assert len(_lines(samples)) == 4 * 2 == document["counts"]["continuations"]
