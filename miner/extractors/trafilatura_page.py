"""trafilatura as toxmine configures it: precision over recall, no comments, no tables (as FineWeb)."""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Trafilatura", "TrafilaturaFast"]


class Trafilatura:
    """trafilatura's full extraction (its own fallbacks to readability and jusText included)."""

    name: ClassVar[str] = "trafilatura"
    packages: ClassVar[tuple[str, ...]] = ("trafilatura", "lxml")
    params: ClassVar[dict[str, Any]] = {
        "favor_precision": True,
        "include_comments": False,
        "include_tables": False,
        "fast": False,
        "deduplicate": False,
    }

    def __init__(self) -> None:
        import trafilatura

        self._extract = trafilatura.extract

    def extract(self, html: str, url: str | None) -> str | None:
        """The main text as lines of blocks, or None."""
        return self._extract(html, url=url, output_format="txt", **self.params) or None


class TrafilaturaFast(Trafilatura):
    """trafilatura with `fast=True`: its own algorithm only, without the fallback extractors."""

    name: ClassVar[str] = "trafilatura-fast"
    params: ClassVar[dict[str, Any]] = {**Trafilatura.params, "fast": True}
