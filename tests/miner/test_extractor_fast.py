"""The fast main-content extractor on hand-written pages, hostile inputs, and the benchmark metric on tiny texts."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from toxmine.miner.extractors.fast import ALGORITHM_VERSION, FastExtractor

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench"))
import extraction_metric  # noqa: E402

PARAGRAPHS = [
    "The river rose by two metres overnight, and the town council met at dawn to decide whether to open the "
    "old flood gates that had not been used since the great storm of nineteen sixty.",
    "Engineers warned that the gates, rusted and half buried in silt, might not close again once opened, "
    "which would leave the lower streets exposed for the rest of the season.",
    "By noon the council had voted to open them anyway, and volunteers began to carry sandbags to the "
    "houses nearest the bank while the water kept climbing.",
]
NAV = '<nav><ul><li><a href="/">Home</a></li><li><a href="/world">World news</a></li></ul></nav>'
HEADER = '<header class="site-header"><div class="logo">The Daily Example</div>' + NAV + "</header>"
COOKIE = '<div id="cookie-banner"><p>We use cookies to improve your experience. Accept all cookies?</p></div>'
SHARE = '<div class="share-buttons"><a href="/s/fb">Share on Facebook</a><a href="/s/tw">Tweet this</a></div>'
RELATED = (
    '<div class="related-articles"><h3>Related stories</h3><ul>'
    + "".join(f'<li><a href="/story/{i}">Another story about floods number {i}</a></li>' for i in range(6))
    + "</ul></div>"
)
COMMENTS = (
    '<section id="comments"><h3>12 comments</h3>'
    '<div class="comment"><p>Mark wrote: this council never learns anything from the past, honestly.</p></div>'
    '<div class="comment"><p>Julia wrote: my basement flooded again this morning, thanks for nothing.</p></div>'
    "</section>"
)
FOOTER = '<footer><p>Copyright 2026 The Daily Example. All rights reserved.</p><a href="/privacy">Privacy</a></footer>'


def article_page(body: str, title: str = "Flood gates opened as river rises") -> str:
    return (
        f"<!doctype html><html><head><title>{title}</title><style>p {{ color: red }}</style>"
        "<script>var tracking = 'do not extract me';</script></head><body>"
        f"{COOKIE}{HEADER}<main><article><h1>{title}</h1>"
        '<div class="byline">By Ann Writer</div>'
        f"{body}{SHARE}</article>{RELATED}{COMMENTS}</main>{FOOTER}</body></html>"
    )


@pytest.fixture(scope="module")
def extractor() -> FastExtractor:
    return FastExtractor()


def test_article_is_kept_and_boilerplate_dropped(extractor: FastExtractor) -> None:
    body = "<p>" + PARAGRAPHS[0] + "</p><h2>What happens next</h2><p>" + "</p><p>".join(PARAGRAPHS[1:]) + "</p>"
    body += '<p>&lt;img height="1" width="1" src="http://pixel.example/p?c=2"&gt;</p>'  # markup shown as text
    body += "<p>Advertisement</p>" * 2  # a short line repeated
    text = extractor.extract(article_page(body), "https://news.example/flood")
    assert text is not None
    assert text.split("\n") == [PARAGRAPHS[0], "What happens next", *PARAGRAPHS[1:]]
    for boilerplate in (
        "cookies",
        "World news",
        "Share on Facebook",
        "Another story",
        "Mark wrote",
        "Copyright",
        "do not extract",
        "color",
        "Ann Writer",
    ):
        assert boilerplate not in text


def test_whitespace_collapses_inside_a_block_and_inline_markup_joins(extractor: FastExtractor) -> None:
    body = "<p>The   river\n\trose <b>by two</b> <a href='/m'>metres</a> overnight, " + PARAGRAPHS[0][40:] + "</p>"
    text = extractor.extract(article_page(body + "<p>" + PARAGRAPHS[1] + "</p>"), None)
    assert text is not None
    first = text.split("\n")[0]
    assert first.startswith("The river rose by two metres overnight, ")
    assert "  " not in text


def test_page_without_article_element_keeps_the_dense_text(extractor: FastExtractor) -> None:
    html = (
        f"<html><body>{NAV}<div class='wrapper has-sidebar'><div class='content'>"
        + "".join(f"<p>{p}</p>" for p in PARAGRAPHS)
        + f"</div><div class='sidebar-menu'>{RELATED}</div></div>{FOOTER}</body></html>"
    )
    text = extractor.extract(html, None)
    assert text is not None
    assert text.split("\n") == PARAGRAPHS


def test_cjk_page(extractor: FastExtractor) -> None:
    paragraphs = [
        "昨夜、川の水位が二メートル上昇し、町議会は夜明けに集まって古い水門を開けるかどうかを話し合った。",
        "技術者たちは、錆びて泥に半分埋もれた水門は一度開けると二度と閉まらないかもしれないと警告した。",
        "正午までに議会は水門を開けることを決め、ボランティアが土のうを岸に近い家々へ運び始めた。",
    ]
    html = (
        '<html lang="ja"><body><nav><a href="/">ホーム</a><a href="/news">ニュース</a></nav><article>'
        + "".join(f"<p>{p}</p>" for p in paragraphs)
        + '</article><div class="comments"><p>コメント：ひどい話だ。</p></div><footer>著作権</footer></body></html>'
    )
    assert extractor.extract(html, None) == "\n".join(paragraphs)


def test_page_of_links_only_is_none(extractor: FastExtractor) -> None:
    links = "".join(f'<li><a href="/p/{i}">Page number {i} of the catalogue</a></li>' for i in range(200))
    blocks = "".join(
        f'<div><a href="/b/{i}">A longer link title for block {i} of this page</a></div>' for i in range(50)
    )
    html = f"<html><body>{NAV}<ul>{links}</ul>{blocks}{FOOTER}</body></html>"
    assert extractor.extract(html, None) is None


@pytest.mark.parametrize(
    "html",
    [
        "",
        "   \n\t ",
        "\x00\x01\x02",
        "</div></p>]]><<<>>>",
        "<html><body></body></html>",
        "<script>x = 1</script>",
        "<!-- only a comment -->",
        "<html><body><nav><a href='/'>Home</a></nav></body></html>",
    ],
)
def test_empty_or_garbage_is_none(extractor: FastExtractor, html: str) -> None:
    assert extractor.extract(html, None) is None


def test_plain_text_is_returned_as_text(extractor: FastExtractor) -> None:
    assert extractor.extract(PARAGRAPHS[0], None) == PARAGRAPHS[0]


def cpu_seconds(extractor: FastExtractor, html: str) -> tuple[float, str | None]:
    start = time.process_time()
    text = extractor.extract(html, None)
    return time.process_time() - start, text


def test_deeply_nested_page_finishes(extractor: FastExtractor) -> None:
    depth = 50_000
    html = "<html><body>" + "<div>" * depth + "<p>" + PARAGRAPHS[0] + "</p>" + "</div>" * depth + "</body></html>"
    seconds, text = cpu_seconds(extractor, html)
    assert text == PARAGRAPHS[0]
    assert seconds < 10  # a hang guard: about 0.1 s here


def test_deeply_nested_boilerplate_names_and_articles_finish(extractor: FastExtractor) -> None:
    depth = 50_000
    for tag, attrs in (("div", ' class="comment"'), ("article", "")):
        html = f"<html><body>{f'<{tag}{attrs}>' * depth}<p>{PARAGRAPHS[0]}</p>{f'</{tag}>' * depth}</body></html>"
        seconds, _ = cpu_seconds(extractor, html)
        assert seconds < 20  # a hang guard: about 1 s here


def test_large_page_finishes(extractor: FastExtractor) -> None:
    paragraph = "<p>" + PARAGRAPHS[1] + "</p>\n"
    html = "<html><body><article>" + paragraph * (8_000_000 // len(paragraph)) + "</article></body></html>"
    seconds, text = cpu_seconds(extractor, html)
    assert text is not None and text.startswith(PARAGRAPHS[1])
    assert seconds < 20  # a hang guard: about 0.2 s here


def test_versions_name_the_algorithm_and_parser(extractor: FastExtractor) -> None:
    from toxmine.miner.extractors.catalog import extractor_identity

    versions = extractor_identity("fast").versions
    assert versions["fast"] == ALGORITHM_VERSION
    assert versions["resiliparse"][0].isdigit()
    assert FastExtractor.name == "fast"


@pytest.mark.subprocess
def test_module_imports_without_the_rest_of_toxmine() -> None:
    module = REPO / "miner" / "extractors" / "fast.py"
    code = (
        "import importlib.util, sys\n"
        f"spec = importlib.util.spec_from_file_location('fast_alone', {str(module)!r})\n"
        "mod = importlib.util.module_from_spec(spec); spec.loader.exec_module(mod)\n"
        "print(mod.FastExtractor().extract('<p>' + 'word ' * 20 + '</p>', None))\n"
        "print(sorted(m for m in sys.modules if m.startswith('toxmine')))\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd="/")
    assert done.stdout.splitlines() == [("word " * 20).strip(), "[]"]


# -- the benchmark metric ---------------------------------------------------------------------------
def test_metric_exact_match_and_empty() -> None:
    text = "one two three four five six"
    assert extraction_metric.score_page(text, text) == extraction_metric.PageScore(1.0, 0.0, 0.0)
    assert extraction_metric.score_page("", None) == extraction_metric.PageScore(0.0, 0.0, 0.0)
    assert extraction_metric.precision_recall_f1([extraction_metric.score_page("", "")]) == (1.0, 1.0, 1.0)


def test_metric_counts_shingles() -> None:
    # truth: 6 tokens -> 3 shingles; predicted adds one token -> 4 shingles, 3 shared
    score = extraction_metric.score_page("a b c d e f", "a b c d e f g")
    assert score == extraction_metric.PageScore(3 / 4, 1 / 4, 0.0)
    assert extraction_metric.shingles("x y") == {("x", "y"): 1}
    precision, recall, f1 = extraction_metric.precision_recall_f1([score, extraction_metric.score_page("a b c d", "")])
    assert precision == pytest.approx(0.75)  # the empty prediction has no precision
    assert recall == pytest.approx(0.5)  # ... but a recall of 0
    assert f1 == pytest.approx(2 * 0.75 * 0.5 / 1.25)


def test_metric_bootstrap_is_seeded() -> None:
    pages = [extraction_metric.score_page("a b c d e", p) for p in ("a b c d e", "a b c", "z y x w v", "a b c d e f g")]
    first, second = extraction_metric.scores(pages, samples=200), extraction_metric.scores(pages, samples=200)
    assert first == second
    assert 0 < first.f1_sd < 1


def test_decode_page_uses_the_meta_charset() -> None:
    payload = '<html><head><meta charset="windows-1251"></head><body>Привет</body></html>'.encode("cp1251")
    assert "Привет" in extraction_metric.decode_page(payload)
    assert extraction_metric.decode_page(b"<p>caf\xc3\xa9 \xff</p>") == "<p>café \ufffd</p>"
