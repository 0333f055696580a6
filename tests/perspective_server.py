"""A real Perspective API server on 127.0.0.1: `POST /v1alpha1/comments:analyze?key=KEY`, with scripted faults.

It answers like Google's: a TOXICITY summary score (0.92 for a text holding "idiot", else 0.08, or
`scores[text]`), 400 LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE for a language outside `supported` (the
request's `languages`, else the one "detected": `detect[text]`, default en), 400 COMMENT_EMPTY, 400
API_KEY_INVALID for a wrong key, 403 for a missing one. `script[text]` lists replies served (and
consumed) before the normal answer for that text. Every request is recorded in `seen`.
"""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass

from json_server import JsonHandler, Reply, ScriptedServer

PATH = "/v1alpha1/comments:analyze"


@dataclass
class Seen:
    path: str
    key: str | None
    body: dict[str, object]
    at: float
    done: float = float("inf")

    @property
    def text(self) -> str:
        return str(self.body["comment"]["text"])  # type: ignore[index]


def google_error(code: int, status: str, message: str, error_type: str | None = None,
                 reason: str | None = None) -> dict[str, object]:  # fmt: skip
    """An error body as Google APIs send it (errorType: Perspective's own; reason: google.rpc.ErrorInfo)."""
    details: list[dict[str, object]] = []
    if error_type:
        details.append({"@type": "type.googleapis.com/google.commentanalyzer.v1alpha1.Error",
                        "errorType": error_type})  # fmt: skip
    if reason:
        details.append({"@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": reason,
                        "domain": "googleapis.com"})  # fmt: skip
    return {"error": {"code": code, "message": message, "status": status, "details": details}}


class FakePerspective(ScriptedServer):
    def __init__(self, key: str | None) -> None:
        super().__init__(_Handler)
        self.key = key
        self.supported = {"en", "de"}
        self.detect: dict[str, str] = {}
        self.scores: dict[str, float] = {}
        self.script: dict[str, list[Reply]] = {}
        self.delay_s = 0.0
        self.seen: list[Seen] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}{PATH}"

    def requests_for(self, text: str) -> list[Seen]:
        return [s for s in self.seen if s.text == text]

    def max_overlap(self) -> int:
        """The most requests that were being answered at the same time."""
        return max((sum(1 for o in self.seen if o.at <= s.at < o.done) for s in self.seen), default=0)


class _Handler(JsonHandler):
    server: FakePerspective

    def do_POST(self) -> None:
        url = urllib.parse.urlsplit(self.path)
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        key = urllib.parse.parse_qs(url.query).get("key", [None])[0]
        seen = Seen(url.path, key, body, time.monotonic())
        with self.server.lock:
            self.server.seen.append(seen)
        try:
            self._answer(url.path, key, body)
        finally:
            seen.done = time.monotonic()

    def _answer(self, path: str, key: str | None, body: dict[str, object]) -> None:
        server = self.server
        if path != PATH:
            self._send(404, b"<html>Not Found</html>")
            return
        if server.key is not None and key is None:
            self._send(403, google_error(403, "PERMISSION_DENIED", "The request is missing a valid API key."))
            return
        if server.key is not None and key != server.key:
            self._send(400, google_error(400, "INVALID_ARGUMENT", "API key not valid. Please pass a valid API key.",
                                         reason="API_KEY_INVALID"))  # fmt: skip
            return
        text = str(body["comment"]["text"])  # type: ignore[index]
        with server.lock:
            replies = server.script.get(text)
            reply = replies.pop(0) if replies else None
        if reply is not None:
            time.sleep(reply.delay_s)
            self._send(reply.status, reply.body, reply.headers)
            return
        time.sleep(server.delay_s)
        if not text:
            self._send(400, google_error(400, "INVALID_ARGUMENT", "Comment must be non-empty.", "COMMENT_EMPTY"))
            return
        languages = body.get("languages") or [server.detect.get(text, "en")]
        unsupported = [lang for lang in languages if lang not in server.supported]  # type: ignore[union-attr]
        if unsupported:
            message = f"Attribute TOXICITY does not support request languages: {','.join(unsupported)}"
            self._send(400, google_error(400, "INVALID_ARGUMENT", message, "LANGUAGE_NOT_SUPPORTED_BY_ATTRIBUTE"))
            return
        value = server.scores.get(text, 0.92 if "idiot" in text.lower() else 0.08)
        score = {"value": value, "type": "PROBABILITY"}
        spans = [{"begin": 0, "end": len(text), "score": score}]
        self._send(200, {"attributeScores": {"TOXICITY": {"spanScores": spans, "summaryScore": score}},
                         "languages": languages, "detectedLanguages": languages})  # fmt: skip


def start_fake_perspective(key: str | None = "test-perspective-key-0123456789") -> FakePerspective:
    server = FakePerspective(key)
    server.thread.start()
    return server
