"""Hostile HTTP servers against ResumableHttpStream: a real server on 127.0.0.1 misbehaving on purpose.

Every byte the stream returns is the resource's byte at that offset; whatever cannot be read ends
in an InputError naming the (redacted) URL and the offset, never a traceback.
"""

from __future__ import annotations

import email.utils
import logging
import time
from pathlib import Path

import pytest
from http_server import Fault, FileServer

from toxmine.miner.errors import ConfigError, InputError
from toxmine.miner.http import HttpOptions, ResumableHttpStream, fetch_bytes, redact_url, retry_after_s

FAST = HttpOptions(backoff_s=0.01, max_retries=3, timeout_s=5)


def _blob(root: Path, name: str = "blob.bin", size: int = 300_000, seed: int = 7919) -> bytes:
    data = bytes((i * seed) % 251 for i in range(size))
    (root / name).write_bytes(data)
    return data


def _read_all(stream: ResumableHttpStream) -> bytes:
    out = bytearray()
    while chunk := stream.read(1 << 16):
        out += chunk
    return bytes(out)


def _read_until_error(stream: ResumableHttpStream) -> tuple[bytes, InputError]:
    """What the stream delivered before it failed, and the failure."""
    out = bytearray()
    with pytest.raises(InputError) as info:
        while chunk := stream.read(1 << 16):
            out += chunk
    return bytes(out), info.value


def _read_exactly(stream: ResumableHttpStream, n: int) -> bytes:
    out = bytearray()
    while len(out) < n:
        chunk = stream.read(n - len(out))
        assert chunk
        out += chunk
    return bytes(out)


def _ranges(server: FileServer, path: str = "/blob.bin") -> list[str | None]:
    return [r for p, r in server.requests if p == path]


# -- ranges that do not fit ---------------------------------------------------------------
def test_206_starting_before_the_offset_is_skipped_forward(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root)
    http_server.faults["/blob.bin"] = Fault(cut_after=[100_000], shift_start=[0, -5_000])
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert _read_all(stream) == data


def test_206_starting_after_the_offset_is_never_appended(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root)
    url = f"{http_server.url}/blob.bin"
    http_server.faults["/blob.bin"] = Fault(cut_after=[100_000], shift_start=[0, 5_000])
    with ResumableHttpStream(url, options=FAST) as stream:
        got, error = _read_until_error(stream)
    assert got == data[: len(got)] and 0 < len(got) <= 100_000
    assert error.source == url and error.offset == len(got)
    assert f"for a request from byte {len(got)}" in error.reason


@pytest.mark.parametrize(
    ("content_range", "reason"),
    [
        ("bytes {start}-{end}/999999", "changed on the server during the read"),
        ("", "without a valid Content-Range"),
        ("bytes {start}-/{size}", "without a valid Content-Range"),
    ],
)
def test_206_with_a_wrong_content_range_is_refused(
    http_server: FileServer, http_root: Path, content_range: str, reason: str
) -> None:
    data = _blob(http_root)
    url = f"{http_server.url}/blob.bin"
    http_server.faults["/blob.bin"] = Fault(cut_after=[100_000], content_range=[None, content_range])
    with ResumableHttpStream(url, options=FAST) as stream:
        got, error = _read_until_error(stream)
    assert got == data[: len(got)] and error.offset == len(got) > 0
    assert error.source == url and reason in error.reason


def test_200_ignoring_range_after_a_cut_is_skipped(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root)
    http_server.faults["/blob.bin"] = Fault(cut_after=[100_000], ignore_range=[False, True])
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert _read_all(stream) == data
    assert len(_ranges(http_server)) == 2


# -- declared lengths that do not fit ---------------------------------------------------------
def test_content_length_smaller_than_the_body_is_read_whole(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root)
    http_server.faults["/blob.bin"] = Fault(length_delta=[-40_000])
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert _read_all(stream) == data


def test_short_content_length_of_a_200_is_caught_by_confirming_the_end(
    http_server: FileServer, http_root: Path
) -> None:
    data = _blob(http_root)
    http_server.faults["/blob.bin"] = Fault(length_delta=[-40_000], ignore_range=[True])
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert _read_all(stream) == data
    assert _ranges(http_server) == ["bytes=0-", f"bytes={len(data) - 40_000}-"]


def test_content_length_larger_than_the_body_keeps_every_byte(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root)
    http_server.faults["/blob.bin"] = Fault(length_delta=[41])
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert _read_all(stream) == data


def test_declared_length_larger_than_the_transfer_is_an_error_at_its_end(
    http_server: FileServer, http_root: Path
) -> None:
    data = _blob(http_root)
    url = f"{http_server.url}/blob.bin"
    http_server.honour_range = False
    http_server.faults["/blob.bin"] = Fault(length_delta=[41] * 10)
    with ResumableHttpStream(url, options=FAST) as stream:
        got, error = _read_until_error(stream)
    assert got == data
    assert error.source == url and error.offset == len(data)
    assert f"server declared {len(data) + 41} bytes, the transfer ended at {len(data)}" in error.reason


def test_a_content_range_corrects_a_wrong_content_length(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root)
    http_server.faults["/blob.bin"] = Fault(length_delta=[41], ignore_range=[True])
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert _read_all(stream) == data  # the 416 for bytes=300000- says the resource has 300000 bytes
    assert _ranges(http_server) == ["bytes=0-", f"bytes={len(data)}-"]


@pytest.mark.parametrize("new_size", [300_000, 310_000])
def test_a_file_changed_between_requests_is_an_error(http_server: FileServer, http_root: Path, new_size: int) -> None:
    data = _blob(http_root)
    url = f"{http_server.url}/blob.bin"
    http_server.faults["/blob.bin"] = Fault(cut_after=[50_000])
    with ResumableHttpStream(url, options=FAST) as stream:
        first = _read_exactly(stream, 10_000)
        _blob(http_root, size=new_size, seed=31)
        rest, error = _read_until_error(stream)
    assert first + rest == data[:50_000]
    assert error.source == url and error.offset == 50_000
    assert "changed on the server during the read" in error.reason


# -- slow servers ---------------------------------------------------------------------------
def test_a_trickling_server_is_given_up_below_the_minimum_rate(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root, size=200)
    url = f"{http_server.url}/blob.bin"
    http_server.faults["/blob.bin"] = Fault(trickle_s=0.2)
    options = HttpOptions(backoff_s=0.01, max_retries=1, timeout_s=5, min_bytes_per_s=100, rate_window_s=0.5)
    started = time.monotonic()
    with ResumableHttpStream(url, options=options) as stream:
        got, error = _read_until_error(stream)
    assert time.monotonic() - started < 3
    assert got == data[: len(got)] and error.offset == len(got) > 0
    assert error.source == url and "slower than 100 bytes/s" in error.reason
    assert len(_ranges(http_server)) == 2  # retried once from the current offset


def test_the_deadline_stops_a_trickle_that_is_fast_enough(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root, size=200)
    url = f"{http_server.url}/blob.bin"
    http_server.faults["/blob.bin"] = Fault(trickle_s=0.2)
    options = HttpOptions(backoff_s=0.01, timeout_s=5, min_bytes_per_s=0, deadline_s=0.7)
    started = time.monotonic()
    with ResumableHttpStream(url, options=options) as stream:
        got, error = _read_until_error(stream)
    assert 0.6 < time.monotonic() - started < 2
    assert got == data[: len(got)] and error.offset == len(got) > 0
    assert error.source == url and "deadline" in error.reason


def test_a_shared_deadline_already_passed_sends_no_request(http_server: FileServer, http_root: Path) -> None:
    _blob(http_root)
    with pytest.raises(InputError, match="deadline") as info:
        ResumableHttpStream(f"{http_server.url}/blob.bin", 1234, FAST, deadline=time.monotonic() - 1)
    assert info.value.offset == 1234 and http_server.requests == []


def test_retries_never_wait_past_the_deadline(http_server: FileServer, http_root: Path) -> None:
    _blob(http_root)
    http_server.faults["/blob.bin"] = Fault(statuses=[503] * 5, retry_after="30")
    options = HttpOptions(backoff_s=0.01, max_backoff_s=60, deadline_s=0.5)
    started = time.monotonic()
    with pytest.raises(InputError, match=r"deadline.*HTTP 503"):
        ResumableHttpStream(f"{http_server.url}/blob.bin", options=options)
    assert time.monotonic() - started < 1


# -- retries --------------------------------------------------------------------------------
def test_one_request_per_attempt(http_server: FileServer, http_root: Path) -> None:
    _blob(http_root)
    http_server.faults["/blob.bin"] = Fault(statuses=[503] * 10)
    with pytest.raises(InputError, match="giving up after 4 attempts"):
        ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST)
    assert len(http_server.requests) == 4
    http_server.requests.clear()
    http_server.faults["/blob.bin"] = Fault(statuses=[503], cut_after=[1_000])
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        _read_all(stream)
    assert len(http_server.requests) == 3


def test_failures_after_progress_are_still_counted(http_server: FileServer, http_root: Path) -> None:
    _blob(http_root)
    http_server.faults["/blob.bin"] = Fault(cut_after=[1_000])
    options = HttpOptions(backoff_s=0.01, max_retries=3, timeout_s=5, deadline_s=5)
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=options) as stream:
        _read_exactly(stream, 500)
        http_server.faults["/blob.bin"] = Fault(statuses=[503] * 10)
        got, error = _read_until_error(stream)
    assert len(got) == 500 and error.offset == 1_000 and "HTTP 503; giving up after 4 attempts" in error.reason
    assert len(http_server.requests) == 4  # the cut after progress is the first of 4 attempts


def test_offsets_at_and_past_the_end(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root, size=1_000)
    url = f"{http_server.url}/blob.bin"
    with ResumableHttpStream(url, 600, FAST) as stream:
        assert _read_all(stream) == data[600:]
    with ResumableHttpStream(url, 1_000, FAST) as stream:
        assert stream.read() == b"" and stream.size == 1_000
    with pytest.raises(InputError, match=r"offset 1010 is past the end of the resource \(1000 bytes\)"):
        ResumableHttpStream(url, 1_010, FAST)


@pytest.mark.parametrize("status", [429, 503])
def test_retry_after_is_honoured(http_server: FileServer, http_root: Path, status: int) -> None:
    data = _blob(http_root, size=1_000)
    http_server.faults["/blob.bin"] = Fault(statuses=[status], retry_after="1")
    started = time.monotonic()
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert _read_all(stream) == data
    assert 0.95 < time.monotonic() - started < 2


def test_retry_after_is_capped_by_the_longest_backoff(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root, size=1_000)
    http_server.faults["/blob.bin"] = Fault(statuses=[503], retry_after="3600")
    started = time.monotonic()
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=HttpOptions(max_backoff_s=0.3)) as stream:
        assert _read_all(stream) == data
    assert 0.25 < time.monotonic() - started < 1.5


def test_retry_after_parser() -> None:
    assert retry_after_s(None) is None and retry_after_s("") is None and retry_after_s("soon") is None
    assert retry_after_s("5") == 5.0 and retry_after_s(" 2.5 ") == 2.5 and retry_after_s("-3") == 0.0
    later = email.utils.formatdate(time.time() + 100, usegmt=True)
    assert 95 < (retry_after_s(later) or 0) <= 100
    assert retry_after_s("Wed, 21 Oct 2015 07:28:00 GMT") == 0.0


# -- URLs that cannot be fetched --------------------------------------------------------------
def test_a_redirect_loop_is_an_error(http_server: FileServer) -> None:
    http_server.redirects.update({"/a.warc.gz": "/b.warc.gz", "/b.warc.gz": "/a.warc.gz"})
    url = f"{http_server.url}/a.warc.gz"
    with pytest.raises(InputError, match="too many redirects") as info:
        ResumableHttpStream(url, options=FAST)
    assert info.value.source == url and info.value.offset == 0
    assert len(http_server.requests) <= 21  # one attempt, not retried


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://[::1/x.warc.gz", "invalid URL"),
        ("http://", "invalid URL"),
        ("ftp://127.0.0.1/x.warc.gz", "unsupported URL scheme 'ftp'"),
        ("file:///etc/passwd", "unsupported URL scheme 'file'"),
    ],
)
def test_urls_that_cannot_be_fetched(url: str, reason: str) -> None:
    with pytest.raises(InputError) as info:
        ResumableHttpStream(url, options=FAST)
    assert info.value.source == url and info.value.offset == 0 and reason in info.value.reason


def test_a_redirect_to_another_scheme_is_not_retried(http_server: FileServer) -> None:
    http_server.redirects["/x.warc.gz"] = "ftp://127.0.0.1/x.warc.gz"
    with pytest.raises(InputError, match="unsupported URL scheme"):
        ResumableHttpStream(f"{http_server.url}/x.warc.gz", options=FAST)
    assert len(http_server.requests) == 1


def test_listing_larger_than_the_limit_is_refused(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root, "paths.txt", size=5_000)
    assert fetch_bytes(f"{http_server.url}/paths.txt", HttpOptions(max_bytes=5_000)) == data
    with pytest.raises(InputError, match="more than the 4999 bytes allowed"):
        fetch_bytes(f"{http_server.url}/paths.txt", HttpOptions(max_bytes=4_999))


# -- secrets ----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("https://alice:pw0rd@host.example/a/b.warc.gz", "https://***@host.example/a/b.warc.gz"),
        ("https://tok3n@host.example:8443/x", "https://***@host.example:8443/x"),
        (
            "https://b.s3.amazonaws.com/x.warc.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIA%2F1"
            "&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=ab12",
            "https://b.s3.amazonaws.com/x.warc.gz?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=***"
            "&X-Amz-Date=20240101T000000Z&X-Amz-Expires=3600&X-Amz-SignedHeaders=host&X-Amz-Signature=***",
        ),
        (
            "https://storage.googleapis.com/b/x?X-Goog-Credential=sa%40p&X-Goog-Signature=0f0f&page=2",
            "https://storage.googleapis.com/b/x?X-Goog-Credential=***&X-Goog-Signature=***&page=2",
        ),
        (
            "https://acct.blob.core.windows.net/c/x.warc.gz?sv=2022-11-02&sp=r&sig=Zm9v%3D",
            "https://acct.blob.core.windows.net/c/x.warc.gz?sv=2022-11-02&sp=r&sig=***",
        ),
        (
            "http://h/x?token=a&key=b&api_key=c&AWSAccessKeyId=d&n=1",
            "http://h/x?token=***&key=***&api_key=***&AWSAccessKeyId=***&n=1",
        ),
        ("http://u:p@[::1/x?access_token=zz", "http://***@[::1/x?access_token=***"),
        ("http://h/x.warc.gz", "http://h/x.warc.gz"),
    ],
)
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


SECRETS = ("alice", "pw0rd", "deadbeefsig", "AKIAXYZ", "tok123")


@pytest.mark.parametrize("case", ["404", "503", "redirect-loop", "cut-and-changed", "invalid", "deadline"])
def test_no_secret_reaches_an_error_or_a_log(
    http_server: FileServer, http_root: Path, caplog: pytest.LogCaptureFixture, case: str
) -> None:
    _blob(http_root)
    query = "?X-Amz-Signature=deadbeefsig&X-Amz-Credential=AKIAXYZ&token=tok123&keep=1"
    host = http_server.url.removeprefix("http://")
    path = {"404": "/gone.bin", "redirect-loop": "/loop.bin"}.get(case, "/blob.bin")
    url = f"http://alice:pw0rd@{host}{path}{query}"
    options = FAST
    if case == "503":
        http_server.faults["/blob.bin"] = Fault(statuses=[503] * 10)
    elif case == "redirect-loop":
        http_server.redirects["/loop.bin"] = f"http://alice:pw0rd@{host}/loop.bin{query}"
    elif case == "cut-and-changed":
        http_server.faults["/blob.bin"] = Fault(cut_after=[1_000], content_range=[None, "bytes {start}-{end}/7"])
    elif case == "invalid":
        url = f"http://alice:pw0rd@[::1{path}{query}"
    elif case == "deadline":
        http_server.faults["/blob.bin"] = Fault(trickle_s=0.1)
        options = HttpOptions(timeout_s=5, deadline_s=0.3)
    caplog.set_level(logging.DEBUG, logger="toxmine")
    with pytest.raises(InputError) as info, ResumableHttpStream(url, options=options) as stream:
        _read_all(stream)
    shown = f"{info.value}\n{caplog.text}"
    assert "keep=1" in str(info.value) and "***" in str(info.value)
    assert not [secret for secret in SECRETS if secret in shown]


# -- options ----------------------------------------------------------------------------------
def test_cli_flags_build_the_http_options() -> None:
    from toxmine.cli import _http_options, build_parser

    args = build_parser().parse_args(
        ["mine", "x.warc.gz", "--db", "x.duckdb", "--http-deadline", "90", "--http-min-rate", "0"]
    )
    options = _http_options(args)
    assert (options.deadline_s, options.min_bytes_per_s, options.rate_window_s) == (90.0, 0.0, 60.0)
    defaults = _http_options(build_parser().parse_args(["mine", "x.warc.gz", "--db", "x.duckdb"]))
    assert (defaults.deadline_s, defaults.min_bytes_per_s, defaults.max_bytes) == (14_400.0, 1024.0, 256 << 20)


@pytest.mark.parametrize("bad", [{"deadline_s": 0}, {"min_bytes_per_s": -1}, {"rate_window_s": 0}, {"max_bytes": 0}])
def test_bad_http_options_are_a_config_error(bad: dict[str, float]) -> None:
    with pytest.raises(ConfigError, match=next(iter(bad))):
        HttpOptions(**bad)  # type: ignore[arg-type]
