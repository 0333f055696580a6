"""The payload of an HTTP response as recorded in a WARC record: de-chunked and decoded, strictly.

warcio decodes bodies leniently: a gzip body that is corrupt or cut halfway comes back shorter,
with a note on stderr, and a chunked body cut inside a chunk comes back cut. A cut page must not
become a cut document, so here a body either decodes completely (the chunked framing reaches its
last chunk, the compressed stream its end) or raises `BodyError`. Output is bounded: a body that
decodes to more than `limit` bytes raises `BodyTooLarge` (compression bombs stay cheap).

As warcio and browsers do, a body that does not even start as declared (a "gzip" body that is
plain HTML, a "chunked" body that was de-chunked by the crawler) is taken as it is.
"""

from __future__ import annotations

import zlib
from typing import Any

from .inflate import CutStream, InflateTooLarge, inflate

__all__ = ["BodyError", "BodyTooLarge", "decode_body"]

_MAX_SIZE_LINE = 1024


class BodyError(Exception):
    """The body is cut or corrupt."""


class BodyTooLarge(BodyError):
    """The body decodes to more than the limit."""


def _dechunk(data: bytes, limit: int) -> bytes:
    out = bytearray()
    pos = 0
    while True:
        eol = data.find(b"\n", pos, pos + _MAX_SIZE_LINE)
        size_text = data[pos:eol].split(b";", 1)[0].strip() if eol >= 0 else b""
        try:
            size = int(size_text, 16)
        except ValueError:
            if pos == 0:
                return data  # not chunked after all (de-chunked by the crawler, header kept)
            raise BodyError(f"malformed chunk size at byte {pos} of the chunked body") from None
        pos = eol + 1
        if size == 0:
            return bytes(out)  # trailers, if any, are not needed
        if pos + size > len(data):
            raise BodyError(f"chunked body ends inside a chunk ({len(data) - pos} of {size} bytes)")
        out += data[pos : pos + size]
        if len(out) > limit:
            raise BodyTooLarge(f"body larger than {limit} bytes")
        pos += size
        if data.startswith(b"\r\n", pos):
            pos += 2
        elif data.startswith(b"\n", pos):
            pos += 1
        else:
            raise BodyError(f"chunk not followed by a line end at byte {pos} of the chunked body")


def _inflate(data: bytes, wbits: int, limit: int) -> bytes:
    """The whole compressed body inflated; bytes after its stream (padding) are ignored, as browsers do."""
    try:
        out, _ = inflate(data, wbits, limit)
    except InflateTooLarge:
        raise BodyTooLarge(f"body decodes to more than {limit} bytes") from None
    except CutStream:
        raise BodyError("compressed body ends before its end-of-stream marker (cut)") from None
    return out


def _brotli(data: bytes, limit: int) -> bytes:
    try:
        import brotli
    except ImportError:
        raise BodyError("brotli-encoded body and the brotli package is not installed") from None
    decoder: Any = brotli.Decompressor()
    try:
        out = decoder.process(data)
    except brotli.error as exc:
        raise BodyError(f"corrupt brotli body ({exc})") from None
    if len(out) > limit:
        raise BodyTooLarge(f"body decodes to more than {limit} bytes")
    if not decoder.is_finished():
        raise BodyError("brotli body ends before its end (cut)")
    return bytes(out)


def _decode_content(data: bytes, encoding: str, limit: int) -> bytes:
    if not data or encoding in ("", "identity", "none"):
        return data
    if encoding in ("gzip", "x-gzip"):
        if not data.startswith(b"\x1f\x8b"):
            return data  # declared but not applied
        attempts = [31]
    elif encoding == "deflate":
        attempts = [15, -15]  # zlib-wrapped as specified, or raw deflate as some servers send
    elif encoding == "br":
        return _brotli(data, limit)
    else:
        return data  # an unknown coding: kept as it is, as warcio does
    for wbits in attempts:
        try:
            return _inflate(data, wbits, limit)
        except zlib.error as exc:
            error = exc
    if encoding == "deflate" and data.lstrip()[:1] == b"<":
        return data  # declared but not applied
    raise BodyError(f"corrupt {encoding} body ({error})")


def decode_body(raw: bytes, transfer_encoding: str | None, content_encoding: str | None, limit: int) -> bytes:
    """The payload of an HTTP body: de-chunked, then decoded (gzip, deflate, br); see the module."""
    data = raw
    if transfer_encoding and "chunked" in transfer_encoding.lower():
        data = _dechunk(data, max(limit, len(raw)))
    for coding in reversed([c.strip().lower() for c in (content_encoding or "").split(",") if c.strip()]):
        data = _decode_content(data, coding, limit)
    if len(data) > limit:
        raise BodyTooLarge(f"body larger than {limit} bytes")
    return data
