"""Which files of Common Crawl's columnar index `toxmine select` reads.

An input is `cc-index:CC-MAIN-YYYY-WW` (that crawl's `cc-index-table.paths.gz` under the base), a listing
(path or URL: `*.paths.gz`, `*.txt`, `*.paths`, `*.lst`, `@FILE`) of index files, an http(s) URL of one
index file, or local index Parquet files, a glob or a folder (a mounted copy). The base is an http(s)
URL (default data.commoncrawl.org) or a local folder holding the same layout. Listing entries such as
`cc-index/table/...` are resolved against the base, relative local ones against the listing's folder.
Only `subset=warc` files are kept: the other subsets (crawldiagnostics, robotstxt) hold no pages.
"""

from __future__ import annotations

import glob
import os
import re
from dataclasses import dataclass, field

from .cc_index import is_url
from .errors import ConfigError, InputError
from .http import HttpOptions, redact_url
from .sources import CC_BASE_URL, SourceSelection, _read_listing, crawl_of, display_path

__all__ = ["IndexFile", "IndexSelection", "resolve_index_files"]

_CC_INDEX = "cc-index:"
_CRAWL_ID = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_LISTING_SUFFIXES = (".txt", ".paths", ".paths.gz", ".lst")
_SUBSET = re.compile(r"/subset=([^/]+)/")


@dataclass(frozen=True)
class IndexFile:
    """One index file: where it is read from (may hold secrets), and its name as shown and stored."""

    location: str = field(repr=False)

    @property
    def name(self) -> str:
        return redact_url(self.location) if is_url(self.location) else display_path(self.location)

    @property
    def crawl(self) -> str | None:
        return crawl_of(self.location)


@dataclass(frozen=True)
class IndexSelection:
    """Where `cc-index:` and relative entries are found, which files of the inputs are taken, and how."""

    cc_base_url: str = CC_BASE_URL  # an http(s) URL or a local folder
    shard: tuple[int, int] | None = None
    limit_files: int | None = None
    http: HttpOptions = field(default_factory=HttpOptions)


def _against_base(base: str, path: str) -> str:
    return f"{base.rstrip('/')}/{path.lstrip('/')}" if is_url(base) else os.path.join(base, path)


def _is_page_subset(location: str) -> bool:
    match = _SUBSET.search(location.replace(os.sep, "/"))
    return match is None or match.group(1) == "warc"


def _listing(spec: str, listing: str, selection: IndexSelection) -> list[str]:
    """The index files a listing names."""
    sources = SourceSelection(http=selection.http)
    if not is_url(listing) and not os.path.exists(listing):
        raise InputError(_shown(listing), "no such listing" + (f" ({spec})" if spec.startswith(_CC_INDEX) else ""))
    entries, base_dir = _read_listing(listing, sources)
    found = []
    for entry in entries:
        if is_url(entry):
            found.append(entry)
        elif entry.startswith(("cc-index/", "crawl-data/")):
            found.append(_against_base(selection.cc_base_url, entry))
        elif base_dir is not None and not os.path.isabs(entry):
            found.append(os.path.join(base_dir, entry))
        else:
            found.append(entry)
    if not found:
        raise InputError(_shown(spec), "the listing names no index files")
    return found


def _local(spec: str) -> list[str]:
    if glob.has_magic(spec):
        matches = sorted(glob.glob(spec, recursive=True))
        if not matches:
            raise InputError(spec, "glob matched no files")
        return [os.path.abspath(match) for match in matches]
    if os.path.isdir(spec):
        matches = sorted(glob.glob(os.path.join(glob.escape(spec), "**", "*.parquet"), recursive=True))
        if not matches:
            raise InputError(spec, "no .parquet files in this folder")
        return [os.path.abspath(match) for match in matches]
    if not os.path.exists(spec):
        raise InputError(spec, "no such file")
    return [os.path.abspath(spec)]


def _expand(spec: str, selection: IndexSelection) -> list[str]:
    if "\x00" in spec:
        raise InputError(repr(spec)[1:-1], "not a valid input (holds a NUL byte)")
    if spec.startswith(_CC_INDEX):
        crawl = spec[len(_CC_INDEX) :]
        if not _CRAWL_ID.fullmatch(crawl):
            raise InputError(spec, "expected cc-index:CC-MAIN-YYYY-WW")
        listing = _against_base(selection.cc_base_url, f"crawl-data/{crawl}/cc-index-table.paths.gz")
        return _listing(spec, listing, selection)
    if spec.startswith("@"):
        return _listing(spec, spec[1:], selection)
    if spec.split("?", 1)[0].endswith(_LISTING_SUFFIXES):
        return _listing(spec, spec, selection)
    if is_url(spec):
        return [spec]
    return _local(spec)


def resolve_index_files(specs: list[str], selection: IndexSelection | None = None) -> list[IndexFile]:
    """The index files of `specs` (subset=warc only, de-duplicated, in order), sliced by shard and limit.
    A bad input raises InputError naming it; a shard left with no files raises ConfigError."""
    selection = selection or IndexSelection()
    seen: set[str] = set()
    files: list[IndexFile] = []
    for spec in specs:
        for location in _expand(spec, selection):
            if location not in seen and _is_page_subset(location):
                seen.add(location)
                files.append(IndexFile(location))
    if not files:
        raise InputError(", ".join(map(_shown, specs)), "no index files of subset=warc")
    total = len(files)
    if selection.shard is not None:
        index, count = selection.shard
        if not 0 <= index < count:
            raise ConfigError(f"--shard {index}/{count}: need 0 <= I < N")
        files = [file for i, file in enumerate(files) if i % count == index]
    if selection.limit_files is not None:
        files = files[: selection.limit_files]
    if not files:
        raise ConfigError(f"no index files left to read: {total} index files, --shard and --limit-files take none")
    return files


def _shown(spec: str) -> str:
    if spec.startswith("@"):
        return "@" + _shown(spec[1:])
    return redact_url(spec) if is_url(spec) else display_path(spec)
