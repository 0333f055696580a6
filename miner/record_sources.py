"""Record lists as mining inputs: pointers to single WARC records, grouped by WARC file.

A record list is a Parquet, CSV or JSON-lines file (`toxmine select` writes Parquet) with one row
per record: `warc_filename`, `warc_record_offset`, `warc_record_length`, and optionally `url`,
`content_languages` (the index's languages, most likely first) and `lang` (the toxmine code the
record was selected for). Common Crawl's CDX API names (`filename`, `offset`, `length`,
`languages`) are read too. `warc_filename` is resolved as a listing entry is: a URL as it is, a
`crawl-data/...` path against `--cc-base-url` (a URL or a local folder), another relative path
against the list's folder (a list fetched by URL: against `--cc-base-url`, and it may name no absolute
or `..` path: a remote list never makes toxmine read a local file of its choosing).

The records, in (WARC file, offset) order, are cut into `RecordGroup`s of `group_records` (a group
holds the records of several files when each has few, as a lower-resource language's do; a file with
many spans groups). A group is one input of the run (one unit, one `sources` row and one
`source_files` row per file, committed and resumed as a whole), named by its first file's name plus
`#records:<first offset>+<count>:<files>files:<digest of its records>`; its documents carry their
WARC file's name, offsets and record ids, as if the whole files were read.
"""

from __future__ import annotations

import hashlib
import io
import json
import logging
import os
from collections.abc import Iterator
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from .errors import InputError, printable
from .http import HttpOptions, fetch_bytes, redact_url
from .inflate import InflateTooLarge, inflate
from .langid import normalize_label
from .sources import RecordFile, RecordGroup, RecordPointer, display_path

log = logging.getLogger(__name__)

__all__ = ["DEFAULT_GROUP_RECORDS", "MAX_POINTER_LENGTH", "read_record_list"]

DEFAULT_GROUP_RECORDS = 1000
MAX_POINTER_LENGTH = 64 << 20  # no WARC record toxmine reads is anywhere near this (Common Crawl cuts pages at 1 MiB)
_ALIASES = {
    "warc_filename": ("warc_filename", "filename"),
    "warc_record_offset": ("warc_record_offset", "offset"),
    "warc_record_length": ("warc_record_length", "length"),
    "url": ("url",),
    "content_languages": ("content_languages", "languages"),
    "lang": ("lang",),
}


def _tag(files: list[RecordFile]) -> str:
    digest = hashlib.blake2b(digest_size=6)
    for file in files:
        digest.update(f"{file.warc_name}\n".encode())
        for pointer in file.pointers:
            digest.update(f"{pointer.offset}:{pointer.length}\n".encode())
    count = sum(len(file.pointers) for file in files)
    return f"#records:{files[0].pointers[0].offset}+{count}:{len(files)}files:{digest.hexdigest()}"


def _groups(by_file: dict[str, dict[int, RecordPointer]], size: int) -> Iterator[list[RecordFile]]:
    """The files' records in (file, offset) order, cut into groups of `size` records (a file may span groups)."""
    group: list[RecordFile] = []
    room = size
    for location in sorted(by_file):
        ordered = tuple(by_file[location][offset] for offset in sorted(by_file[location]))
        while ordered:
            group.append(RecordFile(location, ordered[:room]))
            ordered, room = ordered[room:], room - len(ordered[:room])
            if room == 0:
                yield group
                group, room = [], size
    if group:
        yield group


def _read_bytes(spec: str, options: HttpOptions) -> bytes:
    if spec.startswith(("http://", "https://")):
        return fetch_bytes(spec, options)
    try:
        with open(spec, "rb") as handle:
            data = handle.read(options.max_bytes + 1)
    except OSError as exc:
        raise InputError(display_path(spec), f"cannot read the record list: {exc.strerror or exc}") from exc
    if len(data) > options.max_bytes:
        raise InputError(display_path(spec), f"record list larger than {options.max_bytes >> 20} MiB")
    return data


def _warn_of_another_host(shown: str, metadata: dict[bytes, bytes], cc_base_url: str) -> None:
    """A list `toxmine select` made from one host, mined against another: most likely a forgotten --cc-base-url."""
    try:
        selected_from = json.loads(metadata.get(b"toxmine.select", b"{}")).get("cc_base_url")
    except (ValueError, AttributeError):
        return
    if isinstance(selected_from, str) and selected_from.rstrip("/") != redact_url(cc_base_url).rstrip("/"):
        log.warning("%s was selected from %s; its crawl-data/ paths are fetched from --cc-base-url %s",
                    shown, selected_from, redact_url(cc_base_url))  # fmt: skip


def _table(spec: str, data: bytes, shown: str, limit: int, cc_base_url: str) -> pa.Table:
    lower = spec.split("?", 1)[0].lower()
    try:
        if lower.endswith(".gz"):
            try:
                data, _ = inflate(data, 31, limit)
            except InflateTooLarge:
                raise InputError(shown, f"record list larger than {limit >> 20} MiB (inflated)") from None
            lower = lower[:-3]
        if lower.endswith(".parquet"):  # only the columns a pointer needs
            schema = pq.read_schema(pa.BufferReader(data))
            _warn_of_another_host(shown, schema.metadata or {}, cc_base_url)
            names = schema.names
            wanted = [name for aliases in _ALIASES.values() for name in aliases if name in names]
            return pq.read_table(pa.BufferReader(data), columns=wanted)
        if lower.endswith(".csv"):
            return pacsv.read_csv(io.BytesIO(data), convert_options=pacsv.ConvertOptions(strings_can_be_null=True))
        rows = []
        for number, line in enumerate(data.decode("utf-8").splitlines(), 1):
            if line.strip():
                try:
                    rows.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InputError(shown, f"line {number}: not JSON ({exc.msg})") from None
                if not isinstance(rows[-1], dict):
                    raise InputError(shown, f"line {number}: not a JSON object")
        return pa.Table.from_pylist(rows)
    except InputError:
        raise
    except (pa.ArrowException, ValueError, UnicodeDecodeError, OSError, Exception) as exc:
        detail = printable(str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__, 200)
        raise InputError(shown, f"not a readable record list ({detail})") from None


def _column(table: pa.Table, name: str, shown: str, required: bool) -> list[Any] | None:
    for alias in _ALIASES[name]:
        if alias in table.column_names:
            values: list[Any] = table.column(alias).to_pylist()
            return values
    if required:
        names = " or ".join(_ALIASES[name])
        raise InputError(shown, f"no {names} column (it has: {', '.join(table.column_names)})")
    return None


def _number(value: Any, what: str, row: int, shown: str, low: int, high: int) -> int:
    try:
        if isinstance(value, bool):
            number = None  # True is no offset
        elif isinstance(value, float):
            number = int(value) if value.is_integer() else None
        else:
            number = int(value)
    except (TypeError, ValueError, OverflowError):
        number = None
    if number is None or not low <= number <= high:
        raise InputError(
            shown, f"row {row}: {what} {printable(repr(value), 40)} is not a whole number in {low}..{high}"
        )
    return number


def _index_lang(lang: Any, languages: Any) -> str:
    if isinstance(lang, str) and lang.strip():
        return lang.strip()
    if isinstance(languages, str) and languages.strip():
        return normalize_label(languages.split(",")[0].strip())[0]
    return "und"


def _location(filename: str, base_dir: str | None, cc_base_url: str) -> str:
    """A URL, or an absolute local path (named as mining the file whole names it). A list fetched by URL
    (`base_dir` None) names no local file of its own: only URLs and paths under `cc_base_url`."""
    if filename.startswith(("http://", "https://")):
        return filename
    if base_dir is None and (os.path.isabs(filename) or ".." in filename.replace("\\", "/").split("/")):
        raise ValueError("a record list fetched by URL may name only URLs and paths under --cc-base-url")
    base = cc_base_url.rstrip("/")
    if filename.startswith("crawl-data/") and base.startswith(("http://", "https://")):
        return f"{base}/{filename}"
    folder = base if filename.startswith("crawl-data/") or base_dir is None else base_dir
    if folder.startswith(("http://", "https://")):
        return f"{folder}/{filename}"
    return os.path.abspath(os.path.join(folder, filename))


def read_record_list(
    spec: str, cc_base_url: str, options: HttpOptions, group_records: int = DEFAULT_GROUP_RECORDS, concurrency: int = 8
) -> Iterator[RecordGroup]:
    """The record groups a record list names (WARC files in name order, records in offset order). Raises
    InputError naming the list (and the row) when it cannot be read or a row is not a record."""
    shown = redact_url(spec) if spec.startswith(("http://", "https://")) else display_path(spec)
    table = _table(spec, _read_bytes(spec, options), shown, options.max_bytes, cc_base_url)
    if table.num_rows == 0:
        raise InputError(shown, "the record list names no records")
    filenames = _column(table, "warc_filename", shown, True)
    offsets = _column(table, "warc_record_offset", shown, True)
    lengths = _column(table, "warc_record_length", shown, True)
    urls = _column(table, "url", shown, False) or [None] * table.num_rows
    languages = _column(table, "content_languages", shown, False) or [None] * table.num_rows
    langs = _column(table, "lang", shown, False) or [None] * table.num_rows
    assert filenames is not None and offsets is not None and lengths is not None
    base_dir = None if spec.startswith(("http://", "https://")) else os.path.dirname(os.path.abspath(spec))
    by_file: dict[str, dict[int, RecordPointer]] = {}
    for row, (filename, offset, length, url, languages_, lang) in enumerate(
        zip(filenames, offsets, lengths, urls, languages, langs, strict=True), 1
    ):
        if not isinstance(filename, str) or not filename.strip() or not filename.strip().isprintable():
            raise InputError(shown, f"row {row}: warc_filename {printable(repr(filename), 60)} names no file")
        start = _number(offset, "warc_record_offset", row, shown, 0, 1 << 62)
        size = _number(length, "warc_record_length", row, shown, 1, MAX_POINTER_LENGTH)
        pointer = RecordPointer(start, size, url if isinstance(url, str) else None, _index_lang(lang, languages_))
        try:
            location = _location(filename.strip(), base_dir, cc_base_url)
        except ValueError as exc:
            raise InputError(shown, f"row {row}: warc_filename {printable(repr(filename), 60)}: {exc}") from None
        by_file.setdefault(location, {}).setdefault(start, pointer)
    for files in _groups(by_file, group_records):
        yield RecordGroup(tuple(files), options, concurrency, _tag(files))
