"""Exact and near-duplicate detection: normalised-text hashes and MinHash signatures for LSH.

Shingles suit the script: word n-grams for space-delimited languages, character n-grams for
zh/ja/th and other unsegmented scripts (regex word shingles collapse such text into a handful
of huge "words"). Defaults follow FineWeb: 5-grams, 14 bands x 8 rows (112 permutations).

Two signature schemes exist; a database records its own in the setting `dedup.hash` and keeps it:

- `poly64/affine32` (new databases): every shingle is a substring of the normalised text (its
  code points, spaces removed for character shingles), hashed at once for all shingles with a
  64-bit polynomial prefix hash (wrapping uint64 arithmetic) and splitmix64's finaliser, of
  which the top 32 bits are kept; the permutations are `a*h + b` mod 2**32 (`a` odd, so each is
  a bijection) and the signature is their minima. Constants come from a fixed splitmix64
  sequence: numpy's wrapping integer arithmetic makes it the same on every machine.
- `crc32/affine32` (databases built before it, and those whose settings lack `dedup.hash`):
  datasketch's MinHash over the crc32 of each shingle.
"""

from __future__ import annotations

import hashlib
import re
import threading
import unicodedata
import zlib
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from .errors import ConfigError
from .native import native_function
from .scripts import is_unsegmented

if TYPE_CHECKING:  # datasketch (and the SciPy it imports: 0.3 s) loads only where it is used
    from datasketch import LeanMinHash

__all__ = [
    "DEFAULT_HASH_SCHEME",
    "HASH_SCHEMES",
    "LEGACY_HASH_SCHEME",
    "DedupIndex",
    "DedupOptions",
    "minhash_signature",
    "normalize_text",
    "shingles",
    "text_hash",
]

_PUNCT = re.compile(r"[^\w\s]+")
_DIGITS = re.compile(r"\d")
_SEED = 1
_SCHEME = "affine32"  # datasketch >= 2: 32-bit affine permutations, uint32 hash values
_DTYPE = "<u4"

DEFAULT_HASH_SCHEME = "poly64/affine32"
LEGACY_HASH_SCHEME = f"crc32/{_SCHEME}"
HASH_SCHEMES = (DEFAULT_HASH_SCHEME, LEGACY_HASH_SCHEME)


@dataclass(frozen=True)
class DedupOptions:
    """Near-dedup settings; they must stay the same for every run over one database.

    `hash_scheme` (one of HASH_SCHEMES) is how signatures are computed; None means the
    database's own scheme, `DEFAULT_HASH_SCHEME` for a new database (see `for_database`).
    """

    ngram: int = 5
    bands: int = 14
    rows: int = 8
    char_ngram: int = 5  # for unsegmented scripts
    hash_scheme: str | None = None

    def __post_init__(self) -> None:
        if self.hash_scheme is not None and self.hash_scheme not in HASH_SCHEMES:
            raise ConfigError(f"dedup hash scheme {self.hash_scheme!r} unknown; known: {', '.join(HASH_SCHEMES)}")

    @property
    def num_perm(self) -> int:
        return self.bands * self.rows

    @property
    def scheme(self) -> str:
        """The signature scheme these options compute."""
        return self.hash_scheme or DEFAULT_HASH_SCHEME

    def as_settings(self) -> dict[str, str]:
        return {
            "dedup.ngram": str(self.ngram),
            "dedup.bands": str(self.bands),
            "dedup.rows": str(self.rows),
            "dedup.char_ngram": str(self.char_ngram),
            "dedup.hash": self.scheme,
        }

    @classmethod
    def from_settings(cls, settings: dict[str, str]) -> DedupOptions:
        """The options a database was built with (its `settings`; defaults for what it lacks).

        A database with dedup settings but no `dedup.hash` was built before the key existed,
        with `LEGACY_HASH_SCHEME`.
        """
        fields = ("ngram", "bands", "rows", "char_ngram")
        values = {name: int(settings[f"dedup.{name}"]) for name in fields if f"dedup.{name}" in settings}
        return cls(**values, hash_scheme=stored_hash_scheme(settings))

    def for_database(self, settings: dict[str, str]) -> DedupOptions:
        """These options with the hash scheme of the database whose `settings` are given: its
        stored scheme when none was asked; raise ConfigError when another one was asked."""
        stored = stored_hash_scheme(settings)
        if stored is not None and self.hash_scheme is not None and self.hash_scheme != stored:
            raise ConfigError(
                f"the database's MinHash signatures use the hash scheme {stored}, not {self.hash_scheme}: "
                "signatures of two schemes cannot be compared; resume with its scheme or use a new database"
            )
        return replace(self, hash_scheme=stored or self.scheme)


def stored_hash_scheme(settings: dict[str, str]) -> str | None:
    """The hash scheme recorded in a database's settings: `dedup.hash`, `LEGACY_HASH_SCHEME` for
    databases with dedup settings from before that key, None for a database without any."""
    if "dedup.hash" in settings:
        return settings["dedup.hash"]
    return LEGACY_HASH_SCHEME if any(key.startswith("dedup.") for key in settings) else None


def normalize_text(text: str) -> str:
    """Lowercase, NFKC, punctuation removed, digits as 0, whitespace collapsed."""
    if text.isascii():  # NFKC changes no ASCII text: one C pass over the bytes gives the same result
        mapped = _map_code_points(text, _ASCII_CODES, _ASCII_FILLED) if _map_code_points is not None else None
        if mapped is not None:
            return mapped
        return " ".join(text.encode("ascii").translate(_ASCII_TABLE).decode("ascii").split())
    if "\u2026" in text:  # NFKC's own "...": the text is then often NFKC already, which NFKC checks first
        text = text.replace("\u2026", "...")  # (a text it must change costs ~15 ns a character)
    text = unicodedata.normalize("NFKC", text).lower()
    if _map_code_points is not None:  # None: a surrogate, or a block above the BMP not in the table yet
        mapped = _map_code_points(text, *_CODE_POINTS.arrays())
        if mapped is not None:
            return mapped
    return _mapped_with_numpy(text)


def _mapped_with_numpy(text: str) -> str:
    """`normalize_text` after NFKC and lowercasing, with numpy (the C extension's definition)."""
    try:
        codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    except UnicodeEncodeError:  # a lone surrogate: the regular expressions take any code point
        return _normalize_with_regex(text)
    mapped = _CODE_POINTS.map(codes)
    return _collapse_spaces(mapped).tobytes().decode("utf-32-le")


def _normalize_with_regex(lowered: str) -> str:
    """What `normalize_text` does after NFKC and lowercasing, as its definition states it."""
    return " ".join(_DIGITS.sub("0", _PUNCT.sub(" ", lowered)).split())


def _collapse_spaces(codes: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
    """Code points with runs of spaces as one space and none at the ends (`" ".join(s.split())`
    where every whitespace character is a space already)."""
    spaces = codes == 0x20
    keep = ~spaces
    keep[1:] |= ~spaces[:-1]  # a space right after a non-space
    kept = codes[keep]
    start = 1 if kept.size and kept[0] == 0x20 else 0
    end = kept.size - 1 if kept.size > start and kept[-1] == 0x20 else kept.size
    result: npt.NDArray[np.uint32] = kept[start:end]
    return result


class _CodePointMap:
    """What `_normalize_with_regex` makes of each code point, as a lookup table: a punctuation or
    space character (not `\\w`) becomes a space, a decimal digit `0`, any other character stays.
    One numpy gather per text instead of two regular-expression passes (equal on every code point;
    a test checks). The Basic Multilingual Plane is filled at first use (~10 ms), the planes above
    256 code points at a time as texts need them."""

    _BLOCK = 256
    _BMP = 0x10000

    def __init__(self) -> None:
        self._table: npt.NDArray[np.uint32] | None = None
        self._filled = np.zeros(0x110000 // self._BLOCK, dtype=bool)
        self._lock = threading.Lock()  # threads may call `normalize_text` at once: one fills, the others wait

    def arrays(self) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.bool_]]:
        """The table, and which of its blocks of 256 code points are filled (the BMP always is)."""
        return self._table if self._table is not None else self._first_use(), self._filled

    def map(self, codes: npt.NDArray[np.uint32]) -> npt.NDArray[np.uint32]:
        table, _ = self.arrays()
        if codes.size and int(codes.max()) >= self._BMP:
            blocks = codes // self._BLOCK
            missing = ~self._filled[blocks]
            if missing.any():
                with self._lock:
                    self._fill(table, np.unique(blocks[missing]).tolist())
        return table[codes]

    def _first_use(self) -> npt.NDArray[np.uint32]:
        """The table with the BMP filled, published only once filled."""
        with self._lock:
            if self._table is None:
                table = np.arange(0x110000, dtype="<u4")  # little-endian: decoded as UTF-32-LE
                self._fill(table, range(self._BMP // self._BLOCK))
                self._table = table
            return self._table

    def _fill(self, table: npt.NDArray[np.uint32], blocks: Iterable[int]) -> None:
        for block in blocks:
            if self._filled[block]:  # filled by another thread since it was found missing
                continue
            first = block * self._BLOCK
            mapped = _each_character_mapped("".join(map(chr, range(first, first + self._BLOCK))))
            table[first : first + self._BLOCK] = np.frombuffer(mapped.encode("utf-32-le", "surrogatepass"), "<u4")
            self._filled[block] = True


_NOT_WORD = re.compile(r"[^\w]")  # punctuation (as `_PUNCT`) and spaces, one character at a time


def _each_character_mapped(chars: str) -> str:
    """What the regular expressions of `normalize_text` make of each character of `chars`, one
    for one (same length): punctuation and spaces a space (whitespace is collapsed afterwards), a
    decimal digit `0`. The tables of both paths are built from it."""
    return _DIGITS.sub("0", _NOT_WORD.sub(" ", chars))


_CODE_POINTS = _CodePointMap()


def _ascii_table() -> bytes:
    """What `normalize_text` makes of each ASCII character, lowered (bytes above 127 unchanged)."""
    lowered = "".join(chr(code).lower() for code in range(128))
    return _each_character_mapped(lowered).encode("ascii") + bytes(range(128, 256))


_ASCII_TABLE = _ascii_table()
_ASCII_CODES = np.frombuffer(_ASCII_TABLE[:128], dtype=np.uint8).astype("<u4")  # the C extension's form
_ASCII_FILLED = b"\x01"


_map_code_points: Callable[[str, Any, Any], str | None] | None = native_function("map_code_points")


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
    """MinHash signature of a normalised text as bytes (num_perm little-endian uint32), in the
    scheme of `options` (`options.scheme`); a text without shingles gets all 0xFFFFFFFF."""
    unsegmented = is_unsegmented(lang, script)
    if options.scheme == LEGACY_HASH_SCHEME:
        from datasketch import MinHash

        minhash = MinHash(num_perm=options.num_perm, seed=_SEED, hashfunc=_crc32, scheme=_SCHEME)
        grams = shingles(normalized, unsegmented, options)
        if grams:
            minhash.update_batch(grams)
        return bytes(minhash.hashvalues.astype(_DTYPE).tobytes())
    if _native_signature is not None:
        a, b = _permutation_bytes(options.num_perm)
        n = options.char_ngram if unsegmented else options.ngram
        return _native_signature(normalized, n, unsegmented, a, b)
    return numpy_signature(normalized, unsegmented, options)


_native_signature: Callable[[str, int, bool, bytes, bytes], bytes] | None = native_function("signature")


def numpy_signature(normalized: str, unsegmented: bool, options: DedupOptions) -> bytes:
    """The `poly64/affine32` signature as its definition computes it, with numpy; the C extension
    (`_native.c`, used where built) gives the same bytes."""
    hashes = (shingle_hashes(normalized, unsegmented, options) >> np.uint64(32)).astype(np.uint32)
    if hashes.size == 0:
        return b"\xff" * (4 * options.num_perm)
    a, b = _permutations(options.num_perm)
    lowest: npt.NDArray[np.uint32] | None = None
    for first in range(0, hashes.size, _CHUNK):  # chunks bound the num_perm x chunk products
        products = np.multiply.outer(a, hashes[first : first + _CHUNK])  # uint32 products wrap
        products += b[:, None]
        minima = products.min(axis=1)
        lowest = minima if lowest is None else np.minimum(lowest, minima)
    assert lowest is not None
    return bytes(lowest.astype(_DTYPE).tobytes())


_CHUNK = 4096
_BASE = 0x100000001B3  # odd: invertible modulo 2**64
_MASK64 = (1 << 64) - 1
_SALT = 0x9E3779B97F4A7C15


def _splitmix64(state: int) -> tuple[int, int]:
    """The next state and output of splitmix64 (Python integers: identical everywhere)."""
    state = (state + 0x9E3779B97F4A7C15) & _MASK64
    z = state
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK64
    return state, z ^ (z >> 31)


_PERMUTATIONS: dict[int, tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]] = {}


def _permutations(num_perm: int) -> tuple[npt.NDArray[np.uint32], npt.NDArray[np.uint32]]:
    """The multipliers (odd) and offsets of `num_perm` permutations of 32-bit values: the top
    32 bits of successive outputs of splitmix64 seeded with 1."""
    found = _PERMUTATIONS.get(num_perm)
    if found is None:
        state, values = _SEED, []
        for _ in range(2 * num_perm):
            state, value = _splitmix64(state)
            values.append(value)
        a = np.array([(v >> 32) | 1 for v in values[:num_perm]], dtype=np.uint32)
        b = np.array([v >> 32 for v in values[num_perm:]], dtype=np.uint32)
        found = _PERMUTATIONS[num_perm] = (a, b)
    return found


def _permutation_bytes(num_perm: int) -> tuple[bytes, bytes]:
    """`_permutations` as little-endian uint32 bytes, for the C extension."""
    found = _PERMUTATION_BYTES.get(num_perm)
    if found is None:
        a, b = _permutations(num_perm)
        found = _PERMUTATION_BYTES[num_perm] = (a.astype("<u4").tobytes(), b.astype("<u4").tobytes())
    return found


_PERMUTATION_BYTES: dict[int, tuple[bytes, bytes]] = {}
_powers = np.ones(1, dtype=np.uint64)  # _BASE**i mod 2**64
_inverse_powers = np.ones(1, dtype=np.uint64)  # _BASE**-i mod 2**64


def _power_tables(length: int) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64]]:
    """Powers of the base and of its inverse (mod 2**64) for exponents 0..length-1 at least."""
    global _powers, _inverse_powers
    if _powers.size < length:
        size = max(length, 2 * _powers.size, 1024)
        base = np.full(size, _BASE, dtype=np.uint64)
        base[0] = 1
        inverse = np.full(size, pow(_BASE, -1, 1 << 64), dtype=np.uint64)
        inverse[0] = 1
        _powers, _inverse_powers = np.cumprod(base), np.cumprod(inverse)  # uint64 products wrap
    return _powers, _inverse_powers


def _mix64(x: npt.NDArray[np.uint64]) -> npt.NDArray[np.uint64]:
    """splitmix64's finaliser, in place: every output bit depends on every input bit."""
    x ^= x >> np.uint64(30)
    x *= np.uint64(0xBF58476D1CE4E5B9)
    x ^= x >> np.uint64(27)
    x *= np.uint64(0x94D049BB133111EB)
    x ^= x >> np.uint64(31)
    return x


def shingle_hashes(normalized: str, unsegmented: bool, options: DedupOptions) -> npt.NDArray[np.uint64]:
    """64-bit hashes of the shingles `shingles` lists (same texts, same order), computed at once.

    A shingle is a substring of the code points: words joined by single spaces in a normalised
    text, or characters with spaces removed. Its hash is sum(c[j] * B**(end-1-j)) mod 2**64,
    obtained from prefix sums of c[j] * B**-j, then mixed by splitmix64's finaliser.
    """
    text = normalized.replace(" ", "") if unsegmented else normalized
    if not text:
        return np.empty(0, dtype=np.uint64)
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4").astype(np.uint64)
    powers, inverse = _power_tables(codes.size)
    prefix = np.empty(codes.size + 1, dtype=np.uint64)
    prefix[0] = 0
    np.cumsum(codes * inverse[: codes.size], out=prefix[1:])
    if unsegmented:
        n = options.char_ngram
        if codes.size <= n:
            starts, ends = np.zeros(1, dtype=np.intp), np.full(1, codes.size, dtype=np.intp)
        else:
            starts = np.arange(codes.size - n + 1)
            ends = starts + n
    else:
        spaces = np.flatnonzero(codes == 32)
        n = options.ngram
        if spaces.size + 1 <= n:
            starts, ends = np.zeros(1, dtype=np.intp), np.full(1, codes.size, dtype=np.intp)
        else:
            starts = np.concatenate(([0], spaces[: spaces.size + 1 - n] + 1))
            ends = np.concatenate((spaces[n - 1 :], [codes.size]))
    hashes = (prefix[ends] - prefix[starts]) * powers[ends - 1]
    hashes ^= np.uint64(_SALT)  # the finaliser maps 0 to 0
    return _mix64(hashes)


class DedupIndex:
    """Kept documents so far: exact hashes and an LSH index of their signatures.

    `check_and_add` returns the kept `doc_id` a new document duplicates (the earliest one
    when several collide, so results do not depend on set order), or adds the document and
    returns None.
    """

    def __init__(self, options: DedupOptions) -> None:
        from datasketch import MinHashLSH

        self.options = options
        self._lsh = MinHashLSH(num_perm=options.num_perm, params=(options.bands, options.rows))
        self._exact: dict[str, str] = {}
        self._order: dict[str, int] = {}

    def __len__(self) -> int:
        return len(self._order)

    def _lean(self, signature: bytes) -> LeanMinHash:
        from datasketch import LeanMinHash

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
