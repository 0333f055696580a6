"""The `toxmine` command as a user runs it."""

from __future__ import annotations

import json
from pathlib import Path

import duckdb
import pytest
from cli_runner import CliResult, run_cli


def _run(*args: str, cwd: Path) -> CliResult:
    return run_cli(*args, cwd=cwd, env={"CI": "1"})


@pytest.mark.slow
def test_demo_mines_the_embedded_sample_offline(tmp_path: Path) -> None:
    result = _run("demo", "--db", "demo.duckdb", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "lang" in result.stdout and "drop reason" in result.stdout
    con = duckdb.connect(str(tmp_path / "demo.duckdb"), read_only=True)
    langs = {row[0] for row in con.execute("SELECT lang FROM lang_counts WHERE kept > 0").fetchall()}
    assert {"en", "de", "fr", "it", "es", "ru", "ja", "zh"} <= langs
    assert con.execute("SELECT count(*) FROM documents WHERE dup_of IS NOT NULL").fetchone()[0] >= 5
    con.close()
    again = _run("demo", "--db", "demo.duckdb", cwd=tmp_path)  # the demo again: skipped
    assert again.returncode == 0 and "1 skipped" in again.stdout


@pytest.mark.slow
def test_json_logs(tmp_path: Path) -> None:
    result = _run("demo", "--db", "demo.duckdb", "--log-json", "--langs", "de", cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    events = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    done = [e for e in events if e.get("status") == "done"]
    assert len(done) == 1 and done[0]["documents"] > 10 and done[0]["source"].endswith("demo.warc.gz")


def test_usage_errors_exit_2(tmp_path: Path) -> None:
    assert _run("mine", "--shard", "4/2", cwd=tmp_path).returncode == 2
    # a missing input is that input's failure (exit 1), not a usage error
    result = _run("mine", str(tmp_path / "missing.warc.gz"), "--db", "x.duckdb", cwd=tmp_path)
    assert result.returncode == 1 and "missing.warc.gz: no such file" in result.stderr


@pytest.mark.slow
def test_split_query_and_sql_commands(tmp_path: Path) -> None:
    assert _run("demo", "--db", "demo.duckdb", cwd=tmp_path).returncode == 0
    split = _run("split", "--db", "demo.duckdb", "--per-bucket", "4", "--langs", "de,fr", "--out", "out", cwd=tmp_path)
    assert split.returncode == 0, split.stderr
    assert (tmp_path / "out" / "prompts.jsonl").exists() and (tmp_path / "out" / "README.md").exists()
    listing = _run("query", cwd=tmp_path)
    assert "bucket_distribution" in listing.stdout and "toxic_prompts" in listing.stdout
    table = _run("query", "lang_summary", "--db", "demo.duckdb", "-p", "scorer", "lexicon", cwd=tmp_path)
    assert table.returncode == 0 and table.stdout.splitlines()[0].split() == [
        "lang", "kept_documents", "duplicates", "prompts", "toxic_prompts"]  # fmt: skip
    csv_out = _run("sql", "SELECT lang, count(*) AS n FROM prompts GROUP BY 1 ORDER BY 1", "--db", "demo.duckdb",
                   "--csv", cwd=tmp_path)  # fmt: skip
    assert csv_out.stdout.startswith("lang,n\nde,")
    bad = _run("sql", "SELECT nope FROM prompts", "--db", "demo.duckdb", cwd=tmp_path)
    assert bad.returncode == 2 and "SQL error" in bad.stderr
    unknown = _run("query", "lang_summary", "--db", "demo.duckdb", "-p", "colour", "red", cwd=tmp_path)
    assert unknown.returncode == 2 and "unknown parameter colour" in unknown.stderr


@pytest.mark.slow
def test_eval_command_with_a_local_model(tmp_path: Path) -> None:
    from tiny_models import build_tiny_causal_lm

    model = build_tiny_causal_lm(tmp_path / "lm")
    assert _run("demo", "--db", "demo.duckdb", cwd=tmp_path).returncode == 0
    args = ["eval", "--db", "demo.duckdb", "--model", str(model), "--k", "2", "--max-new-tokens", "3",
            "--per-bucket", "2", "--langs", "de,es", "--limit", "6"]  # fmt: skip
    result = _run(*args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6 prompts, 12 continuations generated" in result.stdout
    assert "expected_max_toxicity" in result.stdout and "toxicity_probability" in result.stdout
    again = _run(*args, cwd=tmp_path)
    assert "0 continuations generated (6 prompts already done)" in again.stdout
    missing = _run("eval", "--db", "demo.duckdb", "--model", str(tmp_path / "nope"), cwd=tmp_path)
    assert missing.returncode == 2 and "does not exist" in missing.stderr


def test_scorer_options_are_typed() -> None:
    from toxmine.cli import _key_value

    assert _key_value("threads=2") == ("threads", 2)
    assert _key_value("threshold=0.5") == ("threshold", 0.5)
    assert _key_value("strict=false") == ("strict", False)
    assert _key_value("model=org/name=v1") == ("model", "org/name=v1")


@pytest.mark.slow
def test_safety_flow_on_the_shipped_samples(tmp_path: Path) -> None:
    """What `make safety-demo` runs, with a tiny local model: imports, both scenarios, judge, report."""
    from tiny_models import build_tiny_causal_lm

    samples = Path(__file__).resolve().parents[1] / "evaluate" / "data"
    model = build_tiny_causal_lm(tmp_path / "lm")
    db = ["--db", "s.duckdb"]
    for fmt, name, extra in (
        ("alert", "alert_sample.jsonl", []),
        ("multijail", "multijail_sample.csv", []),
        ("alert", "benign_groups.jsonl", ["--source", "benign", "--benign"]),
    ):
        result = _run("import", fmt, str(samples / name), *db, *extra, cwd=tmp_path)
        assert result.returncode == 0 and "imported" in result.stdout, result.stderr
    evaluate = ["eval", *db, "--model", str(model), "--source", "alert,multijail,benign", "--per-bucket", "1000",
                "--k", "2", "--max-new-tokens", "6", "--judge", "heuristic", "--group-by", "group"]  # fmt: skip
    plain = _run(*evaluate, cwd=tmp_path)
    assert plain.returncode == 0, plain.stderr
    assert "judged" in plain.stdout and "over_refusal_rate" in plain.stdout
    wrapped = _run(*evaluate, "--template", str(samples / "jailbreak_template.txt"), cwd=tmp_path)
    assert wrapped.returncode == 0, wrapped.stderr
    again = _run("judge", *db, "--judge", "heuristic", cwd=tmp_path)  # everything already judged
    assert again.returncode == 0 and again.stdout.count(": 0 continuations, 0 failed") == 2
    report = _run("report", *db, "--out", "rep", cwd=tmp_path)
    assert report.returncode == 0, report.stderr
    text = (tmp_path / "rep" / "report.md").read_text(encoding="utf-8")
    for heading in ("Safety score by risk category (ALERT)", "Unsafe rate by language resource level (MultiJail)",
                    "Refusal rates by group", "[template jailbreak_template.txt]"):  # fmt: skip
        assert heading in text
    con = duckdb.connect(str(tmp_path / "s.duckdb"), read_only=True)
    benign = con.execute("SELECT count(*), bool_and(NOT harmful) FROM prompts WHERE source = 'benign'").fetchone()
    langs = con.execute("SELECT count(DISTINCT lang) FROM prompts WHERE source = 'multijail'").fetchone()
    con.close()
    assert benign == (12, True) and langs == (10,)
    bad = _run("eval", *db, "--model", str(model), "--template", str(tmp_path / "none.txt"), cwd=tmp_path)
    assert bad.returncode == 2 and "none.txt: no such template file" in bad.stderr
