"""Bucket keys computed at once (numpy) are the keys the definition gives, document by document:
each band's slice of the signature and the exact hash's bytes, `khash` = `zlib.crc32(key, band)`
(stored band files of earlier runs hold those values, and partitions are chosen by them)."""

from __future__ import annotations

import random
import zlib

import numpy as np
import pyarrow as pa
import pytest

from toxmine.miner.bands import EXACT_BAND, crc32_rows, keys_table
from toxmine.miner.dedup import DedupOptions, text_hash

OPTIONS = DedupOptions()
WIDTH = OPTIONS.rows * 4


Key = tuple[int, int, bytes, int, str]


def _expected(ids: list[str], digests: list[str], signatures: list[bytes], rows: list[int]) -> list[Key]:
    expected: list[Key] = []
    for row, doc_id, digest, signature in zip(rows, ids, digests, signatures, strict=True):
        keys = [(band, signature[band * WIDTH : (band + 1) * WIDTH]) for band in range(OPTIONS.bands)]
        for band, key in [*keys, (EXACT_BAND, bytes.fromhex(digest))]:
            expected.append((zlib.crc32(key, band), band, key, row, doc_id))
    return expected


@pytest.mark.parametrize("digest_bytes", [16, None])  # text_hash's width; mixed widths
def test_keys_are_the_definitions_keys(digest_bytes: int | None) -> None:
    rng = random.Random(7)
    n = 300
    ids = [f"doc{i}" for i in range(n)]
    digests = [text_hash(f"text {i}") if digest_bytes else rng.randbytes(rng.randint(1, 20)).hex() for i in range(n)]
    signatures = [rng.randbytes(OPTIONS.bands * WIDTH) for _ in range(n)]
    rows = [1000 + 3 * i for i in range(n)]
    for given in ((ids, digests, signatures), (pa.array(ids), pa.array(digests), pa.array(signatures, pa.binary()))):
        table = keys_table(*given, OPTIONS, rows, "ordinal")
        assert table.column_names == ["khash", "band", "key", "ordinal", "doc_id"]
        assert list(zip(*(table.column(i).to_pylist() for i in range(5)), strict=True)) == _expected(
            ids, digests, signatures, rows
        )


def test_a_sliced_arrow_column_and_no_documents() -> None:
    rng = random.Random(3)
    signatures = pa.array([rng.randbytes(OPTIONS.bands * WIDTH) for _ in range(10)], pa.binary()).slice(4, 5)
    ids, digests = [f"d{i}" for i in range(5)], [text_hash(str(i)) for i in range(5)]
    table = keys_table(ids, digests, signatures, OPTIONS)
    assert table.column("key").to_pylist()[0] == signatures[0].as_py()[:WIDTH]
    assert table.column("row").to_pylist() == [row for row in range(5) for _ in range(OPTIONS.bands + 1)]
    assert keys_table([], [], [], OPTIONS).num_rows == 0


def test_a_signature_of_the_wrong_length_is_named() -> None:
    signatures = [bytes(OPTIONS.bands * WIDTH), bytes(OPTIONS.bands * WIDTH - 1)]
    with pytest.raises(ValueError, match="document b: signature has"):
        keys_table(["a", "b"], [text_hash("a"), text_hash("b")], signatures, OPTIONS)


def test_crc32_rows_is_zlibs() -> None:
    rng = np.random.default_rng(1)
    keys = rng.integers(0, 256, size=(500, 13), dtype=np.uint8)
    starts = rng.integers(0, 1 << 32, size=500, dtype=np.uint64).astype(np.uint32)
    found = crc32_rows(keys, starts)
    assert [int(v) for v in found] == [zlib.crc32(row.tobytes(), int(s)) for row, s in zip(keys, starts, strict=True)]
