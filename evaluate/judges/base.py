"""The judge interface and registry: a judge labels (prompt, response) pairs.

A verdict says whether the response is safe and where it sits in the response taxonomy (full
compliance, partial compliance, direct or indirect refusal), optionally with a risk category and
the judge's unsafe probability. A judge that fails on a pair returns a verdict with `error` set;
such pairs are counted as failed in every metric, never as safe or unsafe.

A response that is no answer at all (gibberish, a repetition loop, text unrelated to the request)
is `invalid`: MultiJail's third label (Deng et al., ICLR 2024, "Multilingual Jailbreak Challenges
in Large Language Models"; data at DAMO-NLP-SG/multilingual-safety-for-LLMs `data/MultiJail.csv`).
It is neither safe nor unsafe: the safety metrics leave it out of their denominators and report it
as `invalid_rate`, apart from failures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from toxmine.miner.registry import Registry

__all__ = [
    "COMPLIANCE_LABELS",
    "DIRECT_REFUSAL",
    "FULL_COMPLIANCE",
    "INDIRECT_REFUSAL",
    "INVALID",
    "JUDGES",
    "LABELS",
    "PARTIAL_COMPLIANCE",
    "REFUSALS",
    "SAFE",
    "UNSAFE",
    "Judge",
    "Verdict",
    "check_pairs",
    "create_judge",
]

FULL_COMPLIANCE = "full_compliance"
PARTIAL_COMPLIANCE = "partial_compliance"
DIRECT_REFUSAL = "direct_refusal"
INDIRECT_REFUSAL = "indirect_refusal"
COMPLIANCE_LABELS = (FULL_COMPLIANCE, PARTIAL_COMPLIANCE, DIRECT_REFUSAL, INDIRECT_REFUSAL)
REFUSALS = frozenset({DIRECT_REFUSAL, INDIRECT_REFUSAL})
SAFE, UNSAFE, INVALID = "safe", "unsafe", "invalid"
LABELS = (SAFE, UNSAFE, INVALID)  # judgements.label; NULL when the judge failed


@dataclass(frozen=True, slots=True)
class Verdict:
    """A judge's label for one (prompt, response) pair, or the error that prevented it."""

    safe: bool | None
    compliance: str | None = None  # one of COMPLIANCE_LABELS
    category: str | None = None  # a risk category the judge named
    score: float | None = None  # the judge's probability that the response is unsafe
    error: str | None = None
    invalid: bool = False  # no answer (gibberish, off-topic): neither safe nor unsafe; `safe` is None

    @staticmethod
    def failed(error: str) -> Verdict:
        return Verdict(safe=None, error=error)

    @staticmethod
    def no_answer(reason: str | None = None, score: float | None = None) -> Verdict:
        """An invalid response; `reason` (e.g. gibberish, off-topic) is kept as its category."""
        return Verdict(safe=None, category=reason, score=score, invalid=True)

    @property
    def label(self) -> str | None:
        """safe | unsafe | invalid, or None when the judge failed."""
        if self.error is not None:
            return None
        if self.invalid:
            return INVALID
        return None if self.safe is None else SAFE if self.safe else UNSAFE


class Judge(Protocol):
    """Labels responses; `name` and `version` are stored with every verdict."""

    name: str
    version: str

    def judge_batch(
        self, prompts: Sequence[str], responses: Sequence[str], langs: Sequence[str | None]
    ) -> list[Verdict]: ...


def check_pairs(prompts: Sequence[str], responses: Sequence[str], langs: Sequence[str | None]) -> None:
    """A judge's arguments: one response and one language per prompt."""
    if not len(prompts) == len(responses) == len(langs):
        raise ValueError(f"{len(prompts)} prompts, {len(responses)} responses and {len(langs)} languages")


JUDGES: Registry[Judge] = Registry("judge")
JUDGES.register("heuristic", "toxmine.evaluate.judges.heuristic:HeuristicJudge")
JUDGES.register("transformers", "toxmine.evaluate.judges.classifier:ClassifierJudge")
JUDGES.register("llm", "toxmine.evaluate.judges.llm:LlmJudge")


def create_judge(spec: str, **options: Any) -> Judge:
    """A judge from its spec: `heuristic`, `transformers:PATH_OR_ID`, `llm:MODEL_SPEC` (any model spec
    of `toxmine eval`, e.g. `llm:openai:gpt-4o-mini@https://api.openai.com/v1`), or `module:Class`."""
    name, sep, rest = spec.partition(":")
    judge: Judge = (
        JUDGES.create(name, rest, **options)
        if sep and name in ("transformers", "llm")
        else JUDGES.create(spec, **options)
    )
    return judge
