"""MinHash signature schemes: the vectorised `poly64/affine32` estimates Jaccard similarity without
bias, finds near-duplicates in LSH, and stays the scheme a database was built with."""

from __future__ import annotations

import random
import re
import statistics
import sys
import threading
import unicodedata
from pathlib import Path

import duckdb
import numpy as np
import pytest
from warc_builder import Page, RealPage, write_warc

from toxmine.miner.dedup import (
    DEFAULT_HASH_SCHEME,
    HASH_SCHEMES,
    LEGACY_HASH_SCHEME,
    DedupIndex,
    DedupOptions,
    _CodePointMap,
    _collapse_spaces,
    _normalize_with_regex,
    _permutation_bytes,
    minhash_signature,
    normalize_text,
    numpy_signature,
    shingle_hashes,
    shingles,
    text_hash,
)
from toxmine.miner.errors import ConfigError
from toxmine.miner.mine import mine
from toxmine.miner.process import ProcessOptions
from toxmine.miner.sources import LocalFile


def _words(rng: random.Random, n: int) -> list[str]:
    return ["".join(rng.choice("abcdefghijklmnopqrstuvwxyz") for _ in range(rng.randint(3, 9))) for _ in range(n)]


def _pair(rng: random.Random, jaccard: float, n: int = 400) -> tuple[str, str]:
    """Two texts whose 5-gram shingle sets have about the given Jaccard similarity: blocks of
    20 words either shared or drawn anew."""
    a: list[str] = []
    b: list[str] = []
    shared = 2 * jaccard / (1 + jaccard)  # |A n B| / |A| for equal sizes
    for _ in range(n // 20):
        block = _words(rng, 20)
        a += block
        b += block if rng.random() < shared else _words(rng, 20)
    return " ".join(a), " ".join(b)


def _jaccard(x: str, y: str, options: DedupOptions) -> float:
    sx, sy = set(shingles(x, False, options)), set(shingles(y, False, options))
    return len(sx & sy) / len(sx | sy)


def _estimate(x: str, y: str, options: DedupOptions) -> float:
    sx = np.frombuffer(minhash_signature(x, "en", None, options), dtype="<u4")
    sy = np.frombuffer(minhash_signature(y, "en", None, options), dtype="<u4")
    return float(np.mean(sx == sy))


@pytest.mark.parametrize("scheme", HASH_SCHEMES)
@pytest.mark.parametrize("target", [0.2, 0.5, 0.8])
def test_jaccard_estimate_is_unbiased(scheme: str, target: float) -> None:
    options = DedupOptions(hash_scheme=scheme)
    rng = random.Random(int(target * 100))
    errors = []
    for _ in range(60):
        x, y = _pair(rng, target)
        exact = _jaccard(x, y, options)
        errors.append((_estimate(x, y, options) - exact, exact))
    k = options.num_perm
    mean_error = statistics.fmean(e for e, _ in errors)
    binomial_var = statistics.fmean(j * (1 - j) / k for _, j in errors)  # of one estimate
    assert abs(statistics.fmean(j for _, j in errors) - target) < 0.1  # the pairs are what they claim
    assert abs(mean_error) < 4 * (binomial_var / len(errors)) ** 0.5  # unbiased: within 4 sd of the mean
    # independent permutations: the spread is the binomial one (a correlated family spreads wider)
    assert statistics.fmean(e * e for e, _ in errors) < 1.6 * binomial_var


@pytest.mark.parametrize("scheme", HASH_SCHEMES)
def test_near_duplicates_collide_and_unrelated_texts_do_not(scheme: str) -> None:
    options = DedupOptions(hash_scheme=scheme)
    rng = random.Random(7)
    index = DedupIndex(options)
    originals = [_words(rng, 500) for _ in range(30)]
    for i, words in enumerate(originals):
        text = " ".join(words)
        assert index.check_and_add(f"o{i}", text_hash(text), minhash_signature(text, "en", None, options)) is None
    for i, words in enumerate(originals):  # one word in 500 changed
        changed = list(words)
        changed[rng.randrange(500)] = "changed"
        text = " ".join(changed)
        assert index.check_and_add(f"n{i}", text_hash(text), minhash_signature(text, "en", None, options)) == f"o{i}"
    assert len(index) == 30


def test_shingle_hashes_match_the_shingles() -> None:
    """One hash per listed shingle, equal shingles equal hashes wherever they stand, and no collisions."""
    options = DedupOptions(ngram=2, char_ngram=2)
    for text, unsegmented in [("a b a b a b c", False), ("我们去重我们去重", True), ("one two", False), ("x", True)]:
        grams = shingles(normalize_text(text), unsegmented, options)
        hashes = shingle_hashes(normalize_text(text), unsegmented, options).tolist()
        assert len(grams) == len(hashes)
        seen: dict[bytes, int] = {}
        assert all(seen.setdefault(gram, value) == value for gram, value in zip(grams, hashes, strict=True))
        assert len(seen) == len(set(hashes))  # distinct shingles, distinct hashes
    assert shingle_hashes("", False, options).size == 0
    empty = minhash_signature("", "en", None, DedupOptions())
    assert empty == b"\xff" * 4 * 112 == minhash_signature("", "en", None, DedupOptions(hash_scheme=LEGACY_HASH_SCHEME))


def test_signature_is_fixed_across_processes_and_machines() -> None:
    """The scheme's constants and arithmetic are ours, not Python's hash(): a known text keeps its signature."""
    signature = np.frombuffer(minhash_signature("the quick brown fox jumps over the lazy dog", "en", None,
                                                DedupOptions()), dtype="<u4")  # fmt: skip
    assert signature.size == 112
    assert signature[:4].tolist() == _PINNED


_PINNED = [2778177066, 37687110, 1164000288, 507083187]  # computed once; must never change


def _native() -> object:
    """The C signature module; the install builds it wherever a C compiler is found, as here."""
    try:
        from toxmine.miner import _native
    except ImportError as error:  # pragma: no cover - shown when the build found no C compiler
        pytest.fail(f"toxmine.miner._native is not built ({error}); `pip install -e .` compiles it with gcc")
    return _native


def _odd_texts(rng: random.Random) -> list[str]:
    """Texts of every string width and shape: empty, one character, spaces at the ends and in
    runs, NUL, Latin-1, CJK and astral characters, and long real-looking ones."""
    alphabet = [" ", " ", " ", "a", "b", "z", "0", "\x00", "é", "ÿ", "Ω", "中", "文", "\uffff", "😀", "\U0010ffff"]
    texts = ["", " ", "  ", "a", " a", "a ", "a b", "中", "😀 😀"]
    texts += ["".join(rng.choice(alphabet) for _ in range(rng.randint(0, 40))) for _ in range(400)]
    texts += [" ".join(_words(rng, rng.randint(1, 12))) for _ in range(100)]
    texts += [_pair(rng, 0.5)[0], "中文去重测试" * 300, " ".join(["😀x"] * 900)]
    return texts


@pytest.mark.parametrize(("ngram", "num_perm"), [(1, 112), (2, 1), (3, 16), (5, 112), (7, 256)])
def test_c_signature_is_the_numpy_definition(ngram: int, num_perm: int) -> None:
    """The C extension computes the same bytes as the scheme's numpy definition, for word and
    character shingles, on texts of every width and shape."""
    native = _native()
    options = DedupOptions(ngram=ngram, char_ngram=ngram, bands=num_perm, rows=1)
    a, b = _permutation_bytes(num_perm)
    for text in _odd_texts(random.Random(ngram * 1000 + num_perm)):
        for unsegmented in (False, True):
            expected = numpy_signature(text, unsegmented, options)
            assert native.signature(text, ngram, unsegmented, a, b) == expected, (text[:60], unsegmented)  # type: ignore[attr-defined]


def test_minhash_signature_uses_the_c_extension(monkeypatch: pytest.MonkeyPatch) -> None:
    """Where the extension is built, `minhash_signature` takes it; without it, numpy's is the same."""
    import toxmine.miner.dedup as dedup

    text = normalize_text(_pair(random.Random(3), 0.5)[0])
    calls: list[str] = []
    native = _native()

    def counting(*args: object) -> bytes:
        calls.append(str(args[0]))
        return bytes(native.signature(*args))  # type: ignore[attr-defined]

    monkeypatch.setattr(dedup, "_native_signature", counting)
    with_c = minhash_signature(text, "en", None, DedupOptions())
    assert calls == [text]
    monkeypatch.setattr(dedup, "_native_signature", None)
    assert minhash_signature(text, "en", None, DedupOptions()) == with_c


def test_c_signature_rejects_bad_arguments() -> None:
    native = _native()
    a, b = _permutation_bytes(4)
    for args in [("x", 0, False, a, b), ("x", 5, False, a, b[:-4]), ("x", 5, False, a[:-1], b[:-1])]:
        with pytest.raises(ValueError):
            native.signature(*args)  # type: ignore[attr-defined]
    with pytest.raises(TypeError):
        native.signature(b"x", 5, False, a, b)  # type: ignore[attr-defined]


def test_schemes_recorded_and_kept() -> None:
    assert DedupOptions().as_settings()["dedup.hash"] == DEFAULT_HASH_SCHEME
    assert DedupOptions.from_settings({}).scheme == DEFAULT_HASH_SCHEME
    old = DedupOptions(hash_scheme=LEGACY_HASH_SCHEME).as_settings()
    assert old["dedup.hash"] == "crc32/affine32"
    assert DedupOptions.from_settings(old).scheme == LEGACY_HASH_SCHEME
    before_key = {k: v for k, v in old.items() if k != "dedup.hash"}  # built before dedup.hash existed
    assert DedupOptions.from_settings(before_key).scheme == LEGACY_HASH_SCHEME
    assert DedupOptions().for_database(before_key).scheme == LEGACY_HASH_SCHEME
    assert DedupOptions().for_database({}).scheme == DEFAULT_HASH_SCHEME
    with pytest.raises(ConfigError, match="use the hash scheme crc32/affine32, not poly64/affine32"):
        DedupOptions(hash_scheme=DEFAULT_HASH_SCHEME).for_database(before_key)
    with pytest.raises(ConfigError, match="unknown"):
        DedupOptions(hash_scheme="md5/whatever")


def _stored_signatures(db: Path) -> tuple[dict[str, str], list[tuple[str, str, str | None, bytes]], str]:
    con = duckdb.connect(str(db), read_only=True)
    settings = dict(con.execute("SELECT key, value FROM settings").fetchall())
    rows = con.execute(
        "SELECT d.text, d.lang, d.script, m.signature FROM documents d JOIN doc_minhash m USING (doc_id) ORDER BY m.seq"
    ).fetchall()
    config = con.execute("SELECT config_json FROM runs ORDER BY started_at DESC LIMIT 1").fetchone()[0]
    con.close()
    return settings, rows, config


def _signed_with(rows: list[tuple[str, str, str | None, bytes]], scheme: str) -> bool:
    options = DedupOptions(hash_scheme=scheme)
    return all(minhash_signature(normalize_text(t), lang, script, options) == bytes(sig)
               for t, lang, script, sig in rows)  # fmt: skip


def test_old_database_resumes_with_its_scheme_and_new_one_records_the_new(
    tmp_path: Path, demo_pages: list[RealPage]
) -> None:
    first, second = tmp_path / "a.warc.gz", tmp_path / "b.warc.gz"
    write_warc(first, [Page(p.url, p.payload, content_type=p.content_type) for p in demo_pages[0:40:4]])
    write_warc(second, [Page(p.url, p.payload, content_type=p.content_type) for p in demo_pages[1:40:4]])
    old = tmp_path / "old.duckdb"  # built by the datasketch path, before `dedup.hash` existed
    legacy = ProcessOptions(dedup=DedupOptions(hash_scheme=LEGACY_HASH_SCHEME))
    assert mine([LocalFile(str(first))], str(old), legacy).ok
    con = duckdb.connect(str(old))
    con.execute("DELETE FROM settings WHERE key = 'dedup.hash'")
    con.close()
    assert mine([LocalFile(str(second))], str(old)).ok  # default options: the database's scheme
    settings, rows, config = _stored_signatures(old)
    assert settings["dedup.hash"] == LEGACY_HASH_SCHEME and '"hash_scheme": "crc32/affine32"' in config
    assert len(rows) > 5 and _signed_with(rows, LEGACY_HASH_SCHEME) and not _signed_with(rows, DEFAULT_HASH_SCHEME)
    with pytest.raises(ConfigError, match="use the hash scheme crc32/affine32, not poly64/affine32"):
        mine([LocalFile(str(first))], str(old), ProcessOptions(dedup=DedupOptions(hash_scheme=DEFAULT_HASH_SCHEME)))

    new = tmp_path / "new.duckdb"
    assert mine([LocalFile(str(first)), LocalFile(str(second))], str(new)).ok
    settings, rows, config = _stored_signatures(new)
    assert settings["dedup.hash"] == DEFAULT_HASH_SCHEME and '"hash_scheme": "poly64/affine32"' in config
    assert len(rows) > 5 and _signed_with(rows, DEFAULT_HASH_SCHEME)


def _normalize_by_regex(text: str) -> str:
    """normalize_text as it was before its ASCII shortcut."""
    text = unicodedata.normalize("NFKC", text).lower()
    text = re.sub(r"\d", "0", re.sub(r"[^\w\s]+", " ", text))
    return " ".join(text.split())


@pytest.fixture(params=["c", "numpy"])
def mapping_path(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """normalize_text with the C extension's mapping of code points, and without it (numpy's)."""
    import toxmine.miner.dedup as dedup

    if request.param == "c":
        assert dedup._map_code_points is not None, "toxmine.miner._native is not built"
    else:
        monkeypatch.setattr(dedup, "_map_code_points", None)
    return str(request.param)


def test_normalize_text_ascii_shortcut_changes_nothing(mapping_path: str) -> None:
    rng = random.Random(3)
    every = "".join(map(chr, range(128)))
    texts = [every, every[::-1], "Hello, World! 42 times -- e.g. (x_1)", "\x1c\x1dA\x1e\x1fB\tC\x0b\x0cD"]
    texts += ["".join(rng.choice(every) for _ in range(300)) for _ in range(200)]
    texts += ["Ünïcode straße ２０２４ ﬁle", "Привет, мир! 123"]  # the regular path
    for text in texts:
        assert normalize_text(text) == _normalize_by_regex(text)


def test_normalize_text_code_point_table_matches_the_regular_expressions_everywhere(mapping_path: str) -> None:
    """The non-ASCII path maps code points through a table: every code point (surrogates aside),
    alone among letters and in runs, at the ends and inside, as the regular expressions do (a
    block above the BMP is filled at its first text, which C leaves to numpy: asked twice)."""
    points = [chr(code) for code in range(0x80, 0x110000) if not 0xD800 <= code < 0xE000]
    for first in range(0, len(points), 1009):
        chunk = points[first : first + 1009]
        for text in ("é " + " x".join(chunk), " \u3000" + "".join(chunk) + "\u00a0 ", "".join(chunk) + "٣"):
            expected = _normalize_by_regex(text)
            assert normalize_text(text) == expected == normalize_text(text), f"code points from U+{ord(chunk[0]):04X}"
    for text in (
        "x\ud800y é!",
        "\u3000",
        "é\u2026\u0301x\u2026",
        "…ﬁ…",
        "é",
        "  ,é,  ",
        "١٢٣ ٤٥",
        "\U0001f600 ok \U0001f600",
        "ǅ ﬃ ²",
    ):
        assert normalize_text(text) == _normalize_by_regex(text)


def test_code_point_table_is_complete_before_other_threads_read_it() -> None:
    """`normalize_text` is a public function: threads that call it at once, while the table fills
    at first use, all get the regular expressions' result (a table published before it is filled
    would hand the others unmapped punctuation and digits; U+FFFD and U+ABF1 lie in the BMP's last blocks)."""
    text = unicodedata.normalize("NFKC", "١٢٣, Мир! «ok» 𝟘 \U0001f600 \U000104a3 x\ufffdy\uabf1").lower()
    codes = np.frombuffer(text.encode("utf-32-le"), dtype="<u4")
    expected = _normalize_with_regex(text)
    previous = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads often, as a busy machine would
    try:
        for _ in range(20):
            table, barrier, results = _CodePointMap(), threading.Barrier(4), []
            threads = [threading.Thread(target=_map_at_once, args=(table, codes, barrier, results)) for _ in range(4)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            assert results == [expected] * 4
    finally:
        sys.setswitchinterval(previous)


def _map_at_once(table: _CodePointMap, codes: np.ndarray, barrier: threading.Barrier, results: list[str]) -> None:
    barrier.wait()
    results.append(_collapse_spaces(table.map(codes)).tobytes().decode("utf-32-le"))
