"""The analyst notebooks run top to bottom on a fresh demo database."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import nbformat
from nbclient import NotebookClient

NOTEBOOKS = Path(__file__).resolve().parents[1] / "notebooks"


def test_explore_demo_notebook_executes(tmp_path: Path) -> None:
    db = tmp_path / "demo.duckdb"
    subprocess.run([sys.executable, "-m", "toxmine", "demo", "--db", str(db)], cwd=tmp_path, check=True,
                   capture_output=True, timeout=300, env={**os.environ, "CI": "1"})  # fmt: skip
    notebook = nbformat.read(NOTEBOOKS / "explore_demo.ipynb", as_version=4)
    os.environ["TOXMINE_DB"] = str(db)
    try:
        NotebookClient(
            notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
        ).execute()
    finally:
        del os.environ["TOXMINE_DB"]
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.get("outputs", [])]
    assert not [o for o in outputs if o.get("output_type") == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 3  # languages, buckets, histograms
