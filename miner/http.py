"""Streaming HTTP reads with httpx: retries with backoff, resumption by Range requests, a deadline.

A WARC file on a web server is read as a stream and never stored whole on disk. Every request asks
for `Range: bytes=N-`, so a server's Content-Range vouches for the offset and the total size of what
it sends; when the connection drops, stalls or the server answers 429/5xx, the stream asks again
from the byte it has reached. Nothing a server sends is believed without a check: see
`ResumableHttpStream`. URLs may carry credentials: messages and logs only ever show `redact_url`.
"""

from __future__ import annotations

import email.utils
import io
import logging
import random
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote

import httpx

from .errors import ConfigError, InputError, printable

__all__ = [
    "RETRY_STATUSES",
    "HttpOptions",
    "ResumableHttpStream",
    "fetch_bytes",
    "redact_url",
    "retry_after_s",
]

log = logging.getLogger(__name__)

RETRY_STATUSES = frozenset({408, 425, 429, 500, 502, 503, 504})
_RETRY_AFTER_STATUSES = frozenset({429, 503})
_NUMBER = r"[0-9]{1,18}"  # longer is no real size (and int() refuses thousands of digits)
_CONTENT_RANGE = re.compile(rf"bytes\s+({_NUMBER})-({_NUMBER})/({_NUMBER}|\*)")
_UNSATISFIED_RANGE = re.compile(rf"bytes\s+\*/({_NUMBER})")


@dataclass(frozen=True)
class HttpOptions:
    """How HTTP inputs are fetched.

    timeout_s: the longest wait to connect or for any single read.
    max_retries: further attempts after a failure that made no progress (each attempt is one request).
    backoff_s, max_backoff_s: exponential backoff with jitter; max_backoff_s also caps a Retry-After.
    deadline_s: wall-clock time for one input, all its requests, reads and waits together (default 4 h).
    min_bytes_per_s, rate_window_s: a transfer slower than this, measured over rate_window_s seconds of
        waiting for the network (not for the reader), is dropped and resumed; 0 switches the check off.
    max_bytes: the largest resource `fetch_bytes` reads whole (listings such as warc.paths.gz).
    """

    timeout_s: float = 60.0
    max_retries: int = 6
    backoff_s: float = 1.0
    max_backoff_s: float = 60.0
    deadline_s: float = 4 * 3600.0
    min_bytes_per_s: float = 1024.0
    rate_window_s: float = 60.0
    max_bytes: int = 256 << 20
    user_agent: str = "toxmine (+https://github.com/toxmine/toxmine)"

    def __post_init__(self) -> None:
        positive = {"timeout_s": self.timeout_s, "deadline_s": self.deadline_s, "rate_window_s": self.rate_window_s}
        positive["max_bytes"] = self.max_bytes
        not_negative = {"max_retries": self.max_retries, "backoff_s": self.backoff_s}
        not_negative |= {"max_backoff_s": self.max_backoff_s, "min_bytes_per_s": self.min_bytes_per_s}
        for name, value in positive.items():
            if not value > 0:
                raise ConfigError(f"HTTP option {name} must be positive, got {value}")
        for name, value in not_negative.items():
            if not value >= 0:
                raise ConfigError(f"HTTP option {name} must not be negative, got {value}")

    def backoff(self, attempt: int) -> float:
        """The wait before retry number `attempt` (from 0), without jitter."""
        return float(min(self.max_backoff_s, self.backoff_s * (2**attempt)))

    def retry_wait(self, attempt: int, retry_after: float | None, jitter: random.Random) -> float:
        """The wait before retry number `attempt`: the server's Retry-After (capped by max_backoff_s),
        else the backoff with jitter (between half and all of it)."""
        if retry_after is not None:
            return float(min(self.max_backoff_s, retry_after))
        return self.backoff(attempt) * (0.5 + 0.5 * jitter.random())


def retry_after_s(value: str | None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or an HTTP date); None if absent or unreadable."""
    if not value or not value.strip():
        return None
    try:
        return max(0.0, float(value.strip()))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value.strip())
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # RFC 9110 dates are GMT
        return None
    return max(0.0, when.timestamp() - time.time())


# -- secrets in URLs ----------------------------------------------------------------------------
_USERINFO = re.compile(r"^([A-Za-z][A-Za-z0-9+.\-]*://)([^/]*)@")  # up to the last @ before the path
_PARAMETER = re.compile(r"([?&;#])([^=&;#]*)=([^&;#]*)")
_SECRET_NAME = re.compile(
    r"(sig|signature|token|secret|password|passwd|pwd|credentials?|key|keyid|auth|authorization|session|sessionid|jwt)$"
)
_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.\-]*://[^\s'\"<>]+")


def _is_secret_parameter(name: str) -> bool:
    return bool(_SECRET_NAME.search(unquote(name).lower().replace("-", "").replace("_", "")))


def redact_url(url: str) -> str:
    """The URL as it may be shown: user info and the values of secret-looking query parameters become `***`.

    Works on malformed URLs too. Parameters whose name ends like sig, signature, token, key, secret,
    password, credential, auth or session are hidden (X-Amz-Signature, X-Goog-Credential, Azure `sig`,
    access_token, api_key...); scheme, host, path and other parameters are kept.
    """
    shown = _USERINFO.sub(r"\1***@", url, count=1)

    def hide(match: re.Match[str]) -> str:
        if match.group(3) and _is_secret_parameter(match.group(2)):
            return f"{match.group(1)}{match.group(2)}=***"
        return match.group(0)

    return _PARAMETER.sub(hide, shown)


def _secrets_in(url: str) -> list[str]:
    """The secret parts of a URL (raw and percent-decoded), longest first, for scrubbing messages."""
    found: list[str] = []
    userinfo = _USERINFO.match(url)
    if userinfo:
        found += [userinfo.group(2), *userinfo.group(2).split(":")]
    found += [m.group(3) for m in _PARAMETER.finditer(url) if _is_secret_parameter(m.group(2))]
    found += [unquote(value) for value in found]
    return sorted({value for value in found if len(value) >= 3}, key=len, reverse=True)


def _input_error(source: str, reason: str, offset: int) -> InputError:
    """InputError at `offset`; at offset 0 its text leaves out "at offset 0" (the input failed as a whole)."""
    error = InputError(source, reason, offset=offset or None)
    error.offset = offset
    return error


class _Retryable(Exception):
    """A failure worth another request: connection error, 429/5xx, a short or too slow transfer."""

    def __init__(self, reason: str, retry_after: float | None = None, slow: bool = False) -> None:
        super().__init__(reason)
        self.reason = reason
        self.retry_after = retry_after
        self.slow = slow


class ResumableHttpStream(io.RawIOBase):
    """A read-only binary stream of `url` from `offset` that survives dropped connections and checks its server.

    The bytes returned are exactly resource[offset:], in order. Every request asks for `Range: bytes=N-`
    (N = the bytes delivered so far) with `Accept-Encoding: identity`, and is one attempt:
    - a 206 must carry a Content-Range starting at N or before it (the extra bytes are skipped); one
      that is missing, malformed or starts after N is refused, never appended;
    - a 200 (a server ignoring Range) is read from its start and the first N bytes are dropped;
    - the total size (Content-Range, else Content-Length), ETag and Last-Modified must stay the same
      between the responses of one stream, else the resource "changed on the server during the read".
      A Content-Range overrides an earlier Content-Length: the body is framed by the range it declares;
    - read() returns b"" only at a confirmed end: the declared total reached, a 416 at that offset, or
      the clean end of a body of unknown length. When only a 200's Content-Length declared the total,
      one more `Range: bytes=END-` request confirms it: a 416 ends the stream, a 206 goes on reading.
    A failure is retried up to `max_retries` times in a row (a transfer that delivered bytes before it
    broke starts the count again, unless it was too slow), after exponential backoff with jitter or the
    server's Retry-After on 429/503, capped by max_backoff_s. A transfer slower than `min_bytes_per_s`
    is dropped and resumed. Nothing goes on after `deadline` (a `time.monotonic()` instant shared by
    every stream of one input; default now + deadline_s). Any failure raises InputError(redact_url(url),
    one-line reason, offset=the position reached), e.g. "server declared N bytes, the transfer ended at
    M": the bytes before M are good.

    What cannot be detected: a server that ignores Range and sends more than its Content-Length (httpx
    stops at the declared length, and the confirming request gets the same 200); a body of neither
    Content-Length nor Content-Range whose connection closes early; a server that sends wrong bytes
    under correct headers. The deadline is checked between reads, so one read may overshoot it by up
    to timeout_s.
    """

    def __init__(
        self, url: str, offset: int = 0, options: HttpOptions | None = None, deadline: float | None = None
    ) -> None:
        super().__init__()
        self.options = options or HttpOptions()
        self.display_url = redact_url(url)
        self.reconnects = 0
        self._url = url
        self._secrets = _secrets_in(url)
        self._deadline = time.monotonic() + self.options.deadline_s if deadline is None else deadline
        self._pos = offset
        self._total: int | None = None  # the resource's size, as declared
        self._total_from_length = False  # declared only by a 200's Content-Length, not by a Content-Range
        self._etag: str | None = None
        self._last_modified: str | None = None
        self._response: httpx.Response | None = None
        self._chunks: Iterator[bytes] = iter(())
        self._partial = False  # the open response is a 206
        self._body_end: int | None = None  # where the open response's body ends, when declared
        self._skip = 0  # bytes of the open response before self._pos
        self._progress = False  # the open response delivered bytes
        self._window_bytes = 0
        self._window_wait = 0.0
        self._pending = b""
        self._done = False
        self._failures = 0
        self._error: InputError | None = None
        self._jitter = random.Random()
        self._client: httpx.Client | None = None
        try:
            self._check_url()
            self._client = httpx.Client(
                timeout=self.options.timeout_s,
                headers={"User-Agent": self.options.user_agent},
                follow_redirects=True,
                limits=httpx.Limits(max_keepalive_connections=0),  # bytes past a wrong length never become a reply
            )
            self._next_chunk(open_only=True)
        except BaseException:
            self.close()
            raise

    @property
    def size(self) -> int | None:
        """The resource's total size as its server declared it, when known."""
        return self._total

    # -- io.RawIOBase -------------------------------------------------------------------
    def readable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._pos

    def readinto(self, buffer: memoryview) -> int:  # type: ignore[override]
        want = len(buffer)
        if want == 0:
            return 0
        if not self._pending:
            self._pending = self._next_chunk()
            if not self._pending:
                return 0
        n = min(want, len(self._pending))
        buffer[:n] = self._pending[:n]
        self._pending = self._pending[n:]
        self._pos += n
        return n

    def close(self) -> None:
        self._drop_response()
        if self._client is not None:
            self._client.close()
        super().close()

    # -- the request loop ---------------------------------------------------------------
    def _next_chunk(self, open_only: bool = False) -> bytes:
        """The next bytes at self._pos, or b"" once the end is confirmed (or, with open_only, a reply is open)."""
        if self._error is not None:
            raise self._error
        try:
            while not self._done:
                try:
                    if self._response is None:
                        self._request()
                        if open_only and (self._response is not None or self._done):
                            return b""
                        continue
                    chunk = self._read_body()
                    if chunk:
                        return chunk
                except _Retryable as failure:
                    self._drop_response()
                    self._wait_before_retry(failure)
            return b""
        except InputError as error:
            self._drop_response()
            self._error = error
            raise

    def _wait_before_retry(self, failure: _Retryable) -> None:
        if self._progress and not failure.slow:
            self._failures = 0  # a transfer that moved on starts a new count
        self._progress = False
        if self._failures >= self.options.max_retries:
            raise self._error_for(f"{failure.reason}; giving up after {self._failures + 1} attempts")
        wait = self.options.retry_wait(self._failures, failure.retry_after, self._jitter)
        if time.monotonic() + wait >= self._deadline:
            raise self._error_for(f"{self._deadline_reason()} while retrying after: {failure.reason}")
        self._failures += 1
        self.reconnects += 1
        log.warning(
            "%s at byte %d: %s; retrying in %.1fs (%d of %d)",
            self.display_url,
            self._pos,
            self._scrub(failure.reason),
            wait,
            self._failures,
            self.options.max_retries,
        )
        time.sleep(wait)

    def _request(self) -> None:
        """One HTTP request for the bytes from self._pos; leaves a response open, or the stream done."""
        assert self._client is not None
        timeout = min(self.options.timeout_s, self._time_left())
        headers = {"Range": f"bytes={self._pos}-", "Accept-Encoding": "identity"}
        try:
            request = self._client.build_request("GET", self._url, headers=headers, timeout=timeout)
            response = self._client.send(request, stream=True)
        except httpx.TooManyRedirects:
            raise self._error_for(f"too many redirects (more than {self._client.max_redirects}; a loop?)") from None
        except httpx.UnsupportedProtocol as exc:
            raise self._error_for(f"unsupported URL scheme after a redirect ({self._describe(exc)})") from None
        except httpx.TransportError as exc:
            raise _Retryable(self._describe(exc)) from None
        except (httpx.HTTPError, httpx.InvalidURL, ValueError) as exc:
            raise self._error_for(f"request failed: {self._describe(exc)}") from None
        try:
            self._accept(response)
        except BaseException:
            response.close()
            raise

    def _accept(self, response: httpx.Response) -> None:
        status = response.status_code
        if status in RETRY_STATUSES:
            wait = retry_after_s(response.headers.get("retry-after")) if status in _RETRY_AFTER_STATUSES else None
            response.close()
            raise _Retryable(f"HTTP {status}", retry_after=wait)
        if status in (200, 203, 206, 416):
            self._check_validators(response)
        if status == 416:
            response.close()
            self._at_unsatisfiable_range(response.headers.get("content-range"))
            return
        if status == 206:
            self._start_partial(response)
        elif status in (200, 203):
            if not self._start_whole(response):
                response.close()
                return
        else:
            response.close()
            reply = f"HTTP {status} {printable(response.reason_phrase)}".strip()
            raise self._error_for(reply if status >= 400 else f"unexpected reply {reply}")
        self._response = response
        self._chunks = response.iter_raw()  # chunks as they arrive, undecoded: a cut loses nothing
        self._progress = False
        self._window_bytes, self._window_wait = 0, 0.0

    def _check_validators(self, response: httpx.Response) -> None:
        etag = response.headers.get("etag")
        if etag is not None:
            if self._etag is not None and etag != self._etag:
                raise self._changed("its ETag changed")
            self._etag = etag
        modified = response.headers.get("last-modified")
        if modified is not None:
            if self._last_modified is not None and modified != self._last_modified:
                raise self._changed("its Last-Modified changed")
            self._last_modified = modified

    def _declare_total(self, size: int, by_content_range: bool) -> None:
        if self._total is not None and size != self._total:
            if not (by_content_range and self._total_from_length and size >= self._pos):
                raise self._changed(f"{size} bytes now, {self._total} before")
            log.warning(
                "%s: Content-Length declared %d bytes, Content-Range says %d; going by Content-Range",
                self.display_url,
                self._total,
                size,
            )
        if self._total is None:
            self._total_from_length = not by_content_range
        elif by_content_range:
            self._total_from_length = False
        self._total = size

    def _start_partial(self, response: httpx.Response) -> None:
        header = response.headers.get("content-range")
        match = _CONTENT_RANGE.fullmatch((header or "").strip())
        start, end = (int(match.group(1)), int(match.group(2))) if match else (0, -1)
        size = match.group(3) if match else "*"
        if not match or start > end or (size != "*" and end >= int(size)):
            shown = "none" if header is None else ascii(printable(header, 60))
            raise self._error_for(f"HTTP 206 without a valid Content-Range (got {shown})")
        if not start <= self._pos <= end:
            raise self._error_for(f"server sent bytes {start}-{end} for a request from byte {self._pos}")
        if size != "*":
            self._declare_total(int(size), by_content_range=True)
        self._partial = True
        self._skip = self._pos - start
        self._body_end = end + 1

    def _start_whole(self, response: httpx.Response) -> bool:
        """Set up reading a 200 from its start; False when it cannot add anything (its length is our end)."""
        length_header = response.headers.get("content-length", "").strip()
        length = int(length_header) if re.fullmatch(_NUMBER, length_header) else None
        if length is not None:
            if self._total is None and self._pos > length:
                raise self._error_for(f"offset {self._pos} is past the end of the resource ({length} bytes)")
            self._declare_total(length, by_content_range=False)
            if self._pos >= length:  # a server ignoring Range answered the confirming request: nothing more to learn
                self._done = True
                return False
        self._partial = False
        self._skip = self._pos
        self._body_end = length if length is not None else self._total
        return True

    def _at_unsatisfiable_range(self, header: str | None) -> None:
        """A 416 for bytes=N-: the end, if the resource has exactly N bytes."""
        match = _UNSATISFIED_RANGE.fullmatch((header or "").strip())
        size = int(match.group(1)) if match else None
        if size is None or size == self._pos:
            vouched = size is not None and self._total_from_length  # a 416 size corrects a Content-Length
            if self._total is not None and self._total != self._pos and not vouched:
                raise self._error_for(f"server declared {self._total} bytes, the transfer ended at {self._pos}")
            if size is not None:
                self._declare_total(size, by_content_range=True)
            self._done = True
        elif size < self._pos and self._total is None:
            raise self._error_for(f"offset {self._pos} is past the end of the resource ({size} bytes)")
        elif size < self._pos:
            raise self._changed(f"{size} bytes now, {self._total} before")
        else:
            raise self._error_for(f"server refused bytes {self._pos}- of its {size} bytes (HTTP 416)")

    def _read_body(self) -> bytes:
        """The next bytes of the open response at self._pos; b"" when none came (the response may have ended)."""
        if self._body_end is not None and self._pos >= self._body_end:
            return self._end_of_body()
        self._time_left()
        started = time.monotonic()
        try:
            chunk = next(self._chunks, None)
        except httpx.TransportError as exc:
            raise _Retryable(self._short_transfer(exc)) from None
        except httpx.HTTPError as exc:
            raise self._error_for(f"reading failed: {self._describe(exc)}") from None
        self._check_rate(len(chunk or b""), time.monotonic() - started)
        if chunk is None:
            return self._end_of_body()
        if self._skip:
            dropped = min(self._skip, len(chunk))
            self._skip -= dropped
            chunk = chunk[dropped:]
        if self._body_end is not None:
            chunk = chunk[: self._body_end - self._pos]
        self._progress = self._progress or bool(chunk)
        return chunk

    def _end_of_body(self) -> bytes:
        """The open response is over: decide between the end, asking for more, and a retry."""
        short = self._skip > 0 or (self._body_end is not None and self._pos < self._body_end)
        self._drop_response()
        if short:
            raise _Retryable(self._short_transfer(None))
        if self._total is None:
            self._done = not self._partial  # after a 206 of unknown total, ask on: a 416 ends it
        elif self._pos < self._total:
            if not self._partial:
                raise _Retryable(self._short_transfer(None))
            # a 206 that ended before the total: ask for the rest (no failure)
        elif not self._total_from_length:
            self._done = True
        # else: only a 200's Content-Length vouches for the end; the next request confirms it
        return b""

    def _check_rate(self, received: int, waited: float) -> None:
        if self.options.min_bytes_per_s <= 0:
            return
        self._window_bytes += received
        self._window_wait += waited
        if self._window_wait < self.options.rate_window_s:
            return
        rate = self._window_bytes / self._window_wait
        self._window_bytes, self._window_wait = 0, 0.0
        if rate < self.options.min_bytes_per_s:
            minimum, window = self.options.min_bytes_per_s, self.options.rate_window_s
            raise _Retryable(f"transfer slower than {minimum:g} bytes/s over {window:g} s ({rate:.0f})", slow=True)
        self._failures = 0  # a window at a good rate is progress

    # -- helpers ---------------------------------------------------------------------------
    def _check_url(self) -> None:
        try:
            parsed = httpx.URL(self._url)
        except (httpx.InvalidURL, ValueError, TypeError) as exc:
            detail = f" ({printable(str(exc))})" if not self._secrets else ""  # httpx may quote parts of it
            raise self._error_for(f"invalid URL{detail}") from None
        if parsed.scheme not in ("http", "https"):
            raise self._error_for(f"unsupported URL scheme {parsed.scheme!a} (only http and https)")
        if not parsed.host:
            raise self._error_for("invalid URL (no host)")

    def _time_left(self) -> float:
        left = self._deadline - time.monotonic()
        if left <= 0:
            raise self._error_for(self._deadline_reason())
        return left

    def _deadline_reason(self) -> str:
        return f"deadline of {self.options.deadline_s:g} s for this input passed"

    def _short_transfer(self, exc: Exception | None) -> str:
        declared = self._total if self._total is not None else self._body_end
        cause = f" ({self._describe(exc)})" if exc is not None else ""
        if declared is None:
            return f"the transfer broke off at byte {self._pos}{cause}"
        return f"server declared {declared} bytes, the transfer ended at {self._pos}{cause}"

    def _changed(self, detail: str) -> InputError:
        return self._error_for(f"changed on the server during the read ({detail})")

    def _describe(self, exc: Exception) -> str:
        if isinstance(exc, httpx.TimeoutException):
            return f"{type(exc).__name__} after {self.options.timeout_s:g} s"
        return self._scrub(str(exc)) or type(exc).__name__

    def _scrub(self, text: str) -> str:
        for secret in self._secrets:
            text = text.replace(secret, "***")
        return printable(" ".join(_URL_IN_TEXT.sub(lambda m: redact_url(m.group(0)), text).split()), 300)

    def _error_for(self, reason: str) -> InputError:
        return _input_error(self.display_url, self._scrub(reason), self._pos)

    def _drop_response(self) -> None:
        if self._response is not None:
            self._response.close()
            self._response = None
        self._chunks = iter(())


def fetch_bytes(url: str, options: HttpOptions | None = None) -> bytes:
    """Read a whole (small) HTTP resource, e.g. a `warc.paths.gz` listing, of at most options.max_bytes."""
    options = options or HttpOptions()
    with ResumableHttpStream(url, 0, options) as stream:
        too_big = f"more than the {options.max_bytes} bytes allowed for a listing"
        if stream.size is not None and stream.size > options.max_bytes:
            raise _input_error(stream.display_url, f"{stream.size} bytes, {too_big}", 0)
        data = bytearray()
        while chunk := stream.read(1 << 16):
            data += chunk
            if len(data) > options.max_bytes:
                raise _input_error(stream.display_url, too_big, len(data))
        return bytes(data)
