"""Cut a WARC file into records, trusting nothing it says: bounded, truncation-proof framing.

A record is returned only once all of it has been read and checked: its header block (every
line and the whole block bounded in size), a block of exactly its `Content-Length`, the blank
lines that end it and, in a `.warc.gz`, the end of its gzip member (so the member's CRC and
length were verified). Anything else is a `FramingProblem` at the record's own offset:

- the file ends inside a record or a gzip member: reported, nothing after it to read;
- a gzip member that fails to decompress, or bytes between members that are not gzip: the rest
  of the file is searched for the next member that inflates to `WARC/`;
- a `Content-Length` that does not match the data (the block runs past its gzip member, or is
  not followed by the end of the record), an over-long header line or header block, a record
  that does not start with `WARC/`: reading goes on with the next member (`.warc.gz`) or at the
  next `WARC/1.x` line after the bad record's start (`.warc`), so the valid records that follow
  are still read.

Memory stays bounded whatever the input: decompression runs in small steps, blocks larger than
`max_block_bytes` are read and dropped (their first `head_bytes` kept, enough for the HTTP
headers), and a gzip member that inflates past `max_member_bytes` (a decompression bomb) is
abandoned. Offsets are those of the gzip member (`.warc.gz`: Common Crawl's
`warc_record_offset`) or of the `WARC/` line (`.warc`). The records of a whole-file gzip share
the offset of their one member; each is checked against the next record's `WARC/` line, and the
member's CRC only at its end.
"""

from __future__ import annotations

import importlib
import os
import zlib
from collections.abc import Callable, Generator, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import BinaryIO, Protocol

from .errors import InputError

__all__ = ["MAX_RECORD_BYTES", "FramedRecord", "FramingLimits", "FramingProblem", "frame_records"]

MAX_RECORD_BYTES = 4 << 20  # default record cap: extraction takes up to ~160 bytes per HTML byte
_GZIP_MAGIC = b"\x1f\x8b\x08"
_WARC_LINE = b"\nWARC/1."
_READ_CHUNK = 1 << 16  # raw bytes read at a time
_INFLATE_FEED = 1 << 14  # compressed bytes given to zlib at a time: it copies what a member leaves of them at its end
_INFLATE_CHUNK = 1 << 16  # most decompressed bytes produced by one step
_PROBE_BYTES = 4096  # compressed bytes tried when checking a resynchronisation candidate


class _Inflater(Protocol):
    """A zlib decompression object (`zlib.decompressobj`'s, or zlib-ng's: the same interface)."""

    @property
    def eof(self) -> bool: ...
    @property
    def unused_data(self) -> bytes: ...
    @property
    def unconsumed_tail(self) -> bytes: ...
    def decompress(self, data: bytes | memoryview, max_length: int = 0, /) -> bytes: ...


def _fastest_zlib() -> ModuleType:
    """zlib-ng's drop-in `zlib` module where installed (inflates about 1.8 times as fast; the same bytes, errors
    and error texts), else the standard library's."""
    try:
        return importlib.import_module("zlib_ng.zlib_ng")
    except ImportError:
        return zlib


_ZLIB = _fastest_zlib()


@dataclass(frozen=True)
class FramingLimits:
    """Bounds on what one record may make the reader hold or do."""

    max_line_bytes: int = 64 << 10  # one WARC header line
    max_header_bytes: int = 256 << 10  # the whole WARC header block
    max_block_bytes: int = MAX_RECORD_BYTES  # larger blocks are skimmed: `head_bytes` kept, the rest dropped
    head_bytes: int = 64 << 10  # what is kept of a skimmed block (its HTTP headers)
    max_member_bytes: int = 1 << 30  # a gzip member inflating past this is abandoned (a bomb)
    max_problems: int = 100  # then the rest of the file is given up


@dataclass(frozen=True, slots=True)
class FramedRecord:
    """One whole, checked record: its raw WARC header block and its block (or the block's head)."""

    offset: int
    header: bytes  # from the `WARC/` line to the blank line, both included
    warc_type: str  # WARC-Type, "" when absent
    content_length: int
    block: bytes  # the whole block, or its first `head_bytes` when `skimmed`
    skimmed: bool


@dataclass(frozen=True, slots=True)
class FramingProblem:
    """Unusable data at an offset; reading resumes after it where possible."""

    offset: int
    message: str


class _Damaged(Exception):
    """The compressed data at `offset` is unusable: a truncated (`at_eof`) or corrupt member."""

    def __init__(self, offset: int, message: str, at_eof: bool = False) -> None:
        super().__init__(message)
        self.offset = offset
        self.at_eof = at_eof


class _BadRecord(Exception):
    """A record that cannot be trusted; the data after it can still be read."""


class _Truncated(_BadRecord):
    """The data ends inside a record (the file, or the record's gzip member). `resume`: where a
    record may start after the bad one's header, when the reader saw all that data already
    (None: not known; -1: nowhere)."""

    def __init__(self, message: str, resume: int | None = None) -> None:
        super().__init__(message)
        self.resume = resume


class _Bytes:
    """The decompressed bytes of a WARC file from an offset, buffered within bounds.

    For gzip input, `marks` hold the buffer index where each member's bytes begin and the
    member's offset, so every byte knows its member, and reads can stop at a member's end
    (`cross=False`). For plain input the one mark maps buffer index to file offset.
    """

    def __init__(self, raw: BinaryIO, start: int, gzipped: bool, limits: FramingLimits, head: bytes = b"") -> None:
        """`head`: bytes already read from `raw` at `start`."""
        self.raw = raw
        self.gzipped = gzipped
        self.limits = limits
        self.buf = bytearray() if gzipped else bytearray(head)
        self.pos = 0  # read cursor in buf
        self.marks: list[tuple[int, int]] = [(0, start)]
        self.pending = head if gzipped else b""  # compressed bytes read, not inflated yet from `pending_pos` on
        self.pending_pos = 0
        self.pending_at = start  # file offset of pending[pending_pos]
        self.inflater: _Inflater | None = None
        self.member_out = 0
        self._size: int | None = None
        self.raw_eof = False

    # -- position -----------------------------------------------------------------------------
    def _mark_at(self, index: int) -> tuple[int, int]:
        if self.marks[-1][0] <= index:
            return self.marks[-1]
        found = self.marks[0]
        for mark in self.marks:
            if mark[0] > index:
                break
            found = mark
        return found

    def offset(self) -> int:
        """The record offset of the next unread byte (call once that byte is buffered)."""
        index, offset = self._mark_at(self.pos)
        return offset if self.gzipped else offset + self.pos - index

    def _member_at(self) -> int:
        """Offset of the newest member (the one being inflated)."""
        return self.marks[-1][1]

    def _member_end(self) -> int | None:
        """Buffer index where the cursor's member ends, when the next member is buffered already."""
        if self.marks[-1][0] <= self.pos:  # the usual case: the cursor is in the newest member
            return None
        return next(index for index, _ in self.marks if index > self.pos)

    # -- filling --------------------------------------------------------------------------------
    def _compact(self) -> None:
        if self.pos < _READ_CHUNK or self.pos * 2 < len(self.buf):
            return
        shift = self.pos
        index, offset = self._mark_at(shift)
        if not self.gzipped:
            offset += shift - index
        self.marks = [(0, offset)] + [(i - shift, o) for i, o in self.marks if i > shift]
        del self.buf[:shift]
        self.pos = 0

    def _read_raw(self) -> bool:
        if self.raw_eof:
            return False
        chunk = self.raw.read(_READ_CHUNK)
        if not chunk:
            self.raw_eof = True
            return False
        self.pending = self.pending[self.pending_pos :] + chunk
        self.pending_pos = 0
        return True

    def _fill(self, cross: bool) -> bool:
        """Append decompressed bytes; False at the end of the input (or of the cursor's member
        when `cross` is False). Raises _Damaged for a truncated, corrupt or exploding member."""
        self._compact()
        if not self.gzipped:
            chunk = self.raw.read(_READ_CHUNK)
            self.buf += chunk
            return bool(chunk)
        while True:
            if self.inflater is None and (not cross or not self._start_member()):
                return False
            inflater = self.inflater
            assert inflater is not None
            if self.pending_pos == len(self.pending) and not self._read_raw():
                raise _Damaged(self._member_at(), "truncated gzip member (the file ends inside it)", at_eof=True)
            try:
                out = self._inflate(inflater)
            except _ZLIB.error as exc:
                raise _Damaged(self._member_at(), f"corrupt gzip member ({exc})") from None
            self.member_out += len(out)
            if self.member_out > self.limits.max_member_bytes:
                raise _Damaged(self._member_at(), f"gzip member inflates past {self.limits.max_member_bytes} bytes")
            self.buf += out
            if inflater.eof:
                self.inflater = None
            if out:
                return True

    def _inflate(self, inflater: _Inflater) -> bytes:
        """What one `decompress(pending, _INFLATE_CHUNK)` call would give (the same bytes, stopping at the same
        point of the stream, raising the same error), the pending bytes fed in slices: zlib copies what is left
        of its input at a member's end, and a slice leaves less than all of `pending` would."""
        pending, pos = self.pending, self.pending_pos
        parts, room = [], _INFLATE_CHUNK
        with memoryview(pending) as view:
            while True:
                piece = view[pos : pos + _INFLATE_FEED]
                out = inflater.decompress(piece, room)
                left = len(inflater.unused_data if inflater.eof else inflater.unconsumed_tail)
                pos += len(piece) - left
                parts.append(out)
                room -= len(out)
                if inflater.eof or left or not room or pos == len(pending):
                    break
        self.pending_at += pos - self.pending_pos
        self.pending_pos = pos
        return parts[0] if len(parts) == 1 else b"".join(parts)

    def _start_member(self) -> bool:
        """Begin the gzip member at `pending_pos`; False at a clean end of input."""
        while len(self.pending) - self.pending_pos < len(_GZIP_MAGIC) and self._read_raw():
            pass
        if self.pending_pos == len(self.pending) or self._only_zeros_left():
            return False
        if len(self.pending) - self.pending_pos < len(_GZIP_MAGIC) and _GZIP_MAGIC.startswith(
            self.pending[self.pending_pos :]
        ):
            raise _Damaged(self.pending_at, "truncated gzip member (the file ends inside it)", at_eof=True)
        if not self.pending.startswith(_GZIP_MAGIC, self.pending_pos):
            raise _Damaged(self.pending_at, "expected a gzip member here (garbage between records?)")
        self.inflater = _ZLIB.decompressobj(31)
        self.member_out = 0
        self.marks.append((len(self.buf), self.pending_at))
        return True

    def _only_zeros_left(self) -> bool:
        """Zero padding after the last member (some writers pad to a block size) ends the file."""
        if self.pending[self.pending_pos]:
            return False  # the usual case: a member starts here
        self.pending = self.pending[self.pending_pos :]
        self.pending_pos = 0
        if self.pending.strip(b"\x00"):
            return False
        while self._read_raw():
            if self.pending.strip(b"\x00"):
                return False
            self.pending_at += len(self.pending)
            self.pending = b""
        return True

    # -- reading --------------------------------------------------------------------------------
    def _available(self, cross: bool) -> int:
        end = None if cross else self._member_end()
        return (len(self.buf) if end is None else end) - self.pos

    def _grow(self, cross: bool) -> bool:
        if not cross and self._member_end() is not None:
            return False
        return self._fill(cross)

    def ensure(self, n: int, cross: bool) -> int:
        """Buffer up to `n` unread bytes if the input (or the member) has them; how many there are."""
        have = len(self.buf) - self.pos
        if have >= n and (cross or self.marks[-1][0] <= self.pos):
            return n  # the usual case: buffered already, in the cursor's member
        if not cross and self.gzipped and self.inflater is None and self.marks[-1][0] <= self.pos:
            return have  # the cursor's member is the newest, inflated whole already: no more to come
        while self._available(cross) < n and self._grow(cross):
            pass
        return min(n, self._available(cross))

    def peek(self, n: int, cross: bool) -> bytes:
        have = self.ensure(n, cross)
        return self._copy(self.pos, self.pos + have)

    def _copy(self, start: int, stop: int) -> bytes:
        """Buffered bytes, copied once (slicing the bytearray first would copy them twice)."""
        with memoryview(self.buf) as view:
            return bytes(view[start:stop])

    def readline(self, limit: int, cross: bool) -> bytes:
        """One line with its ending, or what is left at the end; _BadRecord past `limit` bytes."""
        searched = 0
        while True:
            have = self._available(cross)
            newline = self.buf.find(b"\n", self.pos + searched, self.pos + have)
            if newline >= 0 and newline + 1 - self.pos <= limit:
                line = bytes(self.buf[self.pos : newline + 1])
                self.pos = newline + 1
                return line
            if newline >= 0 or have > limit:
                raise _BadRecord(f"WARC header line longer than {limit} bytes")
            searched = have
            if not self._grow(cross):
                line = bytes(self.buf[self.pos : self.pos + have])
                self.pos += have
                return line

    def read_to_blank_line(self, limit: int, cross: bool) -> tuple[bytes, str]:
        """The bytes up to and including the next blank line (the end of a header block), and
        "ok"; or what was seen and "ended" (the data ends first) or "long" (no blank line within
        `limit` bytes)."""
        searched = 0
        while True:
            have = self._available(cross)
            if searched == 0 and have:
                lead = self.buf[self.pos : self.pos + 2]
                if lead[:1] == b"\n" or lead == b"\r\n":  # no header fields at all
                    stop = self.pos + (1 if lead[:1] == b"\n" else 2)
                    data = bytes(self.buf[self.pos : stop])
                    self.pos = stop
                    return data, "ok"
            start, end = self.pos + max(0, searched - 2), self.pos + have
            crlf, lf = self.buf.find(b"\n\r\n", start, end), self.buf.find(b"\n\n", start, end)
            stops = [hit + size for hit, size in ((crlf, 3), (lf, 2)) if hit >= 0]
            if stops and min(stops) - self.pos <= limit:
                data = bytes(self.buf[self.pos : min(stops)])
                self.pos = min(stops)
                return data, "ok"
            if stops or have > limit:
                return bytes(self.buf[self.pos : self.pos + limit]), "long"
            searched = have
            if not self._grow(cross):
                return bytes(self.buf[self.pos : end]), "ended"

    def read(self, n: int, cross: bool) -> bytes:
        have = self.ensure(n, cross)
        data = self._copy(self.pos, self.pos + have)
        self.pos += have
        return data

    def skip(self, n: int, cross: bool, marker: bytes | None = None) -> tuple[int, int]:
        """Drop up to `n` bytes without holding them: how many were there and, given a `marker`
        (plain input), the file offset of its first occurrence among them (-1: none), so a block
        that lied about its length needs no second pass to find the next record."""
        skipped, found, tail = 0, -1, b""
        while skipped < n:
            have = self._available(cross)
            if have == 0:
                if not self._grow(cross):
                    break
                continue
            take = min(have, n - skipped)
            if marker is not None and found < 0:
                window = tail + bytes(self.buf[self.pos : self.pos + take])
                hit = window.find(marker)
                if hit >= 0:
                    found = self.offset() - len(tail) + hit
                tail = window[-(len(marker) - 1) :]
            self.pos += take
            skipped += take
        return skipped, found

    def file_size(self) -> int | None:
        """Plain input: the size of the file (or of the HTTP resource) once known."""
        if self._size is None:
            size = getattr(self.raw, "size", None)  # an HTTP stream's declared and checked size
            if isinstance(size, int):
                self._size = size
            else:
                try:
                    self._size = os.fstat(self.raw.fileno()).st_size
                except (AttributeError, OSError, ValueError):
                    return None
        return self._size

    def member_done(self) -> bool:
        """gzip: the cursor's member has no byte left and ended cleanly. Plain: always False."""
        return self.gzipped and self.ensure(1, cross=False) == 0


def _field(header: bytes, lowered: bytes, name: bytes) -> bytes | None:
    """The stripped value of the first header line that starts with `name` (lower case, with its colon), in
    any case; None when there is none. `lowered`: `header.lower()`; the header's first line is never a field."""
    at = lowered.find(b"\n" + name)
    if at < 0:
        return None
    start = at + 1 + len(name)
    value = header[start : header.find(b"\n", start)]  # a header block ends with a line ending
    cr = value.find(b"\r")
    return (value[:cr] if cr >= 0 else value).strip()


def _fields(header: bytes) -> tuple[int, str]:
    """The Content-Length and WARC-Type of a header block."""
    lowered = header.lower()
    text = _field(header, lowered, b"content-length:")
    if text is None:
        raise _BadRecord("WARC header without Content-Length")
    if not text.isdigit() or len(text) > 15:
        raise _BadRecord(f"invalid Content-Length {_shown(text)}")
    kind = _field(header, lowered, b"warc-type:")
    return int(text), kind.decode("ascii", "replace") if kind is not None else ""


def _shown(data: bytes) -> str:
    return repr(data[:40].decode("ascii", "backslashreplace"))


def _buffered_header(stream: _Bytes, limits: FramingLimits) -> bytes | None:
    """The usual case of `_read_header`, taken without reading more: a header block already buffered whole,
    starting with `WARC/` and shorter than every limit, so no line or size check can fail. None otherwise."""
    buf, pos = stream.buf, stream.pos
    end = pos + stream._available(not stream.gzipped)
    first_end = buf.find(b"\n", pos, end) + 1
    if first_end == 0 or not buf.startswith(b"WARC/", pos, first_end):
        return None
    if buf.startswith(b"\n", first_end) or buf.startswith(b"\r\n", first_end):  # no header fields at all
        return None
    crlf = buf.find(b"\n\r\n", first_end, end)
    lf = buf.find(b"\n\n", first_end, end if crlf < 0 else crlf + 1)  # one ending before that blank line
    stop = lf + 2 if lf >= 0 else crlf + 3 if crlf >= 0 else -1
    if stop < 0 or stop - pos >= limits.max_line_bytes or stop - pos > limits.max_header_bytes:
        return None
    stream.pos = stop
    return stream._copy(pos, stop)


def _read_header(stream: _Bytes, limits: FramingLimits) -> bytes:
    buffered = _buffered_header(stream, limits)
    if buffered is not None:
        return buffered
    cross = not stream.gzipped  # a record's header never leaves its gzip member
    first = stream.readline(limits.max_line_bytes, cross)
    if not first.endswith(b"\n"):
        if b"WARC/".startswith(first[:5]):
            raise _Truncated("truncated record (the data ends inside its WARC header)")
        raise _BadRecord(f"expected a WARC/1.x header line, found {_shown(first)}")
    if not first.startswith(b"WARC/"):
        raise _BadRecord(f"expected a WARC/1.x header line, found {_shown(first)}")
    rest, status = stream.read_to_blank_line(limits.max_header_bytes - len(first), cross)
    lines = rest.split(b"\n")
    if max(map(len, lines)) >= limits.max_line_bytes:
        raise _BadRecord(f"WARC header line longer than {limits.max_line_bytes} bytes")
    if status == "long":
        raise _BadRecord(f"WARC header longer than {limits.max_header_bytes} bytes")
    if status == "ended":
        raise _Truncated("truncated record (the data ends inside its WARC header)")
    return first + rest


def _skip_blank_lines(stream: _Bytes, cross: bool) -> int:
    """Consume CRLF / LF line endings; how many there were."""
    count = 0
    while True:
        have = stream.ensure(2, cross)
        buf, pos = stream.buf, stream.pos
        if have == 2 and buf[pos] == 13 and buf[pos + 1] == 10:  # CR LF
            stream.pos = pos + 2
        elif have and buf[pos] == 10:  # LF
            stream.pos = pos + 1
        else:
            return count
        count += 1


def _whole_member_record(stream: _Bytes, length: int) -> bytes | None:
    """The usual case of a `.warc.gz` record's block, taken without reading more: its gzip member inflated whole
    already (so it ended cleanly) holds the block and then only line endings. None otherwise."""
    buf, pos = stream.buf, stream.pos
    if stream.inflater is not None or stream.marks[-1][0] > pos or not 0 <= len(buf) - pos - length <= 16:
        return None
    rest = stream._copy(pos + length, len(buf))
    if rest.replace(b"\r\n", b"").strip(b"\n"):  # not only CRLF and LF line endings
        return None
    block = stream._copy(pos, pos + length)
    stream.pos = len(buf)
    return block


def _read_record(stream: _Bytes, offset: int, limits: FramingLimits) -> FramedRecord:
    header = _read_header(stream, limits)
    length, kind = _fields(header)
    if stream.gzipped and length <= limits.max_block_bytes:
        block = _whole_member_record(stream, length)
        if block is not None:
            return FramedRecord(offset, header, kind, length, block, False)
    cross = not stream.gzipped
    size = None if stream.gzipped else stream.file_size()
    if size is not None and stream.offset() + length > size:  # a lie: do not read the file to its end to see it
        raise _Truncated(f"truncated record (its Content-Length {length} runs past the end of the file)")
    if length <= limits.max_block_bytes:
        block = stream.read(length, cross)
        got, skimmed = len(block), False
    else:
        block_at = stream.offset()
        block = stream.read(limits.head_bytes, cross)
        marker = None if stream.gzipped else _WARC_LINE  # where a plain file's next record may start
        rest, found = stream.skip(length - len(block), cross, marker)
        in_head = block.find(marker) if marker else -1
        found = block_at + in_head if in_head >= 0 else found
        got, skimmed = len(block) + rest, True
    record = FramedRecord(offset, header, kind, length, block, skimmed)
    if got < length:
        if stream.gzipped:  # the member ended cleanly, before the block did
            raise _BadRecord(f"block runs past the end of its gzip member (Content-Length {length}, {got} bytes)")
        message = f"truncated record ({got} of the {length} bytes its Content-Length declares)"
        raise _Truncated(message, resume=found if skimmed else None)
    blanks = _skip_blank_lines(stream, cross)
    if stream.member_done():
        return record
    following = stream.peek(5, cross)
    if not following.strip(b"\r"):  # the end of a plain file (maybe inside the closing blank lines)
        if blanks >= 2 and not following:
            return record
        raise _Truncated("truncated record (the file ends before its closing blank lines)")
    if blanks >= 1 and b"WARC/".startswith(following):
        return record  # the next record starts here (or the file ends inside its first line)
    raise _BadRecord(f"record does not end where its Content-Length ({length}) says")


def _plausible_member(data: bytes) -> bool:
    """Does a gzip member that inflates to a WARC record start here?"""
    try:
        out = _ZLIB.decompressobj(31).decompress(data, 8)
    except _ZLIB.error:
        return False
    return bool(out) and b"WARC/".startswith(out[:5])


def _resync_point(open_at: Callable[[int], BinaryIO], start: int, gzipped: bool) -> int | None:
    """Offset of the next plausible record start at or after `start`, or None."""
    marker = _GZIP_MAGIC if gzipped else _WARC_LINE
    raw = open_at(start)
    try:
        buf, base, eof, searched = bytearray(), start, False, 0
        while True:
            hit = buf.find(marker, searched)
            if hit < 0:
                if eof:
                    return None
                drop = max(0, len(buf) - len(marker) + 1)
                del buf[:drop]
                base, searched = base + drop, 0
                chunk = raw.read(_READ_CHUNK)
                eof = not chunk
                buf += chunk
                continue
            if not gzipped:
                return base + hit + 1
            while len(buf) - hit < _PROBE_BYTES and not eof:
                chunk = raw.read(_READ_CHUNK)
                eof = not chunk
                buf += chunk
            if _plausible_member(bytes(buf[hit : hit + _PROBE_BYTES])):
                return base + hit
            searched = hit + 1
    finally:
        raw.close()


@dataclass
class _Tally:
    problems: int = 0
    records: int = 0


_Frames = Generator["FramedRecord | FramingProblem", None, "int | None"]


def _frames_from(stream: _Bytes, limits: FramingLimits, tally: _Tally) -> _Frames:
    """Records from where `stream` starts; returns where to resynchronise, or None at the end."""
    at_file_start = stream.offset() == 0
    while True:
        offset: int | None = None
        try:
            if at_file_start and stream.ensure(1, cross=True) == 0:
                yield FramingProblem(0, "empty file")
                return None
            at_file_start = False
            _skip_blank_lines(stream, cross=True)
            if stream.ensure(1, cross=True) == 0:
                return None
            offset = stream.offset()
            record = _read_record(stream, offset, limits)
        except _Damaged as exc:
            tally.problems += 1
            yield FramingProblem(exc.offset, str(exc))
            return None if exc.at_eof else exc.offset + 1
        except _BadRecord as exc:
            assert offset is not None
            tally.problems += 1
            not_warc = offset == 0 and tally.records == 0 and not isinstance(exc, _Truncated)
            yield FramingProblem(offset, f"not a WARC file? ({exc})" if not_warc else str(exc))
            if tally.problems >= limits.max_problems:
                return None
            if not stream.gzipped:  # a lying Content-Length may hide valid records: look after its start
                resume = exc.resume if isinstance(exc, _Truncated) else None
                if resume is None:
                    return offset + 1
                return None if resume < 0 else resume
            try:  # the member itself is sound: go on after it
                stream.skip(limits.max_member_bytes, cross=False)
            except _Damaged as damaged:
                return None if damaged.at_eof else damaged.offset + 1
            continue
        except InputError as exc:  # the transfer failed for good
            tally.problems += 1
            yield FramingProblem(offset if offset is not None else stream.offset(), f"reading stopped: {exc.reason}")
            return None
        tally.records += 1
        yield record


def frame_records(
    open_at: Callable[[int], BinaryIO], limits: FramingLimits | None = None, start: int = 0
) -> Iterator[FramedRecord | FramingProblem]:
    """Every record of a WARC file (gzip or plain, told by its first bytes), or a problem where
    one cannot be trusted (see the module). With `start`, the data is read from that offset on
    (offsets stay those of the file), e.g. one record fetched on its own.

    `open_at(offset)` opens the file's raw bytes at an offset; it is called again to
    resynchronise. An InputError from it propagates when nothing could be read yet; later it
    ends the file with a problem.
    """
    limits = limits or FramingLimits()
    tally = _Tally()
    raw = open_at(start)
    try:
        head = b""
        while len(head) < 2 and (more := raw.read(2 - len(head))):
            head += more
    except InputError:
        raw.close()
        raise
    gzipped = head == _GZIP_MAGIC[:2]
    while True:
        try:
            stream = _Bytes(raw, start, gzipped, limits, head)
            resume = yield from _frames_from(stream, limits, tally)
        finally:
            raw.close()
        if tally.problems >= limits.max_problems:
            yield FramingProblem(resume or start, f"giving up after {tally.problems} bad records")
            return
        if resume is None:
            return
        try:
            found = _resync_point(open_at, resume, gzipped)
            if found is None:
                return
            start, head = found, b""
            raw = open_at(start)
        except InputError as exc:
            yield FramingProblem(resume, f"reading stopped: {exc.reason}")
            return
