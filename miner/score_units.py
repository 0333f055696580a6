"""Scoring where the documents are: each stored unit's kept documents are cut into prompts and
scored by whoever holds the scorer (this process, or a Ray actor of `RayScorerPool`, on a GPU
when asked), straight from the unit's Parquet file; prompts, fresh scores and handled documents
come back as Parquet files that the driver commits, unit by unit: with `--layout tables` DuckDB
inserts them; with `--layout parquet` the driver moves them into the database's `.data` folder and
records them in `scored_files` (miner/layout.py), so texts never pass through the driver's process.

Every scoring run takes this path, in this process or on actors: a task scores with `score_page`
against a private in-memory database holding the score cache, so prompts, scores and
`scored_docs` do not depend on where it ran (tested). Finished units are marked done last and reused by a resumed run.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import closing
from dataclasses import asdict, dataclass, field

from . import scoring_tables
from .dedup import DedupOptions
from .errors import ConfigError
from .layout import data_folder_for, ensure_layout, publish_scored, stored_layout
from .prompts import PromptOptions
from .score_stage import ScoreReport, prepare_scoring, score_page
from .scoring.base import Scorer
from .store import Store
from .stored_bands import bands_folder_for, stored_band_files
from .task_files import read_marker, write_marker

__all__ = ["ScoreCache", "ScoreUnitTask", "ScoredUnit", "score_documents", "score_unit"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScoreUnitTask:
    """One unit's documents to score (`skip`: those this scorer handled already)."""

    key: str
    documents: str  # Parquet with at least doc_id, lang, script, text, dup_of
    options: PromptOptions
    folder: str
    cache: str | None = None  # Parquet rows of `scores` for this scorer and version
    skip: tuple[str, ...] = ()
    page_size: int = 256
    score_batch: int = 256
    unit: str = ""  # the unit's band file
    offset: int = 0  # the task's documents: these, in doc_id order, of the unit's unskipped kept ones
    limit: int | None = None


@dataclass(frozen=True)
class ScoredUnit:
    """A scored unit's files and counts."""

    key: str
    prompts_path: str
    scores_path: str
    done_path: str
    documents: int
    prompts: int
    texts_scored: int
    cache_hits: int
    failed_prompts: int
    failure_examples: list[str] = field(default_factory=list)


class ScoreCache:
    """One scorer's score cache in a private in-memory database, kept across the units one process
    (this one, or a scorer actor) scores: a text is scored once per process, not once per unit.
    Each unit's fresh scores are those added since the last unit that finished (a failed unit's
    fresh scores go out with the next one)."""

    def __init__(self) -> None:
        self.store = Store(":memory:")
        self._loaded: tuple[str, int] | None = None  # the cache file loaded, and its mtime
        self._unsent_from = 0  # rowid of the first score no finished unit has written out

    def load(self, path: str | None) -> None:
        """Start from the rows of a `scores` Parquet file, as already written out; the same file
        again (a later task of the same run) keeps the cache, another one (another run or
        database, whose `scores` lack this cache's fresh rows) starts it anew."""
        seen = (path or "", os.stat(path).st_mtime_ns if path else 0)
        if seen == self._loaded:
            return
        self.store.close()
        self.store = Store(":memory:")
        if path:
            scoring_tables.load_scores(self.store, path)
        self._loaded = seen
        self._unsent_from = scoring_tables.next_score_rowid(self.store)

    def write_unit(self, paths: tuple[str, str, str]) -> None:
        """Write the unit's prompts, fresh scores and handled documents to `paths`; start the next unit."""
        scoring_tables.export_unit_rows(self.store, self._unsent_from, paths)
        self._unsent_from = scoring_tables.next_score_rowid(self.store)
        self.clear_unit()

    def clear_unit(self) -> None:
        """Forget the prompts and handled documents of a unit (written out, or failed)."""
        scoring_tables.clear_unit_rows(self.store)

    def close(self) -> None:
        self.store.close()


def score_unit(scorer: Scorer, task: ScoreUnitTask, cache: ScoreCache | None = None) -> ScoredUnit:
    """Score one unit's kept documents (where the scorer lives) through `cache` (default: a fresh
    one for this unit); a unit scored before is returned."""
    stem = os.path.join(task.folder, task.key)
    marker = f"{stem}.scored.json"
    found = read_marker(marker)
    if found is not None:
        return ScoredUnit(**found)
    if cache is None:
        with closing(ScoreCache()) as own:
            return score_unit(scorer, task, own)
    report = ScoreReport(scorer.name, scorer.version)
    paths = (f"{stem}.prompts.parquet", f"{stem}.scores.parquet", f"{stem}.done.parquet")
    cache.load(task.cache)
    cache.clear_unit()
    con = cache.store.con
    con.execute("CREATE OR REPLACE TEMP TABLE skip (doc_id VARCHAR)")
    if task.skip:
        con.executemany("INSERT INTO skip VALUES (?)", [(doc_id,) for doc_id in task.skip])
    reader = con.execute(
        "SELECT doc_id, lang, script, text FROM read_parquet(?) WHERE dup_of IS NULL "
        "AND doc_id NOT IN (SELECT doc_id FROM skip) ORDER BY doc_id LIMIT ? OFFSET ?",
        [task.documents, task.limit, task.offset],
    ).fetchall()
    for start in range(0, len(reader), task.page_size):
        score_page(cache.store, scorer, task.options, reader[start : start + task.page_size], task.score_batch, report)
    cache.write_unit(paths)
    scored = ScoredUnit(task.key, *paths, report.documents, report.prompts, report.texts_scored, report.cache_hits,
                        report.failed_prompts, report.failure_examples)  # fmt: skip
    write_marker(marker, asdict(scored))
    return scored


UnitScorer = Callable[[list[ScoreUnitTask]], Iterator[ScoredUnit]]
"""Scores tasks somewhere (in this process, or on a pool of Ray actors), yielding as they finish."""


def local_unit_scorer(scorer: Scorer) -> UnitScorer:
    """Scores tasks one after the other in this process, through one score cache."""

    def run(tasks: list[ScoreUnitTask]) -> Iterator[ScoredUnit]:
        with closing(ScoreCache()) as cache:
            for task in tasks:
                yield score_unit(scorer, task, cache)

    return run


_PAGE = 256  # documents cut and scored at a time inside a task


def _digest(*parts: str) -> str:
    return hashlib.blake2b("\x00".join(parts).encode(), digest_size=8).hexdigest()


def _tasks(
    store: Store, db_path: str, scorer: Scorer, options: PromptOptions, work: str, task_docs: int, score_batch: int
) -> Iterable[ScoreUnitTask]:
    """Tasks of up to `task_docs` kept documents the scorer has not handled, unit by stored unit;
    a key names the unit, the scoring work folder (scorer and prompt options), the documents
    skipped and the task's first document."""
    layout = stored_layout(store)
    cache = os.path.join(work, "cache.parquet")
    scoring_tables.export_scorer_cache(store, scorer.name, scorer.version, cache)
    for unit in scoring_tables.pending_units(store, scorer.name):
        name, kept, handled = unit.band_file, unit.kept, unit.handled
        skip = scoring_tables.handled_documents(store, scorer.name, unit.first, unit.last) if handled else ()
        if layout == "parquet":
            documents = os.path.join(data_folder_for(db_path), "documents", name)
        else:  # the documents are in the database: export the unit's kept ones (DuckDB, not Python)
            documents = os.path.join(work, f"{name}.docs.parquet")
            if not os.path.exists(documents):
                scoring_tables.export_unit_documents(store, unit.first, unit.last, documents)
        stem = f"{os.path.splitext(name)[0]}.{os.path.basename(work)}" + (f".{_digest(*skip)}" if skip else "")
        for offset in range(0, kept - handled, task_docs):
            yield ScoreUnitTask(f"{stem}.{offset}", documents, options, work, cache, skip, _PAGE, score_batch, name,
                                offset, task_docs)  # fmt: skip


def score_documents(
    store: Store,
    scorer: Scorer,
    options: PromptOptions | None = None,
    task_docs: int = 4096,
    score_batch: int = 256,
    progress: Callable[[int], None] | None = None,
    run: UnitScorer | None = None,
) -> ScoreReport:
    """Build and score prompts for every kept document this scorer has not handled, in tasks of
    up to `task_docs` documents of one stored unit, by `run` (default: in this process;
    `RayScorerPool.score_units`: on its actors); commit each task's files as it comes back (a
    failed run keeps the tasks committed). `progress` gets each task's documents."""
    db_path = store.path
    if db_path == ":memory:":
        raise ConfigError("scoring works on a database file (its units' files live beside it), not :memory:")
    if stored_layout(store) == "parquet":  # its views (a previous toxmine's layout kept prompts in tables)
        ensure_layout(store, "parquet")
    options = prepare_scoring(store, options)
    dedup = DedupOptions.from_settings(store.settings())
    stored_band_files(store, bands_folder_for(db_path), dedup)  # databases from before band files: their units
    report = ScoreReport(scorer.name, scorer.version)
    started = time.monotonic()
    # a resumed run reuses finished units of the same scorer and prompt options
    scorer_tag = _digest(scorer.name, scorer.version, json.dumps(asdict(options), sort_keys=True, default=str))
    work = os.path.join(os.path.abspath(db_path) + ".scoring", scorer_tag)
    os.makedirs(work, exist_ok=True)
    tasks = {task.key: task for task in _tasks(store, db_path, scorer, options, work, task_docs, score_batch)}
    parquet = stored_layout(store) == "parquet"
    for scored in (run or local_unit_scorer(scorer))(list(tasks.values())):
        if parquet:
            files = {"prompts": scored.prompts_path, "scores": scored.scores_path, "scored_docs": scored.done_path}
            publish_scored(db_path, f"{scored.key}.parquet", files)
            record = scoring_tables.ScoredFile(f"{scored.key}.parquet", tasks[scored.key].unit, scorer.name,
                                               scorer.version, scored.documents, scored.prompts)  # fmt: skip
            scoring_tables.record_scored_file(store, record)
        else:
            scoring_tables.commit_scored_rows(store, scored.scores_path, scored.prompts_path, scored.done_path)
        log.info("scored unit %s: %d documents, %d prompts", scored.key, scored.documents, scored.prompts)
        report.documents += scored.documents
        report.prompts += scored.prompts
        report.texts_scored += scored.texts_scored
        report.cache_hits += scored.cache_hits
        report.failed_prompts += scored.failed_prompts
        for example in scored.failure_examples:
            if example not in report.failure_examples and len(report.failure_examples) < 5:
                report.failure_examples.append(example)
        if progress is not None:
            progress(scored.documents)
    shutil.rmtree(os.path.dirname(work), ignore_errors=True)
    report.elapsed_s = time.monotonic() - started
    return report
