"""A real OpenAI-compatible HTTP server on 127.0.0.1 with scripted faults per prompt."""

from __future__ import annotations

import json
import time
import urllib.parse
from dataclasses import dataclass

from json_server import JsonHandler, Reply, ScriptedServer


@dataclass
class Seen:
    path: str
    authorization: str | None
    body: dict[str, object]
    at: float
    done: float = float("inf")  # when the answer was sent


class FakeOpenAI(ScriptedServer):
    """Answers /v1/chat/completions and /v1/completions with `n` deterministic choices.

    `script[prompt]` lists replies served (and consumed) before the normal answer for that prompt;
    `queue` lists replies served (and consumed) in turn to requests for prompts without a script;
    `require_key` answers 401 to requests without `Authorization: Bearer KEY`; `max_choices` caps
    the choices returned, as a server that ignores `n` does (1) or one that returns none (0).

    A careless server echoes the request's Authorization header: in a scripted reply's body (JSON
    or raw bytes) and headers, `{auth}` is replaced by the header as received, `{auth_url}` by it
    URL-encoded and `{auth_repr}` by the repr of its bytes (b'Bearer ...')."""

    def __init__(self) -> None:
        super().__init__(_Handler)
        self.script: dict[str, list[Reply]] = {}
        self.queue: list[Reply] = []
        self.require_key: str | None = None
        self.max_choices: int | None = None
        self.delay_s = 0.0
        self.seen: list[Seen] = []

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/v1"

    def reset(self) -> None:
        self.script, self.queue, self.require_key, self.max_choices, self.delay_s = {}, [], None, None, 0.0
        self.seen = []

    def requests_for(self, prompt: str) -> list[Seen]:
        return [s for s in self.seen if _prompt(s.body) == prompt]

    def max_overlap(self, prompts: list[str]) -> int:
        """The most requests for `prompts` that were being answered at the same time."""
        spans = [s for s in self.seen if _prompt(s.body) in prompts]
        return max(sum(1 for o in spans if o.at <= s.at < o.done) for s in spans)


def _prompt(body: dict[str, object]) -> str:
    messages = body.get("messages")
    if isinstance(messages, list):
        return str(messages[-1]["content"])
    return str(body.get("prompt"))


class _Handler(JsonHandler):
    server: FakeOpenAI

    def _echo(self, text: str, json_escaped: bool = False) -> str:
        """`text` with the {auth} placeholders replaced by forms of the received Authorization header."""
        auth = self.headers.get("Authorization", "")
        forms = {"{auth}": auth, "{auth_url}": urllib.parse.quote(auth, safe=""),
                 "{auth_repr}": repr(auth.encode("utf-8"))}  # fmt: skip
        for placeholder, value in forms.items():
            text = text.replace(placeholder, json.dumps(value)[1:-1] if json_escaped else value)
        return text

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))) or b"{}")
        seen = Seen(self.path, self.headers.get("Authorization"), body, time.monotonic())
        with self.server.lock:
            self.server.seen.append(seen)
        try:
            self._answer(body)
        finally:
            seen.done = time.monotonic()

    def _answer(self, body: dict[str, object]) -> None:
        server = self.server
        chat = self.path == "/v1/chat/completions"
        if not chat and self.path != "/v1/completions":
            self._send(404, {"detail": "Not Found"})
            return
        if server.require_key is not None and self.headers.get("Authorization") != f"Bearer {server.require_key}":
            self._send(401, {"error": {"message": "Incorrect API key provided", "type": "invalid_request_error"}})
            return
        prompt = _prompt(body)
        with server.lock:
            replies = server.script.get(prompt) if prompt in server.script else server.queue
            reply = replies.pop(0) if replies else None
        if reply is not None:
            time.sleep(reply.delay_s)
            echo = self._echo
            body_out = reply.body
            if isinstance(body_out, dict):
                body_out = json.loads(echo(json.dumps(body_out), json_escaped=True))
            else:
                body_out = echo(body_out.decode("utf-8")).encode("utf-8")
            self._send(reply.status, body_out, {name: echo(value) for name, value in reply.headers.items()})
            return
        time.sleep(server.delay_s)
        n = int(str(body.get("n", 1)))
        if server.max_choices is not None:
            n = min(n, server.max_choices)
        seed = body.get("seed")
        texts = [f" continuation {i} (seed {seed}) of {prompt}" for i in range(n)]
        if chat:
            choices = [{"index": i, "message": {"role": "assistant", "content": t}, "finish_reason": "length"}
                       for i, t in enumerate(texts)]  # fmt: skip
        else:
            choices = [{"index": i, "text": t, "finish_reason": "stop"} for i, t in enumerate(texts)]
        self._send(200, {"id": "x", "object": "chat.completion" if chat else "text_completion",
                         "model": body.get("model"), "choices": choices})  # fmt: skip


def start_fake_openai() -> FakeOpenAI:
    server = FakeOpenAI()
    server.thread.start()
    return server
