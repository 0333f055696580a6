"""Transformer toxicity classifiers: any `AutoModelForSequenceClassification`.

Multi-label heads (sigmoid) and single-label heads (softmax) are both handled; which labels
count as toxic is configurable. Texts are tokenised once, sorted by length and batched with
dynamic padding under a token budget (long texts go in smaller batches); `device="auto"` runs
on a CUDA GPU in bf16 (fp16 where bf16 is unsupported) when one is present, else on the CPU
with all usable cores.

The loading, placing and batching helpers (`load_classifier`, `token_budget_batches`) are shared with
the classifier safety judge (`toxmine.evaluate.judges.classifier`).
"""

from __future__ import annotations

import json
import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from ..model_identity import folder_fingerprint
from .base import TextScore

__all__ = ["TOXIC_LABEL_NAMES", "LoadedClassifier", "TransformersScorer", "load_classifier", "token_budget_batches"]

TOXIC_LABEL_NAMES = frozenset(
    {
        "toxic", "toxicity", "severe_toxic", "severe_toxicity", "obscene", "insult", "threat",
        "identity_hate", "identity_attack", "sexual_explicit", "hate", "offensive", "abusive",
    }
)  # fmt: skip


@dataclass
class LoadedClassifier:
    """A sequence classifier, its tokenizer and where it runs (see `load_classifier`)."""

    config: Any
    tokenizer: Any
    model: Any
    labels: list[str]  # id2label in label order
    device: Any  # torch.device
    max_length: int  # the longest input the model takes (tokens)
    identity: str  # a fingerprint of the local files, or the hub commit
    short_name: str  # the local folder's name, or the hub id

    @property
    def default_batch_tokens(self) -> int:
        # On CPU, throughput peaks near 2K padded tokens per forward pass (bench/bench_scoring.py);
        # a GPU wants far larger batches.
        return 65_536 if self.device.type == "cuda" else 2_048

    @property
    def default_activation(self) -> str:
        """sigmoid for multi-label (and single-output) heads, softmax otherwise."""
        multi_label = self.config.problem_type == "multi_label_classification" or self.config.num_labels == 1
        return "sigmoid" if multi_label else "softmax"

    def probabilities(
        self, encoded: Sequence[dict[str, list[int]]], activation: str, batch_size: int, max_tokens: int
    ) -> list[list[float]]:
        """Every label's probability for each encoded input (unpadded model inputs), in input order:
        inputs sorted by length and run in `token_budget_batches` with dynamic padding."""
        import torch

        lengths = [len(item["input_ids"]) for item in encoded]
        order = sorted(range(len(encoded)), key=lambda i: lengths[i])
        results: list[list[float]] = [[] for _ in encoded]
        with torch.inference_mode():
            for chunk in token_budget_batches(order, lengths, batch_size, max_tokens):
                keys = encoded[chunk[0]].keys()
                padded = self.tokenizer.pad(
                    {key: [encoded[i][key] for i in chunk] for key in keys}, return_tensors="pt"
                )
                inputs = {key: value.to(self.device) for key, value in padded.items()}
                logits = self.model(**inputs).logits.float()
                probs = torch.sigmoid(logits) if activation == "sigmoid" else torch.softmax(logits, dim=-1)
                for row, index in zip(probs.cpu().tolist(), chunk, strict=True):
                    results[index] = row
        return results


def load_classifier(
    model: str, device: str = "auto", max_length: int | None = None, threads: int | None = None
) -> LoadedClassifier:
    """Load an `AutoModelForSequenceClassification` by local path or hub id, in eval mode on `device`
    ("auto": a CUDA GPU in bf16, fp16 where bf16 is unsupported, when one is present; else the CPU
    with `threads` or all usable cores). A missing path, a folder without config.json or a model
    that is not a sequence classifier (by its config's architectures) raise ConfigError naming `model`."""
    import torch
    from transformers import AutoConfig, AutoModelForSequenceClassification, AutoTokenizer

    local = Path(model).expanduser()
    if local.exists():
        if not (local / "config.json").is_file():
            raise ConfigError(f"{model}: not a transformers model folder (no config.json)")
    elif model.startswith((".", "/", "~")) or os.sep + os.sep in model or model.count("/") > 1:
        raise ConfigError(f"{model}: model path does not exist")
    try:
        config = AutoConfig.from_pretrained(model)
        architectures = [str(name) for name in getattr(config, "architectures", None) or []]
        if architectures and not any("SequenceClassification" in name for name in architectures):
            # loading would succeed with a randomly initialised head: refuse rather than score noise
            raise ConfigError(f"{model}: not a sequence classifier (it is a {', '.join(architectures)})")
        tokenizer = AutoTokenizer.from_pretrained(model)
        classifier = AutoModelForSequenceClassification.from_pretrained(model)
    except (OSError, ValueError, KeyError) as exc:
        raise ConfigError(f"{model}: cannot load a sequence classifier ({str(exc).splitlines()[0]})") from exc
    labels = [str(config.id2label.get(i, f"LABEL_{i}")) for i in range(config.num_labels)]
    picked = _pick_device(device, torch)
    if picked.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        classifier = classifier.to(device=picked, dtype=dtype)
    else:
        torch.set_num_threads(int(threads) if threads else len(os.sched_getaffinity(0)))
    classifier.eval()
    identity = folder_fingerprint(local) if local.exists() else str(getattr(config, "_commit_hash", "") or "hub")
    return LoadedClassifier(
        config=config, tokenizer=tokenizer, model=classifier, labels=labels, device=picked,
        max_length=_max_length(config, tokenizer, max_length), identity=identity,
        short_name=local.name if local.exists() else model,
    )  # fmt: skip


def _max_length(config: Any, tokenizer: Any, asked: int | None) -> int:
    """The longest input the model takes: tokenizer limit, position embeddings (RoBERTa
    family reserves two positions for padding offsets), and the user's cap."""
    limits = [int(asked)] if asked else []
    if 0 < tokenizer.model_max_length < 1_000_000:
        limits.append(int(tokenizer.model_max_length))
    positions = getattr(config, "max_position_embeddings", None)
    if isinstance(positions, int) and positions > 0:
        offset = 2 if getattr(config, "model_type", "") in {"roberta", "xlm-roberta", "camembert"} else 0
        limits.append(positions - offset)
    return min(limits) if limits else 512


def _pick_device(device: str, torch: Any) -> Any:
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        picked = torch.device(device)
    except RuntimeError as exc:
        raise ConfigError(f"unknown device {device!r}") from exc
    if picked.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError("device cuda asked for, but no CUDA GPU is available")
    return picked


def token_budget_batches(
    order: Sequence[int], lengths: Sequence[int], batch_size: int, max_tokens: int
) -> list[list[int]]:
    """Cut length-sorted indices into batches of at most `batch_size` texts whose padded size
    (texts x longest) stays within `max_tokens`; a single text always fits."""
    batches: list[list[int]] = []
    current: list[int] = []
    for index in order:
        if current and (len(current) >= batch_size or (len(current) + 1) * lengths[index] > max_tokens):
            batches.append(current)
            current = []
        current.append(index)
    if current:
        batches.append(current)
    return batches


class TransformersScorer:
    """A sequence classifier scoring toxicity (and every label as an attribute)."""

    def __init__(
        self,
        model: str,
        toxic_labels: Sequence[str] | None = None,
        activation: str | None = None,
        batch_size: int = 16,
        max_batch_tokens: int | None = None,
        max_length: int | None = None,
        device: str = "auto",
        threads: int | None = None,
        name: str | None = None,
    ) -> None:
        self.loaded = loaded = load_classifier(model, device, max_length, threads)
        self.tokenizer, self.model, self.device = loaded.tokenizer, loaded.model, loaded.device
        self.labels, self.max_length = loaded.labels, loaded.max_length
        self.activation = activation or loaded.default_activation
        if self.activation not in {"sigmoid", "softmax"}:
            raise ConfigError(f"activation must be sigmoid or softmax, got {self.activation!r}")
        self.toxic_indices = self._toxic_indices(model, toxic_labels)
        self.batch_size = int(batch_size)
        self.max_batch_tokens = int(max_batch_tokens) if max_batch_tokens else loaded.default_batch_tokens
        if self.batch_size < 1 or self.max_batch_tokens < 1:
            raise ConfigError("batch_size and max_batch_tokens must be positive")
        self.name = name or f"transformers:{loaded.short_name}"
        labels_key = ",".join(self.labels[i] for i in self.toxic_indices)
        self.version = f"{loaded.identity}/{self.activation}/{labels_key}/{self.max_length}"

    def _toxic_indices(self, model: str, toxic_labels: Sequence[str] | None) -> list[int]:
        lowered = [label.lower() for label in self.labels]
        if toxic_labels:
            missing = [label for label in toxic_labels if label.lower() not in lowered]
            if missing:
                raise ConfigError(f"{model}: no label {', '.join(missing)}; labels are {', '.join(self.labels)}")
            return [lowered.index(label.lower()) for label in toxic_labels]
        found = [i for i, label in enumerate(lowered) if label in TOXIC_LABEL_NAMES]
        if found:
            return found
        if len(self.labels) in (1, 2):
            return [len(self.labels) - 1]  # binary head: the positive class
        raise ConfigError(f"{model}: say which labels are toxic (--toxic-labels); labels are {', '.join(self.labels)}")

    def describe(self) -> str:
        return json.dumps(
            {"labels": self.labels, "toxic": [self.labels[i] for i in self.toxic_indices],
             "activation": self.activation, "max_length": self.max_length, "device": str(self.device)}
        )  # fmt: skip

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]:
        if not texts:
            return []
        ids = self.tokenizer(list(texts), truncation=True, max_length=self.max_length)["input_ids"]
        rows = self.loaded.probabilities(
            [{"input_ids": item} for item in ids], self.activation, self.batch_size, self.max_batch_tokens
        )
        results = []
        for row in rows:
            picked = [row[i] for i in self.toxic_indices]
            toxicity = max(picked) if self.activation == "sigmoid" else min(1.0, sum(picked))
            results.append(TextScore(toxicity, dict(zip(self.labels, row, strict=True))))
        return results
