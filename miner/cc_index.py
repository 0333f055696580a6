"""One file of Common Crawl's columnar index, read for the records in the wanted languages.

Only the columns selection needs are read (`INDEX_COLUMNS`), batch by batch, and row groups whose
statistics rule them out (no `fetch_status` 200, no wanted MIME type) are not read at all. A local
file is read by pyarrow directly; an http(s) one through exact range requests (`RangeFile`): its
footer (two small requests), then only the column chunks asked for. A server that ignores Range
gets the whole file streamed once to a temporary file, which is then read like a local one.

A row is selected when `fetch_status` is 200, `content_mime_detected` is one of the wanted types
and its `content_languages` (CLD2: up to three ISO 639-3 codes, most likely first) name a wanted
language: its first code with `primary_only`, else any of them. Its `lang` is the toxmine code of
the first of its codes that is wanted.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .errors import ConfigError, InputError, printable
from .http import HttpOptions, ResumableHttpStream, redact_url
from .langid import is_language_code, iso639_3_codes, normalize_label
from .ranges import RangeClient, RangeFile, RangeIgnored
from .record_sources import MAX_POINTER_LENGTH

__all__ = [
    "DEFAULT_MIMES",
    "INDEX_COLUMNS",
    "SELECTED_SCHEMA",
    "IndexReader",
    "RecordFilter",
    "is_url",
]

INDEX_COLUMNS = (
    "url",
    "fetch_status",
    "content_mime_detected",
    "content_languages",
    "warc_filename",
    "warc_record_offset",
    "warc_record_length",
)
DEFAULT_MIMES = ("text/html", "application/xhtml+xml")
SELECTED_SCHEMA = pa.schema(
    [
        ("warc_filename", pa.string()),
        ("warc_record_offset", pa.int64()),
        ("warc_record_length", pa.int64()),
        ("url", pa.string()),
        ("content_languages", pa.string()),
        ("lang", pa.string()),
    ]
)
_FOOTER_TAIL = 8  # footer length (4 bytes, little-endian) + "PAR1"
_INTEGER_COLUMNS = frozenset({"fetch_status", "warc_record_offset", "warc_record_length"})

log = logging.getLogger(__name__)


def is_url(text: str) -> bool:
    return text.startswith(("http://", "https://"))


@dataclass(frozen=True)
class RecordFilter:
    """Which captures are selected: HTTP 200, one of `mimes`, in one of `langs` (toxmine's codes)."""

    langs: frozenset[str]
    primary_only: bool = False
    mimes: frozenset[str] = frozenset(DEFAULT_MIMES)

    def __post_init__(self) -> None:
        invalid = sorted(code for code in self.langs if not is_language_code(code))
        if invalid:
            raise ConfigError(
                f"--langs: {', '.join(map(printable, invalid))} not ISO 639 language codes "
                "(use ISO 639-1 where one exists, e.g. sw, yo, zh; else ISO 639-3)"
            )
        if not self.langs:
            raise ConfigError("--langs: name at least one language")
        if not self.mimes:
            raise ConfigError("--mime: name at least one MIME type")
        object.__setattr__(self, "langs", frozenset(normalize_label(code)[0] for code in self.langs))

    def cld2_codes(self) -> dict[str, str]:
        """Each ISO 639-3 code of the index that stands for a wanted language -> that language."""
        return {three: lang for lang in sorted(self.langs) for three in sorted(iso639_3_codes(lang))}


@dataclass
class _Tally:
    bytes_read: int = 0
    bytes_total: int = 0
    rows_read: int = 0
    rows_invalid: int = 0  # selected rows left out: they point at no record (a null, negative or empty field)
    row_groups: int = 0
    row_groups_skipped: int = 0


@dataclass
class IndexReader:
    """One index file (a local path or an http(s) URL), opened for `selected()`; a context manager.
    `spill_dir` holds the temporary copy of a file whose server ignores Range."""

    location: str = field(repr=False)
    http: HttpOptions = field(default_factory=HttpOptions)
    spill_dir: str | None = None
    tally: _Tally = field(default_factory=_Tally)

    def __post_init__(self) -> None:
        self.name = redact_url(self.location) if is_url(self.location) else self.location
        self._client: RangeClient | None = None
        self._spilled: str | None = None
        self._streamed: int | None = None  # bytes of the whole file streamed (a server ignoring Range)
        self._file: pq.ParquetFile | None = None

    def __enter__(self) -> IndexReader:
        try:
            self._open()
        except BaseException:
            self.close()
            raise
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
        if self._spilled is not None and os.path.exists(self._spilled):
            os.unlink(self._spilled)

    @property
    def bytes_read(self) -> int:
        """Index bytes fetched over HTTP (retries included); of a local file, its footer and the column
        chunks read; of a file streamed whole, its size."""
        if self._client is not None:
            return self._client.stats.bytes
        return self.tally.bytes_read if self._streamed is None else self._streamed

    # -- opening ------------------------------------------------------------------------------
    def _open(self) -> None:
        if not is_url(self.location):
            self._open_local(self.location)
            return
        self._client = RangeClient(self.http, connections=2)
        try:
            size = self._client.probe_size(self.location)
            metadata = self._remote_metadata(size)
            handle = RangeFile(self._client, self.location, min_read=1)
            self._file = self._guard(lambda: pq.ParquetFile(handle, metadata=metadata, pre_buffer=False))
            self.tally.bytes_total = size
        except RangeIgnored:
            log.warning("%s: the server ignores Range requests; downloading the whole index file to read it",
                        redact_url(self.location))  # fmt: skip
            self._client.close()
            self._client = None
            self._open_local(self._spill())

    def _open_local(self, path: str) -> None:
        try:
            self.tally.bytes_total = os.path.getsize(path)
        except OSError as exc:
            raise InputError(self.name, f"cannot read: {exc.strerror or exc}") from None
        self._file = self._guard(lambda: pq.ParquetFile(path))
        self.tally.bytes_read += self._file.metadata.serialized_size + _FOOTER_TAIL

    def _remote_metadata(self, size: int) -> pq.FileMetaData:
        """The file's footer, read with exact ranges (pyarrow's own first read takes the last 64 KiB)."""
        assert self._client is not None
        if size < 12:
            raise InputError(self.name, f"not a Parquet file: {size} bytes")
        tail = self._client.read(self.location, size - _FOOTER_TAIL, _FOOTER_TAIL)
        footer_length = int.from_bytes(tail[:4], "little")
        if tail[4:] != b"PAR1" or footer_length + 12 > size:
            raise InputError(self.name, "not a Parquet file (cut, or another format): no valid footer at its end")
        footer = self._client.read(self.location, size - _FOOTER_TAIL - footer_length, footer_length)
        return self._guard(lambda: pq.read_metadata(pa.BufferReader(b"PAR1" + footer + tail)))

    def _spill(self) -> str:
        """Stream the whole file (its server ignores Range) to a temporary file; its path."""
        folder = self.spill_dir or tempfile.gettempdir()
        os.makedirs(folder, exist_ok=True)
        descriptor, path = tempfile.mkstemp(prefix="index-", suffix=".parquet", dir=folder)
        self._spilled = path
        with os.fdopen(descriptor, "wb") as out, ResumableHttpStream(self.location, 0, self.http) as stream:
            shutil.copyfileobj(stream, out, 1 << 20)  # type: ignore[misc]
        self._streamed = os.path.getsize(path)
        return path

    def _guard(self, action: object) -> pq.ParquetFile:
        try:
            return action()  # type: ignore[operator, no-any-return]
        except InputError:
            raise
        except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
            raise InputError(self.name, f"not a readable Parquet file: {_first_line(exc)}") from None

    # -- reading -------------------------------------------------------------------------------
    def selected(self, record_filter: RecordFilter, batch_size: int = 65_536) -> Iterator[pa.Table]:
        """The selected rows (SELECTED_SCHEMA), one table per batch read."""
        parquet = self._file
        assert parquet is not None, "IndexReader used outside `with`"
        names = parquet.schema_arrow.names
        missing = [column for column in INDEX_COLUMNS if column not in names]
        if missing:
            note = (
                " (the index has content_languages from CC-MAIN-2018-39 on)" if "content_languages" in missing else ""
            )
            raise InputError(self.name, f"no column {', '.join(missing)} in this index file{note}")
        for column in INDEX_COLUMNS:
            kind = parquet.schema_arrow.field(column).type
            integer = column in _INTEGER_COLUMNS
            if not (pa.types.is_null(kind) or (pa.types.is_integer(kind) if integer else _is_text(kind))):
                expected = "an integer" if integer else "a string"
                raise InputError(self.name, f"column {column} is {printable(str(kind), 60)}, not {expected}")
        row_groups = self._row_groups(record_filter)
        mimes = pa.array(sorted(record_filter.mimes), pa.string())
        codes = record_filter.cld2_codes()
        keys, values = pa.array(list(codes), pa.string()), pa.array(list(codes.values()), pa.string())
        batches = parquet.iter_batches(batch_size=batch_size, row_groups=row_groups, columns=list(INDEX_COLUMNS))
        while True:
            try:
                batch = next(batches, None)
                if batch is None:
                    return
                self.tally.rows_read += batch.num_rows
                table = _select(pa.Table.from_batches([batch]), mimes, keys, values, record_filter.primary_only)
                table = self._pointing(table)
            except InputError:
                raise
            except (pa.ArrowException, OSError, ValueError, TypeError) as exc:
                raise InputError(self.name, f"cannot read the index: {_first_line(exc)}") from None
            yield table

    def _pointing(self, table: pa.Table) -> pa.Table:
        """The rows naming a record `mine` can fetch (a WARC file, an offset, a length); the others are
        counted and logged, not written (one would make the whole record list unreadable)."""
        filename = pc.utf8_trim_whitespace(table["warc_filename"])
        offset, length = table["warc_record_offset"], table["warc_record_length"]
        valid = pc.and_(
            pc.and_(pc.greater(pc.utf8_length(filename), 0), pc.invert(pc.match_substring(filename, "\x00"))),
            pc.and_(
                pc.greater_equal(offset, 0),
                pc.and_(pc.greater_equal(length, 1), pc.less_equal(length, MAX_POINTER_LENGTH)),
            ),
        )
        kept = table.filter(pc.fill_null(valid, False))
        if kept.num_rows < table.num_rows:
            self.tally.rows_invalid += table.num_rows - kept.num_rows
            log.warning("%s: %d selected rows left out: no WARC file, a negative offset or a length not in 1..%d",
                        self.name, table.num_rows - kept.num_rows, MAX_POINTER_LENGTH)  # fmt: skip
        return kept

    def _row_groups(self, record_filter: RecordFilter) -> list[int]:
        """Row groups whose statistics allow a selected row; the local byte tally counts their chunks."""
        assert self._file is not None
        metadata = self._file.metadata
        where = {metadata.schema.column(i).name: i for i in range(metadata.num_columns)}
        kept = []
        for index in range(metadata.num_row_groups):
            group = metadata.row_group(index)
            status = _min_max(group.column(where["fetch_status"]))
            mime = _min_max(group.column(where["content_mime_detected"]))
            ruled_out = status is not None and not status[0] <= 200 <= status[1]
            if mime is not None and all(isinstance(bound, str) for bound in mime):
                ruled_out |= not any(mime[0] <= wanted <= mime[1] for wanted in record_filter.mimes)
            self.tally.row_groups += 1
            if ruled_out:
                self.tally.row_groups_skipped += 1
                continue
            kept.append(index)
            self.tally.bytes_read += sum(group.column(where[name]).total_compressed_size for name in INDEX_COLUMNS)
        return kept


def _min_max(chunk: pq.ColumnChunkMetaData) -> tuple[Any, Any] | None:
    """A column chunk's (min, max) over its non-null values, when its statistics hold them."""
    stats = chunk.statistics
    return (stats.min, stats.max) if stats is not None and stats.has_min_max else None


def _is_text(kind: pa.DataType) -> bool:
    if pa.types.is_dictionary(kind):
        kind = kind.value_type
    return bool(pa.types.is_string(kind) or pa.types.is_large_string(kind))


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return printable(text.splitlines()[0] if text else type(exc).__name__, 300)


def _select(table: pa.Table, mimes: pa.Array, keys: pa.Array, values: pa.Array, primary_only: bool) -> pa.Table:
    status = pc.cast(table["fetch_status"], pa.int64())
    keep = pc.and_(pc.equal(status, 200), pc.is_in(table["content_mime_detected"], value_set=mimes))
    table = table.filter(pc.fill_null(keep, False))
    languages = table["content_languages"].combine_chunks()
    lang = _wanted_lang(languages, keys, values, primary_only)
    table = table.append_column("lang", lang).filter(pc.is_valid(lang))
    return pa.table(
        [table[name].cast(SELECTED_SCHEMA.field(name).type) for name in SELECTED_SCHEMA.names], schema=SELECTED_SCHEMA
    )


def _wanted_lang(languages: pa.Array, keys: pa.Array, values: pa.Array, primary_only: bool) -> pa.Array:
    """Per row, the language of the first of its codes that is wanted (only its first code with
    `primary_only`), else null."""
    lists = pc.split_pattern(pc.cast(languages, pa.string()), ",")
    if primary_only:
        first = pc.utf8_trim_whitespace(pc.list_element(lists, 0))
        return pc.take(values, pc.index_in(first, value_set=keys))
    flat = pc.utf8_trim_whitespace(pc.list_flatten(lists))
    parents = pc.list_parent_indices(lists).to_numpy()
    found = pc.fill_null(pc.index_in(flat, value_set=keys), -1).to_numpy()
    hit = found >= 0
    rows, first = np.unique(parents[hit], return_index=True)  # the first hit of each row, in code order
    chosen = np.full(len(languages), -1, dtype=np.int64)
    chosen[rows] = found[hit][first]
    return pc.take(values, pa.array(chosen, mask=chosen < 0))
