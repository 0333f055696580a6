"""The command line's options: one meaning per flag, every option documented, defaults from the option
dataclasses, backend options reaching any backend without a CLI edit."""

from __future__ import annotations

import argparse
import inspect
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import pytest
from plugin_judges import HashJudge

from toxmine.cli import build_parser, main
from toxmine.evaluate.backends import BACKENDS, Completion
from toxmine.evaluate.default_model import DEFAULT_MODEL_SPEC
from toxmine.evaluate.judges import JUDGES
from toxmine.evaluate.metrics import MIN_PROMPTS
from toxmine.evaluate.params import GenerationParams
from toxmine.evaluate.report_data import DEFAULT_SAMPLES_PER_CELL
from toxmine.evaluate.run import run_eval
from toxmine.miner.band_segments import DEFAULT_FANOUT
from toxmine.miner.dedup import DedupOptions
from toxmine.miner.extract import ExtractOptions
from toxmine.miner.http import HttpOptions
from toxmine.miner.langid import LidOptions
from toxmine.miner.process import ProcessOptions
from toxmine.miner.prompts import DEFAULT_PROMPT_STYLE, PromptOptions
from toxmine.miner.scoring.transformer import TransformersScorer
from toxmine.miner.split import SplitOptions, export_split
from toxmine.miner.units import DEFAULT_UNIT_MB

SAMPLES = Path(__file__).resolve().parents[1] / "evaluate" / "data"
COMMANDS = {"mine", "demo", "score", "split", "query", "sql", "eval", "report", "judge", "export-results", "import"}
COMMANDS.add("select")

# Hidden on purpose: old spellings kept because they mean the same as the new name, and renamed flags
# whose old spelling meant something else (they stop with an error naming the new flag).
ALIASES = {"--out", "--output"}
RENAMED = {("split", "--seed"), ("split", "--scorer"), ("report", "--judge")}


def _commands() -> dict[str, argparse.ArgumentParser]:
    parser = build_parser()
    sub = next(a for a in parser._actions if isinstance(a, argparse._SubParsersAction))
    return dict(sub.choices)


def _options(cmd: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    return {flag: action for action in cmd._actions for flag in action.option_strings}


def test_every_command_every_option_and_positional_has_help() -> None:
    commands = _commands()
    assert set(commands) == COMMANDS
    missing = []
    for name, cmd in commands.items():
        for action in cmd._actions:
            hidden = action.help == argparse.SUPPRESS
            flags = set(action.option_strings)
            if hidden and (flags <= ALIASES or any((name, flag) in RENAMED for flag in flags)):
                continue
            if not action.help or hidden:
                missing.append(f"{name} {'/'.join(action.option_strings) or action.metavar or action.dest}")
    assert missing == []


@pytest.mark.parametrize("command", sorted(COMMANDS))
def test_every_command_has_logging_and_progress_options(command: str) -> None:
    options = _options(_commands()[command])
    for flag, dest in (("--log-json", "log_json"), ("-v", "verbose"), ("--verbose", "verbose"),
                       ("--progress", "progress"), ("--no-progress", "progress")):  # fmt: skip
        assert flag in options and options[flag].dest == dest and options[flag].help not in (None, argparse.SUPPRESS)


def test_one_flag_one_meaning_across_commands() -> None:
    dests: dict[str, set[str]] = {}
    for name, cmd in _commands().items():
        for flag, action in _options(cmd).items():
            if (name, flag) not in RENAMED:
                dests.setdefault(flag, set()).add(action.dest)
    assert {flag: d for flag, d in dests.items() if len(d) > 1} == {}
    commands = _commands()
    # the split's sampling seed and the prompt scorer are named alike in split and eval; --seed is eval's
    # generation seed, --scorer scores texts, --judge is a judge spec, --judge-name a stored judge's name
    for name in ("split", "eval"):
        assert {"--split-seed", "--prompt-scorer", "--per-bucket", "--buckets", "--source"} <= set(
            _options(commands[name])
        )
    assert [n for n, c in commands.items() if "--seed" in _options(c) and (n, "--seed") not in RENAMED] == ["eval"]
    assert not [n for n, c in commands.items() if "--prompt-style" in _options(c) and n in ("eval", "import")]
    assert "--judge-name" in _options(commands["report"])
    for name in ("split", "report", "query", "sql", "eval", "export-results"):
        assert {"--output-path", "-o"} <= set(_options(commands[name])), name


def test_renamed_flags_stop_with_the_new_name(capsys: pytest.CaptureFixture[str]) -> None:
    for argv, new in ((["split", "--seed", "3"], "--split-seed"), (["split", "--scorer", "x"], "--prompt-scorer"),
                      (["report", "--judge", "heuristic"], "--judge-name")):  # fmt: skip
        with pytest.raises(SystemExit) as exited:
            build_parser().parse_args(argv)
        assert exited.value.code == 2 and new in capsys.readouterr().err, argv


def test_old_output_spellings_mean_the_output_path() -> None:
    parse = build_parser().parse_args
    assert parse(["split", "--out", "a"]).output_path == "a" and parse(["split", "-o", "b"]).output_path == "b"
    assert parse(["report", "--out", "r"]).output_path == "r" and parse(["report"]).output_path == "report"
    assert parse(["sql", "SELECT 1", "--output", "f.csv"]).output_path == "f.csv"
    assert parse(["query", "q", "-o", "f.csv"]).output_path == "f.csv" and parse(["query"]).output_path is None
    assert parse(["eval", "--seed", "4", "--split-seed", "5"]).seed == 4


def _default(cls: type, name: str) -> Any:
    return cls.__dataclass_fields__[name].default


DEFAULTS = [
    ("mine", "lid_threshold", _default(LidOptions, "threshold")),
    ("mine", "lid_sample_chars", _default(LidOptions, "sample_chars")),
    ("mine", "ngram", _default(DedupOptions, "ngram")),
    ("mine", "bands", _default(DedupOptions, "bands")),
    ("mine", "rows", _default(DedupOptions, "rows")),
    ("mine", "char_ngram", _default(DedupOptions, "char_ngram")),
    ("mine", "min_chars", _default(ProcessOptions, "min_chars")),
    ("mine", "extract_timeout", _default(ExtractOptions, "timeout_s")),
    ("mine", "extract_memory_mb", _default(ExtractOptions, "memory_mb")),
    ("mine", "http_retries", _default(HttpOptions, "max_retries")),
    ("mine", "http_timeout", _default(HttpOptions, "timeout_s")),
    ("mine", "http_deadline", _default(HttpOptions, "deadline_s")),
    ("mine", "http_min_rate", _default(HttpOptions, "min_bytes_per_s")),
    ("mine", "unit_mb", DEFAULT_UNIT_MB),
    ("mine", "compact_fanout", DEFAULT_FANOUT),
    ("mine", "prompt_style", DEFAULT_PROMPT_STYLE),
    ("score", "split_fraction", _default(PromptOptions, "split_fraction")),
    ("score", "max_prompts_per_doc", _default(PromptOptions, "max_spans_per_doc")),
    ("score", "scorer_batch_size", inspect.signature(TransformersScorer).parameters["batch_size"].default),
    ("split", "per_bucket", _default(SplitOptions, "per_bucket")),
    ("split", "split_seed", _default(SplitOptions, "seed")),
    ("split", "buckets", _default(SplitOptions, "bucket_edges")),
    ("eval", "per_bucket", _default(SplitOptions, "per_bucket")),
    ("eval", "split_seed", _default(SplitOptions, "seed")),
    ("eval", "buckets", _default(SplitOptions, "bucket_edges")),
    ("eval", "min_prompts", MIN_PROMPTS),
    ("eval", "batch_size", inspect.signature(run_eval).parameters["batch_prompts"].default),
    ("eval", "seed", None),
    ("eval", "preset", inspect.signature(run_eval).parameters["protocol"].default),
    ("eval", "model", DEFAULT_MODEL_SPEC),
    ("report", "samples_per_cell", DEFAULT_SAMPLES_PER_CELL),
    (
        "split",
        "name",
        inspect.signature(export_split).parameters["name"].default,
    ),  # the preset's (GenerationParams.seed unless a preset sets one)
]


@pytest.mark.parametrize(("command", "dest", "expected"), DEFAULTS)
def test_defaults_come_from_the_option_dataclasses(command: str, dest: str, expected: object) -> None:
    argv = {"mine": ["mine", "--db", "x.duckdb"], "sql": ["sql", "SELECT 1"]}.get(command, [command])
    assert getattr(build_parser().parse_args(argv), dest) == expected


def test_the_max_record_default_is_the_process_default() -> None:
    args = build_parser().parse_args(["mine", "--db", "x.duckdb"])
    assert int(args.max_record_mb * (1 << 20)) == _default(ProcessOptions, "max_record_bytes")
    helps = {flag: action.help or "" for flag, action in _options(_commands()["mine"]).items()}
    assert str(_default(LidOptions, "threshold")) in helps["--lid-threshold"]
    assert f"default {_default(DedupOptions, 'bands')}" in helps["--bands"]


@pytest.mark.parametrize("command", ["score", "split", "eval", "judge", "report", "export-results", "query", "sql"])
def test_commands_reading_a_database_refuse_a_missing_one(
    command: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    db = tmp_path / "none.duckdb"
    extra = {"query": ["lang_summary"], "sql": ["SELECT 1"], "judge": ["--judge", "heuristic"],
             "export-results": ["--output-path", str(tmp_path / "o")]}.get(command, [])  # fmt: skip
    assert main([command, *extra, "--db", str(db), "--no-progress"]) == 2
    assert f"{db}: no such database" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


class RecordingBackend:
    """A model backend registered at test time: echoes the prompt's first word, records its options."""

    name = "recording"
    built: ClassVar[list[dict[str, Any]]] = []

    def __init__(self, model: str, flavour: str = "plain", max_len: int = 0) -> None:
        self.model = model
        RecordingBackend.built.append({"model": model, "flavour": flavour, "max_len": max_len})

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        return [[Completion(f"{prompt.split()[0]} {i}") for i in range(params.k)] for prompt in prompts]


@pytest.fixture
def alert_db(tmp_path: Path) -> Path:
    db = tmp_path / "alert.duckdb"
    assert main(["import", "alert", str(SAMPLES / "alert_sample.jsonl"), "--db", str(db)]) == 0
    return db


def test_a_registered_backend_and_judge_need_no_cli_edit(
    alert_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`--model-option KEY=VALUE` reaches a backend's own options; a judge registered by name is usable."""
    monkeypatch.setitem(BACKENDS._entries, "recording", RecordingBackend)
    monkeypatch.setitem(JUDGES._entries, "hashy", HashJudge)
    monkeypatch.setattr(RecordingBackend, "built", [])
    code = main(["eval", "--db", str(alert_db), "--model", "recording:m1", "--model-option", "flavour=salty",
                 "--model-option", "max_len=4096", "--k", "2", "--limit", "3", "--judge", "hashy",
                 "--no-progress"])  # fmt: skip
    out = capsys.readouterr().out
    assert code == 0 and RecordingBackend.built == [{"model": "m1", "flavour": "salty", "max_len": 4096}]
    assert "3 prompts, 6 continuations generated" in out and "judged" in out and "hash-judge" in out


def test_a_backend_option_the_backend_does_not_take_is_a_clear_error(
    alert_db: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(BACKENDS._entries, "recording", RecordingBackend)
    monkeypatch.setattr(RecordingBackend, "built", [])
    for extra, named in ((["--model-option", "colour=red"], "colour"), (["--gguf-file", "w.gguf"], "gguf_file"),
                         (["--concurrency", "2"], "concurrency")):  # fmt: skip
        code = main(["eval", "--db", str(alert_db), "--model", "recording:m1", *extra, "--limit", "1",
                     "--no-progress"])  # fmt: skip
        err = capsys.readouterr().err
        assert code == 2 and named in err and "flavour" in err and "Traceback" not in err, err
    assert RecordingBackend.built == []
    with pytest.raises(SystemExit):
        build_parser().parse_args(["eval", "--model-option", "no-equals-sign"])


class EngineBackend:
    """A backend taking any keyword (as vLLM's engine arguments), and one naming the device it runs on."""

    name = "engine"

    def __init__(self, model: str, seed: int = 0, **engine: Any) -> None:
        self.model, self.seed, self.engine = model, seed, engine


class DeviceBackend(EngineBackend):
    def __init__(self, model: str, device: str = "auto") -> None:
        super().__init__(model, device=device)


def test_model_options_reach_a_backend_taking_any_keyword(monkeypatch: pytest.MonkeyPatch) -> None:
    from toxmine.cli_groups import backend_options
    from toxmine.evaluate.backends import create_backend

    monkeypatch.setitem(BACKENDS._entries, "engine", EngineBackend)
    monkeypatch.setitem(BACKENDS._entries, "device", DeviceBackend)
    args = build_parser().parse_args(["eval", "--model-option", "gpu_memory_utilization=0.8", "--model-option",
                                      "max_model_len=4096", "--request-timeout", "5", "--device", "cpu"])  # fmt: skip
    options = backend_options(args)
    assert options == {"gpu_memory_utilization": 0.8, "max_model_len": 4096, "timeout_s": 5.0}
    engine = create_backend("engine:m", shared={"device": args.device}, **options)
    assert isinstance(engine, EngineBackend) and engine.model == "m"
    assert engine.engine == options  # the shared device goes only to backends that name it
    on_cpu = create_backend("device:m", shared={"device": args.device})
    assert isinstance(on_cpu, DeviceBackend) and on_cpu.engine == {"device": "cpu"}
    overridden = create_backend("device:m", shared={"device": "cpu"}, device="cuda:1")
    assert isinstance(overridden, DeviceBackend) and overridden.engine == {"device": "cuda:1"}


def test_lid_sample_chars_refuses_a_negative_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exited:
        build_parser().parse_args(["mine", "--db", "x.duckdb", "--lid-sample-chars", "-5"])
    assert exited.value.code == 2 and "--lid-sample-chars: must be at least 0, got -5" in capsys.readouterr().err
    assert build_parser().parse_args(["mine", "--db", "x.duckdb", "--lid-sample-chars", "0"]).lid_sample_chars == 0
