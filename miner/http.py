"""Streaming HTTP reads with httpx: retries with backoff, resumption by Range requests.

A WARC file on a web server is read as a stream and never stored whole on disk. When the
connection drops or the server answers 429/5xx, the stream reconnects and asks for the rest
with `Range: bytes=N-`; a server that ignores Range is read again from the start and the
bytes already delivered are skipped.
"""

from __future__ import annotations

import io
import itertools
import logging
import re
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import TypeVar

import httpx

from .errors import InputError

__all__ = ["HttpOptions", "ResumableHttpStream", "fetch_bytes"]

log = logging.getLogger(__name__)

_T = TypeVar("_T")

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE = re.compile(r"bytes\s+(\d+)-(\d+)/(\d+|\*)")


@dataclass(frozen=True)
class HttpOptions:
    """How HTTP inputs are fetched."""

    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    user_agent: str = "toxmine (+https://github.com/toxmine/toxmine)"

    def backoff(self, attempt: int) -> float:
        return float(min(self.max_backoff_s, self.backoff_s * (2**attempt)))


class _Retryable(Exception):
    """A failure worth another try (connection error, 429, 5xx, short body)."""


def _client(options: HttpOptions) -> httpx.Client:
    return httpx.Client(
        timeout=options.timeout_s,
        headers={"User-Agent": options.user_agent},
        follow_redirects=True,
    )


class ResumableHttpStream(io.RawIOBase):
    """A read-only binary stream over an HTTP resource that survives dropped connections."""

    def __init__(self, url: str, offset: int = 0, options: HttpOptions | None = None) -> None:
        super().__init__()
        self.url = url
        self.options = options or HttpOptions()
        self._pos = offset
        self._total: int | None = None
        self._client = _client(self.options)
        self._response: httpx.Response | None = None
        self._chunks: Iterator[bytes] = iter(())
        self._pending = b""
        self.reconnects = 0
        self._with_retries(self._connect)

    # -- io.RawIOBase -------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        if want == 0:
            return 0
        while not self._pending:
            chunk = self._with_retries(self._next_chunk)
            if chunk is None:
                return 0
            self._pending = chunk
        n = min(want, len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._pos += n
        return n

    def close(self) -> None:
        if self._response is not None:
            self._response.close()
        self._client.close()
        super().close()

    # -- internals ------------------------------------------------------------------------
    def _with_retries(self, action: Callable[[], _T]) -> _T:
        attempt = 0
        while True:
            try:
                return action()
            except (_Retryable, httpx.TransportError) as exc:
                if attempt >= self.options.max_retries:
                    raise InputError(
                        self.url, f"giving up after {attempt + 1} attempts: {exc}", offset=self._pos
                    ) from exc
                delay = self.options.backoff(attempt)
                log.warning("%s at byte %d: %s; retrying in %.1fs", self.url, self._pos, exc, delay)
                time.sleep(delay)
                attempt += 1
                self.reconnects += 1
                self._connect_quietly()

    def _connect_quietly(self) -> None:
        try:
            self._connect()
        except (_Retryable, httpx.TransportError):
            self._chunks = iter(())
            self._response = None

    def _connect(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        headers = {"Range": f"bytes={self._pos}-"} if self._pos > 0 else {}
        request = self._client.build_request("GET", self.url, headers=headers)
        response = self._client.send(request, stream=True)
        status = response.status_code
        if status in RETRY_STATUSES:
            response.close()
            raise _Retryable(f"HTTP {status}")
        if status == 416:  # asked past the end: nothing left
            response.close()
            self._chunks = iter(())
            return
        if status >= 400:
            response.close()
            raise InputError(self.url, f"HTTP {status} {response.reason_phrase}")
        skip = 0
        if status == 206:
            match = _CONTENT_RANGE.match(response.headers.get("content-range", ""))
            if match and match.group(3) != "*":
                self._total = int(match.group(3))
        else:
            length = response.headers.get("content-length")
            self._total = int(length) if length is not None else None
            skip = self._pos  # the server ignored Range: drop what was already delivered
        self._response = response
        self._chunks = response.iter_raw()  # chunks as they arrive: a cut loses nothing
        while skip > 0:
            chunk = next(self._chunks, b"")
            if not chunk:
                raise _Retryable("body ended while skipping to the resume offset")
            if len(chunk) > skip:
                self._chunks = itertools.chain([chunk[skip:]], self._chunks)
                skip = 0
            else:
                skip -= len(chunk)

    def _next_chunk(self) -> bytes | None:
        if self._response is None:
            raise _Retryable("not connected")
        chunk = next(self._chunks, None)
        if chunk is not None:
            return chunk
        if self._total is not None and self._pos < self._total:
            raise _Retryable(f"body ended at byte {self._pos} of {self._total}")
        return None


def fetch_bytes(url: str, options: HttpOptions | None = None) -> bytes:
    """Read a whole (small) HTTP resource, e.g. a `warc.paths.gz` listing, with retries."""
    with ResumableHttpStream(url, 0, options) as stream:
        return stream.read()
