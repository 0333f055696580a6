"""The registry of main-text extractors, and what each one records about itself.

An extractor is a class built without arguments whose `extract(html, url)` returns the page's
main text (one block per line) or None. Built-ins are registered lazily ("module:Class"); users
pass `my_package.my_module:MyClass` wherever a name is accepted. Optional class attributes name
what produced a text: `name`, `packages` (distributions whose versions are recorded), `version`
(the algorithm's own) and `params`.

Light on purpose: the extraction sandbox's child imports this module without the rest of the
miner (see `extract_child`); it needs only `..registry` and `..errors`.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from importlib.metadata import PackageNotFoundError, version
from typing import Any, Protocol

from ..errors import ConfigError
from ..registry import Registry

__all__ = [
    "DEFAULT_EXTRACTOR",
    "EXTRACTORS",
    "ExtractorIdentity",
    "PageExtractor",
    "create_extractor",
    "extractor_identity",
]

DEFAULT_EXTRACTOR = "trafilatura"


class PageExtractor(Protocol):
    """What `--extractor` names: the main text of one decoded HTML page, or None."""

    def extract(self, html: str, url: str | None) -> str | None: ...


EXTRACTORS: Registry[PageExtractor] = Registry("extractor")
EXTRACTORS.register("trafilatura", "toxmine.miner.extractors.trafilatura_page:Trafilatura")
EXTRACTORS.register("trafilatura-fast", "toxmine.miner.extractors.trafilatura_page:TrafilaturaFast")
EXTRACTORS.register("resiliparse", "toxmine.miner.extractors.resiliparse_page:Resiliparse")
EXTRACTORS.register("fast", "toxmine.miner.extractors.fast:FastExtractor")


@dataclass(frozen=True)
class ExtractorIdentity:
    """What produced a text: the extractor's name (as asked: a registered name or module:Class), the
    name it gives itself (`label`), versions and parameters."""

    name: str
    versions: dict[str, str] = field(default_factory=dict)
    params: dict[str, Any] = field(default_factory=dict)
    label: str = ""

    @property
    def version_label(self) -> str:
        """The versions as one short string (`documents.extractor_version`)."""
        return "; ".join(f"{key} {value}" for key, value in self.versions.items()) or "unknown"

    def as_config(self) -> dict[str, Any]:
        return {"name": self.name, "label": self.label or self.name, "versions": dict(self.versions),
                "params": dict(self.params)}  # fmt: skip


def _distribution_version(name: str) -> str:
    try:
        return version(name)
    except PackageNotFoundError:
        return "not installed"


@functools.cache
def extractor_identity(name: str) -> ExtractorIdentity:
    """The identity of extractor `name` (a registered name or module:Class), without building it.
    Raises ConfigError for an unknown name or a plug-in that cannot be loaded or has no `extract`."""
    factory = EXTRACTORS.factory(name)
    if not callable(getattr(factory, "extract", None)):
        raise ConfigError(f"extractor {name!r}: {factory!r} has no extract(html, url) method")
    label = str(getattr(factory, "name", "") or name)
    versions: dict[str, str] = {}
    own = getattr(factory, "version", None) or (None if name in EXTRACTORS.names() else _module_version(factory))
    if own:
        versions[label] = str(own)
    for package in getattr(factory, "packages", ()):
        versions[package] = _distribution_version(package)
    params = dict(getattr(factory, "params", {}) or {})
    return ExtractorIdentity(name=name, versions=versions, params=params, label=label)


def _module_version(factory: Any) -> str | None:
    """A plug-in's version: its module's `__version__`, or its top-level distribution's."""
    import sys

    module = sys.modules.get(getattr(factory, "__module__", "") or "")
    found = getattr(module, "__version__", None)
    if found:
        return str(found)
    top = (getattr(factory, "__module__", "") or "").split(".")[0]
    try:
        return version(top) if top else None
    except PackageNotFoundError:
        return None


def create_extractor(name: str) -> PageExtractor:
    """A ready extractor `name`; ConfigError when it cannot be built (a missing library...)."""
    extractor_identity(name)  # checks it
    try:
        return EXTRACTORS.create(name)
    except ImportError as exc:
        raise ConfigError(f"extractor {name!r} needs a library that is not installed: {exc}") from exc
