"""The analyst notebooks run top to bottom on fresh databases."""

from __future__ import annotations

import os
from pathlib import Path

import nbformat
import pytest
from cli_runner import run_cli
from corpora import mined_corpus
from nbclient import NotebookClient
from openai_server import FakeOpenAI
from plugin_scorers import HashScorer
from tiny_models import build_tiny_causal_lm
from warc_builder import RealPage

from toxmine.evaluate.backends import create_backend
from toxmine.evaluate.params import GenerationParams
from toxmine.evaluate.run import EvalSelection, run_eval
from toxmine.evaluate.templates import resolve_template
from toxmine.miner.split import SplitOptions
from toxmine.miner.store import Store

pytestmark = pytest.mark.notebook

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def _execute(name: str, db: Path, cwd: Path, probe: str | None = None) -> list[dict[str, object]]:
    """Run the notebook on `db` (and then the `probe` code, in a cell of its own); its outputs, with no
    cell allowed to fail."""
    notebook = nbformat.read(NOTEBOOKS / name, as_version=4)
    if probe is not None:
        notebook.cells.append(nbformat.v4.new_code_cell(probe))
    os.environ["TOXMINE_DB"] = str(db)
    try:
        NotebookClient(
            notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(cwd)}}
        ).execute()
    finally:
        del os.environ["TOXMINE_DB"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    return outputs


def _images(outputs: list[dict[str, object]]) -> int:
    return sum("image/png" in o.get("data", {}) for o in outputs)  # type: ignore[operator]


def test_explore_demo_notebook_executes(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    assert run_cli("demo", "--db", str(db), cwd=tmp_path, env={"CI": "1"}).returncode == 0
    assert _images(_execute("explore_demo.ipynb", db, tmp_path)) >= 3  # languages, buckets, histograms


def test_eval_report_notebook_executes(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    db = mined_corpus(tmp_path, demo_pages, every=4, score=True)
    with Store(str(db)) as store:
        for seed in (0, 1):
            model = create_backend(str(build_tiny_causal_lm(tmp_path / f"lm-{seed}", seed=seed)))
            selection = EvalSelection(SplitOptions(per_bucket=2, langs=["de", "en"], scorer="hash"))
            run_eval(store, model, GenerationParams(k=2, max_new_tokens=4), selection, HashScorer())
    outputs = _execute("eval_report.ipynb", db, tmp_path)
    assert _images(outputs) == 3  # per language, per bucket, per resource level
    tables = [str(o.get("data", {}).get("text/plain", "")) for o in outputs]  # type: ignore[attr-defined]
    assert any("lm-0" in t and "lm-1" in t for t in tables)  # both models side by side


@pytest.mark.slow
def test_eval_report_notebook_draws_each_run_of_one_model_apart(
    tmp_path: Path, demo_pages: list[RealPage], fake_server: FakeOpenAI
) -> None:
    """Two runs of one model (with and without --template) crashed the charts ("cannot reindex on an axis
    with duplicate labels"), and an openai:MODEL@http://host/v1 model was named "v1" in the legends."""
    fake_server.reset()
    db = mined_corpus(tmp_path, demo_pages, every=4, score=True)
    model = create_backend(str(build_tiny_causal_lm(tmp_path / "lm")))
    served = create_backend(f"openai:tiny-chat@{fake_server.base_url}")
    selection = EvalSelection(SplitOptions(per_bucket=2, langs=["de", "en"], scorer="hash"))
    params = GenerationParams(k=2, max_new_tokens=4)
    with Store(str(db)) as store:
        for backend, template in ((model, None), (model, resolve_template("aim")), (served, None)):
            run_eval(store, backend, params, selection, HashScorer(), template=template)
    probe = "print(sorted(set(by_lang['label'])), sorted(set(by_bucket['label'])), sorted(set(levels['label'])))"
    outputs = _execute("eval_report.ipynb", db, tmp_path, probe)
    assert _images(outputs) == 3
    printed = "".join(str(o.get("text", "")) for o in outputs if o.get("output_type") == "stream")
    expected = sorted(["lm", "lm [template aim]", f"tiny-chat@{fake_server.base_url}"])
    assert printed.strip().splitlines()[-1] == f"{expected} {expected} {expected}"
