"""The scorer interface and registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from ..registry import Registry

__all__ = ["SCORERS", "Scorer", "TextScore", "create_scorer"]


@dataclass(frozen=True, slots=True)
class TextScore:
    """A text's toxicity in [0, 1], plus per-attribute scores where the scorer has them."""

    toxicity: float
    attributes: dict[str, float] = field(default_factory=dict)


@runtime_checkable
class Scorer(Protocol):
    """Scores batches of texts. `name` and `version` key the score cache: a scorer must change
    `version` whenever its outputs can change (new weights, new word list)."""

    name: str
    version: str

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]: ...


SCORERS: Registry[Scorer] = Registry("scorer")
SCORERS.register("lexicon", "toxmine.miner.scoring.lexicon:LexiconScorer")
SCORERS.register("transformers", "toxmine.miner.scoring.transformer:TransformersScorer")


def create_scorer(name: str, **options: Any) -> Scorer:
    """Build the scorer registered as `name` (or a `module:Class` plug-in) with `options`."""
    return SCORERS.create(name, **options)
