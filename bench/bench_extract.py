#!/usr/bin/env python3
"""What bounded extraction costs, and how much memory extraction takes, on real WARC pages.

A benchmark, not a test: it prints one Markdown table and writes the same figures as JSON.
In one run it measures

1. the sandbox's cost: `extract_text` in this process vs `ExtractSandbox.extract` (a child
   process over pipes) on the same pages, interleaved page by page, pinned to one CPU; CPU time
   counts this process and the child; the texts must be equal. And what each does with a page
   stuck in one C call, against a limit of 1 CPU-s;
2. memory per HTML byte: the extraction child's peak resident size over its idle size, on
   pages of several kinds and sizes (a fresh child each, no budget);
3. the budget holding: a page that needs more than the default budget, in a default sandbox;
4. end-to-end `mine()` in a fresh subprocess each: workers=1 with in-process extraction vs the
   sandbox (file by file, taking turns), and workers=2 with the defaults, sampling the peak resident size of
   every worker and its extraction child; then workers=2 on a file of hostile pages;
5. from these, how many workers fit a 24 GiB machine.

    .venv/bin/python bench/bench_extract.py                    # bench/.cache/warc
    .venv/bin/python bench/bench_extract.py DIR --max-pages 1000 --json out.json
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict
from typing import Any

from benchkit import (
    corpus_pages,
    loadavg,
    log,
    machine_facts,
    markdown_rows,
    num,
    parallel_capacity,
    rate,
    ratio,
    warc_files,
    write_json,
)

PACKAGES = ("toxmine", "trafilatura", "lxml")
BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_WARC_DIR = os.path.join(BENCH_DIR, ".cache", "warc")
DEFAULT_JSON = os.path.join(BENCH_DIR, ".cache", "extract.json")
CHILD_MODE = "_e2e-child"
MIB = 1 << 20
MACHINE_GIB = 24  # the machine the defaults are sized for


# -- pages ------------------------------------------------------------------------------------------
def _spread(items: list[Any], n: int) -> list[Any]:
    return items if n <= 0 or len(items) <= n else [items[i * len(items) // n] for i in range(n)]


def _sized(unit: Callable[[int], str], size: int) -> str:
    """An HTML page of about `size` bytes built of `unit(i)` items."""
    parts, total, i = [], 0, 0
    while total < size:
        part = unit(i)
        parts.append(part)
        total += len(part)
        i += 1
    return "".join(parts)


def _kinds(corpus: list[tuple[str, str]]) -> dict[str, Callable[[int], str]]:
    """Page builders by kind: real text pages repeated, and markup-dense pages."""
    bodies = []
    for _, html in corpus[:400]:
        start, end = html.find("<body"), html.rfind("</body>")
        if start >= 0 and end > start:
            bodies.append(html[html.find(">", start) + 1 : end])
    text = "".join(bodies)

    def repeated(size: int) -> str:
        inner = (text * (size // max(1, len(text)) + 1))[:size]
        return f"<html><head><title>t</title></head><body>{inner}</body></html>"

    def article(unit: Callable[[int], str]) -> Callable[[int], str]:
        return lambda size: f"<html><body><article>{_sized(unit, size)}</article></body></html>"

    def links(i: int) -> str:
        return f"<li><a href=/p{i}>w{i}</a></li>"

    def cells(i: int) -> str:
        return f"<td>w{i}</td>" + ("</tr><tr>" if i % 10 == 9 else "")

    return {
        "corpus pages, bodies joined": repeated,
        "paragraphs `<p>word ...</p>`": article(lambda i: f"<p>word {i} and more words in a sentence</p>"),
        "link list `<li><a>`": lambda size: f"<html><body><ul>{_sized(links, size)}</ul></body></html>",
        "table cells `<td>`": lambda size: f"<html><body><table><tr>{_sized(cells, size)}</tr></table></body></html>",
        "sibling `<b>` in one `<p>` (quadratic)": article(lambda i: f"<b>w{i}</b> "),
    }


def _hostile_pages(normal: list[tuple[str, str]]) -> list[tuple[str, bytes]]:
    """Pages that run long or need much memory, between three normal pages of the corpus."""
    spans = "".join(f"<span>w{i} </span>" for i in range(80_000))
    bolds = "".join(f"<b>w{i}</b> " for i in range(40_000))
    links = _sized(lambda i: f"<li><a href=/p{i}>w{i}</a></li>", int(3.5 * MIB))
    (url1, page1), (url2, page2), (url3, page3) = normal[:3]
    return [
        (url1, page1.encode()),
        ("https://hostile.example/80k-spans", f"<html><body><article><p>{spans}</p></article></body></html>".encode()),
        (url2, page2.encode()),
        ("https://hostile.example/40k-bold", f"<html><body><article><p>{bolds}</p></article></body></html>".encode()),
        ("https://hostile.example/3.5mib-links", f"<html><body><ul>{links}</ul></body></html>".encode()),
        (url3, page3.encode()),
    ]


def _write_hostile_warc(path: str, normal: list[tuple[str, str]]) -> list[str]:
    import io

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    pages = _hostile_pages(normal)
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=True)
        for url, body in pages:
            headers = [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))]
            http = StatusAndHeaders("200 OK", headers, protocol="HTTP/1.1")
            writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body), http_headers=http))
    return [url for url, _ in pages]


# -- process facts ----------------------------------------------------------------------------------
def _status_kib(pid: int, field: str) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as handle:
            for line in handle:
                if line.startswith(field + ":"):
                    return int(line.split()[1])
    except OSError:
        return None
    return None


def _cpu_of(pid: int) -> float:
    """utime + stime of a process, from /proc (10 ms ticks)."""
    with open(f"/proc/{pid}/stat", encoding="ascii") as handle:
        fields = handle.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class _HwmWatch:
    """Samples VmHWM (peak resident size) and CPU time of a process tree every `every_s` seconds
    in a thread; the last seen per pid, and each one's parent and command, remain when a process
    ends (its CPU time then lacks at most `every_s`)."""

    def __init__(self, roots: Callable[[], list[int]], every_s: float = 0.05) -> None:
        self.roots = roots
        self.every_s = every_s
        self.peak_kib: dict[int, int] = {}
        self.cpu_s: dict[int, float] = {}
        self.parent: dict[int, int] = {}
        self.command: dict[int, str] = {}
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> _HwmWatch:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()
        self._sample()

    def _run(self) -> None:
        while not self._stop.wait(self.every_s):
            self._sample()

    def _sample(self) -> None:
        import psutil

        for pid in self.roots():
            try:
                processes = [psutil.Process(pid), *psutil.Process(pid).children(recursive=True)]
            except psutil.Error:
                continue
            for process in processes:
                hwm = _status_kib(process.pid, "VmHWM")
                if hwm is None:
                    continue
                self.peak_kib[process.pid] = max(hwm, self.peak_kib.get(process.pid, 0))
                try:
                    self.cpu_s[process.pid] = _cpu_of(process.pid)
                    self.parent[process.pid] = process.ppid()
                    self.command[process.pid] = " ".join(process.cmdline()[:3])  # after exec, not the fork's
                except (psutil.Error, OSError):
                    pass


# -- 1. cost of the mechanism -------------------------------------------------------------------------
def _cost(pages: list[tuple[str, str]]) -> dict[str, Any]:
    from toxmine.miner.extract import ExtractFailure, ExtractOptions, extract_text
    from toxmine.miner.extract_sandbox import ExtractSandbox

    options = ExtractOptions()
    inproc = {"wall": 0.0, "cpu": 0.0}
    boxed = {"wall": 0.0, "cpu_parent": 0.0}
    same = differ = failed = 0
    with ExtractSandbox(options.memory_mb) as sandbox:
        url, html = pages[0]
        sandbox.extract(html, url, options)  # start-up and warm-up are not counted
        extract_text(html, url, options)
        assert sandbox.pid is not None
        child_cpu = _cpu_of(sandbox.pid)

        def run_inproc(url: str, html: str) -> str | Exception | None:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return extract_text(html, url, options)
            except ExtractFailure as exc:
                return exc
            finally:
                inproc["wall"] += time.perf_counter() - wall
                inproc["cpu"] += time.process_time() - cpu

        def run_boxed(url: str, html: str) -> str | Exception | None:
            wall, cpu = time.perf_counter(), time.process_time()
            try:
                return sandbox.extract(html, url, options)
            except ExtractFailure as exc:
                return exc
            finally:
                boxed["wall"] += time.perf_counter() - wall
                boxed["cpu_parent"] += time.process_time() - cpu

        for i, (url, html) in enumerate(pages):
            if i % 2:
                a, b = run_inproc(url, html), run_boxed(url, html)
            else:
                b, a = run_boxed(url, html), run_inproc(url, html)
            if isinstance(a, Exception) or isinstance(b, Exception):
                failed += 1
            elif a == b:
                same += 1
            else:
                differ += 1
        assert sandbox.pid is not None
        boxed["cpu_child"] = _cpu_of(sandbox.pid) - child_cpu
        starts = sandbox.starts
    boxed["cpu"] = boxed["cpu_parent"] + boxed["cpu_child"]
    n = len(pages)
    html_mb = sum(len(html.encode("utf-8", "surrogatepass")) for _, html in pages) / MIB
    return {
        "pages": n,
        "html_mib": html_mb,
        "in_process": {**inproc, "pages_per_s": rate(n, inproc["wall"]), "pages_per_cpu_s": rate(n, inproc["cpu"])},
        "sandbox": {**boxed, "pages_per_s": rate(n, boxed["wall"]), "pages_per_cpu_s": rate(n, boxed["cpu"])},
        "ratio_wall": ratio(inproc["wall"], boxed["wall"]),
        "ratio_cpu": ratio(inproc["cpu"], boxed["cpu"]),
        "overhead_ms_per_page": 1000 * (boxed["wall"] - inproc["wall"]) / n if n else None,
        "same_text": same,
        "different_text": differ,
        "failed": failed,
        "sandbox_starts": starts,
    }


def _stuck(limit_s: float = 1.0, elements: int = 16_000) -> dict[str, Any]:
    """A page stuck in one C call (sibling <b> in one <p>), in this process and in a sandbox."""
    import resource

    from toxmine.miner.extract import ExtractFailure, ExtractOptions, extract_text
    from toxmine.miner.extract_sandbox import ExtractSandbox

    inner = "".join(f"<b>w{i}</b> " for i in range(elements))
    html = f"<html><body><article><p>{inner}</p></article></body></html>"
    options = ExtractOptions(timeout_s=limit_s)
    cpu = time.process_time()
    try:
        extract_text(html, None, options)
        inproc = "text"
    except ExtractFailure as exc:
        inproc = exc.reason.value
    inproc_cpu = time.process_time() - cpu

    def reaped() -> float:
        usage = resource.getrusage(resource.RUSAGE_CHILDREN)
        return usage.ru_utime + usage.ru_stime

    with ExtractSandbox(options.memory_mb) as sandbox:
        pid = _started(sandbox, options)
        before, child_before = reaped(), _cpu_of(pid)
        wall = time.perf_counter()
        try:
            sandbox.extract(html, None, options)
            boxed = "text"
        except ExtractFailure as exc:
            boxed = f"{exc.reason.value}: {exc}"
        boxed_wall = time.perf_counter() - wall
        boxed_cpu = reaped() - before - child_before  # the killed child's CPU, reaped, less its start-up
    return {
        "limit_s": limit_s,
        "elements": elements,
        "html_bytes": len(html),
        "in_process_cpu_s": inproc_cpu,
        "in_process": inproc,
        "sandbox_cpu_s": boxed_cpu,
        "sandbox_wall_s": boxed_wall,
        "sandbox": boxed,
    }


def _started(sandbox: Any, options: Any) -> int:
    """Start the sandbox's child on a tiny page (so what follows measures extraction, not start-up): its pid."""
    sandbox.extract("<html><body><p>idle</p></body></html>", None, options)
    assert sandbox.pid is not None
    pid: int = sandbox.pid
    return pid


# -- 2. memory per HTML byte ----------------------------------------------------------------------------
def _peak_of_one(html: str, timeout_s: float = 0.0) -> dict[str, Any]:
    """A fresh child without a budget extracts `html`: its idle and peak resident size."""
    from toxmine.miner.extract import ExtractFailure, ExtractOptions
    from toxmine.miner.extract_sandbox import ExtractSandbox

    with ExtractSandbox(memory_mb=0) as sandbox:
        pid = _started(sandbox, ExtractOptions())
        idle = _status_kib(pid, "VmRSS") or 0
        cpu = _cpu_of(pid)
        wall = time.perf_counter()
        outcome = "text"
        try:
            if sandbox.extract(html, None, ExtractOptions(timeout_s=timeout_s)) is None:
                outcome = "empty"
        except ExtractFailure as exc:
            outcome = exc.reason.value
        took = time.perf_counter() - wall
        peak = _status_kib(pid, "VmHWM") if sandbox.pid == pid else None
        cpu = _cpu_of(pid) - cpu if sandbox.pid == pid else float("nan")
    size = len(html.encode("utf-8", "surrogatepass"))
    grown = None if peak is None else (peak - idle) * 1024
    return {
        "html_bytes": size,
        "idle_rss_kib": idle,
        "peak_rss_kib": peak,
        "bytes_per_html_byte": grown / size if grown is not None else None,
        "wall_s": took,
        "cpu_s": cpu,
        "outcome": outcome,
    }


def _memory(corpus: list[tuple[str, str]], sizes_mib: Sequence[float]) -> dict[str, Any]:
    results: dict[str, Any] = {}
    largest = sorted(corpus, key=lambda page: -len(page[1]))[:3]
    results["largest corpus pages"] = [
        {**_peak_of_one(html), "url": url} for url, html in largest
    ]  # one page each, as crawled
    for kind, build in _kinds(corpus).items():
        quadratic = "quadratic" in kind
        sizes = [0.25] if quadratic else sizes_mib  # 0.25 MiB of it already runs ~10 s
        results[kind] = [_peak_of_one(build(int(mib * MIB))) for mib in sizes]
        log(f"memory: {kind}: " + ", ".join(num(r["bytes_per_html_byte"], 0) for r in results[kind]) + " B/B")
    return results


# -- 3. the budget holding ----------------------------------------------------------------------------
def _budget(corpus: list[tuple[str, str]]) -> dict[str, Any]:
    from toxmine.miner.extract import ExtractFailure, ExtractOptions
    from toxmine.miner.extract_sandbox import ExtractSandbox

    options = ExtractOptions(timeout_s=120)
    page = _kinds(corpus)["link list `<li><a>`"](16 * MIB)  # ~1.6 GB to extract
    with ExtractSandbox(options.memory_mb) as sandbox:
        pid = _started(sandbox, options)
        idle = _status_kib(pid, "VmRSS") or 0
        with _HwmWatch(lambda: [pid], every_s=0.01) as watch:
            wall = time.perf_counter()
            try:
                sandbox.extract(page, None, options)
                outcome = "text"
            except ExtractFailure as exc:
                outcome = f"{exc.reason.value}: {exc}"
            took = time.perf_counter() - wall
        next_ok = sandbox.extract(corpus[0][1], corpus[0][0], options) is not None
    return {
        "memory_mb": options.memory_mb,
        "html_bytes": len(page),
        "idle_rss_kib": idle,
        "peak_rss_kib": watch.peak_kib.get(pid),
        "outcome": outcome,
        "wall_s": took,
        "next_page_ok": next_ok,
    }


# -- 4. end-to-end, in a fresh subprocess each ---------------------------------------------------------
def _e2e_child(argv: Sequence[str]) -> int:
    """`bench_extract.py _e2e-child WORKERS SANDBOX DB FILE...`: mine() once, print JSON."""
    workers, sandbox, db_path, files = int(argv[0]), argv[1] == "1", argv[2], list(argv[3:])
    from toxmine.miner import ExtractOptions, LocalFile, ProcessOptions, mine

    options = ProcessOptions(extract=ExtractOptions(sandbox=sandbox))
    me = os.getpid()
    with _HwmWatch(lambda: [me]) as watch:
        started = time.perf_counter()
        report = mine([LocalFile(path) for path in files], db_path, options, workers=workers)
        wall = time.perf_counter() - started
    usage = os.times()
    workers_peak = []
    for pid, peak in watch.peak_kib.items():
        if watch.parent.get(pid) != me or "extract_child" in watch.command.get(pid, ""):
            continue
        children = [p for p, parent in watch.parent.items() if parent == pid]
        child_peak = max((watch.peak_kib[c] for c in children), default=0)
        workers_peak.append({"worker_kib": peak, "sandbox_kib": child_peak, "sandboxes": len(children)})
    direct_sandboxes = [p for p, parent in watch.parent.items() if parent == me and "extract_child" in watch.command[p]]
    result = {
        "workers": workers,
        "sandbox": sandbox,
        "files": len(files),
        "wall_s": wall,
        "cpu_s": usage.user + usage.system + sum(cpu for pid, cpu in watch.cpu_s.items() if pid != me),
        "records": report.records,
        "documents": report.documents,
        "drops": dict(report.drops),
        "main_peak_kib": _status_kib(me, "VmHWM"),
        "workers_peak": workers_peak,
        "main_sandbox_kib": max((watch.peak_kib[p] for p in direct_sandboxes), default=None),
    }
    print(json.dumps(result))
    return 0


def _run_e2e(files: Sequence[str], workers: int, sandbox: bool, tmp_dir: str | None) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="toxmine-bench-", dir=tmp_dir) as folder:
        db_path = os.path.join(folder, "bench.duckdb")
        command = [sys.executable, os.path.abspath(__file__), CHILD_MODE, str(workers), str(int(sandbox)), db_path]
        done = subprocess.run([*command, *files], capture_output=True, text=True, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-5000:])
        raise SystemExit(f"end-to-end child failed (exit {done.returncode}): {shlex.join(command)} ...")
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def _paired_e2e(files: Sequence[str], tmp_dir: str | None) -> tuple[dict[str, Any], dict[str, Any]]:
    """workers=1 with in-process extraction and with the sandbox, file by file, taking turns at
    going first, so that drift in the machine's speed (10-25 % here between runs minutes apart)
    falls on both alike; the figures of the two are summed over the files (peaks: the largest)."""
    totals: dict[bool, dict[str, Any]] = {}
    for i, path in enumerate(files):
        for sandbox in (False, True) if i % 2 == 0 else (True, False):
            one = _run_e2e([path], 1, sandbox, tmp_dir)
            total = totals.setdefault(sandbox, {**one, "files": 0, "wall_s": 0.0, "cpu_s": 0.0, "records": 0,
                                                "documents": 0, "drops": {}})  # fmt: skip
            total["files"] += 1
            for key in ("wall_s", "cpu_s", "records", "documents"):
                total[key] += one[key]
            for reason, n in one["drops"].items():
                total["drops"][reason] = total["drops"].get(reason, 0) + n
            for key in ("main_peak_kib", "main_sandbox_kib"):
                total[key] = max(total[key] or 0, one[key] or 0) or None
        inproc, boxed = totals[False]["wall_s"], totals[True]["wall_s"]
        log(f"file {i + 1}/{len(files)}: in-process {inproc:.1f} s, sandbox {boxed:.1f} s so far")
    return totals[False], totals[True]


# -- report ----------------------------------------------------------------------------------------------
def _mib(kib: float | None) -> str:
    return "n/a" if kib is None else f"{kib / 1024:,.0f} MiB"


def _worker_bound(e2e: dict[str, Any]) -> tuple[float, float, float]:
    """Largest worker, largest sandbox (KiB) and the largest pair."""
    peaks = e2e["workers_peak"] or [{"worker_kib": 0, "sandbox_kib": e2e.get("main_sandbox_kib") or 0}]
    return (
        max(p["worker_kib"] for p in peaks),
        max(p["sandbox_kib"] for p in peaks),
        max(p["worker_kib"] + p["sandbox_kib"] for p in peaks),
    )


def _rows(r: dict[str, Any]) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []

    def row(
        key: str,
        what: str,
        n: str = "",
        wall: str = "",
        cpu: str = "",
        res: str = "",
        res_cpu: str = "",
        note: str = "",
    ) -> None:
        rows.append((key, what, n, wall, cpu, res, res_cpu, note))

    cost = r["cost"]
    pages = f"{cost['pages']:,} pages, {num(cost['html_mib'], 1)} MiB"
    for key, name, label in (
        ("1a", "in_process", "`extract_text` in this process"),
        ("1b", "sandbox", "`ExtractSandbox.extract` (child process, pipes)"),
    ):
        c = cost[name]
        note = "" if name == "in_process" else f"CPU: this process {num(c['cpu_parent'], 2)} s + child "
        note += "" if name == "in_process" else f"{num(c['cpu_child'], 2)} s"
        row(
            key,
            label,
            pages,
            num(c["wall"], 2),
            num(c["cpu"], 2),
            f"{num(c['pages_per_s'])} pages/s",
            f"{num(c['pages_per_cpu_s'])} pages/CPU-s",
            note,
        )
    row(
        "1c",
        "ratio sandbox / in-process (throughput)",
        res=f"**{num(cost['ratio_wall'], 3)}**",
        res_cpu=f"**{num(cost['ratio_cpu'], 3)}**",
        note=f"{num(cost['overhead_ms_per_page'], 2)} ms more per page; same text on {cost['same_text']:,} pages, "
        f"different on {cost['different_text']}, failed {cost['failed']}; child starts: {cost['sandbox_starts']}",
    )
    st = r["stuck"]
    row(
        "1d",
        f"a page stuck in one C call ({st['elements']:,} sibling `<b>` in a `<p>`), limit {st['limit_s']:g} CPU-s",
        "1 page",
        cpu=f"{num(st['in_process_cpu_s'], 1)} / {num(st['sandbox_cpu_s'], 2)}",
        res=f"**{num(st['sandbox_cpu_s'], 2)} CPU-s**",
        note=f"in-process `extract_text`: {num(st['in_process_cpu_s'], 1)} CPU-s ({st['in_process']}); sandbox: "
        f"{num(st['sandbox_cpu_s'], 2)} CPU-s, {num(st['sandbox_wall_s'], 2)} s wall ({st['sandbox']})",
    )
    for kind, points in r["memory"].items():
        parts = []
        for p in points:
            grown = p["peak_rss_kib"] - p["idle_rss_kib"] if p["peak_rss_kib"] else None
            parts.append(
                f"{num(p['html_bytes'] / MIB, 2)} MiB: +{_mib(grown)} ({num(p['bytes_per_html_byte'], 0)} B/B, "
                f"{num(p['cpu_s'], 1)} CPU-s, {p['outcome']})"
            )
        worst = max((p["bytes_per_html_byte"] or 0) for p in points)
        row(
            "2",
            f"peak RSS over idle per HTML byte: {kind}",
            f"{len(points)} pages",
            res=f"**{num(worst, 0)} B/B**",
            note="; ".join(parts),
        )
    b = r["budget"]
    row(
        "3",
        f"budget {b['memory_mb']} MiB vs a {num(b['html_bytes'] / MIB, 0)} MiB link list (~1.6 GB to extract)",
        "1 page",
        num(b["wall_s"], 2),
        res=f"peak {_mib(b['peak_rss_kib'])}",
        note=f"idle {_mib(b['idle_rss_kib'])}; {b['outcome']}; next page extracted: {b['next_page_ok']}",
    )
    for key, name, label in (
        ("4a", "e2e_inprocess", "`mine()` workers=1, in-process extraction (`sandbox=False`), file by file"),
        ("4b", "e2e_sandbox", "`mine()` workers=1, sandbox (default), file by file, in turns with 4a"),
        ("4c", "e2e_workers2", "`mine()` workers=2, defaults"),
    ):
        e = r[name]
        worker, child, pair = _worker_bound(e)
        peaks = f"peak RSS: main {_mib(e['main_peak_kib'])}"
        if e["workers_peak"]:
            peaks += f", worker {_mib(worker)}, its sandbox {_mib(child)}, worker + sandbox {_mib(pair)}"
        elif e["main_sandbox_kib"]:
            peaks += f", its sandbox {_mib(child)}"
        row(
            key,
            label,
            f"{e['html_pages']:,} pages",
            num(e["wall_s"], 1),
            num(e["cpu_s"], 1),
            f"{num(e['pages_per_s'])} pages/s",
            f"{num(e['pages_per_cpu_s'])} pages/CPU-s",
            f"{e['documents']:,} documents; {peaks}",
        )
    ratios = r["ratios"]
    row(
        "4d",
        "ratio 4b / 4a (throughput, whole pipeline)",
        res=f"**{num(ratios['e2e_sandbox_over_inprocess'], 3)}**",
        res_cpu=f"**{num(ratios['e2e_sandbox_over_inprocess_cpu'], 3)}**",
    )
    h = r["hostile"]
    worker, child, pair = _worker_bound(h)
    drops = ", ".join(f"{k} {v}" for k, v in sorted(h["drops"].items()) if k.startswith(("extract", "too")))
    row(
        "5",
        "`mine()` workers=2, defaults, hostile file",
        f"{len(h['urls'])} pages",
        num(h["wall_s"], 1),
        num(h["cpu_s"], 1),
        f"{h['documents']} documents",
        note=f"drops: {drops}; peak RSS: worker {_mib(worker)}, its sandbox {_mib(child)}, pair {_mib(pair)}",
    )
    p = r["plan"]
    row(
        "6",
        f"`--workers N` on a {MACHINE_GIB} GiB machine",
        res=f"**N <= {p['max_workers']}**",
        note=f"bound per worker = worker {_mib(p['worker_kib'])} + sandbox idle {_mib(p['sandbox_idle_kib'])} + "
        f"budget {p['memory_mb']} MiB = {_mib(p['per_worker_kib'])}; main (writer) {_mib(p['main_kib'])}, "
        f"1 GiB for the system; N=16: {num(p['n16_gib'], 1)} GiB",
    )
    return rows


def _report(r: dict[str, Any]) -> str:
    machine = r["machine"]
    header = (
        "| # | measurement | n | wall s | CPU s | result (wall) | result (CPU) | notes |\n"
        "|---|---|---:|---:|---:|---:|---:|---|"
    )
    lines = [
        "## toxmine extraction sandbox benchmark",
        "",
        f"- command: `{r['command']}`",
        f"- machine: nproc {machine['nproc']} (usable {machine['usable_cpus']}), {machine['cpu']}, "
        f"{machine['platform']}; part 1 pinned to one CPU; 2 processes vs 1: "
        f"x{num(machine['parallel_speedup_start'], 2)} at start, x{num(machine['parallel_speedup_end'], 2)} at end; "
        f"load average {machine['loadavg_start']} -> "
        f"{machine['loadavg_end']}",
        f"- versions: {', '.join(f'{k} {v}' for k, v in machine['versions'].items())}",
        f"- corpus: {r['corpus']['files']} files in `{r['corpus']['warc_dir']}`, {r['corpus']['html_pages']:,} HTML "
        f"pages; defaults: {r['defaults']}",
        f"- benchmark took {r['total_seconds']:.0f} s",
        "",
        header,
        *markdown_rows(_rows(r)),
    ]
    return "\n".join(lines)


# -- main ------------------------------------------------------------------------------------------------
def _parse(argv: Sequence[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("warc_dir", nargs="?", default=DEFAULT_WARC_DIR, help="folder of WARC files")
    parser.add_argument("--json", default=DEFAULT_JSON, help="figures go here (default: %(default)s)")
    parser.add_argument("--max-pages", type=int, default=1000, help="pages for part 1, spread evenly; 0 = all")
    parser.add_argument("--sizes", default="1,4,8", help="page sizes (MiB) for part 2 (default 1,4,8)")
    parser.add_argument("--tmp-dir", default=None, help="folder for the temporary DuckDB files")
    return parser.parse_args(argv)


def _plan(e2e: dict[str, Any], memory_mb: int, idle_kib: float) -> dict[str, Any]:
    worker, _, _ = _worker_bound(e2e)
    per_worker = worker + idle_kib + memory_mb * 1024
    main = e2e["main_peak_kib"] or 0
    room = MACHINE_GIB * 1024 * 1024 - main - 1024 * 1024
    return {
        "worker_kib": worker,
        "sandbox_idle_kib": idle_kib,
        "memory_mb": memory_mb,
        "per_worker_kib": per_worker,
        "main_kib": main,
        "max_workers": int(room // per_worker),
        "n16_gib": (16 * per_worker + main) / (1024 * 1024),
    }


def main(argv: Sequence[str] | None = None) -> int:
    arguments = list(sys.argv[1:] if argv is None else argv)
    if arguments and arguments[0] == CHILD_MODE:
        return _e2e_child(arguments[1:])
    args = _parse(arguments)
    began = time.perf_counter()
    load_start = loadavg()
    parallel_start = parallel_capacity()
    files = warc_files(args.warc_dir)
    from toxmine.miner.extract import ExtractOptions
    from toxmine.miner.process import ProcessOptions

    corpus = corpus_pages(files)
    log(f"{len(files)} files: end-to-end runs")
    e2e_in, e2e_box = _paired_e2e(files, args.tmp_dir)
    e2e_two = _run_e2e(files, 2, True, args.tmp_dir)
    log(f"workers=2 sandbox: {e2e_two['wall_s']:.1f} s")
    with tempfile.TemporaryDirectory(prefix="toxmine-hostile-", dir=args.tmp_dir) as folder:
        hostile_path = os.path.join(folder, "hostile.warc.gz")
        urls = _write_hostile_warc(hostile_path, [page for page in corpus if 20_000 < len(page[1]) < 100_000])
        hostile = _run_e2e([hostile_path], 2, True, args.tmp_dir)
    hostile["urls"] = urls
    log(f"hostile file: {hostile['wall_s']:.1f} s, drops {hostile['drops']}")

    for e2e in (e2e_in, e2e_box, e2e_two):
        e2e["html_pages"] = len(corpus)
        e2e["pages_per_s"] = rate(len(corpus), e2e["wall_s"])
        e2e["pages_per_cpu_s"] = rate(len(corpus), e2e["cpu_s"])
    sample = _spread(corpus, args.max_pages)
    pinned = os.sched_getaffinity(0) if hasattr(os, "sched_setaffinity") else None
    if pinned:
        os.sched_setaffinity(0, {max(pinned)})  # the sandbox child, started below, inherits it
    try:
        cost = _cost(sample)
    finally:
        if pinned:
            os.sched_setaffinity(0, pinned)
    log(f"cost: in-process {cost['in_process']['wall']:.1f} s, sandbox {cost['sandbox']['wall']:.1f} s")
    stuck = _stuck()
    log(f"stuck page: in-process {stuck['in_process_cpu_s']:.1f} CPU-s, sandbox {stuck['sandbox_cpu_s']:.2f} CPU-s")
    memory = _memory(corpus, [float(x) for x in args.sizes.split(",")])
    budget = _budget(corpus)
    log(f"budget: {budget['outcome']}")
    defaults = ProcessOptions()
    idle_kib = float(budget["idle_rss_kib"])
    results: dict[str, Any] = {
        "command": shlex.join([os.path.relpath(sys.executable), *sys.argv]),
        "machine": machine_facts(PACKAGES, load_start, parallel_start, parallel_capacity()),
        "corpus": {"warc_dir": args.warc_dir, "files": len(files), "html_pages": len(corpus)},
        "defaults": f"--extract-timeout {defaults.extract.timeout_s:g}, --extract-memory-mb "
        f"{defaults.extract.memory_mb}, --max-record-mb {defaults.max_record_bytes / MIB:g}",
        "extract_options": asdict(ExtractOptions()),
        "cost": cost,
        "stuck": stuck,
        "memory": memory,
        "budget": budget,
        "e2e_inprocess": e2e_in,
        "e2e_sandbox": e2e_box,
        "e2e_workers2": e2e_two,
        "hostile": hostile,
        "ratios": {
            "e2e_sandbox_over_inprocess": ratio(e2e_box["pages_per_s"], e2e_in["pages_per_s"]),
            "e2e_sandbox_over_inprocess_cpu": ratio(e2e_box["pages_per_cpu_s"], e2e_in["pages_per_cpu_s"]),
        },
        "plan": _plan(e2e_two, defaults.extract.memory_mb, idle_kib),
    }
    results["total_seconds"] = time.perf_counter() - began
    print(_report(results))
    write_json(args.json, results)
    return 0


if __name__ == "__main__":
    sys.exit(main())
