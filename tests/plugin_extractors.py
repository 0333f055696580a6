"""Extractor plug-ins loaded by tests through the registry's `module:Class` path, as a user's would
be. They run in the extraction sandbox's child process, which imports this module by the parent's
`sys.path`."""

from __future__ import annotations

import re
from typing import ClassVar

_PARAGRAPH = re.compile(r"<p[^>]*>(.*?)</p>", re.IGNORECASE | re.DOTALL)
_TAG = re.compile(r"<[^>]+>")


def _paragraphs(html: str) -> str | None:
    blocks = (" ".join(_TAG.sub(" ", block).split()) for block in _PARAGRAPH.findall(html))
    return "\n".join(block for block in blocks if block) or None


class Paragraphs:
    """Every <p> element's text, one per line."""

    name = "paragraphs"
    version = "7"
    params: ClassVar[dict[str, list[str]]] = {"tags": ["p"]}

    def extract(self, html: str, url: str | None) -> str | None:
        return _paragraphs(html)


class ExplodesOnMarker(Paragraphs):
    """Raises on a page that contains EXPLODE; extracts the others."""

    def extract(self, html: str, url: str | None) -> str | None:
        if "EXPLODE" in html:
            raise ValueError("the parser choked on this page")
        return _paragraphs(html)


class SpinsOnMarker(Paragraphs):
    """Never returns on a page that contains SPIN (a Python loop: the CPU-time limit stops it)."""

    def extract(self, html: str, url: str | None) -> str | None:
        while "SPIN" in html:
            pass
        return _paragraphs(html)


class FailsToStart:
    """Cannot be built (a model file it needs is missing)."""

    def __init__(self) -> None:
        raise RuntimeError("model file /nonexistent/boilerplate.bin not found")

    def extract(self, html: str, url: str | None) -> str | None:
        return None


class NoExtractMethod:
    """Not an extractor at all."""

    def run(self, html: str) -> str:
        return html


class NeedsUrl(Paragraphs):
    """Reads the page's address (fails on None: a record without one; the warm-up gives one)."""

    def extract(self, html: str, url: str | None) -> str | None:
        return _paragraphs(html) if "example" in url else None  # type: ignore[operator]


class PicksOnSmallPages(Paragraphs):
    """Raises on pages under 400 characters (the sandbox's warm-up page is one)."""

    def extract(self, html: str, url: str | None) -> str | None:
        if len(html) < 400:
            raise ValueError("too small to be an article")
        return _paragraphs(html)


class ReturnsNumber(Paragraphs):
    """Returns an int instead of a text."""

    def extract(self, html: str, url: str | None) -> str | None:
        return 42  # type: ignore[return-value]
