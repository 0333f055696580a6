"""API keys read from the environment, checked without ever showing them.

`toxmine.evaluate.redaction.read_api_key` adds registration for redaction on top of these; the
mining side (the Perspective scorer) uses them directly and never puts a key in a message.
"""

from __future__ import annotations

import logging
import os
import urllib.parse

from .errors import ConfigError

__all__ = ["api_key_problem", "hide_in_library_logs", "read_env_key", "scrub"]

# Loggers of the HTTP libraries: httpx logs every request's URL at INFO, a query's key included.
_LIBRARY_LOGGERS = ("httpx", "httpcore")


def api_key_problem(key: str) -> str | None:
    """What makes a stripped key unusable in a header or URL, without showing any of it; None if fine."""
    if any(char.isspace() for char in key):
        return "whitespace (a space, tab or line break)"
    if any(not char.isprintable() for char in key):
        return "a control character"
    if not key.isascii():
        return "a character that is not ASCII"
    return None


def read_env_key(variable: str) -> str | None:
    """The key in environment variable `variable` with surrounding whitespace stripped; None when it is
    unset or blank. Raises ConfigError naming the variable (never the value) when the key holds
    whitespace, control or non-ASCII characters inside."""
    key = os.environ.get(variable, "").strip()
    if not key:
        return None
    problem = api_key_problem(key)
    if problem is not None:
        raise ConfigError(f"${variable}: the API key holds {problem} inside it; set the variable to the key alone")
    return key


def scrub(text: str, secret: str | None) -> str:
    """`text` with `secret` replaced by `***`, as given and URL-encoded (a server may echo either)."""
    if not secret:
        return text
    for form in sorted({secret, urllib.parse.quote(secret, safe=""), urllib.parse.quote_plus(secret)}, key=len,
                       reverse=True):  # fmt: skip
        text = text.replace(form, "***")
    return text


class _ScrubFilter(logging.Filter):
    """Replaces one secret in the records of the logger it is on."""

    def __init__(self, secret: str) -> None:
        super().__init__()
        self.secret = secret

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a log call whose arguments do not fit its format: shown as given
            message = f"{record.msg} {record.args!r}"
        record.msg, record.args = scrub(message, self.secret), ()
        return True


def hide_in_library_logs(secret: str) -> None:
    """Scrub `secret` from what the HTTP libraries log (httpx logs each request URL), from now on."""
    for name in _LIBRARY_LOGGERS:
        logger = logging.getLogger(name)
        if not any(isinstance(f, _ScrubFilter) and f.secret == secret for f in logger.filters):
            logger.addFilter(_ScrubFilter(secret))
