"""Reading WARC records: classification, offsets, and recovery from bad data (with each WARC header parser)."""

from __future__ import annotations

from pathlib import Path

from warc_builder import TEXT, Page, html_page, kept_pages, member_offsets, numbered_pages, read_events, write_warc

from toxmine.miner.records import DropReason
from toxmine.miner.warc import RecordProblem, Skipped

_pages, _events, _kept = numbered_pages, read_events, kept_pages


def test_reads_html_responses_with_offsets_and_provenance(tmp_path: Path, warc_reader: str) -> None:
    path = tmp_path / "a.warc.gz"
    offsets = write_warc(path, _pages(4))
    events = _events(path, warc_reader)
    kept = _kept(events)
    assert [p.url for p in kept] == [f"http://example.org/{i}" for i in range(4)]
    assert [p.warc_offset for p in kept] == offsets
    assert all(p.warc_file == str(path) and p.warc_record_id.startswith("<urn:uuid:") for p in kept)
    assert all(p.declared_charset == "utf-8" and p.fetch_time for p in kept)
    # warcinfo + 4 requests are read and skipped with a reason
    assert sum(isinstance(e, Skipped) and e.reason is DropReason.NOT_RESPONSE for e in events) == 5


def test_uncompressed_warc(tmp_path: Path, warc_reader: str) -> None:
    path = tmp_path / "a.warc"
    offsets = write_warc(path, _pages(3), gzip=False)
    kept = _kept(_events(path, warc_reader))
    assert [p.warc_offset for p in kept] == offsets


def test_filters_status_type_size_and_binary(tmp_path: Path, warc_reader: str) -> None:
    path = tmp_path / "mixed.warc.gz"
    pages = [
        Page("http://x/ok", html_page("ok", TEXT)),
        Page("http://x/404", html_page("missing", TEXT), status="404 Not Found"),
        Page("http://x/img", b"\x89PNG\r\n\x1a\n\x00\x00", content_type="image/png"),
        Page("http://x/css", b"body{}", content_type="text/css"),
        Page("http://x/big", html_page("big", ["x " * 5000])),
        Page("http://x/bin", b"<html>\x00\x01\x02binary</html>", content_type="text/html"),
        Page("http://x/id", html_page("pdf really", TEXT), identified_type="application/pdf"),
        Page("http://x/xhtml", html_page("xhtml", TEXT), content_type="application/xhtml+xml"),
        Page("http://x/meta", b"", record_type="metadata", content_type=None),
    ]
    write_warc(path, pages)
    events = _events(path, warc_reader, max_record_bytes=4000)
    assert [p.url for p in _kept(events)] == ["http://x/ok", "http://x/xhtml"]
    reasons = [e.reason for e in events if isinstance(e, Skipped)]
    for reason in (
        DropReason.HTTP_STATUS,
        DropReason.NOT_HTML,
        DropReason.TOO_LARGE,
        DropReason.BINARY_PAYLOAD,
    ):
        assert reason in reasons
    assert reasons.count(DropReason.NOT_HTML) == 3  # png, css, identified as pdf


def test_chunked_body_and_non_utf8_headers(tmp_path: Path, warc_reader: str) -> None:
    body = html_page("chunked", TEXT)
    chunked = b"%x\r\n%s\r\n0\r\n\r\n" % (len(body), body)
    pages = [
        Page("http://x/chunked", chunked, extra_headers=[("Transfer-Encoding", "chunked")]),
        Page(
            "http://x/latin1",
            "<html><body><p>Gr\u00fc\u00dfe</p></body></html>".encode("latin-1"),
            content_type="text/html; charset=ISO-8859-1",
            extra_headers=[("X-Name", "M\u00fcller")],
        ),
    ]
    path = tmp_path / "c.warc.gz"
    write_warc(path, pages)
    kept = _kept(_events(path, warc_reader))
    assert kept[0].payload == body  # de-chunked
    assert kept[1].declared_charset == "iso-8859-1"


def test_truncated_gzip_member_in_the_middle_is_reported_and_skipped(tmp_path: Path, warc_reader: str) -> None:
    good = tmp_path / "good.warc.gz"
    offsets = write_warc(good, _pages(5), with_requests=False)
    data = good.read_bytes()
    cut = offsets[2]
    bad = tmp_path / "bad.warc.gz"
    bad.write_bytes(data[: cut + 30] + data[offsets[3] :])  # member 2 loses its tail
    events = _events(bad, warc_reader)
    problems = [e for e in events if isinstance(e, RecordProblem)]
    assert len(problems) == 1 and problems[0].offset == cut
    assert [p.url for p in _kept(events)] == [
        "http://example.org/0",
        "http://example.org/1",
        "http://example.org/3",
        "http://example.org/4",
    ]
    # offsets after the damage are true offsets in the damaged file
    assert _kept(events)[2].warc_offset == cut + 30


def test_truncated_file_end_is_reported(tmp_path: Path, warc_reader: str) -> None:
    good = tmp_path / "good.warc.gz"
    offsets = write_warc(good, _pages(3), with_requests=False)
    bad = tmp_path / "cut.warc.gz"
    bad.write_bytes(good.read_bytes()[: offsets[2] + 60])
    events = _events(bad, warc_reader)
    problems = [e for e in events if isinstance(e, RecordProblem)]
    assert len(_kept(events)) == 2
    assert len(problems) == 1 and problems[0].offset == offsets[2] and "truncated" in problems[0].message


def test_not_a_warc_and_empty_files(tmp_path: Path, warc_reader: str) -> None:
    text = tmp_path / "notes.warc.gz"
    text.write_bytes(b"this is just a text file\n" * 20)
    events = _events(text, warc_reader)
    assert len(events) == 1 and isinstance(events[0], RecordProblem)
    assert events[0].offset == 0 and "not a WARC" in events[0].message
    empty = tmp_path / "empty.warc"
    empty.write_bytes(b"")
    assert _events(empty, warc_reader) == [RecordProblem(0, "empty file")]


def test_garbage_between_records_resynchronises(tmp_path: Path, warc_reader: str) -> None:
    good = tmp_path / "good.warc.gz"
    write_warc(good, _pages(4), with_requests=False)
    offsets = member_offsets(good)
    data = good.read_bytes()
    junk = b"\x00garbage bytes that are not gzip\xff" * 10
    bad = tmp_path / "junk.warc.gz"
    bad.write_bytes(data[: offsets[3]] + junk + data[offsets[3] :])
    events = _events(bad, warc_reader)
    assert len(_kept(events)) == 4
    problems = [e for e in events if isinstance(e, RecordProblem)]
    assert [p.offset for p in problems] == [offsets[3]]
