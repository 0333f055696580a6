"""Hostile and unlucky inputs given to `toxmine mine`: each fails or is read on its own, with a
clear message naming it; the others are processed; nothing unprintable reaches the database."""

from __future__ import annotations

import gzip
import logging
import os
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from cli_runner import CliResult, run_cli
from http_server import Fault, FileServer
from warc_builder import Page, RealPage, html_page, write_warc

from toxmine.miner.http import HttpOptions
from toxmine.miner.mine import mine
from toxmine.miner.progress import TextLogFormatter
from toxmine.miner.sources import LocalFile, MissingInput, SourceSelection, resolve_inputs

TEXT = ["A paragraph of text that is long enough to be kept by the extractor for sure. " * 3]


def _warc(path: Path, demo_pages: list[RealPage], n: int = 4) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_warc(path, [Page(p.url, p.payload, content_type=p.content_type) for p in demo_pages[:n]])
    return path


def _cli(*args: str | bytes, cwd: Path) -> CliResult:
    return run_cli(*args, cwd=cwd, env={"CI": "1"})


def _cli_process(*args: str | bytes, cwd: Path) -> subprocess.CompletedProcess[str]:
    """A real `toxmine` process: all it prints, from any source, is what a user's terminal shows."""
    env = {**os.environ, "CI": "1"}
    return subprocess.run(
        [sys.executable, "-m", "toxmine", *args], cwd=cwd, capture_output=True, text=True, env=env, timeout=300
    )


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def test_a_missing_relative_path_is_stored_under_the_name_it_gets_once_it_exists(
    tmp_path: Path, demo_pages: list[RealPage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A typo'd relative path fails under its absolute name, the one the file has once it is there:
    the rerun replaces that failure, and no second, relative row stays behind."""
    monkeypatch.chdir(tmp_path)
    db = tmp_path / "c.duckdb"
    (missing,) = resolve_inputs(["later.warc.gz"])
    assert isinstance(missing, MissingInput) and missing.name == str(tmp_path / "later.warc.gz")
    assert mine([missing], str(db)).failed
    _warc(tmp_path / "later.warc.gz", demo_pages)
    assert mine(resolve_inputs(["later.warc.gz"]), str(db)).processed == 1
    assert _rows(db, "SELECT source, status FROM sources") == [(str(tmp_path / "later.warc.gz"), "done")]


def test_a_listing_entry_that_names_nothing_fails_with_its_line(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    """A listing's missing entries (a typo, or prose read as a listing) name the listing and the line."""
    _warc(tmp_path / "good.warc.gz", demo_pages)
    listing = tmp_path / "inputs.txt"
    listing.write_text("# my inputs\ngood.warc.gz\n\nThis is a note, not a path.\n", encoding="utf-8")
    report = mine(resolve_inputs([str(listing)]), str(tmp_path / "c.duckdb"))
    assert report.processed == 2 and len(report.failed) == 1
    ((name, reason),) = report.failed
    assert name == str(tmp_path / "This is a note, not a path.")
    assert reason.endswith(f"no such file (line 4 of {listing})")


def test_missing_paths_empty_globs_and_empty_folders_fail_alone(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    good = _warc(tmp_path / "in" / "good.warc.gz", demo_pages)
    (tmp_path / "empty-dir").mkdir()
    specs = [str(good), str(tmp_path / "typo.warc.gz"), str(tmp_path / "none-*.warc.gz"), str(tmp_path / "empty-dir")]
    sources = resolve_inputs(specs)
    assert [type(s) for s in sources] == [LocalFile, MissingInput, MissingInput, MissingInput]
    report = mine(sources, str(tmp_path / "c.duckdb"))
    failed = dict(report.failed)
    assert set(failed) == set(specs[1:])
    assert "no such file" in failed[specs[1]]
    assert "matched no files" in failed[specs[2]]
    assert "no .warc or .warc.gz files" in failed[specs[3]]
    status = dict(_rows(tmp_path / "c.duckdb", "SELECT source, status FROM sources"))
    assert status == {specs[0]: "done", specs[1]: "failed", specs[2]: "failed", specs[3]: "failed"}


def test_listing_entries_are_relative_to_the_listing(
    tmp_path: Path, demo_pages: list[RealPage], monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "lists"
    _warc(folder / "a.warc.gz", demo_pages)
    _warc(folder / "deeper" / "b.warc.gz", demo_pages)
    (folder / "deeper" / "more.txt").write_text("b.warc.gz\n")
    (folder / "main.txt").write_text("a.warc.gz\n@deeper/more.txt\nmissing.warc.gz\n")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    _warc(elsewhere / "a.warc.gz", demo_pages)  # must not be picked up from the current folder
    monkeypatch.chdir(elsewhere)
    sources = resolve_inputs([str(folder / "main.txt")])
    assert [s.name for s in sources] == [
        str(folder / "a.warc.gz"),
        str(folder / "deeper" / "b.warc.gz"),
        str(folder / "missing.warc.gz"),
    ]
    assert isinstance(sources[2], MissingInput)


def test_hostile_inputs_in_one_cli_run(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    """Each hostile input becomes its own clear error (or is read); the good one is stored; no traceback."""
    folder = tmp_path / "in"
    good = _warc(folder / "good.warc.gz", demo_pages)
    odd_name = os.fsencode(folder) + b"/caf\xe9-\xff.warc.gz"  # not UTF-8: used to raise in doc_id_for
    with open(odd_name, "wb") as handle:
        handle.write(good.read_bytes())
    binary = folder / "binary.warc"
    binary.write_bytes(b"\x00\x1b[31m\x7f\xfe\xffWARC\x00\n" * 20)
    poison = folder / "poison.warc.gz"
    charsets = ["undefined", "punycode", "unicode_escape", "utf-7", "base64"]
    write_warc(
        poison,
        [Page(f"http://x/{c}", html_page(c, TEXT), content_type=f"text/html; charset={c}") for c in charsets]
        + [Page("http://x/meta", b"<html><head><meta charset=undefined></head><body><p>" + TEXT[0].encode() + b"</p>")],
    )
    db = tmp_path / "c.duckdb"
    args: list[str | bytes] = ["mine", str(good), odd_name, str(binary), str(poison), str(tmp_path / "gone.warc")]
    result = _cli(*args, "--db", str(db), cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert "Traceback" not in result.stderr
    odd_shown = str(folder) + "/caf\\xe9-\\xff.warc.gz"
    status = dict(_rows(db, "SELECT source, status FROM sources"))
    assert status == {
        str(good): "done",
        odd_shown: "done",
        str(binary): "failed",
        str(poison): "done",
        str(tmp_path / "gone.warc"): "failed",
    }
    docs = dict(_rows(db, "SELECT warc_file, count(*) FROM documents GROUP BY 1"))
    assert docs[odd_shown] == docs[str(good)] > 0
    assert docs[str(poison)] == len(charsets) + 1  # every poisoned page decoded by detection instead
    for (text,) in _rows(db, "SELECT coalesce(error, '') FROM sources"):
        assert isinstance(text, str) and text.isprintable(), repr(text)
    again = _cli(*args, "--db", str(db), cwd=tmp_path)
    assert "skipping 3 inputs" in again.stderr and "Traceback" not in again.stderr


@pytest.mark.subprocess
def test_http_input_that_breaks_for_good_keeps_what_was_read_and_hides_secrets(
    tmp_path: Path, demo_pages: list[RealPage], http_server: FileServer, http_root: Path
) -> None:
    """A presigned URL's signature and a password never reach stderr or the database; a transfer
    that keeps breaking at the same byte is `partial` with the records before it."""
    whole = _warc(http_root / "crawl.warc.gz", demo_pages, n=12)
    size = whole.stat().st_size
    http_server.faults["/crawl.warc.gz"] = Fault(cut_after=[size // 2] + [0] * 20)  # half, then nothing
    secret, password = "sEcReT-SiGnAtUrE-0123456789", "hunter2-pass"
    port = http_server.server_address[1]
    broken = f"http://alice:{password}@127.0.0.1:{port}/crawl.warc.gz?X-Amz-Signature={secret}&part=1"
    missing = f"http://127.0.0.1:{port}/gone.warc.gz?token={secret}"
    missing_listing = f"http://127.0.0.1:{port}/gone.paths?sig={secret}"  # its failure is stored under its name
    db = tmp_path / "c.duckdb"
    result = _cli_process(
        "mine", broken, missing, missing_listing, "--db", str(db), "--http-retries", "1", cwd=tmp_path
    )
    assert result.returncode == 1 and "Traceback" not in result.stderr, result.stderr
    assert secret not in result.stderr + result.stdout and password not in result.stderr + result.stdout
    rows = _rows(db, "SELECT source, status, n_documents, error FROM sources ORDER BY source")
    shown = {row[0]: row for row in rows}
    broken_shown = f"http://***@127.0.0.1:{port}/crawl.warc.gz?X-Amz-Signature=***&part=1"
    assert set(shown) == {
        broken_shown,
        f"http://127.0.0.1:{port}/gone.warc.gz?token=***",
        f"http://127.0.0.1:{port}/gone.paths?sig=***",
    }
    _, status, n_docs, error = shown[broken_shown]
    assert status == "partial" and 0 < n_docs < 12 and "reading stopped" in str(error)
    con = duckdb.connect(str(db), read_only=True)
    for (table,) in con.execute("SELECT table_name FROM information_schema.tables").fetchall():
        dump = str(con.execute(f'SELECT * FROM "{table}"').fetchall())
        assert secret not in dump and password not in dump, table
    con.close()


def test_log_lines_cannot_carry_terminal_escapes() -> None:
    """A URL from a WARC header is logged as read: its escape sequences must not reach the terminal."""
    record = logging.makeLogRecord({"msg": "extraction of %s failed", "args": ("http://x/\x1b[2J\x00",)})
    record.levelname = "WARNING"
    assert TextLogFormatter().format(record) == "WARNING extraction of http://x/\\x1b[2J\\x00 failed"


def test_hostile_listings_fail_alone(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    """A listing cut, bombed, padded, oversized or not text: that listing fails with its reason."""
    good = _warc(tmp_path / "good.warc.gz", demo_pages)
    listing = gzip.compress(b"good.warc.gz\n")
    cases = {
        "cut.paths.gz": (listing[:-6], "ends inside a gzip member"),
        "bomb.paths.gz": (gzip.compress(b"a" * (2 << 20)), "listing larger than 1 MiB"),
        "big.txt": (b"x\n" * (1 << 20), "listing larger than 1 MiB"),
        "junk.paths.gz": (listing + b"junk", "data after its last member"),
        "latin1.txt": (b"caf\xe9.warc.gz\n", "not UTF-8 text (byte 3)"),
    }
    for name, (data, _) in cases.items():
        (tmp_path / name).write_bytes(data)
    (tmp_path / "padded.paths.gz").write_bytes(listing + bytes(512))  # zero padding is fine
    selection = SourceSelection(http=HttpOptions(max_bytes=1 << 20))
    sources = resolve_inputs([str(tmp_path / n) for n in [*cases, "padded.paths.gz"]], selection)
    assert [s.name for s in sources] == [str(tmp_path / n) for n in cases] + [str(good)]
    for source, (_, reason) in zip(sources, cases.values(), strict=False):
        assert isinstance(source, MissingInput) and reason in source.reason, (source, reason)
