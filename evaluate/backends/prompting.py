"""Prompt encoding shared by the backends that tokenize locally (transformers, vLLM).

Chat/instruct models (a tokenizer with a chat template) get the prompt as a user turn, base
models the raw prompt; token ids beyond the budget are cut from the left and reported.
A `Conversation` (several turns, e.g. a request and a response for a Llama Guard judge) goes where a
prompt goes and is sent as its turns; it needs the chat template.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toxmine.miner.errors import ConfigError

__all__ = ["Conversation", "chat_messages", "encode_prompt", "has_chat_template", "use_chat"]


class Conversation(str):
    """Chat turns passed where a prompt string goes (a backend sends them as they are). Its text, for
    logs and messages, is the turns as `role: content` paragraphs."""

    messages: tuple[tuple[str, str], ...]

    def __new__(cls, turns: Sequence[tuple[str, str]]) -> Conversation:
        text = super().__new__(cls, "\n\n".join(f"{role}: {content}" for role, content in turns))
        text.messages = tuple((str(role), str(content)) for role, content in turns)
        return text


def chat_messages(prompt: str) -> list[dict[str, str]]:
    """The chat messages for a prompt: a conversation's turns, else the prompt as one user turn."""
    if isinstance(prompt, Conversation):
        return [{"role": role, "content": content} for role, content in prompt.messages]
    return [{"role": "user", "content": prompt}]


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
    if isinstance(prompt, Conversation) and not chat:
        raise ConfigError("a conversation (e.g. for a Llama Guard judge) needs the model's chat template")
    if chat:
        ids = tokenizer.apply_chat_template(chat_messages(prompt), add_generation_prompt=True, tokenize=True)
        if not isinstance(ids, list):  # newer transformers return a BatchEncoding
            ids = list(ids["input_ids"])
    else:
        ids = tokenizer(prompt)["input_ids"]
    budget = max(1, budget)
    if len(ids) > budget:
        return list(ids[-budget:]), True
    return list(ids), False
