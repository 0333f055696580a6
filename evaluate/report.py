"""Evaluation reports: Markdown and a self-contained HTML page comparing eval runs side by side.

One report holds several runs (models): the overall metrics, per language, per prompt toxicity
bucket and per language resource level (from the `languages` table), each with its bootstrap
95% interval, and three plots (EMT per language, per bucket, per resource level). The Markdown
and the HTML are rendered from the same sections; the HTML embeds its plots as SVG.
"""

from __future__ import annotations

import html
import io
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

from toxmine.miner.errors import ConfigError
from toxmine.miner.split import bucket_label
from toxmine.miner.store import Store

from .metrics import METRICS, MetricValue, PromptScores, compute_metrics
from .run import load_prompt_scores

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


@dataclass
class ReportData:
    """Metrics of several runs keyed by (run id, dimension, group, metric)."""

    runs: list[EvalRunInfo]
    database: str = ""
    values: dict[tuple[str, str, str, str], MetricValue] = field(default_factory=dict)
    groups: dict[str, list[str]] = field(default_factory=dict)  # dimension -> ordered group labels
    levels: dict[str, str] = field(default_factory=dict)  # lang -> resource level

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
    query = (
        "SELECT r.eval_run_id, r.model, r.backend, r.params_json, r.scorer, r.finished_at IS NOT NULL, "
        "count(DISTINCT g.prompt_id), count(g.prompt_id), count(*) FILTER (WHERE g.toxicity IS NULL), "
        "count(DISTINCT g.prompt_id) FILTER (WHERE g.truncated) "
        "FROM eval_runs r LEFT JOIN generations g USING (eval_run_id) "
    )
    if run_ids:
        known = {row[0] for row in store.con.execute("SELECT eval_run_id FROM eval_runs").fetchall()}
        unknown = [r for r in run_ids if r not in known]
        if unknown:
            raise ConfigError(
                f"{store.path}: no evaluation run {', '.join(unknown)}; known: {', '.join(sorted(known))}"
            )
        rows = store.con.execute(query + "WHERE r.eval_run_id IN ? GROUP BY ALL", [list(run_ids)]).fetchall()
        order = {run_id: i for i, run_id in enumerate(run_ids)}
        rows.sort(key=lambda row: order[row[0]])
    else:
        rows = store.con.execute(query + "GROUP BY ALL ORDER BY min(r.started_at), r.eval_run_id").fetchall()
    if not rows:
        raise ConfigError(f"{store.path}: no evaluation runs yet; run `toxmine eval` first")
    names = [_short_name(row[1]) for row in rows]
    return [
        EvalRunInfo(
            eval_run_id=run_id,
            label=name if names.count(name) == 1 else f"{name} ({run_id[:6]})",
            model=model,
            backend=backend,
            params=json.loads(params),
            scorer=scorer,
            prompts=int(prompts),
            continuations=int(continuations),
            failed=int(failed),
            truncated=int(truncated),
            finished=bool(finished),
        )
        for name, (run_id, model, backend, params, scorer, finished, prompts, continuations, failed, truncated) in zip(
            names, rows, strict=True
        )
    ]


def _short_name(model: str) -> str:
    """A model's column name: a local folder by its own name, a hub id or endpoint model as given."""
    return Path(model).name if model.startswith(("/", ".", "~")) else model


def _bucket_edges(store: Store, run_id: str) -> tuple[float, ...]:
    row = store.con.execute("SELECT split FROM eval_runs WHERE eval_run_id = ?", [run_id]).fetchone()
    return tuple(json.loads(row[0])["bucket_edges"]) if row else (0.0, 0.25, 0.5, 0.75, 1.0)


def collect_report(
    store: Store, run_ids: Sequence[str] | None = None, threshold: float = 0.5, resamples: int = 1000, seed: int = 0
) -> ReportData:
    """Gather the metrics of `run_ids` (default: every run) per language, bucket and resource level.

    Language and bucket figures are the ones `toxmine eval` stored; resource-level figures are
    computed here from the stored generations with the same bootstrap.
    """
    data = ReportData(_run_infos(store, run_ids), database=store.path)
    data.levels = dict(store.con.execute("SELECT lang, resource_level FROM languages").fetchall())
    langs: set[str] = set()
    buckets: dict[str, tuple[float, ...]] = {}
    for run in data.runs:
        edges = _bucket_edges(store, run.eval_run_id)
        rows = store.con.execute(
            "SELECT lang, bucket, metric, value, ci_low, ci_high, n_prompts, n_failed FROM eval_metrics "
            "WHERE eval_run_id = ? AND (lang = 'all' OR bucket = 'all')",
            [run.eval_run_id],
        ).fetchall()
        for lang, bucket, metric, value, low, high, n_prompts, n_failed in rows:
            metric_value = MetricValue(metric, value, low, high, n_prompts, n_failed)
            if lang == "all" and bucket == "all":
                data.values[(run.eval_run_id, "all", "all", metric)] = metric_value
            elif bucket == "all":
                langs.add(lang)
                data.values[(run.eval_run_id, "lang", lang, metric)] = metric_value
            else:
                label = bucket_label(edges, int(bucket))
                buckets[label] = edges[int(bucket) : int(bucket) + 2]
                data.values[(run.eval_run_id, "bucket", label, metric)] = metric_value
        prompts, _ = load_prompt_scores(store, run.eval_run_id)
        by_level: dict[str, list[PromptScores]] = {}
        for prompt in prompts:
            by_level.setdefault(data.levels.get(prompt.lang, "unknown"), []).append(prompt)
        for level, group in by_level.items():
            for value in compute_metrics(group, threshold, resamples, seed):
                data.values[(run.eval_run_id, "resource", level, value.metric)] = value
    present_levels = {key[2] for key in data.values if key[1] == "resource"}
    data.groups = {
        "lang": sorted(langs, key=lambda lang: (RESOURCE_LEVELS.index(data.levels.get(lang, "unknown")), lang)),
        "bucket": sorted(buckets, key=lambda label: buckets[label]),
        "resource": [level for level in RESOURCE_LEVELS if level in present_levels],
    }
    return data


# -- sections ----------------------------------------------------------------------------------
def _format(value: MetricValue | None) -> str:
    if value is None or value.n_prompts == 0:
        return "–"
    return f"{value.value:.3f} [{value.ci_low:.3f}, {value.ci_high:.3f}]"


def _sections(data: ReportData, threshold: float) -> list[_Section]:
    runs = data.runs
    labels = [run.label for run in runs]
    sections = [
        _Section(
            "Runs",
            f"Database: {data.database}. Each column of the tables below is one evaluation run. "
            "Failed continuations (generation or scoring errors) are left out of the metrics and counted here, "
            "never scored 0.",
            [
                "run",
                "model",
                "eval_run_id",
                "backend",
                "k",
                "max new tokens",
                "temperature",
                "top_p",
                "scorer",
                "prompts",
                "continuations",
                "failed",
                "truncated prompts",
                "finished",
            ],
            [
                [
                    run.label,
                    run.model,
                    run.eval_run_id,
                    run.backend,
                    str(run.params.get("k")),
                    str(run.params.get("max_new_tokens")),
                    str(run.params.get("temperature")),
                    str(run.params.get("top_p")),
                    run.scorer,
                    str(run.prompts),
                    str(run.continuations),
                    str(run.failed),
                    str(run.truncated),
                    "yes" if run.finished else "no",
                ]
                for run in runs
            ],
        ),
        _Section(
            "Overall",
            f"Value [95% bootstrap interval over prompts]. Toxicity probability: share of prompts with at "
            f"least one continuation scoring >= {threshold:g}.",
            ["metric", *labels],
            [[METRIC_TITLES[m]] + [_format(data.cell(r.eval_run_id, "all", "all", m)) for r in runs] for m in METRICS],
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
    for dimension, name, xlabel in (
        ("lang", "emt_by_language", "language"),
        ("bucket", "emt_by_bucket", "prompt toxicity bucket"),
        ("resource", "emt_by_resource_level", "language resource level"),
    ):
        groups = data.groups.get(dimension, [])
        if not groups:
            continue
        width = 0.8 / len(data.runs)
        fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(groups) * max(1, len(data.runs)) + 2), 3.4))
        x = np.arange(len(groups))
        for i, run in enumerate(data.runs):
            cells = [data.cell(run.eval_run_id, dimension, g, "expected_max_toxicity") for g in groups]
            values = np.array([c.value if c and c.n_prompts else np.nan for c in cells])
            low = np.array([c.value - c.ci_low if c and c.n_prompts else 0.0 for c in cells])
            high = np.array([c.ci_high - c.value if c and c.n_prompts else 0.0 for c in cells])
            ax.bar(x + (i - (len(data.runs) - 1) / 2) * width, values, width, yerr=[low, high], capsize=3,
                   label=run.label)  # fmt: skip
        ax.set_xticks(x, groups)
        ax.set_xlabel(xlabel)
        ax.set_ylabel("expected max. toxicity")
        ax.set_ylim(0, 1)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        fig.tight_layout()
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg")
        plt.close(fig)
        figures[name] = buffer.getvalue()
    return figures


# -- rendering ---------------------------------------------------------------------------------
def _markdown_cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_markdown(data: ReportData, threshold: float = 0.5, figure_files: dict[str, str] | None = None) -> str:
    """The report as Markdown; `figure_files` maps figure names to image paths to link."""
    lines = ["# toxmine evaluation report", ""]
    for section in _sections(data, threshold):
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


def render_html(data: ReportData, threshold: float = 0.5, figures: dict[str, str] | None = None) -> str:
    """The report as one self-contained HTML page (plots inline as SVG, no external files)."""
    figures = _figures(data) if figures is None else figures
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8"><title>toxmine evaluation report</title>',
        f"<style>{_STYLE}</style></head><body>",
        "<h1>toxmine evaluation report</h1>",
    ]
    for section in _sections(data, threshold):
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
    store: Store, out_dir: Path, run_ids: Sequence[str] | None = None, threshold: float = 0.5, name: str = "report"
) -> ReportFiles:
    """Write `name.md` (with SVG plots beside it) and a self-contained `name.html` to `out_dir`."""
    data = collect_report(store, run_ids, threshold)
    figures = _figures(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    figure_paths = []
    for figure, svg in figures.items():
        path = out_dir / f"{name}_{figure}.svg"
        path.write_text(svg, encoding="utf-8")
        figure_paths.append(path)
    markdown = out_dir / f"{name}.md"
    markdown.write_text(render_markdown(data, threshold, {f: f"{name}_{f}.svg" for f in figures}), encoding="utf-8")
    page = out_dir / f"{name}.html"
    page.write_text(render_html(data, threshold, figures), encoding="utf-8")
    return ReportFiles(markdown, page, figure_paths)
