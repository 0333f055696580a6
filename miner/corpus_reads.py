"""Reads of the corpus side of the database for the split, the CLI and the evaluation report: prompts
(which scorers and sources made them, the stratified sample a split draws), sources, documents still
to score and the languages' resource levels; and what a mining run stored (its report's counts). The
scoring stage's reads are miner/scoring_tables.py's, the mining stage's are the Store's."""

from __future__ import annotations

from collections.abc import Sequence
from contextlib import ExitStack
from dataclasses import dataclass

import pyarrow as pa

from .store import Store
from .tables import PROMPTS, registered

__all__ = [
    "EXPORT_COLUMNS",
    "LanguageTargeting",
    "PromptSample",
    "ScorerPrompts",
    "SourcesSummary",
    "TargetingSummary",
    "bucket_sql",
    "prompt_scorers",
    "prompt_sources",
    "resource_levels",
    "run_drops",
    "run_targeting",
    "sample_prompts",
    "sources_summary",
    "stored_documents",
    "unscored_documents",
]

EXPORT_COLUMNS = (
    "prompt_id", "lang", "prompt", "continuation", "toxicity", "prompt_toxicity", "continuation_toxicity",
    "bucket", "url", "warc_file", "warc_record_id", "crawl", "doc_id", "scorer", "scorer_version",
    "source", "category", "harmful", "attributes_json",
)  # fmt: skip


def bucket_sql(edges: tuple[float, ...], column: str = "toxicity") -> str:
    """A SQL CASE giving the bucket index of `column` (last bucket closed at 1)."""
    whens = " ".join(f"WHEN {column} < {edges[i + 1]!r} THEN {i}" for i in range(len(edges) - 2))
    return f"CASE {whens} ELSE {len(edges) - 2} END"


@dataclass(frozen=True)
class ScorerPrompts:
    """How many prompt rows one scorer version made."""

    scorer: str
    scorer_version: str
    prompts: int


def prompt_scorers(store: Store, sources: Sequence[str] | None = None) -> list[ScorerPrompts]:
    """Each scorer version with prompts (only those from `sources` when given), most prompts first."""
    rows = store.con.execute(
        "SELECT scorer, scorer_version, count(*) FROM prompts "
        "WHERE $sources IS NULL OR list_contains($sources, source) GROUP BY ALL ORDER BY 3 DESC",
        {"sources": list(sources) if sources else None},
    ).fetchall()
    return [ScorerPrompts(scorer, version, int(n)) for scorer, version, n in rows]


def prompt_sources(store: Store) -> list[str]:
    """The distinct `prompts.source` values ('mined', imported sets), sorted."""
    return [str(row[0]) for row in store.con.execute("SELECT DISTINCT source FROM prompts ORDER BY 1").fetchall()]


@dataclass(frozen=True)
class PromptSample:
    """A stratified sample (columns EXPORT_COLUMNS, `bucket` the split's) and the prompts available in
    each (language, bucket) cell of the sampled scorer version and sources."""

    table: pa.Table
    available: dict[tuple[str, int], int]


def _filters(with_langs: bool, with_sources: bool, alias: str = "") -> str:
    prefix = f"{alias}." if alias else ""
    lang_filter = f"AND {prefix}lang IN (SELECT lang FROM _split_langs)" if with_langs else ""
    source_filter = f"AND {prefix}source IN (SELECT source FROM _split_sources)" if with_sources else ""
    return f"{lang_filter} {source_filter}"


def _sample_sql(edges: tuple[float, ...], with_langs: bool, with_sources: bool) -> str:
    return f"""
        WITH candidates AS (
            SELECT p.*, {bucket_sql(edges, "p.toxicity")} AS split_bucket,
                   d.url, d.warc_file, d.warc_record_id, d.crawl,
                   md5(CAST(? AS VARCHAR) || ':' || p.prompt_id) AS draw
            FROM prompts p LEFT JOIN documents d USING (doc_id)
            WHERE p.scorer = ? AND p.scorer_version = ? {_filters(with_langs, with_sources, "p")}
        ), ranked AS (
            SELECT *, row_number() OVER (PARTITION BY lang, split_bucket ORDER BY draw, prompt_id) AS pick
            FROM candidates
        )
        SELECT {", ".join("split_bucket AS bucket" if name == "bucket" else name for name in EXPORT_COLUMNS)}
        FROM ranked WHERE pick <= ?
        ORDER BY lang, bucket, draw, prompt_id
    """


def sample_prompts(
    store: Store,
    scorer: str,
    scorer_version: str,
    bucket_edges: tuple[float, ...],
    per_bucket: int,
    seed: int,
    langs: Sequence[str] | None = None,
    sources: Sequence[str] | None = None,
) -> PromptSample:
    """Up to `per_bucket` prompts of the scorer version per (language, bucket) cell: those with the
    smallest md5(seed:prompt_id), ordered by language, bucket and draw; only `langs` and `sources`
    when given (an empty or None filter takes all)."""
    con = store.con
    with ExitStack() as filters:
        if langs:
            filters.enter_context(registered(con, "_split_langs", PROMPTS.arrow({"lang": list(langs)})))
        if sources:
            filters.enter_context(registered(con, "_split_sources", PROMPTS.arrow({"source": list(sources)})))
        table = con.sql(
            _sample_sql(bucket_edges, bool(langs), bool(sources)),
            params=[str(seed), scorer, scorer_version, per_bucket],
        ).to_arrow_table()
        available = con.execute(
            f"SELECT lang, {bucket_sql(bucket_edges)} AS b, count(*) FROM prompts "
            f"WHERE scorer = ? AND scorer_version = ? {_filters(False, bool(sources))} GROUP BY ALL",
            [scorer, scorer_version],
        ).fetchall()
    return PromptSample(table, {(lang, int(b)): int(n) for lang, b, n in available})


@dataclass(frozen=True)
class SourcesSummary:
    """The WARC inputs not failed: how many, their distinct crawls and those crawls' names."""

    inputs: int
    crawls: int
    crawl_names: str | None  # comma-separated; None without any


def sources_summary(store: Store) -> SourcesSummary:
    row = store.con.execute(
        "SELECT count(*), count(DISTINCT crawl), string_agg(DISTINCT crawl, ', ') FROM sources WHERE status != 'failed'"
    ).fetchone()
    return SourcesSummary(0, 0, None) if row is None else SourcesSummary(int(row[0]), int(row[1]), row[2])


def stored_documents(store: Store) -> int:
    """How many documents the database holds (duplicates included)."""
    row = store.con.execute("SELECT count(*) FROM documents").fetchone()
    return int(row[0]) if row else 0


def unscored_documents(store: Store, scorer: str) -> int:
    """Kept documents (not duplicates) `scorer` has not scored yet."""
    row = store.con.execute(
        "SELECT count(*) FROM documents d WHERE dup_of IS NULL AND NOT EXISTS "
        "(SELECT 1 FROM scored_docs s WHERE s.doc_id = d.doc_id AND s.scorer = ?)",
        [scorer],
    ).fetchone()
    return int(row[0]) if row else 0


def resource_levels(store: Store) -> dict[str, str]:
    """Each language's resource level (high, medium, low) from the `languages` table."""
    return {str(lang): str(level) for lang, level in store.con.execute(
        "SELECT lang, resource_level FROM languages").fetchall()}  # fmt: skip


@dataclass(frozen=True)
class LanguageTargeting:
    """One index language's records in a run's record groups (see `targeting.COUNTS`)."""

    lang: str
    selected: int
    fetched: int
    texts: int
    agreed: int
    stored: int  # documents made of them, near-duplicates included
    kept: int  # stored and not a duplicate


@dataclass(frozen=True)
class TargetingSummary:
    """What a mining run's record groups fetched, beside the whole WARC files they touched."""

    warc_files: int
    groups: int
    selected: int
    documents: int
    bytes_fetched: int
    bytes_whole: int | None  # None when a file's size is not known
    languages: list[LanguageTargeting]


def run_targeting(store: Store, run_id: str) -> TargetingSummary | None:
    """The run's record groups' cost and per-language counts; None when it mined no record list."""
    row = store.con.execute(
        "WITH files AS (SELECT f.warc_file, sum(f.bytes_fetched) AS fetched, max(f.bytes_whole) AS whole, "
        "bool_or(f.bytes_whole IS NULL) AS unknown FROM source_files f JOIN sources s USING (source) "
        "WHERE s.run_id = $run GROUP BY f.warc_file), "
        "groups AS (SELECT count(*) AS n, sum(n_selected) AS selected, sum(n_documents) AS documents FROM sources "
        "WHERE run_id = $run AND n_selected IS NOT NULL) "
        "SELECT (SELECT count(*) FROM files), n, selected, documents, (SELECT sum(fetched) FROM files), "
        "(SELECT CASE WHEN bool_or(unknown) THEN NULL ELSE sum(whole) END FROM files) FROM groups",
        {"run": run_id},
    ).fetchone()
    if not row or not row[1]:
        return None
    langs = store.con.execute(
        "SELECT index_lang, sum(selected), sum(fetched), sum(texts), sum(agreed), sum(stored), sum(kept) "
        "FROM source_languages JOIN sources USING (source) WHERE run_id = ? GROUP BY index_lang ORDER BY 2 DESC, 1",
        [run_id],
    ).fetchall()
    return TargetingSummary(
        int(row[0]), int(row[1]), int(row[2] or 0), int(row[3] or 0), int(row[4] or 0),
        None if row[5] is None else int(row[5]),
        [LanguageTargeting(str(lang), *(int(n) for n in counts)) for lang, *counts in langs],
    )  # fmt: skip


def run_drops(store: Store, run_id: str) -> list[tuple[str, int]]:
    """(reason, records) of what a mining run's inputs dropped, most first."""
    rows = store.con.execute(
        "SELECT reason, sum(n)::BIGINT FROM drops JOIN sources USING (source) WHERE run_id = ? "
        "GROUP BY reason ORDER BY 2 DESC, 1",
        [run_id],
    ).fetchall()
    return [(str(reason), int(n)) for reason, n in rows]
