"""Per-input spill files: workers stream processed documents to files on disk (Arrow IPC, which
costs next to nothing to write and is read back memory-mapped; Parquet when the name ends in
`.parquet`), and the single writer process loads them into DuckDB. Memory stays flat however
large the input, and an input's rows reach the database in one transaction."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from datetime import datetime, timezone
from types import TracebackType

import pyarrow as pa
import pyarrow.ipc
import pyarrow.parquet as pq

from .records import Document

__all__ = ["SPILL_SCHEMA", "SpillWriter", "read_spill", "read_spills_in_order"]

SPILL_SCHEMA = pa.schema(
    [
        ("doc_id", pa.string()),
        ("url", pa.string()),
        ("crawl", pa.string()),
        ("warc_file", pa.string()),
        ("warc_record_id", pa.string()),
        ("warc_offset", pa.int64()),
        ("fetch_time", pa.timestamp("us")),
        ("lang", pa.string()),
        ("script", pa.string()),
        ("lang_score", pa.float64()),
        ("text", pa.large_string()),
        ("n_chars", pa.int32()),
        ("text_hash", pa.string()),
        ("minhash", pa.binary()),
        ("extractor", pa.string()),
        ("extractor_version", pa.string()),
    ]
)


def _timestamp(value: str | None) -> datetime | None:
    """A WARC-Date as naive UTC, or None when absent or unparseable."""
    if not value:
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is not None:
        parsed = parsed.astimezone(timezone.utc).replace(tzinfo=None)
    return parsed


class SpillWriter:
    """Append batches of documents to one Arrow IPC file, or a Parquet file when `path` ends in `.parquet`."""

    def __init__(self, path: str) -> None:
        parquet = path.endswith(".parquet")
        self.path = path
        self.rows = 0
        self._sink = pa.OSFile(path, "wb")
        self._writer: pq.ParquetWriter | pa.ipc.RecordBatchFileWriter = (
            pq.ParquetWriter(self._sink, SPILL_SCHEMA, compression="zstd")
            if parquet
            else pa.ipc.new_file(self._sink, SPILL_SCHEMA)
        )

    def write(self, docs: list[Document]) -> None:
        if not docs:
            return
        columns = {
            "doc_id": [d.doc_id for d in docs],
            "url": [d.url for d in docs],
            "crawl": [d.crawl for d in docs],
            "warc_file": [d.warc_file for d in docs],
            "warc_record_id": [d.warc_record_id for d in docs],
            "warc_offset": [d.warc_offset for d in docs],
            "fetch_time": [_timestamp(d.fetch_time) for d in docs],
            "lang": [d.lang for d in docs],
            "script": [d.script for d in docs],
            "lang_score": [d.lang_score for d in docs],
            "text": [d.text for d in docs],
            "n_chars": [len(d.text) for d in docs],
            "text_hash": [d.text_hash for d in docs],
            "minhash": [d.minhash for d in docs],
            "extractor": [d.extractor for d in docs],
            "extractor_version": [d.extractor_version for d in docs],
        }
        self._writer.write_batch(pa.record_batch(columns, schema=SPILL_SCHEMA))
        self.rows += len(docs)

    def close(self) -> None:
        self._writer.close()
        self._sink.close()

    def __enter__(self) -> SpillWriter:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()


def read_spill(path: str) -> Iterator[pa.RecordBatch]:
    """The record batches of a spill file (Arrow IPC, or Parquet by its `.parquet` name), in order."""
    if path.endswith(".parquet"):
        yield from pq.ParquetFile(path).iter_batches(batch_size=1024)
        return
    with pa.memory_map(path, "r") as source:
        reader = pa.ipc.open_file(source)
        for index in range(reader.num_record_batches):
            yield reader.get_batch(index)


def read_spills_in_order(paths: Sequence[str], batch_rows: int = 1024) -> Iterator[pa.RecordBatch]:
    """The documents of several spill files of one input (its parts), merged into record order
    (by `warc_offset`); a single file is read as it is."""
    if len(paths) == 1:
        yield from read_spill(paths[0])
        return

    def rows(path: str) -> Iterator[dict[str, object]]:
        for batch in read_spill(path):
            yield from batch.to_pylist()

    merged: list[dict[str, object]] = []
    for row in heapq.merge(*(rows(path) for path in paths), key=lambda row: row["warc_offset"]):  # type: ignore[arg-type, return-value]
        merged.append(row)
        if len(merged) >= batch_rows:
            yield pa.RecordBatch.from_pylist(merged, schema=SPILL_SCHEMA)
            merged = []
    if merged:
        yield pa.RecordBatch.from_pylist(merged, schema=SPILL_SCHEMA)
