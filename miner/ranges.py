"""Exact byte ranges of remote files over HTTP: one record of a WARC file, a column chunk of an index file.

`RangeClient.read(url, start, length)` returns exactly bytes [start, start + length) of a resource
or raises: the server must answer 206 with a Content-Range for exactly that range (and the same
total size every time it names one), the body must hold exactly those bytes. A dropped or short
transfer is retried from the byte it reached, as are 408/425/429/5xx replies and connection errors,
after exponential backoff with jitter (or the server's Retry-After), up to `HttpOptions.max_retries`
failures in a row, and by a deadline that a trickling transfer cannot outlast. A server that ignores
Range and answers 200 raises `RangeIgnored` without its body being read, so the caller can stream the
whole file once instead. Connections are pooled and the
client is safe to share between threads. Every byte received, retries included, is counted in
`stats`. Messages show URLs through `redact_url`.

`RangeFile` makes a remote file a seekable read-only file object (for pyarrow's Parquet reader).
"""

from __future__ import annotations

import io
import random
import re
import threading
import time
from dataclasses import dataclass
from types import TracebackType

import httpx

from .errors import InputError, printable
from .http import RETRY_STATUSES, HttpOptions, redact_url, retry_after_s

__all__ = ["RangeClient", "RangeFile", "RangeIgnored", "RangeStats"]

_CONTENT_RANGE = re.compile(r"bytes\s+([0-9]{1,18})-([0-9]{1,18})/([0-9]{1,18}|\*)")
_UNSATISFIED = re.compile(r"bytes\s+\*/([0-9]{1,18})")


class RangeIgnored(Exception):
    """The server answered a Range request with the whole resource (HTTP 200)."""

    def __init__(self, url: str, size: int | None) -> None:
        super().__init__(f"{redact_url(url)}: the server ignores Range requests")
        self.size = size


@dataclass
class RangeStats:
    """What a client fetched: requests made, body bytes received (retries included), retries."""

    requests: int = 0
    bytes: int = 0
    retries: int = 0


class _Retry(Exception):
    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after


class RangeClient:
    """Exact range reads with pooled connections, retries and checks (see the module)."""

    def __init__(self, options: HttpOptions | None = None, connections: int = 8) -> None:
        self.options = options or HttpOptions()
        self.stats = RangeStats()
        self._sizes: dict[str, int] = {}
        self._lock = threading.Lock()
        self._jitter = random.Random()
        self._client = httpx.Client(
            timeout=self.options.timeout_s,
            headers={"User-Agent": self.options.user_agent, "Accept-Encoding": "identity"},
            follow_redirects=True,
            limits=httpx.Limits(max_connections=connections, max_keepalive_connections=connections),
        )

    def __enter__(self) -> RangeClient:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        self._client.close()

    def size_of(self, url: str) -> int | None:
        """The resource's total size as its server declared it in a Content-Range, once one was read."""
        with self._lock:
            return self._sizes.get(url)

    def probe_size(self, url: str) -> int:
        """The resource's total size (one 1-byte range request unless already known)."""
        known = self.size_of(url)
        if known is None:
            self.read(url, 0, 1)
            known = self.size_of(url)
        if known is None:  # pragma: no cover - read() records the size of every 206 it accepts
            raise InputError(redact_url(url), "the server did not declare the file's size")
        return known

    def read(
        self,
        url: str,
        start: int,
        length: int,
        deadline: float | None = None,
        stats: RangeStats | None = None,
        cancelled: threading.Event | None = None,
    ) -> bytes:
        """Bytes [start, start + length) of `url`, exactly (see the module), by the `time.monotonic()` instant
        `deadline` (default: `options.deadline_s` from now), however slowly the server sends. InputError
        names the URL and `start`. What it fetched is counted in `self.stats`, and in `stats` when given;
        `cancelled`, once set, stops it at its next chunk or wait."""
        stop = cancelled or threading.Event()
        if start < 0 or length < 1:
            raise self._error(url, start, f"invalid range: {length} bytes at offset {start}")
        data = bytearray()
        failures = 0
        deadline = time.monotonic() + self.options.deadline_s if deadline is None else deadline
        while len(data) < length:
            before = len(data)
            try:
                self._attempt(url, start, length, data, deadline, stats, stop)
            except _Retry as failure:
                if len(data) > before:
                    failures = 0  # a transfer that moved on starts a new count
                if failures >= self.options.max_retries:
                    raise self._error(
                        url, start, f"{failure.reason}; giving up after {failures + 1} attempts"
                    ) from None
                wait = self.options.retry_wait(failures, failure.retry_after, self._jitter)
                if time.monotonic() + wait >= deadline:
                    raise self._error(url, start, f"deadline passed while retrying after: {failure.reason}") from None
                failures += 1
                with self._lock:
                    self.stats.retries += 1
                if stop.wait(wait):
                    raise self._error(url, start, "cancelled") from None
        return bytes(data)

    def _attempt(
        self, url: str, start: int, length: int, data: bytearray, deadline: float, stats: RangeStats | None,
        stop: threading.Event,
    ) -> None:  # fmt: skip
        """One request for the bytes still missing; appends what arrives to `data`."""
        first, last = start + len(data), start + length - 1
        if stop.is_set():
            raise self._error(url, start, "cancelled")
        if time.monotonic() >= deadline:
            raise self._error(url, start, f"deadline passed after {len(data)} of {length} bytes")
        timeout = min(self.options.timeout_s, max(0.001, deadline - time.monotonic()))
        with self._lock:
            self.stats.requests += 1
        try:
            request = self._client.build_request(
                "GET", url, headers={"Range": f"bytes={first}-{last}"}, timeout=timeout
            )
            response = self._client.send(request, stream=True)
        except httpx.TransportError as exc:
            raise _Retry(self._describe(exc)) from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise self._error(url, start, f"request failed: {self._describe(exc)}") from None
        try:
            self._accept(url, start, response, first, last)
            for chunk in response.iter_raw():
                with self._lock:
                    self.stats.bytes += len(chunk)
                    if stats is not None:
                        stats.bytes += len(chunk)
                if len(data) + len(chunk) > length:
                    raise self._error(url, start, f"server sent more than the {last - first + 1} bytes asked for")
                data += chunk
                if stop.is_set() and len(data) < length:
                    raise self._error(url, start, "cancelled")
                if time.monotonic() >= deadline and len(data) < length:
                    raise self._error(url, start, f"deadline passed after {len(data)} of {length} bytes")
        except httpx.TransportError as exc:
            raise _Retry(f"transfer broke off after {len(data)} of {length} bytes ({self._describe(exc)})") from None
        except httpx.HTTPError as exc:
            raise self._error(url, start, f"reading failed: {self._describe(exc)}") from None
        finally:
            response.close()
        if len(data) < length:
            raise _Retry(f"transfer ended after {len(data)} of {length} bytes")

    def _accept(self, url: str, start: int, response: httpx.Response, first: int, last: int) -> None:
        status = response.status_code
        if status in RETRY_STATUSES:
            wait = retry_after_s(response.headers.get("retry-after")) if status in (429, 503) else None
            raise _Retry(f"HTTP {status}", wait)
        if status in (200, 203):
            length = response.headers.get("content-length", "").strip()
            raise RangeIgnored(url, int(length) if length.isdigit() and len(length) < 19 else None)
        if status == 416:
            match = _UNSATISFIED.fullmatch(response.headers.get("content-range", "").strip())
            size = f" ({match.group(1)} bytes)" if match else ""
            raise self._error(url, start, f"range {first}-{last} is past the end of the file{size}")
        if status != 206:
            reply = f"HTTP {status} {printable(response.reason_phrase)}".strip()
            raise self._error(url, start, reply if status >= 400 else f"unexpected reply {reply}")
        header = response.headers.get("content-range")
        match = _CONTENT_RANGE.fullmatch((header or "").strip())
        if not match or (int(match.group(1)), int(match.group(2))) != (first, last):
            shown = "none" if header is None else ascii(printable(header, 60))
            raise self._error(url, start, f"asked for bytes {first}-{last}, the server sent Content-Range {shown}")
        if match.group(3) != "*":
            self._declare_size(url, start, int(match.group(3)))

    def _declare_size(self, url: str, start: int, size: int) -> None:
        with self._lock:
            known = self._sizes.setdefault(url, size)
        if known != size:
            raise self._error(url, start, f"changed on the server ({size} bytes now, {known} before)")

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"{type(exc).__name__} after {self.options.timeout_s:g} s"
        return printable(redact_url(str(exc)), 300) or type(exc).__name__

    @staticmethod
    def _error(url: str, start: int, reason: str) -> InputError:
        return InputError(redact_url(url), reason, offset=start)


class RangeFile(io.RawIOBase):
    """A remote file as a seekable read-only file: each read is one exact range request (at least
    `min_read` bytes, the rest kept for the next read, so a reader's small reads stay few requests)."""

    def __init__(self, client: RangeClient, url: str, min_read: int = 1 << 16) -> None:
        super().__init__()
        self.client = client
        self.url = url
        self.size = client.probe_size(url)
        self._pos = 0
        self._min_read = min_read
        self._cache_at = 0
        self._cache = b""

    @property
    def name(self) -> str:
        return redact_url(self.url)

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        base = {io.SEEK_SET: 0, io.SEEK_CUR: self._pos, io.SEEK_END: self.size}[whence]
        if base + offset < 0:
            raise ValueError(f"negative seek position {base + offset}")
        self._pos = base + offset
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = min(len(buffer), self.size - self._pos)
        if want <= 0:
            return 0
        cached = self._cache_at <= self._pos and self._pos + want <= self._cache_at + len(self._cache)
        if not cached:
            length = min(max(want, self._min_read), self.size - self._pos)
            self._cache, self._cache_at = self.client.read(self.url, self._pos, length), self._pos
        begin = self._pos - self._cache_at
        buffer[:want] = self._cache[begin : begin + want]
        self._pos += want
        return want
