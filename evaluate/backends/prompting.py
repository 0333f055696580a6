"""Prompt encoding shared by the backends that tokenize locally (transformers, vLLM).

Chat/instruct models (a tokenizer with a chat template) get the prompt as a user turn, base
models the raw prompt; token ids beyond the budget are cut from the left and reported.
"""

from __future__ import annotations

from typing import Any

from toxmine.miner.errors import ConfigError

__all__ = ["encode_prompt", "has_chat_template", "use_chat"]


def has_chat_template(tokenizer: Any) -> bool:
    return bool(getattr(tokenizer, "chat_template", None))


def use_chat(model: str, tokenizer: Any, chat: bool | None) -> bool:
    """Whether to apply the chat template: `chat`, or when None, whether the tokenizer has one."""
    available = has_chat_template(tokenizer)
    if chat and not available:
        raise ConfigError(f"{model}: chat=True but the tokenizer has no chat template")
    return available if chat is None else chat


def encode_prompt(tokenizer: Any, prompt: str, chat: bool, budget: int) -> tuple[list[int], bool]:
    """The prompt's token ids, at most `budget` of them (the last ones), and whether it was cut."""
    if chat:
        ids = tokenizer.apply_chat_template(
            [{"role": "user", "content": prompt}], add_generation_prompt=True, tokenize=True
        )
        if not isinstance(ids, list):  # newer transformers return a BatchEncoding
            ids = list(ids["input_ids"])
    else:
        ids = tokenizer(prompt)["input_ids"]
    budget = max(1, budget)
    if len(ids) > budget:
        return list(ids[-budget:]), True
    return list(ids), False
