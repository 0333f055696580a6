"""Bucket keys of a document for near-dedup: one per LSH band of its MinHash signature, plus
one for its exact text hash.

Two documents collide, as in `DedupIndex`, when they share the exact key or any band key. The
keys are the band's raw signature values (no hash of them), so a shuffle of keys finds exactly
the collisions datasketch's `MinHashLSH` finds. `khash` (CRC-32 of band and key) only picks the
partition a key is shuffled to (a contiguous `khash` range per partition, see
`neardup.key_range`); files of keys are sorted by it.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence
from typing import cast

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from .dedup import DedupOptions

__all__ = ["EXACT_BAND", "KEYS_DICTIONARY", "KEYS_SCHEMA", "crc32_rows", "keys_table"]

EXACT_BAND = 255  # the band number of the exact text-hash key

KEYS_SCHEMA = pa.schema(
    [
        ("khash", pa.uint32()),  # partition chooser
        ("band", pa.uint8()),
        ("key", pa.binary()),
        ("row", pa.int64()),  # the document's row in its unit (its ordinal once the unit's start is known)
        ("doc_id", pa.string()),
    ]
)


KEYS_DICTIONARY = ["band", "doc_id"]  # the columns of key files worth dictionary-encoding (khash and key are random)


def _crc32_table() -> np.ndarray:
    """The byte table of CRC-32 (zlib's polynomial, reflected)."""
    table = np.arange(256, dtype=np.uint32)
    for _ in range(8):
        table = np.where(table & 1, (table >> 1) ^ np.uint32(0xEDB88320), table >> 1).astype(np.uint32)
    return table


_CRC_TABLE = _crc32_table()


def crc32_rows(keys: np.ndarray, start: np.ndarray) -> np.ndarray:
    """`zlib.crc32(row, start)` of every row of the uint8 matrix `keys` at once (one step per column)."""
    crc = np.asarray(start, dtype=np.uint32) ^ np.uint32(0xFFFFFFFF)
    for column in keys.T:
        crc = _CRC_TABLE[(crc ^ column) & 0xFF] ^ (crc >> 8)
    return crc ^ np.uint32(0xFFFFFFFF)


def _binary(values: Sequence[bytes] | pa.Array | pa.ChunkedArray) -> pa.BinaryArray:
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    array = values if isinstance(values, pa.Array) else pa.array(values, pa.binary())
    return cast(pa.BinaryArray, array.cast(pa.binary()))


def _rows_of(array: pa.BinaryArray, width: int) -> np.ndarray:
    """The values of a binary array without nulls, each `width` bytes long, as a uint8 matrix."""
    offsets = np.frombuffer(array.buffers()[1], dtype=np.int32)[array.offset : array.offset + len(array) + 1]
    data = array.buffers()[2]
    values = np.frombuffer(data, dtype=np.uint8) if data is not None else np.empty(0, np.uint8)
    return values[offsets[0] : offsets[-1]].reshape(len(array), width)


def keys_table(
    doc_ids: Sequence[str] | pa.Array | pa.ChunkedArray,
    digests: Sequence[str] | pa.Array | pa.ChunkedArray,
    signatures: Sequence[bytes] | pa.Array | pa.ChunkedArray,
    options: DedupOptions,
    rows: Sequence[int] | None = None,
    row_name: str = "row",
) -> pa.Table:
    """The bucket keys (bands + 1 per document, in that order) of documents numbered `rows`
    (default 0, 1, ...), in a column `row_name` ("ordinal" for the band files of stored documents)."""
    bands, width = options.bands, options.rows * 4
    ids = doc_ids if isinstance(doc_ids, pa.Array | pa.ChunkedArray) else pa.array(doc_ids, pa.string())
    hex_digests = digests.to_pylist() if isinstance(digests, pa.Array | pa.ChunkedArray) else list(digests)
    signature_array = _binary(signatures)
    n = len(signature_array)
    if not len(ids) == len(hex_digests) == n or (rows is not None and len(rows) != n):
        raise ValueError("keys_table: doc_ids, digests, signatures and rows differ in length")
    lengths = pc.fill_null(pc.binary_length(signature_array), -1).to_numpy()
    wrong = np.flatnonzero(lengths != bands * width)
    if len(wrong):
        first = int(wrong[0])
        raise ValueError(f"document {ids[first].as_py()}: signature has {max(0, int(lengths[first]))} bytes, "
                         f"expected {bands * width}")  # fmt: skip
    exact = [bytes.fromhex(digest) for digest in hex_digests]
    per_doc = bands + 1
    band_keys = _rows_of(signature_array, bands * width).reshape(n * bands, width)
    band_numbers = np.tile(np.arange(bands, dtype=np.uint32), n)
    khash = np.empty((n, per_doc), dtype=np.uint32)
    khash[:, :bands] = crc32_rows(band_keys, band_numbers).reshape(n, bands)
    exact_width = len(exact[0]) if exact else 0
    if all(len(key) == exact_width for key in exact):  # one width (text_hash's 16 bytes): all keys in one go
        exact_keys = np.frombuffer(b"".join(exact), dtype=np.uint8).reshape(n, exact_width)
        khash[:, bands] = crc32_rows(exact_keys, np.full(n, EXACT_BAND, dtype=np.uint32))
        data = np.concatenate([band_keys.reshape(n, bands * width), exact_keys], axis=1).tobytes()
        key_lengths = np.tile(np.array([width] * bands + [exact_width], dtype=np.int32), n)
    else:
        khash[:, bands] = [zlib.crc32(key, EXACT_BAND) for key in exact]
        signature_bytes = band_keys.reshape(n, bands * width)
        data = b"".join(signature_bytes[i].tobytes() + exact[i] for i in range(n))
        key_lengths = np.tile(np.array([width] * bands + [0], dtype=np.int32), n)
        key_lengths[bands::per_doc] = [len(key) for key in exact]
    offsets = np.zeros(n * per_doc + 1, dtype=np.int32)
    np.cumsum(key_lengths, out=offsets[1:])
    keys = pa.Array.from_buffers(pa.binary(), n * per_doc, [None, pa.py_buffer(offsets), pa.py_buffer(data)])
    numbers = np.arange(n, dtype=np.int64) if rows is None else np.asarray(rows, dtype=np.int64)
    band_column = np.tile(np.array([*range(bands), EXACT_BAND], dtype=np.uint8), n)
    return pa.table(
        {
            "khash": pa.array(khash.ravel()),
            "band": pa.array(band_column),
            "key": keys,
            row_name: pa.array(np.repeat(numbers, per_doc)),
            "doc_id": pc.take(ids, pa.array(np.repeat(np.arange(n, dtype=np.int64), per_doc))),
        }
    )
