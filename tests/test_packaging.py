"""toxmine installs its folders under the `toxmine` namespace, so they never shadow Hugging
Face's `evaluate` (installed here as a dev dependency) or another `miner` package."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

pytestmark = pytest.mark.subprocess

REPO = Path(__file__).resolve().parents[1]


def _python(code: str, cwd: Path) -> str:
    result = subprocess.run([sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_toxmine_evaluate_coexists_with_hugging_face_evaluate(tmp_path: Path) -> None:
    out = _python(
        "import evaluate, importlib.util, toxmine.evaluate, toxmine.miner\n"
        "print(callable(getattr(evaluate, 'load', None)))\n"
        "print(hasattr(toxmine.evaluate, 'load'))\n"
        "print(importlib.util.find_spec('miner') is None)\n"
        "print(toxmine.miner.__name__)",
        cwd=tmp_path,
    )
    assert out.splitlines() == ["True", "False", "True", "toxmine.miner"]


def test_wheel_maps_the_folders_under_toxmine(tmp_path: Path) -> None:
    shutil.rmtree(REPO / "build", ignore_errors=True)  # setuptools reuses build/lib and stays quiet then
    build = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            str(REPO),
            "--no-deps",
            "--no-build-isolation",
            "-q",
            "-w",
            str(tmp_path),
        ],
        check=True,
        capture_output=True,
        text=True,
        timeout=300,
    )
    # setuptools still ships a subpackage missing from `packages`, but warns that it will stop
    assert "absent from the `packages` configuration" not in build.stderr, build.stderr
    wheel = next(tmp_path.glob("toxmine-*.whl"))
    names = zipfile.ZipFile(wheel).namelist()
    assert "toxmine/miner/mine.py" in names and "toxmine/evaluate/__init__.py" in names
    assert "toxmine/sql/migrations/001_mining.sql" in names
    assert "toxmine/miner/data/demo.warc.gz" in names and "toxmine/miner/data/iso639.tsv" in names
    templates = [f"toxmine/{p.relative_to(REPO)}" for p in (REPO / "evaluate" / "report_templates").glob("*.j2")]
    assert templates and not [t for t in templates if t not in names], "report templates left out of the wheel"
    assert not [n for n in names if n.split("/")[0] in {"miner", "evaluate", "sql", "tests"}]
    expected = [
        f"toxmine/{p.relative_to(REPO)}"
        for folder in ("miner", "evaluate", "sql")
        for p in (REPO / folder).rglob("*.py")
    ]
    assert "toxmine/miner/_native.pyi" in names
    assert [n for n in names if n.startswith("toxmine/miner/_native.") and n.endswith((".so", ".pyd"))], (
        "the C MinHash was not compiled into the wheel"
    )
    missing = [name for name in expected if name not in names]
    assert not missing, f"modules left out of the wheel (list their packages in pyproject.toml): {missing}"


def test_console_script_runs(tmp_path: Path) -> None:
    toxmine = Path(sys.executable).with_name("toxmine")
    result = subprocess.run([str(toxmine), "--version"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0 and result.stdout.startswith("toxmine ")
