"""Helpers the benchmark scripts share: rates, number formatting, machine facts, logging.

The scripts run as `python bench/NAME.py`, so this folder is on `sys.path` and they import
this module by its plain name.
"""

from __future__ import annotations

import multiprocessing
import os
import platform
import sys
import time
from collections.abc import Iterable, Sequence
from importlib.metadata import PackageNotFoundError, version
from typing import Any


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def rate(n: float, seconds: float) -> float:
    return n / seconds if seconds > 0 else float("nan")


def ratio(a: float | None, b: float | None) -> float:
    return a / b if a is not None and b else float("nan")


def num(value: float | None, digits: int = 1) -> str:
    if value is None or value != value:  # None or NaN
        return "n/a"
    return f"{value:,.{digits}f}"


def loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def usable_cpus() -> int | None:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def versions(packages: Iterable[str]) -> dict[str, str]:
    """Python's version and each installed package's (missing ones left out)."""
    found = {"python": platform.python_version()}
    for name in packages:
        try:
            found[name] = version(name)
        except PackageNotFoundError:
            continue
    return found


def _spin(n: int) -> None:
    x = 0
    for i in range(n):
        x += i


def parallel_capacity(n: int = 4_000_000) -> float:
    """Speedup of 2 concurrent CPU-bound processes over 1: about 2 on an idle 2-core machine,
    about 1 when another job holds a core. It tells how far a 2-worker speedup can go."""
    context = multiprocessing.get_context("fork")

    def run(k: int) -> float:
        processes = [context.Process(target=_spin, args=(n,)) for _ in range(k)]
        started = time.perf_counter()
        for process in processes:
            process.start()
        for process in processes:
            process.join()
        return time.perf_counter() - started

    solo = min(run(1), run(1))
    return 2 * solo / run(2)


def markdown_rows(rows: Iterable[Sequence[str]]) -> list[str]:
    """Table rows in Markdown, pipes inside cells escaped."""
    return ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]


def corpus_pages(files: Sequence[str]) -> list[tuple[str, str]]:
    """(url, decoded HTML) of every HTTP 200 HTML page of `files`, as mining reads and decodes them."""
    from toxmine.miner.decode import decode_html
    from toxmine.miner.records import HtmlPage
    from toxmine.miner.sources import LocalFile
    from toxmine.miner.warc import read_html_pages

    pages = []
    for path in files:
        for event in read_html_pages(LocalFile(path)):
            if isinstance(event, HtmlPage):
                pages.append((event.url, decode_html(event.payload, event.declared_charset)[0]))
    return pages


def warc_files(folder: str) -> list[str]:
    """The WARC files of `folder`, sorted, read once so that no measurement pays for the first
    read from disk (the page cache holds them)."""
    import glob

    files = sorted(glob.glob(os.path.join(folder, "*.warc.gz")) + glob.glob(os.path.join(folder, "*.warc")))
    if not files:
        raise SystemExit(f"no *.warc.gz or *.warc files in {folder}; run bench/build_bench_corpus.sh")
    for path in files:
        with open(path, "rb") as handle:
            while handle.read(1 << 20):
                pass
    return files


def compile_toxmine() -> None:
    """Write the bytecode of toxmine's own modules, as pip does when it installs a wheel: an editable
    install under PYTHONDONTWRITEBYTECODE (set on this VM) would compile them again in every process
    a benchmark starts (~0.1 CPU-s each), which no installed toxmine does and datatrove's venv does not."""
    import compileall

    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    for folder in ("toxmine", "miner", "evaluate", "sql"):
        compileall.compile_dir(os.path.join(root, folder), quiet=1)


def write_json(path: str, results: dict[str, object]) -> None:
    """The figures as JSON at `path` (folders made as needed)."""
    import json

    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    with open(path, "w", encoding="utf-8") as handle:
        json.dump(results, handle, indent=2, default=str)
        handle.write("\n")
    print(f"\nfigures written to {path}")


def machine_facts(
    packages: Iterable[str], loadavg_start: list[float] | None, speedup_start: float, speedup_end: float, **extra: Any
) -> dict[str, Any]:
    """What a benchmark's figures depend on: CPUs, platform, load and the 2-vs-1-process speedup at start and
    end (parallel_capacity), the packages' versions, plus `extra` facts of that benchmark."""
    return {
        "nproc": os.cpu_count(),
        "usable_cpus": usable_cpus(),
        "cpu": cpu_model(),
        "platform": platform.platform(),
        **extra,
        "loadavg_start": loadavg_start,
        "loadavg_end": loadavg(),
        "parallel_speedup_start": speedup_start,
        "parallel_speedup_end": speedup_end,
        "versions": versions(packages),
    }


def cpu_seconds(who: int) -> float:
    """User + system CPU seconds of `resource.getrusage(who)` (RUSAGE_SELF or RUSAGE_CHILDREN)."""
    import resource

    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


def rss_now() -> int:
    """This process's resident size now, in bytes (Linux: /proc/self/statm)."""
    with open("/proc/self/statm", encoding="ascii") as handle:
        return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def descendants_cpu() -> dict[int, float]:
    """CPU seconds of every live descendant of this process, by pid."""
    import psutil

    seconds: dict[int, float] = {}
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.Error:
            continue
        seconds[child.pid] = times.user + times.system
    return seconds


def run_child(script: str, args: Sequence[str], cwd: str | None = None) -> dict[str, Any]:
    """Run `python SCRIPT ARGS...` as a fresh subprocess (no Ray usage report) and return the JSON
    object its last stdout line holds; a failure shows the child's stderr tail and ends the benchmark."""
    import json
    import shlex
    import subprocess

    command = [sys.executable, script, *args]
    env = dict(os.environ, RAY_USAGE_STATS_ENABLED="0")
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, env=env, check=False)
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"child failed ({done.returncode}): {shlex.join(command[:6])} ...")
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def old_package(repo_dir: str, commit: str, tree: str, package_dir: str) -> None:
    """The old `commit`'s tree at `tree` (a `git worktree` of `repo_dir`) and a `toxmine` package made of
    copies of its folders at `package_dir` (copies, not symlinks: the extraction sandbox runs
    `miner/extract_child.py` as a script and drops its own folder from `sys.path` by comparing the resolved
    path, which a symlinked folder defeats, so that `miner/http.py` would shadow the standard library's `http`)."""
    import shutil
    import subprocess

    if not os.path.isdir(tree):
        subprocess.run(
            ["git", "-C", repo_dir, "worktree", "add", "--detach", tree, commit], check=True, capture_output=True
        )
    package = os.path.join(package_dir, "toxmine")
    shutil.rmtree(package_dir, ignore_errors=True)
    shutil.copytree(os.path.join(tree, "toxmine"), package, dirs_exist_ok=True)
    for name in ("miner", "evaluate", "sql"):
        shutil.copytree(os.path.join(tree, name), os.path.join(package, name))


def use_old_tree(package_dir: str, tree: str) -> str:
    """Import `toxmine` from the copy of an old tree at `package_dir` (see old_package) instead of the
    editable install; return the path `toxmine.miner` came from (checked to be that copy)."""
    sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower() + repr(f).lower()]
    sys.path_hooks[:] = [h for h in sys.path_hooks if "editable" not in repr(h).lower()]
    sys.path.insert(0, package_dir)
    import toxmine.miner

    where = os.path.realpath(toxmine.miner.__file__ or "")
    if not where.startswith(os.path.realpath(package_dir)):
        raise SystemExit(f"old code imported {where}, not the copy of {tree} at {package_dir}")
    return where
