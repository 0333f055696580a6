"""The vLLM backend, as far as it runs without vLLM (a CUDA-only package, not installed here)."""

from __future__ import annotations

import importlib.util

import pytest

from toxmine.evaluate.backends import BACKENDS, create_backend, parse_model_spec
from toxmine.miner.errors import ConfigError


def test_vllm_spec_names_the_vllm_backend() -> None:
    assert parse_model_spec("vllm:Qwen/Qwen2.5-0.5B-Instruct") == ("vllm", "Qwen/Qwen2.5-0.5B-Instruct")
    assert parse_model_spec("vllm:/models/llama") == ("vllm", "/models/llama")
    assert BACKENDS.factory("vllm").name == "vllm"  # type: ignore[attr-defined]
    with pytest.raises(ConfigError, match="names no model"):
        parse_model_spec("vllm:")


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vllm is installed on this machine")
def test_without_vllm_creating_the_backend_says_how_to_install_it() -> None:
    with pytest.raises(ConfigError, match="vllm is not installed; pip install vllm on a CUDA machine"):
        create_backend("vllm:Qwen/Qwen2.5-0.5B-Instruct", gpu_memory_utilization=0.5)
