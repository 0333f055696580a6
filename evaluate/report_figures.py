"""The report's plots as SVG: a metric per group with 95% intervals, the runs side by side.

A bar whose group is too small for an interval is hatched and pale (its n is in the table), never drawn
with the look of a certain figure; a plot whose values are all 0 or missing is not drawn, and says why.
"""

from __future__ import annotations

import io
from dataclasses import dataclass, field

from .metrics import MetricValue
from .report_data import ReportData

__all__ = ["UNCERTAIN_NOTE", "Figures", "figures"]

UNCERTAIN_NOTE = "Hatched, pale bars: too few prompts for an interval (n in the table above); read them as anecdotes."


@dataclass
class Figures:
    """SVG text per figure name; the figures left out, with the reason; notes to show under drawn figures."""

    svg: dict[str, str] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)
    notes: dict[str, str] = field(default_factory=dict)


_Table = dict[tuple[str, str, str, str], MetricValue]


def figures(data: ReportData) -> Figures:
    """EMT per language, bucket and resource level; safety score per category; unsafe rate per resource level."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import numpy as np

    result = Figures()
    emt = "expected_max_toxicity"
    plots: list[tuple[str, str, str, _Table, str, str]] = [
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
        cells = [[table.get((run.eval_run_id, dimension, g, metric)) for g in groups] for run in data.runs]
        shown = [c.value for row in cells for c in row if c is not None and c.n_prompts and c.value == c.value]
        if not any(shown):
            result.skipped[name] = (
                f"No chart: every {ylabel} per {xlabel} is 0 or missing (the table above has each figure)."
            )
            continue
        width = 0.8 / len(data.runs)
        fig, ax = plt.subplots(figsize=(max(5.0, 0.6 * len(groups) * max(1, len(data.runs)) + 2), 3.4))
        x = np.arange(len(groups))
        uncertain = False
        for i, (run, row) in enumerate(zip(data.runs, cells, strict=True)):
            values = np.array([c.value if c and c.n_prompts else np.nan for c in row])
            certain = np.array([c is not None and c.ci_low is not None and c.ci_high is not None for c in row])
            low = np.array([c.value - c.ci_low if c and c.ci_low is not None else 0.0 for c in row])
            high = np.array([c.ci_high - c.value if c and c.ci_high is not None else 0.0 for c in row])
            position = x + (i - (len(data.runs) - 1) / 2) * width
            loose = ~certain & ~np.isnan(values)
            if certain.any():
                ax.bar(position[certain], values[certain], width, yerr=[low[certain], high[certain]], capsize=3,
                       color=f"C{i}", label=run.label)  # fmt: skip
            if loose.any():
                uncertain = True
                ax.bar(position[loose], values[loose], width, color=f"C{i}", alpha=0.35, hatch="//",
                       label=None if certain.any() else run.label)  # fmt: skip
        ax.set_xticks(x, groups, rotation=30 if len(groups) > 6 else 0, ha="right" if len(groups) > 6 else "center")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        ax.set_ylim(0, 1)
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.0, 1.0))
        buffer = io.StringIO()
        fig.savefig(buffer, format="svg", bbox_inches="tight")  # room for the legend beside the axes
        plt.close(fig)
        result.svg[name] = buffer.getvalue()
        if uncertain:
            result.notes[name] = UNCERTAIN_NOTE
    return result
