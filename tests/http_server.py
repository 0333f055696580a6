"""A real HTTP server on 127.0.0.1 serving a folder, with Range support and injectable faults."""

from __future__ import annotations

import email.utils
import hashlib
import re
import sys
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import TypeVar

_T = TypeVar("_T")


@dataclass
class Fault:
    """Misbehaviour for one path.

    `statuses` are answered first, one per request. The other lists are consumed one entry per
    request that gets a body (the first entry for the first such request, and so on); an empty
    list means normal behaviour.
    """

    statuses: list[int] = field(default_factory=list)  # answered (and consumed) one per request
    retry_after: str | None = None  # Retry-After header sent with each of `statuses`
    cut_after: list[int] = field(default_factory=list)  # body bytes sent before dropping, per request
    shift_start: list[int] = field(default_factory=list)  # a 206 starts this many bytes off the asked offset
    # Content-Range of a 206: None = the right one, "" = none, else a template with {start} {end} {size}
    content_range: list[str | None] = field(default_factory=list)
    length_delta: list[int] = field(default_factory=list)  # Content-Length off by this much (then close)
    ignore_range: list[bool] = field(default_factory=list)  # answer 200 with the whole body to a Range request
    trickle_s: float = 0.0  # seconds between single body bytes
    trickle_from: int = 0  # only bodies starting at or after this byte are trickled


class FileServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, root: Path) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.root = root
        self.faults: dict[str, Fault] = {}
        self.redirects: dict[str, str] = {}  # path -> Location of a 302
        self.honour_range = True
        self.requests: list[tuple[str, str | None]] = []
        self.bytes_sent = 0  # body bytes written, over every request

    def handle_error(self, request: object, client_address: object) -> None:
        if not isinstance(sys.exc_info()[1], OSError):  # a client closing early is normal here
            super().handle_error(request, client_address)  # type: ignore[arg-type]

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}"


def _next(values: list[_T], default: _T) -> _T:
    return values.pop(0) if values else default


class _Handler(BaseHTTPRequestHandler):
    server: FileServer
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _empty_reply(self, status: int, headers: dict[str, str] | None = None) -> None:
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def do_GET(self) -> None:
        path = self.path.split("?", 1)[0]
        range_header = self.headers.get("Range")
        self.server.requests.append((path, range_header))
        if path in self.server.redirects:
            self._empty_reply(302, {"Location": self.server.redirects[path]})
            return
        fault = self.server.faults.get(path) or Fault()
        if fault.statuses:
            status = fault.statuses.pop(0)
            self._empty_reply(status, {"Retry-After": fault.retry_after} if fault.retry_after else None)
            return
        file = (self.server.root / path.lstrip("/")).resolve()
        if not file.is_file() or self.server.root.resolve() not in file.parents:
            self._empty_reply(404)
            return
        data = file.read_bytes()
        validators = {
            "ETag": f'"{hashlib.sha1(data).hexdigest()[:16]}"',
            "Last-Modified": email.utils.formatdate(file.stat().st_mtime, usegmt=True),
        }
        shift = _next(fault.shift_start, 0)
        content_range = _next(fault.content_range, None)
        delta = _next(fault.length_delta, 0)
        ignore_range = _next(fault.ignore_range, not self.server.honour_range)
        cut = _next(fault.cut_after, None)
        start, end = 0, len(data) - 1
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", range_header or "")
        if match and not ignore_range:
            start = int(match.group(1))
            if start >= len(data):
                self._empty_reply(416, {"Content-Range": f"bytes */{len(data)}", **validators})
                return
            if match.group(2):
                end = min(end, int(match.group(2)))
            start = max(0, start + shift)
            self.send_response(206)
            if content_range is None:
                content_range = "bytes {start}-{end}/{size}"
            if content_range:
                self.send_header("Content-Range", content_range.format(start=start, end=end, size=len(data)))
        else:
            self.send_response(200)
        body = data[start : end + 1]
        self.send_header("Content-Type", "application/octet-stream")
        self.send_header("Content-Length", str(max(0, len(body) + delta)))
        self.send_header("Accept-Ranges", "bytes")
        for name, value in validators.items():
            self.send_header(name, value)
        self.end_headers()
        try:
            trickle_s = fault.trickle_s if start >= fault.trickle_from else 0.0
            self._send_body(body if cut is None else body[:cut], trickle_s)
        except OSError:  # the client went away
            self.close_connection = True
            return
        if cut is not None or delta:
            self.close_connection = True
            self.connection.shutdown(2)

    def _send_body(self, body: bytes, trickle_s: float) -> None:
        self.server.bytes_sent += len(body)
        if not trickle_s:
            self.wfile.write(body)
            self.wfile.flush()
            return
        for i in range(len(body)):
            self.wfile.write(body[i : i + 1])
            self.wfile.flush()
            time.sleep(trickle_s)


def start_server(root: Path) -> tuple[FileServer, threading.Thread]:
    server = FileServer(root)
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    return server, thread
