"""Read HTTP 200 HTML responses from a WARC source, resynchronising after corrupt records.

warcio does the parsing. This module adds what a long crawl needs: absolute record offsets
in every message, classification of each record with a drop reason, a cap on record size,
detection of truncated files (warcio stops silently on a cut gzip member), and recovery: after
a bad record the reader scans forward to the next gzip member (or `WARC/1.x` line) and goes on.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from warcio.archiveiterator import WARCIterator
from warcio.exceptions import ArchiveLoadFailed

from .errors import InputError
from .records import DropReason, HtmlPage
from .sources import InputSource

__all__ = ["ReaderEvent", "RecordProblem", "Skipped", "read_html_pages"]

log = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xhtml"})
_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_LINE = b"\nWARC/1."
_SCAN_CHUNK = 1 << 16


@dataclass(frozen=True, slots=True)
class Skipped:
    """A record that was read but not kept, and why."""

    reason: DropReason


@dataclass(frozen=True, slots=True)
class RecordProblem:
    """Unreadable data at an offset; reading resumes after it where possible."""

    offset: int
    message: str


ReaderEvent = HtmlPage | Skipped | RecordProblem


class _CountingReader:
    """A `read`/`tell` wrapper that reports absolute offsets into the source."""

    def __init__(self, stream: BinaryIO, base: int) -> None:
        self._stream = stream
        self.position = base

    def read(self, size: int = -1) -> bytes:
        data = self._stream.read(size)
        self.position += len(data)
        return data

    def tell(self) -> int:
        return self.position

    def close(self) -> None:
        self._stream.close()


def _mime(value: str | None) -> tuple[str | None, str | None]:
    """Split a Content-Type value into (mime type, charset)."""
    if not value:
        return None, None
    parts = [p.strip() for p in value.split(";")]
    mime = parts[0].lower() or None
    charset = None
    for param in parts[1:]:
        key, _, val = param.partition("=")
        if key.strip().lower() == "charset" and val:
            charset = val.strip().strip("'\"").lower() or None
    return mime, charset


def _looks_like_html(head: bytes) -> bool:
    sample = head[:512].lstrip().lower()
    return sample.startswith((b"<!doctype html", b"<html", b"<head", b"<?xml"))


def _classify(record, max_record_bytes: int) -> tuple[DropReason | None, str | None]:  # type: ignore[no-untyped-def]
    """Drop reason of a WARC record before reading its body, and the declared charset."""
    if record.rec_type != "response":
        return DropReason.NOT_RESPONSE, None
    http = record.http_headers
    if http is None:
        return DropReason.NOT_RESPONSE, None
    if http.get_statuscode() != "200":
        return DropReason.HTTP_STATUS, None
    mime, charset = _mime(http.get_header("Content-Type"))
    identified = (record.rec_headers.get_header("WARC-Identified-Payload-Type") or "").lower() or None
    if identified is not None:
        if identified.split(";")[0].strip() not in HTML_TYPES:
            return DropReason.NOT_HTML, None
    elif mime is not None and mime not in HTML_TYPES:
        return DropReason.NOT_HTML, None
    if record.length is not None and record.length > max_record_bytes:
        return DropReason.TOO_LARGE, None
    return None, charset


def _page(record, source: InputSource, offset: int, max_record_bytes: int) -> ReaderEvent:  # type: ignore[no-untyped-def]
    reason, charset = _classify(record, max_record_bytes)
    if reason is not None:
        return Skipped(reason)
    url = record.rec_headers.get_header("WARC-Target-URI") or ""
    try:
        payload = record.content_stream().read(max_record_bytes + 1)
    except Exception as exc:  # bad chunking or content encoding inside one record
        log.warning("%s at offset %d: unreadable HTTP body of %s: %s", source.name, offset, url, exc)
        return Skipped(DropReason.BAD_RECORD)
    if len(payload) > max_record_bytes:
        return Skipped(DropReason.TOO_LARGE)
    if b"\x00" in payload[:2048]:
        return Skipped(DropReason.BINARY_PAYLOAD)
    mime, _ = _mime(record.http_headers.get_header("Content-Type"))
    if mime is None and not _looks_like_html(payload):
        return Skipped(DropReason.NOT_HTML)
    return HtmlPage(
        url=url,
        warc_file=source.name,
        warc_record_id=record.rec_headers.get_header("WARC-Record-ID") or f"{source.name}#{offset}",
        warc_offset=offset,
        fetch_time=record.rec_headers.get_header("WARC-Date"),
        payload=payload,
        declared_charset=charset,
    )


def _scan_for_record_start(source: InputSource, start: int, gzipped: bool) -> int | None:
    """Absolute offset of the next plausible record start at or after `start`, or None at EOF."""
    marker = _GZIP_MAGIC if gzipped else _WARC_LINE
    stream = source.open(start)
    try:
        position, tail = start, b""
        while True:
            chunk = stream.read(_SCAN_CHUNK)
            if not chunk:
                return None
            window = tail + chunk
            found = window.find(marker)
            if found >= 0:
                hit = position - len(tail) + found
                return hit if gzipped else hit + 1
            tail = window[-(len(marker) - 1) :]
            position += len(chunk)
    finally:
        stream.close()


def read_html_pages(
    source: InputSource, max_record_bytes: int = 5 << 20, max_problems: int = 100
) -> Iterator[ReaderEvent]:
    """Yield an event for every WARC record of `source`: a kept page, a skip, or a problem.

    Raises InputError when the source cannot be opened at all; everything else is reported
    as a RecordProblem so the rest of the file is still read.
    """
    offset = 0
    gzipped: bool | None = None
    problems = 0
    n_records = 0
    while True:
        raw = source.open(offset)
        reader = _CountingReader(raw, offset)
        if gzipped is None:
            head = raw.read(2)
            reader.position += len(head)
            if not head:
                raw.close()
                yield RecordProblem(0, "empty file")
                return
            gzipped = head == b"\x1f\x8b"
            raw.close()
            raw = source.open(0)
            reader = _CountingReader(raw, 0)
        iterator = WARCIterator(reader, block_size=1 << 16)
        record_start = offset
        try:
            for record in iterator:
                record_start = iterator.offset
                n_records += 1
                if iterator.err_count:
                    iterator.err_count = 0
                    yield RecordProblem(
                        record_start, "previous record not followed by a blank line (wrong Content-Length?)"
                    )
                yield _page(record, source, record_start, max_record_bytes)
                record_start = -1
            end = iterator.offset
            trailing = reader.position - end
            if trailing > (0 if gzipped else 4):
                yield RecordProblem(end, f"truncated record ({trailing} bytes cannot be parsed)")
            return
        except InputError:
            raise
        except Exception as exc:  # warcio and zlib raise many kinds for corrupt data
            bad_at = iterator.offset if record_start < 0 else record_start
            first = " (not a WARC file?)" if n_records == 0 and bad_at == 0 else ""
            if isinstance(exc, ArchiveLoadFailed):
                message = str(exc).strip().splitlines()[0][:200]
            else:
                message = f"truncated or malformed record ({type(exc).__name__}: {str(exc)[:120]})"
            yield RecordProblem(bad_at, f"invalid record{first}: {message}")
            problems += 1
            if problems >= max_problems:
                yield RecordProblem(bad_at, f"giving up after {problems} bad records")
                return
            resume = _scan_for_record_start(source, bad_at + 1, gzipped)
            if resume is None:
                return
            offset = resume
        finally:
            iterator.close()
            raw.close()
