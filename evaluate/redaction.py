"""Secrets (API keys) kept out of every message, log line and stored text.

`read_api_key` reads a key from an environment variable, strips the whitespace around it (a key
pasted from a file often ends in a newline), refuses one holding whitespace, control or non-ASCII
characters inside (a ConfigError naming the variable, never the value) and registers it.
`redact` replaces every registered secret by `***` in any form it takes in a message: as given,
stripped, repr- or bytes-escaped (`b'Bearer sk-...\\n'`), JSON-escaped, URL-encoded (either hex
case, `+` for spaces) and HTML-escaped. Every path that turns exception or server-controlled text
into a message, a log line or a stored value goes through `redact`; `RedactingFilter` does the
same for log records (message, arguments, extra fields and traceback).

Keys shorter than MIN_SECRET_CHARS are placeholders (`x`, `EMPTY`, `dummy` for a local server),
not secrets: they are not redacted, since every text holding such a word would be garbled.
"""

from __future__ import annotations

import dataclasses
import html
import json
import logging
import os
import re
import threading
import urllib.parse
from typing import Any, TypeVar

from toxmine.miner.http import redact_url
from toxmine.miner.progress import LOG_RECORD_ATTRS
from toxmine.miner.secrets import read_env_key

__all__ = ["MASK", "MIN_SECRET_CHARS", "RedactingFilter", "read_api_key", "redact", "redact_handlers",
           "redact_json", "register_secret"]  # fmt: skip

MASK = "***"
MIN_SECRET_CHARS = 8

_lock = threading.Lock()
_secrets: set[str] = set()
_pattern: re.Pattern[str] | None = None


def _forms(secret: str) -> set[str]:
    """The ways `secret` may be written in a message."""
    forms = set()
    for value in {secret, secret.strip(), secret.lstrip(), secret.rstrip()}:
        quoted = urllib.parse.quote(value, safe="")
        forms |= {
            value,
            repr(value)[1:-1],
            repr(value.encode("utf-8", "backslashreplace"))[2:-1],
            json.dumps(value)[1:-1],
            json.dumps(value, ensure_ascii=False)[1:-1],
            quoted,
            re.sub(r"%[0-9A-F]{2}", lambda match: match[0].lower(), quoted),
            urllib.parse.quote_plus(value),
            html.escape(value),
        }
    return {form for form in forms if form}


def register_secret(secret: str) -> None:
    """Redact `secret` from now on, in this process (unless it is shorter than MIN_SECRET_CHARS)."""
    global _pattern
    if len(secret.strip()) < MIN_SECRET_CHARS:
        return
    with _lock:
        _secrets.update(_forms(secret))
        alternatives = sorted(_secrets, key=len, reverse=True)  # the longest form first: none is left half-done
        _pattern = re.compile("|".join(map(re.escape, alternatives)))


def redact(text: str) -> str:
    """`text` with every registered secret, in any of its forms, replaced by `***`."""
    pattern = _pattern
    return pattern.sub(MASK, text) if pattern is not None else text


_T = TypeVar("_T")
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")
_SECRET_KEY = re.compile(r"(apikey|token|secret|password|passwd|credentials?|authorization|auth|bearer)$")


def _secret_key(name: str) -> bool:
    """A mapping key whose value is a secret (api_key, token, Authorization...), not one naming where a secret
    is kept (api_key_env names an environment variable)."""
    return bool(_SECRET_KEY.search(name.lower().replace("-", "").replace("_", "")))


def redact_json(value: Any) -> Any:
    """A copy of a JSON-ready value (dicts, lists, scalars) fit to write to a file others read: every
    registered secret redacted from every string (keys included), the user info and secret-looking query
    parameters of URLs masked, and the value under a secret-looking key (api_key, token, password,
    Authorization, ...) replaced by `***` whatever it holds."""
    if isinstance(value, str):
        return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), redact(value))
    if isinstance(value, dict):
        return {
            redact_json(str(key)): MASK if _secret_key(str(key)) and item is not None else redact_json(item)
            for key, item in value.items()
        }
    if isinstance(value, list | tuple):
        return [redact_json(item) for item in value]
    return value


def redacted(value: _T, *fields: str) -> _T:
    """A dataclass with the named optional text fields redacted (the same object when none changes)."""
    changes = {}
    for name in fields:
        text = getattr(value, name)
        if text is not None and (clean := redact(text)) != text:
            changes[name] = clean
    return dataclasses.replace(value, **changes) if changes else value  # type: ignore[type-var]


def read_api_key(variable: str) -> str | None:
    """The API key in environment variable `variable` with surrounding whitespace stripped, registered
    for redaction; None when it is unset or blank. Raises ConfigError naming the variable (never the
    value) when the key holds whitespace, control or non-ASCII characters inside."""
    raw = os.environ.get(variable)
    if raw is None:
        return None
    register_secret(raw)  # before any check, so even a refused key never shows
    return read_env_key(variable)


class RedactingFilter(logging.Filter):
    """Redacts secrets from a log record's message, arguments, extra fields and traceback. Put it on a
    handler: it then sees the records of every logger that reaches that handler."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a log call whose arguments do not fit its format: shown as given
            message = f"{record.msg} {record.args!r}"
        if record.exc_info:  # formatted here, so that the traceback is redacted too
            message = f"{message}\n{logging.Formatter().formatException(record.exc_info)}"
            record.exc_info, record.exc_text = None, None
        record.msg, record.args = redact(message), ()
        for name, value in list(vars(record).items()):
            if name not in LOG_RECORD_ATTRS and value is not None and not isinstance(value, bool | int | float):
                text = str(value)
                if redact(text) != text:  # other values keep their type
                    setattr(record, name, redact(text))
        return True


def redact_handlers(logger: logging.Logger) -> None:
    """Add a RedactingFilter to each handler of `logger` that has none."""
    for handler in logger.handlers:
        if not any(isinstance(f, RedactingFilter) for f in handler.filters):
            handler.addFilter(RedactingFilter())
