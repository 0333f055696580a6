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

import numpy as np
import pyarrow as pa

from .dedup import DedupOptions

__all__ = ["EXACT_BAND", "KEYS_SCHEMA", "keys_table"]

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


def keys_table(
    doc_ids: Sequence[str],
    digests: Sequence[str],
    signatures: Sequence[bytes],
    options: DedupOptions,
    rows: Sequence[int] | None = None,
    row_name: str = "row",
) -> pa.Table:
    """The bucket keys (bands + 1 per document) of documents numbered `rows` (default 0, 1, ...),
    in a column `row_name` ("ordinal" for the band files of stored documents)."""
    bands = options.bands
    khash: list[int] = []
    band_col: list[int] = []
    keys: list[bytes] = []
    row_col: list[int] = []
    id_col: list[str] = []
    width = options.rows * 4
    numbers = range(len(doc_ids)) if rows is None else rows
    for number, doc_id, digest, signature in zip(numbers, doc_ids, digests, signatures, strict=True):
        if len(signature) != bands * width:
            raise ValueError(f"document {doc_id}: signature has {len(signature)} bytes, expected {bands * width}")
        entries = [(b, signature[b * width : (b + 1) * width]) for b in range(bands)]
        entries.append((EXACT_BAND, bytes.fromhex(digest)))
        for band, key in entries:
            khash.append(zlib.crc32(key, band))
            band_col.append(band)
            keys.append(key)
            row_col.append(number)
            id_col.append(doc_id)
    return pa.table(
        {
            "khash": pa.array(np.asarray(khash, dtype=np.uint32)),
            "band": pa.array(np.asarray(band_col, dtype=np.uint8)),
            "key": pa.array(keys, pa.binary()),
            row_name: pa.array(row_col, pa.int64()),
            "doc_id": pa.array(id_col, pa.string()),
        }
    )
