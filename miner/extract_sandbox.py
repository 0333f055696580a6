"""Extraction in a sandbox process that is killed and replaced when a page runs over its bounds.

One persistent child process (`extract_child.py`, started with subprocess: pool workers are
daemonic and cannot have multiprocessing children; it works in Ray workers too) per process
that extracts. The parent sends a page and waits; the bounds hold whatever the page does:

- time: CPU time of the child, so a busy machine does not change which pages pass. A signal in
  the child stops Python code at the limit (the child lives on); the kernel kills the child
  (RLIMIT_CPU, SIGXCPU) at most ~1.5 CPU-s later when a C call holds on. A wall-clock backstop
  (`wall_factor` x limit + `wall_grace_s`) catches a child that hangs without using CPU.
- memory: the parent watches the child's resident size while it waits (every `poll_s`, from
  /proc) and kills it past its idle size + `memory_mb`; the child's RLIMIT_DATA turns an
  allocation far past that into a MemoryError. Either drops the page as `extract_memory`.
- a child that dies otherwise (a fault in C code, the OOM killer) drops its page as
  `extract_crash`, named with its signal and the last line it wrote to stderr.

A replaced child starts on the next page (~0.5 s). The child has a session of its own (a
terminal's Ctrl-C reaches only the main process group), ignores SIGINT, and exits when its
stdin ends, that is when its parent closes it or dies.
"""

from __future__ import annotations

import atexit
import json
import os
import select
import signal
import subprocess
import sys
import tempfile
import threading
import time
from types import TracebackType
from typing import IO, Any

from . import extract_child
from .errors import ConfigError
from .extract import (
    ExtractCrash,
    ExtractError,
    ExtractFailure,
    ExtractMemoryError,
    ExtractOptions,
    Extractor,
    ExtractTimeout,
    extract_text,
)
from .extract_child import ANSWER, REQUEST, Status

__all__ = ["ExtractSandbox", "close_process_sandbox", "extractor_for", "process_sandbox"]

_CHILD_SCRIPT = os.path.abspath(extract_child.__file__)
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


class ExtractSandbox:
    """A persistent extraction process with a CPU-time limit per page and a memory budget.

    `extract` has the signature of `extract_text` and gives the same text; it raises
    ExtractTimeout, ExtractMemoryError, ExtractCrash or ExtractError for a failed page, after
    which the next call works (on a new child where the old one was killed).
    """

    def __init__(
        self,
        memory_mb: int = ExtractOptions.memory_mb,
        extractor: str = ExtractOptions.extractor,
        poll_s: float = 0.02,
        wall_factor: float = 30.0,
        wall_grace_s: float = 60.0,
        start_timeout_s: float = 120.0,
    ) -> None:
        self.memory_mb = memory_mb
        self.extractor = extractor
        self.poll_s = poll_s
        self.wall_factor = wall_factor
        self.wall_grace_s = wall_grace_s
        self.start_timeout_s = start_timeout_s
        self.starts = 0  # child processes started so far
        self._proc: subprocess.Popen[bytes] | None = None
        self._stderr: IO[bytes] | None = None
        self._statm: int | None = None
        self._rss_limit = 0  # resident bytes past which a page is stopped (0: no watch)
        self._rss_renew = 0  # resident bytes of an idle child past which it is replaced
        self._lock = threading.Lock()

    # -- life cycle ------------------------------------------------------------------------------
    @property
    def pid(self) -> int | None:
        """The child's process id (None before the first page or after a kill)."""
        return self._proc.pid if self._proc is not None else None

    def _start(self) -> None:
        command = [sys.executable, _CHILD_SCRIPT, str(self.memory_mb), self.extractor]
        env = {**os.environ, extract_child.PATH_ENV: os.pathsep.join(p for p in sys.path if p)}
        self._stderr = tempfile.TemporaryFile(prefix="toxmine-extract-")  # noqa: SIM115 - lives as long as the child
        self._proc = subprocess.Popen(
            command, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self._stderr, start_new_session=True, env=env
        )
        self.starts += 1
        try:
            self._statm = os.open(f"/proc/{self._proc.pid}/statm", os.O_RDONLY)
        except OSError:  # no /proc (macOS...): RLIMIT_DATA alone bounds memory, where the OS enforces it
            self._statm = None
        try:
            status, payload = self._receive(self.start_timeout_s, watch_memory=False)
        except ExtractFailure as exc:
            raise ConfigError(f"cannot start the extraction sandbox ({' '.join(command)}): {exc}") from None
        if status == Status.ERROR:
            self._kill()
            raise ConfigError(f"extractor {self.extractor!r} cannot start: {payload.decode('utf-8', 'replace')}")
        if status != Status.READY:
            self._kill()
            raise ConfigError(f"the extraction sandbox answered {status} instead of READY")
        idle_rss = int(json.loads(payload)["rss"])
        budget = self.memory_mb * (1 << 20) if self.memory_mb > 0 and idle_rss else 0
        self._rss_limit = idle_rss + budget if budget else 0
        self._rss_renew = idle_rss + budget // 2 if budget else 0

    def close(self) -> None:
        """End the child: close its stdin (it exits) and reap it; kill it if it lingers."""
        proc = self._proc
        if proc is None:
            return
        try:
            if proc.stdin is not None:
                proc.stdin.close()
            proc.wait(timeout=5)
        except (OSError, subprocess.TimeoutExpired):
            pass
        self._kill()

    def _kill(self) -> None:
        """Kill and reap the child (if any) and release its pipes and files."""
        proc, self._proc = self._proc, None
        if proc is not None:
            if proc.poll() is None:
                proc.kill()
            proc.wait()
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        self._release_files()

    def _release_files(self) -> None:
        if self._statm is not None:
            os.close(self._statm)
            self._statm = None
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None

    def abandon(self) -> None:
        """In a forked copy of the owner: drop this process's copies of the pipes (so that the
        child still sees its stdin end when the owner closes it) without touching the child."""
        proc, self._proc = self._proc, None
        if proc is not None:
            proc.returncode = 0  # not this process's child: never wait for it
            for stream in (proc.stdin, proc.stdout):
                if stream is not None:
                    stream.close()
        self._release_files()

    def __enter__(self) -> ExtractSandbox:
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.close()

    # -- one page --------------------------------------------------------------------------------
    def extract(self, html: str, url: str | None, options: ExtractOptions) -> str | None:
        """The main text of an HTML page, or None when the extractor finds none (see the class).
        One page at a time: threads that share a sandbox take turns."""
        with self._lock:
            return self._extract(html, url, options)

    def _extract(self, html: str, url: str | None, options: ExtractOptions) -> str | None:
        if self._proc is None or self._proc.poll() is not None:  # first page, or the child was lost idle
            self._kill()
            self._start()
        if options.extractor != self.extractor:
            raise ConfigError(f"this sandbox extracts with {self.extractor!r}, not {options.extractor!r}")
        header = {"url": url, "timeout_s": options.timeout_s}
        head = json.dumps(header).encode()
        body = html.encode("utf-8", "surrogatepass")
        try:
            assert self._proc is not None and self._proc.stdin is not None
            try:
                extract_child.write_all(self._proc.stdin.fileno(), REQUEST.pack(len(head), len(body)), head, body)
            except BrokenPipeError:
                status, payload = self._died()
            else:
                status, payload = self._receive(self._wall_limit(options.timeout_s), watch_memory=True)
        except ExtractFailure:
            raise
        except BaseException:  # KeyboardInterrupt, or a failure here: the child's state is unknown
            self._kill()
            raise
        if self._rss_renew and self._rss() > self._rss_renew:
            self.close()  # still large once idle (a fragmented heap, caches): a fresh child for the next page
        return self._result(status, payload, options.timeout_s)

    def _wall_limit(self, timeout_s: float) -> float | None:
        return self.wall_factor * timeout_s + self.wall_grace_s if timeout_s > 0 else None

    def _result(self, status: int, payload: bytes, timeout_s: float) -> str | None:
        if status == Status.TEXT:
            return payload.decode("utf-8", "surrogatepass")
        if status == Status.EMPTY:
            return None
        if status == Status.TIMEOUT:
            raise ExtractTimeout(f"over its limit of {timeout_s:g} CPU-s")
        if status == Status.MEMORY:
            self._kill()  # its heap is fragmented and large: a fresh child for the next page
            raise ExtractMemoryError(f"over its memory budget of {self.memory_mb} MiB (MemoryError)")
        if status == Status.ERROR:
            raise ExtractError(payload.decode("utf-8", "replace"))
        self._kill()
        raise ExtractCrash(f"the extraction process answered an unknown status {status}")

    def _receive(self, wall_limit: float | None, watch_memory: bool) -> tuple[int, bytes]:
        """The child's next answer, watching its memory and the wall clock while waiting."""
        assert self._proc is not None and self._proc.stdout is not None
        fd = self._proc.stdout.fileno()
        started = time.monotonic()
        buffer = bytearray()
        need = ANSWER.size
        while True:
            readable, _, _ = select.select([fd], [], [], self.poll_s)
            if readable:
                chunk = os.read(fd, max(need - len(buffer), 1 << 16))
                if not chunk:
                    return self._died()
                buffer += chunk
                if len(buffer) >= ANSWER.size:
                    status, size = ANSWER.unpack_from(buffer)
                    need = ANSWER.size + size
                    if len(buffer) >= need:
                        return status, bytes(buffer[ANSWER.size : need])
                continue
            if watch_memory and self._rss_limit and self._rss() > self._rss_limit:
                self._kill()
                raise ExtractMemoryError(f"over its memory budget of {self.memory_mb} MiB (killed)")
            if wall_limit is not None and time.monotonic() - started > wall_limit:
                self._kill()
                raise ExtractTimeout(f"no answer in {wall_limit:g} s of wall time (killed)")

    def _rss(self) -> int:
        if self._statm is None:
            return 0
        try:
            return int(os.pread(self._statm, 128, 0).split()[1]) * _PAGE
        except (OSError, IndexError, ValueError):
            return 0

    def _died(self) -> tuple[int, bytes]:
        """The child ended mid-request: reap it and raise what its end means."""
        assert self._proc is not None
        code = self._proc.wait()
        last = self._last_stderr_line()
        self._kill()
        if code == -signal.SIGXCPU:
            raise ExtractTimeout("over its CPU-time limit (killed by the kernel inside C code)")
        if last == "MemoryError":  # raised where even its handling found no memory (RLIMIT_DATA)
            raise ExtractMemoryError(f"over its memory budget of {self.memory_mb} MiB (MemoryError, died)")
        cause = f"killed by {signal.Signals(-code).name}" if code < 0 else f"exit status {code}"
        raise ExtractCrash(f"the extraction process died ({cause})" + (f": {last}" if last else ""))

    def _last_stderr_line(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.seek(max(0, self._stderr.seek(0, os.SEEK_END) - 2048))
            lines = self._stderr.read().decode("utf-8", "replace").strip().splitlines()
        except OSError:
            return ""
        return lines[-1].strip()[:300] if lines else ""


# -- this process's sandbox ------------------------------------------------------------------------
# One sandbox per process that extracts (a pool worker, a Ray worker, the main process), started
# on first use; the module-level slot is that process's own, dropped in a forked child.
_slot: dict[str, Any] = {}


def process_sandbox(options: ExtractOptions) -> ExtractSandbox:
    """This process's sandbox with `options.memory_mb` and `options.extractor` (started on its first page)."""
    sandbox: ExtractSandbox | None = _slot.get("sandbox")
    if sandbox is not None and (sandbox.memory_mb, sandbox.extractor) != (options.memory_mb, options.extractor):
        sandbox.close()
        sandbox = None
    if sandbox is None:
        sandbox = _slot["sandbox"] = ExtractSandbox(options.memory_mb, options.extractor)
        if not _slot.get("atexit"):
            atexit.register(close_process_sandbox)
            _slot["atexit"] = True
    return sandbox


def close_process_sandbox() -> None:
    """End this process's sandbox, if it has one."""
    sandbox: ExtractSandbox | None = _slot.pop("sandbox", None)
    if sandbox is not None:
        sandbox.close()


def extractor_for(options: ExtractOptions) -> Extractor:
    """How this process extracts with `options`: its sandbox, or in-process when `sandbox` is off."""
    return process_sandbox(options).extract if options.sandbox else extract_text


def _forget_after_fork() -> None:
    sandbox: ExtractSandbox | None = _slot.pop("sandbox", None)
    if sandbox is not None:
        sandbox.abandon()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_forget_after_fork)
