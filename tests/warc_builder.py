"""Build real WARC files for tests with warcio's writer (gzip: one member per record)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from warcio.archiveiterator import ArchiveIterator
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

if TYPE_CHECKING:
    from toxmine.miner.records import HtmlPage


@dataclass
class Page:
    url: str
    body: bytes
    status: str = "200 OK"
    content_type: str | None = "text/html; charset=utf-8"
    extra_headers: list[tuple[str, str]] = field(default_factory=list)
    record_type: str = "response"
    identified_type: str | None = None
    warc_headers: dict[str, str] = field(default_factory=dict)


def html_page(title: str, paragraphs: Iterable[str]) -> bytes:
    body = "".join(f"<p>{p}</p>\n" for p in paragraphs)
    return (
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{title}</title></head>"
        f"<body><nav><a href='/'>Home</a></nav><article><h1>{title}</h1>\n{body}</article>"
        f"<footer>footer</footer></body></html>"
    ).encode()


def write_warc(path: Path, pages: Iterable[Page], gzip: bool = True, with_requests: bool = True) -> list[int]:
    """Write pages as response records (and request records); return each response's offset."""
    offsets: list[int] = []
    with open(path, "wb") as handle:
        writer = WARCWriter(handle, gzip=gzip)
        writer.write_record(writer.create_warcinfo_record(path.name, {"software": "toxmine-tests"}))
        for page in pages:
            if with_requests and page.record_type == "response":
                req = StatusAndHeaders("GET / HTTP/1.1", [("Host", "example.org")], is_http_request=True)
                writer.write_record(writer.create_warc_record(page.url, "request", http_headers=req))
            headers = [("Content-Type", page.content_type)] if page.content_type else []
            headers += page.extra_headers
            has_length = any(k.lower() in {"content-length", "transfer-encoding"} for k, _ in headers)
            if not has_length:
                headers.append(("Content-Length", str(len(page.body))))
            http = StatusAndHeaders(page.status, headers, protocol="HTTP/1.1")
            warc_headers = {"WARC-Identified-Payload-Type": page.identified_type} if page.identified_type else {}
            warc_headers.update(page.warc_headers)
            record = writer.create_warc_record(
                page.url,
                page.record_type,
                payload=io.BytesIO(page.body),
                http_headers=http,
                warc_headers_dict=warc_headers or {},
            )
            offsets.append(handle.tell())
            writer.write_record(record)
    return offsets


@dataclass
class RealPage:
    url: str
    payload: bytes
    content_type: str


def pages_from_warc(path: Path) -> Iterator[RealPage]:
    """HTML 200 responses of an existing WARC file (e.g. the shipped demo sample)."""
    with open(path, "rb") as handle:
        for record in ArchiveIterator(handle):
            if record.rec_type != "response" or record.http_headers is None:
                continue
            ctype = record.http_headers.get_header("Content-Type") or ""
            if record.http_headers.get_statuscode() == "200" and "html" in ctype:
                yield RealPage(record.rec_headers.get_header("WARC-Target-URI"), record.content_stream().read(), ctype)


def member_offsets(path: Path) -> list[int]:
    """Offsets of every record (gzip member) of a WARC file."""
    with open(path, "rb") as handle:
        iterator = ArchiveIterator(handle)
        offsets = []
        for _ in iterator:
            offsets.append(iterator.get_record_offset())
        return offsets


TEXT = ["A paragraph of text that is long enough to be kept by the extractor for sure. " * 3]


def numbered_pages(n: int) -> list[Page]:
    """`n` small HTML pages at http://example.org/0 .. n-1."""
    return [Page(f"http://example.org/{i}", html_page(f"Page {i}", TEXT)) for i in range(n)]


def read_events(path: Path, warc_reader: str = "warcio", **kwargs: int) -> list[object]:
    """Every reader event of a local WARC file, its headers parsed by `warc_reader`."""
    from toxmine.miner.sources import LocalFile
    from toxmine.miner.warc import read_html_pages

    return list(read_html_pages(LocalFile(str(path)), warc_reader=warc_reader, **kwargs))


def kept_pages(events: list[object]) -> list[HtmlPage]:
    from toxmine.miner.records import HtmlPage

    return [e for e in events if isinstance(e, HtmlPage)]
