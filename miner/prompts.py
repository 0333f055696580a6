"""Naturally occurring prompts, as in RealToxicityPrompts / PolygloToxicityPrompts: spans of a
document's text within length bounds, each split into a prompt and its continuation."""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Iterator
from dataclasses import dataclass

from .scripts import is_unsegmented

__all__ = [
    "DEFAULT_BUCKET_EDGES",
    "PromptOptions",
    "PromptSpan",
    "bucket_of",
    "prompt_id_for",
    "spans_of",
    "split_span",
]

_SENTENCE_END = re.compile(r"(?<=[.!?。！？…])\s+|(?<=[。！？])")
_JOINERS = {"\u200d", "\u200c"}
_WORD_GAP = re.compile(r"\s+")  # str patterns: \s is every character str.isspace() accepts


DEFAULT_BUCKET_EDGES = (0.0, 0.25, 0.5, 0.75, 1.0)  # RTP's 4 equal-width toxicity bins


@dataclass(frozen=True)
class PromptOptions:
    """How spans are cut from documents and split."""

    min_chars: int = 64
    max_chars: int = 512
    split_fraction: float = 0.5
    max_spans_per_doc: int = 8
    bucket_edges: tuple[float, ...] = DEFAULT_BUCKET_EDGES

    def __post_init__(self) -> None:
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


def prompt_id_for(doc_id: str, start: int, end: int, text: str) -> str:
    """Stable id from provenance and content."""
    key = f"{doc_id}\x00{start}\x00{end}\x00{text}".encode()
    return hashlib.blake2b(key, digest_size=10).hexdigest()


def _pieces(text: str, max_chars: int) -> Iterator[tuple[int, int]]:
    """(start, end) of paragraphs, with over-long paragraphs cut at sentence ends."""
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


def spans_of(text: str, lang: str | None, script: str | None, options: PromptOptions) -> list[PromptSpan]:
    """Spans of `text` within [min_chars, max_chars], split at the configured fraction.

    Consecutive short paragraphs or sentences are joined until long enough; pieces that stay
    too long (a sentence over max_chars) are skipped.
    """
    unsegmented = is_unsegmented(lang, script)
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
                span = split_span(text[group_start:group_end], group_start, options.split_fraction, unsegmented)
                if span is not None:
                    spans.append(span)
                    if len(spans) >= options.max_spans_per_doc:
                        break
            group_start = None
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
