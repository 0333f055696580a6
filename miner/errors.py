"""Project exceptions. Each names the input it concerns so the CLI can print one clear line."""

from __future__ import annotations

__all__ = ["ConfigError", "InputError", "StoreError", "ToxmineError", "printable"]


def printable(text: str, limit: int = 500) -> str:
    """`text` fit for a log line or a table cell: control characters, lone surrogates and other
    unprintable characters escaped as `\\xNN` / `\\uNNNN`, at most `limit` characters."""
    if not text.isprintable():
        text = "".join(ch if ch.isprintable() else ascii(ch)[1:-1] for ch in text)
    return text if len(text) <= limit else text[: limit - 1] + "…"


class ToxmineError(Exception):
    """Base class of every error toxmine raises on purpose."""


class ConfigError(ToxmineError):
    """A bad option or setting (unknown language code, missing model file...)."""


class InputError(ToxmineError):
    """An input (file, URL, listing) could not be read, or holds bad data at an offset."""

    def __init__(self, source: str, message: str, offset: int | None = None) -> None:
        self.source = source = printable(source, 2000)
        self.offset = offset
        self.reason = message = printable(message)
        where = f"{source} at offset {offset}" if offset is not None else source
        super().__init__(f"{where}: {message}")


class StoreError(ToxmineError):
    """The DuckDB database could not be opened or migrated."""
