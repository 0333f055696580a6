"""What an evaluation tells its user while it runs: the plan up front, a line per stage with its duration,
and progress over the planned generations (a bar on a terminal, a plain line now and then elsewhere)."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType
from typing import TextIO

from tqdm import tqdm

__all__ = ["EvalPlan", "StageClock", "StageProgress", "generation_progress", "judging_progress", "log_stage"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalPlan:
    """The generations a run will make: every selected prompt (after --limit, --langs...) times its
    samples, less the (prompt, sample) pairs a resumed run has already stored."""

    prompts: int
    samples_per_prompt: int
    stored: int = 0
    cells: int = 0  # (language, bucket) cells the prompts fall in

    @property
    def planned(self) -> int:
        return self.prompts * self.samples_per_prompt

    @property
    def todo(self) -> int:
        return self.planned - self.stored

    def describe(self) -> str:
        cells = f" in {self.cells} language/bucket cells" if self.cells else ""
        line = (
            f"plan: {self.prompts:,} prompts{cells} x {self.samples_per_prompt} samples = {self.planned:,} generations"
        )
        return line + (f"; {self.stored:,} already stored, {self.todo:,} to generate" if self.stored else "")


@dataclass
class StageClock:
    """Seconds spent per stage, added up over the batches that interleave them (generate, score...)."""

    seconds: dict[str, float] = field(default_factory=dict)

    @contextmanager
    def timed(self, stage: str) -> Iterator[None]:
        started = time.monotonic()
        try:
            yield
        finally:
            self.seconds[stage] = self.seconds.get(stage, 0.0) + time.monotonic() - started

    def __getitem__(self, stage: str) -> float:
        return self.seconds.get(stage, 0.0)


@contextmanager
def log_stage(stage: str, what: str) -> Iterator[None]:
    """A line as the stage starts (`stage: what`) and one with its duration when it is done."""
    log.info("%s: %s", stage, what)
    started = time.monotonic()
    yield
    log.info("%s: done in %.1fs", stage, time.monotonic() - started)


def _duration(seconds: float) -> str:
    seconds = int(seconds + 0.5)
    return f"{seconds // 3600}:{seconds // 60 % 60:02d}:{seconds % 60:02d}" if seconds >= 3600 else (
        f"{seconds // 60}:{seconds % 60:02d}")  # fmt: skip


class StageProgress:
    """Progress over a stage's known amount of work: with `bar` a tqdm bar (total, rate, ETA) that closes
    when the work is done, else a plain log line at most every `every_s` seconds (pipes and CI logs get a
    few lines, not a redrawn bar)."""

    def __init__(
        self, stage: str, units: str, unit: str, bar: bool, every_s: float = 30.0, stream: TextIO | None = None
    ) -> None:
        self.stage, self.units, self.unit = stage, units, unit  # "generate", "generations", "gen"
        self._want_bar = bar
        self._every_s = every_s
        self._stream = stream
        self._bar: tqdm[None] | None = None
        self._total = 0
        self._done = 0
        self._started = self._last_line = time.monotonic()

    def start(self, total: int) -> None:
        """Called once the amount of work is known, before the first unit."""
        self.close()
        self._total, self._done = total, 0
        self._started = self._last_line = time.monotonic()
        if self._want_bar and total:
            self._bar = tqdm(total=total, unit=self.unit, desc=self.stage, dynamic_ncols=True,
                             file=self._stream or sys.stderr)  # fmt: skip

    def plan(self, plan: EvalPlan) -> None:
        """`start` with an evaluation's plan: the generations still to make."""
        self.start(plan.todo)

    def advance(self, done: int) -> None:
        self._done += done
        if self._bar is not None:
            self._bar.update(done)
            if self._done >= self._total:
                self.close()  # the stage's own line follows below the finished bar
        elif time.monotonic() - self._last_line >= self._every_s and self._done < self._total:
            self._last_line = time.monotonic()
            log.info("%s", self.status())

    def status(self) -> str:
        """`generate: 40/120 generations (33%), 2.1/s, about 0:38 left`."""
        elapsed = max(time.monotonic() - self._started, 1e-9)
        rate = self._done / elapsed
        left = f", about {_duration((self._total - self._done) / rate)} left" if rate > 0 else ""
        share = 100 * self._done / self._total if self._total else 100.0
        return f"{self.stage}: {self._done:,}/{self._total:,} {self.units} ({share:.0f}%), {rate:,.1f}/s{left}"

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None

    def __enter__(self) -> StageProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def generation_progress(bar: bool, every_s: float = 30.0, stream: TextIO | None = None) -> StageProgress:
    """Progress over an evaluation's generations (`plan` is its `on_plan`, `advance` its `progress`)."""
    return StageProgress("generate", "generations", "gen", bar, every_s, stream)


def judging_progress(bar: bool, every_s: float = 30.0, stream: TextIO | None = None) -> StageProgress:
    """Progress over the continuations a judge labels (`start` is judge_run's `on_total`)."""
    return StageProgress("judge", "continuations", "verdict", bar, every_s, stream)
