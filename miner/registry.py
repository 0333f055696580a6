"""One registry mechanism for pluggable components (scorers, LID models, model backends).

Entries are registered by name, either as objects or as lazy `"module:attr"` strings so that
listing names never imports heavy libraries (torch). Users load their own plug-ins by passing
`"my_package.my_module:MyClass"` wherever a name is accepted.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Generic, TypeVar

from .errors import ConfigError

__all__ = ["Registry"]

T = TypeVar("T")


class Registry(Generic[T]):
    """Named factories of one kind of component."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._entries: dict[str, Callable[..., T] | str] = {}

    def register(self, name: str, factory: Callable[..., T] | str) -> None:
        """Register `factory` (a callable or a lazy "module:attr" string) under `name`."""
        if name in self._entries:
            raise ConfigError(f"{self.kind} {name!r} is already registered")
        self._entries[name] = factory

    def names(self) -> list[str]:
        return sorted(self._entries)

    def factory(self, name: str) -> Callable[..., T]:
        """The factory for `name`, or for a `"module:attr"` plug-in path."""
        entry = self._entries.get(name)
        if entry is None and ":" in name:
            entry = name
        if entry is None:
            known = ", ".join(self.names()) or "none"
            raise ConfigError(f"unknown {self.kind} {name!r}; known: {known} (or give module:attr of a plug-in)")
        if isinstance(entry, str):
            module_name, _, attr = entry.partition(":")
            try:
                module = importlib.import_module(module_name)
                loaded: Callable[..., T] = getattr(module, attr)
            except (ImportError, AttributeError) as exc:
                raise ConfigError(f"{self.kind} {name!r}: cannot load {entry} ({exc})") from exc
            return loaded
        return entry

    def create(self, name: str, /, *args: object, **kwargs: object) -> T:
        return self.factory(name)(*args, **kwargs)
