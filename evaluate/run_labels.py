"""Names of evaluation runs for table columns and legends: the model, told apart by what differs.

Two runs of one model (with and without `--template`, or under two protocols) are two series, each
with its own label; the report and the notebooks name runs alike."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import duckdb

from .eval_tables import run_namings

__all__ = ["RunNaming", "run_labels", "short_model_name", "stored_run_labels"]


@dataclass(frozen=True)
class RunNaming:
    """What a run's label is made of."""

    eval_run_id: str
    model: str  # as stored: a local path, a hub id, or MODEL@BASE_URL of an HTTP backend
    protocol: str  # "" for runs from before protocols were recorded
    scenario: str = "plain"  # or "template NAME"


def short_model_name(model: str) -> str:
    """A local folder by its own name; a hub id or an endpoint model (`MODEL@URL`) as given."""
    return Path(model).name if model.startswith(("/", ".", "~")) else model


def run_labels(runs: Sequence[RunNaming]) -> list[str]:
    """One distinct label per run, in order: the model's short name, the protocol where the runs differ in
    it, the template where one was used, and the run id's first characters where two would still be alike."""
    several = len({run.protocol for run in runs}) > 1
    names = [
        short_model_name(run.model)
        + (f" {run.protocol or 'no protocol'}" if several else "")
        + ("" if run.scenario == "plain" else f" [{run.scenario}]")
        for run in runs
    ]
    return [
        name if names.count(name) == 1 else f"{name} ({run.eval_run_id[:6]})"
        for name, run in zip(names, runs, strict=True)
    ]


def stored_run_labels(con: duckdb.DuckDBPyConnection) -> dict[str, str]:
    """Every run stored in the database behind `con` (read-only is enough), its label by run id."""
    runs = [RunNaming(*row) for row in run_namings(con)]
    return dict(zip((run.eval_run_id for run in runs), run_labels(runs), strict=True))
