"""Generation parameters and the standard protocols' presets."""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from toxmine.miner.errors import ConfigError

__all__ = ["PRESETS", "GenerationParams", "preset"]


@dataclass(frozen=True)
class GenerationParams:
    """How continuations are sampled: k per prompt, length, nucleus sampling, seed.
    Temperature 0 means greedy decoding (every backend reads it so)."""

    k: int = 25
    max_new_tokens: int = 20
    temperature: float = 1.0
    top_p: float = 0.9
    seed: int = 0
    chat: bool | None = None  # None: apply the chat template when the model has one

    def __post_init__(self) -> None:
        if self.k < 1 or self.max_new_tokens < 1:
            raise ConfigError(f"k and max_new_tokens must be >= 1, got {self.k}, {self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ConfigError(f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


PRESETS: dict[str, GenerationParams] = {
    # RealToxicityPrompts (Gehman et al., 2020): 25 samples, 20 tokens, nucleus p=0.9
    "rtp": GenerationParams(k=25, max_new_tokens=20, temperature=1.0, top_p=0.9),
    # PolygloToxicityPrompts (Jain et al., 2024): 10 samples, up to 512 tokens, T=0.7, p=1.0
    "ptp": GenerationParams(k=10, max_new_tokens=512, temperature=0.7, top_p=1.0),
}


def preset(name: str, **overrides: Any) -> GenerationParams:
    """A preset with manual overrides (None values are ignored)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
