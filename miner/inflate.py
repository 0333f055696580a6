"""Inflate a zlib, gzip or raw-deflate stream held in memory, completely and within a bound."""

from __future__ import annotations

import zlib

__all__ = ["CutStream", "InflateTooLarge", "inflate"]

_STEP = 1 << 16  # most output produced by one call: a bomb never costs more than limit + one step


class CutStream(Exception):
    """The data ends before the stream's end-of-stream marker."""


class InflateTooLarge(Exception):
    """The stream inflates to more than the limit."""


def inflate(data: bytes, wbits: int, limit: int) -> tuple[bytes, bytes]:
    """The inflated stream at the start of `data` (with wbits=31, every gzip member in a row) and
    the bytes after it. Raises InflateTooLarge past `limit` bytes of output, CutStream when the
    data ends inside a stream, zlib.error when the data is corrupt."""
    out = bytearray()
    while True:
        inflater = zlib.decompressobj(wbits)
        tail = data
        while True:
            chunk = inflater.decompress(tail, _STEP)
            out += chunk
            if len(out) > limit:
                raise InflateTooLarge(f"inflates to more than {limit} bytes")
            tail = inflater.unconsumed_tail
            # a full step may leave output owed with no input left (raw deflate has no trailer)
            if inflater.eof or (not tail and len(chunk) < _STEP):
                break
        if not inflater.eof:
            raise CutStream("the data ends before its end-of-stream marker")
        data = inflater.unused_data
        if wbits != 31 or not data.startswith(b"\x1f\x8b"):
            return bytes(out), data
