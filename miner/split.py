"""Stratified, reproducible prompt splits: per-language x toxicity-bucket quotas, sampled by a
seeded hash (md5 of seed and prompt id) so the same seed picks the same set on any machine.
Shortfalls are reported per cell, never padded."""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

import pyarrow as pa

from .corpus_reads import EXPORT_COLUMNS, bucket_sql, prompt_scorers, prompt_sources, sample_prompts, sources_summary
from .dataset_card import card_header, check_card_replaceable
from .errors import ConfigError
from .prompts import DEFAULT_BUCKET_EDGES, PROMPT_STYLES, check_bucket_edges, style_from_settings
from .store import Store

__all__ = [
    "EXPORT_COLUMNS",
    "SplitOptions",
    "SplitReport",
    "bucket_label",
    "bucket_sql",
    "export_split",
    "select_split",
]


@dataclass(frozen=True)
class SplitOptions:
    """Which prompts to take."""

    per_bucket: int = 100
    langs: Sequence[str] | None = None  # None: every language with prompts
    seed: int = 0
    bucket_edges: tuple[float, ...] = DEFAULT_BUCKET_EDGES
    scorer: str | None = None  # None: the only scorer in the database
    sources: Sequence[str] | None = None  # prompts.source values ('mined', imported sets); None: all

    def __post_init__(self) -> None:
        if self.per_bucket < 1:
            raise ConfigError(f"--per-bucket must be at least 1, got {self.per_bucket}")
        try:
            check_bucket_edges(self.bucket_edges)
        except ValueError as exc:
            raise ConfigError(f"--buckets: {exc}") from exc


@dataclass
class SplitReport:
    """What a split holds and where it was written."""

    scorer: str
    scorer_version: str
    counts: dict[tuple[str, int], int] = field(default_factory=dict)
    shortfalls: dict[tuple[str, int], int] = field(default_factory=dict)  # cell -> missing prompts
    files: list[Path] = field(default_factory=list)

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def bucket_label(edges: tuple[float, ...], index: int) -> str:
    close = "]" if index == len(edges) - 2 else ")"
    return f"[{edges[index]:g}, {edges[index + 1]:g}{close}"


def _pick_scorer(store: Store, wanted: str | None, sources: Sequence[str] | None = None) -> tuple[str, str]:
    rows = prompt_scorers(store, sources)  # most prompts first
    if not rows and sources:
        have = prompt_sources(store)
        raise ConfigError(
            f"{store.path}: no prompts from source {', '.join(sources)}; have {', '.join(have) or 'none'}"
        )
    if not rows:
        raise ConfigError(f"{store.path}: no prompts yet; run `toxmine score` (or mine without --no-score) first")
    if wanted is None:
        scorers = sorted({r.scorer for r in rows})
        if len(scorers) > 1:
            raise ConfigError(
                f"{store.path} has prompts from several scorers ({', '.join(scorers)}); pick one with --scorer"
            )
        wanted = scorers[0]
    versions = [r.scorer_version for r in rows if r.scorer == wanted]
    if not versions:
        raise ConfigError(
            f"{store.path}: no prompts from scorer {wanted!r}; have {', '.join(sorted({r.scorer for r in rows}))}"
        )
    return wanted, versions[0]


def select_split(store: Store, options: SplitOptions) -> tuple[pa.Table, SplitReport]:
    """The stratified sample as an Arrow table (columns EXPORT_COLUMNS), and its counts."""
    scorer, version = _pick_scorer(store, options.scorer, options.sources)
    langs = sorted({code.lower() for code in options.langs}) if options.langs else None
    sources = sorted(set(options.sources)) if options.sources else None
    sample = sample_prompts(store, scorer, version, options.bucket_edges, options.per_bucket, options.seed, langs,
                            sources)  # fmt: skip
    table, have = sample.table, sample.available
    report = SplitReport(scorer, version)
    present = sorted({lang for lang, _ in have})
    if table.num_rows == 0:
        raise ConfigError(_empty_split(store, langs, scorer, sources, present))
    for lang in langs if langs else present:
        for b in range(len(options.bucket_edges) - 1):
            taken = min(have.get((lang, b), 0), options.per_bucket)
            report.counts[(lang, b)] = taken
            if taken < options.per_bucket:
                report.shortfalls[(lang, b)] = options.per_bucket - taken
    return table, report


def _empty_split(
    store: Store, langs: Sequence[str] | None, scorer: str, sources: Sequence[str] | None, present: Sequence[str]
) -> str:
    """Why a selection holds no prompt, and which languages would."""
    where = f"in {', '.join(langs)} " if langs else ""
    of = f" from source {', '.join(sources)}" if sources else ""
    return (f"{store.path}: the split is empty: no prompts {where}from scorer {scorer}{of}; "
            f"languages with prompts: {', '.join(present) or 'none'}")  # fmt: skip


def export_split(store: Store, options: SplitOptions, out_dir: Path, name: str = "prompts") -> SplitReport:
    """Write `NAME.jsonl`, `NAME.parquet`, one Parquet file per language (`data/NAME/LANG.parquet`) and
    `README.md` (the dataset card, with the YAML header `datasets.load_dataset(out_dir)` and the Hub read)
    into `out_dir`. A README.md there that toxmine did not write is refused before anything is written."""
    card = out_dir / "README.md"
    check_card_replaceable(card)
    table, report = select_split(store, options)
    cells_langs = sorted({lang for lang, _ in report.counts})
    out_dir.mkdir(parents=True, exist_ok=True)
    jsonl, parquet = out_dir / f"{name}.jsonl", out_dir / f"{name}.parquet"
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    pq.write_table(table, parquet)
    with open(jsonl, "w", encoding="utf-8") as handle:
        for row in table.to_pylist():
            handle.write(json.dumps(row, ensure_ascii=False) + "\n")
    by_lang = out_dir / "data" / name
    by_lang.mkdir(parents=True, exist_ok=True)
    for stale in by_lang.glob("*.parquet"):  # an earlier export's languages
        stale.unlink()
    lang_files: dict[str, str] = {}
    for lang in sorted(set(table.column("lang").to_pylist())):
        path = by_lang / f"{lang}.parquet"
        pq.write_table(table.filter(pc.equal(table.column("lang"), lang)), path)
        lang_files[str(lang)] = path.relative_to(out_dir).as_posix()
    sources = sorted({str(s or "mined") for s in table.column("source").to_pylist()})
    header = card_header(f"toxmine {name}", parquet.name, lang_files, table.num_rows, "mined" in sources, sources)
    card.write_text(header + _card(store, options, report, cells_langs, name), encoding="utf-8")
    report.files = [jsonl, parquet, card, *(out_dir / f for f in lang_files.values())]
    return report


def _card(store: Store, options: SplitOptions, report: SplitReport, langs: Sequence[str], name: str) -> str:
    edges = options.bucket_edges
    n_buckets = len(edges) - 1
    header = "| lang | " + " | ".join(bucket_label(edges, b) for b in range(n_buckets)) + " | total |"
    lines = [header, "|---" * (n_buckets + 2) + "|"]
    for lang in langs:
        cells = [report.counts.get((lang, b), 0) for b in range(n_buckets)]
        marked = [f"{c}" + ("*" if (lang, b) in report.shortfalls else "") for b, c in enumerate(cells)]
        lines.append(f"| {lang} | " + " | ".join(marked) + f" | {sum(cells)} |")
    sources = sources_summary(store)
    settings = store.settings()
    style = style_from_settings(settings)
    style_note = PROMPT_STYLES[style].description if style in PROMPT_STYLES else "unknown to this toxmine version"
    shortfall_note = (
        f"{len(report.shortfalls)} cells (marked *) hold fewer than {options.per_bucket} prompts; "
        f"{sum(report.shortfalls.values())} prompts short in all. Cells are never padded."
        if report.shortfalls
        else "Every cell is full."
    )
    return f"""# Toxicity-stratified prompt set `{name}`

Naturally occurring prompts mined from web documents by toxmine, split into a prompt and its
continuation, scored for toxicity and sampled per language and toxicity bucket.

- Prompts: **{report.total}** in {len(langs)} languages x {n_buckets} buckets, up to {options.per_bucket} per cell
- Scorer: `{report.scorer}` version `{report.scorer_version}`
- Buckets (on the whole span's toxicity): {", ".join(bucket_label(edges, b) for b in range(n_buckets))}
- Prompt style: `{style}` ({style_note})
- Seed: {options.seed} (selection: the {options.per_bucket} smallest md5("{options.seed}:" + prompt_id) per cell)
- Languages: {", ".join(langs) if langs else "none"}
- Prompt sources: {", ".join(sorted(options.sources)) if options.sources else "all (mined and imported)"}
- Sources: {sources.inputs} WARC inputs; crawls: {sources.crawl_names or "n/a"}
- Filters: language ID threshold and spans as stored in the database settings:
  {", ".join(f"{k}={v}" for k, v in sorted(settings.items()) if k.startswith(("prompts.", "dedup.")))}
- Database: `{os.path.basename(store.path)}`; written {datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}

{shortfall_note}

{chr(10).join(lines)}

Files: `{name}.jsonl` and `{name}.parquet` with fields {", ".join(EXPORT_COLUMNS)}; the same rows per
language in `data/{name}/LANG.parquet`. `datasets.load_dataset("FOLDER")` loads them all (config `all`),
`datasets.load_dataset("FOLDER", "de")` one language; the split is `test`.
Licence: web texts stay under their sites' terms (Common Crawl's terms of use for crawled pages);
imported sets (ALERT, MultiJail, ...) keep their own licences. Check them before publishing.
`toxicity` scores the whole span (prompt + continuation); `bucket` indexes the buckets above.
If the scorer is `lexicon`, scores come from a word list, not a trained classifier.
"""
