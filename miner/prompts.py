"""Naturally occurring prompts, as in RealToxicityPrompts / PolygloToxicityPrompts: spans of a
document's text within length bounds, each split into a prompt and its continuation.

How spans are chosen and split is a prompt style (`PROMPT_STYLES`), fixed per database:

- `toxmine`: paragraphs (short ones joined, long ones cut at sentence ends), split at the word gap
  nearest the split fraction (characters for unsegmented scripts).
- `ptp`: PolygloToxicityPrompts' released data: the same spans, split at the character midpoint
  even inside a word (dataset card of ToxicityPrompts/PolygloToxicityPrompts, mirrored in
  kpriyanshu256/polyglo-toxicity-prompts README.md: a 284-character text gives a 142-character
  prompt ending "...Montgomery C" and a continuation starting "ounty Police...").
- `rtp`: RealToxicityPrompts: single sentences of 64-1024 characters, tokenized with spaCy and
  split after round(fraction x tokens) tokens, prompts over 128 characters dropped
  (allenai/real-toxicity-prompts scripts/data/create_prompts_dataset.py).
"""

from __future__ import annotations

import functools
import hashlib
import re
import unicodedata
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from .errors import ConfigError
from .scripts import is_unsegmented

__all__ = [
    "DEFAULT_BUCKET_EDGES",
    "DEFAULT_PROMPT_STYLE",
    "PROMPT_STYLES",
    "RTP_MAX_PROMPT_CHARS",
    "PromptOptions",
    "PromptSpan",
    "PromptStyle",
    "bucket_of",
    "prompt_id_for",
    "rtp_token_ends",
    "spans_of",
    "split_at_character",
    "split_at_tokens",
    "split_span",
    "style_from_settings",
]

_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])\s+|(?<=[。！？])")
_JOINERS = {"\u200d", "\u200c"}
_WORD_GAP = re.compile(r"\s+")  # str patterns: \s is every character str.isspace() accepts


DEFAULT_BUCKET_EDGES = (0.0, 0.25, 0.5, 0.75, 1.0)  # RTP's 4 equal-width toxicity bins
DEFAULT_PROMPT_STYLE = "toxmine"
RTP_MAX_PROMPT_CHARS = 128  # MAX_PROMPT_LEN in RTP's create_prompts_dataset.py: longer prompts are dropped


@dataclass(frozen=True)
class PromptOptions:
    """How spans are cut from documents and split."""

    min_chars: int = 64
    max_chars: int = 512
    split_fraction: float = 0.5
    max_spans_per_doc: int = 8
    bucket_edges: tuple[float, ...] = DEFAULT_BUCKET_EDGES
    style: str = DEFAULT_PROMPT_STYLE

    @classmethod
    def for_style(cls, style: str, **overrides: Any) -> PromptOptions:
        """Options with `style`'s own span bounds unless `overrides` (None values ignored) set them."""
        if style not in PROMPT_STYLES:
            raise ValueError(f"unknown prompt style {style!r}; choose one of {', '.join(PROMPT_STYLES)}")
        chosen = PROMPT_STYLES[style]
        base = cls(min_chars=chosen.min_chars, max_chars=chosen.max_chars, style=style)
        return replace(base, **{k: v for k, v in overrides.items() if v is not None})

    def __post_init__(self) -> None:
        if self.style not in PROMPT_STYLES:
            raise ValueError(f"unknown prompt style {self.style!r}; choose one of {', '.join(PROMPT_STYLES)}")
        if not 0 < self.split_fraction < 1:
            raise ValueError(f"split fraction must be in (0, 1), got {self.split_fraction}")
        if not 0 < self.min_chars <= self.max_chars:
            raise ValueError(f"need 0 < min_chars <= max_chars, got {self.min_chars}, {self.max_chars}")
        check_bucket_edges(self.bucket_edges)


def check_bucket_edges(edges: tuple[float, ...]) -> None:
    if len(edges) < 2 or edges[0] != 0.0 or edges[-1] != 1.0 or list(edges) != sorted(set(edges)):
        raise ValueError(f"bucket edges must rise strictly from 0 to 1, got {edges}")


def bucket_of(toxicity: float, edges: tuple[float, ...]) -> int:
    """Index of the bucket [edges[i], edges[i+1]) holding `toxicity`; the last one is closed."""
    for index in range(len(edges) - 2, -1, -1):
        if toxicity >= edges[index]:
            return index
    return 0


@dataclass(frozen=True, slots=True)
class PromptSpan:
    """A span of a document split into prompt and continuation."""

    start: int
    end: int
    prompt: str
    continuation: str

    @property
    def text(self) -> str:
        return f"{self.prompt}{self.continuation}"


def prompt_id_for(doc_id: str, start: int, end: int, text: str, style: str = DEFAULT_PROMPT_STYLE) -> str:
    """Stable id from provenance, content and (for styles other than the original toxmine one, whose
    ids stay as they were) the prompt style, since the same span splits differently per style."""
    key = f"{doc_id}\x00{start}\x00{end}\x00{text}"
    if style != DEFAULT_PROMPT_STYLE:
        key += f"\x00{style}"
    return hashlib.blake2b(key.encode(), digest_size=10).hexdigest()


def _pieces(text: str, max_chars: int) -> Iterator[tuple[int, int]]:
    """(start, end) of paragraphs, stripped, with those over `max_chars` cut at sentence ends
    (`max_chars=0`: every sentence)."""
    position = 0
    for line in text.split("\n"):
        start, end = position, position + len(line)
        position = end + 1
        stripped = line.strip()
        if not stripped:
            continue
        start += len(line) - len(line.lstrip())
        end -= len(line) - len(line.rstrip())
        if end - start <= max_chars:
            yield start, end
            continue
        piece_start = start
        for match in _SENTENCE_END.finditer(text, start, end):
            if match.start() - piece_start >= 1:
                yield piece_start, match.start()
            piece_start = match.end()
        if piece_start < end:
            yield piece_start, end


Splitter = Callable[[str, int, float, str | None, str | None], PromptSpan | None]


def spans_of(text: str, lang: str | None, script: str | None, options: PromptOptions) -> list[PromptSpan]:
    """Spans of `text` split into prompt and continuation, in `options.style`."""
    return PROMPT_STYLES[options.style].spans(text, lang, script, options)


def _grouped_spans(
    text: str, lang: str | None, script: str | None, options: PromptOptions, split: Splitter
) -> list[PromptSpan]:
    """Spans of `text` within [min_chars, max_chars], each cut by `split`.

    Consecutive short paragraphs or sentences are joined until long enough; pieces that stay
    too long (a sentence over max_chars) are skipped.
    """
    spans: list[PromptSpan] = []
    group_start: int | None = None
    group_end = 0
    for start, end in _pieces(text, options.max_chars):
        if group_start is not None and end - group_start > options.max_chars:
            group_start = None  # joining would overflow: drop the short group
        if group_start is None:
            group_start = start
        group_end = end
        if group_end - group_start >= options.min_chars:
            if group_end - group_start <= options.max_chars:
                span = split(text[group_start:group_end], group_start, options.split_fraction, lang, script)
                if span is not None:
                    spans.append(span)
                    if len(spans) >= options.max_spans_per_doc:
                        break
            group_start = None
    return spans


def _sentence_spans(
    text: str, lang: str | None, script: str | None, options: PromptOptions, split: Splitter
) -> list[PromptSpan]:
    """Single sentences of `text` (stripped) within [min_chars, max_chars], each cut by `split`; never joined."""
    spans: list[PromptSpan] = []
    for start, end in _pieces(text, 0):
        if options.min_chars <= end - start <= options.max_chars:
            span = split(text[start:end], start, options.split_fraction, lang, script)
            if span is not None:
                spans.append(span)
                if len(spans) >= options.max_spans_per_doc:
                    break
    return spans


def _safe_char_boundary(text: str, index: int) -> int:
    """Move `index` right past combining marks and joiners so no grapheme is cut."""
    while 0 < index < len(text) and (unicodedata.combining(text[index]) or text[index] in _JOINERS
                                      or unicodedata.category(text[index]) == "Mn"):  # fmt: skip
        index += 1
    return index


def split_span(text: str, offset: int, fraction: float, unsegmented: bool) -> PromptSpan | None:
    """Split `text` near `fraction` of its length: for space-delimited scripts at the start of the
    word gap (any run of Unicode whitespace: newline, tab, NBSP, thin or ideographic space...) nearest
    to it, the earlier on a tie; for unsegmented ones between characters, never inside a grapheme.
    None if one side is blank."""
    target = int(len(text) * fraction)
    if unsegmented:
        cut = _safe_char_boundary(text, target)
    else:
        gaps = [m.start() for m in _WORD_GAP.finditer(text) if m.start() > 0]
        # no whitespace at all (a long URL, code): fall back to a character boundary
        cut = min(gaps, key=lambda c: abs(c - target)) if gaps else _safe_char_boundary(text, target)
    prompt, continuation = text[:cut], text[cut:]
    if not prompt.strip() or not continuation.strip():
        return None
    return PromptSpan(offset, offset + len(text), prompt, continuation)


def split_at_character(text: str, offset: int, fraction: float) -> PromptSpan | None:
    """PTP's split: the first int(len x fraction) code points are the prompt, the rest the
    continuation, even inside a word or grapheme, nothing stripped (the PolygloToxicityPrompts
    dataset card's example: 284 characters -> a 142-character prompt). None if one side is blank."""
    cut = int(len(text) * fraction)
    prompt, continuation = text[:cut], text[cut:]
    if not prompt.strip() or not continuation.strip():
        return None
    return PromptSpan(offset, offset + len(text), prompt, continuation)


def split_at_tokens(text: str, offset: int, fraction: float, token_ends: list[int]) -> PromptSpan | None:
    """RTP's split_prompt (allenai/real-toxicity-prompts scripts/data/create_prompts_dataset.py):
    n = round(fraction x tokens) (Python's round, half to even), the prompt is the text through the
    end of token n (str(doc[:n])), the continuation the rest of the string (it starts with the gap).
    None when either side is empty or the prompt is over RTP_MAX_PROMPT_CHARS (RTP drops, not cuts)."""
    n = round(fraction * len(token_ends))
    cut = token_ends[n - 1] if n > 0 else 0
    prompt, continuation = text[:cut], text[cut:]
    if not prompt or not continuation or len(prompt) > RTP_MAX_PROMPT_CHARS:
        return None
    return PromptSpan(offset, offset + len(text), prompt, continuation)


@functools.cache
def _spacy_tokenizer(english: bool) -> Callable[[str], Any]:
    """spaCy's rule-based tokenizer: English (what RTP's en_core_web_sm ran with parser, NER and
    tagger disabled: its tokenizer alone) or spaCy's multi-language one. No model download."""
    try:
        import spacy
    except ImportError as exc:
        raise ConfigError(
            "--prompt-style rtp tokenizes with spaCy as RealToxicityPrompts did; install it: pip install 'toxmine[rtp]'"
        ) from exc
    return spacy.blank("en" if english else "xx").tokenizer  # type: ignore[no-any-return]


def rtp_token_ends(text: str, lang: str | None, script: str | None) -> list[int]:
    """End offsets of `text`'s tokens as RTP counts them: spaCy tokens (English rules for en, spaCy's
    multi-language rules otherwise); for unsegmented scripts (zh, ja, th...) one token per
    character, never inside a grapheme, since spaCy would see a whole run as one token."""
    if is_unsegmented(lang, script):
        return [i for i in range(1, len(text) + 1) if i == len(text) or _safe_char_boundary(text, i) == i]
    return [token.idx + len(token.text) for token in _spacy_tokenizer(lang == "en")(text)]


def _toxmine_split(text: str, offset: int, fraction: float, lang: str | None, script: str | None) -> PromptSpan | None:
    return split_span(text, offset, fraction, is_unsegmented(lang, script))


def _ptp_split(text: str, offset: int, fraction: float, lang: str | None, script: str | None) -> PromptSpan | None:
    return split_at_character(text, offset, fraction)


def _rtp_split(text: str, offset: int, fraction: float, lang: str | None, script: str | None) -> PromptSpan | None:
    return split_at_tokens(text, offset, fraction, rtp_token_ends(text, lang, script))


@dataclass(frozen=True)
class PromptStyle:
    """One way of choosing spans and splitting them; `prepare` fails early when a dependency is missing."""

    name: str
    description: str
    min_chars: int
    max_chars: int
    spans: Callable[[str, str | None, str | None, PromptOptions], list[PromptSpan]]
    prepare: Callable[[], object] = lambda: None


PROMPT_STYLES: dict[str, PromptStyle] = {
    "toxmine": PromptStyle(
        "toxmine",
        "paragraph spans (short ones joined, long ones cut at sentence ends), split at the nearest word gap",
        64,
        512,
        lambda text, lang, script, options: _grouped_spans(text, lang, script, options, _toxmine_split),
    ),
    "ptp": PromptStyle(
        "ptp",
        "PolygloToxicityPrompts: toxmine's paragraph spans split at the character midpoint, even inside a word",
        64,
        512,
        lambda text, lang, script, options: _grouped_spans(text, lang, script, options, _ptp_split),
    ),
    "rtp": PromptStyle(
        "rtp",
        "RealToxicityPrompts: single sentences of 64-1024 characters split after half their spaCy tokens, "
        f"prompts over {RTP_MAX_PROMPT_CHARS} characters dropped",
        64,
        1024,
        lambda text, lang, script, options: _sentence_spans(text, lang, script, options, _rtp_split),
        prepare=lambda: _spacy_tokenizer(True),
    ),
}


def style_from_settings(settings: Mapping[str, str]) -> str:
    """The prompt style a database's prompts were cut in: `prompts.style`, or toxmine for databases
    scored before styles existed (their prompts.* settings have no style key)."""
    return settings.get("prompts.style", DEFAULT_PROMPT_STYLE)
