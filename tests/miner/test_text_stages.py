"""Decoding, extraction, language ID and dedup signatures on real text."""

from __future__ import annotations

import bisect
import random
from collections import Counter
from typing import Any

import pytest
from warc_builder import RealPage

from toxmine.miner.decode import decode_html
from toxmine.miner.dedup import (
    DedupIndex,
    DedupOptions,
    minhash_signature,
    normalize_text,
    shingles,
    text_hash,
)
from toxmine.miner.errors import ConfigError
from toxmine.miner.extract import ExtractOptions, ExtractTimeout, extract_text
from toxmine.miner.langid import FastTextLid, LidOptions, normalize_label
from toxmine.miner.scripts import _RANGES, _STARTS, dominant_script, is_unsegmented

RUSSIAN = "Привет, мир! Это проверка кодировки страницы."


def test_decode_prefers_declared_then_meta_then_detection() -> None:
    assert decode_html(RUSSIAN.encode("cp1251"), "windows-1251") == (RUSSIAN, "cp1251")
    meta = b"<html><head><meta charset='koi8-r'></head>" + RUSSIAN.encode("koi8-r")
    text, codec = decode_html(meta)
    assert RUSSIAN in text and codec == "koi8-r"
    assert decode_html(RUSSIAN.encode())[0] == RUSSIAN  # undeclared UTF-8
    long_cp1251 = ("<html><body><p>" + RUSSIAN * 20 + "</p></body></html>").encode("cp1251")
    text, codec = decode_html(long_cp1251, declared="no-such-charset")
    assert RUSSIAN in text and codec != "utf-8"


def test_extraction_and_timeout(demo_pages: list[RealPage]) -> None:
    page = max(demo_pages, key=lambda p: len(p.payload))
    html = decode_html(page.payload)[0]
    text = extract_text(html, page.url, ExtractOptions())
    assert text and len(text) > 200 and "<" not in text[:100]
    with pytest.raises(ExtractTimeout):
        for _ in range(50):  # a very large page and a limit far below its extraction time
            extract_text(html * 20, page.url, ExtractOptions(timeout_s=0.001))


def test_time_limit_is_not_swallowed_by_trafilatura_fallbacks(demo_pages: list[RealPage]) -> None:
    # trafilatura wraps readability and its parser in `except Exception`: a timeout raised there
    # as an Exception was caught, and the page ran to its end (0 timeouts of 5 on this page)
    page = max(demo_pages, key=lambda p: len(p.payload))
    html = decode_html(page.payload)[0] * 3
    for _ in range(5):
        with pytest.raises(ExtractTimeout, match=r"over its limit of 0\.001 CPU-s"):
            extract_text(html, page.url, ExtractOptions(timeout_s=0.001))


@pytest.mark.parametrize(
    ("label", "expected"),
    [
        ("__label__de", ("de", None)),
        ("__label__deu_Latn", ("de", "Latn")),
        ("__label__zho_Hans", ("zh", "Hans")),
        ("__label__cmn_Hani", ("zh", "Hani")),
        ("__label__arb_Arab", ("ar", "Arab")),
        ("__label__pt-BR", ("pt", None)),
        ("__label__yue_Hant", ("yue", "Hant")),
        ("__label__als", ("sq", None)),
    ],
)
def test_label_normalisation(label: str, expected: tuple[str, str | None]) -> None:
    assert normalize_label(label) == expected


def test_fasttext_lid_on_several_scripts() -> None:
    lid = FastTextLid()
    texts = [
        "Die Bundesregierung hat heute neue Maßnahmen für den Klimaschutz beschlossen.",
        "Правительство сегодня приняло новые меры по защите климата и окружающей среды.",
        "政府今天通过了保护气候和环境的新措施，这些措施将在明年生效。",
        "政府は本日、気候と環境を守るための新しい対策を決定しました。",
        "La municipalité a annoncé la construction d'une nouvelle bibliothèque au centre-ville.",
    ]
    guesses = lid.predict(texts)
    assert [g.lang for g in guesses] == ["de", "ru", "zh", "ja", "fr"]
    assert [g.script for g in guesses] == ["Latn", "Cyrl", "Hani", "Jpan", "Latn"]
    assert all(0.5 < g.score <= 1.0 for g in guesses)
    lid.check_langs(frozenset({"de", "zh"}))
    with pytest.raises(ConfigError, match="xx, zz not ISO 639"):
        lid.check_langs(frozenset({"de", "xx", "zz"}))
    assert lid.languages is not None and {"de", "zh", "yue", "sq"} <= lid.languages
    with pytest.raises(ConfigError, match=r"tlh not among the 17\d languages of lid.176.ftz"):
        lid.check_langs(frozenset({"tlh"}))


def test_bad_lid_model_paths(tmp_path: object) -> None:
    with pytest.raises(ConfigError, match="not found"):
        FastTextLid("/nonexistent/lid.bin")
    import pathlib

    bogus = pathlib.Path(str(tmp_path)) / "model.bin"
    bogus.write_bytes(b"not a model")
    with pytest.raises(ConfigError, match="not a fastText model"):
        FastTextLid(str(bogus))


def test_scripts() -> None:
    assert dominant_script("Hello world") == "Latn"
    assert dominant_script("これは日本語です") == "Jpan"
    assert dominant_script("ภาษาไทย") == "Thai"
    assert dominant_script("12345 !!") is None
    assert is_unsegmented("th", None) and is_unsegmented(None, "Hani") and not is_unsegmented("de", "Latn")


def test_shingles_suit_the_script() -> None:
    options = DedupOptions(ngram=3, char_ngram=2)
    words = shingles(normalize_text("One two, three four!"), False, options)
    assert words == [b"one two three", b"two three four"]
    chars = shingles(normalize_text("我们 去重"), True, options)
    assert [c.decode() for c in chars] == ["我们", "们去", "去重"]


def _near_copy(text: str) -> str:
    return text.replace("。", "！", 1).replace(".", "!", 1) + " 2024"


@pytest.mark.parametrize(
    ("lang", "text"),
    [
        (
            "en",
            " ".join(
                f"Sentence number {w} talks about rivers, mountains and towns near the sea."
                for w in ["one", "two", "three", "four", "five", "six", "seven", "eight", "nine", "ten"]
            ),
        ),
        (
            "zh",
            "".join(
                f"第{n}段文字讲述了河流、山脉和海边小镇的故事，人们在那里生活和工作。" for n in "一二三四五六七八九十"
            ),
        ),
    ],
)
def test_near_duplicates_found_and_distinct_texts_kept(lang: str, text: str) -> None:
    options = DedupOptions()
    index = DedupIndex(options)

    def add(doc_id: str, body: str) -> str | None:
        norm = normalize_text(body)
        return index.check_and_add(doc_id, text_hash(norm), minhash_signature(norm, lang, None, options))

    assert add("a", text) is None
    assert add("b", _near_copy(text)) == "a"  # near duplicate
    assert add("c", text.upper()) == "a"  # exact after normalisation
    other = "Completely different words about cooking pasta with tomatoes and basil in summer. " * 5
    if lang == "zh":
        other = "今天我们学习如何用番茄和罗勒做意大利面，夏天的晚餐非常简单。" * 5
    assert add("d", other) is None
    assert len(index) == 2


@pytest.mark.parametrize(
    "charset",
    ["undefined", "punycode", "unicode_escape", "raw_unicode_escape", "idna", "utf-7", "rot13", "base64", "hex",
     "zlib", "uu", "quopri", "bz2", "mbcs", "charmap", "palmos"],
)  # fmt: skip
def test_poison_charsets_fall_back_to_detection(charset: str) -> None:
    """Codecs that are not web text encodings used to raise UnicodeError and abort the whole run."""
    payload = ("<html><body><p>" + RUSSIAN * 5 + " \\x41 xn--abc</p></body></html>").encode()
    text, codec = decode_html(payload, charset)
    assert RUSSIAN in text and codec == "utf-8"
    meta = f"<html><head><meta charset={charset}></head><body>".encode() + RUSSIAN.encode("cp1251") * 5
    text, codec = decode_html(meta)
    assert RUSSIAN in text and codec == "cp1251"


def test_lid_reads_the_first_max_chars() -> None:
    german = "Die Bundesregierung hat heute neue Maßnahmen für den Klimaschutz beschlossen. "
    english = "The government announced new measures to protect the climate and the environment today. " * 20
    lid = FastTextLid()
    assert lid.predict([german + english])[0].lang == "en"
    assert lid.predict([german + english], LidOptions(max_chars=len(german), sample_chars=0))[0].lang == "de"


def _dominant_script_by_loop(text: str, sample: int = 600) -> str | None:
    """`dominant_script` as first written: one character at a time (the reference)."""
    head = text[:sample]
    counts: Counter[str] = Counter()
    for char in head:
        if char.isalpha():
            index = bisect.bisect_right(_STARTS, ord(char)) - 1
            if index >= 0 and _RANGES[index][0] <= ord(char) <= _RANGES[index][1]:
                counts[_RANGES[index][2]] += 1
    if not counts:
        return None
    top = counts.most_common(1)[0][0]
    if top in {"Hira", "Kana"} or (top == "Hani" and counts["Hira"] + counts["Kana"] > 0):
        return "Jpan"
    return top


def test_dominant_script_counts_as_the_character_loop(demo_pages: list[RealPage]) -> None:
    rng = random.Random(15)
    # letters of several scripts, marks, digits, symbols, spaces and letters in no range (ª, ǅ, ℵ)
    alphabet = "aZé×ǅªαЖж中日あアｱ한กأअ২ꙮ𠀀ℵ0١ \n.,!\u0301\u093f"
    texts = ["".join(rng.choice(alphabet[: rng.randint(2, len(alphabet))]) for _ in range(rng.randint(0, 900)))
             for _ in range(3000)]  # fmt: skip
    texts += ["中あ", "あ中", "aα", "αa", "ж1a", "ª", "", "12 !!"]  # ties go to the script met first
    for page in demo_pages[:60]:
        html, _ = decode_html(page.payload)
        texts.append(extract_text(html, page.url, ExtractOptions()) or "")
    assert [dominant_script(t) for t in texts] == [_dominant_script_by_loop(t) for t in texts]
    assert dominant_script("aα") == "Latn" and dominant_script("αa") == "Grek"


class _CountingModel:
    """Passes predictions through to the real model, counting them and keeping what it read."""

    def __init__(self, model: Any) -> None:
        self.model = model
        self.read: list[str] = []

    def predict(self, text: str, k: int = 1) -> Any:
        self.read.append(text)
        return self.model.predict(text, k=k)


def _counting(lid: FastTextLid) -> _CountingModel:
    counting = _CountingModel(lid._model)
    lid._model = counting
    return counting


GERMAN = "Die Bundesregierung hat heute neue Maßnahmen für den Klimaschutz beschlossen. "
ENGLISH = "The government announced new measures to protect the climate and the environment today. "


def test_sampled_lid_reads_words_spread_over_the_window() -> None:
    """A head would read only the German first lines; the spread sample sees the English rest,
    and its confident guess stands without a second prediction."""
    lid = FastTextLid()
    calls = _counting(lid)
    text = GERMAN * 8 + ENGLISH * 100  # ~640 chars of German, then ~9,000 of English
    options = LidOptions(sample_chars=1_000, sample_run=1, sample_margin=0.43)
    guess = lid.predict([text], options)[0]
    assert (guess.lang, guess.script) == ("en", "Latn") and guess.score >= 0.8
    assert len(calls.read) == 1
    sample = calls.read[0].split()
    window = text[:10_000].split()
    assert 800 <= len(calls.read[0]) <= 1_200  # about sample_chars
    assert sample[0] == window[0] and set(sample) <= set(window)  # evenly spaced words, the first one included
    assert sample[-1] in window[-len(window) // len(sample) - 1 :]  # ...to the window's end
    assert lid.predict([text[:640] + GERMAN * 2], options)[0].lang == "de"  # the German head alone


def test_sampled_lid_reads_the_window_when_the_sample_is_unsure() -> None:
    lid = FastTextLid()
    calls = _counting(lid)
    ambiguous = "Hotel Berlin Mitte Zimmer room Preis price WiFi Frühstück breakfast Parken parking " * 40
    options = LidOptions(sample_chars=300, sample_run=4, sample_margin=0.98)
    guess = lid.predict([ambiguous], options)[0]
    assert len(calls.read) == 2 and calls.read[1] == " ".join(ambiguous.split())  # the sample, then the window
    assert guess == lid.predict([ambiguous])[0]  # as one prediction on the window
    calls.read.clear()
    short = GERMAN * 7  # not over twice sample_chars: one prediction, the same as without sampling
    assert lid.predict([short], options) == lid.predict([short]) and len(calls.read) == 2
    assert calls.read[0] == calls.read[1] == " ".join(short.split())


def test_lid_off_predicts_as_before(demo_pages: list[RealPage]) -> None:
    lid = FastTextLid()
    texts = [GERMAN * 200, "  \n ".join([ENGLISH] * 150), RUSSIAN, "12345"]
    for page in demo_pages[:40]:
        html, _ = decode_html(page.payload)
        texts.append(extract_text(html, page.url, ExtractOptions()) or "")
    model = lid._model
    for options in (LidOptions(sample_chars=0), LidOptions(sample_chars=20_000), None):
        guesses = lid.predict(texts, options)
        for text, guess in zip(texts, guesses, strict=True):
            labels, probs = model.predict(" ".join(text[:10_000].split()), k=1)
            assert (guess.lang, guess.score) == (normalize_label(labels[0])[0], min(1.0, float(probs[0])))
            assert guess.script == (normalize_label(labels[0])[1] or dominant_script(text))


def test_sampled_guess_under_the_threshold_never_decides(demo_pages: list[RealPage]) -> None:
    """A sample's guess stands only above the threshold, by a margin that grows with it: accepted at
    0.8 whatever the threshold, samples scoring between 0.8 and 0.9 dropped 4.6% of these pages at
    `--lid-threshold 0.9` that the whole window may keep."""
    lid = FastTextLid()
    texts = []
    for page in demo_pages[:100]:
        html, _ = decode_html(page.payload)
        texts.append(extract_text(html, page.url, ExtractOptions()) or "")
    options = LidOptions(threshold=0.9)
    assert options.sample_accept > 0.93 and LidOptions().sample_accept == pytest.approx(0.8, abs=0.001)
    sampled, whole = lid.predict(texts, options), lid.predict(texts)
    assert any(s != w for s, w in zip(sampled, whole, strict=True))  # samples decided some texts
    for text, s, w in zip(texts, sampled, whole, strict=True):
        assert s.score >= options.sample_accept or s == w, text[:80]
        assert (s.lang, s.score >= options.threshold) == (w.lang, w.score >= options.threshold), text[:80]


def test_lid_reads_a_text_with_a_lone_surrogate() -> None:
    """A model's completion can hold one (JSON "\\ud800"); fastText takes UTF-8 only and raised."""
    lid = FastTextLid()
    text = ENGLISH * 3 + "\ud800" + ENGLISH
    for options in (None, LidOptions(sample_chars=50)):
        guess = lid.predict([text], options)[0]
        assert guess.lang == "en" and guess.score > 0.5


def test_c_lid_sample_and_window_are_the_python_definitions() -> None:
    """The C extension's sample and window are the strings `sample_of` and `window_of` give, for
    every whitespace character str.split() knows, texts of every width, and every bound."""
    from toxmine.miner import _native
    from toxmine.miner.langid import _python_sample, window_of

    rng = random.Random(15)
    spaces = [" ", "\t", "\n", "\r", "\x0b", "\x0c", "\x1c", "\x1f", "\x85", "\xa0", "\u2028", "\u3000", "\u200b"]
    letters = ["a", "bc", "déf", "Ω", "中文", "😀", "\ud800", "\x00", "\uffff"]
    texts = ["", " ", "a", " a ", "a b", "\xa0\xa0"]
    for _ in range(600):
        size = rng.choice([3, 30, 300, 3000])
        texts.append("".join(rng.choice(spaces if rng.random() < 0.3 else letters) for _ in range(size)))
    texts.append(" ".join(["word"] * 4000))  # a window of exactly the words, many ties in rounding
    for text in texts:
        for max_chars in (0, 1, 7, 100, 10_000, -3, 2**62, -(10**12)):
            assert _native.lid_window(text, max_chars) == window_of(text, max_chars), (text[:40], max_chars)
        for sample_chars, run in [(0, 1), (-5, 1), (1, 1), (10, 1), (40, 3), (333, 1), (1_000, 1), (1_000, 4), (50, 0),
                                  (10**12, 1), (1_000, 2**62), (2**62, 2**62)]:  # fmt: skip
            expected = _python_sample(text, 10_000, sample_chars, run)
            assert _native.lid_sample(text, 10_000, sample_chars, run) == expected, (text[:40], sample_chars, run)
    for n in range(3, 60):  # n words, 4n characters: sample_chars * n / chars is m / 2, a tie for odd m
        text = " ".join(["abc"] * (n - 1) + ["abcd"])
        for sample_chars in range(2, 2 * n, 4):
            assert _native.lid_sample(text, 10_000, sample_chars, 1) == _python_sample(text, 10_000, sample_chars, 1)
