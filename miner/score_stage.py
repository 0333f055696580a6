"""The scoring stage's steps: kept documents -> prompt spans -> toxicity scores -> `prompts` rows,
through the score cache. `score_units.score_documents` runs them per stored unit.

Documents handled by a scorer are recorded in `scored_docs`, and every scored text is cached in
`scores` under (text hash, scorer, version), so the same text is never scored twice by the same
scorer version.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass, field

import duckdb
import pyarrow as pa

from .errors import ToxmineError
from .prompts import DEFAULT_PROMPT_STYLE, PROMPT_STYLES, PromptOptions, bucket_of, prompt_id_for, spans_of
from .scoring.base import Scorer, TextScore
from .scoring_tables import cached_toxicity
from .store import Store
from .tables import PROMPTS, SCORED_DOCS, SCORES, insert

__all__ = [
    "ScoreReport",
    "ScoredTexts",
    "insert_scores",
    "prepare_scoring",
    "score_page",
    "score_texts",
    "text_digest",
]

log = logging.getLogger(__name__)


def text_digest(text: str) -> str:
    """Cache key of an exact text."""
    return hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


@dataclass
class ScoreReport:
    """What a scoring pass did."""

    scorer: str
    scorer_version: str
    documents: int = 0
    prompts: int = 0
    texts_scored: int = 0
    cache_hits: int = 0
    failed_prompts: int = 0  # left out: the scorer could not score one of their texts
    failure_examples: list[str] = field(default_factory=list)  # a few distinct reasons
    elapsed_s: float = 0.0


def _prompt_settings(options: PromptOptions) -> dict[str, str]:
    return {
        "prompts.min_chars": str(options.min_chars),
        "prompts.max_chars": str(options.max_chars),
        "prompts.split_fraction": str(options.split_fraction),
        "prompts.max_spans_per_doc": str(options.max_spans_per_doc),
        "prompts.bucket_edges": json.dumps(list(options.bucket_edges)),
        "prompts.style": options.style,
    }


def _record_legacy_style(store: Store) -> None:
    """A database scored before prompt styles existed holds prompts.* settings but no prompts.style:
    its prompts were cut in the toxmine style, so record that and another style is refused."""
    keys = {key for key in store.settings() if key.startswith("prompts.")}
    if keys and "prompts.style" not in keys:
        store.ensure_settings({"prompts.style": DEFAULT_PROMPT_STYLE})


def _score_missing(scorer: Scorer, texts: dict[str, tuple[str, str | None]], batch: int) -> dict[str, TextScore]:
    digests = list(texts)
    scored: dict[str, TextScore] = {}
    for start in range(0, len(digests), batch):
        chunk = digests[start : start + batch]
        try:
            results = scorer.score_batch([texts[d][0] for d in chunk], [texts[d][1] for d in chunk])
        except ToxmineError:
            raise
        except Exception as exc:
            raise ToxmineError(f"scorer {scorer.name} failed on a batch of {len(chunk)} texts: {exc}") from exc
        if len(results) != len(chunk):
            raise ToxmineError(f"scorer {scorer.name} returned {len(results)} scores for {len(chunk)} texts")
        for digest, result in zip(chunk, results, strict=True):
            if result.error is None and not 0.0 <= result.toxicity <= 1.0:
                raise ToxmineError(f"scorer {scorer.name} returned toxicity {result.toxicity} outside [0, 1]")
            scored[digest] = result
    return scored


@dataclass
class ScoredTexts:
    """Toxicity of a set of texts by digest, and the `scores` rows of those not cached yet. Texts the
    scorer could not score are in `failed` (digest -> reason) only: not in `toxicity`, never cached."""

    toxicity: dict[str, float]
    score_rows: pa.Table  # text_hash, attribute, value of freshly scored texts
    cache_hits: int
    texts_scored: int
    failed: dict[str, str] = field(default_factory=dict)


def score_texts(
    store: Store, scorer: Scorer, texts: dict[str, tuple[str, str | None]], batch: int = 256
) -> ScoredTexts:
    """Score `texts` ({digest: (text, lang)}) through the score cache: cached digests are read from
    `scores`, the others scored in batches of `batch`. Nothing is written: pass the result to
    `insert_scores` inside the caller's transaction."""
    cached = cached_toxicity(store, scorer.name, scorer.version, list(texts))
    results = _score_missing(scorer, {k: v for k, v in texts.items() if k not in cached}, batch)
    fresh = {digest: result for digest, result in results.items() if result.error is None}
    failed = {digest: result.error for digest, result in results.items() if result.error is not None}
    score_rows: dict[str, list[object]] = {"text_hash": [], "attribute": [], "value": []}
    for digest, result in fresh.items():
        attributes = {"toxicity": result.toxicity, **result.attributes}
        for attribute, value in attributes.items():
            score_rows["text_hash"].append(digest)
            score_rows["attribute"].append(attribute)
            score_rows["value"].append(float(value))
    return ScoredTexts(
        toxicity={**cached, **{k: v.toxicity for k, v in fresh.items()}},
        score_rows=SCORES.arrow(score_rows),
        cache_hits=len(cached),
        texts_scored=len(fresh),
        failed=failed,
    )


def insert_scores(con: duckdb.DuckDBPyConnection, scorer: Scorer, scored: ScoredTexts) -> None:
    """Add freshly scored texts to the `scores` cache (call inside the caller's transaction)."""
    constants = {"scorer": scorer.name, "scorer_version": scorer.version}
    insert(con, SCORES, scored.score_rows, constants, on_conflict="ignore")


def prepare_scoring(store: Store, options: PromptOptions | None) -> PromptOptions:
    """The prompt options, checked and recorded (a database keeps one set)."""
    options = options or PromptOptions()
    PROMPT_STYLES[options.style].prepare()  # a missing dependency fails before any setting is stored
    _record_legacy_style(store)
    store.ensure_settings(_prompt_settings(options))
    return options


def score_page(
    store: Store,
    scorer: Scorer,
    options: PromptOptions,
    docs: list[tuple[str, str | None, str | None, str]],
    score_batch: int,
    report: ScoreReport,
) -> None:
    """Cut `docs` (doc_id, lang, script, text) into prompts, score them through `store`'s score
    cache, and store prompts, fresh scores and `scored_docs` rows in one transaction."""
    # spans, and the distinct texts they need scored (prompt, continuation, whole span)
    planned = []
    texts: dict[str, tuple[str, str | None]] = {}
    per_doc: dict[str, int] = {}
    for doc_id, lang, script, text in docs:
        spans = spans_of(text, lang, script, options)
        per_doc[doc_id] = len(spans)
        for span in spans:
            keys = (text_digest(span.prompt), text_digest(span.continuation), text_digest(span.text))
            for key, part in zip(keys, (span.prompt, span.continuation, span.text), strict=True):
                texts.setdefault(key, (part, lang))
            planned.append((doc_id, lang, span, keys))
    scored = score_texts(store, scorer, texts, score_batch)
    toxicity = scored.toxicity
    report.cache_hits += scored.cache_hits
    report.texts_scored += scored.texts_scored

    prompt_rows: list[dict[str, object]] = []
    failed = 0
    for doc_id, lang, span, (k_prompt, k_cont, k_span) in planned:
        reason = next((scored.failed[k] for k in (k_span, k_prompt, k_cont) if k in scored.failed), None)
        if reason is not None:  # left out and counted, never stored with a made-up score
            failed += 1
            per_doc[doc_id] -= 1
            if reason not in report.failure_examples and len(report.failure_examples) < 5:
                report.failure_examples.append(reason)
            continue
        prompt_rows.append({
            "prompt_id": prompt_id_for(doc_id, span.start, span.end, span.text, options.style), "doc_id": doc_id,
            "lang": lang, "span_start": span.start, "span_end": span.end, "prompt": span.prompt,
            "continuation": span.continuation, "toxicity": toxicity[k_span], "prompt_toxicity": toxicity[k_prompt],
            "continuation_toxicity": toxicity[k_cont], "bucket": bucket_of(toxicity[k_span], options.bucket_edges),
        })  # fmt: skip
    done = SCORED_DOCS.arrow({"doc_id": list(per_doc), "n_prompts": list(per_doc.values())})
    with store.transaction() as con:
        insert_scores(con, scorer, scored)
        insert(con, PROMPTS, PROMPTS.from_rows(prompt_rows), {"scorer": scorer.name, "scorer_version": scorer.version})
        insert(con, SCORED_DOCS, done, {"scorer": scorer.name})
    report.documents += len(docs)
    report.prompts += len(planned) - failed
    report.failed_prompts += failed
    if failed:
        log.warning("%s: %d prompts left out, the scorer could not score them (%s)", scorer.name, failed,
                    next(iter(scored.failed.values())))  # fmt: skip
