"""Tiny randomly initialised transformer classifiers built locally (no hub access)."""

from __future__ import annotations

import string
from collections.abc import Sequence
from pathlib import Path

SPECIALS = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]


def _tokenizer(words: Sequence[str], max_positions: int, wrap_cls_sep: bool):  # type: ignore[no-untyped-def]
    """A real WordPiece tokenizer over a small vocabulary (letters, digits, some words, CJK)."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    pieces = [*SPECIALS, *string.ascii_lowercase, *string.digits, *words]
    pieces += [f"##{c}" for c in string.ascii_lowercase + string.digits] + list(".,!?:'<>|/") + list("你好世界日本語")
    vocab = {piece: i for i, piece in enumerate(dict.fromkeys(pieces))}
    tok = Tokenizer(models.WordPiece(vocab=vocab, unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    if wrap_cls_sep:
        tok.post_processor = processors.TemplateProcessing(
            single="[CLS] $A [SEP]", special_tokens=[("[CLS]", vocab["[CLS]"]), ("[SEP]", vocab["[SEP]"])]
        )
    return PreTrainedTokenizerFast(
        tokenizer_object=tok, model_max_length=max_positions, unk_token="[UNK]", pad_token="[PAD]",
        cls_token="[CLS]", sep_token="[SEP]", mask_token="[MASK]",
    )  # fmt: skip


def build_tiny_classifier(
    path: Path,
    labels: Sequence[str] = ("non_toxic", "toxic"),
    problem_type: str | None = None,
    max_positions: int = 64,
    seed: int = 0,
) -> Path:
    import torch
    from transformers import BertConfig, BertForSequenceClassification

    path.mkdir(parents=True, exist_ok=True)
    tokenizer = _tokenizer(["the", "a", "you", "are", "idiot", "nice", "day", "hello", "world"], max_positions, True)
    vocab = tokenizer.get_vocab()
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


def build_tiny_causal_lm(path: Path, chat_template: str | None = None, max_positions: int = 128, seed: int = 0) -> Path:
    """A tiny random Llama-architecture LM with a local WordPiece tokenizer."""
    import torch
    from transformers import LlamaConfig, LlamaForCausalLM

    path.mkdir(parents=True, exist_ok=True)
    words = ["the", "a", "you", "are", "idiot", "nice", "day", "hello", "world", "bad", "good", "user", "assistant"]
    tokenizer = _tokenizer(words, max_positions, False)
    vocab = tokenizer.get_vocab()
    if chat_template:
        tokenizer.chat_template = chat_template
    config = LlamaConfig(
        vocab_size=len(vocab), hidden_size=32, intermediate_size=64, num_hidden_layers=2, num_attention_heads=2,
        num_key_value_heads=2, max_position_embeddings=max_positions, pad_token_id=vocab["[PAD]"],
        bos_token_id=vocab["[CLS]"], eos_token_id=vocab["[SEP]"],
    )  # fmt: skip
    torch.manual_seed(seed)
    LlamaForCausalLM(config).save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path
