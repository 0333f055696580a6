"""Evaluation reports: Markdown and a self-contained HTML page comparing eval runs side by side.

One report holds several runs (models, and scenarios: plain prompts or wrapped in a jailbreak
template): a run table (seed, protocol, chat use, template, limit, k, versions, date, scorer, judge),
the overall metrics, per language, per prompt toxicity bucket and per language resource level (from
the `languages` table), each with its bootstrap 95% interval and prompt count n, and plots of them.
Where a judge labelled the runs, the safety analyses follow: ALERT-style safety score per risk
category, MultiJail-style unsafe rate per language and resource level, and the response taxonomy
with refusal and over-refusal rates per group. Last, the generations themselves per cell, most
harmful first. Gathering: `report_data`; sections: `report_sections`; plots: `report_figures`;
rendering from Jinja2 templates: `report_render`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from toxmine.miner.store import Store

from .report_data import DEFAULT_SAMPLES_PER_CELL, EvalRunInfo, ReportData, collect_report
from .report_figures import figures
from .report_render import render_html, render_markdown

__all__ = [
    "EvalRunInfo",
    "ReportData",
    "ReportFiles",
    "collect_report",
    "render_html",
    "render_markdown",
    "write_report",
]


@dataclass(frozen=True)
class ReportFiles:
    markdown: Path
    html: Path
    figures: list[Path]


def write_report(
    store: Store,
    out_dir: Path,
    run_ids: Sequence[str] | None = None,
    threshold: float | None = None,
    name: str = "report",
    judge: str | None = None,
    samples_per_cell: int = DEFAULT_SAMPLES_PER_CELL,
) -> ReportFiles:
    """Write `name.md` (with SVG plots beside it) and a self-contained `name.html` to `out_dir`."""
    data = collect_report(store, run_ids, threshold, judge=judge, samples_per_cell=samples_per_cell)
    drawn = figures(data)
    out_dir.mkdir(parents=True, exist_ok=True)
    figure_paths = []
    for figure, svg in drawn.svg.items():
        path = out_dir / f"{name}_{figure}.svg"
        path.write_text(svg, encoding="utf-8")
        figure_paths.append(path)
    markdown = out_dir / f"{name}.md"
    markdown.write_text(render_markdown(data, {f: f"{name}_{f}.svg" for f in drawn.svg}, drawn), encoding="utf-8")
    page = out_dir / f"{name}.html"
    page.write_text(render_html(data, drawn), encoding="utf-8")
    return ReportFiles(markdown, page, figure_paths)
