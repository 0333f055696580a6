"""Scoring where the documents are: each stored unit's kept documents are cut into prompts and
scored by whoever holds the scorer (this process, or a Ray actor of `RayScorerPool`, on a GPU
when asked), straight from the unit's Parquet file; prompts, fresh scores and handled documents
come back as Parquet files that the driver commits, unit by unit, with DuckDB. The texts never
pass through the driver's Python (with `--layout parquet`, not even through its process).

A task scores with the very code of `score_documents` (`score_page`) against a private
in-memory database holding the score cache, so prompts, scores and `scored_docs` are the ones a
local run makes (tested). Finished units are marked done last and reused by a resumed run.
"""

from __future__ import annotations

import hashlib
import logging
import os
import shutil
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import asdict, dataclass, field

from .dedup import DedupOptions
from .layout import data_folder_for, stored_layout
from .prompts import PromptOptions
from .score_stage import ScoreReport, prepare_scoring, score_page
from .scoring.base import Scorer
from .store import Store
from .stored_bands import bands_folder_for, stored_band_files
from .task_files import copy_to_parquet, quoted, read_marker, write_marker

__all__ = ["ScoreUnitTask", "ScoredUnit", "score_stored_units", "score_unit"]

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


def score_unit(scorer: Scorer, task: ScoreUnitTask) -> ScoredUnit:
    """Score one unit's kept documents (where the scorer lives); a unit scored before is returned."""
    stem = os.path.join(task.folder, task.key)
    marker = f"{stem}.scored.json"
    found = read_marker(marker)
    if found is not None:
        return ScoredUnit(**found)
    report = ScoreReport(scorer.name, scorer.version)
    paths = (f"{stem}.prompts.parquet", f"{stem}.scores.parquet", f"{stem}.done.parquet")
    with Store(":memory:") as local:
        con = local.con
        cached = f"read_parquet('{quoted(task.cache)}')" if task.cache else None
        if cached:
            con.execute(f"INSERT INTO scores SELECT * FROM {cached}")
        con.execute("CREATE TEMP TABLE skip (doc_id VARCHAR)")
        if task.skip:
            con.executemany("INSERT INTO skip VALUES (?)", [(doc_id,) for doc_id in task.skip])
        reader = con.execute(
            "SELECT doc_id, lang, script, text FROM read_parquet(?) WHERE dup_of IS NULL "
            "AND doc_id NOT IN (SELECT doc_id FROM skip) ORDER BY doc_id",
            [task.documents],
        ).fetchall()
        for start in range(0, len(reader), task.page_size):
            score_page(local, scorer, task.options, reader[start : start + task.page_size], task.score_batch, report)
        fresh = "SELECT * FROM scores" + (f" EXCEPT SELECT * FROM {cached}" if cached else "")
        for query, path in zip(("SELECT * FROM prompts", fresh, "SELECT * FROM scored_docs"), paths, strict=True):
            copy_to_parquet(con, query, path)
    scored = ScoredUnit(task.key, *paths, report.documents, report.prompts, report.texts_scored, report.cache_hits,
                        report.failed_prompts, report.failure_examples)  # fmt: skip
    write_marker(marker, asdict(scored))
    return scored


UnitScorer = Callable[[list[ScoreUnitTask]], Iterator[ScoredUnit]]
"""Scores tasks somewhere (in this process, or on a pool of Ray actors), yielding as they finish."""


def local_unit_scorer(scorer: Scorer) -> UnitScorer:
    def run(tasks: list[ScoreUnitTask]) -> Iterator[ScoredUnit]:
        return (score_unit(scorer, task) for task in tasks)

    return run


def _pending_units(store: Store, scorer: Scorer) -> list[tuple[str, int, int, int]]:
    """(band file, first ordinal, last ordinal, documents handled) of units with unscored kept documents."""
    rows = store.con.execute(
        "SELECT b.path, b.first_ordinal, b.first_ordinal + b.n_documents - 1, count(s.doc_id) "
        "FROM band_files b LEFT JOIN doc_minhash m ON m.seq BETWEEN b.first_ordinal AND b.first_ordinal + "
        "b.n_documents - 1 LEFT JOIN scored_docs s ON s.doc_id = m.doc_id AND s.scorer = ? "
        "GROUP BY ALL HAVING count(s.doc_id) < any_value(b.n_kept) ORDER BY b.first_ordinal",
        [scorer.name],
    ).fetchall()
    return [(str(p), int(a), int(b), int(n)) for p, a, b, n in rows]


def _tasks(
    store: Store, db_path: str, scorer: Scorer, options: PromptOptions, work: str, page_size: int, score_batch: int
) -> Iterable[ScoreUnitTask]:
    layout = stored_layout(store)
    cache = os.path.join(work, "cache.parquet")
    copy_to_parquet(
        store.con,
        f"SELECT * FROM scores WHERE scorer = '{quoted(scorer.name)}' AND scorer_version = '{quoted(scorer.version)}'",
        cache,
    )
    for name, first, last, handled in _pending_units(store, scorer):
        skip: tuple[str, ...] = ()
        if handled:
            skip = tuple(
                row[0]
                for row in store.con.execute(
                    "SELECT s.doc_id FROM scored_docs s JOIN doc_minhash m USING (doc_id) WHERE s.scorer = ? "
                    "AND m.seq BETWEEN ? AND ?",
                    [scorer.name, first, last],
                ).fetchall()
            )
        if layout == "parquet":
            documents = os.path.join(data_folder_for(db_path), "documents", name)
        else:  # the documents are in the database: export the unit's kept ones (DuckDB, not Python)
            documents = os.path.join(work, f"{name}.docs.parquet")
            if not os.path.exists(documents):
                copy_to_parquet(
                    store.con,
                    "SELECT d.* FROM documents d JOIN doc_minhash m USING (doc_id) "
                    f"WHERE m.seq BETWEEN {first} AND {last}",
                    documents,
                )
        yield ScoreUnitTask(os.path.splitext(name)[0], documents, options, work, cache, skip, page_size, score_batch)


def score_stored_units(
    store: Store,
    db_path: str,
    scorer: Scorer,
    run: UnitScorer | None = None,
    options: PromptOptions | None = None,
    page_size: int = 256,
    score_batch: int = 256,
    progress: Callable[[int], None] | None = None,
) -> ScoreReport:
    """Build and score prompts for every stored unit with kept documents this scorer has not
    handled, by `run` (default: in this process); commit each unit's files as it comes back."""
    options = prepare_scoring(store, options)
    dedup = DedupOptions.from_settings(store.settings())
    stored_band_files(store, bands_folder_for(db_path), dedup)  # databases from before band files: their units
    report = ScoreReport(scorer.name, scorer.version)
    started = time.monotonic()
    scorer_tag = hashlib.blake2b(f"{scorer.name}\x00{scorer.version}".encode(), digest_size=8).hexdigest()
    work = os.path.join(os.path.abspath(db_path) + ".scoring", scorer_tag)  # a resumed run reuses finished units
    os.makedirs(work, exist_ok=True)
    tasks = list(_tasks(store, db_path, scorer, options, work, page_size, score_batch))
    for scored in (run or local_unit_scorer(scorer))(tasks):
        with store.transaction() as con:
            con.execute("INSERT INTO scores SELECT * FROM read_parquet(?) ON CONFLICT DO NOTHING", [scored.scores_path])
            con.execute("INSERT INTO prompts BY NAME SELECT * FROM read_parquet(?)", [scored.prompts_path])
            con.execute("INSERT INTO scored_docs BY NAME SELECT * FROM read_parquet(?)", [scored.done_path])
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
