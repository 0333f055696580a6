"""The extraction sandbox's child process, and the framing both ends of its pipes use.

Run as a script (`python .../extract_child.py MEMORY_MB EXTRACTOR`), not as `-m toxmine.miner...`:
the package's `__init__` would import the whole miner (DuckDB, pyarrow, fastText: 2 s and 110 MB per
child). This module therefore imports only the standard library at the top; `main` loads the
extractor through `extractors.catalog` with `toxmine.miner` standing in as a bare package (its
`__init__` not run). The parent's `sys.path` comes in `TOXMINE_EXTRACT_PATH`, so that a plug-in
importable there is importable here. It reads requests on stdin and answers on stdout, one at a
time, until stdin ends (its parent closed it or died). Frames are length-prefixed, no pickle:

- request: `>IQ` (header length, body length), a JSON header {"url", "timeout_s"} and the page
  as UTF-8;
- answer: `>BQ` (status, payload length) and the payload (the text, a message, or for READY the
  JSON {"rss": bytes} the child has once started).

Bounds on one request: a CPU-time signal raises in Python code at `timeout_s`; the kernel kills
the process with SIGXCPU (RLIMIT_CPU) `_CPU_GRACE_S` later when a C call holds on; RLIMIT_DATA
turns an allocation far past the memory budget into a MemoryError (the parent's watch of the
resident size is the budget proper). The child ignores SIGINT: Ctrl-C is the main process's.
"""

from __future__ import annotations

import os
import sys

if __name__ == "__main__":  # run as a script: its own folder (miner/ holds http.py...) must not shadow the stdlib
    _own_folder = os.path.dirname(os.path.abspath(__file__))
    sys.path[:] = [p for p in sys.path if os.path.abspath(p or os.curdir) != _own_folder]

import json
import math
import resource
import signal
import struct
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

__all__ = [
    "ANSWER",
    "PATH_ENV",
    "REQUEST",
    "CpuTimeUp",
    "Status",
    "cpu_time_limit",
    "read_exact",
    "write_all",
]

REQUEST = struct.Struct(">IQ")
ANSWER = struct.Struct(">BQ")
_CPU_GRACE_S = 0.2  # the kernel kills (whole CPU-s) between timeout + grace and timeout + grace + 1 CPU-s
_DATA_HEADROOM = 1.5  # RLIMIT_DATA: the budget times this over the idle data size


class Status:
    """Answer codes."""

    READY = 0
    TEXT = 1
    EMPTY = 2
    TIMEOUT = 3
    MEMORY = 4
    ERROR = 5


class CpuTimeUp(BaseException):
    """Raised by `cpu_time_limit`. A BaseException: trafilatura's fallbacks (`except Exception`
    around readability, the parser...) would swallow an Exception and run the page to its end."""


def read_exact(fd: int, n: int) -> bytes | None:
    """Exactly `n` bytes from `fd`, or None at end of file before the first byte."""
    chunks: list[bytes] = []
    left = n
    while left:
        chunk = os.read(fd, min(left, 1 << 20))
        if not chunk:
            if left == n:
                return None
            raise EOFError(f"pipe closed {left} bytes short of a {n}-byte frame")
        chunks.append(chunk)
        left -= len(chunk)
    return b"".join(chunks)


def write_all(fd: int, *parts: bytes) -> None:
    """Write every part to `fd` (a blocking pipe may take a large write in pieces)."""
    for part in parts:
        view = memoryview(part)
        while view:
            view = view[os.write(fd, view) :]


def _expire(signum: int, frame: FrameType | None) -> None:
    raise CpuTimeUp()


@contextmanager
def cpu_time_limit(seconds: float) -> Iterator[None]:
    """Raise CpuTimeUp after `seconds` of this process's CPU time (<= 0: no limit). The caller
    must be the main thread. A signal handler: it runs only once a running C call returns."""
    if seconds <= 0:
        yield
        return
    previous = signal.signal(signal.SIGPROF, _expire)
    signal.setitimer(signal.ITIMER_PROF, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_PROF, 0)
        signal.signal(signal.SIGPROF, previous)


def _proc_status_bytes(field: str) -> int:
    """A size line of /proc/self/status (`VmRSS`, `VmData`) in bytes; 0 where there is none."""
    try:
        with open("/proc/self/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return 0


def _kernel_cpu_limit(timeout_s: float) -> None:
    """Have the kernel kill this process (SIGXCPU) if this request runs `_CPU_GRACE_S` past its
    limit: the signal's default action needs no Python code, so it ends a C call too."""
    soft, hard = resource.getrlimit(resource.RLIMIT_CPU)
    if timeout_s > 0:
        usage = resource.getrusage(resource.RUSAGE_SELF)
        soft = math.ceil(usage.ru_utime + usage.ru_stime + timeout_s + _CPU_GRACE_S)
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
    else:
        soft = hard
    resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))


def _resident_reader() -> Callable[[], int]:
    """A cheap reader of this process's resident bytes (an open /proc/self/statm, read per page);
    0 where there is no /proc."""
    try:
        fd = os.open("/proc/self/statm", os.O_RDONLY)
    except OSError:
        return lambda: 0
    page = os.sysconf("SC_PAGE_SIZE")

    def resident() -> int:
        return int(os.pread(fd, 128, 0).split()[1]) * page

    return resident


def _data_limit(memory_mb: int) -> None:
    """Cap this process's data size at its idle size plus the budget with headroom, so that an
    allocation the parent's watch cannot see coming fails instead of taking the machine."""
    data = _proc_status_bytes("VmData")
    if memory_mb <= 0 or not data or not hasattr(resource, "RLIMIT_DATA"):
        return
    hard = resource.getrlimit(resource.RLIMIT_DATA)[1]
    limit = data + int(memory_mb * _DATA_HEADROOM) * (1 << 20)
    if hard != resource.RLIM_INFINITY:
        limit = min(limit, hard)
    resource.setrlimit(resource.RLIMIT_DATA, (limit, hard))


def _malloc_trim() -> Callable[[], None]:
    """glibc's malloc_trim(0), which hands freed heap back to the system; a no-op elsewhere."""
    try:
        import ctypes

        libc_trim = ctypes.CDLL(None).malloc_trim
    except (AttributeError, OSError):
        return lambda: None

    def trim() -> None:
        libc_trim(0)

    return trim


def _answer(status: int, payload: bytes = b"") -> None:
    write_all(1, ANSWER.pack(status, len(payload)), payload)


def _extract(extract: Callable[[str, str | None], str | None], header: dict[str, Any], html: str) -> tuple[int, bytes]:
    """Run one request; the answer is built only after the except clause, once the traceback
    and the page's trees are gone (a MemoryError leaves little room inside it)."""
    try:
        _kernel_cpu_limit(header["timeout_s"])
        with cpu_time_limit(header["timeout_s"]):
            text = extract(html, header["url"])
    except CpuTimeUp:
        return Status.TIMEOUT, b""
    except MemoryError:
        return Status.MEMORY, b""
    except Exception as exc:  # an extractor (trafilatura/lxml...) can fail on pathological markup
        return Status.ERROR, f"{type(exc).__name__}: {exc}"[:500].encode("utf-8", "replace")
    if not text:
        return Status.EMPTY, b""
    if not isinstance(text, str):
        return Status.ERROR, f"the extractor returned {type(text).__name__}, not str".encode()
    return Status.TEXT, text.encode("utf-8", "surrogatepass")


PATH_ENV = "TOXMINE_EXTRACT_PATH"


def _load_extractor(name: str) -> Callable[[str, str | None], str | None]:
    """Extractor `name`'s bound `extract`, imported with `toxmine.miner` as a bare package."""
    import importlib
    import types

    for entry in os.environ.get(PATH_ENV, "").split(os.pathsep):
        if entry and entry not in sys.path:
            sys.path.append(entry)
    if "toxmine.miner" not in sys.modules:
        try:
            import toxmine
        except ImportError:  # a source tree that is not installed
            toxmine = types.ModuleType("toxmine")
            toxmine.__path__ = []
            sys.modules["toxmine"] = toxmine
        bare = types.ModuleType("toxmine.miner")
        bare.__path__ = [os.path.dirname(os.path.abspath(__file__))]
        sys.modules["toxmine.miner"] = bare
        toxmine.miner = bare  # type: ignore[attr-defined]
    catalog = importlib.import_module("toxmine.miner.extractors.catalog")
    extractor = catalog.create_extractor(name)
    return extractor.extract  # type: ignore[no-any-return]


def _warm_up(extract: Callable[[str, str | None], str | None]) -> None:
    """One small page, so that the extractor's lazy imports are paid before the first limit. A
    missing library means it cannot start; any other failure is the page's (a plug-in may raise on
    a page it does not like, which drops only that page)."""
    try:
        extract("<html><body><p>" + "warm up " * 40 + "</p></body></html>", "http://127.0.0.1/warm-up")
    except ImportError:
        raise
    except Exception:  # the real pages will say what it does
        pass


def main(argv: list[str]) -> int:
    """Serve extraction requests on stdin/stdout until stdin ends."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))  # a SIGXCPU kill would otherwise dump a core
    memory_mb = int(argv[0]) if argv else 0
    name = argv[1] if len(argv) > 1 else "trafilatura"
    import logging
    import warnings

    logging.disable(logging.CRITICAL)
    warnings.simplefilter("ignore")
    try:
        extract = _load_extractor(name)
        _warm_up(extract)
    except Exception as exc:  # reported to the parent, which names the extractor
        _answer(Status.ERROR, f"{type(exc).__name__}: {exc}"[:500].encode("utf-8", "replace"))
        return 1
    _data_limit(memory_mb)
    idle_rss = _proc_status_bytes("VmRSS")
    resident = _resident_reader()
    trim = _malloc_trim()
    _answer(Status.READY, json.dumps({"rss": idle_rss}).encode())
    while True:
        prefix = read_exact(0, REQUEST.size)
        if prefix is None:
            return 0
        header_size, body_size = REQUEST.unpack(prefix)
        header = json.loads(read_exact(0, header_size) or b"{}")
        html = (read_exact(0, body_size) or b"").decode("utf-8", "surrogatepass")
        status, payload = _extract(extract, header, html)
        del html
        if resident() > idle_rss + (64 << 20):
            trim()
        _answer(status, payload)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
