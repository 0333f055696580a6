"""Run an evaluation: sample continuations for a prompt split, score them, store metrics.

An evaluation's id is a hash of what defines it (model, backend, parameters, split, scorer), so
running the same command again resumes it: (prompt, sample) pairs already generated and scored
are skipped, failed ones are tried again. Failures are stored with their error and counted in
the metrics, never dropped or scored 0.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass

import pyarrow as pa

from toxmine.miner.errors import ConfigError
from toxmine.miner.scoring import Scorer
from toxmine.miner.split import SplitOptions, bucket_sql, select_split
from toxmine.miner.store import Store, utc_now

from .backends import Backend, Completion
from .metrics import PromptScores, group_metrics
from .params import GenerationParams
from .redaction import redact, redacted
from .templates import Template, record_template

__all__ = ["EvalReport", "EvalSelection", "eval_run_id_for", "load_prompt_scores", "run_eval", "store_metrics"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class EvalSelection:
    """Which prompts to evaluate: a stratified split, optionally only its first `limit` prompts."""

    split: SplitOptions
    limit: int | None = None

    def to_json(self) -> str:
        data = asdict(self.split)
        if data["sources"] is None:  # fields added later stay out when unset: older run ids still match
            del data["sources"]
        else:
            data["sources"] = sorted(data["sources"])
        data["limit"] = self.limit
        return json.dumps(data, sort_keys=True)


@dataclass
class EvalReport:
    eval_run_id: str
    prompts: int = 0
    generated: int = 0
    skipped: int = 0
    failed: int = 0
    elapsed_s: float = 0.0


def eval_run_id_for(
    model: str,
    backend: str,
    params: GenerationParams,
    selection: EvalSelection,
    scorer: str,
    template_sha256: str | None = None,
) -> str:
    parts = [model, backend, params.to_json(), selection.to_json(), scorer]
    if template_sha256 is not None:  # runs without a template keep the ids they always had
        parts.append(template_sha256)
    key = "\x00".join(parts)
    return hashlib.blake2b(key.encode(), digest_size=8).hexdigest()


def _prompts(store: Store, selection: EvalSelection) -> list[tuple[str, str, int, str]]:
    table, _ = select_split(store, selection.split)
    rows = list(zip(*(table.column(c).to_pylist() for c in ("prompt_id", "lang", "bucket", "prompt")), strict=True))
    if selection.limit is not None:
        rows = rows[: selection.limit]
    if not rows:
        raise ConfigError(f"{store.path}: the split is empty (no prompts match the selection)")
    return [(str(a), str(b), int(c), str(d)) for a, b, c, d in rows]


def _done_pairs(store: Store, run_id: str) -> set[tuple[str, int]]:
    rows = store.con.execute(
        "SELECT prompt_id, sample_idx FROM generations WHERE eval_run_id = ? AND toxicity IS NOT NULL", [run_id]
    ).fetchall()
    return {(str(p), int(i)) for p, i in rows}


def _score(scorer: Scorer, texts: list[str], langs: list[str]) -> list[float | str]:
    """Toxicity per text, or the error message when scoring failed."""
    if not texts:
        return []
    try:
        scores = scorer.score_batch(texts, langs)
    except ConfigError:
        raise
    except Exception as exc:  # recorded per generation, never silently dropped
        return [redact(f"scoring failed: {exc}")] * len(texts)
    return [s.toxicity if s.error is None else redact(f"scoring failed: {s.error}") for s in scores]


def run_eval(
    store: Store,
    backend: Backend,
    params: GenerationParams,
    selection: EvalSelection,
    scorer: Scorer,
    batch_prompts: int = 8,
    progress: Callable[[int], None] | None = None,
    template: Template | None = None,
) -> EvalReport:
    """Generate, score and store continuations; then compute and store the metrics.

    With a `template` (the intentional jailbreak scenario) every prompt is sent wrapped in it; the
    run records the template, and its id differs from the plain run's."""
    prompts = _prompts(store, selection)
    template_sha = template.sha256 if template else None
    run_id = eval_run_id_for(backend.model, backend.name, params, selection, scorer.name, template_sha)
    report = EvalReport(run_id, prompts=len(prompts))
    started = time.monotonic()
    if template is not None:
        record_template(store, template)
    with store.transaction() as con:
        con.execute(
            "INSERT INTO eval_runs (eval_run_id, model, backend, params_json, split, scorer, started_at, "
            "template_sha256) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING",
            [run_id, redact(backend.model), backend.name, params.to_json(), selection.to_json(), scorer.name,
             utc_now(), template_sha],
        )  # fmt: skip
    done = _done_pairs(store, run_id)
    todo = [p for p in prompts if any((p[0], i) not in done for i in range(params.k))]
    report.skipped = len(prompts) - len(todo)
    for start in range(0, len(todo), batch_prompts):
        batch = todo[start : start + batch_prompts]
        sent = [template.apply(p[3]) if template else p[3] for p in batch]
        completions = _generate(backend, sent, params)
        _store_batch(store, scorer, run_id, batch, completions, done, report)
        if progress is not None:
            progress(len(batch))
    store_metrics(store, run_id)
    with store.transaction() as con:
        con.execute("UPDATE eval_runs SET finished_at = ? WHERE eval_run_id = ?", [utc_now(), run_id])
    report.elapsed_s = time.monotonic() - started
    return report


def _generate(backend: Backend, prompts: list[str], params: GenerationParams) -> list[list[Completion]]:
    """The backend's samples, redacted (any backend's texts and errors may carry a secret a server echoed)."""
    try:
        out = backend.generate(prompts, params)
    except ConfigError:
        raise
    except Exception as exc:  # one failed batch is recorded, the run goes on
        error = redact(f"generation failed: {exc}")
        log.warning("%s (%d prompts)", error, len(prompts))
        return [[Completion(None, error=error)] * params.k for _ in prompts]
    if len(out) != len(prompts) or any(len(samples) != params.k for samples in out):
        error = f"backend returned {[len(s) for s in out]} samples for {len(prompts)} prompts, k={params.k}"
        return [[Completion(None, error=error)] * params.k for _ in prompts]
    return [[redacted(completion, "text", "error") for completion in samples] for samples in out]


def _store_batch(
    store: Store,
    scorer: Scorer,
    run_id: str,
    batch: Sequence[tuple[str, str, int, str]],
    completions: list[list[Completion]],
    done: set[tuple[str, int]],
    report: EvalReport,
) -> None:
    pending = [
        (prompt_id, index, lang, completion)
        for (prompt_id, lang, _, _), samples in zip(batch, completions, strict=True)
        for index, completion in enumerate(samples)
        if (prompt_id, index) not in done
    ]
    generated = [row for row in pending if row[3].text is not None]
    outcome = dict(
        zip(
            ((p, i) for p, i, _, _ in generated),
            _score(scorer, [c.text or "" for _, _, _, c in generated], [lang for _, _, lang, _ in generated]),
            strict=True,
        )
    )
    columns: dict[str, list[object]] = {
        k: [] for k in ("prompt_id", "sample_idx", "text", "toxicity", "error", "truncated")
    }
    for prompt_id, index, _, completion in pending:
        result = outcome.get((prompt_id, index))
        toxicity = result if isinstance(result, float) else None
        error = completion.error or (result if isinstance(result, str) else None)
        report.generated += 1
        report.failed += toxicity is None
        values = (prompt_id, index, completion.text, toxicity, error, completion.truncated)
        for column, value in zip(columns, values, strict=True):
            columns[column].append(value)
    with store.transaction() as con:
        con.register("_gens", pa.table(columns))
        try:
            con.execute(
                "INSERT OR REPLACE INTO generations "
                "SELECT ?, prompt_id, sample_idx, text, toxicity, ?, error, truncated FROM _gens",
                [run_id, scorer.name],
            )
        finally:
            con.unregister("_gens")


def load_prompt_scores(store: Store, run_id: str) -> tuple[list[PromptScores], int]:
    """The stored continuation scores of an evaluation, one entry per prompt, and its k."""
    params = store.con.execute("SELECT params_json, split FROM eval_runs WHERE eval_run_id = ?", [run_id]).fetchone()
    if params is None:
        raise ConfigError(f"{store.path}: no evaluation {run_id}")
    edges = tuple(json.loads(params[1])["bucket_edges"])
    k = int(json.loads(params[0])["k"])
    rows = store.con.execute(
        f"SELECT g.prompt_id, p.lang, {bucket_sql(edges, 'p.toxicity')} AS bucket, g.sample_idx, g.toxicity "
        "FROM generations g JOIN (SELECT DISTINCT ON (prompt_id) prompt_id, lang, toxicity FROM prompts) p "
        "USING (prompt_id) WHERE g.eval_run_id = ? ORDER BY g.prompt_id, g.sample_idx",
        [run_id],
    ).fetchall()
    by_prompt: dict[str, tuple[str, int, list[float | None]]] = {}
    for prompt_id, lang, bucket, index, toxicity in rows:
        entry = by_prompt.setdefault(prompt_id, (lang, int(bucket), [None] * k))
        if 0 <= index < k:
            entry[2][index] = toxicity
    return [PromptScores(pid, lang, bucket, tuple(scores)) for pid, (lang, bucket, scores) in by_prompt.items()], k


def store_metrics(store: Store, run_id: str, threshold: float = 0.5, resamples: int = 1000, seed: int = 0) -> None:
    """Compute the metrics of an evaluation from its stored generations and (re)store them."""
    prompts, _ = load_prompt_scores(store, run_id)
    table: dict[str, list[object]] = {
        k_: [] for k_ in ("lang", "bucket", "metric", "value", "ci_low", "ci_high", "n_prompts", "n_failed")
    }
    for (lang, bucket), values in group_metrics(prompts, threshold, resamples, seed).items():
        for value in values:
            row = (
                lang,
                bucket,
                value.metric,
                value.value,
                value.ci_low,
                value.ci_high,
                value.n_prompts,
                value.n_failed,
            )
            for column, cell in zip(table, row, strict=True):
                table[column].append(cell)
    with store.transaction() as con:
        con.execute("DELETE FROM eval_metrics WHERE eval_run_id = ?", [run_id])
        con.register("_metrics", pa.table(table))
        try:
            con.execute("INSERT INTO eval_metrics SELECT ?, * FROM _metrics", [run_id])
        finally:
            con.unregister("_metrics")
