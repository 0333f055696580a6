"""The WARC header parsers (`warc_parsers`: warcio, fastwarc) give the same events for the same bytes.

FastWARC reads some unusual headers differently from warcio (continuation lines, bare CR or LF
line ends, non-ASCII bytes, odd status lines, a record whose Content-Type is not application/http);
`parse_with_fastwarc` hands such records to warcio, so the events stay the same: these cases check it.
The "warcio" reader reads plain headers itself (`parse_plain`) and the others with warcio: the same
cases check that it gives warcio's very fields.
"""

from __future__ import annotations

import gzip
import io
import json
from pathlib import Path

import duckdb
import pytest
from warc_builder import html_page, read_events

from toxmine.miner.errors import ConfigError
from toxmine.miner.framing import FramedRecord, FramingLimits, frame_records
from toxmine.miner.mine import mine
from toxmine.miner.process import ProcessOptions
from toxmine.miner.sources import LocalFile
from toxmine.miner.warc import read_html_pages
from toxmine.miner.warc_parsers import WARC_READERS, parse_plain, parse_with_warcio

_DATA = Path(__file__).parents[2] / "miner" / "data"
_HTML = html_page("same", ["A paragraph of text long enough to be kept. " * 3])
_HEAD = b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=utf-8\r\n\r\n"


def _record(
    warc_extra: bytes = b"",
    http: bytes = _HEAD,
    body: bytes = _HTML,
    uri: bytes = b"http://example.org/a",
    version: bytes = b"WARC/1.0",
    eol: bytes = b"\r\n",
) -> bytes:
    block = http + body
    fields = [
        version,
        b"WARC-Type: response",
        b"WARC-Record-ID: <urn:uuid:00000000-0000-0000-0000-000000000001>",
        b"WARC-Date: 2026-01-01T00:00:00Z",
        b"WARC-Target-URI: " + uri,
        b"Content-Type: application/http; msgtype=response",
    ]
    head = eol.join([*fields, *(warc_extra.split(b"\r\n") if warc_extra else []), b"Content-Length: %d" % len(block)])
    return head + eol + eol + block + b"\r\n\r\n"


# name -> record bytes: the plain case, then the headers FastWARC and warcio read differently
_CASES: dict[str, bytes] = {
    "plain": _record(),
    "warc 1.1": _record(version=b"WARC/1.1"),
    "warc 0.18": _record(version=b"WARC/0.18"),
    "repeated warc header": _record(b"WARC-Date: 1999-01-01\r\nwarc-date: 2000-01-01"),
    "empty warc date": _record(b"WARC-Date:"),
    "line without colon": _record(b"just words"),
    "continuation line": _record(b"X-A: 1\r\n  more"),
    "latin-1 warc header": _record(b"X-A: caf\xe9"),
    "latin-1 target uri": _record(uri=b"http://example.org/caf\xe9"),
    "bracketed uri with a space": _record(uri=b"<http://example.org/a b>"),
    "dns uri": _record(uri=b"dns:example.org"),
    "upper-case scheme": _record(uri=b"HTTP://example.org/"),
    "warc content-type not http": _record(b"Content-Type: text/html"),
    "truncated payload": _record(b"WARC-Truncated: length"),
    "identified as pdf": _record(b"WARC-Identified-Payload-Type: application/pdf"),
    "lf-only http head": _record(http=b"HTTP/1.1 200 OK\nContent-Type: text/html\n\n"),
    "lf-only warc head": _record(eol=b"\n"),
    "status 0200": _record(http=b"HTTP/1.1 0200 OK\r\nContent-Type: text/html\r\n\r\n"),
    "status without protocol": _record(http=b"200 OK\r\nContent-Type: text/html\r\n\r\n"),
    "nonsense status line": _record(http=b"hello world\r\n\r\n"),
    "empty status line": _record(http=b"\r\n\r\n"),
    "tab in status line": _record(http=b"HTTP/1.1\t200 OK\r\n\r\n"),
    "two spaces in status line": _record(http=b"HTTP/1.1  200 OK\r\nContent-Type: text/html\r\n\r\n"),
    "http/2 status line": _record(http=b"HTTP/2 200\r\nContent-Type: text/html\r\n\r\n"),
    "bare CR in http head": _record(http=b"HTTP/1.1 200 OK\rContent-Type: text/html\r\n\r\n"),
    "http head without end": _record(http=b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\n", body=b""),
    "empty block": _record(http=b"", body=b""),
    "repeated content-type": _record(
        http=b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\ncontent-type: image/png\r\n\r\n"
    ),
    "http continuation": _record(http=b"HTTP/1.1 200 OK\r\nContent-Type: text/html;\r\n charset=latin-1\r\n\r\n"),
    "latin-1 charset": _record(http=b"HTTP/1.1 200 OK\r\nContent-Type: text/html; charset=\xe9\r\n\r\n"),
    "space before colon": _record(http=b"HTTP/1.1 200 OK\r\nContent-Type : text/html\r\n\r\n"),
    "tabs around value": _record(http=b"HTTP/1.1 200 OK\r\nContent-Type:\t text/html \t\r\n\r\n"),
    "empty content-type": _record(http=b"HTTP/1.1 200 OK\r\nContent-Type:\r\n\r\n"),
    "404": _record(http=b"HTTP/1.1 404 Not Found\r\nContent-Type: text/html\r\n\r\n"),
    "gzip body": _record(
        http=b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nContent-Encoding: gzip\r\n\r\n", body=gzip.compress(_HTML)
    ),
    "chunked body": _record(
        http=b"HTTP/1.1 200 OK\r\nContent-Type: text/html\r\nTransfer-Encoding: chunked\r\n\r\n",
        body=b"%x\r\n%s\r\n0\r\n\r\n" % (len(_HTML), _HTML),
    ),
    "http header of 40 KB": _record(
        http=b"HTTP/1.1 200 OK\r\nX-Big: " + b"a" * 40_000 + b"\r\nContent-Type: text/html\r\n\r\n"
    ),
    "warc header of 40 KB": _record(b"X-Big: " + b"a" * 40_000),
}


# the cases whose headers are plain: `parse_plain` reads them, warcio all the others
_PLAIN_CASES = {
    "plain", "repeated warc header", "empty warc date", "bracketed uri with a space", "dns uri", "upper-case scheme",
    "warc content-type not http", "truncated payload", "identified as pdf", "empty block", "repeated content-type",
    "tabs around value", "empty content-type", "404", "gzip body", "chunked body", "http header of 40 KB",
    "warc header of 40 KB", "warc 1.1",
}  # fmt: skip


def _framed(data: bytes, limits: FramingLimits | None = None) -> list[FramedRecord]:
    return [f for f in frame_records(lambda at: io.BytesIO(data[at:]), limits) if isinstance(f, FramedRecord)]


@pytest.mark.parametrize("case", sorted(_CASES))
def test_the_plain_parser_gives_warcio_s_fields_or_leaves_the_record_to_it(case: str) -> None:
    (framed,) = _framed(_CASES[case])
    parsed = parse_plain(framed)
    assert (parsed is not None) == (case in _PLAIN_CASES)
    if parsed is not None:
        assert parsed == parse_with_warcio(framed)


def test_the_plain_parser_reads_a_skimmed_block_s_head_as_warcio_does() -> None:
    (framed,) = _framed(_record(body=_HTML * 200), FramingLimits(max_block_bytes=1000, head_bytes=300))
    assert framed.skimmed and len(framed.block) == 300
    parsed = parse_plain(framed)
    assert parsed is not None and parsed == parse_with_warcio(framed) and parsed.http is not None
    assert parsed.http.content_type == "text/html; charset=utf-8" and parsed.body == framed.block[len(_HEAD) :]


@pytest.mark.parametrize("name", sorted(p.name for p in _DATA.glob("*.warc.gz")))
def test_the_plain_parser_reads_the_shipped_warcs_as_warcio_does(name: str) -> None:
    records = _framed(gzip.decompress((_DATA / name).read_bytes()))
    parsed = [(parse_plain(f), f) for f in records]
    assert sum(p is not None for p, _ in parsed) > 100
    assert all(p == parse_with_warcio(f) for p, f in parsed if p is not None)


@pytest.mark.parametrize("case", sorted(_CASES))
@pytest.mark.parametrize("gzipped", [False, True])
def test_unusual_headers_give_the_same_events(tmp_path: Path, case: str, gzipped: bool) -> None:
    record = _CASES[case]
    path = tmp_path / ("r.warc.gz" if gzipped else "r.warc")
    path.write_bytes(gzip.compress(record) if gzipped else record)
    warcio = read_events(path, "warcio")
    assert read_events(path, "fastwarc") == warcio
    assert len(warcio) == 1


def test_plain_records_are_kept_with_their_fields(tmp_path: Path) -> None:
    path = tmp_path / "r.warc"
    path.write_bytes(_CASES["plain"] + _CASES["bracketed uri with a space"])
    pages = read_events(path, "fastwarc")
    assert [p.url for p in pages] == ["http://example.org/a", "http://example.org/a%20b"]  # type: ignore[attr-defined]
    assert [p.payload for p in pages] == [_HTML, _HTML]  # type: ignore[attr-defined]


@pytest.mark.parametrize("name", sorted(p.name for p in _DATA.glob("*.warc.gz")))
def test_shipped_warcs_give_the_same_events(name: str) -> None:
    path = _DATA / name
    events = read_events(path, "warcio")
    assert sum(1 for _ in events) > 100
    assert read_events(path, "fastwarc") == events


def test_truncated_and_damaged_files_give_the_same_events(tmp_path: Path) -> None:
    data = (_DATA / "demo.warc.gz").read_bytes()
    variants = {
        "cut": data[:914937],
        "hole": data[:300_000] + data[300_500:],
        "junk": data[:500_000] + b"\x00not gzip\xff" * 50 + data[500_000:],
        "plain cut": gzip.decompress(data)[:2_000_000],
    }
    for name, content in variants.items():
        path = tmp_path / (f"{name}.warc" if name.startswith("plain") else f"{name}.warc.gz")
        path.write_bytes(content)
        assert read_events(path, "fastwarc") == read_events(path, "warcio"), name


def test_unknown_reader_names_the_known_ones(tmp_path: Path) -> None:
    path = tmp_path / "r.warc"
    path.write_bytes(_CASES["plain"])
    with pytest.raises(ConfigError, match="fastwarc, warcio"):
        list(read_html_pages(LocalFile(str(path)), warc_reader="nope"))
    assert WARC_READERS.names() == ["fastwarc", "warcio"]


@pytest.mark.slow
def test_the_reader_is_recorded_in_the_run_config(tmp_path: Path) -> None:
    path = tmp_path / "r.warc"
    path.write_bytes(_CASES["plain"])
    db = tmp_path / "t.duckdb"
    mine([LocalFile(str(path))], str(db), options=ProcessOptions(warc_reader="fastwarc"))
    with duckdb.connect(str(db), read_only=True) as con:
        row = con.execute("SELECT config_json FROM runs").fetchone()
    assert row is not None and json.loads(row[0])["warc_reader"] == "fastwarc"


def test_cli_mines_the_same_documents_with_either_reader(tmp_path: Path) -> None:
    from cli_runner import run_cli

    from toxmine.miner.demo import demo_warc_path

    stored = {}
    for reader in ("warcio", "fastwarc"):
        db = tmp_path / f"{reader}.duckdb"
        done = run_cli("mine", str(demo_warc_path()), "--db", str(db), "--no-score", "--warc-reader", reader)
        assert done.returncode == 0, done.stderr
        with duckdb.connect(str(db), read_only=True) as con:
            stored[reader] = con.execute("SELECT doc_id, text, dup_of FROM documents ORDER BY doc_id").fetchall()
            config = con.execute("SELECT json_extract_string(config_json, '$.warc_reader') FROM runs").fetchall()
        assert config == [(reader,)]
    assert stored["warcio"] and stored["warcio"] == stored["fastwarc"]


def test_an_unknown_reader_is_a_usage_error_before_any_work(tmp_path: Path) -> None:
    from cli_runner import run_cli

    path = tmp_path / "r.warc"
    path.write_bytes(_CASES["plain"])
    db = tmp_path / "t.duckdb"
    done = run_cli("mine", str(path), "--db", str(db), "--no-score", "--warc-reader", "nope")
    assert done.returncode == 2 and "unknown WARC reader 'nope'; known: fastwarc, warcio" in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists() or not duckdb.connect(str(db), read_only=True).execute("SELECT * FROM sources").fetchall()


def test_a_reader_plug_in_that_misreads_a_valid_record_is_a_usage_error(tmp_path: Path) -> None:
    """It dropped every record as bad_record and stored the input as done with no documents (a
    rerun with a working reader then skipped it): now checked on a valid record before any work."""
    from cli_runner import run_cli

    path = tmp_path / "r.warc"
    path.write_bytes(_CASES["plain"])
    for plugin, why in (("BlindReader", "cannot read a plain valid record: ValueError: no idea"),
                        ("LyingReader", "misreads a plain valid record")):  # fmt: skip
        db = tmp_path / f"{plugin}.duckdb"
        done = run_cli("mine", str(path), "--db", str(db), "--no-score", "--warc-reader", f"plugin_readers:{plugin}")
        assert done.returncode == 2 and f"WARC reader 'plugin_readers:{plugin}' {why}" in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
        assert (
            not db.exists() or not duckdb.connect(str(db), read_only=True).execute("SELECT * FROM sources").fetchall()
        )
