"""What targeted mining cost and found, per input and per language the index gave its records.

The columnar index labels each record with CLD2's languages; toxmine labels the extracted text with
fastText. For each index language, `RecordTally` counts the records selected, fetched (read and
framed whole), that gave a text reaching language ID, on which fastText agreed with the index, and
that were stored as documents (near-duplicates included: dedup comes later); and per WARC file the
bytes fetched beside the size of the whole file. The agreement (agreed / texts) tells a user how
many records to select for the documents wanted.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .corpus_reads import TargetingSummary

__all__ = ["COUNTS", "KEPT", "FileCost", "RecordTally", "add_languages", "byte_size", "counted", "targeting_text"]

COUNTS = ("selected", "fetched", "texts", "agreed", "stored", "kept")  # kept: set at commit, once dedup decided
_FETCHED, _TEXTS, _AGREED, _STORED, KEPT = 1, 2, 3, 4, 5


@dataclass
class FileCost:
    """One WARC file of a record group: records to fetch, bytes fetched, the whole file's size (when known)."""

    n_selected: int
    bytes_fetched: int = 0
    bytes_whole: int | None = None


@dataclass
class RecordTally:
    """Counts of one input's records by index language and by WARC file (see the module); `index_langs`
    maps each selected record, (WARC file name, offset), to its index language ("und": none given)."""

    index_langs: dict[tuple[str, int], str]
    counts: dict[str, list[int]] = field(default_factory=dict)
    files: dict[str, FileCost] = field(default_factory=dict)

    def __post_init__(self) -> None:
        for (warc, _), lang in self.index_langs.items():
            self.counts.setdefault(lang, [0] * len(COUNTS))[0] += 1
            self.files.setdefault(warc, FileCost(0)).n_selected += 1

    def _add(self, warc: str, offset: int, column: int) -> None:
        lang = self.index_langs.get((warc, offset))
        if lang is not None:
            self.counts[lang][column] += 1

    def fetched(self, warc: str, offset: int) -> None:
        self._add(warc, offset, _FETCHED)

    def cost(self, warc: str, fetched: int, whole: int | None) -> None:
        """Bytes read for a file's records, and the whole file's size when learnt."""
        file = self.files.setdefault(warc, FileCost(0))
        file.bytes_fetched += fetched
        file.bytes_whole = whole if whole is not None else file.bytes_whole

    def identified(self, warc: str, offset: int, lid_lang: str, stored: bool) -> None:
        """A record's text went through language ID: fastText said `lid_lang`; `stored` as a document."""
        self._add(warc, offset, _TEXTS)
        if self.index_langs.get((warc, offset)) == lid_lang:
            self._add(warc, offset, _AGREED)
        if stored:
            self._add(warc, offset, _STORED)

    @property
    def bytes_fetched(self) -> int:
        return sum(file.bytes_fetched for file in self.files.values())

    @property
    def bytes_whole(self) -> int | None:
        sizes = [file.bytes_whole for file in self.files.values()]
        return None if None in sizes else sum(size for size in sizes if size is not None)


def add_languages(parts: Iterable[dict[str, list[int]]]) -> dict[str, list[int]]:
    """Per-language counts of several parts added up."""
    total: dict[str, list[int]] = {}
    for part in parts:
        for lang, counts in part.items():
            row = total.setdefault(lang, [0] * len(COUNTS))
            for i, n in enumerate(counts):
                row[i] += n
    return total


def counted(n: int, noun: str) -> str:
    """`n` and the noun, plural unless n is 1: "1 file", "3 files", "0 files"."""
    return f"{n:,} {noun}{'' if n == 1 else 's'}"


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
        f"\nrecord lists: {counted(summary.selected, 'record')} of {counted(summary.warc_files, 'WARC file')} in "
        f"{counted(summary.groups, 'group')}: fetched {byte_size(summary.bytes_fetched)}{whole}{share}{per_doc}",
        f"\n{'index lang':<12}{'selected':>10}{'fetched':>10}{'texts':>10}{'fastText agrees':>17}{'stored':>10}"
        f"{'kept':>8}",
    ]
    for row in summary.languages:
        agreement = f"{row.agreed:,} ({100 * row.agreed / row.texts:.0f}%)" if row.texts else "-"
        lines.append(
            f"{row.lang:<12}{row.selected:>10,}{row.fetched:>10,}{row.texts:>10,}{agreement:>17}{row.stored:>10,}{row.kept:>8,}"
        )
    lines.append(
        "(index lang: the index's first language (CLD2); texts: records whose extracted text reached language "
        "ID; stored: documents made of them; kept: those not near-duplicates)"
    )
    return "\n".join(lines)
