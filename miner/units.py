"""Mining work units and their files.

A unit is an input, or a contiguous record range of a large local file (by byte offset), so that
a few large files keep many CPUs busy to the end. `mine_unit` (any worker) writes the unit's
documents with their MinHash signatures and their bucket keys as Parquet; once the near-dedup
decision is known, `finalize_unit` writes what is stored: the documents with `dup_of`, the kept
documents' signatures, and their bucket keys for later runs to deduplicate against. Every file is
written under a temporary name and renamed, and a unit's marker last, so a retried or resumed
task finds a whole unit (and returns it without redoing the work) or nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

import duckdb
import pyarrow.compute as pc
import pyarrow.parquet as pq

from .bands import keys_table
from .langid import FastTextLid
from .process import InputResult, ProcessOptions, merge_parts, process_input
from .sources import InputSource, LocalFile
from .store import InputOutcome
from .tables import DOCUMENTS
from .task_files import copy_to_parquet, quoted, read_marker, task_connection, write_marker, write_parquet

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

_UNIT_FORMAT = 2  # part of every unit key: a change of layout never reuses old unit files
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
    path = options.lid.model_path or ""
    lid = _worker_lid.get(path)
    if lid is None:
        lid = FastTextLid(options.lid.model_path)
        _worker_lid[path] = _worker_lid[lid.model_path] = lid
    return lid


def unit_files(folder: str, key: str) -> tuple[str, str, str]:
    """A mined unit's documents, keys and marker files in `folder`."""
    stem = os.path.join(folder, key)
    return f"{stem}.docs.parquet", f"{stem}.keys.parquet", f"{stem}.json"


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
    work = f"{docs}.{uuid.uuid4().hex}.tmp.parquet"
    try:
        result = process_input(unit.source, options, _lid(options), work, offsets=unit.offsets)
        table = pq.read_table(work, columns=["doc_id", "text_hash", "minhash"])
        key_rows = keys_table(
            table.column("doc_id").to_pylist(),
            table.column("text_hash").to_pylist(),
            table.column("minhash").to_pylist(),
            options.dedup,
        )
        key_rows = key_rows.take(pc.sort_indices(key_rows, [("khash", "ascending"), ("row", "ascending")]))
        write_parquet(key_rows, keys)
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


_DOCUMENT_COLUMNS = ", ".join("dec.dup_of" if name == "dup_of" else f"d.{name}" for name in DOCUMENTS.columns)


def _decision_tag(task: FinalizeTask) -> str:
    """What a finalized unit depends on besides its key: its ordinals and the decision (whose folder
    is named by everything it depends on), so that a resumed run whose inputs, or whose stored
    documents, changed never takes a unit finalized for another decision."""
    text = "\x00".join([str(task.start), str(task.n_documents), *task.decisions])
    return hashlib.blake2b(text.encode(), digest_size=8).hexdigest()


def _kept_by_index_language(
    con: duckdb.DuckDBPyConnection, documents: str, index_langs: tuple[tuple[str, int, str], ...]
) -> dict[str, int]:
    """A record group's kept documents (not duplicates) counted by the index language of their record."""
    if not index_langs:
        return {}
    con.execute("CREATE TEMP TABLE idx (warc_file VARCHAR, warc_offset BIGINT, index_lang VARCHAR)")
    con.executemany("INSERT INTO idx VALUES (?, ?, ?)", list(index_langs))
    rows = con.execute(
        "SELECT i.index_lang, count(*) FROM read_parquet(?) d JOIN idx i USING (warc_file, warc_offset) "
        "WHERE d.dup_of IS NULL GROUP BY i.index_lang",
        [documents],
    ).fetchall()
    return {str(lang): int(n) for lang, n in rows}


def finalize_unit(task: FinalizeTask) -> FinalUnit:
    """Join a unit's documents with the decisions in its ordinal range; write the stored files."""
    stem = os.path.join(task.folder, f"{task.key}-{_decision_tag(task)}")
    documents, signatures = f"{stem}.documents.parquet", f"{stem}.signatures.parquet"
    bands_file = f"{task.key}.parquet"
    bands = os.path.join(task.bands_folder, bands_file)
    marker = f"{stem}.final.json"
    found = read_marker(marker)
    if found is not None:
        return FinalUnit(**found)
    os.makedirs(task.bands_folder, exist_ok=True)
    os.makedirs(task.folder, exist_ok=True)
    con = task_connection(task.memory_limit)
    try:
        last = task.start + task.n_documents - 1
        if task.decisions:
            con.execute(
                "CREATE TEMP TABLE dec AS SELECT ordinal, dup_of FROM read_parquet(?) WHERE ordinal BETWEEN ? AND ?",
                [list(task.decisions), task.start, last],
            )
        else:
            con.execute("CREATE TEMP TABLE dec (ordinal BIGINT, dup_of VARCHAR)")
        con.execute(
            f"CREATE TEMP VIEW d AS SELECT *, {task.start} + file_row_number AS ordinal "
            f"FROM read_parquet('{quoted(task.docs_path)}', file_row_number = true)"
        )
        copy_to_parquet(
            con,
            f"SELECT {_DOCUMENT_COLUMNS} FROM d LEFT JOIN dec USING (ordinal) ORDER BY ordinal",
            documents,
        )
        copy_to_parquet(
            con,
            "SELECT doc_id, ordinal AS seq, minhash AS signature FROM d ANTI JOIN dec USING (ordinal) ORDER BY ordinal",
            signatures,
        )
        copy_to_parquet(
            con,
            f"SELECT k.khash, k.band, k.key, {task.start} + k.row AS ordinal, k.doc_id "
            f"FROM read_parquet('{quoted(task.keys_path)}') k ANTI JOIN dec ON dec.ordinal = {task.start} + k.row "
            "ORDER BY k.khash, ordinal",
            bands,
        )
        row = con.execute("SELECT count(*) FROM dec").fetchone()
        n_duplicates = int(row[0]) if row else 0
        languages = {
            str(lang): [int(kept), int(dups)]
            for lang, kept, dups in con.execute(
                "SELECT lang, count(*) FILTER (WHERE dup_of IS NULL), count(*) FILTER (WHERE dup_of IS NOT NULL) "
                "FROM read_parquet(?) GROUP BY lang",
                [documents],
            ).fetchall()
        }
        index_kept = _kept_by_index_language(con, documents, task.index_langs)
    finally:
        con.close()
    final = FinalUnit(task.key, documents, signatures, bands_file, task.start, task.n_documents, n_duplicates,
                      languages, index_kept)  # fmt: skip
    write_marker(marker, asdict(final))
    return final
