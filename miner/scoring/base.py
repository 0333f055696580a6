"""The scorer interface and registry."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..registry import Registry

__all__ = ["SCORERS", "Scorer", "TextScore", "create_scorer"]


@dataclass(frozen=True, slots=True)
class TextScore:
    """A text's toxicity in [0, 1], plus per-attribute scores where the scorer has them.

    A text the scorer could not score (a remote scorer's refusal, a timeout) carries the reason in
    `error` and a NaN toxicity: consumers skip it and count it, never read it as 0 (see `failed`)."""

    toxicity: float
    attributes: dict[str, float] = field(default_factory=dict)
    error: str | None = None

    @classmethod
    def failed(cls, error: str) -> TextScore:
        """The score of a text that could not be scored, for `error` (one line, no secrets)."""
        return cls(math.nan, error=error)


@runtime_checkable
class Scorer(Protocol):
    """Scores batches of texts. `name` and `version` key the score cache: a scorer must change
        `version` whenever its outputs can change (new weights, new word list). `score_batch` returns
        one TextScore per text, in order; a text it cannot score gets `TextScore.failed(reason)`. A scorer that
    reads only some languages may add `supports(lang) -> bool`: evaluation then scores a continuation whose
    detected language it lacks as its prompt's language."""

    name: str
    version: str

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]: ...


SCORERS: Registry[Scorer] = Registry("scorer")
SCORERS.register("lexicon", "toxmine.miner.scoring.lexicon:LexiconScorer")
SCORERS.register("transformers", "toxmine.miner.scoring.transformer:TransformersScorer")
SCORERS.register("perspective", "toxmine.miner.scoring.perspective:PerspectiveScorer")


def create_scorer(name: str, **options: Any) -> Scorer:
    """Build the scorer registered as `name` (or a `module:Class` plug-in) with `options`."""
    return SCORERS.create(name, **options)
