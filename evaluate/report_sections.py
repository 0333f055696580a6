"""The report's sections as data both renderers share: titles, prose (Markdown-style `code` spans), tables of
cells that carry their prompt count n and say when a figure has no interval.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from .metrics import METRICS, MetricOptions, MetricValue
from .protocols import PROTOCOLS
from .report_data import METRIC_TITLES, EvalRunInfo, ReportData

__all__ = ["SAFETY_TITLES", "Cell", "Section", "bucket_text", "sections"]


@dataclass(frozen=True)
class Cell:
    """One table cell: a text, or a figure with its interval (None: too few prompts for one) and prompt count n."""

    text: str
    interval: str | None = None
    n: int | None = None
    uncertain: str | None = None  # why the figure has no interval; renderers grey it and say so

    @classmethod
    def metric(cls, value: MetricValue | None) -> Cell:
        if value is None or value.n_prompts == 0:
            return cls("–", n=0)
        text = f"{value.value:.3f}"
        if value.ci_low is None or value.ci_high is None:
            why = "single prompt, no interval" if value.n_prompts == 1 else "too few prompts for an interval"
            return cls(text, n=value.n_prompts, uncertain=why)
        return cls(text, f"[{value.ci_low:.3f}, {value.ci_high:.3f}]", value.n_prompts)

    @property
    def plain(self) -> str:
        """The cell as one line: `value [low, high] n=N`, or `value (n=N, why no interval)`."""
        if self.n is None or self.n == 0:
            return self.text
        if self.uncertain:
            return f"{self.text} (n={self.n}, {self.uncertain})"
        return f"{self.text} {self.interval} n={self.n}"


@dataclass(frozen=True)
class Section:
    """A titled table; `figure` names the plot under it, `collapsed` folds it away in the HTML."""

    title: str
    text: str
    columns: list[str]
    rows: list[list[Cell]]
    figure: str | None = None
    collapsed: bool = False
    notes: list[str] = field(default_factory=list)


def _texts(*values: str) -> list[Cell]:
    return [Cell(value) for value in values]


_PROVENANCE_KEYS = (
    "protocol", "model", "model_revision", "backend", "engine", "dtype", "device", "chat", "chat_effective", "k",
    "max_new_tokens", "temperature", "top_p", "top_k", "seed", "sampling_seed", "scorer", "scorer_version",
    "prompt_scorer", "prompt_scorer_version", "continuation_lid", "continuation_lid_threshold", "threshold",
    "comparison", "bootstrap_resamples", "bootstrap_seed", "min_prompts", "prompts_digest", "template_sha256",
    "toxmine_version",
)  # fmt: skip
_OVERALL_GROUPS = (
    ("all", "all prompts, pooled (each bucket weighs by its prompts)"),
    ("balanced", "bucket-balanced (each bucket weighs the same)"),
    ("toxic", "toxic prompts (prompt toxicity > 0.5, RTP)"),
    ("nontoxic", "non-toxic prompts (<= 0.5, RTP)"),
)


def _provenance_value(run: EvalRunInfo, key: str, options: MetricOptions | None = None) -> str:
    """A stored provenance entry; the metric options as the report applied them (`--threshold` overrides)."""
    applied = options.stored() if options is not None else {}
    value = applied[key] if key in applied else run.params.get(key)
    if value is None:
        return "–"
    return json.dumps(value, sort_keys=True) if key == "split" else str(value)


def _comparability(run: EvalRunInfo, options: MetricOptions | None = None) -> list[str]:
    protocol = PROTOCOLS.get(str(run.params.get("protocol", "")))
    if protocol is None:
        return [run.label, "none recorded (a run from before toxmine recorded protocols)", "unknown", "–"]
    stored = run.params.get("departures")
    departures = [str(d) for d in stored] if isinstance(stored, list) else []
    if options is not None and options.threshold != protocol.threshold:
        departures.append(
            f"threshold {options.threshold:g} ({protocol.name}: {protocol.threshold:g}), set in the report"
        )
    verdict = f"yes, with published {protocol.name.upper()} figures" if not departures else "no"
    return [run.label, f"{protocol.title}: {protocol.anchor}", verdict, "; ".join(departures) or "none"]


def _cells(run: EvalRunInfo) -> str:
    cells = run.params.get("cells")
    if not isinstance(cells, dict):
        return "–"
    return ", ".join(f"{cell}: {n}" for cell, n in sorted(cells.items()))


def _chat(run: EvalRunInfo) -> str:
    asked, used = run.params.get("chat"), run.params.get("chat_effective")
    wanted = "auto (when the model has a chat template)" if asked is None else "on" if asked else "off"
    return wanted if used is None else f"{wanted}: {'used' if used else 'not used'}"


def _run_table(run: EvalRunInfo) -> list[str]:
    """The run's column of the run table (rows: `_RUN_ROWS`)."""
    params, split = run.params, run.split
    limit = split.get("limit")
    template = run.scenario.removeprefix("template ") if run.scenario != "plain" else "none (plain prompts)"
    started = run.started_at.strftime("%Y-%m-%d %H:%M") if run.started_at else "–"
    return [
        run.label,
        run.model,
        run.eval_run_id,
        run.backend,
        ", ".join(run.sources) or "–",
        str(params.get("protocol") or "none recorded"),
        str(params.get("seed", "–")),
        str(split.get("seed", "–")),
        _chat(run),
        template,
        "none (the whole split)" if limit is None else str(limit),
        str(params.get("k", "–")),
        str(params.get("max_new_tokens", "–")),
        " / ".join(str(params.get(key, "–")) for key in ("temperature", "top_p", "top_k")),
        f"{run.scorer} {params.get('scorer_version', '')}".strip(),
        "; ".join(run.judges) or "none",
        str(params.get("toxmine_version", "–")),
        f"{started} ({'finished' if run.finished else 'not finished'})",
        str(run.prompts),
        str(run.continuations),
        str(run.failed),
        str(run.empty),
        str(run.truncated),
        _cells(run),
    ]


_RUN_ROWS = (
    "run", "model", "eval_run_id", "backend", "prompt sources", "protocol (preset)", "seed (generation)",
    "seed (split sampling)", "chat template", "jailbreak template", "limit", "k (continuations per prompt)",
    "max new tokens", "temperature / top_p / top_k", "scorer and version", "judges", "toxmine version",
    "date (UTC start)", "prompts", "continuations", "failed", "empty", "truncated prompts",
    "cells covered (lang/bucket: prompts)",
)  # fmt: skip


def bucket_text(sources: set[str]) -> str:
    """How prompts fall into toxicity buckets, worded by where they come from: mined spans or imported sets."""
    imported = sorted(sources - {"mined"})
    mined = "Mined prompts are bucketed by the toxicity of the web-text span they were cut from."
    own = (
        f"Imported prompts ({', '.join(imported)}) are whole prompts from their sets, not mined spans: they are "
        "bucketed by their own toxicity score (PTP and RTP: their files' scores unless rescored)."
    )
    if not imported:
        return mined
    return own if "mined" not in sources else f"{mined} {own}"


def sections(data: ReportData) -> list[Section]:
    """Every section of the report, in order; the generation browser is rendered apart."""
    runs = data.runs
    labels = [run.label for run in runs]
    protocols = sorted({str(run.params.get("protocol")) for run in runs if run.params.get("protocol") in PROTOCOLS})
    rules = " ".join(
        f"{PROTOCOLS[p].name.upper()}: a continuation is toxic when its score is {PROTOCOLS[p].comparison} "
        f"{PROTOCOLS[p].threshold:g}; empty continuations are {PROTOCOLS[p].empty_rule}; headline rows: "
        f"{PROTOCOLS[p].aggregation}."
        for p in protocols
    )
    run_columns = [_run_table(run) for run in runs]
    result = [
        Section(
            "Comparability",
            "Which published protocol each run follows and every way it departs from it. Only a run with no "
            "departure can be put beside the anchor's published table. " + rules,
            ["run", "protocol (anchor code)", "comparable", "departures"],
            [_texts(*_comparability(run, data.options.get(run.eval_run_id))) for run in runs],
        ),
        Section(
            "Runs",
            f"Database: `{data.database}`. One column per evaluation run, as in every table below. Failed "
            "continuations (generation or scoring errors) are left out of the metrics and counted here, never "
            "scored 0; empty continuations likewise, counted apart. Every figure shows its prompt count n; "
            "groups under a run's `min_prompts` get no interval and are greyed.",
            ["", *labels],
            [_texts(name, *(column[i] for column in run_columns)) for i, name in enumerate(_RUN_ROWS) if i > 0],
        ),
        Section(
            "Provenance",
            "Everything that decided each run's numbers, as stored in `eval_runs.params_json`; the metric options "
            "(threshold, comparison, bootstrap, min_prompts) as this report applied them.",
            ["parameter", *labels],
            [
                _texts(key, *(_provenance_value(run, key, data.options.get(run.eval_run_id)) for run in runs))
                for key in (*_PROVENANCE_KEYS, "split")
            ],
            collapsed=True,
        ),
        Section(
            "Overall",
            "Value [95% interval] and n = prompts. EMT and average toxicity: percentile bootstrap over prompts; "
            "toxicity probability: Wilson score interval. Rows say how prompts are weighted across toxicity buckets.",
            ["metric", *labels],
            [
                [Cell(f"{METRIC_TITLES[m]}: {title}")]
                + [Cell.metric(data.cell(r.eval_run_id, "all", group, m)) for r in runs]
                for group, title in _OVERALL_GROUPS
                for m in METRICS
            ],
        ),
    ]
    for dimension, title, figure, first_column in (
        ("lang", "By language", "emt_by_language", "language"),
        ("bucket", "By prompt toxicity bucket", "emt_by_bucket", "prompt toxicity"),
        ("resource", "By language resource level", "emt_by_resource_level", "resource level"),
    ):
        for metric in ("expected_max_toxicity", "toxicity_probability"):
            rows = []
            for group in data.groups.get(dimension, []):
                name = f"{group} ({data.levels.get(group, 'unknown')})" if dimension == "lang" else group
                rows.append(
                    [Cell(name)] + [Cell.metric(data.cell(r.eval_run_id, dimension, group, metric)) for r in runs]
                )
            if rows:
                result.append(Section(f"{title}: {METRIC_TITLES[metric].lower()}", _dimension_text(dimension, data),
                                      [first_column, *labels], rows,
                                      figure if metric == "expected_max_toxicity" else None))  # fmt: skip
    return result + _safety_sections(data)


SAFETY_TITLES = {
    "safety_score": "Safety score",
    "unsafe_rate": "Unsafe rate",
    "refusal_rate": "Refusal rate (direct or indirect)",
    "direct_refusal_rate": "Direct refusal",
    "indirect_refusal_rate": "Indirect refusal",
    "partial_compliance_rate": "Partial compliance",
    "full_compliance_rate": "Full compliance",
    "over_refusal_rate": "Over-refusal (refusals of benign prompts)",
    "invalid_rate": "Invalid answers (gibberish, loops, off-topic; MultiJail's third label)",
}
# (grouping, metrics, title, text, figure)
_SAFETY_VIEWS = (
    ("category", ("safety_score",), "Safety score by risk category (ALERT)",
     "Share of safe answers per risk category of the prompts; the ALERT safety score.", "safety_by_category"),
    ("lang", ("unsafe_rate",), "Unsafe rate by language (MultiJail)",
     "Share of unsafe answers per prompt language. Runs with a jailbreak template are the intentional "
     "scenario, runs without it the unintentional one.", None),
    ("resource_level", ("unsafe_rate",), "Unsafe rate by language resource level (MultiJail)",
     "Languages grouped by resource level from the `languages` table.", "unsafe_by_resource_level"),
    ("source", ("unsafe_rate", "refusal_rate", "over_refusal_rate"), "Safety by prompt source",
     "Mined prompts and each imported set.", None),
)  # fmt: skip


def _safety_sections(data: ReportData) -> list[Section]:
    if data.judge is None:
        return []
    runs, labels = data.runs, [run.label for run in data.runs]

    def cell(run: EvalRunInfo, grouping: str, group: str, metric: str) -> Cell:
        return Cell.metric(data.safety.get((run.eval_run_id, grouping, group, metric)))

    result = [
        Section(
            "Safety: response taxonomy",
            f"Judge: `{data.judge}`. Share of continuations per prompt, averaged over prompts "
            "[95% bootstrap interval]. Safety score and unsafe rate count harmful prompts only (ALERT, MultiJail, "
            "mined prompts with toxicity >= 0.5), over-refusal benign prompts only (sets imported as harmless, "
            "mined prompts with toxicity < 0.5). Continuations without a verdict are left out and counted; "
            "invalid answers (MultiJail) are left out of every other rate and shown as their own rate. "
            "n = prompts; under 10 prompts no interval is shown.",
            ["metric", *labels],
            [[Cell(SAFETY_TITLES[m])] + [cell(r, "all", "all", m) for r in runs] for m in SAFETY_TITLES],
        )
    ]
    for grouping, metrics, title, text, figure in _SAFETY_VIEWS:
        groups = data.groups.get(f"safety:{grouping}", [])
        if not groups:
            continue
        for i, metric in enumerate(metrics):
            rows = []
            for group in groups:
                name = f"{group} ({data.levels.get(group, 'unknown')})" if grouping == "lang" else group
                rows.append([Cell(name)] + [cell(r, grouping, group, metric) for r in runs])
            suffix = f": {SAFETY_TITLES[metric].lower()}" if len(metrics) > 1 else ""
            result.append(Section(title + suffix, text, [grouping, *labels], rows, figure if i == 0 else None))
    for grouping in sorted(k.removeprefix("safety:") for k in data.groups if k.startswith("safety:")):
        if grouping in {"all", "category", "lang", "resource_level", "source"}:
            continue
        rows = [
            [Cell(f"{group}: {SAFETY_TITLES[m].lower()}")] + [cell(r, grouping, group, m) for r in runs]
            for group in data.groups[f"safety:{grouping}"]
            for m in ("refusal_rate", "over_refusal_rate")
        ]
        result.append(
            Section(
                f"Refusal rates by {grouping}", f"Prompts grouped by their `{grouping}`.", [grouping, *labels], rows
            )
        )
    return result


def _dimension_text(dimension: str, data: ReportData) -> str:
    return {
        "lang": "Languages ordered by resource level (in brackets), then code.",
        "bucket": bucket_text(data.sources),
        "resource": "Resource levels from the `languages` table (MultiJail classes; editable). "
        "Intervals resample the prompts of each level.",
    }[dimension]
