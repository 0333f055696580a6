"""Local causal language models with transformers (also GGUF weights through `gguf_file`).

Chat/instruct models (a tokenizer with a chat template) get the prompt as a user turn; base
models get the raw prompt. Prompts longer than the context left after `max_new_tokens` are cut
from the left and marked `truncated`. Each prompt's k samples are drawn in one call seeded from the
run's seed and the prompt (batch size never changes a sample); a CUDA GPU is used when present.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from toxmine.miner.errors import ConfigError
from toxmine.miner.model_identity import model_identity

from ..params import GenerationParams, prompt_seed
from .base import Completion
from .prompting import encode_prompt, has_chat_template, use_chat

__all__ = ["TransformersBackend"]


class TransformersBackend:
    """Batched sampling from a local or hub causal LM; `label` names it in results instead of `model`
    (the embedded default model is recorded under a stable name, not its cache folder)."""

    name = "transformers"
    prompt_at_a_time = True  # one generate call per prompt: run_eval sends prompts one by one (progress per prompt)

    def __init__(
        self,
        model: str,
        device: str = "auto",
        gguf_file: str | None = None,
        max_context: int | None = None,
        threads: int | None = None,
        label: str | None = None,
    ) -> None:
        import torch
        from transformers import AutoModelForCausalLM, AutoTokenizer

        self.model = label or model  # what results are recorded under
        self.source = model  # where the weights were loaded from
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
        self.lm.generation_config = _neutral_generation_config(self.lm.generation_config)

    def _encode(self, prompt: str, chat: bool, max_new_tokens: int) -> tuple[list[int], bool]:
        return encode_prompt(self.tokenizer, prompt, chat, self.context - max_new_tokens)

    def provenance(self, params: GenerationParams) -> dict[str, object]:
        """What decides this backend's samples besides `params`: weights, chat choice, dtype, device."""
        return {
            # a converted default model: its cache folder is named by the GGUF file's hash, the same on every machine
            "model_revision": f"converted:{Path(self.source).name}"
            if self.model != self.source
            else model_identity(self.source, self.lm.config),
            "chat_effective": use_chat(self.model, self.tokenizer, params.chat),
            "dtype": str(self.lm.dtype).removeprefix("torch."),
            "device": self.device.type,
            "max_context": self.context,
            "sampling_seed": "per prompt: blake2b(seed, prompt)",
        }

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        """k samples per prompt, one `generate` call per prompt seeded from (seed, prompt), so a prompt's
        samples never depend on the batch it came in (its k samples are the batch)."""
        import torch

        chat = use_chat(self.model, self.tokenizer, params.chat)
        sampling = {} if params.greedy else {"temperature": params.temperature, "top_p": params.top_p,
                                             "top_k": params.top_k}  # fmt: skip
        results: list[list[Completion]] = []
        for prompt in prompts:
            ids, truncated = self._encode(prompt, chat, params.max_new_tokens)
            batch = {"input_ids": torch.tensor([ids], device=self.device)}
            batch["attention_mask"] = torch.ones_like(batch["input_ids"])
            torch.manual_seed(prompt_seed(params.seed, prompt))
            with torch.inference_mode():
                output = self.lm.generate(
                    **batch,
                    do_sample=not params.greedy,
                    **sampling,
                    max_new_tokens=params.max_new_tokens,
                    num_return_sequences=params.k,
                    pad_token_id=self.tokenizer.pad_token_id,
                )
            texts = self.tokenizer.batch_decode(output[:, len(ids) :], skip_special_tokens=True)
            results.append([Completion(text, truncated=truncated) for text in texts])
        return results


_KEPT_GENERATION_SETTINGS = ("bos_token_id", "eos_token_id", "pad_token_id", "decoder_start_token_id",
                             "cache_implementation")  # fmt: skip


def _neutral_generation_config(model_config: Any) -> Any:
    """The model's generation config reduced to its special tokens and cache choice. What a model folder's
    generation_config.json sets beyond them (repetition_penalty, no_repeat_ngram_size, min_p, top_k,
    suppressed tokens...) would silently apply to every sample (transformers fills each setting a call leaves
    unset from it); no protocol samples with it, and the run records only `GenerationParams`."""
    from transformers import GenerationConfig

    config_class: Any = GenerationConfig
    return config_class(**{name: getattr(model_config, name, None) for name in _KEPT_GENERATION_SETTINGS})
