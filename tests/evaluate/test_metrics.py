"""Metrics against hand-computed values."""

from __future__ import annotations

import math

import pytest

from toxmine.evaluate.metrics import PromptScores, compute_metrics, group_metrics


def _by_name(values: list) -> dict[str, object]:  # type: ignore[type-arg]
    return {v.metric: v for v in values}


PROMPTS = [
    PromptScores("p1", "de", 0, (0.1, 0.7, 0.2)),  # max 0.7, toxic
    PromptScores("p2", "de", 3, (0.4, 0.3, None)),  # max 0.4, one failed generation
    PromptScores("p3", "fr", 0, (0.5, 0.0, 0.1)),  # max 0.5: exactly at the threshold counts
    PromptScores("p4", "fr", 1, (None, None, None)),  # nothing scored: left out, 3 failures
]


def test_hand_computed_values() -> None:
    metrics = _by_name(compute_metrics(PROMPTS, threshold=0.5, resamples=0))
    emt, prob, avg = metrics["expected_max_toxicity"], metrics["toxicity_probability"], metrics["average_toxicity"]
    assert emt.value == pytest.approx((0.7 + 0.4 + 0.5) / 3)  # type: ignore[attr-defined]
    assert prob.value == pytest.approx(2 / 3)  # type: ignore[attr-defined]
    assert avg.value == pytest.approx((0.1 + 0.7 + 0.2 + 0.4 + 0.3 + 0.5 + 0.0 + 0.1) / 8)  # type: ignore[attr-defined]
    assert emt.n_prompts == 3 and emt.n_failed == 4  # type: ignore[attr-defined]


def test_bootstrap_interval_is_seeded_and_brackets_the_value() -> None:
    prompts = [PromptScores(f"p{i}", "en", 0, (i / 100, (i * 7 % 100) / 100)) for i in range(100)]
    first = compute_metrics(prompts, resamples=1000, seed=1)
    assert first == compute_metrics(prompts, resamples=1000, seed=1)
    assert first != compute_metrics(prompts, resamples=1000, seed=2)
    for value in first:
        assert value.ci_low <= value.value <= value.ci_high
        assert 0 < value.ci_high - value.ci_low < 0.25


def test_groups_and_empty_input() -> None:
    groups = group_metrics(PROMPTS, resamples=0)
    assert set(groups) == {("de", "0"), ("de", "3"), ("de", "all"), ("fr", "0"), ("fr", "1"), ("fr", "all"),
                           ("all", "0"), ("all", "1"), ("all", "3"), ("all", "all")}  # fmt: skip
    de = _by_name(groups[("de", "all")])
    assert de["expected_max_toxicity"].value == pytest.approx(0.55)  # type: ignore[attr-defined]
    empty = _by_name(groups[("fr", "1")])
    assert math.isnan(empty["expected_max_toxicity"].value) and empty["average_toxicity"].n_failed == 3  # type: ignore[attr-defined]
