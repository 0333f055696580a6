"""Read a record group: each record fetched on its own by an exact range, framed as if the whole file were read.

Over HTTP the records are fetched ahead, `group.concurrency` at a time, over pooled connections (see
`ranges.RangeClient`: retries, checked Content-Range, exact lengths), and handed on in offset order. A
local WARC file (a mounted copy) is read by seek and read. Each record's bytes go through the same
framing as a whole file's (`framing.frame_records` from the record's offset: its gzip member, CRC,
Content-Length and closing lines checked), so a record read this way and the same record read in
the whole file give the same event at the same offset. What the index says is checked too: the range
must hold exactly one record, starting at its offset, whose WARC-Target-URI is the URL the index
gives; a range that does not is a `FramingProblem` at its offset (the group is then partial).

A record that cannot be fetched (after the retries) fails the whole group with InputError, so nothing
of it is stored and the next run tries it again. A server that ignores Range requests (HTTP 200) gets
the file read once as a stream, from the first record not yet read to the last wanted one, keeping only
the wanted records: memory stays bounded, and the bytes read are counted as fetched.
"""

from __future__ import annotations

import io
import logging
import os
import re
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from typing import BinaryIO, cast

from .errors import InputError
from .framing import FramedRecord, FramingLimits, FramingProblem, frame_records
from .ranges import RangeClient, RangeIgnored
from .sources import RecordGroup, RecordPointer
from .targeting import RecordTally

__all__ = ["frame_group"]

log = logging.getLogger(__name__)

_TARGET_URI = re.compile(rb"(?im)^warc-target-uri:[ \t]*<?([^\r\n>]*?)>?[ \t]*\r?$")
Frame = FramedRecord | FramingProblem


class _RangeIgnoredAt(Exception):
    """The server ignores Range requests; `remaining`: the pointers not read yet."""

    def __init__(self, remaining: tuple[RecordPointer, ...]) -> None:
        super().__init__("the server ignores Range requests")
        self.remaining = remaining


def _target_uri(header: bytes) -> str | None:
    match = _TARGET_URI.search(header)
    return match.group(1).decode("utf-8", "replace").strip() if match else None


def _checked(pointer: RecordPointer, record: FramedRecord) -> Frame:
    """The record, or a problem when it is not the one the index names."""
    if pointer.url is not None and record.warc_type == "response":
        found = _target_uri(record.header)
        if found is not None and found != pointer.url:
            return FramingProblem(
                pointer.offset, f"the record here is of {found!a}, the index names {pointer.url!a} (a wrong offset?)"
            )
    return record


def _frame_one(pointer: RecordPointer, data: bytes, limits: FramingLimits) -> list[Frame]:
    """The frames of one record's bytes: the record (checked) or problems, all at its offset."""

    def open_at(at: int) -> BinaryIO:
        return io.BytesIO(data[max(0, at - pointer.offset) :])

    frames = list(frame_records(open_at, limits, start=pointer.offset))
    first = frames[0] if frames else FramingProblem(pointer.offset, "no record in the range")
    if isinstance(first, FramedRecord) and first.offset != pointer.offset:  # pragma: no cover - framing starts there
        first = FramingProblem(pointer.offset, f"the range starts no record (the first is at {first.offset})")
    out = [_checked(pointer, first) if isinstance(first, FramedRecord) else first]
    if len(frames) > 1 and isinstance(out[0], FramedRecord):
        out.append(FramingProblem(pointer.offset, f"the index's length ({pointer.length} bytes) covers more than one "
                                                  "record; only the first was read"))  # fmt: skip
    return out


def _fetch_ahead(
    pointers: tuple[RecordPointer, ...], fetch: Callable[[RecordPointer], bytes], concurrency: int
) -> Generator[tuple[RecordPointer, bytes | BaseException], None, None]:
    """Each pointer with its bytes (or the exception its fetch raised), in order, `concurrency` fetched ahead."""
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="toxmine-fetch")
    pending: deque[tuple[RecordPointer, Future[bytes]]] = deque()
    todo = iter(pointers)
    try:
        for pointer in todo:
            pending.append((pointer, pool.submit(fetch, pointer)))
            if len(pending) >= 2 * concurrency:
                break
        while pending:
            pointer, future = pending.popleft()
            try:
                result: bytes | BaseException = future.result()
            except (InputError, RangeIgnored) as exc:
                result = exc
            following = next(todo, None)
            if following is not None:
                pending.append((following, pool.submit(fetch, following)))
            yield pointer, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _ranged(group: RecordGroup, client: RangeClient, limits: FramingLimits, tally: RecordTally | None
            ) -> Iterator[Frame]:  # fmt: skip
    """Frames of the group's records fetched by range; raises _RangeIgnoredAt at a server ignoring Range."""
    pointers = group.pointers
    deadline = group.deadline()  # one for the whole group, as for a whole file

    def fetch(pointer: RecordPointer) -> bytes:
        return client.read(group.location, pointer.offset, pointer.length, deadline)

    ahead = _fetch_ahead(pointers, fetch, group.concurrency)
    try:
        for index, (pointer, result) in enumerate(ahead):
            if isinstance(result, RangeIgnored):
                raise _RangeIgnoredAt(pointers[index:])
            if isinstance(result, BaseException):
                raise result
            frames = _frame_one(pointer, result, limits)
            if tally is not None and isinstance(frames[0], FramedRecord):
                tally.fetched(pointer.offset)
            yield from frames
    finally:
        client.cancel()  # stopped early (interrupted, given up): the fetches under way end now, not when done
        ahead.close()


def _streamed(group: RecordGroup, pointers: tuple[RecordPointer, ...], limits: FramingLimits,
              tally: RecordTally | None) -> Iterator[Frame]:  # fmt: skip
    """Frames of `pointers` read from one stream of the whole file (a server that ignores Range)."""
    wanted = {pointer.offset: pointer for pointer in pointers}
    last = max(wanted)
    source = group.whole_file()
    deadline = source.deadline()
    streams: list[tuple[int, BinaryIO]] = []

    def open_at(at: int) -> BinaryIO:
        stream = source.open(at, deadline)
        streams.append((at, stream))
        return stream

    log.warning("%s: the server ignores Range requests; reading the file as one stream for its %d records",
                group.warc_name, len(pointers))  # fmt: skip
    frames = cast(Generator[Frame, None, None], frame_records(open_at, limits, start=min(wanted)))
    seen: set[int] = set()
    try:
        for frame in frames:
            if frame.offset > last:
                break
            pointer = wanted.get(frame.offset)
            if pointer is None or frame.offset in seen:
                continue
            seen.add(frame.offset)
            checked = _checked(pointer, frame) if isinstance(frame, FramedRecord) else frame
            if tally is not None and isinstance(checked, FramedRecord):
                tally.fetched(pointer.offset)
            yield checked
    finally:
        frames.close()
        if tally is not None:
            tally.bytes_fetched += sum(max(0, stream.tell() - at) for at, stream in streams if not stream.closed)
            sizes = [getattr(stream, "size", None) for _, stream in streams]
            tally.bytes_whole = next((size for size in sizes if isinstance(size, int)), tally.bytes_whole)
    for offset in sorted(set(wanted) - seen):
        yield FramingProblem(offset, "no record starts at this offset (the index's offset is wrong?)")


def _local(group: RecordGroup, limits: FramingLimits, tally: RecordTally | None) -> Iterator[Frame]:
    """Frames of the group's records read from a local WARC file."""
    try:
        handle = open(group.location, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(group.warc_name, f"cannot open: {exc.strerror or exc}") from exc
    with handle:
        size = os.fstat(handle.fileno()).st_size
        if tally is not None:
            tally.bytes_whole = size
        for pointer in group.pointers:
            if pointer.offset + pointer.length > size:
                left = max(0, size - pointer.offset)
                yield FramingProblem(pointer.offset, f"the index names {pointer.length} bytes, the file has {left}")
                continue
            handle.seek(pointer.offset)
            data = handle.read(pointer.length)
            if tally is not None:
                tally.bytes_fetched += len(data)
            frames = _frame_one(pointer, data, limits)
            if tally is not None and isinstance(frames[0], FramedRecord):
                tally.fetched(pointer.offset)
            yield from frames


def frame_group(group: RecordGroup, limits: FramingLimits, tally: RecordTally | None = None) -> Iterator[Frame]:
    """Frames of the group's records, in offset order (see the module); `tally` counts what was fetched."""
    if not group.pointers:
        return
    if not group.is_url:
        yield from _local(group, limits, tally)
        return
    client = RangeClient(group.options, connections=group.concurrency)
    try:
        try:
            yield from _ranged(group, client, limits, tally)
            return
        except _RangeIgnoredAt as ignored:
            remaining = ignored.remaining
        yield from _streamed(group, remaining, limits, tally)
    finally:
        client.close()
        if tally is not None:
            tally.bytes_fetched += client.stats.bytes
            tally.bytes_whole = client.size_of(group.location) or tally.bytes_whole
