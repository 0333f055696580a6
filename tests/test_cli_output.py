"""What the commands write to stderr around their progress bars: each error once, log lines that never
land inside a bar, no third-party bars unless asked for."""

from __future__ import annotations

import gzip
import io
import logging
import multiprocessing
import os
from pathlib import Path

import pytest
from tqdm import tqdm

from toxmine.cli import main
from toxmine.miner.progress import configure_logging


class _Terminal(io.StringIO):
    """A stream that says it is a terminal, so tqdm draws on it as on a user's screen."""

    def isatty(self) -> bool:
        return True


def test_a_bad_warc_error_is_printed_once(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(gzip.compress(b"garbage bytes\n"))
    code = main(["mine", str(bad), "--db", str(tmp_path / "x.duckdb"), "--no-score", "--no-progress"])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.count("not a WARC file") == 1, err  # logged once as the input fails, not per layer
    assert "bad.warc.gz" in err and "offset 0" in err  # the one line names the input and where
    assert "1 failed" in out  # and the summary counts it


def test_log_lines_never_land_inside_a_bar() -> None:
    terminal = _Terminal()
    configure_logging(stream=terminal)
    with tqdm(total=10, file=terminal, desc="mining", mininterval=0) as bar:
        bar.update(3)
        logging.getLogger("toxmine.test").info("an input is done")
        bar.update(3)
    text = terminal.getvalue()
    before = text[: text.index("INFO an input is done")]
    assert before.endswith(("\r", "\n")), repr(text)  # the bar was cleared first, the line starts a line
    assert "6/10" in text.split("INFO an input is done", 1)[1]  # and redrawn after it


def test_a_forked_workers_log_line_clears_the_parents_bar_line_first() -> None:
    """Workers forked by `--workers N` cannot redraw the parent's bar: on a terminal they clear its line."""
    leader, follower = os.openpty()
    with os.fdopen(follower, "w", closefd=True) as terminal:
        configure_logging(stream=terminal)
        child = multiprocessing.get_context("fork").Process(target=_log_in_worker)
        child.start()
        child.join(timeout=30)
        assert child.exitcode == 0
        text = os.read(leader, 4096).decode()
    os.close(leader)
    assert text.startswith("\r\x1b[KINFO a worker's line"), repr(text)


def _log_in_worker() -> None:
    logging.getLogger("toxmine.test").info("a worker's line")
