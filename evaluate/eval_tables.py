"""The evaluation tables (migrations 005, 007, 008, 009): eval_runs, generations, eval_metrics, templates,
judgements and safety_metrics. Every read, update and delete toxmine does on them is a function here;
rows written from Arrow go through `toxmine.miner.tables.insert`, wrapped here too. Reads that join the
prompts or languages tables start from a run's generations, so they live here as well.
"""

from __future__ import annotations

import json
import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import duckdb
import pyarrow as pa

from toxmine.miner.corpus_reads import bucket_sql
from toxmine.miner.errors import ConfigError
from toxmine.miner.queries import run_sql
from toxmine.miner.store import Store, utc_now
from toxmine.miner.tables import EVAL_METRICS, GENERATIONS, JUDGEMENTS, SAFETY_METRICS, insert

__all__ = [
    "EvalRunStart",
    "PendingJudgement",
    "RunDates",
    "RunJudge",
    "RunSettings",
    "RunSummary",
    "SampleScore",
    "SampleVerdict",
    "StoredMetric",
    "StoredSafetyMetric",
    "StoredSample",
    "StoredVerdict",
    "done_pairs",
    "finish_run",
    "group_expression",
    "metrics_overview",
    "pending_judgements",
    "prompt_groups",
    "record_template",
    "replace_metrics",
    "replace_safety_metrics",
    "run_dates",
    "run_exists",
    "run_ids",
    "run_judges",
    "run_namings",
    "run_prompt_join",
    "run_samples",
    "run_settings",
    "run_summaries",
    "run_verdicts",
    "safety_judges",
    "safety_overview",
    "sample_scores",
    "sample_verdicts",
    "start_run",
    "store_generations",
    "store_judgements",
    "stored_groupings",
    "stored_metrics",
    "stored_safety_metrics",
]

Rows = tuple[list[str], list[tuple[Any, ...]]]  # column names and rows, as `run_sql` gives them


def run_prompt_join(generations: str = "g", prompts: str = "p") -> str:
    """SQL joining a run's generations to the prompt rows of the scorer its split was drawn with (one
    row per prompt: `prompts` is keyed by prompt id and scorer). A run without a recorded prompt scorer
    (only hand-made ones: migration 008 fills older runs in) joins any scorer's row."""
    return (
        f"JOIN eval_runs _run ON _run.eval_run_id = {generations}.eval_run_id "
        f"JOIN prompts {prompts} ON {prompts}.prompt_id = {generations}.prompt_id "
        f"AND {prompts}.scorer = coalesce(_run.prompt_scorer, {prompts}.scorer)"
    )


# -- eval_runs ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class EvalRunStart:
    """What an evaluation run records when it starts (or resumes)."""

    eval_run_id: str
    model: str
    backend: str
    params_json: str
    split_json: str
    scorer: str
    started_at: datetime
    template_sha256: str | None
    prompt_scorer: str
    prompt_scorer_version: str


@dataclass(frozen=True)
class RunSettings:
    """A run's stored provenance (`params_json`) and split (`split`), as JSON text."""

    params_json: str
    split_json: str

    @property
    def params(self) -> dict[str, Any]:
        return dict(json.loads(self.params_json))

    @property
    def split(self) -> dict[str, Any]:
        return dict(json.loads(self.split_json))


@dataclass(frozen=True)
class RunSummary:
    """One run as the report lists it: its record and counts over its generations."""

    eval_run_id: str
    model: str
    backend: str
    params_json: str
    scorer: str
    finished: bool
    prompts: int  # prompts with a generation
    continuations: int
    failed: int  # neither scored nor empty
    truncated: int  # prompts with a truncated continuation
    scenario: str  # "plain" or "template NAME"
    empty: int


def start_run(store: Store, run: EvalRunStart) -> None:
    """Record the run; a resumed run (its id already stored) only takes the new provenance: the id fixes
    everything else, but the metric options it records may differ."""
    with store.transaction() as con:
        con.execute(
            "INSERT INTO eval_runs (eval_run_id, model, backend, params_json, split, scorer, started_at, "
            "template_sha256, prompt_scorer, prompt_scorer_version) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (eval_run_id) DO UPDATE SET params_json = excluded.params_json",
            [run.eval_run_id, run.model, run.backend, run.params_json, run.split_json, run.scorer, run.started_at,
             run.template_sha256, run.prompt_scorer, run.prompt_scorer_version],
        )  # fmt: skip


def finish_run(store: Store, run_id: str) -> None:
    """Mark the run finished now."""
    with store.transaction() as con:
        con.execute("UPDATE eval_runs SET finished_at = ? WHERE eval_run_id = ?", [utc_now(), run_id])


def run_exists(store: Store, run_id: str) -> bool:
    return store.con.execute("SELECT 1 FROM eval_runs WHERE eval_run_id = ?", [run_id]).fetchone() is not None


def run_ids(store: Store) -> list[str]:
    """Every run's id, oldest first (ties by id)."""
    rows = store.con.execute("SELECT eval_run_id FROM eval_runs ORDER BY started_at, eval_run_id").fetchall()
    return [str(row[0]) for row in rows]


def run_settings(store: Store, run_id: str) -> RunSettings | None:
    """The run's stored provenance and split; None for an unknown run."""
    row = store.con.execute("SELECT params_json, split FROM eval_runs WHERE eval_run_id = ?", [run_id]).fetchone()
    return None if row is None else RunSettings(row[0], row[1])


_SUMMARY = (
    "SELECT r.eval_run_id, r.model, r.backend, r.params_json, r.scorer, r.finished_at IS NOT NULL, "
    "count(DISTINCT g.prompt_id), count(g.prompt_id), "
    "count(*) FILTER (WHERE g.prompt_id IS NOT NULL AND g.toxicity IS NULL AND NOT g.empty), "
    "count(DISTINCT g.prompt_id) FILTER (WHERE g.truncated), coalesce('template ' || any_value(t.name), 'plain'), "
    "count(*) FILTER (WHERE g.empty) "
    "FROM eval_runs r LEFT JOIN generations g USING (eval_run_id) LEFT JOIN templates t USING (template_sha256) "
)


def run_summaries(store: Store, ids: Sequence[str] | None = None) -> list[RunSummary]:
    """The runs `ids` in that order (ids not stored are left out), or every run oldest first."""
    if ids:
        rows = store.con.execute(_SUMMARY + "WHERE r.eval_run_id IN ? GROUP BY ALL", [list(ids)]).fetchall()
        order = {run_id: i for i, run_id in enumerate(ids)}
        rows.sort(key=lambda row: order[row[0]])
    else:
        rows = store.con.execute(_SUMMARY + "GROUP BY ALL ORDER BY min(r.started_at), r.eval_run_id").fetchall()
    return [
        RunSummary(str(run_id), model, backend, params_json, scorer, bool(finished), int(prompts), int(continuations),
                   int(failed), int(truncated), str(scenario), int(empty))
        for run_id, model, backend, params_json, scorer, finished, prompts, continuations, failed, truncated,
        scenario, empty in rows
    ]  # fmt: skip


# -- templates ---------------------------------------------------------------------------------
def record_template(store: Store, sha256: str, name: str, text: str) -> None:
    """Keep a template's text (once per checksum)."""
    with store.transaction() as con:
        con.execute("INSERT INTO templates VALUES (?, ?, ?) ON CONFLICT DO NOTHING", [sha256, name, text])


# -- generations and eval_metrics --------------------------------------------------------------
@dataclass(frozen=True)
class SampleScore:
    """One stored continuation's score beside its prompt's language, bucket and toxicity."""

    prompt_id: str
    lang: str
    bucket: int
    prompt_toxicity: float | None
    sample_idx: int
    toxicity: float | None  # None: failed, or empty
    empty: bool


def done_pairs(store: Store, run_id: str) -> set[tuple[str, int]]:
    """The (prompt id, sample index) pairs of the run already scored or stored as empty."""
    rows = store.con.execute(
        "SELECT prompt_id, sample_idx FROM generations WHERE eval_run_id = ? AND (toxicity IS NOT NULL OR empty)",
        [run_id],
    ).fetchall()
    return {(str(p), int(i)) for p, i in rows}


def store_generations(store: Store, run_id: str, scorer: str, rows: pa.Table) -> None:
    """Store continuations of the run scored by `scorer`, replacing those stored for the same samples."""
    with store.transaction() as con:
        insert(con, GENERATIONS, rows, {"eval_run_id": run_id, "scorer": scorer}, on_conflict="replace")


def sample_scores(store: Store, run_id: str, bucket_edges: tuple[float, ...]) -> list[SampleScore]:
    """The run's continuations with the prompt rows of the scorer its split used, bucketed by
    `bucket_edges`, ordered by prompt id and sample index. Empty continuations carry no score (older
    runs stored one)."""
    rows = store.con.execute(
        f"SELECT g.prompt_id, p.lang, {bucket_sql(bucket_edges, 'p.toxicity')} AS bucket, p.prompt_toxicity, "
        "g.sample_idx, CASE WHEN g.empty THEN NULL ELSE g.toxicity END, g.empty "
        f"FROM generations g {run_prompt_join()} WHERE g.eval_run_id = ? "
        "ORDER BY g.prompt_id, g.sample_idx",
        [run_id],
    ).fetchall()
    return [
        SampleScore(prompt_id, lang, int(bucket), prompt_toxicity, index, toxicity, bool(empty))
        for prompt_id, lang, bucket, prompt_toxicity, index, toxicity, empty in rows
    ]


def replace_metrics(store: Store, run_id: str, rows: pa.Table) -> None:
    """The run's metrics become `rows` (every column but eval_run_id), in one transaction."""
    with store.transaction() as con:
        con.execute("DELETE FROM eval_metrics WHERE eval_run_id = ?", [run_id])
        insert(con, EVAL_METRICS, rows, {"eval_run_id": run_id})


def metrics_overview(store: Store, run_id: str) -> Rows:
    """The run's metrics over all buckets, per language and metric, rounded for printing."""
    return run_sql(
        store.con,
        "SELECT lang, metric, round(value, 4) AS value, round(ci_low, 4) AS ci_low, round(ci_high, 4) AS ci_high, "
        "n_prompts, n_failed, n_empty, flag FROM eval_metrics WHERE eval_run_id = $run AND bucket = 'all' "
        "ORDER BY lang, metric",
        {"run": run_id},
    )


# -- judgements --------------------------------------------------------------------------------
@dataclass(frozen=True)
class PendingJudgement:
    """A continuation still to judge: its prompt and text."""

    prompt_id: str
    sample_idx: int
    prompt: str
    text: str
    lang: str | None


_PENDING = f"""
    SELECT g.prompt_id, g.sample_idx, p.prompt, g.text, p.lang
    FROM generations g
    {run_prompt_join()}
    LEFT JOIN judgements j ON j.eval_run_id = g.eval_run_id AND j.prompt_id = g.prompt_id
        AND j.sample_idx = g.sample_idx AND j.judge = $judge
    WHERE g.eval_run_id = $run AND g.text IS NOT NULL
      AND (j.prompt_id IS NULL OR j.error IS NOT NULL OR j.judge_version <> $version)
    ORDER BY g.prompt_id, g.sample_idx
"""


def pending_judgements(store: Store, run_id: str, judge: str, version: str) -> list[PendingJudgement]:
    """The run's continuations with a text that `judge` at `version` has not labelled (or failed on)."""
    rows = store.con.execute(_PENDING, {"judge": judge, "run": run_id, "version": version}).fetchall()
    return [PendingJudgement(str(a), int(b), str(c), str(d), e) for a, b, c, d, e in rows]


def store_judgements(store: Store, run_id: str, judge: str, version: str, rows: pa.Table) -> None:
    """Store verdicts of `judge` at `version`, replacing its earlier verdicts on the same samples."""
    constants = {"eval_run_id": run_id, "judge": judge, "judge_version": version}
    with store.transaction() as con:
        insert(con, JUDGEMENTS, rows, constants, on_conflict="replace")


# -- safety verdicts and metrics ---------------------------------------------------------------
_GROUP_COLUMNS = frozenset({"lang", "category", "source", "bucket", "scorer"})
_ATTRIBUTE = re.compile(r"(?:attributes\.)?([A-Za-z_][A-Za-z0-9_]*)")
_LABEL = """coalesce(j.label, CASE WHEN j.error IS NULL AND j.safe IS NOT NULL
                               THEN CASE WHEN j.safe THEN 'safe' ELSE 'unsafe' END END)"""


def group_expression(name: str) -> str:
    """SQL for a grouping over the prompts alias `p`: a column, or a key of the imported attributes."""
    if name in _GROUP_COLUMNS:
        return f"CAST(p.{name} AS VARCHAR)"
    if name == "resource_level":
        return "coalesce(l.resource_level, 'unknown')"
    match = _ATTRIBUTE.fullmatch(name)
    if not match:
        raise ConfigError(f"cannot group by {name!r}: give a prompts column ({', '.join(sorted(_GROUP_COLUMNS))}) "
                          "or an imported attribute name (letters, digits, _)")  # fmt: skip
    return f"json_extract_string(p.attributes_json, '$.{match[1]}')"


@dataclass(frozen=True)
class SampleVerdict:
    """One continuation of a run with its verdict by one judge and its prompt's groups."""

    prompt_id: str
    harmful: bool | None  # the prompt's `harmful`, or its toxicity >= 0.5 when unknown
    judged: bool  # a verdict without error and with a label
    label: str | None  # safe | unsafe | invalid
    compliance: str | None
    groups: tuple[str | None, ...]  # one per grouping asked for, in order


def sample_verdicts(store: Store, run_id: str, judge: str, groupings: Sequence[str]) -> list[SampleVerdict]:
    """Every continuation of the run with its verdict by `judge` (if any) and its group under each of
    `groupings` (see `group_expression`), ordered by prompt id and sample index."""
    expressions = ", ".join(f"{group_expression(g)} AS g{i}" for i, g in enumerate(groupings))
    rows = store.con.execute(
        f"""
        SELECT g.prompt_id, coalesce(p.harmful, p.toxicity >= 0.5) AS harmful,
               j.error IS NULL AND {_LABEL} IS NOT NULL AS judged, {_LABEL} AS label, j.compliance
               {", " + expressions if expressions else ""}
        FROM generations g
        {run_prompt_join()}
        LEFT JOIN languages l ON l.lang = p.lang
        LEFT JOIN judgements j ON j.eval_run_id = g.eval_run_id AND j.prompt_id = g.prompt_id
            AND j.sample_idx = g.sample_idx AND j.judge = ?
        WHERE g.eval_run_id = ?
        ORDER BY g.prompt_id, g.sample_idx
        """,
        [judge, run_id],
    ).fetchall()
    return [
        SampleVerdict(prompt_id, harmful, bool(judged), label, compliance, tuple(groups))
        for prompt_id, harmful, judged, label, compliance, *groups in rows
    ]


@dataclass(frozen=True)
class StoredSafetyMetric:
    """One stored row of safety_metrics."""

    eval_run_id: str
    grouping: str
    group_value: str
    metric: str
    value: float
    ci_low: float | None
    ci_high: float | None
    n_prompts: int
    n_failed: int
    n_invalid: int
    flag: str | None


def stored_groupings(store: Store, run_id: str, judge: str) -> list[str]:
    """The groupings the run's safety metrics by `judge` are stored for, sorted."""
    rows = store.con.execute(
        "SELECT DISTINCT grouping FROM safety_metrics WHERE eval_run_id = ? AND judge = ? ORDER BY 1", [run_id, judge]
    ).fetchall()
    return [str(row[0]) for row in rows]


def replace_safety_metrics(store: Store, run_id: str, judge: str, rows: pa.Table) -> None:
    """The run's safety metrics by `judge` become `rows`, in one transaction."""
    with store.transaction() as con:
        con.execute("DELETE FROM safety_metrics WHERE eval_run_id = ? AND judge = ?", [run_id, judge])
        insert(con, SAFETY_METRICS, rows, {"eval_run_id": run_id, "judge": judge})


def safety_judges(store: Store, ids: Sequence[str]) -> list[tuple[str, int]]:
    """The judges with safety metrics for any of the runs `ids`, and how many of them each labelled;
    most runs first, ties by name."""
    rows = store.con.execute(
        "SELECT judge, count(DISTINCT eval_run_id) FROM safety_metrics WHERE eval_run_id IN ? GROUP BY judge "
        "ORDER BY 2 DESC, judge",
        [list(ids)],
    ).fetchall()
    return [(str(judge), int(runs)) for judge, runs in rows]


def stored_safety_metrics(store: Store, ids: Sequence[str], judge: str) -> list[StoredSafetyMetric]:
    """The stored safety metrics by `judge` of the runs `ids` (in no particular order)."""
    rows = store.con.execute(
        "SELECT eval_run_id, grouping, group_value, metric, value, ci_low, ci_high, n_prompts, n_failed, n_invalid, "
        "flag FROM safety_metrics WHERE eval_run_id IN ? AND judge = ?",
        [list(ids), judge],
    ).fetchall()
    return [StoredSafetyMetric(*row) for row in rows]


def safety_overview(store: Store, run_id: str, judge: str) -> Rows:
    """The run's safety metrics by `judge` over all prompts, rounded for printing."""
    return run_sql(
        store.con,
        "SELECT metric, round(value, 4) AS value, round(ci_low, 4) AS ci_low, round(ci_high, 4) AS ci_high, "
        "n_prompts, n_failed FROM safety_metrics WHERE eval_run_id = $run AND judge = $judge AND grouping = 'all' "
        "ORDER BY metric",
        {"run": run_id, "judge": judge},
    )


# -- results files (lm-evaluation-harness layout) ----------------------------------------------
@dataclass(frozen=True)
class RunDates:
    """When a run started and finished (None: not finished)."""

    started_at: datetime
    finished_at: datetime | None


def run_dates(store: Store, run_id: str) -> RunDates | None:
    """The run's start and finish; None for an unknown run."""
    row = store.con.execute("SELECT started_at, finished_at FROM eval_runs WHERE eval_run_id = ?", [run_id]).fetchone()
    return None if row is None else RunDates(row[0], row[1])


@dataclass(frozen=True)
class StoredMetric:
    """One stored row of eval_metrics."""

    lang: str
    bucket: str
    metric: str
    value: float
    ci_low: float | None
    ci_high: float | None
    n_prompts: int
    n_failed: int
    n_empty: int
    flag: str | None


def stored_metrics(store: Store, run_id: str) -> list[StoredMetric]:
    """The run's stored metrics, ordered by language, bucket and metric."""
    rows = store.con.execute(
        "SELECT lang, bucket, metric, value, ci_low, ci_high, n_prompts, n_failed, coalesce(n_empty, 0), flag "
        "FROM eval_metrics WHERE eval_run_id = ? ORDER BY lang, bucket, metric",
        [run_id],
    ).fetchall()
    return [StoredMetric(*row) for row in rows]


@dataclass(frozen=True)
class StoredSample:
    """One stored continuation of a run with its prompt."""

    prompt_id: str
    sample_idx: int
    prompt: str
    prompt_lang: str
    bucket: int
    prompt_toxicity: float | None
    source: str | None
    category: str | None
    harmful: bool | None
    continuation: str | None
    continuation_lang: str | None
    continuation_lang_score: float | None
    toxicity: float | None
    empty: bool
    truncated: bool | None
    error: str | None


def run_samples(store: Store, run_id: str, bucket_edges: tuple[float, ...]) -> list[StoredSample]:
    """Every stored continuation of the run with its prompt (the rows of the scorer its split used),
    bucketed by `bucket_edges`, ordered by prompt id and sample index."""
    rows = store.con.execute(
        f"SELECT g.prompt_id, g.sample_idx, p.prompt, p.lang, {bucket_sql(bucket_edges, 'p.toxicity')}, "
        "p.toxicity, p.source, p.category, p.harmful, g.text, g.lang, g.lang_score, "
        "CASE WHEN g.empty THEN NULL ELSE g.toxicity END, coalesce(g.empty, false), g.truncated, g.error "
        f"FROM generations g {run_prompt_join()} WHERE g.eval_run_id = ? ORDER BY g.prompt_id, g.sample_idx",
        [run_id],
    ).fetchall()
    return [
        StoredSample(pid, int(idx), prompt, lang, int(bucket), prompt_tox, source, category, harmful, text, text_lang,
                     lang_score, toxicity, bool(empty), truncated, error)
        for pid, idx, prompt, lang, bucket, prompt_tox, source, category, harmful, text, text_lang, lang_score,
        toxicity, empty, truncated, error in rows
    ]  # fmt: skip


@dataclass(frozen=True)
class StoredVerdict:
    """One judge's stored verdict on one continuation."""

    prompt_id: str
    sample_idx: int
    judge: str
    judge_version: str
    label: str | None
    safe: bool | None
    compliance: str | None
    category: str | None
    score: float | None
    error: str | None


def run_verdicts(store: Store, run_id: str) -> list[StoredVerdict]:
    """Every judge's verdicts on the run's continuations, ordered by prompt, sample and judge."""
    rows = store.con.execute(
        "SELECT prompt_id, sample_idx, judge, judge_version, label, safe, compliance, category, score, error "
        "FROM judgements WHERE eval_run_id = ? ORDER BY prompt_id, sample_idx, judge",
        [run_id],
    ).fetchall()
    return [StoredVerdict(*row) for row in rows]


_NAMING = """
SELECT r.eval_run_id, r.model, coalesce(json_extract_string(r.params_json, '$.protocol'), ''),
       coalesce('template ' || t.name, 'plain')
FROM eval_runs r LEFT JOIN templates t USING (template_sha256)
ORDER BY r.started_at, r.eval_run_id
"""


def run_namings(con: duckdb.DuckDBPyConnection) -> list[tuple[str, str, str, str]]:
    """Every stored run's id, model, protocol ('' before protocols were recorded) and scenario ('plain' or
    'template NAME'), oldest first; `con` may be any connection to the database (a notebook's, read-only)."""
    return [(str(a), str(b), str(c), str(d)) for a, b, c, d in con.execute(_NAMING).fetchall()]


# -- the report's run table and generation browser ---------------------------------------------
@dataclass(frozen=True)
class RunJudge:
    """A judge that labelled a run: its name, version and how many continuations it gave a verdict on."""

    eval_run_id: str
    judge: str
    judge_version: str
    verdicts: int


def run_judges(store: Store, ids: Sequence[str]) -> list[RunJudge]:
    """The judges (name and version) that labelled the runs `ids`, with their verdict counts (errors aside)."""
    rows = store.con.execute(
        "SELECT eval_run_id, judge, judge_version, count(*) FILTER (WHERE error IS NULL) FROM judgements "
        "WHERE eval_run_id IN ? GROUP BY ALL ORDER BY eval_run_id, judge, judge_version",
        [list(ids)],
    ).fetchall()
    return [RunJudge(str(a), str(b), str(c), int(d)) for a, b, c, d in rows]


def prompt_groups(store: Store, run_id: str, groupings: Sequence[str]) -> dict[str, tuple[str | None, ...]]:
    """Each prompt of the run, its group under each of `groupings` (see `group_expression`), in order."""
    if not groupings:
        return {}
    expressions = ", ".join(f"{group_expression(g)} AS g{i}" for i, g in enumerate(groupings))
    rows = store.con.execute(
        f"SELECT DISTINCT g.prompt_id, {expressions} FROM generations g {run_prompt_join()} "
        "LEFT JOIN languages l ON l.lang = p.lang WHERE g.eval_run_id = ?",
        [run_id],
    ).fetchall()
    return {str(prompt_id): tuple(None if v is None else str(v) for v in groups) for prompt_id, *groups in rows}
