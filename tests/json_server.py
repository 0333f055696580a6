"""What the scripted JSON servers of the tests share (OpenAI-compatible, Perspective): a quiet
HTTP/1.1 handler that answers JSON or raw bytes with exact lengths."""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Reply:
    """One scripted answer: a status with headers and a body (raw bytes, or JSON when a dict)."""

    status: int
    body: bytes | dict[str, object] = b""
    headers: dict[str, str] = field(default_factory=dict)
    delay_s: float = 0.0


class ScriptedServer(ThreadingHTTPServer):
    """A threaded server on 127.0.0.1 with a lock for what handlers record, served from its own thread."""

    daemon_threads = True

    def __init__(self, handler: type[BaseHTTPRequestHandler]) -> None:
        super().__init__(("127.0.0.1", 0), handler)
        self.lock = threading.Lock()
        self.thread = threading.Thread(target=self.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)

    def handle_error(self, request: object, client_address: object) -> None:
        pass  # a client that timed out closed the connection before the delayed answer: expected

    def stop(self) -> None:
        self.shutdown()
        self.server_close()
        self.thread.join(timeout=5)


class JsonHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: object) -> None:
        pass

    def _send(self, status: int, body: bytes | dict[str, object], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(body).encode() if isinstance(body, dict) else body
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)
