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
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .corpus_reads import TargetingSummary

__all__ = ["COUNTS", "RecordTally", "add_languages", "byte_size", "targeting_text"]

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


def byte_size(n: float) -> str:
    """A byte count as people read it: 812 B, 10.4 KiB, 3.25 MiB, 1.02 GiB."""
    for unit, scale in (("GiB", 1 << 30), ("MiB", 1 << 20), ("KiB", 1 << 10)):
        if n >= scale:
            return f"{n / scale:,.{1 if unit == 'KiB' else 2}f} {unit}"
    return f"{n:,.0f} B"


def targeting_text(summary: TargetingSummary) -> str:
    """The run's record groups for the mining summary: bytes fetched vs whole files, and per index language."""
    whole = "" if summary.bytes_whole is None else f" of the {byte_size(summary.bytes_whole)} of those files"
    share = "" if not summary.bytes_whole else f" ({100 * summary.bytes_fetched / summary.bytes_whole:.2f}%)"
    per_doc = f"; {byte_size(summary.bytes_fetched / summary.documents)} per document" if summary.documents else ""
    lines = [
        f"\nrecord lists: {summary.selected:,} records of {summary.warc_files:,} WARC files in {summary.groups:,} "
        f"groups: fetched {byte_size(summary.bytes_fetched)}{whole}{share}{per_doc}",
        f"\n{'index lang':<12}{'selected':>10}{'fetched':>10}{'texts':>10}{'fastText agrees':>17}{'kept':>10}",
    ]
    for row in summary.languages:
        agreement = f"{row.agreed:,} ({100 * row.agreed / row.texts:.0f}%)" if row.texts else "-"
        lines.append(
            f"{row.lang:<12}{row.selected:>10,}{row.fetched:>10,}{row.texts:>10,}{agreement:>17}{row.kept:>10,}"
        )
    lines.append(
        "(index lang: the index's first language (CLD2); texts: records whose extracted text reached language "
        "ID; kept: stored as documents)"
    )
    return "\n".join(lines)
