"""The native module (`miner/_native.c`) on random hostile input: every function gives what its
Python definition gives, and none crashes, whatever the text (any width, surrogates, NUL, every
kind of whitespace) and however odd the bounds. `make native-asan` runs this file against a build
with AddressSanitizer and UBSan."""

from __future__ import annotations

import random

import pytest

from toxmine.miner.dedup import (
    _ASCII_CODES,
    _CODE_POINTS,
    DedupOptions,
    _mapped_with_numpy,
    _permutation_bytes,
    numpy_signature,
)
from toxmine.miner.langid import _python_sample, window_of

_POOL = [" ", " ", "\t", "\n", "\xa0", "\u3000", "a", "Z", "é", "ß", "中", "😀", "7"]
_POOL += ["\ud800", "\udfff", "\x00", "\U0010ffff"]


def _native():  # type: ignore[no-untyped-def]
    try:
        from toxmine.miner import _native
    except ImportError as error:  # pragma: no cover - shown when the build found no C compiler
        pytest.fail(f"toxmine.miner._native is not built ({error})")
    return _native


def _text(rng: random.Random) -> str:
    return "".join(rng.choice(_POOL) for _ in range(rng.choice([0, 1, 2, 5, 40, 400, 3000])))


@pytest.mark.parametrize("seed", range(4))
def test_native_functions_are_their_python_definitions_on_random_input(seed: int) -> None:
    native = _native()
    rng = random.Random(seed)
    table, filled = _CODE_POINTS.arrays()
    for _ in range(400):
        text = _text(rng)
        ngram, perms, unsegmented = rng.choice([1, 2, 5, 9, 10**6]), rng.choice([1, 7, 112]), rng.random() < 0.5
        a, b = _permutation_bytes(perms)
        options = DedupOptions(ngram=ngram, char_ngram=ngram, bands=perms, rows=1)
        clean = "".join(" " if 0xD800 <= ord(c) <= 0xDFFF else c for c in text)  # as normalize_text leaves it
        assert native.signature(clean, ngram, unsegmented, a, b) == numpy_signature(clean, unsegmented, options)
        assert len(native.signature(text, ngram, unsegmented, a, b)) == 4 * perms  # numpy's cannot encode these
        max_chars = rng.choice([-(10**12), -5, 0, 1, 3, 100, 10_000, 2**62])
        assert native.lid_window(text, max_chars) == window_of(text, max_chars)
        sample_chars, run = rng.choice([-1, 0, 1, 10, 1_000, 2**62]), rng.choice([-3, 0, 1, 4, 2**62])
        sample = native.lid_sample(text, max_chars, sample_chars, run)
        assert sample == _python_sample(text, max_chars, sample_chars, run)
        mapped = native.map_code_points(text, table, filled)
        assert mapped is None or mapped == _mapped_with_numpy(text)
        assert (mapped is None) == any(0xD800 <= ord(c) <= 0xDFFF or not filled[ord(c) >> 8] for c in text)
        if text.isascii():
            assert native.map_code_points(text, _ASCII_CODES, b"\x01") is not None
        assert native.map_code_points(text, b"", b"") is None or text == ""
