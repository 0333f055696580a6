"""Secrets are redacted from every form they take in a message, log line or stored text."""

from __future__ import annotations

import html
import io
import json
import logging
import urllib.parse

import pytest

from toxmine.evaluate.redaction import RedactingFilter, read_api_key, redact, register_secret
from toxmine.miner.errors import ConfigError
from toxmine.miner.progress import JsonLogFormatter

ODD_KEY = 'sk-odd/"key"+&<tag>\\7f3a'  # characters that every encoding writes differently
ENV = "TOXMINE_TEST_REDACTION_KEY"


def _forms(key: str) -> list[str]:
    quoted = urllib.parse.quote(key, safe="")
    return [
        key,
        f"Bearer {key}",
        repr(key),
        repr(f"Bearer {key}\n".encode()),  # as h11 writes an illegal header value
        json.dumps(key),
        quoted,
        quoted.lower(),  # percent-encoding in lower-case hex
        urllib.parse.quote_plus(key),
        html.escape(key),
    ]


def test_every_form_of_a_registered_key_is_redacted() -> None:
    register_secret(ODD_KEY)
    for form in _forms(ODD_KEY):
        shown = redact(f"server said: {form}!")
        assert shown.startswith("server said: ") and "***" in shown, form
        assert "sk-odd" not in shown and "7f3a" not in shown, (form, shown)
    assert redact("nothing secret here") == "nothing secret here"


def test_placeholder_keys_are_not_secrets_and_leave_texts_alone(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(ENV, "EMPTY\n")  # what local servers are given; "x" and "dummy" alike
    assert read_api_key(ENV) == "EMPTY"
    register_secret("x")
    text = "EMPTY boxes: x marks the spot"
    assert redact(text) == text


def test_read_api_key_strips_surrounding_whitespace_and_registers(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(ENV, raising=False)
    assert read_api_key(ENV) is None
    monkeypatch.setenv(ENV, " \t\n")
    assert read_api_key(ENV) is None  # blank: no key, as unset
    monkeypatch.setenv(ENV, "  sk-padded-0b5e9d21c4\r\n")
    assert read_api_key(ENV) == "sk-padded-0b5e9d21c4"
    message = str(OSError("Illegal header value b'Bearer sk-padded-0b5e9d21c4\\r\\n'"))
    assert redact(message) == "Illegal header value b'Bearer ***'"


@pytest.mark.parametrize("bad", ["sk-in ner-3c1d", "sk-in\tner-3c1d", "sk-in\nner-3c1d", "sk-in\x1bner-3c1d",
                                 "sk-in\x7fner-3c1d", "sk-inñer-3c1d"])  # fmt: skip
def test_a_key_with_inner_whitespace_or_control_characters_is_refused(
    monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv(ENV, bad)
    with pytest.raises(ConfigError, match=f"\\${ENV}") as error:
        read_api_key(ENV)
    assert "sk-in" not in str(error.value) and "ner-3c1d" not in str(error.value)
    assert redact(f"echo {bad}") == "echo ***"  # registered all the same


def test_the_log_filter_redacts_message_arguments_extras_and_tracebacks() -> None:
    key = "sk-logged-91ac04e7d2"
    register_secret(key)
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonLogFormatter())
    handler.addFilter(RedactingFilter())
    logger = logging.getLogger("toxmine.test_redaction")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        logger.warning("failed with %s", f"Bearer {key}", extra={"url": f"http://h/?k={key}", "seen": {"k": key}})
        logger.warning("bad call %s %s", key)  # too few arguments for the format
        try:
            raise RuntimeError(f"boom {key!r}")
        except RuntimeError:
            logger.exception("crashed")
    finally:
        logger.removeHandler(handler)
    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    assert key not in stream.getvalue() and "sk-logged" not in stream.getvalue()
    assert lines[0]["message"] == "failed with Bearer ***" and lines[0]["url"] == "http://h/?k=***"
    assert lines[0]["seen"] == "{'k': '***'}"
    assert lines[1]["message"] == "bad call %s %s ('***',)"
    assert "RuntimeError: boom '***'" in lines[2]["message"]
