"""The bucket keys of stored kept documents, as the Parquet files the near-dedup reads.

Each committed unit adds its file (`band_files`). A database mined before this layout, or one
whose band folder was lost or moved without it, has its files rebuilt once from `doc_minhash`
(streamed, in chunks), so later runs deduplicate against everything stored either way.
"""

from __future__ import annotations

import logging
import os
import uuid

import pyarrow.compute as pc
import pyarrow.parquet as pq

from .bands import keys_table
from .dedup import DedupOptions
from .errors import StoreError
from .store import Store

__all__ = ["bands_folder_for", "stored_band_files"]

log = logging.getLogger(__name__)

_CHUNK = 100_000  # kept documents per rebuilt file


def bands_folder_for(db_path: str) -> str:
    """Where a database keeps its band files: `<database>.data/bands` beside it."""
    return os.path.join(os.path.abspath(db_path) + ".data", "bands")


def stored_band_files(store: Store, folder: str, options: DedupOptions) -> list[str]:
    """Paths of the band files covering every stored kept document (rebuilt when they do not)."""
    files = store.band_files()
    paths = [os.path.join(folder, name) for name, _ in files]
    kept = store.kept_count()
    recorded = sum(n for _, n in files) == kept
    if recorded and all(os.path.exists(path) for path in paths):
        return paths
    layout = store.con.execute("SELECT value FROM settings WHERE key = 'storage.layout'").fetchone()
    if layout and layout[0] == "parquet":  # its units are its documents' files: keep them, rebuild lost ones
        if not recorded:
            raise StoreError(
                f"{store.path}: its units hold {sum(n for _, n in files)} kept documents but doc_minhash shows "
                f"{kept}; restore the files of {os.path.dirname(folder)} (see `band_files`)"
            )
        _rebuild_units(store, folder, options, {n for n, _ in files if not os.path.exists(os.path.join(folder, n))})
        return paths
    log.warning("%s: rebuilding the band files of %d kept documents from doc_minhash", store.path, kept)
    os.makedirs(folder, exist_ok=True)
    tag = uuid.uuid4().hex[:8]
    rows: list[tuple[str, int, int, int]] = []
    chunk: list[tuple[str, str, bytes, int]] = []

    def flush() -> None:
        if not chunk:
            return
        ids, digests, signatures, seqs = zip(*chunk, strict=True)
        table = keys_table(ids, digests, signatures, options, seqs, "ordinal")
        table = table.take(pc.sort_indices(table, [("khash", "ascending"), ("ordinal", "ascending")]))
        name = f"rebuilt-{tag}-{len(rows):05d}.parquet"
        pq.write_table(table, os.path.join(folder, f"{name}.tmp"), compression="zstd", row_group_size=8192)
        os.replace(os.path.join(folder, f"{name}.tmp"), os.path.join(folder, name))
        rows.append((name, seqs[0], seqs[-1] - seqs[0] + 1, len(chunk)))
        chunk.clear()

    for row in store.kept_signatures():
        chunk.append(row)
        if len(chunk) >= _CHUNK:
            flush()
    flush()
    store.replace_band_files(rows)
    return [os.path.join(folder, name) for name, *_ in rows]


def _write(folder: str, name: str, chunk: list[tuple[str, str, bytes, int]], options: DedupOptions) -> None:
    ids, digests, signatures, seqs = zip(*chunk, strict=True) if chunk else ((), (), (), ())
    table = keys_table(ids, digests, signatures, options, seqs, "ordinal")
    table = table.take(pc.sort_indices(table, [("khash", "ascending"), ("ordinal", "ascending")]))
    work = os.path.join(folder, f"{name}.{uuid.uuid4().hex}.tmp")
    pq.write_table(table, work, compression="zstd", row_group_size=8192)
    os.replace(work, os.path.join(folder, name))


def _rebuild_units(store: Store, folder: str, options: DedupOptions, lost: set[str]) -> None:
    """Write the `lost` band files of recorded units again, each from its ordinal range of
    doc_minhash, keeping their rows in `band_files` (with `--layout parquet` they also say which
    documents files the views show)."""
    log.warning("%s: rebuilding %d lost band files from doc_minhash", store.path, len(lost))
    os.makedirs(folder, exist_ok=True)
    ranges = store.con.execute(
        "SELECT path, first_ordinal, first_ordinal + n_documents FROM band_files ORDER BY first_ordinal, path"
    ).fetchall()
    at = 0
    chunk: list[tuple[str, str, bytes, int]] = []
    for row in store.kept_signatures():
        while at < len(ranges) and row[3] >= ranges[at][2]:
            if ranges[at][0] in lost:
                _write(folder, str(ranges[at][0]), chunk, options)
            chunk, at = [], at + 1
        if at == len(ranges) or row[3] < ranges[at][1]:
            raise StoreError(f"{store.path}: kept document {row[0]} (seq {row[3]}) is in no unit of band_files")
        chunk.append(row)
    for name, *_ in ranges[at:]:
        if name in lost:
            _write(folder, str(name), chunk, options)
        chunk = []
