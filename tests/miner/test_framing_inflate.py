"""Framing gives the same frames whatever inflates its gzip members and however its input arrives.

`framing` inflates with zlib-ng where installed (a dependency: faster) and the standard library's
zlib otherwise; both must give the same records and the same problems, error texts included, on
sound and damaged files. Reads that return a few bytes at a time must not change anything either
(the input of an HTTP stream arrives so; the framing's fast paths take whatever is buffered), except
in which of two faults a damaged member shows first (inflating in other steps: it always was so).
"""

from __future__ import annotations

import gzip
import io
import random
import zlib
from collections.abc import Callable
from typing import BinaryIO

import pytest

from toxmine.miner import framing
from toxmine.miner.demo import demo_warc_path
from toxmine.miner.framing import FramedRecord, FramingLimits, FramingProblem, frame_records

Frames = list[FramedRecord | FramingProblem]


class _Trickle(io.RawIOBase):
    """A stream whose reads return 1 to 5,000 bytes at a time (seeded), like an HTTP stream's."""

    def __init__(self, data: bytes, seed: int) -> None:
        self._data = io.BytesIO(data)
        self._sizes = random.Random(seed)

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        most = self._sizes.choice([1, 2, 3, 17, 512, 5000])
        return self._data.read(most if size < 0 else min(size, most))


def _opener(data: bytes, trickle: bool) -> Callable[[int], BinaryIO]:
    def open_at(at: int) -> BinaryIO:
        return _Trickle(data[at:], at) if trickle else io.BytesIO(data[at:])  # type: ignore[return-value]

    return open_at


def _frames(data: bytes, limits: FramingLimits, trickle: bool = False) -> Frames:
    return list(frame_records(_opener(data, trickle), limits))


def _variants() -> dict[str, tuple[bytes, FramingLimits]]:
    data = demo_warc_path().read_bytes()
    plain = gzip.decompress(data)
    flipped = bytearray(data)
    for at in random.Random(7).sample(range(len(data)), 40):  # corrupt members here and there
        flipped[at] ^= 0x55
    default, small = FramingLimits(), FramingLimits(max_block_bytes=3000, head_bytes=500, max_member_bytes=40_000)
    return {
        "sound": (data, default),
        "cut": (data[: len(data) * 2 // 3], default),
        "flipped bytes": (bytes(flipped), default),
        "junk between members": (data[:300_000] + b"\x00junk\xff" * 30 + data[300_000:], default),
        "whole-file gzip": (gzip.compress(plain[:3_000_000]), default),
        "whole-file gzip past the member bound": (gzip.compress(plain[:3_000_000]), small),
        "small limits": (data, small),
        "plain": (plain[:2_000_000], small),
    }


_VARIANTS = _variants()


def test_zlib_ng_inflates_where_installed() -> None:
    assert framing._ZLIB.__name__ == "zlib_ng.zlib_ng"


@pytest.mark.parametrize("name", sorted(_VARIANTS))
def test_stdlib_zlib_gives_the_same_frames(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    data, limits = _VARIANTS[name]
    fast = _frames(data, limits)
    monkeypatch.setattr(framing, "_ZLIB", zlib)
    assert _frames(data, limits) == fast


# where inflating in other steps shows another fault of a damaged member first
_STEP_DEPENDENT = {"flipped bytes", "whole-file gzip past the member bound"}


@pytest.mark.parametrize("name", sorted(set(_VARIANTS) - _STEP_DEPENDENT))
def test_reads_of_a_few_bytes_give_the_same_frames(name: str) -> None:
    data, limits = _VARIANTS[name]
    assert _frames(data, limits, trickle=True) == _frames(data, limits)


def test_the_variants_hold_records_and_problems() -> None:
    frames = {name: _frames(*variant) for name, variant in _VARIANTS.items()}
    problems = {name: [f for f in found if isinstance(f, FramingProblem)] for name, found in frames.items()}
    assert problems["sound"] == [] and len(frames["sound"]) > 400
    assert all(any(isinstance(f, FramedRecord) for f in found) for name, found in frames.items() if "bound" not in name)
    assert any("corrupt gzip member (Error -3 while decompressing data" in p.message for p in problems["flipped bytes"])
    assert [p.message for p in problems["cut"]] == ["truncated gzip member (the file ends inside it)"]
    assert [p.message for p in problems["whole-file gzip past the member bound"]] == [
        "gzip member inflates past 40000 bytes"
    ]
