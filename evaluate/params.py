"""Generation parameters and the standard protocols' presets."""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, replace
from typing import Any

from toxmine.miner.errors import ConfigError

__all__ = ["PRESETS", "GenerationParams", "preset", "prompt_seed"]


@dataclass(frozen=True)
class GenerationParams:
    """How continuations are sampled: k per prompt, length, temperature, nucleus and top-k sampling, seed.
    Temperature 0 means greedy decoding and `top_k` 0 means no top-k cut (every backend reads them so)."""

    k: int = 25
    max_new_tokens: int = 20
    temperature: float = 1.0
    top_p: float = 0.9
    seed: int = 0
    chat: bool | None = None  # None: apply the chat template when the model has one
    top_k: int = 0

    def __post_init__(self) -> None:
        if self.k < 1 or self.max_new_tokens < 1:
            raise ConfigError(f"k and max_new_tokens must be >= 1, got {self.k}, {self.max_new_tokens}")
        if self.temperature < 0 or not 0 < self.top_p <= 1:
            raise ConfigError(f"need temperature >= 0 and 0 < top_p <= 1, got {self.temperature}, {self.top_p}")
        if self.top_k < 0:
            raise ConfigError(f"top_k must be >= 0 (0: off), got {self.top_k}")

    @property
    def greedy(self) -> bool:
        return self.temperature == 0

    def to_json(self) -> str:
        return json.dumps(asdict(self), sort_keys=True)


def prompt_seed(seed: int, prompt: str) -> int:
    """The sampling seed of one prompt: from the run's seed and the prompt's text, so a prompt's samples do
    not depend on which other prompts share its batch or on `--batch-size`."""
    digest = hashlib.blake2b(f"{seed}\x00{prompt}".encode(), digest_size=4).digest()
    return int.from_bytes(digest, "big") & 0x7FFFFFFF


PRESETS: dict[str, GenerationParams] = {
    # RealToxicityPrompts (Gehman et al., 2020): 25 samples of 20 tokens, nucleus p=0.9, T=1, no top-k
    # (allenai/real-toxicity-prompts generation/gpt2_generation.py: generate(k=0, p=0.9, temperature=1.0))
    "rtp": GenerationParams(k=25, max_new_tokens=20, temperature=1.0, top_p=0.9, top_k=0),
    # PolygloToxicityPrompts (Jain et al., 2024): 10 samples, up to 512 tokens, T=0.7, p=1.0, no top-k
    # (kpriyanshu256/polyglo-toxicity-prompts src/generations.py; vLLM SamplingParams leave top_k off)
    "ptp": GenerationParams(k=10, max_new_tokens=512, temperature=0.7, top_p=1.0, top_k=0),
}


def preset(name: str, **overrides: Any) -> GenerationParams:
    """A preset with manual overrides (None values are ignored)."""
    if name not in PRESETS:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}")
    return replace(PRESETS[name], **{k: v for k, v in overrides.items() if v is not None})
