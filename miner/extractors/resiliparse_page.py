"""resiliparse's main-content extraction (lexbor parser, C++): fast, but keeps boilerplate."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Resiliparse"]


class Resiliparse:
    """`extract_plain_text(HTMLTree.parse(html), main_content=True)`."""

    name: ClassVar[str] = "resiliparse"
    packages: ClassVar[tuple[str, ...]] = ("resiliparse",)
    params: ClassVar[dict[str, Any]] = {"main_content": True, "alt_texts": False, "list_bullets": False}

    def __init__(self) -> None:
        from resiliparse.extract.html2text import extract_plain_text
        from resiliparse.parse.html import HTMLTree

        self._parse = HTMLTree.parse
        self._text = extract_plain_text

    def extract(self, html: str, url: str | None) -> str | None:
        """The main text, one block per line, or None."""
        text: str = self._text(self._parse(html), **self.params)
        lines = (" ".join(line.split()) for line in text.splitlines())
        return "\n".join(line for line in lines if line) or None
