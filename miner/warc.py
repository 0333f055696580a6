"""Read HTTP 200 HTML responses from a WARC source, one event per record.

`framing` cuts the file into whole, checked records (bounded memory, truncation and lying
lengths detected, resynchronisation after damage); a `warc_parsers` parser (warcio, or FastWARC
where it reads alike) parses the WARC and HTTP headers of response records, and `http_body`
decodes their bodies (chunked transfer, content encodings) completely or not at all. This module
classifies every record with a drop reason and caps the payload size. Offsets in events and
messages are absolute offsets of records in the source.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from .framing import MAX_RECORD_BYTES, FramedRecord, FramingLimits, FramingProblem, frame_records
from .http_body import BodyError, BodyTooLarge, decode_body
from .record_reader import frame_group
from .records import DropReason, HtmlPage
from .sources import InputSource, RecordGroup
from .targeting import RecordTally
from .warc_parsers import DEFAULT_WARC_READER, ParsedRecord, WarcParser, warc_parser

__all__ = ["ReaderEvent", "RecordProblem", "Skipped", "read_html_pages"]

log = logging.getLogger(__name__)

HTML_TYPES = frozenset({"text/html", "application/xhtml+xml", "application/xhtml"})


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


def _classify(record: ParsedRecord) -> tuple[DropReason | None, str | None]:
    """Drop reason of a response record before reading its body, and the declared charset."""
    http = record.http
    if http is None:
        return DropReason.NOT_RESPONSE, None
    if http.status != "200":
        return DropReason.HTTP_STATUS, None
    mime, charset = _mime(http.content_type)
    identified = (record.identified_payload_type or "").lower() or None
    if identified is not None:
        if identified.split(";")[0].strip() not in HTML_TYPES:
            return DropReason.NOT_HTML, None
    elif mime is not None and mime not in HTML_TYPES:
        return DropReason.NOT_HTML, None
    return None, charset


def _page(record: ParsedRecord, warc_name: str, offset: int, max_record_bytes: int) -> ReaderEvent:
    reason, charset = _classify(record)
    if reason is not None:
        return Skipped(reason)
    url = record.target_uri or ""
    if record.truncated:
        return Skipped(DropReason.PAYLOAD_TRUNCATED)  # a cut page would become a cut document
    http = record.http
    assert http is not None  # _classify drops records without HTTP headers
    try:
        payload = decode_body(record.body, http.transfer_encoding, http.content_encoding, max_record_bytes)
    except BodyTooLarge:
        return Skipped(DropReason.TOO_LARGE)
    except BodyError as exc:  # bad chunking or content encoding inside one record
        log.warning("%s at offset %d: unreadable HTTP body of %s: %s", warc_name, offset, url, exc)
        return Skipped(DropReason.BAD_RECORD)
    if b"\x00" in payload[:2048]:
        return Skipped(DropReason.BINARY_PAYLOAD)
    mime, _ = _mime(http.content_type)
    if mime is None and not _looks_like_html(payload):
        return Skipped(DropReason.NOT_HTML)
    return HtmlPage(
        url=url,
        warc_file=warc_name,
        warc_record_id=record.record_id or f"{warc_name}#{offset}",
        warc_offset=offset,
        fetch_time=record.date,
        payload=payload,
        declared_charset=charset,
    )


def _event(framed: FramedRecord, warc_name: str, max_record_bytes: int, parse: WarcParser) -> ReaderEvent:
    if framed.warc_type != "response":  # requests, metadata...: no need to parse them
        return Skipped(DropReason.NOT_RESPONSE)
    try:
        record = parse(framed)
        if framed.skimmed:  # its kind still decides the drop reason; its body was never kept
            reason, _ = _classify(record)
            return Skipped(reason or DropReason.TOO_LARGE)
        return _page(record, warc_name, framed.offset, max_record_bytes)
    except Exception as exc:  # warcio raises many kinds for malformed headers
        if framed.skimmed:
            return Skipped(DropReason.TOO_LARGE)
        log.warning("%s at offset %d: unreadable record: %s", warc_name, framed.offset, _brief(exc))
        return Skipped(DropReason.BAD_RECORD)


def _brief(exc: Exception) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    return f"{type(exc).__name__}: {text[:160]!r}" if text else type(exc).__name__


def read_html_pages(
    source: InputSource,
    max_record_bytes: int = MAX_RECORD_BYTES,
    max_problems: int = 100,
    offsets: tuple[int, int] | None = None,
    tally: RecordTally | None = None,
    warc_reader: str = DEFAULT_WARC_READER,
) -> Iterator[ReaderEvent]:
    """Yield an event for every WARC record of `source`: a kept page, a skip, or a problem.

    With `offsets=(start, end)` only records and problems at offsets start <= offset < end are
    reported (earlier records are framed but not parsed; reading stops at `end`).
    Raises InputError when the source cannot be opened at all; everything else is reported
    as a RecordProblem so the rest of the file is still read. A `RecordGroup` is read record by
    record (`record_reader`; `tally` counts what it fetched); a record it cannot fetch raises InputError.
    `warc_reader` names the header parser (`warc_parsers.WARC_READERS`: "warcio", "fastwarc"): the
    events are the same with either; an unknown or uninstalled one raises ConfigError.
    """
    parse = warc_parser(warc_reader)
    limits = FramingLimits(max_block_bytes=max_record_bytes, max_problems=max_problems)
    deadline = source.deadline()  # one for every request this input makes (HTTP)

    def open_at(offset: int) -> BinaryIO:
        return source.open(offset, deadline)

    if isinstance(source, RecordGroup):
        several = len(source.files) > 1  # offsets are per file: a problem names its file
        for file, frame in frame_group(source, limits, tally):
            if isinstance(frame, FramingProblem):
                yield RecordProblem(frame.offset, f"{file.warc_name}: {frame.message}" if several else frame.message)
            else:
                yield _event(frame, file.warc_name, max_record_bytes, parse)
        return
    start, end = offsets if offsets is not None else (0, None)
    warc_name = source.warc_name  # a property: computed once, not once a record
    for item in frame_records(open_at, limits):
        if end is not None and item.offset >= end:
            return
        if item.offset < start:
            continue
        if isinstance(item, FramingProblem):
            yield RecordProblem(item.offset, item.message)
        else:
            yield _event(item, warc_name, max_record_bytes, parse)
