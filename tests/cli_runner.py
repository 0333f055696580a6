"""Run the `toxmine` command in this process, shown as a subprocess would show it.

A subprocess costs a Python start and the imports of every command (seconds each on a busy
machine); `run_cli` calls `toxmine.cli.main(argv)` instead. Tests keep a real subprocess where the
process itself is the point: signals and kills, Ray, packaging, and what reaches the terminal
from any source (warnings, third-party loggers, child processes), as in the secret-leak tests.
"""

from __future__ import annotations

import io
import os
import traceback
from collections.abc import Iterator, Mapping
from contextlib import contextmanager, redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

from toxmine.cli import main


@dataclass(frozen=True)
class CliResult:
    """What `subprocess.run(..., capture_output=True, text=True)` gives: exit code and both outputs."""

    returncode: int
    stdout: str
    stderr: str


def run_cli(*args: str | bytes, cwd: Path | None = None, env: Mapping[str, str] | None = None) -> CliResult:
    """`python -m toxmine ARGS` in this process: in folder `cwd`, with the variables `env` added to the
    environment (both restored after), stdout and stderr captured. Bytes arguments are decoded as the
    interpreter decodes its argv (surrogateescape); argparse's exits give their code, and an uncaught
    exception gives exit code 1 and its traceback on stderr, as the interpreter would."""
    argv = [os.fsdecode(arg) for arg in args]
    out, err = io.StringIO(), io.StringIO()
    with _environment(env or {}), _folder(cwd), redirect_stdout(out), redirect_stderr(err):
        try:
            code = main(argv)
        except SystemExit as exc:
            code = _exit_code(exc.code, err)
        except Exception:
            traceback.print_exc()
            code = 1
    return CliResult(code, out.getvalue(), err.getvalue())


def _exit_code(code: object, err: io.StringIO) -> int:
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    print(code, file=err)
    return 1


@contextmanager
def _environment(extra: Mapping[str, str]) -> Iterator[None]:
    saved = {name: os.environ.get(name) for name in extra}
    os.environ.update(extra)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@contextmanager
def _folder(path: Path | None) -> Iterator[None]:
    before = os.getcwd()
    if path is not None:
        os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)
