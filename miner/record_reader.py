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
import threading
from collections import deque
from collections.abc import Callable, Generator, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import replace
from typing import BinaryIO, cast

from .errors import InputError
from .framing import FramedRecord, FramingLimits, FramingProblem, frame_records
from .http import HttpOptions
from .ranges import RangeClient, RangeIgnored, RangeStats
from .sources import RecordFile, RecordGroup, RecordPointer
from .targeting import RecordTally

__all__ = ["frame_group"]

log = logging.getLogger(__name__)

_TARGET_URI = re.compile(rb"(?im)^warc-target-uri:[ \t]*<?([^\r\n>]*?)>?[ \t]*\r?$")
Frame = FramedRecord | FramingProblem


Located = tuple[RecordFile, Frame]  # a frame and the WARC file it is of (offsets are per file)


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

    if not data.startswith((b"\x1f\x8b", b"WARC/")):
        return [FramingProblem(pointer.offset, "no record starts at this offset (the bytes there start neither a gzip "
                                               "member nor a WARC record: a wrong offset?)")]  # fmt: skip
    frames = list(frame_records(open_at, limits, start=pointer.offset))
    first = frames[0] if frames else FramingProblem(pointer.offset, "no record in the range")
    out = [_checked(pointer, first) if isinstance(first, FramedRecord) else first]
    if len(frames) > 1 and isinstance(out[0], FramedRecord):
        out.append(FramingProblem(pointer.offset, f"the index's length ({pointer.length} bytes) covers more than one "
                                                  "record; only the first was read"))  # fmt: skip
    return out


Item = tuple[RecordFile, RecordPointer]


def _fetch_ahead(
    items: list[Item], fetch: Callable[[Item], bytes], concurrency: int
) -> Generator[tuple[Item, bytes | BaseException], None, None]:
    """Each item with its bytes (or the exception its fetch raised), in order, `concurrency` fetched ahead."""
    pool = ThreadPoolExecutor(max_workers=concurrency, thread_name_prefix="toxmine-fetch")
    pending: deque[tuple[Item, Future[bytes]]] = deque()
    todo = iter(items)
    try:
        for item in todo:
            pending.append((item, pool.submit(fetch, item)))
            if len(pending) >= 2 * concurrency:
                break
        while pending:
            item, future = pending.popleft()
            try:
                result: bytes | BaseException = future.result()
            except (InputError, RangeIgnored) as exc:
                result = exc
            following = next(todo, None)
            if following is not None:
                pending.append((following, pool.submit(fetch, following)))
            yield item, result
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


# One client per worker process and HTTP options: its connections are reused by every group it reads.
_clients: dict[tuple[HttpOptions, int], RangeClient] = {}


def _client(options: HttpOptions, connections: int) -> RangeClient:
    client = _clients.get((options, connections))
    if client is None:
        client = _clients[(options, connections)] = RangeClient(options, connections)
    return client


def _ranged(group: RecordGroup, limits: FramingLimits, tally: RecordTally | None) -> Iterator[Located]:
    """Frames of the group's records over HTTP, fetched by range across its files; a file whose server ignores
    Range is read as one stream instead (its other fetches are not made, or dropped)."""
    client = _client(group.options, group.concurrency)
    ignored: set[str] = set()
    stats: dict[str, RangeStats] = {file.location: RangeStats() for file in group.files}
    deadline = group.deadline()  # one for the whole group, as for a whole file
    cancelled = threading.Event()

    def fetch(item: Item) -> bytes:
        file, pointer = item
        if file.location in ignored:
            raise RangeIgnored(file.location, None)
        return client.read(file.location, pointer.offset, pointer.length, deadline, stats[file.location], cancelled)

    items = [(file, pointer) for file in group.files for pointer in file.pointers]
    ahead = _fetch_ahead(items, fetch, group.concurrency)
    try:
        for (file, pointer), result in ahead:
            if file.location in ignored:
                continue
            if isinstance(result, RangeIgnored):
                ignored.add(file.location)
                remaining = tuple(p for p in file.pointers if p.offset >= pointer.offset)
                yield from ((file, frame) for frame in _streamed(file, remaining, group.options, limits, tally))
                continue
            if isinstance(result, BaseException):
                raise result
            yield from _framed(file, pointer, result, limits, tally)
    finally:
        cancelled.set()  # stopped early (interrupted, given up): the fetches under way end now, not when done
        ahead.close()
        if tally is not None:
            for file in group.files:
                tally.cost(file.warc_name, stats[file.location].bytes, client.size_of(file.location))


def _framed(file: RecordFile, pointer: RecordPointer, data: bytes, limits: FramingLimits,
            tally: RecordTally | None) -> Iterator[Located]:  # fmt: skip
    frames = _frame_one(pointer, data, limits)
    if tally is not None and isinstance(frames[0], FramedRecord):
        tally.fetched(file.warc_name, pointer.offset)
    for frame in frames:
        yield file, frame


def _streamed(file: RecordFile, pointers: tuple[RecordPointer, ...], options: HttpOptions, limits: FramingLimits,
              tally: RecordTally | None) -> Iterator[Frame]:  # fmt: skip
    """Frames of `pointers` read from one stream of the whole file (a server that ignores Range)."""
    wanted = {pointer.offset: pointer for pointer in pointers}
    last = max(wanted)
    source = file.whole_file(options)
    deadline = source.deadline()
    streams: list[tuple[int, BinaryIO]] = []

    def open_at(at: int) -> BinaryIO:
        stream = source.open(at, deadline)
        streams.append((at, stream))
        return stream

    log.warning("%s: the server ignores Range requests; reading the file as one stream for its %d records",
                file.warc_name, len(pointers))  # fmt: skip
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
                tally.fetched(file.warc_name, pointer.offset)
            yield checked
    finally:
        frames.close()
        if tally is not None:
            sizes = [size for _, stream in streams if isinstance(size := getattr(stream, "size", None), int)]
            read = sum(max(0, stream.tell() - at) for at, stream in streams)  # an HTTP stream's position outlives it
            tally.cost(file.warc_name, read, sizes[0] if sizes else None)
    for offset in sorted(set(wanted) - seen):
        yield FramingProblem(offset, "no record starts at this offset (the index's offset is wrong?)")


def _local(file: RecordFile, limits: FramingLimits, tally: RecordTally | None) -> Iterator[Located]:
    """Frames of a file's records read from a local WARC file."""
    try:
        handle = open(file.location, "rb")  # noqa: SIM115 - closed below
    except OSError as exc:
        raise InputError(file.warc_name, f"cannot open: {exc.strerror or exc}") from exc
    with handle:
        size = os.fstat(handle.fileno()).st_size
        read = 0
        try:
            for pointer in file.pointers:
                if pointer.offset + pointer.length > size:
                    left = max(0, size - pointer.offset)
                    message = f"the index names {pointer.length} bytes, the file has {left}"
                    yield file, FramingProblem(pointer.offset, message)
                    continue
                handle.seek(pointer.offset)
                data = handle.read(pointer.length)
                read += len(data)
                yield from _framed(file, pointer, data, limits, tally)
        finally:
            if tally is not None:
                tally.cost(file.warc_name, read, size)


def frame_group(group: RecordGroup, limits: FramingLimits, tally: RecordTally | None = None) -> Iterator[Located]:
    """Frames of the group's records with their files, in (file, offset) order, local files' first (see the
    module); `tally` counts what was fetched."""
    local = [file for file in group.files if not file.is_url]
    for file in local:
        yield from _local(file, limits, tally)
    if len(local) < len(group.files):
        remote = replace(group, files=tuple(file for file in group.files if file.is_url))
        yield from _ranged(remote, limits, tally)
