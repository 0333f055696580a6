"""Local causal language models with transformers (also GGUF weights through `gguf_file`).

Chat/instruct models (a tokenizer with a chat template) get the prompt as a user turn; base
models get the raw prompt. Prompts longer than the context left after `max_new_tokens` are cut
from the left and marked `truncated`. Batches are left-padded; a CUDA GPU is used when present.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toxmine.miner.errors import ConfigError

from ..params import GenerationParams
from .base import Completion
from .prompting import encode_prompt, has_chat_template, use_chat

__all__ = ["TransformersBackend"]


class TransformersBackend:
    """Batched sampling from a local or hub causal LM; `label` names it in results instead of `model`
    (the embedded default model is recorded under a stable name, not its cache folder)."""

    name = "transformers"

    def __init__(
        self,
        model: str,
        device: str = "auto",
        batch_size: int = 8,
        gguf_file: str | None = None,
        max_context: int | None = None,
        threads: int | None = None,
        label: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = label or model  # what results are recorded under
        local = Path(model).expanduser()
        if not local.exists() and model.startswith((".", "/", "~")):
            raise ConfigError(f"{model}: model path does not exist")
        kwargs: dict[str, Any] = {"gguf_file": gguf_file} if gguf_file else {}
        try:
            self.tokenizer: Any = AutoTokenizer.from_pretrained(model, **kwargs)
            self.lm: Any = AutoModelForCausalLM.from_pretrained(model, **kwargs)
        except (OSError, ValueError, KeyError) as exc:
            raise ConfigError(f"{model}: cannot load a causal language model ({str(exc).splitlines()[0]})") from exc
        self.tokenizer.padding_side = "left"
        if self.tokenizer.pad_token_id is None:
            self.tokenizer.pad_token = self.tokenizer.eos_token or self.tokenizer.unk_token
        self.has_chat_template = has_chat_template(self.tokenizer)
        positions = getattr(self.lm.config, "max_position_embeddings", None)
        self.context = max_context or (positions if isinstance(positions, int) else 2048)
        if device == "auto":
            device = "cuda" if torch.cuda.is_available() else "cpu"
        self.device = torch.device(device)
        if self.device.type == "cuda":
            dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16  # type: ignore[call-arg]
            self.lm = self.lm.to(device=self.device, dtype=dtype)  # type: ignore[call-arg]
        else:
            torch.set_num_threads(threads or os.cpu_count() or 1)
        self.lm.eval()
        self.batch_size = batch_size

    def _encode(self, prompt: str, chat: bool, max_new_tokens: int) -> tuple[list[int], bool]:
        return encode_prompt(self.tokenizer, prompt, chat, self.context - max_new_tokens)

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        import torch

        chat = use_chat(self.model, self.tokenizer, params.chat)
        results: list[list[Completion]] = []
        for start in range(0, len(prompts), self.batch_size):
            encoded = [self._encode(p, chat, params.max_new_tokens) for p in prompts[start : start + self.batch_size]]
            padded = self.tokenizer.pad({"input_ids": [ids for ids, _ in encoded]}, return_tensors="pt")
            batch = {key: value.to(self.device) for key, value in padded.items()}
            torch.manual_seed(params.seed + start)
            sampling = {} if params.greedy else {"temperature": params.temperature, "top_p": params.top_p}
            with torch.inference_mode():
                output = self.lm.generate(
                    **batch,
                    do_sample=not params.greedy,
                    **sampling,
                    max_new_tokens=params.max_new_tokens,
                    num_return_sequences=params.k,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            new_tokens = output[:, batch["input_ids"].shape[1] :]
            texts = self.tokenizer.batch_decode(new_tokens, skip_special_tokens=True)
            for i, (_, truncated) in enumerate(encoded):
                samples = texts[i * params.k : (i + 1) * params.k]
                results.append([Completion(text, truncated=truncated) for text in samples])
        return results
