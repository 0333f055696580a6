"""A fast main-content extractor: lexbor's parser (via resiliparse) plus a precision step of our own.

Imported alone inside the extraction sandbox's child process: it needs only the standard library and
resiliparse, never the rest of toxmine.

The steps, each linear in the page's size and none recursive in Python:

1. parse with resiliparse's lexbor `HTMLTree`;
2. pick the main container when the page names one (`itemprop=articleBody`, the largest `article`,
   `main`) and it holds a fair share of the page's text, else keep the whole body;
3. render it with resiliparse's `extract_plain_text(main_content=True)`, which drops navigation,
   headers, footers and link-dense blocks, while we skip, on top of that, elements whose tag or
   class/id names boilerplate (figures and captions, titles, bylines, comments, sharing, related
   links, newsletters, cookie banners, ads);
4. filter the lines (blocks): collapse whitespace inside each, drop lines with no word character,
   lines that are the whole text of one link (link density 1), lines of markup shown as text, and
   short lines repeated on the page ("Advertisement", "Share").

Bounded against hostile pages: nested candidates are measured only up to a fixed count, and a page
nested deeper than 256 levels skips resiliparse's main-content pass (quadratic in depth).

No rule depends on a language: lengths are counted in characters, so CJK text is measured alike.
"""

from __future__ import annotations

import re
from collections import Counter
from typing import ClassVar

from resiliparse.extract.html2text import extract_plain_text
from resiliparse.parse.html import ElementNode, HTMLTree

ALGORITHM_VERSION = "1"

# Class/id name fragments of boilerplate containers (matched case-insensitively as substrings).
_BOILERPLATE_NAMES = (
    "comment",
    "share",
    "social",
    "related",
    "newsletter",
    "subscribe",
    "cookie",
    "consent",
    "byline",
    "author",
    "caption",
    "credit",
    "breadcrumb",
    "promo",
    "advert",
    "sponsor",
    "footer",
    "header",
    "menu",
)
_BOILERPLATE_TAGS = ("figure", "figcaption", "h1", "time", "address", "dialog", "template", "select", "button")
_BOILERPLATE_SELECTOR = ",".join(
    [*(f"[class*={name} i]" for name in _BOILERPLATE_NAMES), *(f"[id*={name} i]" for name in _BOILERPLATE_NAMES)]
)
_NEVER_BOILERPLATE_TAGS = frozenset({"html", "body", "main", "article"})
_SKIP_MARK = "data-toxmine-skip"
_SKIP_ELEMENTS = [*_BOILERPLATE_TAGS, f"[{_SKIP_MARK}]"]
# A boilerplate-named element is kept when it holds this share of the text (a wrapper named "has-sidebar").
_BOILERPLATE_MAX_SHARE = 0.3
# Boilerplate-named elements measured (each measure walks its subtree: nested matches would be quadratic).
_MEASURE_BUDGET = 128
_CONTAINER_SELECTORS = ("[itemprop=articleBody]", "article", "main", "[role=main]")
_CONTAINER_MIN_CHARS = 400
# Candidates measured per selector, in document order (measuring nested ones would be quadratic).
_CONTAINER_CANDIDATES = 32
_CONTAINER_MIN_SHARE = 0.25
_REPEATED_LINE_MAX_CHARS = 60
# Matches an element nested this deep below body (a chain of child combinators: linear to evaluate).
_DEEP_LEVELS = 256
_DEEP_SELECTOR = " > ".join(["*"] * _DEEP_LEVELS)
_LINKS_MEASURED = 2000
_WORD_RE = re.compile(r"\w")
# A line that is markup shown as text (an <img> tracking pixel inside <noscript>, escaped embed code).
_MARKUP_LINE_RE = re.compile(r"<[A-Za-z!/][^>]*>\s*$")


class FastExtractor:
    """Main text of an HTML page, one line per block, or None when the page has none."""

    name: ClassVar[str] = "fast"
    version: ClassVar[str] = ALGORITHM_VERSION  # recorded with resiliparse's (extractors.catalog)
    packages: ClassVar[tuple[str, ...]] = ("resiliparse",)

    def __init__(self) -> None:
        self._skip_elements = list(_SKIP_ELEMENTS)

    def extract(self, html: str, url: str | None) -> str | None:
        """The main text of `html` (`url` is unused, kept for the extractor interface)."""
        if not html or not html.strip():
            return None
        text, link_texts = self._render(html)  # an error is the sandbox's to count (extract_error), not hidden
        lines = _clean_lines(text, link_texts)
        return "\n".join(lines) if lines else None

    def _render(self, html: str) -> tuple[str, set[str]]:
        tree = HTMLTree.parse(html)
        body = tree.body
        if body is None:
            return "", set()
        body_chars = _text_length(body)
        container = _main_container(body, body_chars)
        root = body if container is None else container
        if container is not None:
            _mark_outside(container, body)
        _mark_boilerplate(root, body_chars if container is None else _text_length(container))
        text = extract_plain_text(
            tree,
            # resiliparse's main-content pass is quadratic in the nesting depth: a deep page goes without it
            main_content=body.query_selector(_DEEP_SELECTOR) is None,
            alt_texts=False,
            list_bullets=False,
            comments=False,
            post_meta=False,
            form_fields=False,
            skip_elements=self._skip_elements,
        )
        return text, _link_texts(root)


def _text_length(node: ElementNode) -> int:
    """Characters of the text under `node` (scripts and styles included: a rough but cheap measure)."""
    text = node.text
    return len(text) if text else 0


def _main_container(body: ElementNode, body_chars: int) -> ElementNode | None:
    """The element that the page marks as its main content, when it holds enough of the text."""
    for selector in _CONTAINER_SELECTORS:
        candidates = body.query_selector_all(selector).values()[:_CONTAINER_CANDIDATES]
        if not candidates:
            continue
        best = max(candidates, key=_text_length)
        chars = _text_length(best)
        if chars >= _CONTAINER_MIN_CHARS and chars >= _CONTAINER_MIN_SHARE * body_chars:
            return best
    return None


def _mark_outside(container: ElementNode, body: ElementNode) -> None:
    """Mark every element outside `container`: the siblings of it and of each of its ancestors below `body`."""
    node: ElementNode | None = container
    while node is not None and node != body:
        parent = node.parent_element
        if parent is None:
            break
        for sibling in parent.children.values():
            if sibling != node:
                sibling.setattr(_SKIP_MARK, "")
        node = parent


def _mark_boilerplate(root: ElementNode, main_chars: int) -> None:
    """Mark the elements whose class or id names boilerplate, unless one holds much of the main text.

    Measuring walks the element's subtree, which nested matches would make quadratic: the first matches
    in document order (the outer ones) are measured, the rest are marked unmeasured.
    """
    budget = _MEASURE_BUDGET
    for element in root.query_selector_all(_BOILERPLATE_SELECTOR).values():
        if element.tag in _NEVER_BOILERPLATE_TAGS:
            continue
        if budget > 0:
            budget -= 1
            chars = _text_length(element)
            if chars > _BOILERPLATE_MAX_SHARE * main_chars:
                continue
        element.setattr(_SKIP_MARK, "")


def _link_texts(root: ElementNode) -> set[str]:
    """The texts of the links under `root`, whitespace collapsed (the first links only: bounded cost)."""
    texts = set()
    for link in root.get_elements_by_tag_name("a").values()[:_LINKS_MEASURED]:
        text = link.text
        if text:
            texts.add(" ".join(text.split()))
    return texts


def _clean_lines(text: str, link_texts: set[str]) -> list[str]:
    """Blocks of the rendered text with whitespace collapsed; repeated short lines and whole-link lines dropped."""
    lines = [" ".join(line.split()) for line in text.split("\n")]
    lines = [
        line
        for line in lines
        if line and _WORD_RE.search(line) and line not in link_texts and not _MARKUP_LINE_RE.match(line)
    ]
    counts = Counter(line for line in lines if len(line) <= _REPEATED_LINE_MAX_CHARS)
    return [line for line in lines if counts.get(line, 0) < 2]
