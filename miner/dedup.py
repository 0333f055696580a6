"""Exact and near-duplicate detection: normalised-text hashes and MinHash LSH (datasketch).

Shingles suit the script: word n-grams for space-delimited languages, character n-grams for
zh/ja/th and other unsegmented scripts (regex word shingles collapse such text into a handful
of huge "words"). Defaults follow FineWeb: 5-grams, 14 bands x 8 rows (112 permutations).
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
import zlib
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from datasketch import LeanMinHash, MinHash, MinHashLSH

from .scripts import is_unsegmented

__all__ = ["DedupIndex", "DedupOptions", "minhash_signature", "normalize_text", "shingles", "text_hash"]

_PUNCT = re.compile(r"[^\w\s]+")
_DIGITS = re.compile(r"\d")
_SEED = 1
_SCHEME = "affine32"  # datasketch >= 2: 32-bit affine permutations, uint32 hash values
_DTYPE = "<u4"


@dataclass(frozen=True)
class DedupOptions:
    """Near-dedup settings; they must stay the same for every run over one database."""

    ngram: int = 5
    bands: int = 14
    rows: int = 8
    char_ngram: int = 5  # for unsegmented scripts

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    def as_settings(self) -> dict[str, str]:
        return {
            "dedup.ngram": str(self.ngram),
            "dedup.bands": str(self.bands),
            "dedup.rows": str(self.rows),
            "dedup.char_ngram": str(self.char_ngram),
            "dedup.hash": f"crc32/{_SCHEME}",
        }

    @classmethod
    def from_settings(cls, settings: dict[str, str]) -> DedupOptions:
        """The options a database was built with (its `settings`; defaults for what it lacks)."""
        fields = ("ngram", "bands", "rows", "char_ngram")
        return cls(**{name: int(settings[f"dedup.{name}"]) for name in fields if f"dedup.{name}" in settings})


def normalize_text(text: str) -> str:
    """Lowercase, NFKC, punctuation removed, digits as 0, whitespace collapsed."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = _DIGITS.sub("0", _PUNCT.sub(" ", text))
    return " ".join(text.split())


def text_hash(normalized: str) -> str:
    """Hex digest identifying a normalised text (exact-duplicate key)."""
    return hashlib.blake2b(normalized.encode("utf-8"), digest_size=16).hexdigest()


def shingles(normalized: str, unsegmented: bool, options: DedupOptions) -> list[bytes]:
    """Word n-grams, or character n-grams (spaces removed) for unsegmented scripts."""
    if unsegmented:
        chars = normalized.replace(" ", "")
        n = options.char_ngram
        if len(chars) <= n:
            return [chars.encode("utf-8")] if chars else []
        return [chars[i : i + n].encode("utf-8") for i in range(len(chars) - n + 1)]
    words = normalized.split()
    n = options.ngram
    if len(words) <= n:
        return [" ".join(words).encode("utf-8")] if words else []
    return [" ".join(words[i : i + n]).encode("utf-8") for i in range(len(words) - n + 1)]


def _crc32(data: bytes) -> int:
    return zlib.crc32(data)


def minhash_signature(normalized: str, lang: str | None, script: str | None, options: DedupOptions) -> bytes:
    """MinHash signature of a normalised text as bytes (num_perm little-endian uint32)."""
    minhash = MinHash(num_perm=options.num_perm, seed=_SEED, hashfunc=_crc32, scheme=_SCHEME)
    grams = shingles(normalized, is_unsegmented(lang, script), options)
    if grams:
        minhash.update_batch(grams)
    return bytes(minhash.hashvalues.astype(_DTYPE).tobytes())


class DedupIndex:
    """Kept documents so far: exact hashes and an LSH index of their signatures.

    `check_and_add` returns the kept `doc_id` a new document duplicates (the earliest one
    when several collide, so results do not depend on set order), or adds the document and
    returns None.
    """

    def __init__(self, options: DedupOptions) -> None:
        self.options = options
        self._lsh = MinHashLSH(num_perm=options.num_perm, params=(options.bands, options.rows))
        self._exact: dict[str, str] = {}
        self._order: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._order)

    def _lean(self, signature: bytes) -> LeanMinHash:
        values = np.frombuffer(signature, dtype=_DTYPE)
        if values.size != self.options.num_perm:
            raise ValueError(f"signature has {values.size} values, expected {self.options.num_perm}")
        return LeanMinHash(seed=_SEED, hashvalues=values, scheme=_SCHEME)

    def add(self, doc_id: str, digest: str, signature: bytes) -> None:
        """Register a kept document."""
        self._exact.setdefault(digest, doc_id)
        self._lsh.insert(doc_id, self._lean(signature), check_duplication=False)
        self._order[doc_id] = len(self._order)

    def check_and_add(self, doc_id: str, digest: str, signature: bytes) -> str | None:
        kept = self._exact.get(digest)
        if kept is not None:
            return kept
        candidates = self._lsh.query(self._lean(signature))
        if candidates:
            return str(min(candidates, key=self._order.__getitem__))
        self.add(doc_id, digest, signature)
        return None

    def load(self, rows: Iterable[tuple[str, str, bytes]]) -> None:
        """Register already stored kept documents, in their stored order."""
        for doc_id, digest, signature in rows:
            self.add(doc_id, digest, signature)
