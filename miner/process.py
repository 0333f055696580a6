"""Turn one input into documents: WARC records -> HTML -> text -> language -> signature.

This is the worker side of mining. It never touches the database: it streams documents of
one input into a spill file and returns counts; the single writer commits them.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .decode import decode_html
from .dedup import DedupOptions, minhash_signature, normalize_text, text_hash
from .errors import ConfigError, InputError, printable
from .extract import ExtractFailure, ExtractOptions, Extractor
from .extract_sandbox import extractor_for
from .extractors.catalog import extractor_identity
from .framing import MAX_RECORD_BYTES
from .langid import FastTextLid, LidOptions
from .records import Document, DropCounts, DropReason, HtmlPage
from .sources import InputSource, LocalFile, RecordGroup
from .spill import SpillWriter
from .store import InputOutcome, utc_now
from .targeting import RecordTally, add_languages
from .warc import RecordProblem, Skipped, read_html_pages
from .warc_parsers import DEFAULT_WARC_READER

__all__ = ["InputResult", "ProcessOptions", "ProgressCallback", "doc_id_for", "merge_parts", "process_input"]

log = logging.getLogger(__name__)

ProgressCallback = Callable[[str, int, int], None]
"""Called as (source name, new records, new documents) every so often."""

_MAX_LISTED_PROBLEMS = 5


@dataclass(frozen=True)
class ProcessOptions:
    """Everything a worker needs to process an input."""

    extract: ExtractOptions = field(default_factory=ExtractOptions)
    lid: LidOptions = field(default_factory=LidOptions)
    dedup: DedupOptions = field(default_factory=DedupOptions)
    max_record_bytes: int = MAX_RECORD_BYTES  # ~160 bytes per HTML byte at worst: 640 MiB, within the extraction budget
    min_chars: int = 50
    batch_size: int = 128
    warc_reader: str = DEFAULT_WARC_READER  # header parser: "warcio" or "fastwarc" (same events; see warc_parsers)


@dataclass
class InputResult:
    """A processed input (or part of one): its outcome and the spill files holding its documents,
    in record order. `problems` are the (offset, message) of unreadable records."""

    outcome: InputOutcome
    spill_paths: list[str]
    n_documents: int
    problems: list[tuple[int, str]] = field(default_factory=list)


def doc_id_for(warc_file: str, warc_offset: int, warc_record_id: str) -> str:
    """Stable document id: the same record of the same file always gets the same id."""
    key = f"{warc_file}\x00{warc_offset}\x00{warc_record_id}".encode()
    return hashlib.blake2b(key, digest_size=10).hexdigest()


class _Batch:
    """Pages with extracted text waiting for batched language ID."""

    def __init__(self) -> None:
        self.pages: list[HtmlPage] = []
        self.texts: list[str] = []

    def __len__(self) -> int:
        return len(self.pages)


def _finish_batch(
    batch: _Batch,
    lid: FastTextLid,
    options: ProcessOptions,
    crawl: str | None,
    drops: DropCounts,
    tally: RecordTally | None = None,
) -> list[Document]:
    if not batch:
        return []
    docs: list[Document] = []
    allowed = options.lid.langs
    extractor = options.extract.extractor
    extractor_version = extractor_identity(extractor).version_label
    guesses = lid.predict(batch.texts, options.lid)
    for page, text, guess in zip(batch.pages, batch.texts, guesses, strict=True):
        confident = guess.score >= options.lid.threshold
        wanted = allowed is None or guess.lang in allowed
        if tally is not None:
            tally.identified(page.warc_file, page.warc_offset, guess.lang, stored=confident and wanted)
        if not confident:
            drops.add(DropReason.LANG_LOW_CONFIDENCE)
            continue
        if not wanted:
            drops.add(DropReason.LANG_NOT_ALLOWED)
            continue
        normalized = normalize_text(text)
        docs.append(
            Document(
                doc_id=doc_id_for(page.warc_file, page.warc_offset, page.warc_record_id),
                url=page.url,
                crawl=crawl,
                warc_file=page.warc_file,
                warc_record_id=page.warc_record_id,
                warc_offset=page.warc_offset,
                fetch_time=page.fetch_time,
                lang=guess.lang,
                script=guess.script,
                lang_score=round(guess.score, 5),
                text=text,
                text_hash=text_hash(normalized),
                minhash=minhash_signature(normalized, guess.lang, guess.script, options.dedup),
                extractor=extractor,
                extractor_version=extractor_version,
            )
        )
    batch.pages.clear()
    batch.texts.clear()
    return docs


def _extract(page: HtmlPage, options: ProcessOptions, drops: DropCounts, extractor: Extractor) -> str | None:
    html, _ = decode_html(page.payload, page.declared_charset)
    try:
        text = extractor(html, page.url, options.extract)
    except ExtractFailure as exc:  # over the time limit or the memory budget, a crash, an error
        where = f"{page.warc_file} at offset {page.warc_offset}"
        log.warning("%s: extraction of %s dropped (%s): %s", where, page.url, exc.reason.value, exc or "over its limit")
        drops.add(exc.reason)
        return None
    except ConfigError:  # the extractor cannot start: no page can be extracted, the input fails
        raise
    except Exception as exc:  # in-process extraction: trafilatura/lxml can fail on pathological markup
        log.warning("%s at offset %d: extraction of %s failed: %s", page.warc_file, page.warc_offset, page.url, exc)
        drops.add(DropReason.EXTRACT_ERROR)
        return None
    if text is None:
        drops.add(DropReason.EXTRACT_EMPTY)
        return None
    if len(text) < options.min_chars:
        drops.add(DropReason.TOO_SHORT)
        return None
    return text


def process_input(
    source: InputSource,
    options: ProcessOptions,
    lid: FastTextLid,
    spill_path: str,
    progress: ProgressCallback | None = None,
    progress_every_s: float = 0.5,
    offsets: tuple[int, int] | None = None,
) -> InputResult:
    """Read one input to the end and spill its documents. Never raises for bad data.

    `offsets=(start, end)` handles only the records (and problems) at start <= offset < end, so
    several workers can share one input in contiguous record ranges. The result is raw:
    `merge_parts` joins the parts of an input (one or more) and settles its status as if it had
    been read at once. Pages are extracted as
    `extractor_for` says: in this process's extraction sandbox, unless `options.extract.sandbox` is off.
    """
    extract = extractor_for(options.extract)
    outcome = InputOutcome(source=source.name, crawl=source.crawl, status="done")
    tally = _tally_for(source)
    drops = DropCounts()
    problems: list[tuple[int, str]] = []
    batch = _Batch()
    n_docs = 0
    seen_records = reported_records = reported_docs = 0
    last_report = time.monotonic()
    with SpillWriter(spill_path) as spill:

        def flush() -> None:
            nonlocal n_docs
            docs = _finish_batch(batch, lid, options, source.crawl, drops, tally)
            spill.write(docs)
            n_docs += len(docs)

        try:
            for event in read_html_pages(
                source, options.max_record_bytes, offsets=offsets, tally=tally, warc_reader=options.warc_reader
            ):
                if isinstance(event, RecordProblem):
                    problems.append((event.offset, event.message))
                    # the input's error lists its bad records (logged once when the input is settled)
                    log.debug("%s at offset %d: %s", source.name, event.offset, event.message)
                    drops.add(DropReason.BAD_RECORD)
                    continue
                seen_records += 1
                if isinstance(event, Skipped):
                    drops.add(event.reason)
                else:
                    text = _extract(event, options, drops, extract)
                    if text is not None:
                        batch.pages.append(event)
                        batch.texts.append(text)
                        if len(batch) >= options.batch_size:
                            flush()
                if progress is not None and time.monotonic() - last_report >= progress_every_s:
                    progress(source.name, seen_records - reported_records, n_docs - reported_docs)
                    reported_records, reported_docs = seen_records, n_docs
                    last_report = time.monotonic()
            flush()
        except InputError as exc:
            outcome.status = "failed"
            outcome.error = str(exc)
    if progress is not None:
        progress(source.name, seen_records - reported_records, n_docs - reported_docs)
    outcome.n_records = seen_records
    outcome.drops = drops.counts
    _record_cost(outcome, source, tally)
    outcome.finished_at = utc_now()
    return InputResult(outcome, [spill_path], n_docs, problems)


def _tally_for(source: InputSource) -> RecordTally | None:
    if not isinstance(source, RecordGroup):
        return None
    return RecordTally(source.index_languages())


def _record_cost(outcome: InputOutcome, source: InputSource, tally: RecordTally | None) -> None:
    """What reading the input cost: a record group's bytes and per-language counts; a local file's size."""
    if tally is not None and isinstance(source, RecordGroup):
        outcome.n_selected = source.n_records
        outcome.bytes_fetched, outcome.bytes_whole = tally.bytes_fetched, tally.bytes_whole
        outcome.languages = tally.counts
        outcome.files = {name: [file.n_selected, file.bytes_fetched, file.bytes_whole]
                         for name, file in tally.files.items()}  # fmt: skip
    elif isinstance(source, LocalFile):
        with contextlib.suppress(OSError):
            outcome.bytes_whole = outcome.bytes_fetched = os.path.getsize(source.path)


def merge_parts(parts: list[InputResult]) -> InputResult:
    """One input's result from the raw results of its parts (see `process_input`'s `part`):
    counts added up, problems in file order, and the status settled. A failed input (unreadable,
    or nothing but bad records) keeps no documents."""
    first = parts[0].outcome
    fatal = next((p.outcome for p in parts if p.outcome.status == "failed"), None)  # the reader gave up
    drops: dict[str, int] = {}
    for part in parts:
        for reason, n in part.outcome.drops.items():
            drops[reason] = drops.get(reason, 0) + n
    outcome = InputOutcome(
        source=first.source,
        crawl=first.crawl,
        status="failed" if fatal else "done",
        n_records=sum(p.outcome.n_records for p in parts),
        error=fatal.error if fatal else None,
        drops=drops,
        started_at=min(p.outcome.started_at for p in parts),
        finished_at=max(p.outcome.finished_at for p in parts),
        files=first.files,
        n_selected=first.n_selected,  # a record group is read as one part
        bytes_fetched=first.bytes_fetched,  # the parts of one file share its size
        bytes_whole=first.bytes_whole,
        languages=add_languages(p.outcome.languages for p in parts),
    )
    problems = sorted(problem for part in parts for problem in part.problems)
    if problems and outcome.status != "failed":
        outcome.status = "failed" if outcome.n_records == 0 else "partial"
        listed = "; ".join(
            f"offset {offset}: {printable(message)}" for offset, message in problems[:_MAX_LISTED_PROBLEMS]
        )
        more = len(problems) - _MAX_LISTED_PROBLEMS
        outcome.error = f"{outcome.source}: {listed}" + (f" (+{more} more)" if more > 0 else "")
    if outcome.status == "failed":
        return InputResult(outcome, [], 0, problems)
    return InputResult(outcome, [path for p in parts for path in p.spill_paths], sum(p.n_documents for p in parts),
                       problems)  # fmt: skip
