"""Project exceptions. Each names the input it concerns so the CLI can print one clear line."""

from __future__ import annotations


class ToxmineError(Exception):
    """Base class of every error toxmine raises on purpose."""


class ConfigError(ToxmineError):
    """A bad option or setting (unknown language code, missing model file...)."""


class InputError(ToxmineError):
    """An input (file, URL, listing) could not be read, or holds bad data at an offset."""

    def __init__(self, source: str, message: str, offset: int | None = None) -> None:
        self.source = source
        self.offset = offset
        self.reason = message
        where = f"{source} at offset {offset}" if offset is not None else source
        super().__init__(f"{where}: {message}")


class StoreError(ToxmineError):
    """The DuckDB database could not be opened or migrated."""
