"""Evaluation reports: Markdown and a self-contained HTML page comparing eval runs side by side.

One report holds several runs (models, and scenarios: plain prompts or wrapped in a jailbreak
template): the overall metrics, per language, per prompt toxicity bucket and per language
resource level (from the `languages` table), each with its bootstrap 95% interval, and three
plots (EMT per language, per bucket, per resource level). Where a judge labelled the runs, the
safety analyses follow: ALERT-style safety score per risk category, MultiJail-style unsafe rate
per language and resource level, and the response taxonomy with refusal and over-refusal rates
per group. The Markdown and the HTML are rendered from the same sections; the HTML embeds its
plots as SVG.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path

from toxmine.miner.corpus_reads import resource_levels
from toxmine.miner.errors import ConfigError
from toxmine.miner.prompts import DEFAULT_BUCKET_EDGES
from toxmine.miner.split import bucket_label
from toxmine.miner.store import Store

from . import eval_tables
from .metrics import METRICS, MetricOptions, MetricValue, PromptScores, compute_metrics, group_metrics
from .protocols import PROTOCOLS
from .run import load_prompt_scores
from .run_labels import RunNaming, run_labels
from .safety import SafetyValue

__all__ = [
    "EvalRunInfo",
    "ReportData",
    "ReportFiles",
    "collect_report",
    "render_html",
    "render_markdown",
    "write_report",
]

METRIC_TITLES = {
    "expected_max_toxicity": "Expected maximum toxicity",
    "toxicity_probability": "Toxicity probability",
    "average_toxicity": "Average toxicity",
}
RESOURCE_LEVELS = ("high", "medium", "low", "unknown")


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

    def cell(self, run_id: str, dimension: str, group: str, metric: str) -> MetricValue | None:
        return self.values.get((run_id, dimension, group, metric))


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    figures: list[Path]


@dataclass(frozen=True)
class _Section:
    title: str
    text: str
    columns: list[str]
    rows: list[list[str]]
    figure: str | None = None  # name of a figure shown under the table


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
        )
        for label, params, run in zip(labels, stored, runs, strict=True)
    ]


def _bucket_edges(store: Store, run_id: str) -> tuple[float, ...]:
    settings = eval_tables.run_settings(store, run_id)
    return tuple(settings.split["bucket_edges"]) if settings else DEFAULT_BUCKET_EDGES


def collect_report(
    store: Store,
    run_ids: Sequence[str] | None = None,
    threshold: float | None = None,
    resamples: int | None = None,
    seed: int | None = None,
    judge: str | None = None,
) -> ReportData:
    """Gather the metrics of `run_ids` (default: every run) overall, per language, bucket and resource level.

    Figures are computed from the stored generations with each run's own metric options (threshold and
    comparison of its protocol, bootstrap, minimum prompts per interval); `threshold`, `resamples` and
    `seed` override them for every run.
    """
    data = ReportData(_run_infos(store, run_ids), database=store.path)
    data.levels = resource_levels(store)
    langs: set[str] = set()
    buckets: dict[str, tuple[float, ...]] = {}
    for run in data.runs:
        edges = _bucket_edges(store, run.eval_run_id)
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
    return data


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


# -- sections ----------------------------------------------------------------------------------
def _format(value: MetricValue | None) -> str:
    """`value [low, high] n=N`; a group too small for an interval says so instead of showing one."""
    if value is None or value.n_prompts == 0:
        return "–"
    if value.ci_low is None or value.ci_high is None:
        return f"{value.value:.3f} (n={value.n_prompts}, too few for an interval)"
    return f"{value.value:.3f} [{value.ci_low:.3f}, {value.ci_high:.3f}] n={value.n_prompts}"


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


def _sections(data: ReportData) -> list[_Section]:
    runs = data.runs
    labels = [run.label for run in runs]
    protocols = sorted({str(run.params.get("protocol")) for run in runs if run.params.get("protocol") in PROTOCOLS})
    rules = " ".join(
        f"{PROTOCOLS[p].name.upper()}: a continuation is toxic when its score is {PROTOCOLS[p].comparison} "
        f"{PROTOCOLS[p].threshold:g}; empty continuations are {PROTOCOLS[p].empty_rule}; headline rows: "
        f"{PROTOCOLS[p].aggregation}."
        for p in protocols
    )
    sections = [
        _Section(
            "Comparability",
            "Which published protocol each run follows and every way it departs from it. Only a run with no "
            "departure can be put beside the anchor's published table. " + rules,
            ["run", "protocol (anchor code)", "comparable", "departures"],
            [_comparability(run, data.options.get(run.eval_run_id)) for run in runs],
        ),
        _Section(
            "Runs",
            f"Database: {data.database}. Each column of the tables below is one evaluation run. "
            "Failed continuations (generation or scoring errors) are left out of the metrics and counted here, "
            "never scored 0; empty continuations likewise, counted apart. Every figure shows its prompt count n; "
            "groups under a run's min_prompts get no interval.",
            [
                "run",
                "model",
                "eval_run_id",
                "scorer",
                "prompts",
                "continuations",
                "failed",
                "empty",
                "truncated prompts",
                "cells covered (lang/bucket: prompts)",
                "finished",
            ],
            [
                [
                    run.label,
                    run.model,
                    run.eval_run_id,
                    run.scorer,
                    str(run.prompts),
                    str(run.continuations),
                    str(run.failed),
                    str(run.empty),
                    str(run.truncated),
                    _cells(run),
                    "yes" if run.finished else "no",
                ]
                for run in runs
            ],
        ),
        _Section(
            "Provenance",
            "Everything that decided each run's numbers, as stored in `eval_runs.params_json`; the metric options "
            "(threshold, comparison, bootstrap, min_prompts) as this report applied them.",
            ["parameter", *labels],
            [
                [key] + [_provenance_value(run, key, data.options.get(run.eval_run_id)) for run in runs]
                for key in (*_PROVENANCE_KEYS, "split")
            ],
        ),
        _Section(
            "Overall",
            "Value [95% interval] n=prompts. EMT and average toxicity: percentile bootstrap over prompts; "
            "toxicity probability: Wilson score interval. Rows say how prompts are weighted across toxicity buckets.",
            ["metric", *labels],
            [
                [f"{METRIC_TITLES[m]}: {title}"] + [_format(data.cell(r.eval_run_id, "all", group, m)) for r in runs]
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
        groups = data.groups.get(dimension, [])
        if not groups:
            continue
        for metric in ("expected_max_toxicity", "toxicity_probability"):
            rows = []
            for group in groups:
                name = f"{group} ({data.levels.get(group, 'unknown')})" if dimension == "lang" else group
                rows.append([name] + [_format(data.cell(r.eval_run_id, dimension, group, metric)) for r in runs])
            sections.append(
                _Section(
                    f"{title}: {METRIC_TITLES[metric].lower()}",
                    _dimension_text(dimension),
                    [first_column, *labels],
                    rows,
                    figure if metric == "expected_max_toxicity" else None,
                )
            )
    return sections + _safety_sections(data)


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


def _safety_sections(data: ReportData) -> list[_Section]:
    if data.judge is None:
        return []
    runs, labels = data.runs, [run.label for run in data.runs]

    def cell(run: EvalRunInfo, grouping: str, group: str, metric: str) -> str:
        return _format(data.safety.get((run.eval_run_id, grouping, group, metric)))

    sections = [
        _Section(
            "Safety: response taxonomy",
            f"Judge: {data.judge}. Share of continuations per prompt, averaged over prompts "
            "[95% bootstrap interval]. Safety score and unsafe rate count harmful prompts only (ALERT, MultiJail, "
            "mined prompts with toxicity >= 0.5), over-refusal benign prompts only (sets imported as harmless, "
            "mined prompts with toxicity < 0.5). Continuations without a verdict are left out and counted; "
            "invalid answers (MultiJail) are left out of every other rate and shown as their own rate. "
            "n = prompts; under 10 prompts no interval is shown.",
            ["metric", *labels],
            [[SAFETY_TITLES[m]] + [cell(r, "all", "all", m) for r in runs] for m in SAFETY_TITLES],
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
                rows.append([name] + [cell(r, grouping, group, metric) for r in runs])
            suffix = f": {SAFETY_TITLES[metric].lower()}" if len(metrics) > 1 else ""
            sections.append(_Section(title + suffix, text, [grouping, *labels], rows, figure if i == 0 else None))
    for grouping in sorted(k.removeprefix("safety:") for k in data.groups if k.startswith("safety:")):
        if grouping in {"all", "category", "lang", "resource_level", "source"}:
            continue
        rows = [
            [f"{group}: {SAFETY_TITLES[m].lower()}"] + [cell(r, grouping, group, m) for r in runs]
            for group in data.groups[f"safety:{grouping}"]
            for m in ("refusal_rate", "over_refusal_rate")
        ]
        sections.append(
            _Section(
                f"Refusal rates by {grouping}", f"Prompts grouped by their `{grouping}`.", [grouping, *labels], rows
            )
        )
    return sections


def _dimension_text(dimension: str) -> str:
    return {
        "lang": "Languages ordered by resource level (in brackets), then code.",
        "bucket": "Prompts grouped by the toxicity of the mined span they come from.",
        "resource": "Resource levels from the `languages` table (MultiJail classes; editable). "
        "Intervals resample the prompts of each level.",
    }[dimension]


# -- figures -----------------------------------------------------------------------------------
def _figures(data: ReportData) -> dict[str, str]:
    """SVG plots of EMT with 95% intervals, the runs side by side, per language/bucket/level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    figures: dict[str, str] = {}
    emt = "expected_max_toxicity"
    plots: list[tuple[str, str, str, dict[tuple[str, str, str, str], MetricValue], str, str]] = [
        ("emt_by_language", "language", "expected max. toxicity", data.values, "lang", emt),
        ("emt_by_bucket", "prompt toxicity bucket", "expected max. toxicity", data.values, "bucket", emt),
        ("emt_by_resource_level", "language resource level", "expected max. toxicity", data.values, "resource", emt),
        ("safety_by_category", "risk category", "safety score", data.safety, "category", "safety_score"),
        ("unsafe_by_resource_level", "language resource level", "unsafe rate", data.safety, "resource_level",
         "unsafe_rate"),
    ]  # fmt: skip
    for name, xlabel, ylabel, table, dimension, metric in plots:
        groups = data.groups.get(dimension if table is data.values else f"safety:{dimension}", [])
        if not groups:
            continue
        width = 0.8 / len(data.runs)
        fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(groups) * max(1, len(data.runs)) + 2), 3.4))
        x = np.arange(len(groups))
        for i, run in enumerate(data.runs):
            cells = [table.get((run.eval_run_id, dimension, g, metric)) for g in groups]
            values = np.array([c.value if c and c.n_prompts else np.nan for c in cells])
            low = np.array([c.value - c.ci_low if c and c.ci_low is not None else 0.0 for c in cells])
            high = np.array([c.ci_high - c.value if c and c.ci_high is not None else 0.0 for c in cells])
            ax.bar(x + (i - (len(data.runs) - 1) / 2) * width, values, width, yerr=[low, high], capsize=3,
                   label=run.label)  # fmt: skip
        ax.set_xticks(x, groups, rotation=30 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight")  # room for the legend beside the axes
        plt.close(fig)
        figures[name] = buffer.getvalue()
    return figures


# -- rendering ---------------------------------------------------------------------------------
def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(data: ReportData, figure_files: dict[str, str] | None = None) -> str:
    """The report as Markdown; `figure_files` maps figure names to image paths to link."""
    lines = ["# toxmine evaluation report", ""]
    for section in _sections(data):
        lines += [f"## {section.title}", "", section.text, ""]
        lines.append("| " + " | ".join(_markdown_cell(c) for c in section.columns) + " |")
        lines.append("|" + "---|" * len(section.columns))
        lines += ["| " + " | ".join(_markdown_cell(c) for c in row) + " |" for row in section.rows]
        lines.append("")
        if section.figure and figure_files and section.figure in figure_files:
            lines += [f"![{section.title}]({figure_files[section.figure]})", ""]
    return "\n".join(lines)


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2em auto;max-width:1100px;color:#222}"
    "table{border-collapse:collapse;margin:.5em 0 1.5em}td,th{border:1px solid #ccc;padding:.25em .6em;"
    "text-align:right;font-variant-numeric:tabular-nums}td:first-child,th:first-child{text-align:left}"
    "th{background:#f3f3f3}svg{max-width:100%;height:auto}"
)


def render_html(data: ReportData, figures: dict[str, str] | None = None) -> str:
    """The report as one self-contained HTML page (plots inline as SVG, no external files)."""
    figures = _figures(data) if figures is None else figures
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>toxmine evaluation report</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>toxmine evaluation report</h1>",
    ]
    for section in _sections(data):
        parts.append(f"<h2>{html.escape(section.title)}</h2><p>{html.escape(section.text)}</p><table>")
        parts.append("<tr>" + "".join(f"<th>{html.escape(c)}</th>" for c in section.columns) + "</tr>")
        for row in section.rows:
            parts.append("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in row) + "</tr>")
        parts.append("</table>")
        if section.figure and section.figure in figures:
            svg = figures[section.figure]
            parts.append(f"<figure>{svg[svg.index('<svg') :]}</figure>")  # drop the XML prologue
    parts.append("</body></html>")
    return "\n".join(parts)


def write_report(
    store: Store,
    out_dir: Path,
    run_ids: Sequence[str] | None = None,
    threshold: float | None = None,
    name: str = "report",
    judge: str | None = None,
) -> ReportFiles:
    """Write `name.md` (with SVG plots beside it) and a self-contained `name.html` to `out_dir`."""
    data = collect_report(store, run_ids, threshold, judge=judge)
    figures = _figures(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    figure_paths = []
    for figure, svg in figures.items():
        path = out_dir / f"{name}_{figure}.svg"
        path.write_text(svg, encoding="utf-8")
        figure_paths.append(path)
    markdown = out_dir / f"{name}.md"
    markdown.write_text(render_markdown(data, {f: f"{name}_{f}.svg" for f in figures}), encoding="utf-8")
    page = out_dir / f"{name}.html"
    page.write_text(render_html(data, figures), encoding="utf-8")
    return ReportFiles(markdown, page, figure_paths)
