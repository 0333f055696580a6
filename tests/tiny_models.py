"""Tiny randomly initialised transformer classifiers built locally (no hub access)."""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path


def build_tiny_classifier(
    path: Path,
    labels: Sequence[str] = ("non_toxic", "toxic"),
    problem_type: str | None = None,
    max_positions: int = 64,
    seed: int = 0,
) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification, BertTokenizerFast

    path.mkdir(parents=True, exist_ok=True)
    words = ["the", "a", "you", "are", "idiot", "nice", "day", "hello", "world", "bad", "good"]
    vocab = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *string.ascii_lowercase, *string.digits, *words]
    vocab += [f"##{c}" for c in string.ascii_lowercase] + list("你好世界日本語")
    (path / "vocab.txt").write_text("\n".join(vocab) + "\n", encoding="utf-8")
    tokenizer = BertTokenizerFast(vocab_file=str(path / "vocab.txt"), model_max_length=max_positions)
    config = BertConfig(
        vocab_size=len(vocab), hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=max_positions, num_labels=len(labels),
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
        problem_type=problem_type,
    )  # fmt: skip
    torch.manual_seed(seed)
    model = BertForSequenceClassification(config)
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
