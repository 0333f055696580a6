"""Mining work units and their files.

A unit is an input, or a contiguous record range of a large local file (by byte offset), so that
a few large files keep many CPUs busy to the end. `mine_unit` (any worker) writes the unit's
documents with their MinHash signatures (Arrow IPC: next to nothing to write, read back
memory-mapped) and their bucket keys (Parquet, sorted by `khash`); once the near-dedup decision is
known, `finalize_unit` writes what is stored: the documents with `dup_of` and the kept documents'
signatures (Parquet for the Parquet layout, which keeps them; else Arrow IPC, which the writer
inserts), and their bucket keys for later runs to deduplicate against. Every file is
written under a temporary name and renamed, and a unit's marker last, so a retried or resumed
task finds a whole unit (and returns it without redoing the work) or nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections import Counter
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .bands import KEYS_DICTIONARY, keys_table
from .errors import StoreError
from .langid import FastTextLid, default_lid_model_path
from .neardup import DECISIONS_SCHEMA
from .process import InputResult, ProcessOptions, merge_parts, process_input
from .sources import InputSource, LocalFile
from .store import InputOutcome
from .tables import DOC_MINHASH, DOCUMENTS
from .task_files import read_marker, read_table_file, task_connection, write_marker, write_parquet, write_table_file

__all__ = [
    "DEFAULT_UNIT_MB",
    "FinalUnit",
    "FinalizeTask",
    "MineTask",
    "Unit",
    "UnitResult",
    "finalize_unit",
    "mine_unit",
    "plan_units",
    "share_lid",
    "unit_files",
]

log = logging.getLogger(__name__)

_UNIT_FORMAT = 3  # part of every unit key: a change of layout never reuses old unit files
DEFAULT_UNIT_MB = 256  # a 1 GB Common Crawl WARC file is 4 units
_MAX_PARTS = 8  # each part reads its file from the start to its range's end: m parts cost (m+1)/2 reads


@dataclass(frozen=True)
class Unit:
    """Part `part` of `parts` of input number `index` (records at `offsets`; None: all)."""

    index: int
    source: InputSource
    part: int
    parts: int
    offsets: tuple[int, int] | None
    key: str


def _size(source: InputSource) -> int:
    try:
        return os.path.getsize(source.path) if isinstance(source, LocalFile) else 0
    except OSError:
        return 0


def _unit_key(source: InputSource, part: int, parts: int, options: ProcessOptions) -> str:
    config = json.dumps(asdict(options), sort_keys=True, default=sorted)
    text = f"{_UNIT_FORMAT}\x00{source.name}\x00{part}/{parts}\x00{config}"
    return hashlib.blake2b(text.encode(), digest_size=12).hexdigest()


def plan_units(todo: list[InputSource], options: ProcessOptions, unit_bytes: int = DEFAULT_UNIT_MB << 20) -> list[Unit]:
    """The units of `todo`, in input order: local files over `unit_bytes` are cut into up to 8
    byte ranges (the size, not the number of workers, decides, so a resumed run on another
    cluster reuses every finished unit); remote inputs are read once, whole."""
    units = []
    for index, source in enumerate(todo):
        size = _size(source)
        parts = min(_MAX_PARTS, max(1, -(-size // unit_bytes))) if size else 1
        for part in range(parts):
            offsets = None if parts == 1 else (part * size // parts, (part + 1) * size // parts)
            units.append(Unit(index, source, part, parts, offsets, _unit_key(source, part, parts, options)))
    return units


# -- mining a unit (any worker) -----------------------------------------------------------------
@dataclass(frozen=True)
class MineTask:
    unit: Unit
    options: ProcessOptions
    folder: str


@dataclass
class UnitResult:
    """A mined unit: its raw result (documents file in `spill_paths`) and its keys file."""

    unit: Unit
    result: InputResult
    keys_path: str


# One LID model per worker process, loaded on its first unit (fastText models cannot be pickled);
# the slot is that process's own. Likewise one extraction sandbox per worker process.
_worker_lid: dict[str, FastTextLid] = {}


def share_lid(lid: FastTextLid) -> None:
    """Let units mined in this process use `lid` instead of loading the model again."""
    _worker_lid[lid.model_path] = lid


def _lid(options: ProcessOptions) -> FastTextLid:
    path = options.lid.model_path or default_lid_model_path()  # the key `share_lid` stores under
    lid = _worker_lid.get(path)
    if lid is None:
        lid = _worker_lid[path] = FastTextLid(path)
    return lid


def unit_files(folder: str, key: str) -> tuple[str, str, str]:
    """A mined unit's documents, keys and marker files in `folder`."""
    stem = os.path.join(folder, key)
    return f"{stem}.docs.arrow", f"{stem}.keys.parquet", f"{stem}.json"


def _outcome_json(result: InputResult) -> dict[str, Any]:
    outcome = asdict(result.outcome)
    for name in ("started_at", "finished_at"):
        outcome[name] = outcome[name].isoformat()
    return {"outcome": outcome, "n_documents": result.n_documents, "problems": result.problems}


def _outcome_from_json(data: dict[str, Any], docs: str) -> InputResult:
    outcome = dict(data["outcome"])
    for name in ("started_at", "finished_at"):
        outcome[name] = datetime.fromisoformat(outcome[name])
    problems = [(int(offset), str(message)) for offset, message in data["problems"]]
    return InputResult(InputOutcome(**outcome), [docs], int(data["n_documents"]), problems)


def _unreadable(result: InputResult) -> bool:
    """Whether a unit's reading failed (the input, or every record it met), as `merge_parts` settles it."""
    return merge_parts([result]).outcome.status == "failed"


def mine_unit(task: MineTask) -> UnitResult:
    """Mine one unit into its documents and keys files; a unit already mined is returned as it is."""
    unit, options = task.unit, task.options
    docs, keys, marker = unit_files(task.folder, unit.key)
    found = read_marker(marker)
    if found is not None:
        stored = _outcome_from_json(found, docs)
        if not _unreadable(stored):  # a failure is no finished unit: the next run reads the input again
            return UnitResult(unit, stored, keys)
    os.makedirs(task.folder, exist_ok=True)
    log.debug("mining unit %d/%d of %s", unit.part + 1, unit.parts, unit.source.name)
    work = f"{docs}.{uuid.uuid4().hex}.tmp"
    try:
        result = process_input(unit.source, options, _lid(options), work, offsets=unit.offsets)
        table = read_table_file(work)
        key_rows = keys_table(table.column("doc_id"), table.column("text_hash"), table.column("minhash"), options.dedup)
        key_rows = key_rows.take(pc.sort_indices(key_rows, [("khash", "ascending"), ("row", "ascending")]))
        write_parquet(key_rows, keys, dictionary=KEYS_DICTIONARY)
        os.replace(work, docs)
    finally:
        if os.path.exists(work):
            os.remove(work)
    result.spill_paths = [docs]
    write_marker(marker, _outcome_json(result))  # last: the unit is whole once its marker exists
    return UnitResult(unit, result, keys)


# -- finalizing a unit (any worker) -------------------------------------------------------------
@dataclass(frozen=True)
class FinalizeTask:
    """A mined unit whose documents are numbered from `start`, the decision files, and where the
    stored files go (`bands_folder` is kept for later runs)."""

    key: str
    docs_path: str
    keys_path: str
    start: int
    n_documents: int
    decisions: tuple[str, ...]
    folder: str
    bands_folder: str
    memory_limit: str = "1GB"
    index_langs: tuple[tuple[str, int, str], ...] = ()  # a record group's (WARC file, offset, index language)
    file_format: str = "arrow"  # of the documents and signatures: "parquet" (the Parquet layout's) or "arrow"


@dataclass(frozen=True)
class FinalUnit:
    """What one unit stores: documents (with dup_of), kept signatures, and kept bucket keys."""

    key: str
    documents_path: str
    signatures_path: str
    bands_file: str  # name in the bands folder
    start: int
    n_documents: int
    n_duplicates: int
    languages: dict[str, list[int]] = field(default_factory=dict)  # lang -> [kept, duplicates]
    index_kept: dict[str, int] = field(default_factory=dict)  # a record group's kept documents by index language


def _decision_tag(task: FinalizeTask) -> str:
    """What a finalized unit depends on besides its key: its ordinals, the decision (whose folder
    is named by everything it depends on) and the files' format, so that a resumed run whose inputs,
    or whose stored documents, changed never takes a unit finalized for another decision."""
    text = "\x00".join([str(task.start), str(task.n_documents), task.file_format, *task.decisions])
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _duplicates(task: FinalizeTask) -> pa.Table:
    """The decisions (ordinal, dup_of) in the unit's ordinal range."""
    if not task.decisions:
        return DECISIONS_SCHEMA.empty_table()
    con = task_connection(task.memory_limit)
    try:
        return con.sql(
            "SELECT ordinal, dup_of FROM read_parquet($files) WHERE ordinal BETWEEN $first AND $last",
            params={"files": list(task.decisions), "first": task.start, "last": task.start + task.n_documents - 1},
        ).to_arrow_table()
    finally:
        con.close()


def _dup_of_column(dups: pa.Table, start: int, n_documents: int) -> pa.Array:
    """`dup_of` of the unit's documents in order (null: kept), from their decisions."""
    slot = np.full(n_documents, -1, dtype=np.int64)
    slot[dups.column("ordinal").to_numpy() - start] = np.arange(dups.num_rows)
    return pc.take(dups.column("dup_of"), pa.array(slot, mask=slot < 0)).combine_chunks().cast(pa.string())


def _languages(lang: pa.ChunkedArray, duplicate: pa.Array) -> dict[str, list[int]]:
    """lang -> [kept, duplicates] of the unit's documents."""
    counts = pa.table({"lang": lang, "dup": pc.cast(duplicate, pa.int64())}).group_by("lang", use_threads=False)
    rows = counts.aggregate([("dup", "sum"), ("dup", "count")]).to_pylist()
    return {str(row["lang"]): [int(row["dup_count"] - row["dup_sum"]), int(row["dup_sum"])] for row in rows}


def _kept_by_index_language(kept: pa.Table, index_langs: tuple[tuple[str, int, str], ...]) -> dict[str, int]:
    """A record group's kept documents (not duplicates) counted by the index language of their record."""
    if not index_langs:
        return {}
    language = {(warc, offset): lang for warc, offset, lang in index_langs}
    found = Counter[str]()
    for record in zip(kept.column("warc_file").to_pylist(), kept.column("warc_offset").to_pylist(), strict=True):
        if record in language:
            found[language[record]] += 1
    return dict(found)


def finalize_unit(task: FinalizeTask) -> FinalUnit:
    """Number a unit's documents from its start and attach the decisions in its ordinal range;
    write the stored files (documents with dup_of, kept signatures, kept bucket keys)."""
    suffix = "parquet" if task.file_format == "parquet" else "arrow"
    stem = os.path.join(task.folder, f"{task.key}-{_decision_tag(task)}")
    documents, signatures = f"{stem}.documents.{suffix}", f"{stem}.signatures.{suffix}"
    bands_file = f"{task.key}.parquet"
    bands = os.path.join(task.bands_folder, bands_file)
    marker = f"{stem}.final.json"
    found = read_marker(marker)
    if found is not None:
        return FinalUnit(**found)
    os.makedirs(task.bands_folder, exist_ok=True)
    os.makedirs(task.folder, exist_ok=True)
    docs = read_table_file(task.docs_path)
    if docs.num_rows != task.n_documents:
        raise StoreError(f"{task.docs_path}: {docs.num_rows} documents, expected {task.n_documents}")
    dups = _duplicates(task)
    dup_of = _dup_of_column(dups, task.start, task.n_documents)
    kept = pc.is_null(dup_of)
    columns = {name: dup_of if name == "dup_of" else docs.column(name) for name in DOCUMENTS.columns}
    write_table_file(pa.table(columns, schema=DOCUMENTS.schema), documents)  # Parquet or Arrow IPC by its suffix
    ordinals = pa.array(np.arange(task.start, task.start + task.n_documents, dtype=np.int64))
    kept_docs = docs.select(["doc_id", "minhash", "warc_file", "warc_offset"]).filter(kept)
    signature_rows = {"doc_id": kept_docs.column("doc_id"), "seq": ordinals.filter(kept),
                      "signature": kept_docs.column("minhash")}  # fmt: skip
    write_table_file(pa.table(signature_rows, schema=DOC_MINHASH.schema), signatures)
    keys = pq.read_table(task.keys_path)  # sorted by (khash, row): kept in that order, rows become ordinals
    kept_keys = keys.filter(pc.take(kept, keys.column("row")))
    ordinal = pc.add(kept_keys.column("row"), pa.scalar(task.start, pa.int64()))
    write_parquet(kept_keys.set_column(3, "ordinal", ordinal), bands, dictionary=KEYS_DICTIONARY)
    languages = _languages(docs.column("lang"), pc.invert(kept))
    index_kept = _kept_by_index_language(kept_docs, task.index_langs)
    final = FinalUnit(task.key, documents, signatures, bands_file, task.start, task.n_documents, dups.num_rows,
                      languages, index_kept)  # fmt: skip
    write_marker(marker, asdict(final))
    return final
