"""Main-text extraction with the chosen extractor, bounded by a per-document CPU-time limit.

`extract_text` runs in this process: its limit is a signal, which cannot interrupt C code (one
lxml call can run for minutes). The mining pipeline runs it in a sandbox process instead
(`extract_sandbox`), where the limit and a memory budget hold whatever the page does.
"""

from __future__ import annotations

import functools
import logging
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from .extract_child import CpuTimeUp, cpu_time_limit
from .extractors.catalog import DEFAULT_EXTRACTOR, PageExtractor, create_extractor
from .records import DropReason

__all__ = [
    "ExtractCrash",
    "ExtractError",
    "ExtractFailure",
    "ExtractMemoryError",
    "ExtractOptions",
    "ExtractTimeout",
    "Extractor",
    "extract_text",
]

log = logging.getLogger(__name__)


class ExtractFailure(Exception):
    """Extraction of one document failed; `reason` is the drop reason it counts as."""

    reason = DropReason.EXTRACT_ERROR


class ExtractTimeout(ExtractFailure):
    """Extraction of one document ran past its CPU-time limit."""

    reason = DropReason.EXTRACT_TIMEOUT


class ExtractMemoryError(ExtractFailure):
    """Extraction of one document needed more memory than its budget."""

    reason = DropReason.EXTRACT_MEMORY


class ExtractCrash(ExtractFailure):
    """The extraction process died on a document (a fault in C code, the OOM killer...)."""

    reason = DropReason.EXTRACT_CRASH


class ExtractError(ExtractFailure):
    """The extractor raised on a document (in the sandbox process; the message says what)."""


@dataclass(frozen=True)
class ExtractOptions:
    """Which extractor (a name of `extractors.catalog.EXTRACTORS` or module:Class) and the bounds
    of one extraction."""

    extractor: str = DEFAULT_EXTRACTOR
    timeout_s: float = 10.0  # CPU seconds per document (<= 0: no limit)
    memory_mb: int = 768  # MiB of resident memory per extraction over the sandbox's idle size (<= 0: no budget)
    sandbox: bool = True  # extract in a sandbox process (False: in this process, time limit for Python code only)


Extractor = Callable[[str, "str | None", ExtractOptions], "str | None"]
"""Extracts (html, url, options) -> text or None; raises an ExtractFailure for a failed page."""


@contextmanager
def _time_limit(seconds: float) -> Iterator[None]:
    """Raise ExtractTimeout after `seconds` of this process's CPU time (main thread only; else
    no limit). CPU time, not wall time, so a busy machine does not change which pages pass.
    A signal: it waits for a running C call to return."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    try:
        with cpu_time_limit(seconds):
            yield
    except CpuTimeUp:
        raise ExtractTimeout(f"over its limit of {seconds:g} CPU-s") from None


@functools.cache
def _in_process(name: str) -> PageExtractor:
    return create_extractor(name)


def extract_text(html: str, url: str | None, options: ExtractOptions) -> str | None:
    """The main text of an HTML page, or None when the extractor finds none, in this process.

    Raises ExtractTimeout when the page takes longer than `options.timeout_s` in Python code
    (a C call that runs long is waited for); `options.memory_mb` does not apply.
    """
    with _time_limit(options.timeout_s):
        text = _in_process(options.extractor).extract(html, url)
    if text and not isinstance(text, str):
        raise ExtractError(f"the extractor returned {type(text).__name__}, not str")
    return text or None
