"""What targeted mining cost and found, per input and per language the index gave its records.

The columnar index labels each record with CLD2's languages; toxmine labels the extracted text with
fastText. For each index language, `RecordTally` counts the records selected, fetched (read and
framed whole), that gave a text reaching language ID, on which fastText agreed with the index, and
that were kept as documents; and the bytes fetched beside the size of the whole WARC file. The
agreement (agreed / texts) tells a user how many records to select for the documents wanted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["COUNTS", "RecordTally", "add_languages"]

COUNTS = ("selected", "fetched", "texts", "agreed", "kept")
_FETCHED, _TEXTS, _AGREED, _KEPT = 1, 2, 3, 4


@dataclass
class RecordTally:
    """Counts of one input's records by index language (see the module); `index_langs` maps each
    selected record's offset to its index language ("und" when the index gave none)."""

    index_langs: dict[int, str]
    bytes_fetched: int = 0
    bytes_whole: int | None = None
    counts: dict[str, list[int]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for lang in self.index_langs.values():
            self.counts.setdefault(lang, [0] * len(COUNTS))[0] += 1

    def _add(self, offset: int, column: int) -> None:
        lang = self.index_langs.get(offset)
        if lang is not None:
            self.counts[lang][column] += 1

    def fetched(self, offset: int) -> None:
        self._add(offset, _FETCHED)

    def identified(self, offset: int, lid_lang: str, kept: bool) -> None:
        """A record's text went through language ID: fastText said `lid_lang`; `kept` as a document."""
        self._add(offset, _TEXTS)
        if self.index_langs.get(offset) == lid_lang:
            self._add(offset, _AGREED)
        if kept:
            self._add(offset, _KEPT)


def add_languages(parts: Iterable[dict[str, list[int]]]) -> dict[str, list[int]]:
    """Per-language counts of several parts added up."""
    total: dict[str, list[int]] = {}
    for part in parts:
        for lang, counts in part.items():
            row = total.setdefault(lang, [0] * len(COUNTS))
            for i, n in enumerate(counts):
                row[i] += n
    return total
