"""The report's generation browser: each run's continuations per cell, most toxic first, capped per cell.

Cells are the runs' language x prompt-toxicity-bucket cells and, where a judge labelled the runs, the
groups of its safety metrics (risk category, prompt source, `--group-by` groupings). Each shown
continuation carries its prompt, score and the judge's verdict; a cell holds at most `per_cell` of them
and counts the rest.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from toxmine.miner.split import bucket_label

from .eval_tables import StoredSample, StoredVerdict

__all__ = ["GenerationCell", "ShownGeneration", "browsed_groupings", "collect_generations", "order_key"]

_NOT_BROWSED = frozenset({"all", "lang", "resource_level"})


@dataclass(frozen=True)
class ShownGeneration:
    """One continuation as the report shows it."""

    prompt: str
    continuation: str | None  # None: generation failed
    toxicity: float | None  # None: failed or empty
    verdict: str | None  # the judge's label and compliance, e.g. "unsafe, full compliance"; None: not judged
    note: str = ""  # "empty", "failed: ..."

    @property
    def unsafe(self) -> bool:
        return self.verdict is not None and self.verdict.startswith("unsafe")


@dataclass(frozen=True)
class GenerationCell:
    """The continuations of one run in one cell (grouping and group), the first `per_cell` shown."""

    grouping: str  # "language x bucket", or a safety grouping (category, source, ...)
    group: str
    eval_run_id: str
    shown: tuple[ShownGeneration, ...]
    total: int  # continuations in the cell
    prompts: int  # prompts in the cell

    @property
    def more(self) -> int:
        return self.total - len(self.shown)


def order_key(generation: ShownGeneration) -> tuple[int, float]:
    """Most harmful first: unsafe verdicts, then by toxicity (highest first), failed and empty last."""
    toxicity = -1.0 if generation.toxicity is None else generation.toxicity
    return (0 if generation.unsafe else 1, -toxicity)


def _verdict(verdict: StoredVerdict | None) -> str | None:
    if verdict is None or verdict.error is not None:
        return None
    label = verdict.label or ("safe" if verdict.safe else "unsafe" if verdict.safe is not None else None)
    if label is None:
        return None
    return label + (f", {verdict.compliance.replace('_', ' ')}" if verdict.compliance else "")


def _shown(sample: StoredSample, verdict: StoredVerdict | None) -> ShownGeneration:
    note = "empty" if sample.empty else f"failed: {sample.error}" if sample.error else ""
    return ShownGeneration(sample.prompt, sample.continuation, sample.toxicity, _verdict(verdict), note)


def _cells(
    grouping: str, run_id: str, groups: Iterable[tuple[str, str, ShownGeneration]], per_cell: int
) -> list[GenerationCell]:
    """`groups`: (group, prompt id, generation) triples; one cell per group, in first-seen order."""
    members: dict[str, list[tuple[str, ShownGeneration]]] = {}
    for group, prompt_id, generation in groups:
        members.setdefault(group, []).append((prompt_id, generation))
    cells = []
    for group, rows in members.items():
        ordered = sorted((generation for _, generation in rows), key=order_key)
        cells.append(GenerationCell(grouping, group, run_id, tuple(ordered[:per_cell]), len(rows),
                                    len({prompt_id for prompt_id, _ in rows})))  # fmt: skip
    return cells


def browsed_groupings(stored: Sequence[str]) -> list[str]:
    """The safety groupings browsed besides language x bucket (language and resource level: those cells
    already show them), sorted."""
    return sorted(g for g in stored if g not in _NOT_BROWSED)


def collect_generations(
    run_id: str,
    samples: Sequence[StoredSample],
    verdicts: Iterable[StoredVerdict],
    bucket_edges: tuple[float, ...],
    judge: str | None,
    safety_groups: tuple[Sequence[str], Mapping[str, tuple[str | None, ...]]],
    per_cell: int,
) -> list[GenerationCell]:
    """The run's continuations per language x bucket cell (by language, then bucket) and, when `judge` is
    given, per group of each grouping of `safety_groups` (groupings, and each prompt's groups under them),
    most harmful first (`order_key`), `per_cell` shown in each; `verdicts` of other judges are ignored."""
    by_sample = {(v.prompt_id, v.sample_idx): v for v in verdicts if judge is not None and v.judge == judge}
    shown = [
        (s, _shown(s, by_sample.get((s.prompt_id, s.sample_idx))))
        for s in sorted(samples, key=lambda s: (s.prompt_lang, s.bucket))
    ]
    cells = _cells(
        "language x bucket",
        run_id,
        ((f"{s.prompt_lang} · {bucket_label(bucket_edges, s.bucket)}", s.prompt_id, g) for s, g in shown),
        per_cell,
    )
    groupings, groups = safety_groups
    for i, grouping in enumerate(groupings if judge is not None else ()):
        members = sorted(
            ((groups[s.prompt_id][i] or "none", s.prompt_id, g) for s, g in shown if s.prompt_id in groups),
            key=lambda member: member[0],
        )
        cells += _cells(grouping, run_id, members, per_cell)
    return cells
