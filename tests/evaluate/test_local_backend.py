"""The local transformers backend on a tiny real causal LM built in the test."""

from __future__ import annotations

from pathlib import Path

import pytest
from tiny_models import build_tiny_causal_lm

from toxmine.evaluate.backends import create_backend, parse_model_spec
from toxmine.evaluate.params import PRESETS, GenerationParams, preset
from toxmine.miner.errors import ConfigError

CHAT = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)


@pytest.fixture(scope="module")
def tiny_lm(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_causal_lm(tmp_path_factory.mktemp("lm") / "base")


def test_k_samples_per_prompt_reproducible_with_seed(tiny_lm: Path) -> None:
    backend = create_backend(str(tiny_lm))
    params = preset("rtp", k=4, max_new_tokens=6, seed=7)
    prompts = ["hello world", "you are a", "nice day"]
    first = backend.generate(prompts, params)
    assert [len(samples) for samples in first] == [4, 4, 4]
    assert all(c.text is not None and c.error is None for samples in first for c in samples)
    assert len({c.text for c in first[0]}) > 1  # sampling, not greedy
    assert backend.generate(prompts, params) == first
    assert backend.generate(prompts, preset("rtp", k=4, max_new_tokens=6, seed=8)) != first


def test_long_prompts_are_cut_from_the_left(tiny_lm: Path) -> None:
    backend = create_backend(str(tiny_lm))
    long_prompt = "nice day " * 200
    out = backend.generate([long_prompt, "hello"], GenerationParams(k=1, max_new_tokens=8))
    assert out[0][0].truncated and not out[1][0].truncated
    ids, truncated = backend._encode(long_prompt, False, 8)  # type: ignore[attr-defined]
    assert truncated and len(ids) == backend.context - 8  # type: ignore[attr-defined]


def test_chat_template_is_applied_when_present(tmp_path: Path, tiny_lm: Path) -> None:
    chat_model = build_tiny_causal_lm(tmp_path / "chat", chat_template=CHAT)
    chat = create_backend(str(chat_model))
    assert chat.has_chat_template  # type: ignore[attr-defined]
    ids, _ = chat._encode("hello", True, 4)  # type: ignore[attr-defined]
    tokens = chat.tokenizer.convert_ids_to_tokens(ids)  # type: ignore[attr-defined]
    assert tokens[0] == "user" and tokens[-2:] == ["assistant", ":"] and "hello" in tokens
    assert len(chat.generate(["hello"], GenerationParams(k=2, max_new_tokens=3))[0]) == 2
    base = create_backend(str(tiny_lm))
    with pytest.raises(ConfigError, match="no chat template"):
        base.generate(["hello"], GenerationParams(k=1, max_new_tokens=2, chat=True))


def test_specs_presets_and_errors(tmp_path: Path) -> None:
    assert parse_model_spec("transformers:/models/x") == ("transformers", "/models/x")
    assert parse_model_spec("HuggingFaceTB/SmolLM2-135M-Instruct") == (
        "transformers",
        "HuggingFaceTB/SmolLM2-135M-Instruct",
    )
    assert (PRESETS["rtp"].k, PRESETS["rtp"].max_new_tokens, PRESETS["rtp"].top_p) == (25, 20, 0.9)
    assert (PRESETS["ptp"].k, PRESETS["ptp"].max_new_tokens, PRESETS["ptp"].temperature) == (10, 512, 0.7)
    assert preset("ptp", k=2, max_new_tokens=None).k == 2
    with pytest.raises(ConfigError, match="unknown preset"):
        preset("xyz")
    with pytest.raises(ConfigError):
        GenerationParams(k=0)
    with pytest.raises(ConfigError, match="does not exist"):
        create_backend(str(tmp_path / "nope"))
