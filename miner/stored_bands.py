"""The bucket keys of stored kept documents, as the Parquet files the near-dedup reads.

Each committed unit adds its file (`band_files`). A file that is missing (a `.data` folder lost,
or a database moved without it) is made again from `doc_minhash`, under its own name, and kept
documents that no unit covers (a database mined before band files existed) get rebuilt files of
their own; `band_files` rows are only ever added, since with `--layout parquet` the same rows say which
units the `documents` view shows. Either way later runs deduplicate against everything stored.
"""

from __future__ import annotations

import logging
import os
import uuid

import pyarrow.compute as pc

from .band_segments import drop_broken_generations, segment_keys, uncompacted_units
from .bands import KEYS_DICTIONARY, keys_table
from .dedup import DedupOptions
from .neardup import StoredKeys
from .store import Store
from .task_files import parquet_intact, write_parquet

__all__ = ["bands_folder_for", "stored_band_files"]

log = logging.getLogger(__name__)

_CHUNK = 100_000  # kept documents per rebuilt file


def bands_folder_for(db_path: str) -> str:
    """Where a database keeps its band files: `<database>.data/bands` beside it."""
    return os.path.join(os.path.abspath(db_path) + ".data", "bands")


def _write(path: str, chunk: list[tuple[str, str, bytes, int]], options: DedupOptions) -> None:
    ids, digests, signatures, seqs = zip(*chunk, strict=True) if chunk else ((), (), (), ())
    table = keys_table(ids, digests, signatures, options, seqs, "ordinal")
    table = table.take(pc.sort_indices(table, [("khash", "ascending"), ("ordinal", "ascending")]))
    write_parquet(table, path, dictionary=KEYS_DICTIONARY)


def stored_band_files(store: Store, folder: str, options: DedupOptions) -> list[StoredKeys]:
    """The key files covering every stored kept document: the segments of compacted units and the
    band files of the others (made again where missing, see `band_segments`)."""
    os.makedirs(folder, exist_ok=True)
    drop_broken_generations(store, folder)
    own_files = set(uncompacted_units(store))  # the others' keys are in segments
    for name, first, count in store.band_file_ranges():
        if name not in own_files:
            continue
        path = os.path.join(folder, name)
        if not parquet_intact(path):
            log.warning("%s: band file missing or damaged, made again from doc_minhash", path)
            _write(path, list(store.kept_rows(first, first + count - 1)), options)
    tag = uuid.uuid4().hex[:8]
    added: list[tuple[str, int, int, int]] = []
    chunk: list[tuple[str, str, bytes, int]] = []

    def flush() -> None:
        name = f"rebuilt-{tag}-{len(added):05d}.parquet"
        _write(os.path.join(folder, name), chunk, options)
        added.append((name, chunk[0][3], chunk[-1][3] - chunk[0][3] + 1, len(chunk)))
        chunk.clear()

    for row in store.uncovered_kept_rows():  # kept documents no unit covers: an older database
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            flush()
    if chunk:
        flush()
    if added:
        log.warning("%s: band files made for %d kept documents mined before them", store.path, sum(r[3] for r in added))
        store.add_band_files(added)
    return [StoredKeys(os.path.join(folder, unit)) for unit in uncompacted_units(store)] + segment_keys(store, folder)
