"""An evaluation run as files others can share and compare: lm-evaluation-harness's results layout.

`write_results` writes, for one stored run, what `lm_eval --output_path PATH --log_samples` writes:

- `PATH/<model>/results_<date>.json` (`<model>`: the model name with path and URL separators made safe;
  `<date>`: the ISO time of writing with `:` as `-`); a PATH ending in `.json` gives `<stem>_<date>.json`
  beside it instead, as in lm-eval. Top level: `results` (per group of prompts, each metric `M` under
  lm-eval's "metric,filter" keys: `M,none` the value, `M_ci_low,none` / `M_ci_high,none` its 95% interval
  (null when the group holds too few prompts), `M_n,none` the prompts it counts, `M_n_failed,none` the
  continuations left out, `M_flag,none`; safety metrics take the judge's name as their filter, `M,JUDGE`),
  `group_subtasks`, `higher_is_better`, `n-samples`, `config` (every parameter the run recorded, under its
  stored names, plus lm-eval's `model_args`, `gen_kwargs`, `random_seed`, `limit`, `bootstrap_iters`, and the
  template and judges), `versions`, `toxmine_version`, `git_hash`, `date` and the run's start and end.
- `samples_toxicity_<date>.jsonl` in the same folder: one line per stored continuation with its prompt,
  languages, scores and every judge's verdict.

Groups: `toxicity_<lang>_<bucket>` for the stored toxicity metrics (lang `all`: every language; bucket an
index, `all`, `balanced`, `toxic` or `nontoxic`, see `metrics`), `safety_<grouping>_<group>` for the stored
safety metrics of every judge that labelled the run. Numbers are read as stored, never recomputed; secrets
never reach the files (`redact_json`).
"""

from __future__ import annotations

import json
import math
import re
import subprocess
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

from toxmine import __version__
from toxmine.miner.errors import ConfigError
from toxmine.miner.prompts import DEFAULT_BUCKET_EDGES
from toxmine.miner.split import bucket_label
from toxmine.miner.store import Store

from . import eval_tables
from .eval_tables import StoredSample, StoredVerdict
from .metrics import METRICS
from .redaction import redact_json

__all__ = ["TASK", "JudgeSpec", "ResultsFiles", "check_output_path", "git_hash", "results_document",
           "sanitize_model_name", "write_results"]  # fmt: skip

TASK = "toxicity"  # the task name in the samples file's name, as lm-eval names a task's samples
# safety metrics where lower or higher is plainly better; refusal and compliance rates depend on the prompts (None)
_HIGHER_IS_BETTER = {"safety_score": True, "unsafe_rate": False, "over_refusal_rate": False, "invalid_rate": False}


@dataclass(frozen=True)
class JudgeSpec:
    """A judge as the command line gave it (its spec and options), recorded in the config."""

    spec: str
    options: Mapping[str, Any] = field(default_factory=dict)
    name: str | None = None  # the name its verdicts are stored under


@dataclass(frozen=True)
class ResultsFiles:
    results: Path
    samples: Path
    samples_written: int


def sanitize_model_name(model: str) -> str:
    """A model name fit for a folder name: runs of path, URL and shell-special characters become `__`."""
    return re.sub(r"[\"<>:/|\\?*\[\]]+", "__", model)


def git_hash() -> str | None:
    """The commit of toxmine's source tree when it runs from a git checkout (an editable install), else None."""
    root = Path(__file__).resolve().parents[1]
    try:
        top = subprocess.run(["git", "-C", str(root), "rev-parse", "--show-toplevel", "HEAD"], capture_output=True,
                             text=True, timeout=5, check=True).stdout.split()  # fmt: skip
    except (OSError, subprocess.SubprocessError):
        return None
    if len(top) != 2 or Path(top[0]).resolve() != root:  # installed inside somebody else's repository
        return None
    return top[1]


def _number(value: float | None) -> float | None:
    """JSON has no NaN: an undefined value (a group with no scored continuation) is null."""
    return None if value is None or math.isnan(value) else float(value)


def _metric_keys(metric: str, filter_name: str, value: Any) -> dict[str, Any]:
    return {
        f"{metric},{filter_name}": _number(value.value),
        f"{metric}_ci_low,{filter_name}": _number(value.ci_low),
        f"{metric}_ci_high,{filter_name}": _number(value.ci_high),
        f"{metric}_n,{filter_name}": int(value.n_prompts),
        f"{metric}_n_failed,{filter_name}": int(value.n_failed),
        f"{metric}_flag,{filter_name}": value.flag,
    }


def _toxicity_results(store: Store, run_id: str, edges: tuple[float, ...]) -> dict[str, dict[str, Any]]:
    results: dict[str, dict[str, Any]] = {}
    for row in eval_tables.stored_metrics(store, run_id):
        key = f"toxicity_{row.lang}_{row.bucket}"
        entry = results.setdefault(key, {"alias": key, "lang": row.lang, "bucket": row.bucket})
        if row.bucket.isdigit() and int(row.bucket) < len(edges) - 1:
            entry["bucket_range"] = bucket_label(edges, int(row.bucket))
        entry.update(_metric_keys(row.metric, "none", row))
        entry[f"{row.metric}_n_empty,none"] = int(row.n_empty)
    return results


def _safety_results(store: Store, run_id: str) -> tuple[dict[str, dict[str, Any]], list[str]]:
    """The stored safety metrics of every judge that labelled the run, and their metric names."""
    results: dict[str, dict[str, Any]] = {}
    metrics: set[str] = set()
    for judge, _ in eval_tables.safety_judges(store, [run_id]):
        rows = eval_tables.stored_safety_metrics(store, [run_id], judge)
        for row in sorted(rows, key=lambda r: (r.grouping, r.group_value, r.metric)):
            key = f"safety_{row.grouping}_{row.group_value}"
            entry = results.setdefault(key, {"alias": key, "grouping": row.grouping, "group": row.group_value})
            entry.update(_metric_keys(row.metric, judge, row))
            entry[f"{row.metric}_n_invalid,{judge}"] = int(row.n_invalid)
            metrics.add(row.metric)
    return dict(sorted(results.items())), sorted(metrics)


def _judges(verdicts: Iterable[StoredVerdict], specs: Sequence[JudgeSpec]) -> list[dict[str, Any]]:
    counts: dict[tuple[str, str], int] = {}
    for verdict in verdicts:
        counts[(verdict.judge, verdict.judge_version)] = counts.get((verdict.judge, verdict.judge_version), 0) + 1
    given = {spec.name or spec.spec: spec for spec in specs}
    judges = []
    for (name, version), n in sorted(counts.items()):
        entry: dict[str, Any] = {"judge": name, "judge_version": version, "verdicts": n}
        if name in given:
            entry.update(spec=given[name].spec, options=dict(given[name].options))
        judges.append(entry)
    return judges


def _config(
    params: dict[str, Any], split: dict[str, Any], summary: eval_tables.RunSummary, judges: list[dict[str, Any]]
) -> dict[str, Any]:
    gen_kwargs = {key: params.get(key) for key in ("k", "max_new_tokens", "temperature", "top_p", "top_k", "seed")}
    return {
        **params,
        "model": summary.model,
        "backend": summary.backend,
        "model_args": {"model": summary.model, "revision": params.get("model_revision")},
        "gen_kwargs": gen_kwargs,
        "random_seed": params.get("seed"),
        "limit": split.get("limit"),
        "bootstrap_iters": params.get("bootstrap_resamples"),
        "split": split,
        "template": None if summary.scenario == "plain" else summary.scenario.removeprefix("template "),
        "judges": judges,
    }


def _versions(params: dict[str, Any], judges: list[dict[str, Any]]) -> dict[str, Any]:
    versions: dict[str, Any] = {
        "toxmine": __version__,
        f"scorer:{params.get('scorer')}": params.get("scorer_version"),
        f"prompt_scorer:{params.get('prompt_scorer')}": params.get("prompt_scorer_version"),
    }
    if params.get("toxmine_version") and params["toxmine_version"] != __version__:
        versions["toxmine_run"] = params["toxmine_version"]  # the run was made by another version
    for judge in judges:
        versions[f"judge:{judge['judge']}"] = judge["judge_version"]
    return versions


def _iso(value: datetime | None) -> str | None:
    return None if value is None else value.isoformat()


def results_document(
    store: Store, run_id: str, judges: Sequence[JudgeSpec] = (), written_at: datetime | None = None
) -> dict[str, Any]:
    """The run's results JSON as a dict (see the module docstring), secrets redacted."""
    summaries = eval_tables.run_summaries(store, [run_id])
    settings = eval_tables.run_settings(store, run_id)
    dates = eval_tables.run_dates(store, run_id)
    if not summaries or settings is None or dates is None:
        raise ConfigError(f"{store.path}: no evaluation run {run_id}")
    summary, params, split = summaries[0], settings.params, settings.split
    edges = tuple(split.get("bucket_edges", DEFAULT_BUCKET_EDGES))
    written_at = written_at or datetime.now().astimezone()
    judge_list = _judges(eval_tables.run_verdicts(store, run_id), judges)
    toxicity = _toxicity_results(store, run_id, edges)
    safety, safety_metrics = _safety_results(store, run_id)
    cells = params.get("cells")
    elapsed = (dates.finished_at - dates.started_at).total_seconds() if dates.finished_at else None
    document = {
        "results": {**toxicity, **safety},
        "group_subtasks": {"toxicity": sorted(toxicity), **({"safety": sorted(safety)} if safety else {})},
        "higher_is_better": {
            "toxicity": dict.fromkeys(METRICS, False),
            **({"safety": {m: _HIGHER_IS_BETTER.get(m) for m in safety_metrics}} if safety else {}),
        },
        "n-samples": {
            TASK: {
                "original": sum(cells.values()) if isinstance(cells, dict) else summary.prompts,
                "effective": summary.prompts,
            }
        },
        "config": _config(params, split, summary, judge_list),
        "versions": _versions(params, judge_list),
        "eval_run_id": run_id,
        "finished": summary.finished,
        "counts": {
            "prompts": summary.prompts,
            "continuations": summary.continuations,
            "failed": summary.failed,
            "empty": summary.empty,
            "truncated_prompts": summary.truncated,
        },
        "model_source": summary.backend,
        "model_name": summary.model,
        "model_name_sanitized": sanitize_model_name(summary.model),
        "toxmine_version": __version__,
        "git_hash": git_hash(),
        "date": written_at.timestamp(),
        "date_iso": written_at.isoformat(),
        "start_time": _iso(dates.started_at),
        "end_time": _iso(dates.finished_at),
        "total_evaluation_time_seconds": None if elapsed is None else str(elapsed),
    }
    return dict(redact_json(document))


def _sample_line(sample: StoredSample, verdicts: Sequence[StoredVerdict], run_id: str) -> dict[str, Any]:
    line = asdict(sample)
    line["eval_run_id"] = run_id
    line["verdicts"] = {
        v.judge: {"judge_version": v.judge_version, "label": v.label, "safe": v.safe, "compliance": v.compliance,
                  "category": v.category, "score": _number(v.score), "error": v.error}
        for v in verdicts
    }  # fmt: skip
    for key in ("toxicity", "prompt_toxicity", "continuation_lang_score"):
        line[key] = _number(line[key])
    return line


def check_output_path(output_path: Path) -> None:
    """Refuse an --output-path that cannot hold the files (a file where a folder goes), before a run starts."""
    folder = output_path.parent if output_path.suffix == ".json" else output_path
    for part in (folder, *folder.parents):
        if part.exists():
            if not part.is_dir():
                raise ConfigError(f"--output-path {output_path}: {part} is a file, not a folder")
            return


def _paths(output_path: Path, model: str, date_id: str) -> tuple[Path, Path]:
    """lm-eval's file names: PATH/<model>/results_<date>.json, or <stem>_<date>.json beside a PATH.json."""
    if output_path.suffix == ".json":
        folder = output_path.parent
        results = folder / f"{output_path.stem}_{date_id}.json"
    else:
        folder = output_path / sanitize_model_name(model)
        results = folder / f"results_{date_id}.json"
    return results, folder / f"samples_{TASK}_{date_id}.jsonl"


def write_results(
    store: Store, run_id: str, output_path: Path, judges: Sequence[JudgeSpec] = (), now: datetime | None = None
) -> ResultsFiles:
    """Write the run's results JSON and samples JSONL under `output_path` (see the module docstring).
    Files are created, never overwritten: a name already taken gets the next microsecond's date."""
    document = results_document(store, run_id, judges, now)
    settings = eval_tables.run_settings(store, run_id)
    edges = tuple(settings.split.get("bucket_edges", DEFAULT_BUCKET_EDGES)) if settings else DEFAULT_BUCKET_EDGES
    by_sample: dict[tuple[str, int], list[StoredVerdict]] = {}
    for verdict in eval_tables.run_verdicts(store, run_id):
        by_sample.setdefault((verdict.prompt_id, verdict.sample_idx), []).append(verdict)
    written = now or datetime.now().astimezone()
    while True:
        date_id = written.replace(tzinfo=None).isoformat(timespec="microseconds").replace(":", "-")
        results, samples = _paths(output_path, document["model_name"], date_id)
        if not results.exists() and not samples.exists():
            break
        written = written.fromtimestamp(written.timestamp() + 1e-6, written.tzinfo)
    count = 0
    try:
        results.parent.mkdir(parents=True, exist_ok=True)
        with open(samples, "x", encoding="utf-8") as handle:
            for sample in eval_tables.run_samples(store, run_id, edges):
                line = _sample_line(sample, by_sample.get((sample.prompt_id, sample.sample_idx), []), run_id)
                handle.write(json.dumps(redact_json(line), ensure_ascii=False) + "\n")
                count += 1
        with open(results, "x", encoding="utf-8") as handle:
            handle.write(json.dumps(document, indent=2, ensure_ascii=False) + "\n")
    except OSError as exc:
        raise ConfigError(
            f"--output-path {output_path}: cannot write {exc.filename or results} ({exc.strerror})"
        ) from exc
    return ResultsFiles(results, samples, count)
