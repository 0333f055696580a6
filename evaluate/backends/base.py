"""The model backend interface and registry."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from toxmine.miner.errors import ConfigError
from toxmine.miner.registry import Registry

from ..params import GenerationParams

__all__ = ["BACKENDS", "Backend", "Completion", "create_backend", "parse_model_spec"]


@dataclass(frozen=True, slots=True)
class Completion:
    """One sampled continuation, or the error that prevented it."""

    text: str | None
    error: str | None = None
    truncated: bool = False  # the prompt was cut from the left to fit the model's context


class Backend(Protocol):
    """Generates k continuations for each prompt of a batch."""

    name: str  # backend name, e.g. "transformers"
    model: str  # model identifier as given

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]: ...


BACKENDS: Registry[Backend] = Registry("model backend")
BACKENDS.register("transformers", "toxmine.evaluate.backends.hf_local:TransformersBackend")
BACKENDS.register("openai", "toxmine.evaluate.backends.openai_http:OpenAIBackend")


def parse_model_spec(spec: str) -> tuple[str, str]:
    """`transformers:PATH_OR_ID`, `openai:MODEL@URL`... -> (backend, model). A bare path or id
    means the local transformers backend."""
    backend, sep, model = spec.partition(":")
    if sep and backend in BACKENDS.names():
        if not model:
            raise ConfigError(f"model spec {spec!r} names no model")
        return backend, model
    return "transformers", spec


def create_backend(spec: str, **options: Any) -> Backend:
    backend, model = parse_model_spec(spec)
    created: Backend = BACKENDS.create(backend, model, **options)
    return created
