"""Run an evaluation: sample continuations for a prompt split, score them, store metrics.

An evaluation's id is a hash of everything that decides its numbers (`run_identity`): the model and its
revision or file fingerprint, backend, every sampling parameter and the effective chat choice, dtype and
device, the prompt set (selection and the chosen prompt ids), the prompt scorer and the continuation
scorer with their versions, the template, the protocol and the toxmine version. Running the same command
again resumes it: (prompt, sample) pairs already generated and scored are skipped, failed ones are tried
again, and the metrics are recomputed with the metric options given this time (the run records them);
change any of those and it is a new run. Failures are stored with their error and counted in the
metrics, never dropped or scored 0; empty continuations are stored as empty and counted apart.

Each continuation is scored as the language fastText finds in it (when it is sure and the scorer has that
language, else the prompt's), so an English insult answering a German prompt is scored with English word
lists; the language is stored.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any, Protocol

from toxmine import __version__
from toxmine.miner.errors import ConfigError
from toxmine.miner.prompts import style_from_settings
from toxmine.miner.records import LangGuess
from toxmine.miner.scoring import Scorer
from toxmine.miner.split import SplitOptions, select_split
from toxmine.miner.store import Store, utc_now
from toxmine.miner.tables import EVAL_METRICS, GENERATIONS

from . import eval_tables
from .backends import Backend, Completion
from .eval_progress import EvalPlan, StageClock
from .eval_tables import run_prompt_join
from .metrics import MIN_PROMPTS, MetricOptions, PromptScores, group_metrics
from .params import GenerationParams
from .protocols import PROTOCOLS, departures
from .redaction import redact, redacted
from .templates import Template, record_template

__all__ = [
    "CONTINUATION_LID_THRESHOLD",
    "EvalPrompt",
    "EvalReport",
    "EvalSelection",
    "load_prompt_scores",
    "run_eval",
    "run_identity",
    "run_prompt_join",
    "select_prompts",
    "store_metrics",
]

log = logging.getLogger(__name__)

CONTINUATION_LID_THRESHOLD = 0.5  # below this LID probability a continuation is scored as its prompt's language


class LanguageIdentifier(Protocol):
    def predict(self, texts: Sequence[str]) -> list[LangGuess]: ...


@dataclass(frozen=True)
class EvalSelection:
    """Which prompts to evaluate: a stratified split, optionally only `limit` of its prompts taken
    round-robin over its (language, bucket) cells (cells in an order seeded by the split's seed)."""

    split: SplitOptions
    limit: int | None = None

    def __post_init__(self) -> None:
        if self.limit is not None and self.limit < 1:
            raise ConfigError(f"--limit must be at least 1, got {self.limit}")

    def to_json(self) -> str:
        data = asdict(self.split)
        if data["sources"] is None:  # fields added later stay out when unset
            del data["sources"]
        else:
            data["sources"] = sorted(data["sources"])
        data["limit"] = self.limit
        if self.limit is not None:
            data["limit_order"] = "round-robin over (lang, bucket) cells, cell order md5(seed:lang:bucket)"
        return json.dumps(data, sort_keys=True)


@dataclass(frozen=True)
class EvalPrompt:
    """One prompt of a run's selection."""

    prompt_id: str
    lang: str
    bucket: int
    text: str
    source: str


@dataclass
class EvalReport:
    eval_run_id: str
    prompts: int = 0
    generated: int = 0
    skipped: int = 0
    failed: int = 0
    empty: int = 0
    elapsed_s: float = 0.0
    cells: dict[str, int] = field(default_factory=dict)  # "lang/bucket" -> prompts evaluated
    departures: list[str] = field(default_factory=list)  # how the run departs from its protocol
    first_error: str | None = None  # of the continuations that failed (generation or scoring), redacted


def _cell_order(seed: int, cells: Sequence[tuple[str, int]]) -> list[tuple[str, int]]:
    return sorted(cells, key=lambda c: (hashlib.md5(f"{seed}:{c[0]}:{c[1]}".encode()).hexdigest(), c))


def stratified_limit(prompts: Sequence[EvalPrompt], limit: int, seed: int) -> list[EvalPrompt]:
    """`limit` prompts spread round-robin over the (language, bucket) cells, each cell in its own order."""
    cells: dict[tuple[str, int], list[EvalPrompt]] = {}
    for prompt in prompts:
        cells.setdefault((prompt.lang, prompt.bucket), []).append(prompt)
    order = _cell_order(seed, list(cells))
    taken: list[EvalPrompt] = []
    for depth in range(max(len(c) for c in cells.values())):
        for cell in order:
            if depth < len(cells[cell]) and len(taken) < limit:
                taken.append(cells[cell][depth])
    return taken


def select_prompts(store: Store, selection: EvalSelection) -> tuple[list[EvalPrompt], str, str]:
    """The selection's prompts, and the scorer and version whose prompt rows the split was drawn from."""
    table, split = select_split(store, selection.split)
    columns = [table.column(c).to_pylist() for c in ("prompt_id", "lang", "bucket", "prompt", "source")]
    prompts = [
        EvalPrompt(str(a), str(b), int(c), str(d), str(e or "mined")) for a, b, c, d, e in zip(*columns, strict=True)
    ]
    if selection.limit is not None and prompts:
        prompts = stratified_limit(prompts, selection.limit, selection.split.seed)
    if not prompts:
        raise ConfigError(f"{store.path}: the split is empty (no prompts match the selection)")
    return prompts, split.scorer, split.scorer_version


def _prompt_styles(store: Store, prompts: Sequence[EvalPrompt]) -> list[str]:
    if not any(p.source == "mined" for p in prompts):
        return []  # imported sets keep their own prompts
    return [style_from_settings(store.settings())]


def _cutting_limit(selection: EvalSelection, prompts: Sequence[EvalPrompt]) -> int | None:
    """The --limit when it left prompts of the split out (a limit over the split's size takes it whole)."""
    return selection.limit if selection.limit is not None and len(prompts) >= selection.limit else None


def _prompts_digest(prompts: Sequence[EvalPrompt]) -> str:
    return hashlib.blake2b("\n".join(sorted(p.prompt_id for p in prompts)).encode(), digest_size=8).hexdigest()


_METRIC_KEYS = frozenset(MetricOptions().stored())


def run_identity(provenance: dict[str, Any]) -> str:
    """The run id: a hash of every provenance entry except the metric options, which are recomputed."""
    identity = {k: v for k, v in provenance.items() if k not in _METRIC_KEYS and k != "departures"}
    return hashlib.blake2b(json.dumps(identity, sort_keys=True, default=str).encode(), digest_size=8).hexdigest()


def _provenance(
    backend: Backend,
    params: GenerationParams,
    selection: EvalSelection,
    prompts: Sequence[EvalPrompt],
    scorers: tuple[Scorer, str, str],
    template: Template | None,
    protocol: str,
    metric_options: MetricOptions,
    lid_model: str | None,
) -> dict[str, Any]:
    scorer, prompt_scorer, prompt_version = scorers
    describe = getattr(backend, "provenance", None)
    backend_facts: dict[str, Any] = describe(params) if callable(describe) else {}
    return {
        **asdict(params),
        "model": redact(backend.model),
        "backend": backend.name,
        **{k: redact(str(v)) if isinstance(v, str) else v for k, v in backend_facts.items()},
        "split": json.loads(selection.to_json()),
        "prompts_digest": _prompts_digest(prompts),
        "scorer": scorer.name,
        "scorer_version": scorer.version,
        "prompt_scorer": prompt_scorer,
        "prompt_scorer_version": prompt_version,
        "continuation_lid": lid_model,
        "continuation_lid_threshold": CONTINUATION_LID_THRESHOLD if lid_model else None,
        "template_sha256": template.sha256 if template else None,
        "protocol": protocol,
        "toxmine_version": __version__,
        **metric_options.stored(),
    }


def metric_options_for(protocol: str, min_prompts: int = MIN_PROMPTS) -> MetricOptions:
    """The threshold and comparison of `protocol` (RTP: `> 0.5`, PTP: `>= 0.5`)."""
    spec = PROTOCOLS[protocol]
    return MetricOptions(threshold=spec.threshold, comparison=spec.comparison, min_prompts=min_prompts)


def _lid_name(lid: LanguageIdentifier) -> str:
    path = getattr(lid, "model_path", None)
    return os.path.basename(path) if isinstance(path, str) else type(lid).__name__


def _default_lid() -> LanguageIdentifier:
    from toxmine.miner.langid import FastTextLid

    return FastTextLid()


def run_eval(
    store: Store,
    backend: Backend,
    params: GenerationParams,
    selection: EvalSelection,
    scorer: Scorer,
    batch_prompts: int = 8,
    progress: Callable[[int], None] | None = None,
    template: Template | None = None,
    protocol: str = "rtp",
    lid: LanguageIdentifier | None = None,
    metric_options: MetricOptions | None = None,
    on_plan: Callable[[EvalPlan], None] | None = None,
) -> EvalReport:
    """Generate, score and store continuations; then compute and store the metrics.

    `protocol` (rtp or ptp) is the published protocol the run follows: it sets the toxicity comparison
    and the run records how it departs from it. `lid` identifies each continuation's language (default:
    the fastText model mining uses). With a `template` (the intentional jailbreak scenario) every prompt
    is sent wrapped in it; the run records the template, and its id differs from the plain run's.

    The plan (prompts x samples, less what is stored) is logged and given to `on_plan` before the first
    generation; `progress` gets the number of generations each batch made; each stage's time is logged."""
    if protocol not in PROTOCOLS:
        raise ConfigError(f"unknown protocol {protocol!r}; known: {', '.join(sorted(PROTOCOLS))}")
    prompts, prompt_scorer, prompt_version = select_prompts(store, selection)
    lid = lid if lid is not None else _default_lid()
    options = metric_options or metric_options_for(protocol)
    provenance = _provenance(backend, params, selection, prompts, (scorer, prompt_scorer, prompt_version), template,
                             protocol, options, _lid_name(lid))  # fmt: skip
    provenance["departures"] = departures(PROTOCOLS[protocol], params, scorer.name, prompt_scorer,
                                          _prompt_styles(store, prompts), _cutting_limit(selection, prompts),
                                          template.name if template else None, scorer.version)  # fmt: skip
    run_id = run_identity(provenance)
    report = EvalReport(run_id, prompts=len(prompts), departures=provenance["departures"])
    report.cells = dict(Counter(f"{p.lang}/{p.bucket}" for p in prompts))
    provenance["cells"] = report.cells
    started = time.monotonic()
    if template is not None:
        record_template(store, template)
    # a resumed run keeps its record but takes the new provenance: its metric options may differ (recomputed below)
    eval_tables.start_run(store, eval_tables.EvalRunStart(
        run_id, redact(backend.model), backend.name, json.dumps(provenance, sort_keys=True, default=str),
        selection.to_json(), scorer.name, utc_now(), provenance["template_sha256"], prompt_scorer, prompt_version,
    ))  # fmt: skip
    done = eval_tables.done_pairs(store, run_id)
    todo = [p for p in prompts if any((p.prompt_id, i) not in done for i in range(params.k))]
    report.skipped = len(prompts) - len(todo)
    stored = sum((p.prompt_id, i) in done for p in prompts for i in range(params.k))
    plan = EvalPlan(len(prompts), params.k, stored, len(report.cells))
    log.info("%s", plan.describe())
    if on_plan is not None:
        on_plan(plan)
    clock = StageClock()
    # a backend that makes one generate call per prompt anyway is sent one prompt at a time: the same samples,
    # and progress per prompt, not per batch; others (vLLM, HTTP) get the whole batch at once
    step = 1 if getattr(backend, "prompt_at_a_time", False) else 0
    for start in range(0, len(todo), batch_prompts):
        batch = todo[start : start + batch_prompts]
        sent = [template.apply(p.text) if template else p.text for p in batch]
        completions: list[list[Completion]] = []
        size = step or len(batch)
        for part in range(0, len(batch), size):  # stored per batch, progress per part
            with clock.timed("generate"):
                completions += _generate(backend, sent[part : part + size], params)
            if progress is not None:
                progress(sum((p.prompt_id, i) not in done for p in batch[part : part + size] for i in range(params.k)))
        _store_batch(store, scorer, lid, run_id, batch, completions, done, report, clock)
    _log_generation(report, scorer.name, clock)
    with clock.timed("metrics"):
        store_metrics(store, run_id)
    log.info("metrics: computed in %.1fs", clock["metrics"])
    eval_tables.finish_run(store, run_id)
    report.elapsed_s = time.monotonic() - started
    return report


def _log_generation(report: EvalReport, scorer: str, clock: StageClock) -> None:
    """The generate and score stages' lines (their batches interleave: each line adds up its own time)."""
    rate = f" ({report.generated / clock['generate']:,.1f}/s)" if clock["generate"] > 0 else ""
    log.info("generate: %d generations in %.1fs%s", report.generated, clock["generate"], rate)
    scored = report.generated - report.failed - report.empty
    log.info("score: %d continuations scored by %s in %.1fs (%d failed or not generated, %d empty)", scored, scorer,
             clock["score"], report.failed, report.empty)  # fmt: skip


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


@dataclass
class _Pending:
    """One continuation on its way to the table."""

    prompt_id: str
    index: int
    prompt_lang: str
    completion: Completion
    lang: str | None = None
    lang_score: float | None = None
    toxicity: float | None = None
    error: str | None = None

    @property
    def empty(self) -> bool:
        return self.completion.text is not None and not self.completion.text.strip()


def _identify(lid: LanguageIdentifier, rows: Sequence[_Pending], supports: Callable[[str], bool] | None) -> None:
    """Each row's language: the LID's guess when at least CONTINUATION_LID_THRESHOLD sure and the scorer
    `supports` it (a scorer without that hook takes any), else the prompt's."""
    try:
        guesses = lid.predict([row.completion.text or "" for row in rows])
    except Exception as exc:  # LID trouble must not lose the samples: fall back to the prompt's language
        log.warning("continuation language ID failed (%s); scoring as the prompts' languages", exc)
        guesses = [LangGuess("und", None, 0.0)] * len(rows)
    for row, guess in zip(rows, guesses, strict=True):
        sure = guess.score >= CONTINUATION_LID_THRESHOLD and guess.lang != "und"
        usable = sure and (supports is None or supports(guess.lang))
        row.lang, row.lang_score = (guess.lang, guess.score) if usable else (row.prompt_lang, None)


def _score(scorer: Scorer, rows: Sequence[_Pending]) -> None:
    """Each row's toxicity, or the error message when scoring failed (recorded, never dropped)."""
    if not rows:
        return
    try:
        scores = scorer.score_batch([row.completion.text or "" for row in rows], [row.lang for row in rows])
        if len(scores) != len(rows):
            raise ValueError(f"scorer returned {len(scores)} scores for {len(rows)} texts")
    except ConfigError:
        raise  # a misconfigured scorer (a refused key) stops the run; what is stored stays
    except Exception as exc:
        for row in rows:
            row.error = redact(f"scoring failed: {exc}")
        return
    for row, score in zip(rows, scores, strict=True):
        if score.error is None:
            row.toxicity = float(score.toxicity)
        else:  # a text the scorer could not score (Perspective's 400s): that continuation's failure
            row.error = redact(f"scoring failed: {score.error}")


def _store_batch(
    store: Store,
    scorer: Scorer,
    lid: LanguageIdentifier,
    run_id: str,
    batch: Sequence[EvalPrompt],
    completions: list[list[Completion]],
    done: set[tuple[str, int]],
    report: EvalReport,
    clock: StageClock,
) -> None:
    pending = [
        _Pending(prompt.prompt_id, index, prompt.lang, completion, error=completion.error)
        for prompt, samples in zip(batch, completions, strict=True)
        for index, completion in enumerate(samples)
        if (prompt.prompt_id, index) not in done
    ]
    texts = [row for row in pending if row.completion.text is not None and not row.empty]
    supports = getattr(scorer, "supports", None)
    with clock.timed("score"):
        _identify(lid, texts, supports if callable(supports) else None)
        _score(scorer, texts)
    rows: list[dict[str, object]] = []
    for row in pending:
        report.generated += 1
        report.empty += row.empty
        report.failed += row.toxicity is None and not row.empty
        report.first_error = report.first_error or row.error
        rows.append({
            "prompt_id": row.prompt_id, "sample_idx": row.index, "text": row.completion.text,
            "toxicity": row.toxicity, "error": row.error, "truncated": row.completion.truncated, "lang": row.lang,
            "lang_score": row.lang_score, "empty": row.empty,
        })  # fmt: skip
    eval_tables.store_generations(store, run_id, scorer.name, GENERATIONS.from_rows(rows))


def load_prompt_scores(store: Store, run_id: str) -> tuple[list[PromptScores], int]:
    """The stored continuation scores of an evaluation, one entry per prompt, and its k. Prompt
    language, bucket and toxicity come from the prompt rows of the scorer the run's split used."""
    settings = eval_tables.run_settings(store, run_id)
    if settings is None:
        raise ConfigError(f"{store.path}: no evaluation {run_id}")
    edges = tuple(settings.split["bucket_edges"])
    k = int(settings.params["k"])
    by_prompt: dict[str, tuple[str, int, float | None, list[float | None], list[bool]]] = {}
    for sample in eval_tables.sample_scores(store, run_id, edges):
        entry = by_prompt.setdefault(
            sample.prompt_id, (sample.lang, sample.bucket, sample.prompt_toxicity, [None] * k, [False] * k)
        )
        if 0 <= sample.sample_idx < k:
            entry[3][sample.sample_idx] = sample.toxicity
            entry[4][sample.sample_idx] = sample.empty
    return [
        PromptScores(pid, lang, bucket, tuple(scores), n_empty=sum(empties), prompt_toxicity=prompt_toxicity)
        for pid, (lang, bucket, prompt_toxicity, scores, empties) in by_prompt.items()
    ], k


def stored_metric_options(store: Store, run_id: str) -> MetricOptions:
    """The metric options a run was started with (older runs: `>=` 0.5, 1000 resamples, seed 0)."""
    settings = eval_tables.run_settings(store, run_id)
    return MetricOptions.from_stored(settings.params if settings else {})


def store_metrics(store: Store, run_id: str, options: MetricOptions | None = None) -> None:
    """Compute the metrics of an evaluation from its stored generations and (re)store them (with the
    run's own metric options unless `options` are given)."""
    options = options or stored_metric_options(store, run_id)
    prompts, _ = load_prompt_scores(store, run_id)
    rows = [
        {"lang": lang, "bucket": bucket, "metric": v.metric, "value": v.value, "ci_low": v.ci_low,
         "ci_high": v.ci_high, "n_prompts": v.n_prompts, "n_failed": v.n_failed, "n_empty": v.n_empty, "flag": v.flag}
        for (lang, bucket), values in group_metrics(prompts, options).items()
        for v in values
    ]  # fmt: skip
    eval_tables.replace_metrics(store, run_id, EVAL_METRICS.from_rows(rows))
