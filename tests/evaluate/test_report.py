"""`toxmine report`: two models evaluated on one split, compared in Markdown and self-contained HTML."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from cli_runner import run_cli
from corpora import mined_corpus
from plugin_scorers import HashScorer
from tiny_models import build_tiny_causal_lm
from warc_builder import RealPage

from toxmine.evaluate.backends import create_backend
from toxmine.evaluate.params import GenerationParams
from toxmine.evaluate.report import collect_report, render_markdown, write_report
from toxmine.evaluate.run import EvalSelection, run_eval
from toxmine.miner.errors import ConfigError
from toxmine.miner.queries import load_query, run_sql
from toxmine.miner.split import SplitOptions
from toxmine.miner.store import Store

pytestmark = pytest.mark.slow  # every test here waits on a module fixture that takes over 3 s

PARAMS = GenerationParams(k=3, max_new_tokens=4, seed=1)
SELECTION = EvalSelection(SplitOptions(per_bucket=2, langs=["de", "en", "es"], scorer="hash"))


@pytest.fixture(scope="module")
def evaluated_db(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> tuple[Path, list[str]]:
    """A scored demo corpus with two tiny models evaluated on the same split."""
    folder = tmp_path_factory.mktemp("report")
    db = mined_corpus(folder, demo_pages, every=3, score=True)
    run_ids = []
    with Store(str(db)) as store:
        store.con.execute("UPDATE languages SET resource_level = 'low' WHERE lang = 'es'")
        for seed in (0, 1):
            model = build_tiny_causal_lm(folder / f"tiny-lm-{seed}", seed=seed)
            report = run_eval(store, create_backend(str(model)), PARAMS, SELECTION, HashScorer())
            run_ids.append(report.eval_run_id)
    return db, run_ids


def _metric(store: Store, run_id: str, lang: str, bucket: str, metric: str) -> float:
    row = store.con.execute(
        "SELECT value FROM eval_metrics WHERE eval_run_id = ? AND lang = ? AND bucket = ? AND metric = ?",
        [run_id, lang, bucket, metric],
    ).fetchone()
    assert row is not None
    return float(row[0])


def test_report_compares_runs_by_language_bucket_and_resource_level(evaluated_db: tuple[Path, list[str]]) -> None:
    db, run_ids = evaluated_db
    with Store(str(db)) as store:
        data = collect_report(store)
        assert [run.eval_run_id for run in data.runs] == run_ids
        assert [run.model.rsplit("/", 1)[-1] for run in data.runs] == ["tiny-lm-0", "tiny-lm-1"]
        assert data.groups["lang"] == ["de", "en", "es"]  # high-resource languages first
        assert data.groups["resource"] == ["high", "low"]
        assert len(data.groups["bucket"]) >= 2 and data.groups["bucket"][0].startswith("[0, ")
        for run_id in run_ids:
            emt = "expected_max_toxicity"
            overall = data.cell(run_id, "all", "all", emt)
            assert overall is not None and overall.value == pytest.approx(_metric(store, run_id, "all", "all", emt))
            # es is the only low-resource language: its level's figures are its own
            es, low = data.cell(run_id, "lang", "es", emt), data.cell(run_id, "resource", "low", emt)
            assert es is not None and low is not None
            assert (low.value, low.n_prompts) == pytest.approx((es.value, es.n_prompts))
            high = data.cell(run_id, "resource", "high", emt)
            assert high is not None and high.n_prompts + low.n_prompts == overall.n_prompts
            assert high.ci_low <= high.value <= high.ci_high
        # the named query analysts and the notebook use gives the same point estimates
        query = load_query("emt_by_resource_level")
        columns, rows = run_sql(store.con, query.sql, query.bind({}))
        by_sql = {(r[columns.index("eval_run_id")], r[columns.index("resource_level")]): r for r in rows}
        for (run_id, level), row in by_sql.items():
            cell = data.cell(run_id, "resource", level, "expected_max_toxicity")
            assert cell is not None and row[columns.index("expected_max_toxicity")] == pytest.approx(
                cell.value, abs=1e-4
            )
            assert row[columns.index("prompts")] == cell.n_prompts
        assert len(by_sql) == 4
        markdown = render_markdown(data)
        first = data.cell(run_ids[0], "all", "all", "expected_max_toxicity")
        assert first is not None
        overall_row = next(line for line in markdown.splitlines() if line.startswith("| Expected maximum toxicity"))
        assert f"{first.value:.3f} [{first.ci_low:.3f}, {first.ci_high:.3f}]" in overall_row
        assert "| es (low) |" in markdown and "| de (high) |" in markdown


def test_report_files_are_self_contained(evaluated_db: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, run_ids = evaluated_db
    with Store(str(db)) as store:
        files = write_report(store, tmp_path / "out", run_ids=[run_ids[1]])
    page = files.html.read_text(encoding="utf-8")
    assert page.count("<svg") == 3 and "tiny-lm-1" in page and "tiny-lm-0" not in page
    assert not re.search(r"""(src|href)=["']?(https?:|//)""", page)  # no external resources
    assert sorted(p.name for p in files.figures) == [
        "report_emt_by_bucket.svg", "report_emt_by_language.svg", "report_emt_by_resource_level.svg",
    ]  # fmt: skip
    markdown = files.markdown.read_text(encoding="utf-8")
    assert "![By language: expected maximum toxicity](report_emt_by_language.svg)" in markdown


def test_report_errors_name_the_input(evaluated_db: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, _ = evaluated_db
    with Store(str(db)) as store, pytest.raises(ConfigError, match="no evaluation run nope"):
        collect_report(store, ["nope"])
    with Store(str(tmp_path / "empty.duckdb")) as store, pytest.raises(ConfigError, match="no evaluation runs yet"):
        collect_report(store)


def test_report_command(evaluated_db: tuple[Path, list[str]], tmp_path: Path) -> None:
    db, _ = evaluated_db
    result = run_cli("report", "--db", str(db), "--out", str(tmp_path / "r"))
    assert result.returncode == 0, result.stderr
    assert "report.md" in result.stdout and (tmp_path / "r" / "report.html").exists()
    missing = run_cli("report", "--db", str(tmp_path / "none.duckdb"))
    assert missing.returncode == 2 and "none.duckdb: no such database" in missing.stderr
