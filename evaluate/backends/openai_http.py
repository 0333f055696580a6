"""Continuations from an OpenAI-compatible HTTP endpoint (OpenAI, vLLM, TGI, llama.cpp, `transformers serve`).

Spec: `openai:MODEL@BASE_URL` (the base URL includes `/v1`), or `openai:MODEL` with the URL from the
`base_url` option or `$OPENAI_BASE_URL`. One request per prompt asks for `n=k` samples; servers that
return fewer choices are asked again for the rest with other seeds. 429, 5xx, timeouts and dropped
connections are retried with exponential backoff and jitter (`Retry-After` honoured, waits capped).
Rejected credentials (401/403), a wrong path (404), a redirect and an unreachable server raise ConfigError,
which aborts the run; any other failure of one prompt becomes that prompt's recorded error.
The API key is read from an environment variable (`read_api_key`: surrounding whitespace stripped, a key
with whitespace or control characters inside refused) and never logged, stored or put in a message: every
message built from an exception or from the server's answer (error bodies, headers, finish reasons, texts)
is redacted before it is cut to length, so a server echoing the key back cannot get it stored.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import re
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

import httpx

from toxmine.miner.errors import ConfigError
from toxmine.miner.http import RETRY_STATUSES, HttpOptions, redact_url, retry_after_s

from ..params import GenerationParams
from ..redaction import read_api_key, redact
from .base import Completion
from .prompting import chat_messages

__all__ = ["OpenAIBackend", "split_spec"]

log = logging.getLogger(__name__)

BASE_URL_ENV = "OPENAI_BASE_URL"
_SPEC = re.compile(r"(?P<model>.+?)@(?P<url>https?://.+)")
_MESSAGE_CHARS = 300


def split_spec(model: str, base_url: str | None = None) -> tuple[str, str]:
    """`MODEL@URL` -> (model name, base URL); without `@URL` the URL is `base_url` or `$OPENAI_BASE_URL`."""
    match = _SPEC.fullmatch(model)
    name, url = (match["model"], match["url"]) if match else (model, base_url or os.environ.get(BASE_URL_ENV))
    if not url:
        raise ConfigError(f"openai:{model}: no base URL; give openai:{model}@URL (e.g. http://127.0.0.1:8000/v1) "
                          f"or set ${BASE_URL_ENV}")  # fmt: skip
    try:
        parsed = httpx.URL(url)
    except httpx.InvalidURL as exc:
        raise ConfigError(f"openai:{name}: invalid base URL ({exc})") from exc
    if parsed.scheme not in ("http", "https") or not parsed.host:
        raise ConfigError(f"openai:{name}: the base URL must be http(s)://HOST[:PORT]/PATH, got {parsed.scheme}://…")
    if parsed.userinfo or parsed.query or parsed.fragment:
        # the model spec is stored with the results: a credential in it would be stored too
        raise ConfigError(f"openai:{name}: the base URL must hold no credentials, query or fragment; "
                          "give the API key in an environment variable (--api-key-env)")  # fmt: skip
    return name, str(parsed).rstrip("/")


@dataclass(frozen=True)
class _Failure:
    """Why one request failed for good (the message recorded with the prompt's samples)."""

    message: str


@dataclass
class _Call:
    """What the requests of one `generate()` call share."""

    client: httpx.AsyncClient
    slots: asyncio.Semaphore
    params: GenerationParams
    path: str
    key: str | None = field(default=None, repr=False)


class OpenAIBackend:
    """Samples k continuations per prompt from chat or legacy completions, concurrently."""

    name = "openai"

    def __init__(
        self,
        model: str,
        base_url: str | None = None,
        api_key_env: str = "OPENAI_API_KEY",
        concurrency: int = 8,
        timeout_s: float = 60.0,
        max_retries: int = 5,
        backoff_s: float = 1.0,
        max_wait_s: float = 30.0,
    ) -> None:
        self.model = model  # the spec's model part as given: stored with the results, never a key
        self.model_name, self.base_url = split_spec(model, base_url)
        if concurrency < 1 or max_retries < 0 or timeout_s <= 0 or backoff_s < 0 or max_wait_s < 0:
            raise ConfigError(f"openai:{model}: need concurrency >= 1, max_retries >= 0, timeout_s > 0 and "
                              f"non-negative waits, got {concurrency}, {max_retries}, {timeout_s}, {backoff_s}, "
                              f"{max_wait_s}")  # fmt: skip
        self.api_key_env = api_key_env
        read_api_key(api_key_env)  # a malformed key fails here, before anything is sent
        self.concurrency = concurrency
        self.http = HttpOptions(timeout_s=timeout_s, max_retries=max_retries, backoff_s=backoff_s,
                                max_backoff_s=max_wait_s)  # fmt: skip
        self._jitter = random.Random()

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        if not prompts:
            return []
        try:
            asyncio.get_running_loop()
        except RuntimeError:  # the usual case: no event loop in this thread
            return asyncio.run(self._generate(list(prompts), params))
        with ThreadPoolExecutor(1) as pool:  # called from async code (a notebook): run beside its loop
            return pool.submit(asyncio.run, self._generate(list(prompts), params)).result()

    async def _generate(self, prompts: list[str], params: GenerationParams) -> list[list[Completion]]:
        key = read_api_key(self.api_key_env)
        headers = {"User-Agent": self.http.user_agent}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        async with httpx.AsyncClient(headers=headers, timeout=self.http.timeout_s) as client:
            path = "/completions" if params.chat is False else "/chat/completions"
            call = _Call(client, asyncio.Semaphore(self.concurrency), params, path, key)
            tasks = [asyncio.create_task(self._samples(call, prompt)) for prompt in prompts]
            try:
                return list(await asyncio.gather(*tasks))
            except BaseException:  # a ConfigError (or an interrupt) stops the requests still running
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
                raise

    def _payload(self, call: _Call, prompt: str, n: int, seed: int) -> dict[str, Any]:
        params = call.params
        payload: dict[str, Any] = {"model": self.model_name}
        if call.path == "/completions":
            payload["prompt"] = prompt
        else:
            payload["messages"] = chat_messages(prompt)  # a Conversation's turns, else one user turn
        payload.update(temperature=params.temperature, top_p=params.top_p, max_tokens=params.max_new_tokens,
                       n=n, seed=seed)  # fmt: skip
        if params.top_k:  # not an OpenAI field; vLLM, TGI and llama.cpp servers read it. Off: left out
            payload["top_k"] = params.top_k
        return payload

    def provenance(self, params: GenerationParams) -> dict[str, object]:
        """What decides the samples besides `params`: the endpoint and which API (chat or completions)."""
        return {
            "model_revision": f"endpoint:{redact_url(self.base_url)}",
            "chat_effective": params.chat is not False,
            "sampling_seed": "seed + attempt, sent to the server",
        }

    async def _samples(self, call: _Call, prompt: str) -> list[Completion]:
        """k completions for one prompt; servers that ignore `n` are asked again (at most k more times)."""
        k = call.params.k
        samples: list[Completion] = []
        for attempt in range(k + 1):
            missing = k - len(samples)
            data = await self._post(call, self._payload(call, prompt, missing, call.params.seed + attempt))
            choices = data if isinstance(data, _Failure) else self._choices(call, data)
            if isinstance(choices, _Failure):
                return samples + [Completion(None, error=choices.message)] * missing
            samples += choices[:missing]
            if len(samples) == k:
                return samples
        error = f"server returned only {len(samples)} of {k} choices"
        return samples + [Completion(None, error=error)] * (k - len(samples))

    def _choices(self, call: _Call, data: object) -> list[Completion] | _Failure:
        """The completions in a response body, or why it has none."""
        choices = data.get("choices") if isinstance(data, dict) else None
        if not isinstance(choices, list):
            return _Failure(f"unexpected response from {self.base_url}{call.path}: {_shown(str(data))}")
        out = []
        for choice in choices:
            text: object = None
            if isinstance(choice, dict):
                message = choice.get("message")
                text = message.get("content") if isinstance(message, dict) else choice.get("text")
            if isinstance(text, str):
                out.append(Completion(redact(text)))  # a proxy may echo the request's headers in the text
            else:
                reason = choice.get("finish_reason") if isinstance(choice, dict) else None
                out.append(Completion(None, error=f"a choice without text (finish_reason {_shown(str(reason))})"))
        return out

    async def _post(self, call: _Call, payload: dict[str, Any]) -> object:
        """The decoded JSON body of a successful answer, or why this prompt failed."""
        url = f"{self.base_url}{call.path}"
        failure, unreachable = "", False
        for attempt in range(self.http.max_retries + 1):
            retry_after: float | None = None
            unreachable = False
            try:
                async with call.slots:
                    response = await call.client.post(url, json=payload)
            except (httpx.ConnectError, httpx.ConnectTimeout) as exc:
                failure = f"cannot connect to {url} ({type(exc).__name__}: {_shown(str(exc))})"
                unreachable = True
            except httpx.TimeoutException:
                failure = f"no answer from {url} within {self.http.timeout_s:g}s"
            except httpx.TransportError as exc:
                failure = f"connection to {url} failed ({_shown(str(exc)) or type(exc).__name__})"
            except httpx.HTTPError as exc:  # e.g. a body that does not decode as its Content-Encoding says
                return _Failure(f"bad answer from {url} ({type(exc).__name__}: {_shown(str(exc))})")
            else:
                status = response.status_code
                if 200 <= status < 300:
                    body = _json(response)
                    if isinstance(body, _Failure):
                        return _Failure(f"malformed JSON from {url}: {body.message}")
                    return body
                self._raise_for_config(call, response)
                failure = f"HTTP {status} from {url}: {_server_message(response)}"
                if status not in RETRY_STATUSES:
                    return _Failure(failure)  # 400 (e.g. the prompt exceeds the context), 422...: this prompt only
                retry_after = retry_after_s(response.headers.get("Retry-After"))
            if attempt == self.http.max_retries:
                break
            wait = self.http.retry_wait(attempt, retry_after, self._jitter)
            log.warning("%s; retrying in %.1fs (%d of %d)", failure, wait, attempt + 1, self.http.max_retries)
            await asyncio.sleep(wait)
        if unreachable:
            raise ConfigError(f"{url}: unreachable after {self.http.max_retries + 1} attempts; is the server "
                              f"running? ({failure})")  # fmt: skip
        return _Failure(f"{failure} (gave up after {self.http.max_retries + 1} attempts)")

    def _raise_for_config(self, call: _Call, response: httpx.Response) -> None:
        """Errors no retry and no other prompt would fix: abort the run with one clear line."""
        url = f"{self.base_url}{call.path}"
        status = response.status_code
        if status in (401, 403):
            given = f"the key in ${self.api_key_env}" if call.key else f"no key (${self.api_key_env} is not set)"
            raise ConfigError(f"{url}: HTTP {status}, the server refused {given}; set ${self.api_key_env} "
                              "or name another variable with --api-key-env")  # fmt: skip
        if 300 <= status < 400:
            where = _shown(response.headers.get("Location", "elsewhere"))
            raise ConfigError(f"{url}: HTTP {status}, redirected to {where}; give the final base URL")
        if status == 404:
            raise ConfigError(f"{url}: HTTP 404 ({_server_message(response)}); check the base URL (it includes /v1) "
                              f"and the model name {self.model_name!r}")  # fmt: skip


def _shown(text: str) -> str:
    """Server-controlled or exception text fit for a message: redacted, then cut (so that no part of a
    secret is left by the cut)."""
    return redact(text)[:_MESSAGE_CHARS]


def _json(response: httpx.Response) -> object:
    """The decoded JSON body of an answer, or why it has none (the body, shown)."""
    try:
        return response.json()
    except (ValueError, RecursionError):  # RecursionError: nested too deeply
        return _Failure(repr(_shown(response.text)))


def _server_message(response: httpx.Response) -> str:
    """The error text of an answer: OpenAI's error.message, TGI's error, FastAPI's detail, or the body."""
    body = _json(response)
    if isinstance(body, _Failure):
        return _shown(response.text) or response.reason_phrase
    if isinstance(body, dict):
        error = body.get("error")
        for value in (error.get("message") if isinstance(error, dict) else error, body.get("detail"),
                      body.get("message")):  # fmt: skip
            if value:
                return _shown(str(value))
    return _shown(str(body))
