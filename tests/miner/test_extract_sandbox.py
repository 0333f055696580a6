"""Extraction in a sandbox process: a page stuck in C code is stopped at the CPU limit, a page
that needs too much memory is dropped, a crash costs one page, and Ctrl-C ends a run cleanly."""

from __future__ import annotations

import contextlib
import multiprocessing
import os
import resource
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import duckdb
import psutil
import pytest
from cli_runner import run_cli
from warc_builder import Page, RealPage, write_warc

from toxmine.miner import extract_sandbox
from toxmine.miner.decode import decode_html
from toxmine.miner.errors import ConfigError
from toxmine.miner.extract import ExtractCrash, ExtractOptions, ExtractTimeout, extract_text
from toxmine.miner.extract_sandbox import ExtractSandbox, close_process_sandbox, process_sandbox
from toxmine.miner.mine import mine
from toxmine.miner.process import ProcessOptions
from toxmine.miner.sources import LocalFile


def stuck_page(elements: int = 16_000) -> bytes:
    """One <p> with many sibling <b> elements: trafilatura's `//p//text()` is a single lxml XPath
    call, quadratic in libxml2's node-set merge, that no Python signal can interrupt (16,000
    elements: ~13 CPU-s, nearly all inside that call; the limit's signal fires only after it)."""
    inner = "".join(f"<b>w{i}</b> " for i in range(elements))
    return f"<html><body><article><p>{inner}</p></article></body></html>".encode()


def greedy_page(mib: float = 2.0) -> bytes:
    """A list of links: ~100 bytes of memory per HTML byte to extract (2 MiB: ~180 MiB)."""
    n = int(mib * (1 << 20) / 40)
    items = "".join(f"<li><a href='/p{i}'>w{i}</a></li>" for i in range(n))
    return f"<html><body><ul>{items}</ul></body></html>".encode()


def _good(demo_pages: list[RealPage], n: int) -> list[RealPage]:
    """`n` long English pages of the demo sample (each extracts to a kept document)."""
    english = [p for p in demo_pages if "/en/" in p.url or ".com/" in p.url]
    return sorted(english or demo_pages, key=lambda p: -len(p.payload))[:n]


def _warc_with(tmp_path: Path, demo_pages: list[RealPage], bad: bytes, name: str) -> Path:
    """good page, the bad page, two more good pages."""
    good = _good(demo_pages, 3)
    pages = [Page(p.url, p.payload, content_type=p.content_type) for p in good]
    pages.insert(1, Page(f"https://bad.example/{name}", bad))
    path = tmp_path / f"{name}.warc.gz"
    write_warc(path, pages)
    return path


def _cpu_s() -> float:
    """CPU seconds of this process and its finished children."""
    own, kids = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _extract_drops(drops: list[tuple[str, int]]) -> dict[str, int]:
    return {reason: n for reason, n in drops if reason.startswith("extract_")}


def _documents(db: Path) -> list[str]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return [row[0] for row in con.execute("SELECT url FROM documents ORDER BY warc_offset").fetchall()]
    finally:
        con.close()


def test_page_stuck_in_c_code_is_stopped_at_the_cpu_limit(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    path = _warc_with(tmp_path, demo_pages, stuck_page(), "stuck")
    options = ProcessOptions(extract=ExtractOptions(timeout_s=1.0))
    started = _cpu_s()
    report = mine([LocalFile(str(path))], str(tmp_path / "db.duckdb"), options, workers=1)
    spent = _cpu_s() - started
    assert _extract_drops(report.drops) == {"extract_timeout": 1}
    assert report.documents == 3 and report.ok  # the pages after it are still extracted
    # limit 1 s (+ at most 1.5 s before the kernel's kill) + two sandbox start-ups + 3 pages + mining
    assert spent < 6.0, f"the stuck page ran {spent:.1f} CPU-s against a 1 s limit"
    assert len(_documents(tmp_path / "db.duckdb")) == 3


def test_page_over_the_memory_budget_is_dropped_and_the_run_goes_on(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    path = _warc_with(tmp_path, demo_pages, greedy_page(), "greedy")
    options = ProcessOptions(extract=ExtractOptions(memory_mb=48))
    report = mine([LocalFile(str(path))], str(tmp_path / "db.duckdb"), options, workers=2)
    assert _extract_drops(report.drops) == {"extract_memory": 1}
    assert report.documents == 3 and report.ok


def test_cli_memory_budget_option(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    path = _warc_with(tmp_path, demo_pages, greedy_page(), "greedy")
    command = ["mine", str(path), "--db", str(tmp_path / "db.duckdb"), "--extract-memory-mb", "48", "--no-score"]
    done = run_cli(*command, env={"CI": "1"})
    assert done.returncode == 0, done.stderr
    assert "extract_memory" in done.stdout  # the drop table
    assert "https://bad.example/greedy dropped (extract_memory): over its memory budget of 48 MiB" in done.stderr


def _descendants(pid: int) -> tuple[float, list[psutil.Process]]:
    """CPU seconds used by the descendants of process `pid`, and its extraction sandboxes."""
    cpu, sandboxes = 0.0, []
    for process in psutil.Process(pid).children(recursive=True):
        with contextlib.suppress(psutil.Error):
            times = process.cpu_times()
            cpu += times.user + times.system
            if any(part.endswith("extract_child.py") for part in process.cmdline()):
                sandboxes.append(process)
    return cpu, sandboxes


@pytest.mark.subprocess
@pytest.mark.slow
def test_ctrl_c_with_two_workers_ends_with_one_message(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    paths = []
    for i in range(8):  # long enough that the workers are still extracting when Ctrl-C comes, even on idle cores
        path = tmp_path / f"part-{i}.warc.gz"
        write_warc(path, [Page(f"{p.url}#{i}", p.payload, content_type=p.content_type) for p in demo_pages])
        paths.append(str(path))
    command = [sys.executable, "-m", "toxmine", "mine", *paths, "--db", str(tmp_path / "db.duckdb"), "--workers", "2"]
    # a session of its own, so that SIGINT goes to the whole process group, as a terminal's Ctrl-C does
    proc = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, env={**os.environ, "CI": "1"})  # fmt: skip
    deadline = time.monotonic() + 60
    while _descendants(proc.pid)[0] < 4.0 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)  # wait until the workers are well into extraction
    _, sandboxes = _descendants(proc.pid)
    assert proc.poll() is None, "the run ended before Ctrl-C: give it more input"  # else SIGINT tests nothing
    os.killpg(proc.pid, signal.SIGINT)
    _, stderr = proc.communicate(timeout=60)
    assert proc.returncode == 130, stderr
    assert "Traceback" not in stderr and "KeyboardInterrupt" not in stderr, stderr
    assert stderr.count("toxmine: interrupted") == 1, stderr
    _, alive = psutil.wait_procs(sandboxes, timeout=10)
    assert not alive, "extraction sandboxes outlived the run"


# -- the sandbox on its own ----------------------------------------------------------------------------
def _html(page: RealPage) -> str:
    return decode_html(page.payload)[0]


@pytest.mark.slow
def test_sandbox_gives_the_text_of_in_process_extraction(demo_pages: list[RealPage]) -> None:
    options = ExtractOptions()
    with ExtractSandbox() as sandbox:
        for page in demo_pages[::4]:
            assert sandbox.extract(_html(page), page.url, options) == extract_text(_html(page), page.url, options)
        assert sandbox.extract("<html><body></body></html>", None, options) is None
        assert sandbox.starts == 1


def test_python_level_timeout_keeps_the_child(demo_pages: list[RealPage]) -> None:
    big = max(demo_pages, key=lambda p: len(p.payload))
    with ExtractSandbox() as sandbox:
        assert sandbox.extract(_html(big), big.url, ExtractOptions())
        pid = sandbox.pid
        with pytest.raises(ExtractTimeout, match=r"over its limit of 0\.001 CPU-s"):
            sandbox.extract(_html(big) * 3, big.url, ExtractOptions(timeout_s=0.001))
        assert sandbox.extract(_html(big), big.url, ExtractOptions()) and sandbox.pid == pid


def test_crash_drops_one_page_and_a_new_child_takes_the_next(demo_pages: list[RealPage]) -> None:
    page = _good(demo_pages, 1)[0]
    with ExtractSandbox() as sandbox:
        assert sandbox.extract(_html(page), page.url, ExtractOptions())
        pid = sandbox.pid
        assert pid is not None
        timer = threading.Timer(0.5, os.kill, (pid, signal.SIGSEGV))  # a fault inside C code
        timer.start()
        with pytest.raises(ExtractCrash, match=r"died \(killed by SIGSEGV\)"):
            sandbox.extract(stuck_page().decode(), None, ExtractOptions(timeout_s=30))
        timer.join()
        assert sandbox.extract(_html(page), page.url, ExtractOptions()) and sandbox.pid != pid
        assert sandbox.starts == 2


def test_wall_clock_backstop_for_a_child_that_hangs(demo_pages: list[RealPage]) -> None:
    page = _good(demo_pages, 1)[0]
    with ExtractSandbox(wall_factor=0, wall_grace_s=1.0) as sandbox:
        assert sandbox.extract(_html(page), page.url, ExtractOptions())
        assert sandbox.pid is not None
        os.kill(sandbox.pid, signal.SIGSTOP)  # uses no CPU, answers nothing
        started = time.monotonic()
        with pytest.raises(ExtractTimeout, match="no answer in 1 s of wall time"):
            sandbox.extract(_html(page), page.url, ExtractOptions())
        assert time.monotonic() - started < 5
        assert sandbox.extract(_html(page), page.url, ExtractOptions())


def test_a_sandbox_that_cannot_start_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(extract_sandbox, "_CHILD_SCRIPT", str(tmp_path / "missing.py"))
    with (
        ExtractSandbox() as sandbox,
        pytest.raises(ConfigError, match=r"cannot start the extraction sandbox.*missing\.py"),
    ):
        sandbox.extract("<p>x</p>", None, ExtractOptions())


_ORPHAN = """
import sys, time
from toxmine.miner import extract_sandbox
from toxmine.miner.decode import decode_html
from toxmine.miner.errors import ConfigError
from toxmine.miner.extract import ExtractCrash, ExtractOptions, ExtractTimeout, extract_text
from toxmine.miner.extract_sandbox import ExtractSandbox, close_process_sandbox, process_sandbox
from toxmine.miner.extract_sandbox import ExtractSandbox
sandbox = ExtractSandbox()
sandbox.extract("<html><body><p>" + "words " * 50 + "</p></body></html>", None, ExtractOptions())
print(sandbox.pid, flush=True)
time.sleep(600)
"""


@pytest.mark.subprocess
def test_the_child_exits_when_its_parent_dies() -> None:
    parent = subprocess.Popen([sys.executable, "-c", _ORPHAN], stdout=subprocess.PIPE, text=True)
    assert parent.stdout is not None
    child = psutil.Process(int(parent.stdout.readline()))
    parent.kill()  # SIGKILL: no clean-up of any kind
    parent.wait()
    child.wait(timeout=10)  # its stdin ended


@pytest.mark.ray
@pytest.mark.slow
def test_ray_workers_extract_in_a_sandbox(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    path = _warc_with(tmp_path, demo_pages, greedy_page(), "greedy")
    options = ProcessOptions(extract=ExtractOptions(memory_mb=48))
    report = mine([LocalFile(str(path))], str(tmp_path / "db.duckdb"), options, workers=1, executor="ray")
    assert _extract_drops(report.drops) == {"extract_memory": 1}
    assert report.documents == 3 and report.ok


def _sandbox_pid_in_forked_worker(options: ExtractOptions) -> int | None:
    sandbox = process_sandbox(options)
    assert sandbox.extract("<html><body><p>" + "words " * 50 + "</p></body></html>", None, options)
    pid = sandbox.pid
    close_process_sandbox()
    return pid


def test_a_forked_worker_gets_a_sandbox_of_its_own() -> None:
    options = ExtractOptions()
    mine_ = process_sandbox(options)
    assert mine_.extract("<html><body><p>" + "words " * 50 + "</p></body></html>", None, options)
    ours = mine_.pid
    assert ours is not None
    with multiprocessing.get_context("fork").Pool(1) as pool:
        theirs = pool.apply(_sandbox_pid_in_forked_worker, (options,))
        assert theirs not in (None, ours)
        child = psutil.Process(ours)
        close_process_sandbox()  # the forked worker still lives, yet our child sees its stdin end
        child.wait(timeout=10)
