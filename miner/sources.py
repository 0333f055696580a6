"""Resolve command-line inputs into byte sources: local files, globs, listings, URLs, crawls.

Accepted forms, in any mix:
- a local `.warc` / `.warc.gz` file, or a glob of them;
- an `http(s)://` URL (streamed, never fully downloaded);
- a text listing (`*.txt`, `*.paths`, `*.paths.gz`, or `@FILE`) with one input per line;
- `cc:CC-MAIN-YYYY-WW`: that Common Crawl snapshot's `warc.paths.gz`, sliced by shard/limit;
- a record list (`*.parquet`, `*.csv`, `*.jsonl`, as `toxmine select` writes): single records,
  grouped by WARC file into `RecordGroup`s (see `record_sources`).
"""

from __future__ import annotations

import glob
import os
import re
import time
import zlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field, replace
from typing import BinaryIO, TypeVar

from .errors import InputError
from .http import HttpOptions, ResumableHttpStream, fetch_bytes, redact_url
from .inflate import CutStream, InflateTooLarge, inflate

__all__ = [
    "CC_BASE_URL",
    "HttpFile",
    "InputSource",
    "LocalFile",
    "MissingInput",
    "RecordFile",
    "RecordGroup",
    "RecordPointer",
    "SourceSelection",
    "crawl_key",
    "crawl_of",
    "display_path",
    "resolve_inputs",
]

CC_BASE_URL = "https://data.commoncrawl.org"
_CRAWL_ID = re.compile(r"CC-MAIN-\d{4}-\d{2}")
_LISTING_SUFFIXES = (".txt", ".paths", ".paths.gz", ".lst")
RECORD_LIST_SUFFIXES = (".parquet", ".csv", ".csv.gz", ".jsonl", ".jsonl.gz", ".ndjson")


def crawl_of(name: str) -> str | None:
    """The Common Crawl snapshot id found in a path or URL, if any."""
    match = _CRAWL_ID.search(name)
    return match.group(0) if match else None


def crawl_key(name: str) -> str:
    """What names a Common Crawl file whatever host or mirror it is read from: its path from `crawl-data/`
    (the name itself when it has none), so a record mined from one host is known when a list names it on another."""
    at = name.find("crawl-data/")
    return name[at:] if at >= 0 else name


def _is_gzip_name(name: str) -> bool:
    return name.split("?", 1)[0].endswith(".gz")


def _shown(spec: str) -> str:
    """How an input spec is stored and shown: a URL redacted, a path as valid Unicode."""
    return redact_url(spec) if _is_url(spec) else display_path(spec)


def display_path(path: str) -> str:
    """A path as valid Unicode text: bytes of a file name that is not UTF-8 (which Python keeps
    as lone surrogates) shown as `\\xNN`, so the name can be stored, logged and matched again."""
    return path.encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")


_Entry = TypeVar("_Entry")  # a listing line, as text or numbered


@dataclass(frozen=True)
class LocalFile:
    """A WARC file on local disk."""

    path: str

    @property
    def name(self) -> str:
        return display_path(self.path)

    @property
    def warc_name(self) -> str:
        """The name its records' documents carry (`warc_file`)."""
        return self.name

    @property
    def crawl(self) -> str | None:
        return crawl_of(self.path)

    def deadline(self) -> float | None:
        return None

    def open(self, offset: int = 0, deadline: float | None = None) -> BinaryIO:
        try:
            handle = open(self.path, "rb")  # noqa: SIM115 - returned to the caller
        except OSError as exc:
            raise InputError(self.name, f"cannot open: {exc.strerror or exc}") from exc
        if offset:
            handle.seek(offset)
        return handle


@dataclass(frozen=True)
class MissingInput:
    """An input that names nothing readable (a missing path, an empty glob or folder, an unreadable
    listing): it fails on its own, with its reason, when processed, and the other inputs go on."""

    spec: str
    reason: str

    @property
    def name(self) -> str:
        return _shown(self.spec)

    @property
    def warc_name(self) -> str:
        """The name its records' documents carry (`warc_file`)."""
        return self.name

    @property
    def crawl(self) -> str | None:
        return crawl_of(self.name)

    def deadline(self) -> float | None:
        return None

    def open(self, offset: int = 0, deadline: float | None = None) -> BinaryIO:
        raise InputError(self.name, self.reason)


@dataclass(frozen=True)
class HttpFile:
    """A WARC file behind an http(s) URL, streamed with resumption. Its name, stored and shown,
    is the URL with credentials and signatures redacted (`redact_url`)."""

    url: str = field(repr=False)
    options: HttpOptions = field(default_factory=HttpOptions)

    @property
    def name(self) -> str:
        return redact_url(self.url)

    @property
    def warc_name(self) -> str:
        """The name its records' documents carry (`warc_file`)."""
        return self.name

    @property
    def crawl(self) -> str | None:
        return crawl_of(self.url)

    def deadline(self) -> float:
        """The `time.monotonic()` instant by which reading this input must end."""
        return time.monotonic() + self.options.deadline_s

    def open(self, offset: int = 0, deadline: float | None = None) -> BinaryIO:
        # unbuffered: a BufferedReader would drop the bytes it holds when a later read fails for good
        return ResumableHttpStream(self.url, offset, self.options, deadline)  # type: ignore[return-value]


@dataclass(frozen=True, slots=True)
class RecordPointer:
    """One record: where it is in its WARC file, the URL the index gives it, and its index language."""

    offset: int
    length: int
    url: str | None
    index_lang: str  # toxmine's code of the index's first language; "und" when none


@dataclass(frozen=True)
class RecordFile:
    """Records of one WARC file (at `location`: a URL or a local path), in offset order."""

    location: str = field(repr=False)  # a URL may hold credentials: shown only through `warc_name`
    pointers: tuple[RecordPointer, ...]

    @property
    def is_url(self) -> bool:
        return self.location.startswith(("http://", "https://"))

    @property
    def warc_name(self) -> str:
        """The WARC file's name, exactly as mining the whole file would store it."""
        return redact_url(self.location) if self.is_url else display_path(self.location)

    def whole_file(self, options: HttpOptions) -> LocalFile | HttpFile:
        """The WARC file itself, read as a stream (when a server ignores Range requests)."""
        return HttpFile(self.location, options) if self.is_url else LocalFile(self.location)


@dataclass(frozen=True)
class RecordGroup:
    """Single records of one or more WARC files, read one range each: one input of a run.
    Its name is its first file's plus `tag` (`#records:...`, fixed when the group is made)."""

    files: tuple[RecordFile, ...]
    options: HttpOptions = field(default_factory=HttpOptions)
    concurrency: int = 8
    tag: str = ""

    @property
    def name(self) -> str:
        return f"{self.files[0].warc_name}{self.tag}" if self.files else self.tag

    @property
    def warc_name(self) -> str:
        """The first WARC file's name (each page carries its own file's)."""
        return self.files[0].warc_name if self.files else ""

    @property
    def crawl(self) -> str | None:
        return crawl_of(self.files[0].location) if self.files else None

    @property
    def n_records(self) -> int:
        return sum(len(file.pointers) for file in self.files)

    def index_languages(self) -> dict[tuple[str, int], str]:
        """Each record, (WARC file name, offset), with the language the index gives it."""
        return {(file.warc_name, p.offset): p.index_lang for file in self.files for p in file.pointers}

    def deadline(self) -> float:
        """The `time.monotonic()` instant by which all the group's range reads must end (one for the group)."""
        return time.monotonic() + self.options.deadline_s

    def open(self, offset: int = 0, deadline: float | None = None) -> BinaryIO:
        raise InputError(self.name, "a record group is read record by record, not as one stream")

    def without(self, stored: dict[str, set[int]]) -> RecordGroup:
        """The group less the records already stored ({`crawl_key` of a WARC file: offsets}); its name is unchanged."""
        files = []
        for file in self.files:
            gone = stored.get(crawl_key(file.warc_name), set())
            left = tuple(p for p in file.pointers if p.offset not in gone)
            if left:
                files.append(replace(file, pointers=left))
        return replace(self, files=tuple(files))


InputSource = LocalFile | HttpFile | MissingInput | RecordGroup


@dataclass(frozen=True)
class SourceSelection:
    """How inputs are expanded: Common Crawl base URL, shard and limit of listings."""

    cc_base_url: str = CC_BASE_URL
    shard: tuple[int, int] | None = None  # (index, count), index from 0
    limit_files: int | None = None
    http: HttpOptions = field(default_factory=HttpOptions)
    group_records: int = 1000  # most records of one WARC file per input, for record lists
    fetch_concurrency: int = 8  # record ranges fetched at once per input

    def slice(self, entries: list[_Entry]) -> list[_Entry]:
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


def is_record_list(spec: str) -> bool:
    """Whether an input names a record list (Parquet, CSV or JSON lines of record pointers)."""
    return spec.split("?", 1)[0].lower().endswith(RECORD_LIST_SUFFIXES)


def _is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


def _read_listing(spec: str, selection: SourceSelection) -> tuple[list[str], str | None]:
    """Lines of a listing, and the folder that relative local entries are resolved against. A listing
    (read, and inflated) may hold at most `selection.http.max_bytes`, like one fetched over HTTP."""
    numbered, base_dir = _read_numbered_listing(spec, selection)
    return [entry for _, entry in numbered], base_dir


def _read_numbered_listing(spec: str, selection: SourceSelection) -> tuple[list[tuple[int, str]], str | None]:
    """`_read_listing`'s entries with their line numbers (from 1)."""
    limit = selection.http.max_bytes
    name = _shown(spec)
    if _is_url(spec):
        data = fetch_bytes(spec, selection.http)
        base_dir = None
    else:
        try:
            with open(spec, "rb") as handle:
                data = handle.read(limit + 1)
        except OSError as exc:
            raise InputError(name, f"cannot read listing: {exc.strerror or exc}") from exc
        base_dir = os.path.dirname(os.path.abspath(spec))
    if _is_gzip_name(spec) and data:
        data = _gunzip(data, name, limit)
    if len(data) > limit:
        raise InputError(name, f"listing larger than {limit >> 20} MiB")
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InputError(name, f"listing is not UTF-8 text (byte {exc.start})") from exc
    lines = [(number, line.strip()) for number, line in enumerate(text.splitlines(), 1)]
    return [(number, line) for number, line in lines if line and not line.startswith("#")], base_dir


def _gunzip(data: bytes, name: str, limit: int) -> bytes:
    """Every gzip member of a listing (zero padding after them allowed)."""
    try:
        out, rest = inflate(data, 31, limit)
    except zlib.error as exc:
        raise InputError(name, f"listing is not valid gzip: {exc}") from None
    except CutStream:
        raise InputError(name, "listing is not valid gzip: it ends inside a gzip member") from None
    except InflateTooLarge:
        raise InputError(name, f"listing larger than {limit >> 20} MiB") from None
    if rest.strip(b"\x00"):
        raise InputError(name, "listing is not valid gzip: data after its last member")
    return out


def _listing_entry(entry: str, base_dir: str | None, selection: SourceSelection) -> str:
    """A listing line as an input spec: Common Crawl paths against the base URL, relative local
    paths (also `@LISTING`) against the listing's own folder."""
    if _is_url(entry) or entry.startswith("cc:"):
        return entry
    if entry.startswith("crawl-data/"):  # a Common Crawl path, as in warc.paths.gz
        return f"{selection.cc_base_url.rstrip('/')}/{entry}"
    listing = entry.startswith("@")
    path = entry[1:] if listing else entry
    if base_dir is not None and not os.path.isabs(path):
        path = os.path.join(base_dir, path)
    return f"@{path}" if listing else path


def _expand(spec: str, selection: SourceSelection, depth: int) -> Iterator[InputSource]:
    if depth > 4:
        raise InputError(spec, "listings nested too deeply")
    if "\x00" in spec:
        yield MissingInput(repr(spec)[1:-1], "not a valid input (holds a NUL byte)")
        return
    if spec.startswith("cc:"):
        crawl = spec[3:]
        if not _CRAWL_ID.fullmatch(crawl):
            raise InputError(spec, "expected cc:CC-MAIN-YYYY-WW")
        url = f"{selection.cc_base_url.rstrip('/')}/crawl-data/{crawl}/warc.paths.gz"
        yield from _expand_listing(spec, url, selection, depth)
        return
    if is_record_list(spec):
        yield from _expand_record_list(spec, selection)
        return
    if _is_url(spec):
        if spec.split("?", 1)[0].endswith(_LISTING_SUFFIXES):
            yield from _expand_listing(spec, spec, selection, depth)
        else:
            yield HttpFile(spec, selection.http)
        return
    listing = spec[1:] if spec.startswith("@") else spec
    if spec.startswith("@") or listing.endswith(_LISTING_SUFFIXES):
        yield from _expand_listing(spec, listing, selection, depth)
        return
    if glob.has_magic(spec):
        matches = sorted(glob.glob(spec, recursive=True))
        if not matches:
            yield MissingInput(spec, "glob matched no files")
        for match in matches:
            yield LocalFile(os.path.abspath(match))
        return
    if os.path.isdir(spec):
        matches = sorted(glob.glob(os.path.join(glob.escape(spec), "**", "*.warc*"), recursive=True))
        found = [m for m in matches if m.endswith((".warc", ".warc.gz"))]
        if not found:
            yield MissingInput(spec, "no .warc or .warc.gz files in this directory")
        for match in found:
            yield LocalFile(os.path.abspath(match))
        return
    if not os.path.exists(spec):
        yield MissingInput(os.path.abspath(spec), "no such file")  # the name it has once it exists
        return
    yield LocalFile(os.path.abspath(spec))


def _expand_record_list(spec: str, selection: SourceSelection) -> Iterator[InputSource]:
    """The record groups of a record list; an unreadable list is one failed input."""
    from .record_sources import read_record_list  # it builds on this module

    try:
        groups = list(read_record_list(spec, selection.cc_base_url, selection.http, selection.group_records,
                                       selection.fetch_concurrency))  # fmt: skip
    except InputError as exc:
        yield MissingInput(spec, exc.reason)
        return
    yield from groups


def _expand_listing(spec: str, listing: str, selection: SourceSelection, depth: int) -> Iterator[InputSource]:
    """The inputs a listing names; an unreadable listing is one failed input."""
    try:
        entries, base_dir = _read_numbered_listing(listing, selection)
    except InputError as exc:
        yield MissingInput(spec, exc.reason)
        return
    for number, entry in selection.slice(entries):
        for source in _expand(_listing_entry(entry, base_dir, selection), selection, depth + 1):
            if isinstance(source, MissingInput):  # which line of which listing named it
                source = MissingInput(source.spec, f"{source.reason} (line {number} of {_shown(listing)})")
            yield source


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
