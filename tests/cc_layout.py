"""A miniature Common Crawl snapshot on disk, as data.commoncrawl.org lays it out, built from real WARC data.

The shipped demo WARC (a real wget crawl, one gzip member per record) is cut into its members and dealt
round-robin into `n_warcs` WARC files under `crawl-data/<crawl>/segments/<segment>/warc/`, each file
starting with the demo's warcinfo record: every record keeps its exact bytes. The columnar index is
written as Common Crawl writes it: `cc-index/table/cc-main/warc/crawl=<crawl>/subset=<subset>/part-*.parquet`
(successful captures in subset=warc, the rest in subset=crawldiagnostics), with the real column names and
types, offsets and lengths computed from the WARC files, rows sorted by URL, and the listings
`cc-index-table.paths.gz` and `warc.paths.gz`. `content_languages` is what CLD2 would say of each page
(the language its URL names, as ISO 639-3), except for every `mislabel_every`-th HTML page, labelled `eng`
whatever it holds: the index and toxmine's fastText then disagree on those, as they do on real data.
"""

from __future__ import annotations

import gzip
import io
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
from warc_builder import member_offsets
from warcio.archiveiterator import ArchiveIterator

from toxmine.miner.demo import demo_warc_path

CRAWL = "CC-MAIN-2026-01"
SEGMENT = "1767225600000.10"
_URL_LANGS = {"en": "eng", "de": "deu", "fr": "fra", "it": "ita", "ja": "jpn", "ru": "rus", "zh-cn": "zho", "es": "spa"}
_LANG_IN_URL = re.compile(r"/(?:faq|maint-guide)/([a-z]{2}(?:-[a-z]{2})?)/")

INDEX_SCHEMA = pa.schema(
    [
        ("url_surtkey", pa.string()),
        ("url", pa.string()),
        ("url_host_name", pa.string()),
        ("fetch_time", pa.timestamp("us", tz="UTC")),
        ("fetch_status", pa.int16()),
        ("content_digest", pa.string()),
        ("content_mime_type", pa.string()),
        ("content_mime_detected", pa.string()),
        ("content_charset", pa.string()),
        ("content_languages", pa.string()),
        ("content_truncated", pa.string()),
        ("warc_filename", pa.string()),
        ("warc_record_offset", pa.int32()),
        ("warc_record_length", pa.int32()),
        ("warc_segment", pa.string()),
    ]
)


@dataclass
class MiniCrawl:
    """The snapshot's folder (serve it, or point --cc-base-url at it) and what it holds."""

    root: Path
    crawl: str
    warc_paths: list[str]  # relative to root, as in warc.paths.gz
    index_paths: list[str]  # relative to root, as in cc-index-table.paths.gz (every subset)
    rows: pa.Table  # every index row, with `subset` added

    def index_rows(self, subset: str = "warc") -> list[dict[str, object]]:
        return [row for row in self.rows.to_pylist() if row["subset"] == subset]


def _members(path: Path) -> list[bytes]:
    data = path.read_bytes()
    offsets = [*member_offsets(path), len(data)]
    return [data[offsets[i] : offsets[i + 1]] for i in range(len(offsets) - 1)]


def _surt(url: str) -> str:
    host, _, path = url.split("://", 1)[1].partition("/")
    return ",".join(reversed(host.split(":")[0].split("."))) + ")/" + path


def _index_row(member: bytes, filename: str, offset: int, html_seen: int, mislabel_every: int) -> dict[str, object]:
    record = next(iter(ArchiveIterator(io.BytesIO(member))))
    url = record.rec_headers.get_header("WARC-Target-URI")
    status = int(record.http_headers.get_statuscode())
    mime = (record.http_headers.get_header("Content-Type") or "").split(";")[0].strip() or None
    detected = record.rec_headers.get_header("WARC-Identified-Payload-Type") or mime
    languages = None
    if status == 200 and detected == "text/html":
        match = _LANG_IN_URL.search(url)
        languages = _URL_LANGS.get(match.group(1), "eng") if match else "eng"
        if mislabel_every and html_seen % mislabel_every == mislabel_every - 1:
            languages = "eng"
        elif languages != "eng":
            languages += ",eng"  # CLD2 lists up to three, most likely first
    when = datetime.fromisoformat(record.rec_headers.get_header("WARC-Date").replace("Z", "+00:00"))
    return {
        "url_surtkey": _surt(url),
        "url": url,
        "url_host_name": url.split("://", 1)[1].split("/", 1)[0].split(":")[0],
        "fetch_time": when,
        "fetch_status": status,
        "content_digest": record.rec_headers.get_header("WARC-Payload-Digest"),
        "content_mime_type": mime,
        "content_mime_detected": detected,
        "content_charset": None,
        "content_languages": languages,
        "content_truncated": None,
        "warc_filename": filename,
        "warc_record_offset": offset,
        "warc_record_length": len(member),
        "warc_segment": SEGMENT,
        "subset": "warc" if status == 200 else "crawldiagnostics",
    }


def build_mini_crawl(root: Path, n_warcs: int = 3, n_index_parts: int = 2, mislabel_every: int = 7) -> MiniCrawl:
    """Write the snapshot under `root` (see the module)."""
    members = _members(demo_warc_path())
    info, records = members[0], members[1:]
    warc_dir = f"crawl-data/{CRAWL}/segments/{SEGMENT}/warc"
    (root / warc_dir).mkdir(parents=True, exist_ok=True)
    warc_paths, rows, html_seen = [], [], 0
    for i in range(n_warcs):
        name = f"{warc_dir}/{CRAWL}-20260101000000-20260101010000-{i:05d}.warc.gz"
        mine = [info, *records[i::n_warcs]]
        offset = 0
        for member in mine:
            if b"WARC-Type: response" in gzip.decompress(member)[:2000]:
                row = _index_row(member, name, offset, html_seen, mislabel_every)
                html_seen += row["content_languages"] is not None
                rows.append(row)
            offset += len(member)
        (root / name).write_bytes(b"".join(mine))
        warc_paths.append(name)
    table = pa.Table.from_pylist(rows, schema=INDEX_SCHEMA.append(pa.field("subset", pa.string())))
    table = table.sort_by("url_surtkey")
    index_paths = []
    for subset in ("warc", "crawldiagnostics"):
        part = table.filter(pa.compute.equal(table["subset"], subset)).drop_columns(["subset"])
        folder = f"cc-index/table/cc-main/warc/crawl={CRAWL}/subset={subset}"
        (root / folder).mkdir(parents=True, exist_ok=True)
        parts = n_index_parts if subset == "warc" else 1
        for p in range(parts):
            chunk = part.slice(
                p * part.num_rows // parts, (p + 1) * part.num_rows // parts - p * part.num_rows // parts
            )
            path = f"{folder}/part-{p:05d}-0b1d2c3e-4f50-6a7b-8c9d-0e1f2a3b4c5d.c000.gz.parquet"
            pq.write_table(chunk, root / path, compression="gzip", row_group_size=64)
            index_paths.append(path)
    listing_dir = root / "crawl-data" / CRAWL
    (listing_dir / "cc-index-table.paths.gz").write_bytes(gzip.compress("\n".join(index_paths).encode() + b"\n"))
    (listing_dir / "warc.paths.gz").write_bytes(gzip.compress("\n".join(warc_paths).encode() + b"\n"))
    return MiniCrawl(root, CRAWL, warc_paths, index_paths, table)
