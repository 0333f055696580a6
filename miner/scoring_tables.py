"""The scoring tables' one door: every read and write of `scores`, `prompts`, `scored_docs` and
`scored_files` the scoring stage makes, on the database or on a scoring process's private
in-memory score cache (a `Store(":memory:")` with the same tables).

What scoring reads: cached scores of texts, the stored units with kept documents a scorer has not
handled, the documents it handled in a unit, a scorer's cache and a unit's documents exported as
Parquet for the tasks. What it writes: a task's rows into the cache, a scored unit's files committed
into the tables (`--layout tables`) or recorded in `scored_files` (`--layout parquet`, miner/layout.py).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from .store import Store, utc_now
from .tables import ROWS_SUFFIX, SCORES, registered, relation_kind
from .task_files import copy_to_parquet, quoted

__all__ = [
    "PendingUnit",
    "ScoredFile",
    "cached_toxicity",
    "clear_unit_rows",
    "commit_scored_rows",
    "export_scorer_cache",
    "export_unit_documents",
    "export_unit_rows",
    "handled_documents",
    "load_scores",
    "next_score_rowid",
    "pending_units",
    "record_scored_file",
    "scored_file_names",
]


# -- the score cache --------------------------------------------------------------------------
def cached_toxicity(store: Store, scorer: str, scorer_version: str, digests: Sequence[str]) -> dict[str, float]:
    """The cached toxicity of each of `digests` (text hashes) this scorer version scored."""
    if not digests:
        return {}
    with registered(store.con, "_digests", SCORES.arrow({"text_hash": list(digests)})):
        rows = store.con.execute(
            "SELECT s.text_hash, s.value FROM scores s JOIN _digests USING (text_hash) "
            "WHERE s.scorer = ? AND s.scorer_version = ? AND s.attribute = 'toxicity'",
            [scorer, scorer_version],
        ).fetchall()
    return {digest: float(value) for digest, value in rows}


def export_scorer_cache(store: Store, scorer: str, scorer_version: str, path: str) -> None:
    """Write every `scores` row of this scorer version to `path` (Parquet, whole)."""
    copy_to_parquet(
        store.con,
        f"SELECT * FROM scores WHERE scorer = '{quoted(scorer)}' AND scorer_version = '{quoted(scorer_version)}'",
        path,
    )


def load_scores(store: Store, path: str) -> None:
    """Add the `scores` rows of a Parquet file (as `export_scorer_cache` wrote it) to `store`'s cache."""
    store.con.execute("INSERT INTO scores SELECT * FROM read_parquet(?)", [path])


def next_score_rowid(store: Store) -> int:
    """The rowid the next `scores` row of `store` gets (a private cache's rows in insertion order)."""
    row = store.con.execute("SELECT coalesce(max(rowid) + 1, 0) FROM scores").fetchone()
    return int(row[0]) if row else 0


def export_unit_rows(store: Store, fresh_from: int, paths: tuple[str, str, str]) -> None:
    """Write a private cache's prompts, its scores from rowid `fresh_from` on and its scored_docs to
    `paths` (in that order; Parquet, each whole)."""
    fresh = f"SELECT * EXCLUDE (rowid) FROM (SELECT rowid, * FROM scores) WHERE rowid >= {int(fresh_from)}"
    for query, path in zip(("SELECT * FROM prompts", fresh, "SELECT * FROM scored_docs"), paths, strict=True):
        copy_to_parquet(store.con, query, path)


def clear_unit_rows(store: Store) -> None:
    """Forget a private cache's prompts and handled documents (its scores stay cached)."""
    store.con.execute("DELETE FROM prompts; DELETE FROM scored_docs")


# -- the units to score -----------------------------------------------------------------------
@dataclass(frozen=True)
class PendingUnit:
    """A stored unit with kept documents a scorer has not handled: its band file, ordinal range
    (first to last, inclusive), kept documents and those the scorer handled."""

    band_file: str
    first: int
    last: int
    kept: int
    handled: int


def _files_hold_every_handled(store: Store, scorer: str) -> bool:
    """Whether `scored_files` alone says which documents `scorer` handled: the Parquet layout,
    with no `scored_docs` rows of this scorer inside the database (an older layout's)."""
    if relation_kind(store.con, f"scored_docs{ROWS_SUFFIX}") is None:
        return False
    inside = store.con.execute(f"SELECT count(*) FROM scored_docs{ROWS_SUFFIX} WHERE scorer = ?", [scorer]).fetchone()
    return not (inside and inside[0])


def pending_units(store: Store, scorer: str) -> list[PendingUnit]:
    """The units with kept documents `scorer` has not handled, in ordinal order. With the Parquet
    layout the counts come from `scored_files` alone (no document is read: the driver stays flat);
    otherwise from `scored_docs` joined to the units' ordinals."""
    if _files_hold_every_handled(store, scorer):
        query = (
            "SELECT b.path, b.first_ordinal, b.first_ordinal + b.n_documents - 1, b.n_kept, "
            "coalesce(sum(f.n_documents), 0) AS handled FROM band_files b LEFT JOIN scored_files f "
            "ON f.unit = b.path AND f.scorer = ? GROUP BY ALL HAVING handled < b.n_kept ORDER BY b.first_ordinal"
        )
    else:
        query = (
            "SELECT b.path, b.first_ordinal, b.first_ordinal + b.n_documents - 1, any_value(b.n_kept), "
            "count(s.doc_id) FROM band_files b LEFT JOIN doc_minhash m ON m.seq BETWEEN b.first_ordinal AND "
            "b.first_ordinal + b.n_documents - 1 LEFT JOIN scored_docs s ON s.doc_id = m.doc_id AND s.scorer = ? "
            "GROUP BY ALL HAVING count(s.doc_id) < any_value(b.n_kept) ORDER BY b.first_ordinal"
        )
    rows = store.con.execute(query, [scorer]).fetchall()
    return [PendingUnit(str(p), int(a), int(b), int(k), int(n)) for p, a, b, k, n in rows]


def handled_documents(store: Store, scorer: str, first: int, last: int) -> tuple[str, ...]:
    """The doc_ids with ordinals `first`..`last` that `scorer` handled already, in doc_id order
    (their digest names a resumed run's tasks: a parallel join's row order must not change it)."""
    rows = store.con.execute(
        "SELECT s.doc_id FROM scored_docs s JOIN doc_minhash m USING (doc_id) WHERE s.scorer = ? "
        "AND m.seq BETWEEN ? AND ? ORDER BY s.doc_id",
        [scorer, first, last],
    ).fetchall()
    return tuple(row[0] for row in rows)


def export_unit_documents(store: Store, first: int, last: int, path: str) -> None:
    """Write the stored documents with ordinals `first`..`last` (`--layout tables`) to `path` (Parquet, whole)."""
    copy_to_parquet(
        store.con,
        "SELECT d.* FROM documents d JOIN doc_minhash m USING (doc_id) "
        f"WHERE m.seq BETWEEN {int(first)} AND {int(last)}",
        path,
    )


# -- commits ----------------------------------------------------------------------------------
def commit_scored_rows(store: Store, scores_path: str, prompts_path: str, done_path: str) -> None:
    """Insert a scored unit's files into `scores` (keys already cached are kept), `prompts` and
    `scored_docs`, in one transaction (`--layout tables`)."""
    with store.transaction() as con:
        con.execute("INSERT INTO scores SELECT * FROM read_parquet(?) ON CONFLICT DO NOTHING", [scores_path])
        con.execute("INSERT INTO prompts BY NAME SELECT * FROM read_parquet(?)", [prompts_path])
        con.execute("INSERT INTO scored_docs BY NAME SELECT * FROM read_parquet(?)", [done_path])


@dataclass(frozen=True)
class ScoredFile:
    """A scored unit's files, as recorded in `scored_files` (`--layout parquet`)."""

    path: str  # the files' name under <database>.data/{prompts,scores,scored_docs}/
    unit: str  # the band file of the unit scored
    scorer: str
    scorer_version: str
    n_documents: int
    n_prompts: int


def record_scored_file(store: Store, scored: ScoredFile) -> None:
    """Record a scored unit's files, moved into the layout's folders: the views show them from now on."""
    store.con.execute(
        "INSERT INTO scored_files VALUES (?, ?, ?, ?, ?, ?, ?)",
        [scored.path, scored.unit, scored.scorer, scored.scorer_version, scored.n_documents, scored.n_prompts,
         utc_now()],
    )  # fmt: skip


def scored_file_names(store: Store) -> list[str]:
    """The names of every recorded scored unit's files."""
    return [str(row[0]) for row in store.con.execute("SELECT path FROM scored_files").fetchall()]
