"""Main-text extraction with trafilatura, bounded by a per-document timeout."""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from types import FrameType
from typing import Any

import trafilatura

__all__ = ["ExtractOptions", "ExtractTimeout", "extract_text"]

log = logging.getLogger(__name__)


class ExtractTimeout(Exception):
    """Extraction of one document ran past its time limit."""


@dataclass(frozen=True)
class ExtractOptions:
    """trafilatura settings (defaults as in FineWeb: precision over recall, no comments)."""

    favor_precision: bool = True
    include_comments: bool = False
    include_tables: bool = False
    fast: bool = False
    timeout_s: float = 10.0  # CPU seconds per document

    def trafilatura_kwargs(self) -> dict[str, Any]:
        return {
            "favor_precision": self.favor_precision,
            "include_comments": self.include_comments,
            "include_tables": self.include_tables,
            "fast": self.fast,
            "deduplicate": False,
        }


def _raise_timeout(signum: int, frame: FrameType | None) -> None:
    raise ExtractTimeout()


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise ExtractTimeout after `seconds` of this process's CPU time (main thread only; else
    no limit). CPU time, not wall time, so a busy machine does not change which pages pass."""
    if seconds <= 0 or threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGPROF, _raise_timeout)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def extract_text(html: str, url: str | None, options: ExtractOptions) -> str | None:
    """The main text of an HTML page, or None when trafilatura finds none.

    Raises ExtractTimeout when the page takes longer than `options.timeout_s`.
    """
    with _time_limit(options.timeout_s):
        text = trafilatura.extract(html, url=url, output_format="txt", **options.trafilatura_kwargs())
    return text or None
