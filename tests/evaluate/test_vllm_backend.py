"""The vLLM backend, as far as it runs without vLLM (a CUDA-only package, not installed here)."""

from __future__ import annotations

import importlib.util
import sys
import types
from pathlib import Path
from typing import Any, ClassVar

import pytest
from tiny_models import build_tiny_causal_lm

from toxmine.evaluate.backends import BACKENDS, create_backend, parse_model_spec
from toxmine.evaluate.params import GenerationParams, prompt_seed
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


class _FakeVllm:
    """Stands in for the `vllm` package, which needs CUDA and cannot run here: it records the sampling
    parameters the backend sends and answers with one text per sample."""

    __version__ = "0.0-fake"

    class SamplingParams:
        def __init__(self, **kwargs: object) -> None:
            self.kwargs = kwargs

    class LLM:
        sent: ClassVar[list[Any]] = []

        def __init__(self, model: str, seed: int = 0, **options: object) -> None:
            from transformers import AutoTokenizer

            self.tokenizer = AutoTokenizer.from_pretrained(model)
            self.llm_engine = types.SimpleNamespace(
                model_config=types.SimpleNamespace(max_model_len=64, dtype="bfloat16", hf_config=None)
            )

        def get_tokenizer(self) -> object:
            return self.tokenizer

        def generate(self, prompts: list[object], sampling: list[object], use_tqdm: bool = False) -> list[object]:
            type(self).sent = list(sampling)
            return [
                types.SimpleNamespace(outputs=[types.SimpleNamespace(text=f"s{i}") for i in range(s.kwargs["n"])])  # type: ignore[attr-defined]
                for s in sampling
            ]


def test_vllm_gets_top_k_off_as_minus_one_and_a_seed_per_prompt(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    model = build_tiny_causal_lm(tmp_path / "lm")
    monkeypatch.setitem(sys.modules, "vllm", _FakeVllm)
    backend = create_backend(f"vllm:{model}")
    params = GenerationParams(k=2, max_new_tokens=4, seed=3)
    out = backend.generate(["eins zwei", "three four"], params)
    assert [[c.text for c in samples] for samples in out] == [["s0", "s1"], ["s0", "s1"]]
    sent = [s.kwargs for s in _FakeVllm.LLM.sent]  # type: ignore[attr-defined]
    assert [s["top_k"] for s in sent] == [-1, -1] and {s["n"] for s in sent} == {2}
    assert [s["seed"] for s in sent] == [prompt_seed(3, "eins zwei"), prompt_seed(3, "three four")]
    backend.generate(["three four"], params)  # alone in its batch: the same seed
    assert _FakeVllm.LLM.sent[0].kwargs["seed"] == prompt_seed(3, "three four")  # type: ignore[attr-defined]
    backend.generate(["x"], GenerationParams(k=1, top_k=40))
    assert _FakeVllm.LLM.sent[0].kwargs["top_k"] == 40  # type: ignore[attr-defined]
    assert backend.provenance(params)["engine"] == "vllm 0.0-fake"  # type: ignore[attr-defined]
