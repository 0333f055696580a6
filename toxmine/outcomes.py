"""How much of a command's work failed: a warning when some did, a non-zero exit when all of it did."""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass

from toxmine.evaluate.redaction import redact

__all__ = ["Outcome", "settle"]

EXIT_ALL_FAILED = 1

log = logging.getLogger("toxmine.outcomes")


@dataclass(frozen=True)
class Outcome:
    """One stage's items (continuations, judge answers, prompts scored): how many, how many failed, the first error."""

    what: str  # plural noun, e.g. "continuations"
    total: int
    failed: int
    first_error: str | None = None

    @property
    def all_failed(self) -> bool:
        return self.total > 0 and self.failed >= self.total

    def message(self) -> str | None:
        """The line that says what failed, or None when nothing did."""
        if self.failed <= 0:
            return None
        amount = f"all {self.total}" if self.all_failed else f"{self.failed} of {self.total}"
        cause = f"; first error: {self.first_error}" if self.first_error else ""
        return redact(f"{amount} {self.what} failed{cause}")


def settle(outcomes: Sequence[Outcome]) -> int:
    """Log a line per outcome with failures (an error where all failed, else a warning: plain or JSON lines, as
    the command's logging is set); the exit code: EXIT_ALL_FAILED when any stage failed entirely, else 0."""
    code = 0
    for outcome in outcomes:
        message = outcome.message()
        if message is None:
            continue
        if outcome.all_failed:
            log.error("%s", message)
            code = EXIT_ALL_FAILED
        else:
            log.warning("%s", message)
    return code
