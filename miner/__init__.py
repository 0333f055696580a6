"""Mining: stream WARC files into a deduplicated, language-identified DuckDB corpus."""

from __future__ import annotations

from .dedup import DedupOptions
from .errors import ConfigError, InputError, StoreError, ToxmineError
from .extract import ExtractOptions
from .langid import FastTextLid, LidOptions, normalize_label
from .mine import MineReport, mine
from .process import ProcessOptions
from .sources import HttpFile, LocalFile, SourceSelection, resolve_inputs
from .store import Store

__all__ = [
    "ConfigError",
    "DedupOptions",
    "ExtractOptions",
    "FastTextLid",
    "HttpFile",
    "InputError",
    "LidOptions",
    "LocalFile",
    "MineReport",
    "ProcessOptions",
    "SourceSelection",
    "Store",
    "StoreError",
    "ToxmineError",
    "mine",
    "normalize_label",
    "resolve_inputs",
]
