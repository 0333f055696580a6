"""Value types of the `toxmine` command's options, defaults read from the option dataclasses, and the
action that stops a renamed flag with its new name."""

from __future__ import annotations

import argparse
import dataclasses
import inspect
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from toxmine.miner.sources import parse_shard

__all__ = [
    "Renamed",
    "edges",
    "field_default",
    "key_value",
    "langs",
    "names",
    "non_negative_int",
    "param_default",
    "positive_int",
    "shard",
]


def field_default(cls: type, name: str) -> Any:
    """The default of dataclass `cls`'s field `name` (the one place an option's default is written)."""
    for field in dataclasses.fields(cls):
        if field.name == name:
            if field.default is not dataclasses.MISSING:
                return field.default
            if field.default_factory is not dataclasses.MISSING:
                return field.default_factory()
            raise TypeError(f"{cls.__name__}.{name} has no default")
    raise TypeError(f"{cls.__name__} has no field {name}")


def param_default(function: Callable[..., Any], name: str) -> Any:
    """The default of `function`'s (or a class's constructor's) parameter `name`."""
    default = inspect.signature(function).parameters[name].default
    if default is inspect.Parameter.empty:
        raise TypeError(f"{function.__name__}: parameter {name} has no default")
    return default


def langs(text: str) -> frozenset[str]:
    """Comma-separated language codes, lower-cased."""
    codes = frozenset(code.strip().lower() for code in text.split(",") if code.strip())
    if not codes:
        raise argparse.ArgumentTypeError("--langs needs at least one language code")
    return codes


def names(text: str) -> list[str]:
    """A comma-separated list of names (sources, groupings)."""
    found = [name.strip() for name in text.split(",") if name.strip()]
    if not found:
        raise argparse.ArgumentTypeError("expected at least one name")
    return found


def shard(text: str) -> tuple[int, int]:
    """I/N: every N-th file from I."""
    try:
        parsed: tuple[int, int] = parse_shard(text)
        return parsed
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def positive_int(text: str) -> int:
    """A whole number of at least 1."""
    return _whole_number(text, 1)


def non_negative_int(text: str) -> int:
    """A whole number of at least 0."""
    return _whole_number(text, 0)


def _whole_number(text: str, least: int) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
    if value < least:
        raise argparse.ArgumentTypeError(f"must be at least {least}, got {value}")
    return value


def edges(text: str) -> tuple[float, ...]:
    """Bucket edges like 0,0.25,0.5,0.75,1."""
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bucket edges must be numbers like 0,0.25,0.5,0.75,1: {text}") from exc


def key_value(text: str) -> tuple[str, Any]:
    """KEY=VALUE with VALUE read as an int, float or true/false where it looks like one."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if value.lower() in {"true", "false"}:
        return key, value.lower() == "true"
    for number in (int, float):
        try:
            return key, number(value)
        except ValueError:
            pass
    return key, value


class Renamed(argparse.Action):
    """A flag whose old spelling meant something else: using it is a usage error naming the new flag."""

    def __init__(self, option_strings: Sequence[str], dest: str, new: str = "", **kwargs: Any) -> None:
        self.new = new
        super().__init__(option_strings, dest, nargs="?", default=argparse.SUPPRESS, help=argparse.SUPPRESS)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, values: Any,
                 option_string: str | None = None) -> NoReturn:  # fmt: skip
        parser.error(f"{option_string} was renamed: use {self.new}")
