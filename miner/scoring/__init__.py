"""Toxicity scorers behind one interface, chosen by name from a registry.

Built in: `lexicon` (offline default, multilingual word list) and `transformers` (any
`AutoModelForSequenceClassification` by local path or hub id). Plug-ins: `module:Class`.
"""

from __future__ import annotations

from .base import SCORERS, Scorer, TextScore, create_scorer

__all__ = ["SCORERS", "Scorer", "TextScore", "create_scorer"]
