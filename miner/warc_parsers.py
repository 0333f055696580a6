"""Parsers of one framed WARC record's headers: warcio's rules (the reference) or FastWARC, chosen by name.

`framing` has already cut and checked the record (gzip member, CRC, Content-Length, closing
lines); a parser only reads its WARC header block and, for an `http:`/`https:` response, the HTTP
status line and headers, and hands back the fields `warc.read_html_pages` needs and the raw HTTP
body (still chunked or compressed: `http_body` decodes it).

Both parsers give the same `ParsedRecord` for the same bytes; warcio's rules are the reference:
header names case-insensitive, the first of repeated headers wins, a line that is not UTF-8 is read
as ISO-8859-1, a WARC-Target-URI in `<...>` is unwrapped and its spaces become `%20`, the status
code is the first word after the protocol (unchecked), HTTP headers are parsed only for
`http:`/`https:` URIs and non-empty blocks. FastWARC folds and normalises differently on unusual
input (continuation lines, bare CR or LF line ends, non-ASCII bytes, `WARC/1.0` vs other versions,
odd status lines, a WARC Content-Type other than `application/http`), so it is used only where a
header block is plain (`_PLAIN_WARC_HEAD`, `_PLAIN_HTTP_HEAD`: CRLF lines of printable ASCII,
`Name: value` fields, `HTTP/1.x NNN` status line) and warcio parses every other record: the events
are the same whichever parser is chosen; only the CPU time differs.

The "warcio" reader reads those same plain headers itself (`parse_plain`: twice as fast as warcio's
parser, which reads a stream line by line) and hands every other record to warcio.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING

from warcio.recordloader import ArcWarcRecordLoader

from .errors import ConfigError
from .framing import FramedRecord
from .registry import Registry

if TYPE_CHECKING:
    from fastwarc.warc import WarcRecord

__all__ = ["DEFAULT_WARC_READER", "WARC_READERS", "HttpHead", "ParsedRecord", "WarcParser", "warc_parser"]


@dataclass(frozen=True, slots=True)
class HttpHead:
    """The HTTP response head fields the reader uses."""

    status: str  # the first word after the protocol, unchecked ("" when none)
    content_type: str | None
    transfer_encoding: str | None
    content_encoding: str | None


@dataclass(frozen=True, slots=True)
class ParsedRecord:
    """The WARC header fields the reader uses, the HTTP head (None when not HTTP) and the raw HTTP body."""

    target_uri: str | None
    record_id: str | None
    date: str | None
    truncated: str | None
    identified_payload_type: str | None
    http: HttpHead | None
    body: bytes  # the block after the HTTP head: still chunked or content-encoded


WarcParser = Callable[[FramedRecord], ParsedRecord]
"""Parses one framed record; raises (any exception) when its headers are unreadable."""

WARC_READERS: Registry[WarcParser] = Registry("WARC reader")
DEFAULT_WARC_READER = "warcio"

_LOADER = ArcWarcRecordLoader(verify_http=False)  # stateless header parsers
_HTTP_SCHEMES = ("http:", "https:")


def parse_with_warcio(framed: FramedRecord) -> ParsedRecord:
    """warcio's view of one framed record (the reference parser)."""
    record = _LOADER.parse_record_stream(io.BytesIO(framed.header + framed.block), known_format="warc")
    warc = record.rec_headers
    http = record.http_headers
    head = _http_head(http.get_statuscode(), http.get_header) if http is not None else None
    return _record(warc.get_header, warc.get_header("WARC-Target-URI"), head, record.raw_stream.read())


# Header blocks every parser reads alike: CRLF lines of printable ASCII (tabs allowed), `Name: value` fields.
# (Possessive quantifiers: no class can match what follows it, so no backtracking is lost, and time is saved.)
_FIELDS = rb"(?:[!-9;-~]++:[ -~\t]*+\r\n)*+\r\n"
_PLAIN_WARC_HEAD = re.compile(rb"WARC/1\.[01]\r\n" + _FIELDS)
_PLAIN_HTTP_HEAD = re.compile(rb"HTTP/1\.[01] ([0-9]{3})(?: [ -~\t]*+)?\r\n" + _FIELDS)


def _target_uri(value: str | None) -> str | None:
    """WARC-Target-URI as warcio gives it: `<...>` unwrapped, spaces as %20."""
    if value is not None and value.startswith("<") and value.endswith(">"):
        value = value[1:-1]
    return value.replace(" ", "%20") if value is not None and " " in value else value


def _plain_fields(head: bytes) -> dict[str, str]:
    """Every field of a plain head (status line, `Name: value` lines, blank line) as warcio reads it: the name in
    lower case, the value stripped of spaces and tabs, the first of repeated names."""
    fields: dict[str, str] = {}
    for line in head.decode("ascii").split("\r\n")[1:-2]:
        name, _, value = line.partition(":")
        name = name.lower()
        if name not in fields:
            fields[name] = value.strip(" \t")
    return fields


def parse_plain(framed: FramedRecord) -> ParsedRecord | None:
    """warcio's view of a response record whose headers are plain (`_PLAIN_WARC_HEAD`, `_PLAIN_HTTP_HEAD`), read
    without warcio (twice as fast); None for any other record, which warcio must read.

    On plain heads warcio's rules come down to: field names matched in any case, the first of repeated fields,
    values stripped of spaces and tabs, the status code the three digits after `HTTP/1.x `."""
    if _PLAIN_WARC_HEAD.fullmatch(framed.header) is None:
        return None
    warc = _plain_fields(framed.header)
    if warc.get("warc-type") != "response":  # warcio reads other types' blocks its own way
        return None
    uri = _target_uri(warc.get("warc-target-uri"))
    length = warc.get("content-length")
    if uri is None or length is None or not length.isdigit() or int(length) != framed.content_length:
        return None
    block, head = framed.block, None
    if framed.content_length and uri.startswith(_HTTP_SCHEMES):  # where warcio reads an HTTP head
        end = block.find(b"\r\n\r\n") + 4
        if end < 4 or _PLAIN_HTTP_HEAD.fullmatch(block, 0, end) is None:
            return None
        http = _plain_fields(block[:end])
        head = _http_head(block[9:12].decode("ascii"), lambda name: http.get(name.lower()))
        block = block[end:]
    return _record(lambda name: warc.get(name.lower()), uri, head, block)


def parse_plain_or_warcio(framed: FramedRecord) -> ParsedRecord:
    """warcio's view of one framed record: `parse_plain`'s where the headers are plain, warcio's otherwise."""
    return parse_plain(framed) or parse_with_warcio(framed)


def parse_with_fastwarc(framed: FramedRecord) -> ParsedRecord:
    """FastWARC's view of one framed record where its headers are plain, warcio's otherwise (see the module)."""
    if _PLAIN_WARC_HEAD.fullmatch(framed.header) is None:
        return parse_with_warcio(framed)
    try:
        record = _fastwarc_record(framed.header + framed.block)
    except Exception:  # FastWARC refuses what warcio may still read: warcio decides
        return parse_with_warcio(framed)
    warc = record.headers
    if warc.get("WARC-Type") != "response":  # warcio reads other types' HTTP heads its own way
        return parse_with_warcio(framed)
    uri = _target_uri(warc.get("WARC-Target-URI"))
    head = None
    if framed.content_length and uri is not None and uri.startswith(_HTTP_SCHEMES):
        record.is_http = True  # warcio parses HTTP whatever the record's Content-Type says
        try:
            record.parse_http()
        except Exception:
            return parse_with_warcio(framed)
        body = record.reader.read()
        status = _PLAIN_HTTP_HEAD.fullmatch(framed.block, 0, len(framed.block) - len(body))
        if status is None:
            return parse_with_warcio(framed)
        head = _http_head(status.group(1).decode("ascii"), record.http_headers.get)
    else:
        body = record.reader.read()
    return _record(warc.get, uri, head, body)


def _http_head(status: str, field: Callable[[str], str | None]) -> HttpHead:
    """The HTTP head of a status code and the HTTP header fields `field` gives by name (each parser's own lookup)."""
    return HttpHead(status, field("Content-Type"), field("Transfer-Encoding"), field("Content-Encoding"))


def _record(field: Callable[[str], str | None], uri: str | None, head: HttpHead | None, body: bytes) -> ParsedRecord:
    """The record of WARC header fields `field` gives by name (each parser's own lookup), its target URI, HTTP
    head and body."""
    return ParsedRecord(
        target_uri=uri,
        record_id=field("WARC-Record-ID"),
        date=field("WARC-Date"),
        truncated=field("WARC-Truncated"),
        identified_payload_type=field("WARC-Identified-Payload-Type"),
        http=head,
        body=body,
    )


def _fastwarc_record(data: bytes) -> WarcRecord:
    from fastwarc.warc import WarcRecord  # optional dependency: imported when first used

    return WarcRecord.from_bytes(data)


def _check_fastwarc() -> WarcParser:
    try:
        import fastwarc.warc  # noqa: F401
    except ImportError as exc:
        raise ConfigError(
            "WARC reader 'fastwarc' needs the fastwarc package (pip install 'toxmine[fastwarc]')"
        ) from exc
    return parse_with_fastwarc


WARC_READERS.register("warcio", lambda: parse_plain_or_warcio)
WARC_READERS.register("fastwarc", _check_fastwarc)


def warc_parser(name: str) -> WarcParser:
    """The parser registered as `name` ("warcio", "fastwarc", or a plug-in's module:Class);
    ConfigError for an unknown or uninstalled one, or one that misreads a plain valid record (a
    parser that raises on every record would drop them all as `bad_record` and store the input
    as done)."""
    parser: WarcParser = WARC_READERS.create(name)
    _check_reads_a_record(name, parser)
    return parser


_CHECK_BODY = b"<html><body><p>toxmine reader check</p></body></html>"
_CHECK_BLOCK = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n" + _CHECK_BODY
_CHECK_RECORD = FramedRecord(
    offset=0,
    header=(
        b"WARC/1.0\r\nWARC-Type: response\r\nWARC-Target-URI: http://127.0.0.1/reader-check\r\n"
        b"WARC-Date: 2024-01-01T00:00:00Z\r\nWARC-Record-ID: <urn:uuid:00000000-0000-4000-8000-000000000000>\r\n"
        b"Content-Type: application/http; msgtype=response\r\n"
        + f"Content-Length: {len(_CHECK_BLOCK)}\r\n\r\n".encode()
    ),
    warc_type="response",
    content_length=len(_CHECK_BLOCK),
    block=_CHECK_BLOCK,
    skimmed=False,
)


_CHECKED: set[str] = set()  # readers found to read the record (checked once a process)


def _check_reads_a_record(name: str, parser: WarcParser) -> None:
    if name in _CHECKED:
        return
    try:
        parsed = parser(_CHECK_RECORD)
        read = (parsed.target_uri, parsed.http.status if parsed.http else None, parsed.body)
    except Exception as exc:
        raise ConfigError(
            f"WARC reader {name!r} cannot read a plain valid record: {type(exc).__name__}: {exc}"
        ) from None
    if read != ("http://127.0.0.1/reader-check", "200", _CHECK_BODY):
        raise ConfigError(f"WARC reader {name!r} misreads a plain valid record: read {read!r}")
    _CHECKED.add(name)
