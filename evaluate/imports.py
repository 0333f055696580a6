"""Import external prompt sets (ALERT, MultiJail, PolygloToxicityPrompts, RealToxicityPrompts)
into the `prompts` table, next to mined prompts.

Each file is read row by row and validated whole before anything is written, then stored in one
transaction with its `imports` row, so a bad file stores nothing and a file already imported under
the same source name (same sha256) is skipped. Imported prompts have no document (`doc_id` NULL);
their `source` is the set's name.

Toxicity: PTP and RTP files carry Perspective API scores, used as they are (scorer
`ptp:perspective` / `rtp:perspective`, version `file`) unless `rescore` is set. ALERT and
MultiJail prompts, and rescored files, are scored with the given scorer through the same score
cache as mining (`score_texts`).
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import json
import logging
import math
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pyarrow as pa

from toxmine.evaluate.import_tables import ImportRecord, find_import, record_import
from toxmine.miner.errors import ConfigError, InputError, printable
from toxmine.miner.prompts import DEFAULT_BUCKET_EDGES, bucket_of, check_bucket_edges, prompt_id_for
from toxmine.miner.score_stage import ScoredTexts, insert_scores, score_texts, text_digest
from toxmine.miner.scoring import Scorer
from toxmine.miner.store import Store
from toxmine.miner.tables import PROMPTS, insert

__all__ = ["FORMATS", "ImportReport", "check_prompt_file", "import_prompts"]

log = logging.getLogger(__name__)

FORMATS = ("alert", "multijail", "ptp", "rtp")
SCORE_BATCH = 256

_ALERT_PREFIX = "### Instruction:\n"
_ALERT_SUFFIX = "\n### Response:\n"
_MULTIJAIL_META = ("id", "source", "tags")


@dataclass
class ImportReport:
    """What an import did. `prompts`: prompts newly stored (ones already present are kept)."""

    source: str
    format: str
    file: str
    rows: int
    prompts: int
    skipped: bool  # the file was already imported (same source and sha256): nothing done
    scorer: str


@dataclass(frozen=True)
class _Options:
    path: Path
    fmt: str
    lang: str | None
    rescore: bool


@dataclass
class _Row:
    """One prompt read from a file."""

    key: str  # the row's id, else its ordinal: part of the prompt id
    lang: str
    prompt: str
    continuation: str = ""
    toxicity: float | None = None  # from the file (ptp, rtp)
    prompt_toxicity: float | None = None
    continuation_toxicity: float | None = None
    category: str | None = None
    harmful: bool | None = None
    attributes: dict[str, Any] = field(default_factory=dict)


# -- reading ---------------------------------------------------------------------------------


def _open_binary(path: Path) -> io.BufferedIOBase:
    try:
        return gzip.open(path, "rb") if path.name.endswith(".gz") else path.open("rb")
    except OSError as exc:
        raise InputError(str(path), f"cannot open: {exc.strerror or exc}") from exc


def _lines(path: Path) -> Iterator[str]:
    """The lines of a UTF-8 text file (gzip-compressed when its name ends in .gz), line ends kept
    as they are; a BOM is dropped. Decoded line by line so that errors name their line."""
    handle = _open_binary(path)
    number = 0
    with handle:
        try:
            for number, raw in enumerate(handle, 1):
                try:
                    line = raw.decode("utf-8")
                except UnicodeDecodeError as exc:
                    message = f"line {number}: not UTF-8 text (byte {exc.start} of the line)"
                    raise InputError(str(path), message) from exc
                yield line.removeprefix("\ufeff") if number == 1 else line
        except (OSError, EOFError, zlib.error) as exc:
            raise InputError(str(path), f"line {number + 1}: cannot read: {exc}") from exc


def _lone_surrogate(text: str) -> str | None:
    """Where `text` holds a lone surrogate (which UTF-8, DuckDB and Arrow cannot store), or None."""
    if text.isascii():
        return None
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"a lone surrogate (\\u{ord(text[exc.start]):04x} at character {exc.start})"
    return None


def _check_unicode(path: Path, where: str, row: dict[str, Any]) -> None:
    """Refuse a row holding a string or field name that is not valid Unicode text: JSON's \\ud800
    escapes decode to lone surrogates. Walks nested objects and arrays without recursion."""
    stack: list[tuple[str, object]] = [("", row)]
    while stack:
        name, value = stack.pop()
        if isinstance(value, str):
            problem = _lone_surrogate(value)
            if problem:
                raise InputError(
                    str(path), f"{where}: field '{printable(name)}' holds {problem}, not valid Unicode text"
                )
        elif isinstance(value, dict):
            children = []
            for key, child in value.items():
                joined = f"{name}.{key}" if name else str(key)
                problem = _lone_surrogate(str(key))
                if problem:
                    raise InputError(str(path), f"{where}: field name '{printable(joined)}' holds {problem}, "
                                     "not valid Unicode text")  # fmt: skip
                children.append((joined, child))
            stack.extend(reversed(children))  # the first bad field is the one reported
        elif isinstance(value, list):
            stack.extend(reversed([(f"{name}[{index}]", child) for index, child in enumerate(value)]))


def _json_lines(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """("line N", object) for each non-blank line of a JSONL file."""
    for number, line in enumerate(_lines(path), 1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except json.JSONDecodeError as exc:
            raise InputError(str(path), f"line {number}: malformed JSON ({exc.msg} at column {exc.colno})") from exc
        except RecursionError as exc:
            raise InputError(str(path), f"line {number}: malformed JSON (nested too deeply)") from exc
        if not isinstance(value, dict):
            raise InputError(str(path), f"line {number}: expected a JSON object, got {type(value).__name__}")
        _check_unicode(path, f"line {number}", value)
        yield f"line {number}", value


def _batch_rows(path: Path, batch: pa.RecordBatch, first: int) -> list[dict[str, Any]]:
    """The rows of a Parquet batch; a string that is not UTF-8 is refused naming its row and column."""
    try:
        rows: list[dict[str, Any]] = batch.to_pylist()
        return rows
    except UnicodeDecodeError:
        pass
    for offset in range(batch.num_rows):
        for name, column in zip(batch.schema.names, batch.columns, strict=True):
            try:
                column.slice(offset, 1).to_pylist()
            except UnicodeDecodeError as exc:
                message = f"row index {first + offset}: column '{printable(name)}' is not UTF-8 text (byte {exc.start})"
                raise InputError(str(path), message) from exc
    raise InputError(str(path), f"row index {first}: not UTF-8 text")


def _parquet_rows(path: Path) -> Iterator[tuple[str, dict[str, Any]]]:
    """("row index N", row) for each row of a Parquet file."""
    import pyarrow.parquet as pq

    index = 0
    try:
        parquet = pq.ParquetFile(path)
        for batch in parquet.iter_batches(batch_size=4096):
            for row in _batch_rows(path, batch, index):
                _check_unicode(path, f"row index {index}", row)
                yield f"row index {index}", row
                index += 1
    except (pa.ArrowException, OSError) as exc:
        raise InputError(str(path), f"row index {index}: cannot read Parquet ({exc})") from exc


def _text(path: Path, obj: dict[str, Any], name: str, where: str, empty_ok: bool = False) -> str:
    """The string field `name` of a row (named in the error when missing or empty)."""
    label = name.rsplit(".", 1)[-1]
    if label not in obj or obj[label] is None:
        raise InputError(str(path), f"{where}: missing required field '{name}'")
    value = obj[label]
    if not isinstance(value, str):
        raise InputError(str(path), f"{where}: field '{name}' must be a string, got {type(value).__name__}")
    if not empty_ok and not value.strip():
        what = "empty prompt text in" if name.startswith("prompt") else "empty field"
        raise InputError(str(path), f"{where}: {what} '{name}'")
    return value


def _toxicity(path: Path, value: Any, name: str, where: str) -> float | None:
    """A toxicity from the file: None when null or absent, else a number in [0, 1]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise InputError(str(path), f"{where}: '{name}' is not a number: {value!r}")
    if not math.isfinite(value) or not 0.0 <= value <= 1.0:
        raise InputError(str(path), f"{where}: '{name}' = {value} is outside [0, 1]")
    return float(value)


def _required_toxicity(path: Path, obj: dict[str, Any], name: str, where: str) -> float:
    label = name.rsplit(".", 1)[-1]
    value = _toxicity(path, obj.get(label), name, where)
    if value is None:
        what = "missing required field" if label not in obj else "no value in required field"
        raise InputError(str(path), f"{where}: {what} '{name}' (use --rescore to score the text instead)")
    return value


def _read_alert(options: _Options) -> Iterator[list[_Row]]:
    path = options.path
    for ordinal, (where, obj) in enumerate(_json_lines(path)):
        text = _text(path, obj, "prompt", where)
        if text.startswith(_ALERT_PREFIX):
            text = text[len(_ALERT_PREFIX) :]
        if text.endswith(_ALERT_SUFFIX):
            text = text[: -len(_ALERT_SUFFIX)]
        text = text.strip()
        if not text:
            raise InputError(str(path), f"{where}: empty prompt text in 'prompt'")
        category = _text(path, obj, "category", where)
        key = str(obj["id"]) if obj.get("id") is not None else f"#{ordinal}"
        attributes = {k: v for k, v in obj.items() if k not in ("prompt", "category")}
        yield [_Row(key, options.lang or "en", text, category=category, harmful=True, attributes=attributes)]


def _csv_records(path: Path) -> Iterator[tuple[int, list[str]]]:
    """(physical line where the record starts, its fields) for each record of a CSV file. Strict:
    a quote that is never closed, or text after a closing quote, is an error, not a silent merge."""
    reader = csv.reader(_lines(path), strict=True)  # line ends kept as read: quoted newlines survive
    while True:
        start = reader.line_num + 1
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            problem = str(exc)
            if problem == "unexpected end of data":
                problem = "a quoted field opened on this row is never closed"
            raise InputError(str(path), f"line {start}: malformed CSV ({problem})") from exc
        yield start, record


def _read_multijail(options: _Options) -> Iterator[list[_Row]]:
    path = options.path
    records = _csv_records(path)
    header = next(records, None)
    if header is None:
        return
    columns = [name.strip().lower() for name in header[1]]
    if "tags" not in columns:
        raise InputError(str(path), f"line 1 (header): no 'tags' column (columns: {', '.join(columns)})")
    langs = [(i, name) for i, name in enumerate(columns) if name and name not in _MULTIJAIL_META]
    if not langs:
        raise InputError(str(path), "line 1 (header): no language column (expected columns such as en, zh, it, ...)")
    at = {name: columns.index(name) for name in _MULTIJAIL_META if name in columns}
    for ordinal, (line, cells) in enumerate(records):
        if not any(cell.strip() for cell in cells):
            continue
        if len(cells) != len(columns):
            raise InputError(str(path), f"line {line}: {len(cells)} fields, the header has {len(columns)}")
        row_id, origin, tags = (cells[at[name]].strip() if name in at else "" for name in _MULTIJAIL_META)
        number = int(row_id) if row_id.isascii() and row_id.isdigit() else None  # "²".isdigit(), int("²") fails
        attributes: dict[str, Any] = {"id": row_id or None if number is None else number, "origin": origin or None}
        key = row_id or f"#{ordinal}"
        rows = [
            _Row(key, lang, cells[i].strip(), category=tags or None, harmful=True, attributes=attributes)
            for i, lang in langs
            if cells[i].strip()
        ]
        if not rows:
            raise InputError(str(path), f"line {line}: empty prompt text in every language column")
        yield rows


def _read_ptp(options: _Options) -> Iterator[list[_Row]]:
    path = options.path
    rows = _parquet_rows(path) if path.name.endswith(".parquet") else _json_lines(path)
    for ordinal, (where, obj) in enumerate(rows):
        prompt = _text(path, obj, "prompt", where)
        continuation = _text(path, obj, "continuation", where, empty_ok=True)
        lang = obj.get("lang")
        if lang is not None and not isinstance(lang, str):
            raise InputError(str(path), f"{where}: field 'lang' must be a string, got {type(lang).__name__}")
        lang = (lang or "").strip().lower() or options.lang
        if not lang:
            raise InputError(str(path), f"{where}: missing required field 'lang' (or pass --lang)")
        toxicity = None if options.rescore else _required_toxicity(path, obj, "toxicity", where)
        # `text` is prompt + continuation; the rest (toxicity_bucket, meta_data...) is kept
        attributes = {k: v for k, v in obj.items() if k not in ("text", "prompt", "continuation", "toxicity", "lang")}
        yield [_Row(f"#{ordinal}", lang, prompt, continuation, toxicity, attributes=attributes)]


def _read_rtp(options: _Options) -> Iterator[list[_Row]]:
    path = options.path
    for ordinal, (where, obj) in enumerate(_json_lines(path)):
        parts: dict[str, dict[str, Any]] = {}
        for name in ("prompt", "continuation"):
            part = obj.get(name)
            if part is None and name == "continuation":
                part = {"text": ""}
            if part is None:
                raise InputError(str(path), f"{where}: missing required field '{name}'")
            if not isinstance(part, dict):
                raise InputError(str(path), f"{where}: field '{name}' must be an object with 'text', 'toxicity'")
            parts[name] = part
        prompt = _text(path, parts["prompt"], "prompt.text", where)
        continuation = _text(path, parts["continuation"], "continuation.text", where, empty_ok=True)
        prompt_toxicity = continuation_toxicity = None
        if not options.rescore:
            prompt_toxicity = _required_toxicity(path, parts["prompt"], "prompt.toxicity", where)
            continuation_toxicity = _toxicity(
                path, parts["continuation"].get("toxicity"), "continuation.toxicity", where
            )
        key = ":".join(str(obj.get(k)) for k in ("filename", "begin", "end")) if obj.get("filename") else f"#{ordinal}"
        attributes = {k: v for k, v in obj.items() if k not in parts}
        for name, part in parts.items():
            scores = {k: v for k, v in part.items() if k not in ("text", "toxicity")}
            if scores:
                attributes[f"{name}_scores"] = scores
        # RTP buckets prompts by the prompt's toxicity, not the whole text's
        yield [_Row(key, options.lang or "en", prompt, continuation, prompt_toxicity, prompt_toxicity,
                    continuation_toxicity, attributes=attributes)]  # fmt: skip


_READERS: dict[str, Callable[[_Options], Iterator[list[_Row]]]] = {
    "alert": _read_alert,
    "multijail": _read_multijail,
    "ptp": _read_ptp,
    "rtp": _read_rtp,
}


# -- storing ---------------------------------------------------------------------------------


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    try:
        with path.open("rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
    except OSError as exc:
        raise InputError(str(path), f"cannot read: {exc.strerror or exc}") from exc
    return digest.hexdigest()


def _checked_edges(wanted: tuple[float, ...]) -> tuple[float, ...]:
    edges = tuple(float(x) for x in wanted)
    try:
        check_bucket_edges(edges)
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc
    return edges


def _bucket_edges(store: Store, wanted: tuple[float, ...] | None) -> tuple[tuple[float, ...], bool]:
    """The bucket edges to use, and whether the database has none stored yet."""
    value = store.settings().get("prompts.bucket_edges")
    stored = tuple(float(x) for x in json.loads(value)) if value is not None else None
    if wanted is None:
        return stored or DEFAULT_BUCKET_EDGES, stored is None
    edges = _checked_edges(wanted)
    if stored is not None and stored != edges:
        raise ConfigError(
            f"{store.path} buckets prompts with edges {list(stored)} (asked {list(edges)}); "
            "use the same edges or a new database (`toxmine split --buckets` re-buckets)"
        )
    return edges, stored is None


def _score(store: Store, scorer: Scorer, rows: list[_Row], fmt: str) -> ScoredTexts:
    """Score each row's prompt, continuation and whole text through the score cache."""
    texts: dict[str, tuple[str, str | None]] = {}
    for row in rows:
        texts.setdefault(text_digest(row.prompt), (row.prompt, row.lang))
        if row.continuation:
            texts.setdefault(text_digest(row.continuation), (row.continuation, row.lang))
            whole = row.prompt + row.continuation
            texts.setdefault(text_digest(whole), (whole, row.lang))
    scored = score_texts(store, scorer, texts, SCORE_BATCH)
    tox = scored.toxicity
    if scored.failed:  # rows with a text the scorer could not score are left out, as PTP drops them
        kept = [row for row in rows if all(text_digest(t) in tox for t in (row.prompt, row.prompt + row.continuation))
                and (not row.continuation or text_digest(row.continuation) in tox)]  # fmt: skip
        log.warning("%s could not score %d texts: %d of %d rows left out (%s)", scorer.name, len(scored.failed),
                    len(rows) - len(kept), len(rows), next(iter(scored.failed.values())))  # fmt: skip
        rows[:] = kept
    for row in rows:
        row.prompt_toxicity = tox[text_digest(row.prompt)]
        row.continuation_toxicity = tox[text_digest(row.continuation)] if row.continuation else None
        whole_toxicity = tox[text_digest(row.prompt + row.continuation)]
        # RTP buckets prompts by the prompt's toxicity; the others by the whole text's
        row.toxicity = row.prompt_toxicity if fmt == "rtp" else whole_toxicity
    log.debug("%s: %d texts scored, %d from cache", scorer.name, scored.texts_scored, scored.cache_hits)
    return scored


def _prompt_table(
    rows: list[_Row],
    source: str,
    fmt: str,
    scorer: tuple[str, str],
    edges: tuple[float, ...],
    harmful: bool | None = None,
) -> pa.Table:
    prompts: list[dict[str, Any]] = []
    for row in rows:
        text = row.prompt + row.continuation
        assert row.toxicity is not None
        attributes = json.dumps(row.attributes, ensure_ascii=False, sort_keys=True, default=str)
        prompts.append({
            "prompt_id": prompt_id_for(f"{source}\x00{fmt}\x00{row.key}\x00{row.lang}", 0, len(text), text),
            "doc_id": None, "lang": row.lang, "span_start": 0, "span_end": len(text), "prompt": row.prompt,
            "continuation": row.continuation, "toxicity": row.toxicity, "prompt_toxicity": row.prompt_toxicity,
            "continuation_toxicity": row.continuation_toxicity, "bucket": bucket_of(row.toxicity, edges),
            "scorer": scorer[0], "scorer_version": scorer[1], "source": source, "category": row.category,
            "harmful": row.harmful if harmful is None else harmful,
            "attributes_json": attributes if row.attributes else None,
        })  # fmt: skip
    return PROMPTS.from_rows(prompts)


def _checked_path(fmt: str, path: Path) -> Path:
    if fmt not in FORMATS:
        raise ConfigError(f"unknown import format {fmt!r}; known: {', '.join(FORMATS)}")
    path = Path(path)
    if not path.exists():
        raise InputError(str(path), "no such file")
    if not path.is_file():
        raise InputError(str(path), "not a file")
    return path


def _lang(lang: str | None) -> str | None:
    return (lang or "").strip().lower() or None


def _read(options: _Options) -> tuple[list[_Row], int]:
    """Every prompt of a file and its number of rows; a bad row refuses the whole file."""
    rows: list[_Row] = []
    n_rows = 0
    for group in _READERS[options.fmt](options):
        n_rows += 1
        rows.extend(group)
    if n_rows == 0:
        raise InputError(str(options.path), "empty file: no rows")
    return rows, n_rows


def check_prompt_file(
    fmt: str,
    path: Path,
    lang: str | None = None,
    rescore: bool = False,
    source: str | None = None,
    bucket_edges: tuple[float, ...] | None = None,
) -> int:
    """Read and validate a prompt set file and the import's options as `import_prompts` would, without
    a database (so that a refused import need not create one); returns the file's number of rows.
    Raises InputError naming the file and line of the first bad row, ConfigError for a bad option."""
    _source_name(source, fmt)
    if bucket_edges is not None:
        _checked_edges(bucket_edges)
    path = _checked_path(fmt, path)
    return _read(_Options(path, fmt, _lang(lang), rescore))[1]


def _source_name(source: str | None, fmt: str) -> str:
    name = (source or fmt).strip()
    if not name:
        raise ConfigError("the source name must not be empty")
    return name


def import_prompts(
    store: Store,
    fmt: str,
    path: Path,
    scorer: Scorer | None,
    source: str | None = None,
    lang: str | None = None,
    rescore: bool = False,
    bucket_edges: tuple[float, ...] | None = None,
    harmful: bool | None = None,
) -> ImportReport:
    """Import the prompt set in `path` (format `fmt`, one of FORMATS) as `source` (default: the
    format's name). `lang` sets the language of ALERT and RTP rows (default en) and of PTP rows
    without one; MultiJail takes it from its columns. `scorer` scores ALERT and MultiJail prompts,
    and PTP/RTP ones when `rescore` is set (it may be None otherwise). Bucket edges: `bucket_edges`,
    else the database's `prompts.bucket_edges`, else 0, .25, .5, .75, 1. `harmful` marks every
    prompt harmful (True) or benign (False, e.g. a set of harmless prompts for over-refusal rates);
    None keeps the format's default: ALERT and MultiJail harmful, PTP and RTP decided by toxicity.
    """
    path = _checked_path(fmt, path)
    source = _source_name(source, fmt)
    lang = _lang(lang)
    file_scores = fmt in ("ptp", "rtp") and not rescore
    if not file_scores and scorer is None:
        raise ConfigError(f"importing {fmt} {'with rescore ' if rescore else ''}needs a scorer")
    edges, edges_new = _bucket_edges(store, bucket_edges)
    sha256 = _sha256(path)
    absolute = str(path.resolve())
    done = find_import(store, source, sha256)
    if done is not None:
        log.debug("%s already imported as source %s; skipped", absolute, source)
        return ImportReport(source, fmt, absolute, done.n_rows, done.n_prompts, True, done.scorer)

    rows, n_rows = _read(_Options(path, fmt, lang, rescore))
    scored = None
    if file_scores:  # both sets were scored with Perspective API
        used = (f"{fmt}:perspective", "file")
    else:
        assert scorer is not None
        scored = _score(store, scorer, rows, fmt)
        used = (scorer.name, scorer.version)
    table = _prompt_table(rows, source, fmt, used, edges, harmful)

    with store.transaction() as con:
        if edges_new:
            store.ensure_settings({"prompts.bucket_edges": json.dumps(list(edges))})
        if scored is not None and scorer is not None:
            insert_scores(con, scorer, scored)
        n_prompts = insert(con, PROMPTS, table, on_conflict="ignore")
        record_import(con, ImportRecord(source, fmt, absolute, sha256, n_rows, n_prompts, used[0]))
    log.debug("imported %d prompts from %d rows of %s as source %s (scorer %s)", n_prompts, n_rows, absolute,
             source, used[0])  # fmt: skip
    return ImportReport(source, fmt, absolute, n_rows, n_prompts, False, used[0])
