"""What a report shows, gathered from the database: the runs, their metrics overall and per language,
bucket and resource level (recomputed with each run's own metric options), the stored safety metrics of
one judge, and each run's generations per cell for browsing. Rendering is `report_render`'s job.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime

from toxmine.miner.corpus_reads import resource_levels
from toxmine.miner.errors import ConfigError
from toxmine.miner.prompts import DEFAULT_BUCKET_EDGES
from toxmine.miner.split import bucket_label
from toxmine.miner.store import Store

from . import eval_tables
from .metrics import MetricOptions, MetricValue, PromptScores, compute_metrics, group_metrics
from .report_samples import GenerationCell, browsed_groupings, collect_generations
from .run import load_prompt_scores
from .run_labels import RunNaming, run_labels
from .safety import SafetyValue

__all__ = [
    "DEFAULT_SAMPLES_PER_CELL",
    "METRIC_TITLES",
    "RESOURCE_LEVELS",
    "EvalRunInfo",
    "ReportData",
    "collect_report",
]

METRIC_TITLES = {
    "expected_max_toxicity": "Expected maximum toxicity",
    "toxicity_probability": "Toxicity probability",
    "average_toxicity": "Average toxicity",
}
RESOURCE_LEVELS = ("high", "medium", "low", "unknown")
DEFAULT_SAMPLES_PER_CELL = 5  # generations shown per cell in the browser, most harmful first


@dataclass(frozen=True)
class EvalRunInfo:
    """One evaluation run as the report names and describes it."""

    eval_run_id: str
    label: str  # unique column name: the model, plus the run id where a model appears twice
    model: str
    backend: str
    params: dict[str, object]
    scorer: str
    prompts: int
    continuations: int
    failed: int
    truncated: int
    finished: bool
    scenario: str = "plain"  # or "template NAME" (the intentional jailbreak scenario)
    empty: int = 0  # empty continuations (left out of the metrics, counted)
    split: dict[str, object] = field(default_factory=dict)  # the stored split (seed, limit, sources, edges)
    started_at: datetime | None = None
    judges: tuple[str, ...] = ()  # "NAME VERSION (N verdicts)" of every judge that labelled the run
    sources: tuple[str, ...] = ()  # prompt sources of its generations: "mined" and imported sets


@dataclass
class ReportData:
    """Metrics of several runs keyed by (run id, dimension, group, metric)."""

    runs: list[EvalRunInfo]
    database: str = ""
    values: dict[tuple[str, str, str, str], MetricValue] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # dimension -> ordered group labels
    levels: dict[str, str] = field(default_factory=dict)  # lang -> resource level
    options: dict[str, MetricOptions] = field(default_factory=dict)  # run id -> how its metrics were computed
    judge: str | None = None  # whose safety verdicts `safety` holds
    safety: dict[tuple[str, str, str, str], MetricValue] = field(default_factory=dict)  # run, grouping, group, metric
    generations: list[GenerationCell] = field(default_factory=list)  # per run and cell, for browsing
    samples_per_cell: int = DEFAULT_SAMPLES_PER_CELL

    @property
    def sources(self) -> set[str]:
        """Every prompt source of the runs' generations."""
        return {source for run in self.runs for source in run.sources}

    def cell(self, run_id: str, dimension: str, group: str, metric: str) -> MetricValue | None:
        return self.values.get((run_id, dimension, group, metric))


# -- collecting --------------------------------------------------------------------------------
def _run_infos(store: Store, run_ids: Sequence[str] | None) -> list[EvalRunInfo]:
    if run_ids:
        known = set(eval_tables.run_ids(store))
        unknown = [r for r in run_ids if r not in known]
        if unknown:
            raise ConfigError(
                f"{store.path}: no evaluation run {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
    runs = eval_tables.run_summaries(store, run_ids)
    if not runs:
        raise ConfigError(f"{store.path}: no evaluation runs yet; run `toxmine eval` first")
    stored = [json.loads(run.params_json) for run in runs]
    judges: dict[str, list[str]] = {}
    for judged in eval_tables.run_judges(store, [run.eval_run_id for run in runs]):
        judges.setdefault(judged.eval_run_id, []).append(
            f"{judged.judge} {judged.judge_version} ({judged.verdicts} verdicts)"
        )
    labels = run_labels([RunNaming(run.eval_run_id, run.model, str(params.get("protocol", "")), run.scenario)
                         for run, params in zip(runs, stored, strict=True)])  # fmt: skip
    return [
        EvalRunInfo(
            eval_run_id=run.eval_run_id,
            label=label,
            model=run.model,
            backend=run.backend,
            params=params,
            scorer=run.scorer,
            prompts=run.prompts,
            continuations=run.continuations,
            failed=run.failed,
            truncated=run.truncated,
            finished=run.finished,
            scenario=run.scenario,
            empty=run.empty,
            split=_stored_split(store, run.eval_run_id),
            started_at=_started_at(store, run.eval_run_id),
            judges=tuple(judges.get(run.eval_run_id, ())),
        )
        for label, params, run in zip(labels, stored, runs, strict=True)
    ]


def _stored_split(store: Store, run_id: str) -> dict[str, object]:
    settings = eval_tables.run_settings(store, run_id)
    return settings.split if settings and settings.split_json else {}


def _started_at(store: Store, run_id: str) -> datetime | None:
    dates = eval_tables.run_dates(store, run_id)
    return dates.started_at if dates else None


def _bucket_edges(run: EvalRunInfo) -> tuple[float, ...]:
    edges = run.split.get("bucket_edges")
    return tuple(float(edge) for edge in edges) if isinstance(edges, list) else DEFAULT_BUCKET_EDGES


def collect_report(
    store: Store,
    run_ids: Sequence[str] | None = None,
    threshold: float | None = None,
    resamples: int | None = None,
    seed: int | None = None,
    judge: str | None = None,
    samples_per_cell: int = DEFAULT_SAMPLES_PER_CELL,
) -> ReportData:
    """Gather the metrics of `run_ids` (default: every run) overall, per language, bucket and resource level,
    and their generations per cell (`samples_per_cell` shown in each, most harmful first; 0: none).

    Figures are computed from the stored generations with each run's own metric options (threshold and
    comparison of its protocol, bootstrap, minimum prompts per interval); `threshold`, `resamples` and
    `seed` override them for every run.
    """
    if samples_per_cell < 0:
        raise ConfigError(f"--samples-per-cell must be 0 or more, got {samples_per_cell}")
    data = ReportData(_run_infos(store, run_ids), database=store.path, samples_per_cell=samples_per_cell)
    data.levels = resource_levels(store)
    langs: set[str] = set()
    buckets: dict[str, tuple[float, ...]] = {}
    for run in data.runs:
        edges = _bucket_edges(run)
        options = MetricOptions.from_stored(run.params)
        options = replace(
            options,
            threshold=options.threshold if threshold is None else threshold,
            resamples=options.resamples if resamples is None else resamples,
            seed=options.seed if seed is None else seed,
        )
        data.options[run.eval_run_id] = options
        prompts, _ = load_prompt_scores(store, run.eval_run_id)
        for (lang, group), values in group_metrics(prompts, options).items():
            if lang == "all" and group.isdigit():
                label = bucket_label(edges, int(group))
                buckets[label] = edges[int(group) : int(group) + 2]
                key = ("bucket", label)
            elif lang == "all":
                key = ("all", group)
            elif group == "all":
                langs.add(lang)
                key = ("lang", lang)
            else:
                continue
            for value in values:
                data.values[(run.eval_run_id, *key, value.metric)] = value
        by_level: dict[str, list[PromptScores]] = {}
        for prompt in prompts:
            by_level.setdefault(data.levels.get(prompt.lang, "unknown"), []).append(prompt)
        for level, group_prompts in by_level.items():
            for value in compute_metrics(group_prompts, options):
                data.values[(run.eval_run_id, "resource", level, value.metric)] = value
    present_levels = {key[2] for key in data.values if key[1] == "resource"}
    data.groups = {
        "lang": sorted(langs, key=lambda lang: (RESOURCE_LEVELS.index(data.levels.get(lang, "unknown")), lang)),
        "bucket": sorted(buckets, key=lambda label: buckets[label]),
        "resource": [level for level in RESOURCE_LEVELS if level in present_levels],
    }
    _collect_safety(store, data, judge)
    _collect_generations(store, data)
    return data


def _collect_generations(store: Store, data: ReportData) -> None:
    """Each run's prompt sources, and its generations per cell (when any are to be shown)."""
    for i, run in enumerate(data.runs):
        samples = eval_tables.run_samples(store, run.eval_run_id, _bucket_edges(run))
        data.runs[i] = replace(run, sources=tuple(sorted({s.source or "mined" for s in samples})))
        if data.samples_per_cell:
            stored = eval_tables.stored_groupings(store, run.eval_run_id, data.judge) if data.judge else []
            groupings = browsed_groupings(stored)
            data.generations += collect_generations(
                run.eval_run_id, samples, eval_tables.run_verdicts(store, run.eval_run_id), _bucket_edges(run),
                data.judge, (groupings, eval_tables.prompt_groups(store, run.eval_run_id, groupings)),
                data.samples_per_cell,
            )  # fmt: skip


def _collect_safety(store: Store, data: ReportData, judge: str | None) -> None:
    """The stored safety metrics of the runs by `judge` (default: the judge that labelled most runs)."""
    run_ids = [run.eval_run_id for run in data.runs]
    judges = eval_tables.safety_judges(store, run_ids)
    if judge is None and not judges:
        return
    if judge is not None and judge not in {j for j, _ in judges}:
        known = ", ".join(j for j, _ in judges) or "none"
        raise ConfigError(f"{store.path}: judge {judge!r} labelled none of these runs; judges: {known}")
    data.judge = judge or judges[0][0]
    groups: dict[str, set[str]] = {}
    for row in eval_tables.stored_safety_metrics(store, run_ids, data.judge):
        data.safety[(row.eval_run_id, row.grouping, row.group_value, row.metric)] = SafetyValue(
            row.metric, row.value, row.ci_low, row.ci_high, row.n_prompts, row.n_failed, flag=row.flag,
            n_invalid=row.n_invalid,
        )  # fmt: skip
        groups.setdefault(row.grouping, set()).add(row.group_value)
    for grouping, values in groups.items():
        key = f"safety:{grouping}"
        if grouping == "lang":
            data.groups[key] = sorted(values, key=lambda g: (_level_rank(data.levels.get(g, "unknown")), g))
        elif grouping == "resource_level":
            data.groups[key] = [level for level in RESOURCE_LEVELS if level in values]
        else:
            data.groups[key] = sorted(values)


def _level_rank(level: str) -> int:
    return RESOURCE_LEVELS.index(level) if level in RESOURCE_LEVELS else len(RESOURCE_LEVELS)
