"""Writing-system helpers: the dominant ISO 15924 script of a text, and which scripts or
languages are written without spaces between words (so they need character shingles)."""

from __future__ import annotations

import bisect
from collections import Counter

__all__ = ["UNSEGMENTED_LANGS", "UNSEGMENTED_SCRIPTS", "dominant_script", "is_unsegmented"]

# (first code point, last code point, script); sorted, non-overlapping.
_RANGES: list[tuple[int, int, str]] = sorted(
    [
        (0x0041, 0x005A, "Latn"),
        (0x0061, 0x007A, "Latn"),
        (0x00C0, 0x024F, "Latn"),
        (0x1E00, 0x1EFF, "Latn"),
        (0x0370, 0x03FF, "Grek"),
        (0x1F00, 0x1FFF, "Grek"),
        (0x0400, 0x052F, "Cyrl"),
        (0x0530, 0x058F, "Armn"),
        (0x0590, 0x05FF, "Hebr"),
        (0x0600, 0x06FF, "Arab"),
        (0x0750, 0x077F, "Arab"),
        (0x08A0, 0x08FF, "Arab"),
        (0x0900, 0x097F, "Deva"),
        (0x0980, 0x09FF, "Beng"),
        (0x0A00, 0x0A7F, "Guru"),
        (0x0A80, 0x0AFF, "Gujr"),
        (0x0B00, 0x0B7F, "Orya"),
        (0x0B80, 0x0BFF, "Taml"),
        (0x0C00, 0x0C7F, "Telu"),
        (0x0C80, 0x0CFF, "Knda"),
        (0x0D00, 0x0D7F, "Mlym"),
        (0x0D80, 0x0DFF, "Sinh"),
        (0x0E00, 0x0E7F, "Thai"),
        (0x0E80, 0x0EFF, "Laoo"),
        (0x0F00, 0x0FFF, "Tibt"),
        (0x1000, 0x109F, "Mymr"),
        (0x10A0, 0x10FF, "Geor"),
        (0x1100, 0x11FF, "Hang"),
        (0x1200, 0x139F, "Ethi"),
        (0x1780, 0x17FF, "Khmr"),
        (0x3040, 0x309F, "Hira"),
        (0x30A0, 0x30FF, "Kana"),
        (0x3130, 0x318F, "Hang"),
        (0x3400, 0x4DBF, "Hani"),
        (0x4E00, 0x9FFF, "Hani"),
        (0xAC00, 0xD7AF, "Hang"),
        (0xF900, 0xFAFF, "Hani"),
        (0xFF66, 0xFF9F, "Kana"),
        (0x20000, 0x2FA1F, "Hani"),
    ]
)
_STARTS = [start for start, _, _ in _RANGES]

UNSEGMENTED_SCRIPTS = frozenset({"Hani", "Hira", "Kana", "Jpan", "Thai", "Laoo", "Khmr", "Mymr", "Tibt"})
UNSEGMENTED_LANGS = frozenset({"zh", "ja", "th", "lo", "km", "my", "bo", "yue", "wuu", "gan", "hak", "nan"})


def _script_of(char: str) -> str | None:
    point = ord(char)
    index = bisect.bisect_right(_STARTS, point) - 1
    if index >= 0:
        start, end, script = _RANGES[index]
        if start <= point <= end:
            return script
    return None


# script of each character met so far (None: not a letter, or in no range); reset when it grows large
_SCRIPT_OF_CHAR: dict[str, str | None] = {}
_SCRIPT_CACHE_LIMIT = 100_000


def _letter_script(char: str) -> str | None:
    script = _script_of(char) if char.isalpha() else None
    if len(_SCRIPT_OF_CHAR) >= _SCRIPT_CACHE_LIMIT:
        _SCRIPT_OF_CHAR.clear()
    _SCRIPT_OF_CHAR[char] = script
    return script


def dominant_script(text: str, sample: int = 600) -> str | None:
    """The most frequent script among the letters of the first `sample` characters (ties: the
    script met first).

    Japanese text (kana mixed with kanji) reports `Jpan`.
    """
    head = text[:sample]
    if head.isascii():  # the common case, without a loop in Python
        return "Latn" if any(c.isalpha() for c in head) else None
    # count characters in C, then look up each distinct one (in order of first occurrence, so
    # ties go to the same script as a character-by-character count): ~5x cheaper than a loop
    counts: dict[str, int] = {}
    known = _SCRIPT_OF_CHAR
    for char, n in Counter(head).items():
        script = known[char] if char in known else _letter_script(char)
        if script is not None:
            counts[script] = counts.get(script, 0) + n
    if not counts:
        return None
    top = max(counts, key=counts.__getitem__)
    if top in {"Hira", "Kana"} or (top == "Hani" and counts.get("Hira", 0) + counts.get("Kana", 0) > 0):
        return "Jpan"
    return top


def is_unsegmented(lang: str | None, script: str | None) -> bool:
    """True where words are not separated by spaces (zh, ja, th, ...)."""
    return (lang in UNSEGMENTED_LANGS) or (script in UNSEGMENTED_SCRIPTS)
