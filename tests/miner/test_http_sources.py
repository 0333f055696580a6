"""HTTP inputs against a real server on 127.0.0.1, and input resolution."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest
from http_server import Fault, FileServer
from warc_builder import Page, html_page, write_warc

from toxmine.miner.errors import InputError
from toxmine.miner.http import HttpOptions, ResumableHttpStream
from toxmine.miner.records import HtmlPage
from toxmine.miner.sources import HttpFile, LocalFile, SourceSelection, parse_shard, resolve_inputs
from toxmine.miner.warc import read_html_pages

FAST = HttpOptions(backoff_s=0.01, max_retries=3, timeout_s=5)


def _blob(root: Path, name: str, size: int = 300_000) -> bytes:
    data = bytes((i * 7919) % 251 for i in range(size))
    (root / name).write_bytes(data)
    return data


def test_stream_reads_whole_body(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root, "blob.bin")
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert stream.read() == data
        assert stream.reconnects == 0


def test_dropped_connection_resumes_with_range(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root, "blob.bin")
    http_server.faults["/blob.bin"] = Fault(cut_after=[100_000, 50_000])
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert stream.read() == data
        assert stream.reconnects == 2
    ranges = [r for p, r in http_server.requests if p == "/blob.bin"]
    assert ranges[0] == "bytes=0-" and len(ranges) == 3
    starts = [int(r.removeprefix("bytes=").rstrip("-")) for r in ranges[1:]]
    assert 0 < starts[0] <= 100_000 < starts[1] <= 150_000  # resumed from what was delivered


def test_server_ignoring_range_is_reread_and_skipped(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root, "blob.bin")
    http_server.honour_range = False
    http_server.faults["/blob.bin"] = Fault(cut_after=[120_000])
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert stream.read() == data


def test_retries_on_503_then_gives_up_naming_the_url(http_server: FileServer, http_root: Path) -> None:
    data = _blob(http_root, "blob.bin", 1000)
    http_server.faults["/blob.bin"] = Fault(statuses=[503, 429])
    with ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST) as stream:
        assert stream.read() == data
    http_server.faults["/blob.bin"] = Fault(statuses=[503] * 10)
    with pytest.raises(InputError, match=r"blob\.bin.*giving up after 4 attempts"):
        ResumableHttpStream(f"{http_server.url}/blob.bin", options=FAST)


def test_404_is_not_retried(http_server: FileServer) -> None:
    with pytest.raises(InputError, match="HTTP 404"):
        ResumableHttpStream(f"{http_server.url}/missing.warc.gz", options=FAST)
    assert len(http_server.requests) == 1


def test_warc_over_http_with_a_dropped_connection(http_server: FileServer, http_root: Path) -> None:
    pages = [Page(f"http://example.org/{i}", html_page(f"P{i}", ["words " * 400])) for i in range(20)]
    write_warc(http_root / "crawl.warc.gz", pages)
    size = (http_root / "crawl.warc.gz").stat().st_size
    http_server.faults["/crawl.warc.gz"] = Fault(cut_after=[size // 3])
    source = HttpFile(f"{http_server.url}/crawl.warc.gz", FAST)
    kept = [e for e in read_html_pages(source) if isinstance(e, HtmlPage)]
    local = [e for e in read_html_pages(LocalFile(str(http_root / "crawl.warc.gz"))) if isinstance(e, HtmlPage)]
    assert [(p.url, p.warc_offset, p.payload) for p in kept] == [(p.url, p.warc_offset, p.payload) for p in local]
    assert len(kept) == 20


def test_common_crawl_listing_with_shard_and_limit(http_server: FileServer, http_root: Path) -> None:
    crawl = "CC-MAIN-2024-10"
    folder = http_root / "crawl-data" / crawl
    folder.mkdir(parents=True)
    paths = [f"crawl-data/{crawl}/segments/1/warc/part-{i:03d}.warc.gz" for i in range(10)]
    (folder / "warc.paths.gz").write_bytes(gzip.compress("\n".join(paths).encode() + b"\n"))
    selection = SourceSelection(cc_base_url=http_server.url, shard=(1, 3), limit_files=2, http=FAST)
    sources = resolve_inputs([f"cc:{crawl}"], selection)
    assert [s.name for s in sources] == [f"{http_server.url}/{paths[1]}", f"{http_server.url}/{paths[4]}"]
    assert all(isinstance(s, HttpFile) and s.crawl == crawl for s in sources)


def test_local_globs_listings_and_duplicates(tmp_path: Path) -> None:
    for name in ("b.warc.gz", "a.warc.gz", "c.warc"):
        (tmp_path / name).write_bytes(b"")
    listing = tmp_path / "inputs.txt"
    listing.write_text("# my inputs\nc.warc\n\nhttps://host.example/x.warc.gz\ncrawl-data/CC-MAIN-2023-50/y.warc.gz\n")
    sources = resolve_inputs([str(tmp_path / "*.warc.gz"), str(listing), str(tmp_path / "a.warc.gz")])
    names = [s.name for s in sources]
    assert names == [
        str(tmp_path / "a.warc.gz"),
        str(tmp_path / "b.warc.gz"),
        str(tmp_path / "c.warc"),
        "https://host.example/x.warc.gz",
        "https://data.commoncrawl.org/crawl-data/CC-MAIN-2023-50/y.warc.gz",
    ]
    assert sources[-1].crawl == "CC-MAIN-2023-50"


def test_bad_specs_name_the_input(tmp_path: Path) -> None:
    missing = resolve_inputs([str(tmp_path / "nothing-here.warc.gz"), str(tmp_path / "*.warc.gz")])
    for source, message in zip(
        missing, ["nothing-here\\.warc\\.gz: no such file", "glob matched no files"], strict=True
    ):
        with pytest.raises(InputError, match=message):
            source.open()
    with pytest.raises(InputError, match="cc:CC-MAIN-YYYY-WW"):
        resolve_inputs(["cc:2024"])
    with pytest.raises(ValueError):
        parse_shard("3/3")
    assert parse_shard("2/8") == (2, 8)
