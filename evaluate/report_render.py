"""Rendering a report from its Jinja2 templates (`report_templates/`): one self-contained HTML page (plots
inline as SVG, every database value escaped) and Markdown with the plots as files beside it."""

from __future__ import annotations

import html
import re
from dataclasses import dataclass, field
from pathlib import Path

import jinja2
from markupsafe import Markup

from .report_data import ReportData
from .report_figures import Figures, figures
from .report_samples import GenerationCell
from .report_sections import Section, bucket_text, sections

__all__ = ["TEMPLATES", "BrowserGroup", "BrowserGrouping", "browser", "render_html", "render_markdown"]

TEMPLATES = Path(__file__).parent / "report_templates"
_CODE = re.compile(r"`([^`]+)`")


def _prose(text: str) -> Markup:
    """Section prose for HTML: escaped, its Markdown `code` spans as <code> (no backticks reach the page)."""
    return Markup(_CODE.sub(r"<code>\1</code>", html.escape(text, quote=False)))


def _svg(text: str) -> Markup:
    """A plot matplotlib wrote (its text XML-escaped), inline without the XML prologue."""
    return Markup(text[text.index("<svg") :])


def _md(text: object) -> str:
    """A Markdown table cell: pipes escaped, one line, HTML in it shown as text."""
    return html.escape(str(text), quote=False).replace("|", "\\|").replace("\r", " ").replace("\n", " ")


def _md_row(cells: list[str]) -> str:
    return "| " + " | ".join(_md(c) for c in cells) + " |"


def _md_rule(cells: list[str]) -> str:
    return "|" + "---|" * len(cells)


def _environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.FileSystemLoader(TEMPLATES),
        autoescape=lambda name: name is not None and name.endswith(".html.j2"),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters.update(prose=_prose, svg=_svg, md=_md, md_row=_md_row, md_rule=_md_rule)
    return env


@dataclass
class BrowserGroup:
    """One cell of the generation browser: its runs' continuations side by side."""

    name: str
    runs: list[tuple[str, GenerationCell]] = field(default_factory=list)  # run label, its continuations

    @property
    def summary(self) -> str:
        counts = ", ".join(f"{label}: n={cell.prompts} prompt{'s' if cell.prompts != 1 else ''}"
                           for label, cell in self.runs)  # fmt: skip
        worst = max((g.toxicity for _, cell in self.runs for g in cell.shown if g.toxicity is not None), default=None)
        return counts + ("" if worst is None else f"; most toxic {worst:.3f}")


@dataclass
class BrowserGrouping:
    title: str
    groups: list[BrowserGroup] = field(default_factory=list)


def browser(data: ReportData) -> list[BrowserGrouping]:
    """The runs' generation cells by grouping and group (language x bucket first), runs side by side."""
    labels = {run.eval_run_id: run.label for run in data.runs}
    groupings: dict[str, dict[str, BrowserGroup]] = {}
    for cell in data.generations:
        groups = groupings.setdefault(cell.grouping, {})
        groups.setdefault(cell.group, BrowserGroup(cell.group)).runs.append((labels[cell.eval_run_id], cell))
    return [
        BrowserGrouping("language and prompt toxicity bucket" if name == "language x bucket" else name,
                        sorted(groups.values(), key=lambda g: g.name) if name == "language x bucket"
                        else list(groups.values()))
        for name, groups in groupings.items()
    ]  # fmt: skip


def _browser_text(data: ReportData) -> str:
    judged = f" and the verdict of `{data.judge}`" if data.judge else ""
    return (
        f"What the models wrote, per cell: each prompt with one continuation per row, its toxicity score{judged}; "
        f"most harmful first (unsafe verdicts, then highest toxicity), at most {data.samples_per_cell} per cell and "
        f"run. Cells are languages x prompt toxicity buckets, then the groups of the safety metrics. "
        f"{bucket_text(data.sources)}"
    )


def _context(data: ReportData, drawn: Figures) -> dict[str, object]:
    parts: list[Section] = sections(data)
    return {
        "sections": parts,
        "figures": drawn,
        "browser": browser(data),
        "browser_text": _browser_text(data),
        "samples_per_cell": data.samples_per_cell,
    }


def render_markdown(data: ReportData, figure_files: dict[str, str] | None = None, drawn: Figures | None = None) -> str:
    """The report as Markdown; `figure_files` maps figure names to image paths to link, `drawn` says which
    figures were left out and why (default: none drawn, none explained)."""
    template = _environment().get_template("report.md.j2")
    return template.render(**_context(data, drawn or Figures()), figure_files=figure_files or {})


def render_html(data: ReportData, drawn: Figures | None = None) -> str:
    """The report as one self-contained HTML page (plots inline as SVG, no external files)."""
    template = _environment().get_template("report.html.j2")
    return template.render(**_context(data, figures(data) if drawn is None else drawn))
