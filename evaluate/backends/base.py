"""The model backend interface and registry."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from toxmine.miner.errors import ConfigError
from toxmine.miner.registry import Registry

from ..default_model import DEFAULT_MODEL, DEFAULT_MODEL_SPEC, default_cache_root, default_model_dir
from ..params import GenerationParams

__all__ = ["BACKENDS", "Backend", "Completion", "backend_option_defaults", "create_backend", "parse_model_spec"]


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
BACKENDS.register("vllm", "toxmine.evaluate.backends.vllm_offline:VllmBackend")


def parse_model_spec(spec: str) -> tuple[str, str]:
    """`transformers:PATH_OR_ID`, `vllm:MODEL`... -> (backend, model). A bare path or id means the
    local transformers backend; `default` is the embedded default model (see `default_model`)."""
    if spec in (DEFAULT_MODEL_SPEC, DEFAULT_MODEL.spec):
        return "transformers", DEFAULT_MODEL.spec
    backend, sep, model = spec.partition(":")
    if sep and backend in BACKENDS.names():
        if not model:
            raise ConfigError(f"model spec {spec!r} names no model")
        return backend, model
    return "transformers", spec


def backend_option_defaults(backend: str) -> dict[str, Any]:
    """The options a registered backend (or `module:Class` plug-in) names, with their defaults
    (`inspect.Parameter.empty` where it has none); the model argument is left out."""
    return {name: p.default for name, p in _named_options(BACKENDS.factory(backend)).items()}


def _named_options(factory: Callable[..., Any]) -> dict[str, inspect.Parameter]:
    parameters = list(inspect.signature(factory).parameters.values())[1:]  # the first one is the model
    kinds = (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    return {p.name: p for p in parameters if p.kind in kinds}


def _takes_any_option(factory: Callable[..., Any]) -> bool:
    return any(p.kind is inspect.Parameter.VAR_KEYWORD for p in inspect.signature(factory).parameters.values())


def create_backend(
    spec: str, cache_root: Path | None = None, shared: Mapping[str, Any] | None = None, **options: Any
) -> Backend:
    """The backend for a model spec with its own `options` (device, gguf_file, concurrency, vLLM's engine
    arguments...): an option the backend does not take is a ConfigError naming the ones it does. `shared`
    options (the device the scorer also uses) go only to backends whose signature names them. The default
    model is converted on first use into `cache_root` (default: `$TOXMINE_CACHE_DIR` or `~/.cache/toxmine`)
    and recorded under its stable name, not its cache folder."""
    backend, model = parse_model_spec(spec)
    factory = BACKENDS.factory(backend)
    named = _named_options(factory)
    unknown = sorted(set(options) - set(named))
    if unknown and not _takes_any_option(factory):
        raise ConfigError(
            f"model backend {backend!r} takes no option {', '.join(unknown)}; its options: {', '.join(named) or 'none'}"
        )
    options = {**{k: v for k, v in (shared or {}).items() if k in named}, **options}
    if model == DEFAULT_MODEL.spec:
        if options.get("gguf_file"):
            raise ConfigError(f"{model}: gguf_file does not apply to the default model")
        options = {**options, "label": model}
        model = str(default_model_dir(cache_root or default_cache_root()))
    created: Backend = factory(model, **options)
    return created
