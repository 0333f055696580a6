"""The OpenAI-compatible HTTP backend: a real `transformers serve` on a tiny local model, and a real
fault-injecting server (rate limits, 5xx, ignored `n`, malformed JSON, 400/401/404, timeouts)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import duckdb
import httpx
import pytest
from corpora import mined_corpus
from openai_server import FakeOpenAI, Reply
from plugin_scorers import HashScorer
from tiny_models import build_tiny_causal_lm
from warc_builder import RealPage

from toxmine.evaluate.backends import Backend, Completion, create_backend, parse_model_spec
from toxmine.evaluate.params import GenerationParams
from toxmine.evaluate.run import EvalSelection, run_eval
from toxmine.miner.errors import ConfigError
from toxmine.miner.split import SplitOptions
from toxmine.miner.store import Store

CHAT = (
    "{% for m in messages %}{{ m['role'] }}: {{ m['content'] }} {% endfor %}"
    "{% if add_generation_prompt %}assistant:{% endif %}"
)
KEY = "sk-toxmine-test-7f3a9c1e5b"  # distinctive: found anywhere it leaked
KEY_ENV = "TOXMINE_TEST_API_KEY"
SELECTION = EvalSelection(SplitOptions(per_bucket=2, langs=["de", "en"], scorer="hash"), limit=4)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture(scope="module")
def served_lm(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    """`transformers serve` pinned to a tiny local chat model: (model path, base URL)."""
    folder = tmp_path_factory.mktemp("serve")
    model = build_tiny_causal_lm(folder / "lm", chat_template=CHAT)
    # `transformers serve` samples only when the model's generation config says so (temperature and top_p
    # alone leave it greedy); instruct models usually ship do_sample=true, the tiny one is given it here
    from transformers import GenerationConfig

    config = GenerationConfig.from_pretrained(model)
    config.do_sample = True
    config.save_pretrained(model)
    port = _free_port()
    log_path = folder / "serve.log"
    command = [str(Path(sys.executable).with_name("transformers")), "serve", str(model), "--host", "127.0.0.1",
               "--port", str(port), "--device", "cpu", "--default-seed", "0"]  # fmt: skip
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": "1"}
    with log_path.open("wb") as log:
        server = subprocess.Popen(command, stdout=log, stderr=subprocess.STDOUT, env=env)
    try:
        deadline = time.monotonic() + 120
        while True:
            if server.poll() is not None:
                pytest.fail(f"transformers serve exited with {server.returncode}:\n{log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"transformers serve not ready in 120 s:\n{log_path.read_text()[-3000:]}")
            time.sleep(0.2)
        yield str(model), f"http://127.0.0.1:{port}/v1"
    finally:
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@pytest.fixture
def api(fake_server: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> FakeOpenAI:
    fake_server.reset()
    monkeypatch.delenv(KEY_ENV, raising=False)
    return fake_server


@pytest.fixture
def scored_db(tmp_path: Path, demo_pages: list[RealPage]) -> Path:
    return mined_corpus(tmp_path, demo_pages, every=4, score=True)


def _backend(api: FakeOpenAI, **options: object) -> Backend:
    return create_backend(f"openai:tiny@{api.base_url}", **{"api_key_env": KEY_ENV, "backoff_s": 0.01, **options})


def _texts(samples: list[list[Completion]]) -> list[list[str | None]]:
    return [[c.text for c in s] for s in samples]


# -- a real `transformers serve` ---------------------------------------------------------------


@pytest.mark.model
def test_transformers_serve_gives_k_samples_on_both_endpoints(served_lm: tuple[str, str]) -> None:
    model, url = served_lm
    backend = create_backend(f"openai:{model}@{url}")
    for chat in (None, False):  # chat completions (template applied by the server), legacy completions
        out = backend.generate(["hello world", "you are a"], GenerationParams(k=3, max_new_tokens=4, chat=chat))
        assert [len(samples) for samples in out] == [3, 3]  # the server returns one choice whatever n is
        assert all(c.error is None and isinstance(c.text, str) and c.text for s in out for c in s), out
        assert len({c.text for c in out[0]}) > 1  # the missing choices were asked for with other seeds


@pytest.mark.model
def test_run_eval_against_transformers_serve(served_lm: tuple[str, str], scored_db: Path) -> None:
    model, url = served_lm
    backend = create_backend(f"openai:{model}@{url}", concurrency=2)
    params = GenerationParams(k=2, max_new_tokens=4, seed=3)
    with Store(str(scored_db)) as store:
        report = run_eval(store, backend, params, SELECTION, HashScorer(), batch_prompts=3)
        assert (report.prompts, report.generated, report.failed) == (4, 8, 0)
        run = store.con.execute("SELECT model, backend FROM eval_runs").fetchone()
        assert run == (f"{model}@{url}", "openai")
        rows = store.con.execute(
            "SELECT count(*), count(text), count(toxicity), count(error) FROM generations WHERE eval_run_id = ?",
            [report.eval_run_id],
        ).fetchone()
        assert rows == (8, 8, 8, 0)
        metric = store.con.execute(
            "SELECT value, n_prompts, n_failed FROM eval_metrics WHERE eval_run_id = ? AND lang = 'all' "
            "AND bucket = 'all' AND metric = 'expected_max_toxicity'",
            [report.eval_run_id],
        ).fetchone()
        assert metric is not None and 0 <= metric[0] <= 1 and metric[1:] == (4, 0)


# -- the fault-injecting server ------------------------------------------------------------------


def test_payloads_endpoints_and_key_header(api: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    api.require_key = KEY
    backend = _backend(api)
    params = GenerationParams(k=3, max_new_tokens=5, temperature=0.7, top_p=0.8, seed=4)
    out = backend.generate(["first", "second"], params)
    assert _texts(out)[1] == [f" continuation {i} (seed 4) of second" for i in range(3)]
    first = api.requests_for("first")
    assert len(first) == 1 and first[0].path == "/v1/chat/completions" and first[0].authorization == f"Bearer {KEY}"
    assert first[0].body == {"model": "tiny", "messages": [{"role": "user", "content": "first"}], "temperature": 0.7,
                             "top_p": 0.8, "max_tokens": 5, "n": 3, "seed": 4}  # fmt: skip
    backend.generate(["plain"], GenerationParams(k=1, chat=False))
    (plain,) = api.requests_for("plain")
    assert plain.path == "/v1/completions" and plain.body["prompt"] == "plain" and "messages" not in plain.body
    monkeypatch.delenv(KEY_ENV)  # no key: no Authorization header at all (fine for local servers)
    api.require_key = None
    backend.generate(["open"], GenerationParams(k=1))
    assert api.requests_for("open")[0].authorization is None

    async def from_async_code() -> list[list[Completion]]:  # as in a notebook, where a loop is running
        return backend.generate(["looped"], GenerationParams(k=2))

    assert [c.error for c in asyncio.run(from_async_code())[0]] == [None, None]


def test_401_aborts_naming_url_and_variable_never_the_key(api: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    api.require_key = "sk-another-key"
    with pytest.raises(ConfigError) as error:
        _backend(api).generate(["a", "b", "c"], GenerationParams(k=2))
    message = str(error.value)
    assert f"{api.base_url}/chat/completions" in message and KEY_ENV in message and "401" in message
    assert KEY not in message
    assert len(api.seen) <= 3  # no retries


def test_429_honours_retry_after_and_caps_the_wait(api: FakeOpenAI) -> None:
    limited = Reply(429, {"error": {"message": "Rate limit reached"}}, {"Retry-After": "0.4"})
    api.script = {"p": [limited], "q": [Reply(429, {}, {"Retry-After": "3600"})]}
    started = time.monotonic()
    out = _backend(api, backoff_s=0.0, max_wait_s=0.6).generate(["p", "q"], GenerationParams(k=2))
    elapsed = time.monotonic() - started
    assert all(c.error is None for s in out for c in s)
    first, second = api.requests_for("p")
    assert second.at - first.at >= 0.35  # waited as told, not the zero backoff
    assert 0.55 <= elapsed < 3  # an hour's Retry-After was capped at max_wait_s


def test_503_twice_then_success_and_giving_up(api: FakeOpenAI, caplog: pytest.LogCaptureFixture) -> None:
    api.script = {"ok": [Reply(503), Reply(503)], "down": [Reply(503, {"error": "overloaded"})] * 3}
    out = _backend(api, max_retries=2).generate(["ok", "down", "fine"], GenerationParams(k=2))
    assert len(api.requests_for("ok")) == 3 and all(c.error is None for c in out[0])
    assert len(api.requests_for("down")) == 3
    assert [c.text for c in out[1]] == [None, None]
    assert out[1][0].error is not None and "HTTP 503" in out[1][0].error and "overloaded" in out[1][0].error
    assert "gave up after 3 attempts" in out[1][0].error
    assert all(c.error is None for c in out[2])
    assert "retrying" in caplog.text


def test_server_ignoring_n_is_asked_again_with_other_seeds(api: FakeOpenAI) -> None:
    api.max_choices = 1
    out = _backend(api).generate(["a", "b"], GenerationParams(k=4, seed=10))
    assert _texts(out)[0] == [f" continuation 0 (seed {s}) of a" for s in (10, 11, 12, 13)]
    assert [r.body["n"] for r in api.requests_for("b")] == [4, 3, 2, 1]
    api.reset()
    api.max_choices = 0  # never any choice: bounded, then recorded
    out = _backend(api).generate(["c"], GenerationParams(k=3))
    assert len(api.requests_for("c")) == 4  # the first request and at most k more
    assert [c.error for c in out[0]] == ["server returned only 0 of 3 choices"] * 3


def test_one_bad_answer_fails_its_prompt_only(api: FakeOpenAI) -> None:
    api.script = {
        "broken": [Reply(200, b'{"choices": [{"message": ')],
        "odd": [Reply(200, {"result": "no choices here"})],
        "string": [Reply(200, b'"just a string"')],
        "long": [Reply(400, {"error": {"message": "This model's maximum context length is 128 tokens"}})],
        "unprocessable": [Reply(422, {"detail": "Unexpected fields in the request"})],
    }
    prompts = ["good", "broken", "odd", "string", "long", "unprocessable", "also good"]
    out = _backend(api).generate(prompts, GenerationParams(k=2))
    errors = {prompt: samples[0].error or "" for prompt, samples in zip(prompts, out, strict=True)}
    assert all(c.text is None for p, s in zip(prompts, out, strict=True) if "good" not in p for c in s)
    assert "malformed JSON" in errors["broken"] and "unexpected response" in errors["odd"]
    assert "unexpected response" in errors["string"] and "just a string" in errors["string"]
    assert "HTTP 400" in errors["long"] and "maximum context length" in errors["long"]
    assert "HTTP 422" in errors["unprocessable"]
    assert all(len(api.requests_for(p)) == 1 for p in prompts)  # client errors are not retried
    assert errors["good"] == errors["also good"] == "" and all(len(s) == 2 for s in out)


def test_hostile_bodies_fail_their_prompt_only(api: FakeOpenAI) -> None:
    api.script = {
        "deep": [Reply(200, b"[" * 100_000 + b"]" * 100_000)],  # decoding it overflows the stack
        "deep error": [Reply(400, b'{"error": ' + b"[" * 100_000 + b"]" * 100_000 + b"}")],
        "not gzip": [Reply(200, b"plain text", {"Content-Encoding": "gzip"})],  # the body does not decode
    }
    prompts = ["good", "deep", "deep error", "not gzip"]
    out = _backend(api).generate(prompts, GenerationParams(k=1))
    errors = {prompt: samples[0].error or "" for prompt, samples in zip(prompts, out, strict=True)}
    assert errors["good"] == "" and "malformed JSON" in errors["deep"] and "HTTP 400" in errors["deep error"]
    assert "DecodingError" in errors["not gzip"]
    assert all(len(e) < 1000 for e in errors.values())


def test_timeouts_are_retried(api: FakeOpenAI) -> None:
    api.script = {"slow": [Reply(200, {"choices": []}, delay_s=1.5)]}
    out = _backend(api, timeout_s=0.3, max_retries=1).generate(["slow"], GenerationParams(k=1))
    assert out[0][0].error is None and len(api.requests_for("slow")) == 2
    api.script = {"slower": [Reply(200, {"choices": []}, delay_s=1.5)] * 2}
    out = _backend(api, timeout_s=0.3, max_retries=1).generate(["slower"], GenerationParams(k=1))
    assert out[0][0].error is not None and "no answer" in out[0][0].error


def test_requests_run_concurrently_under_the_limit(api: FakeOpenAI) -> None:
    api.delay_s = 0.2
    started = time.monotonic()
    prompts = [f"p{i}" for i in range(6)]
    out = _backend(api, concurrency=2).generate(prompts, GenerationParams(k=1))
    assert len(out) == 6 and api.max_overlap(prompts) == 2
    assert time.monotonic() - started >= 0.55  # three rounds of two


def test_unreachable_and_wrong_paths_abort(api: FakeOpenAI) -> None:
    url = f"http://127.0.0.1:{_free_port()}/v1"  # nothing listens there
    started = time.monotonic()
    with pytest.raises(ConfigError, match="unreachable") as error:
        create_backend(f"openai:m@{url}", max_retries=2, backoff_s=0.01).generate(["a", "b"], GenerationParams(k=1))
    assert f"{url}/chat/completions" in str(error.value) and time.monotonic() - started < 5
    root = api.base_url.removesuffix("/v1")  # the base URL without /v1: every path is 404
    with pytest.raises(ConfigError, match=r"HTTP 404.*check the base URL"):
        create_backend(f"openai:m@{root}").generate(["a"], GenerationParams(k=1))


def _leaks(text: str) -> bool:
    """Whether `text` shows the key, or the start of it as a length limit would cut it."""
    return KEY in text or KEY[:10] in text


def _echoing_replies() -> list[Reply]:
    """One reply for each way a careless server or proxy echoes the Authorization header back."""
    now = {"Retry-After": "0"}
    return [
        Reply(400, {"error": {"message": "bad request with {auth}"}}),
        Reply(422, {"detail": [{"msg": "header {auth_repr} is {auth_url}"}]}),
        Reply(503, {"error": "busy, {auth}"}, now),  # retried: logged as a warning
        Reply(500, b"<html>" + b"x" * 270 + b"{auth}</html>", now),  # the key straddles the 300 characters shown
        Reply(200, b'{"choices": [{"message": {"content": "{auth}"'),  # malformed JSON, quoted in the error
        Reply(200, {"choices": [{"message": {"content": None}, "finish_reason": "{auth}"}]}),
        Reply(200, {"choices": [{"message": {"content": "your key: {auth}"}, "finish_reason": "stop"}]}),
        Reply(200, {"unexpected": "{auth}"}),
    ]


def _dump(db: Path) -> str:
    """Every row of every table of a DuckDB file, as text."""
    con = duckdb.connect(str(db), read_only=True)
    try:
        tables = con.execute("SELECT table_name FROM information_schema.tables WHERE table_type = 'BASE TABLE'")
        names = [str(row[0]) for row in tables.fetchall()]
        assert {"eval_runs", "generations", "judgements"} <= set(names)
        return "\n".join(f"{name}: {con.execute(f'SELECT * FROM {name}').fetchall()}" for name in names)
    finally:
        con.close()


def test_the_key_never_reaches_the_database_or_the_logs(
    api: FakeOpenAI,
    scored_db: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
    capsys: pytest.CaptureFixture[str],
) -> None:
    caplog.set_level(logging.DEBUG)  # httpx and httpcore included
    monkeypatch.setenv(KEY_ENV, KEY + "\n")  # as `$(cat key.txt)` or a .env file leaves it
    api.require_key = KEY
    api.queue = _echoing_replies()
    with Store(str(scored_db)) as store:
        report = run_eval(store, _backend(api), GenerationParams(k=3), SELECTION, HashScorer())
        assert report.generated == 12 and api.queue == []  # every echo was served
        errors = " | ".join(str(e) for (e,) in store.con.execute("SELECT error FROM generations").fetchall())
        texts = " | ".join(str(t) for (t,) in store.con.execute("SELECT text FROM generations").fetchall())
    for seen in ("bad request with Bearer ***", "HTTP 422", "malformed JSON", "finish_reason Bearer ***",
                 "unexpected response"):  # fmt: skip
        assert seen in errors, (seen, errors)
    assert "busy, Bearer ***" in caplog.text and "HTTP 500" in caplog.text  # retried: logged, not stored
    assert "your key: Bearer ***" in texts
    assert all(seen.authorization == f"Bearer {KEY}" for seen in api.seen)  # sent stripped
    dump = _dump(scored_db)
    assert not _leaks(dump) and "Bearer ***" in dump
    stored = [q for p in scored_db.parent.glob(scored_db.name + "*") for q in (p.rglob("*") if p.is_dir() else [p])]
    raw = b"".join(q.read_bytes() for q in stored if q.is_file())  # the database, its WAL and its .data files
    assert KEY[:10].encode() not in raw
    assert "retrying" in caplog.text and not _leaks(caplog.text)
    captured = capsys.readouterr()
    assert not _leaks(captured.out + captured.err)


def test_errors_that_abort_never_show_the_key(api: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, KEY)
    for reply in (Reply(302, headers={"Location": "http://127.0.0.1:1/login?token={auth_url}"}),
                  Reply(404, {"detail": "no route for {auth}"})):  # fmt: skip
        api.queue = [reply]
        with pytest.raises(ConfigError) as error:
            _backend(api).generate(["a"], GenerationParams(k=1))
        assert "***" in str(error.value) and not _leaks(str(error.value))


def test_a_key_with_a_trailing_newline_is_sent_stripped(api: FakeOpenAI, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(KEY_ENV, f"  {KEY}\r\n")
    api.require_key = KEY
    out = _backend(api).generate(["a", "b"], GenerationParams(k=2))
    assert all(c.error is None and c.text for s in out for c in s), out
    assert [s.authorization for s in api.seen] == [f"Bearer {KEY}"] * 2


@pytest.mark.parametrize("bad", [KEY.replace("-", " ", 1), KEY.replace("-", "\n", 1), KEY + "\x1b", KEY + "ü"])
def test_a_key_with_inner_whitespace_or_control_characters_is_refused(
    api: FakeOpenAI, monkeypatch: pytest.MonkeyPatch, bad: str
) -> None:
    monkeypatch.setenv(KEY_ENV, bad)
    with pytest.raises(ConfigError, match=f"\\${KEY_ENV}") as error:
        _backend(api)  # before anything is sent
    assert not _leaks(str(error.value)) and KEY[-10:] not in str(error.value)
    assert api.seen == []


def test_spec_forms(monkeypatch: pytest.MonkeyPatch) -> None:
    spec = "openai:gpt-4o-mini@https://api.openai.com/v1"
    assert parse_model_spec(spec) == ("openai", "gpt-4o-mini@https://api.openai.com/v1")
    backend = create_backend(spec)
    assert (backend.name, backend.model) == ("openai", "gpt-4o-mini@https://api.openai.com/v1")
    assert (backend.model_name, backend.base_url) == ("gpt-4o-mini", "https://api.openai.com/v1")  # type: ignore[attr-defined]
    hub = create_backend("openai:org/model@dev@http://127.0.0.1:8000/v1/")  # `@revision` stays in the name
    assert (hub.model_name, hub.base_url) == ("org/model@dev", "http://127.0.0.1:8000/v1")  # type: ignore[attr-defined]
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9000/v1")
    from_env = create_backend("openai:my-model")
    assert (from_env.model, from_env.base_url) == ("my-model", "http://127.0.0.1:9000/v1")  # type: ignore[attr-defined]
    assert create_backend("openai:m", base_url="http://h:1/v1").base_url == "http://h:1/v1"  # type: ignore[attr-defined]
    monkeypatch.delenv("OPENAI_BASE_URL")
    with pytest.raises(ConfigError, match=r"no base URL.*OPENAI_BASE_URL"):
        create_backend("openai:my-model")
    with pytest.raises(ConfigError, match="no credentials") as error:
        create_backend("openai:m@https://user:sk-inline-secret@api.example.com/v1")
    assert "sk-inline-secret" not in str(error.value)
    with pytest.raises(ConfigError, match="no credentials"):
        create_backend("openai:m@https://api.example.com/v1?api-key=abc")
    with pytest.raises(ConfigError, match="concurrency"):
        create_backend("openai:m@http://h/v1", concurrency=0)


# -- the command line ------------------------------------------------------------------------------


@pytest.mark.subprocess
def test_eval_command_with_an_http_model(api: FakeOpenAI, scored_db: Path) -> None:
    api.require_key = KEY
    model = f"openai:tiny@{api.base_url}"
    args = [sys.executable, "-m", "toxmine", "eval", "--db", str(scored_db), "--model", model,
            "--api-key-env", KEY_ENV, "--concurrency", "2", "--request-timeout", "10", "--k", "2",
            "--max-new-tokens", "3", "--per-bucket", "2", "--langs", "de,en", "--prompt-scorer", "hash",
            "--limit", "2", "--no-progress"]  # fmt: skip
    env = {**os.environ, "CI": "1", KEY_ENV: KEY}
    result = subprocess.run(args, capture_output=True, text=True, timeout=120, env=env)
    assert result.returncode == 0, result.stderr
    assert "2 prompts, 4 continuations generated" in result.stdout and "expected_max_toxicity" in result.stdout
    assert KEY not in result.stdout + result.stderr
    assert len(api.seen) == 2 and all(s.authorization == f"Bearer {KEY}" for s in api.seen)
    con = duckdb.connect(str(scored_db), read_only=True)
    assert con.execute("SELECT model, backend FROM eval_runs").fetchall() == [(f"tiny@{api.base_url}", "openai")]
    assert con.execute("SELECT count(*), count(text) FROM generations").fetchone() == (4, 4)
    con.close()
    other_run = [*args, "--seed", "1"]  # the same command would resume a finished run and send nothing
    refused = subprocess.run(other_run, capture_output=True, text=True, timeout=120, env={**env, KEY_ENV: "sk-wrong"})
    assert refused.returncode == 2 and KEY_ENV in refused.stderr and "401" in refused.stderr
    assert "sk-wrong" not in refused.stderr


def _toxmine(*args: str, key: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "CI": "1", KEY_ENV: key}
    return subprocess.run([sys.executable, "-m", "toxmine", *args], capture_output=True, text=True, timeout=120,
                          env=env)  # fmt: skip


@pytest.mark.subprocess
@pytest.mark.slow
def test_eval_and_judge_commands_never_show_or_store_the_key(api: FakeOpenAI, scored_db: Path) -> None:
    api.require_key = KEY
    api.queue = _echoing_replies()
    logs = ["--log-json", "-v", "--no-progress"]
    evaluated = _toxmine("eval", "--db", str(scored_db), "--model", f"openai:tiny@{api.base_url}", "--api-key-env",
                         KEY_ENV, "--k", "3", "--max-new-tokens", "3", "--per-bucket", "2", "--langs", "de,en",
                         "--prompt-scorer", "hash", "--limit", "8", *logs, key=KEY + "\n")  # fmt: skip
    assert evaluated.returncode == 0, evaluated.stderr
    assert api.queue == []
    api.queue = _echoing_replies()
    judged = _toxmine("judge", "--db", str(scored_db), "--judge", f"llm:openai:tiny@{api.base_url}", "--judge-option",
                      f"api_key_env={KEY_ENV}", "--judge-option", "backoff_s=0.01", *logs, key=KEY + "\n")  # fmt: skip
    # every answer is refused or unreadable here, so the run fails (exit 1) and prints its first error, masked
    assert judged.returncode == 1 and "judge answers failed" in judged.stderr, judged.stderr
    assert api.queue == [] and all(seen.authorization == f"Bearer {KEY}" for seen in api.seen)
    for result in (evaluated, judged):
        assert not _leaks(result.stdout + result.stderr)
        records = [json.loads(line) for line in result.stderr.splitlines() if line.strip()]  # JSON lines only
        assert any("retrying" in record["message"] for record in records)
    dump = _dump(scored_db)
    assert not _leaks(dump)
    con = duckdb.connect(str(scored_db), read_only=True)
    judge_errors = [str(e) for (e,) in con.execute("SELECT error FROM judgements WHERE error LIKE '%***%'").fetchall()]
    con.close()
    assert any("bad request with Bearer ***" in e for e in judge_errors), judge_errors  # the judge's requests
    assert any("your key: Bearer ***" in e for e in judge_errors), judge_errors  # the judge's answer, quoted


@pytest.mark.subprocess
@pytest.mark.slow
def test_commands_refuse_a_key_with_inner_whitespace_naming_only_the_variable(api: FakeOpenAI, scored_db: Path) -> None:
    bad = KEY.replace("-", " ", 1)
    refused = _toxmine("eval", "--db", str(scored_db), "--model", f"openai:tiny@{api.base_url}", "--api-key-env",
                       KEY_ENV, "--limit", "1", "--no-progress", key=bad)  # fmt: skip
    judge = _toxmine("judge", "--db", str(scored_db), "--judge", f"llm:openai:tiny@{api.base_url}", "--judge-option",
                     f"api_key_env={KEY_ENV}", key=bad)  # fmt: skip
    for result in (refused, judge):
        assert result.returncode == 2 and f"${KEY_ENV}" in result.stderr and "Traceback" not in result.stderr
        assert not _leaks(result.stdout + result.stderr) and KEY[-10:] not in result.stderr
    assert api.seen == []
