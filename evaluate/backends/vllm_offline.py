"""vLLM's offline engine (`vllm:MODEL`): continuous batching on a CUDA GPU.

vLLM is not a toxmine dependency (it needs CUDA); it is imported when the backend is created.
Prompts are encoded here as the transformers backend does (the chat template when the tokenizer
has one and `params.chat` is not False, else the raw prompt), cut from the left to fit the
engine's `max_model_len` less `max_new_tokens` and marked `truncated`, and given to the engine as
token ids. Each prompt is one request sampling k continuations (`n=k`) seeded from `params.seed` and
the prompt (`prompt_seed`), so results do not depend on how prompts are batched; top-k 0 (off) is
sent as vLLM's -1.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from toxmine.miner.errors import ConfigError
from toxmine.miner.model_identity import model_identity

from ..params import GenerationParams, prompt_seed
from .base import Completion
from .prompting import encode_prompt, has_chat_template, use_chat

__all__ = ["VllmBackend"]


class VllmBackend:
    """Sampling with `vllm.LLM`; `engine_options` go to the engine (dtype, gpu_memory_utilization,
    tensor_parallel_size...), `max_context` sets its `max_model_len`."""

    name = "vllm"

    def __init__(self, model: str, seed: int = 0, max_context: int | None = None, **engine_options: Any) -> None:
        try:
            import vllm
        except ImportError as exc:
            raise ConfigError("vllm is not installed; pip install vllm on a CUDA machine") from exc

        self.model = model
        if max_context is not None:
            engine_options["max_model_len"] = max_context
        try:
            self.llm: Any = vllm.LLM(model=model, seed=seed, **engine_options)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{model}: vllm cannot load the model ({str(exc).splitlines()[0]})") from exc
        self._sampling_params: Any = vllm.SamplingParams
        self._version = str(getattr(vllm, "__version__", "unknown"))
        self.tokenizer: Any = self.llm.get_tokenizer()
        self.has_chat_template = has_chat_template(self.tokenizer)
        self.context = int(self.llm.llm_engine.model_config.max_model_len)

    def provenance(self, params: GenerationParams) -> dict[str, object]:
        """What decides this engine's samples besides `params`: weights, chat choice, dtype, context."""
        config = self.llm.llm_engine.model_config
        return {
            "model_revision": model_identity(self.model, getattr(config, "hf_config", None)),
            "chat_effective": use_chat(self.model, self.tokenizer, params.chat),
            "dtype": str(getattr(config, "dtype", "")).removeprefix("torch."),
            "device": "cuda",
            "max_context": self.context,
            "engine": f"vllm {self._version}",
            "sampling_seed": "per prompt: blake2b(seed, prompt)",
        }

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        chat = use_chat(self.model, self.tokenizer, params.chat)
        encoded = [encode_prompt(self.tokenizer, p, chat, self.context - params.max_new_tokens) for p in prompts]
        sampling = [
            self._sampling_params(
                n=params.k,
                temperature=params.temperature,
                top_p=params.top_p,
                top_k=params.top_k or -1,  # vLLM's "off" is -1
                max_tokens=params.max_new_tokens,
                seed=prompt_seed(params.seed, prompt),
            )
            for prompt in prompts
        ]
        outputs = self.llm.generate([{"prompt_token_ids": ids} for ids, _ in encoded], sampling, use_tqdm=False)
        return [
            [Completion(sample.text, truncated=truncated) for sample in output.outputs]
            for (_, truncated), output in zip(encoded, outputs, strict=True)
        ]
