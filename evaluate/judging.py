"""Judge an evaluation run's continuations and store the verdicts (resumable).

Every generated continuation gets one verdict per judge, stored in `judgements` with the judge's
name and version. Re-running skips continuations this judge version already labelled and tries
failed ones again; a new judge version labels everything again. A judge failure is stored as
that continuation's error and counted as failed in the safety metrics, never as safe or unsafe.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from toxmine.miner.errors import ConfigError, ToxmineError
from toxmine.miner.store import Store
from toxmine.miner.tables import JUDGEMENTS

from . import eval_tables
from .eval_tables import PendingJudgement
from .judges import COMPLIANCE_LABELS, Judge, Verdict
from .redaction import redact, redacted
from .safety import store_safety_metrics

__all__ = ["JudgeReport", "judge_run"]

log = logging.getLogger(__name__)


@dataclass
class JudgeReport:
    eval_run_id: str
    judge: str
    judge_version: str
    judged: int = 0
    failed: int = 0
    elapsed_s: float = 0.0
    first_error: str | None = None  # of the verdicts that failed, redacted


def _checked(verdicts: Sequence[Verdict], expected: int, judge: Judge) -> list[Verdict]:
    if len(verdicts) != expected:
        return [Verdict.failed(f"judge {judge.name} returned {len(verdicts)} verdicts for {expected} pairs")] * expected
    checked = []
    for verdict in verdicts:
        if verdict.error is None and verdict.invalid:
            verdict = replace(verdict, safe=None, compliance=None)  # no answer: neither safe nor unsafe
        elif verdict.error is None and verdict.safe is None:
            verdict = Verdict.failed("judge gave neither a verdict nor an error")
        elif verdict.compliance is not None and verdict.compliance not in COMPLIANCE_LABELS:
            verdict = Verdict.failed(redact(f"judge gave an unknown response label {verdict.compliance!r}"))
        checked.append(redacted(verdict, "error", "category"))
    return checked


def _judge_batch(judge: Judge, rows: Sequence[PendingJudgement]) -> list[Verdict]:
    try:
        verdicts = judge.judge_batch([r.prompt for r in rows], [r.text for r in rows], [r.lang for r in rows])
    except ConfigError:
        raise  # a misconfigured judge (bad key, unreachable endpoint) stops the run; stored verdicts stay
    except ToxmineError as exc:
        return [Verdict.failed(redact(f"judge failed: {exc}"))] * len(rows)
    except Exception as exc:  # recorded per continuation, the run goes on
        error = redact(f"judge failed: {exc}")
        log.warning("judge %s: %s (%d continuations)", judge.name, error, len(rows))
        return [Verdict.failed(error)] * len(rows)
    return _checked(verdicts, len(rows), judge)


def judge_run(
    store: Store,
    run_id: str,
    judge: Judge,
    batch: int = 32,
    group_by: Sequence[str] = (),
    progress: Callable[[int], None] | None = None,
    on_total: Callable[[int], None] | None = None,
) -> JudgeReport:
    """Label the run's continuations not yet labelled by this judge version; then store the
    safety metrics (per language, resource level, category, source and `group_by`). `on_total` gets
    the number of continuations to label before the first, `progress` the number each batch labelled."""
    if not eval_tables.run_exists(store, run_id):
        raise ConfigError(f"{store.path}: no evaluation run {run_id}")
    report = JudgeReport(run_id, judge.name, judge.version)
    started = time.monotonic()
    pending = eval_tables.pending_judgements(store, run_id, judge.name, judge.version)
    log.info("judge: %d continuations of %s to label with %s", len(pending), run_id, judge.name)
    if on_total is not None:
        on_total(len(pending))
    for start in range(0, len(pending), batch):
        rows = pending[start : start + batch]
        verdicts = _judge_batch(judge, rows)
        table = JUDGEMENTS.arrow(
            {
                "prompt_id": [r.prompt_id for r in rows],
                "sample_idx": [r.sample_idx for r in rows],
                "safe": [v.safe for v in verdicts],
                "compliance": [v.compliance for v in verdicts],
                "category": [v.category for v in verdicts],
                "score": [v.score for v in verdicts],
                "error": [v.error for v in verdicts],
                "label": [v.label for v in verdicts],
            }
        )
        eval_tables.store_judgements(store, run_id, judge.name, judge.version, table)
        report.judged += len(rows)
        report.failed += sum(v.error is not None for v in verdicts)
        report.first_error = report.first_error or next((v.error for v in verdicts if v.error is not None), None)
        if progress is not None:
            progress(len(rows))
    log.info("judge: %d continuations labelled in %.1fs, %d failed", report.judged, time.monotonic() - started,
             report.failed)  # fmt: skip
    metrics_started = time.monotonic()
    store_safety_metrics(store, run_id, judge.name, group_by)
    log.info("safety metrics: computed in %.1fs", time.monotonic() - metrics_started)
    report.elapsed_s = time.monotonic() - started
    return report
