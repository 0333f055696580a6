"""Progress display and log setup: a bar on terminals, quiet in CI and pipes, JSON on request."""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import warnings
from types import TracebackType
from typing import Any, TextIO

from tqdm import tqdm

from .errors import printable

__all__ = [
    "LOG_RECORD_ATTRS",
    "QUIET_ENVIRONMENT",
    "BarSafeHandler",
    "JsonLogFormatter",
    "MiningProgress",
    "TextLogFormatter",
    "configure_logging",
    "progress_wanted",
    "quiet_third_party",
]

LOG_RECORD_ATTRS = frozenset(vars(logging.makeLogRecord({})).keys()) | {"message", "asctime"}


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message and any `extra` fields."""

    def format(self, record: logging.LogRecord) -> str:
        payload: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in LOG_RECORD_ATTRS:
                payload[key] = value
        if record.exc_info:
            payload["exception"] = self.formatException(record.exc_info)
        return json.dumps(payload, default=str, ensure_ascii=False)


class TextLogFormatter(logging.Formatter):
    """`LEVEL message`, the message's control characters escaped: a URL or a server's text holding
    terminal escape sequences cannot rewrite the user's terminal. (JSON lines escape them anyway.)"""

    def __init__(self) -> None:
        super().__init__("%(levelname)s %(message)s")

    def formatMessage(self, record: logging.LogRecord) -> str:
        record.message = printable(record.message, limit=20_000)
        return super().formatMessage(record)


class BarSafeHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """Writes each record with `tqdm.write`: a live bar on the stream is cleared, the line written and the
    bar drawn again below it. A forked worker's bars belong to its parent: there a terminal's current line
    (the parent's bar) is cleared before the line, and the parent redraws its bar on its next update."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._owner = os.getpid()
        self._terminal = bool(getattr(stream, "isatty", lambda: False)())

    def emit(self, record: logging.LogRecord) -> None:
        try:
            line = self.format(record)
            if os.getpid() == self._owner:
                tqdm.write(line, file=self.stream)
            else:
                self.stream.write(("\r\x1b[K" if self._terminal else "") + line + "\n")
                self.flush()
        except RecursionError:
            raise
        except Exception:
            self.handleError(record)


def configure_logging(json_lines: bool = False, verbose: bool = False, stream: TextIO | None = None) -> None:
    """Send toxmine's logs to `stream` (default stderr), as text or as JSON lines, never inside a bar."""
    handler = BarSafeHandler(stream or sys.stderr)
    handler.setFormatter(JsonLogFormatter() if json_lines else TextLogFormatter())
    root = logging.getLogger("toxmine")
    root.handlers[:] = [handler]
    root.setLevel(logging.DEBUG if verbose else logging.INFO)
    root.propagate = False
    logging.getLogger("trafilatura").setLevel(logging.ERROR)


# read by transformers, huggingface_hub and datasets as they are imported (also in Ray workers started later)
QUIET_ENVIRONMENT = {
    "TRANSFORMERS_VERBOSITY": "error",
    "TRANSFORMERS_NO_ADVISORY_WARNINGS": "1",
    "HF_HUB_DISABLE_PROGRESS_BARS": "1",
    "HF_DATASETS_DISABLE_PROGRESS_BARS": "1",
}


def quiet_third_party(verbose: bool = False) -> None:
    """Unless `verbose`, no loading bars or notices from transformers, huggingface_hub and datasets: set
    through the environment for those not imported yet (importing them here would slow every command),
    and through their own switches for those already imported. `verbose` undoes it (a second command in
    the same process, as tests run them)."""
    for key, value in QUIET_ENVIRONMENT.items():
        if not verbose:
            os.environ.setdefault(key, value)
        elif os.environ.get(key) == value:
            del os.environ[key]
    if "transformers" in sys.modules:
        from transformers.utils import logging as transformers_logging

        transformers_logging.set_verbosity(logging.INFO if verbose else logging.ERROR)
        if verbose:
            with warnings.catch_warnings():  # it also enables huggingface_hub's, which may refuse (its env switch)
                warnings.simplefilter("ignore")
                transformers_logging.enable_progress_bar()  # type: ignore[no-untyped-call]
        else:
            transformers_logging.disable_progress_bar()  # type: ignore[no-untyped-call]
    if "huggingface_hub" in sys.modules and not verbose:  # (its env switch, read at import, outranks enabling)
        from huggingface_hub.utils.tqdm import disable_progress_bars

        disable_progress_bars()
    if "datasets" in sys.modules:
        from datasets.utils import logging as datasets_logging

        datasets_logging.set_verbosity(logging.INFO if verbose else logging.ERROR)
        if verbose:
            datasets_logging.enable_progress_bar()
        else:
            datasets_logging.disable_progress_bar()


def progress_wanted(stream: Any = None) -> bool:
    """A bar only on an interactive terminal and never under CI."""
    stream = stream if stream is not None else sys.stderr
    return bool(getattr(stream, "isatty", lambda: False)()) and not os.environ.get("CI")


class MiningProgress:
    """Inputs done / total with records/s and docs/s, and the input being read."""

    def __init__(self, total_inputs: int, enabled: bool) -> None:
        self.enabled = enabled
        self.records = 0
        self.documents = 0
        self.started = time.monotonic()
        self._bar = tqdm(total=total_inputs, unit="input", disable=not enabled, dynamic_ncols=True, leave=True)

    def advance(self, source: str, records: int, documents: int) -> None:
        self.records += records
        self.documents += documents
        if self.enabled:
            elapsed = max(time.monotonic() - self.started, 1e-9)
            name = source.rsplit("/", 1)[-1]
            self._bar.set_postfix_str(
                f"{self.records / elapsed:,.0f} rec/s {self.documents / elapsed:,.1f} doc/s [{name}]",
                refresh=True,
            )

    def input_done(self) -> None:
        self._bar.update(1)

    def close(self) -> None:
        self._bar.close()

    def __enter__(self) -> MiningProgress:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()
