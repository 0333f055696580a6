"""Resolve command-line inputs into byte sources: local files, globs, listings, URLs, crawls.

Accepted forms, in any mix:
- a local `.warc` / `.warc.gz` file, or a glob of them;
- an `http(s)://` URL (streamed, never fully downloaded);
- a text listing (`*.txt`, `*.paths`, `*.paths.gz`, or `@FILE`) with one input per line;
- `cc:CC-MAIN-YYYY-WW`: that Common Crawl snapshot's `warc.paths.gz`, sliced by shard/limit.
"""

from __future__ import annotations

import glob
import gzip
import os
import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

from .errors import InputError
from .http import HttpOptions, ResumableHttpStream, fetch_bytes

__all__ = [
    "CC_BASE_URL",
    "HttpFile",
    "InputSource",
    "LocalFile",
    "SourceSelection",
    "crawl_of",
    "resolve_inputs",
]

CC_BASE_URL = "https://data.commoncrawl.org"
_CRAWL_ID = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_LISTING_SUFFIXES = (".txt", ".paths", ".paths.gz", ".lst")


def crawl_of(name: str) -> str | None:
    """The Common Crawl snapshot id found in a path or URL, if any."""
    match = _CRAWL_ID.search(name)
    return match.group(0) if match else None


def _is_gzip_name(name: str) -> bool:
    return name.split("?", 1)[0].endswith(".gz")


@dataclass(frozen=True)
class LocalFile:
    """A WARC file on local disk."""

    path: str

    @property
    def name(self) -> str:
        return self.path

    @property
    def crawl(self) -> str | None:
        return crawl_of(self.path)

    @property
    def gzipped(self) -> bool:
        return _is_gzip_name(self.path)

    def open(self, offset: int = 0) -> BinaryIO:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - returned to the caller
        except OSError as exc:
            raise InputError(self.path, f"cannot open: {exc.strerror or exc}") from exc
        if offset:
            handle.seek(offset)
        return handle


@dataclass(frozen=True)
class HttpFile:
    """A WARC file behind an http(s) URL, streamed with resumption."""

    url: str
    options: HttpOptions = field(default_factory=HttpOptions)

    @property
    def name(self) -> str:
        return self.url

    @property
    def crawl(self) -> str | None:
        return crawl_of(self.url)

    @property
    def gzipped(self) -> bool:
        return _is_gzip_name(self.url)

    def open(self, offset: int = 0) -> BinaryIO:
        import io

        return io.BufferedReader(ResumableHttpStream(self.url, offset, self.options), 1 << 20)  # type: ignore[return-value]


InputSource = LocalFile | HttpFile


@dataclass(frozen=True)
class SourceSelection:
    """How inputs are expanded: Common Crawl base URL, shard and limit of listings."""

    cc_base_url: str = CC_BASE_URL
    shard: tuple[int, int] | None = None  # (index, count), index from 0
    limit_files: int | None = None
    http: HttpOptions = field(default_factory=HttpOptions)

    def slice(self, entries: list[str]) -> list[str]:
        if self.shard is not None:
            index, count = self.shard
            entries = [e for i, e in enumerate(entries) if i % count == index]
        if self.limit_files is not None:
            entries = entries[: self.limit_files]
        return entries


def parse_shard(text: str) -> tuple[int, int]:
    """Parse `I/N` (0 <= I < N) as used by `--shard`."""
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match:
        raise ValueError(f"shard must look like I/N, got {text!r}")
    index, count = int(match.group(1)), int(match.group(2))
    if count < 1 or not 0 <= index < count:
        raise ValueError(f"shard {text!r}: need 0 <= I < N")
    return index, count


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _read_listing(spec: str, selection: SourceSelection) -> tuple[list[str], str | None]:
    """Lines of a listing, and the folder that relative local entries are resolved against."""
    if _is_url(spec):
        data = fetch_bytes(spec, selection.http)
        base_dir = None
    else:
        try:
            data = Path(spec).read_bytes()
        except OSError as exc:
            raise InputError(spec, f"cannot read listing: {exc.strerror or exc}") from exc
        base_dir = os.path.dirname(os.path.abspath(spec))
    if _is_gzip_name(spec):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as exc:
            raise InputError(spec, f"listing is not valid gzip: {exc}") from exc
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(spec, f"listing is not UTF-8 text (byte {exc.start})") from exc
    lines = [line.strip() for line in text.splitlines()]
    return [line for line in lines if line and not line.startswith("#")], base_dir


def _listing_entry(entry: str, base_dir: str | None, selection: SourceSelection) -> str:
    if _is_url(entry) or entry.startswith("cc:"):
        return entry
    if entry.startswith("crawl-data/"):  # a Common Crawl path, as in warc.paths.gz
        return f"{selection.cc_base_url.rstrip('/')}/{entry}"
    if base_dir is not None and not os.path.isabs(entry):
        candidate = os.path.join(base_dir, entry)
        if os.path.exists(candidate):
            return candidate
    return entry


def _expand(spec: str, selection: SourceSelection, depth: int) -> Iterator[InputSource]:
    if depth > 4:
        raise InputError(spec, "listings nested too deeply")
    if spec.startswith("cc:"):
        crawl = spec[3:]
        if not _CRAWL_ID.fullmatch(crawl):
            raise InputError(spec, "expected cc:CC-MAIN-YYYY-WW")
        url = f"{selection.cc_base_url.rstrip('/')}/crawl-data/{crawl}/warc.paths.gz"
        entries, _ = _read_listing(url, selection)
        for entry in selection.slice(entries):
            yield from _expand(_listing_entry(entry, None, selection), selection, depth + 1)
        return
    if _is_url(spec):
        if spec.split("?", 1)[0].endswith(_LISTING_SUFFIXES):
            entries, _ = _read_listing(spec, selection)
            for entry in selection.slice(entries):
                yield from _expand(_listing_entry(entry, None, selection), selection, depth + 1)
        else:
            yield HttpFile(spec, selection.http)
        return
    listing = spec[1:] if spec.startswith("@") else spec
    if spec.startswith("@") or listing.endswith(_LISTING_SUFFIXES):
        entries, base_dir = _read_listing(listing, selection)
        for entry in selection.slice(entries):
            yield from _expand(_listing_entry(entry, base_dir, selection), selection, depth + 1)
        return
    if glob.has_magic(spec):
        matches = sorted(glob.glob(spec, recursive=True))
        if not matches:
            raise InputError(spec, "glob matched no files")
        for match in matches:
            yield LocalFile(os.path.abspath(match))
        return
    if os.path.isdir(spec):
        matches = sorted(glob.glob(os.path.join(spec, "**", "*.warc*"), recursive=True))
        for match in matches:
            if match.endswith((".warc", ".warc.gz")):
                yield LocalFile(os.path.abspath(match))
        return
    if not os.path.exists(spec):
        raise InputError(spec, "no such file")
    yield LocalFile(os.path.abspath(spec))


def resolve_inputs(specs: Iterable[str], selection: SourceSelection | None = None) -> list[InputSource]:
    """Expand input specs into a de-duplicated, ordered list of sources."""
    selection = selection or SourceSelection()
    seen: set[str] = set()
    sources: list[InputSource] = []
    for spec in specs:
        for source in _expand(spec, selection, 0):
            if source.name not in seen:
                seen.add(source.name)
                sources.append(source)
    return sources
