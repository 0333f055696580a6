"""Prompt spans and splits across scripts, and toxicity buckets."""

from __future__ import annotations

import duckdb
import pytest

from toxmine.miner.prompts import PromptOptions, bucket_of, spans_of, split_span
from toxmine.miner.split import bucket_sql


@pytest.mark.parametrize(
    ("text", "unsegmented", "prompt", "continuation"),
    [
        ("The quick brown fox jumps over the lazy dog", False, "The quick brown fox", " jumps over the lazy dog"),
        ("Съешь же ещё этих мягких булок", False, "Съешь же ещё этих", " мягких булок"),
        ("Zwölf Boxkämpfer jagen Viktor quer über den großen Sylter Deich", False,
         "Zwölf Boxkämpfer jagen Viktor", " quer über den großen Sylter Deich"),
        ("我们今天去公园散步然后回家", True, "我们今天去公", "园散步然后回家"),
        ("今日はいい天気ですね", True, "今日はいい", "天気ですね"),
    ],
)  # fmt: skip
def test_split_at_word_or_character_boundary(text: str, unsegmented: bool, prompt: str, continuation: str) -> None:
    span = split_span(text, 10, 0.5, unsegmented)
    assert span is not None
    assert (span.prompt, span.continuation) == (prompt, continuation)
    assert span.text == text and (span.start, span.end) == (10, 10 + len(text))


def test_unsegmented_split_never_cuts_a_grapheme() -> None:
    thai = "ที่นี่มีน้ำ"  # consonants carrying combining vowel and tone marks
    for fraction in (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9):
        span = split_span(thai, 0, fraction, True)
        if span is not None:
            import unicodedata

            assert unicodedata.category(span.continuation[0]) != "Mn"
    family = "家庭👨\u200d👩\u200d👧很好很好"
    span = split_span(family, 0, 0.45, True)
    assert span is not None and not span.continuation.startswith("\u200d") and span.text == family


def test_space_split_falls_back_to_characters_without_spaces() -> None:
    span = split_span("https://example.org/a/very/long/path/without/any/spaces", 0, 0.5, False)
    assert span is not None and span.prompt and span.continuation


def test_spans_respect_bounds_and_offsets() -> None:
    paragraphs = [
        "Tiny.",
        "A paragraph of moderate length that should become a span on its own, surely.",
        "Short one.",
        "Another short one.",
        "x" * 700,
        "Final paragraph that is long enough to count as a span.",
    ]
    text = "\n".join(paragraphs)
    options = PromptOptions(min_chars=40, max_chars=200, max_spans_per_doc=10)
    spans = spans_of(text, "en", "Latn", options)
    assert spans, "expected spans"
    for span in spans:
        assert 40 <= span.end - span.start <= 200
        assert text[span.start : span.end] == span.text
    assert not any("x" * 50 in s.text for s in spans)  # the over-long unsplittable paragraph is skipped
    assert len(spans_of(text, "en", "Latn", PromptOptions(min_chars=40, max_chars=200, max_spans_per_doc=1))) == 1


def test_long_paragraph_is_cut_at_sentence_ends() -> None:
    sentence = "This sentence is about forty characters. "
    spans = spans_of(sentence * 30, "en", "Latn", PromptOptions(min_chars=60, max_chars=150, max_spans_per_doc=50))
    assert len(spans) >= 5 and all(60 <= s.end - s.start <= 150 for s in spans)
    zh = "这是一个关于天气的句子。" * 40
    zh_spans = spans_of(zh, "zh", "Hani", PromptOptions(min_chars=30, max_chars=100, max_spans_per_doc=50))
    assert zh_spans and all(s.text.endswith("。") for s in zh_spans)


@pytest.mark.parametrize(
    ("edges", "cases"),
    [
        ((0.0, 0.25, 0.5, 0.75, 1.0), [(0.0, 0), (0.2499, 0), (0.25, 1), (0.4999, 1), (0.5, 2), (0.75, 3), (1.0, 3)]),
        ((0.0, 0.5, 1.0), [(0.0, 0), (0.49, 0), (0.5, 1), (1.0, 1)]),
    ],
)
def test_bucket_edges_in_python_and_sql(edges: tuple[float, ...], cases: list[tuple[float, int]]) -> None:
    con = duckdb.connect()
    for value, expected in cases:
        assert bucket_of(value, edges) == expected
        row = con.execute(f"SELECT {bucket_sql(edges, 'v')} FROM (SELECT CAST(? AS DOUBLE) AS v)", [value]).fetchone()
        assert row is not None and row[0] == expected


def test_bad_options() -> None:
    with pytest.raises(ValueError):
        PromptOptions(bucket_edges=(0.0, 0.6, 0.5, 1.0))
    with pytest.raises(ValueError):
        PromptOptions(split_fraction=1.0)


@pytest.mark.parametrize(
    "gap",
    ["\n", "\t", "\u00a0", "\u2009", "\u3000", "\u202f", "\u2028", "\r\n", "\n\n"],
    ids=[
        "newline",
        "tab",
        "nbsp",
        "thin-space",
        "ideographic-space",
        "narrow-nbsp",
        "line-separator",
        "crlf",
        "blank-line",
    ],
)
def test_split_lands_on_any_unicode_whitespace(gap: str) -> None:
    """Bug 7: words separated only by newlines or other Unicode whitespace were cut mid-word."""
    words = ["Съешь", "же", "ещё", "этих", "мягких", "французских", "булок", "выпей", "чаю"]
    text = gap.join(words)
    span = split_span(text, 0, 0.5, False)
    assert span is not None and span.text == text
    # the nearest word gap to the middle: the prompt ends with a whole word, the continuation starts with the gap
    gaps = [i for i in range(1, len(text)) if text[i].isspace() and not text[i - 1].isspace()]
    expected_cut = min(gaps, key=lambda g: abs(g - len(text) // 2))
    assert len(span.prompt) == expected_cut
    assert span.prompt.split()[-1] in words and span.continuation[0].isspace()


def test_split_between_manual_page_lines() -> None:
    """Bug 7 as seen on a Finnish manual page: one word per line, no spaces at all."""
    text = "käyttö:\nohjelma\n[VALITSIMET]\nTIEDOSTO...\nnäyttää\ntiedoston\nsisällön"
    span = split_span(text, 0, 0.5, False)
    assert span is not None
    assert (
        span.prompt == "käyttö:\nohjelma\n[VALITSIMET]"
        and span.continuation == "\nTIEDOSTO...\nnäyttää\ntiedoston\nsisällön"
    )
