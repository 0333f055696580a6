"""A local stand-in of one Common Crawl snapshot, built from the bench corpus (real wget WARC files).

The WARC files are hard-linked (copied across file systems) unchanged under
`crawl-data/<crawl>/segments/<segment>/warc/`: wget writes every record as its own gzip member,
so each record's offset and length in the file are those of one member, exactly as in Common Crawl.
The columnar index is written as Common Crawl writes it: `cc-index/table/cc-main/warc/crawl=<crawl>/
subset=<subset>/part-*.gz.parquet` (HTTP 200 captures in subset=warc, the rest in crawldiagnostics),
gzip-compressed, rows sorted by SURT key, with the 30 columns of Common Crawl's flat schema
(cc-index-table's `cc-index-schema-flat.json`, less `warc_record_id`, which only crawls from
CC-MAIN-2026-30 carry, and the partition columns `crawl` and `subset`), and the listings
`cc-index-table.paths.gz` and `warc.paths.gz`.

`content_languages` stands in for CLD2: it is NOT CLD2. It is fastText's lid.176 (the model toxmine
ships) run over the page's whole visible text (tags, scripts and styles stripped, entities decoded: what
CLD2 sees in Common Crawl's pipeline, boilerplate and navigation included, not trafilatura's main text),
keeping up to three languages with probability >= 0.1, most likely first, as ISO 639-3 codes.
"""

from __future__ import annotations

import gzip
import hashlib
import html
import io
import itertools
import json
import os
import re
import shutil
import sys
from collections import Counter
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from warcio.archiveiterator import ArchiveIterator

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from warc_builder import member_offsets

from toxmine.miner.langid import default_lid_model_path, iso639_3_codes

CRAWL = "CC-MAIN-2026-05"
SEGMENT = "1769904000000.42"
LAYOUT_VERSION = 2  # bump when what is written changes, so a cached stand-in is rebuilt
_S = pa.string()
# Common Crawl's flat index schema (cc-index-table, src/main/resources/schema/cc-index-schema-flat.json)
INDEX_SCHEMA = pa.schema(
    [
        ("url_surtkey", _S),
        ("url", _S),
        ("url_host_name", _S),
        ("url_host_tld", _S),
        ("url_host_2nd_last_part", _S),
        ("url_host_3rd_last_part", _S),
        ("url_host_4th_last_part", _S),
        ("url_host_5th_last_part", _S),
        ("url_host_registry_suffix", _S),
        ("url_host_registered_domain", _S),
        ("url_host_private_suffix", _S),
        ("url_host_private_domain", _S),
        ("url_host_name_reversed", _S),
        ("url_protocol", _S),
        ("url_port", pa.int32()),
        ("url_path", _S),
        ("url_query", _S),
        ("fetch_time", pa.timestamp("us", tz="UTC")),
        ("fetch_status", pa.int16()),
        ("fetch_redirect", _S),
        ("content_digest", _S),
        ("content_mime_type", _S),
        ("content_mime_detected", _S),
        ("content_charset", _S),
        ("content_languages", _S),
        ("content_truncated", _S),
        ("warc_filename", _S),
        ("warc_record_offset", pa.int32()),
        ("warc_record_length", pa.int32()),
        ("warc_segment", _S),
    ]
)
_BIBLIOGRAPHIC = frozenset(  # ISO 639-2/B codes
    [
        "alb",
        "arm",
        "baq",
        "bur",
        "chi",
        "cze",
        "dut",
        "fre",
        "geo",
        "ger",
        "gre",
        "ice",
        "mac",
        "mao",
        "may",
        "per",
        "rum",
        "slo",
        "tib",
        "wel",
    ]
)
_SCRIPT_STYLE = re.compile(r"(?is)<(script|style|noscript)\b.*?</\1\s*>")
_COMMENT = re.compile(r"(?s)<!--.*?-->")
_TAG = re.compile(r"(?s)<[^>]*>")
_CHARSET = re.compile(r"charset=[\"']?([A-Za-z0-9_.:-]+)")


@dataclass
class StandIn:
    """The snapshot's folder (serve it over HTTP) and what it holds."""

    root: Path
    crawl: str
    warc_paths: list[str]  # relative to root, as in warc.paths.gz
    index_paths: list[str]  # subset=warc index files, relative to root
    sources: list[str]  # the corpus file each WARC file is
    html_pages: int  # HTTP 200 text/html captures
    primary_langs: dict[str, int]  # HTML pages per first content_languages code

    @property
    def index_bytes(self) -> int:
        return sum((self.root / path).stat().st_size for path in self.index_paths)

    @property
    def warc_bytes(self) -> int:
        return sum((self.root / path).stat().st_size for path in self.warc_paths)

    def column_bytes(self) -> dict[str, int]:
        """Compressed bytes per column over the subset=warc index files (footers not counted)."""
        sizes: Counter[str] = Counter()
        for path in self.index_paths:
            metadata = pq.read_metadata(self.root / path)
            for group in range(metadata.num_row_groups):
                row_group = metadata.row_group(group)
                for column in range(row_group.num_columns):
                    chunk = row_group.column(column)
                    sizes[chunk.path_in_schema] += chunk.total_compressed_size
        return dict(sizes)


def visible_text(payload: bytes, content_type: str | None) -> str:
    """The page's text as a language identifier of the whole page sees it: markup, scripts, styles and
    comments removed, entities decoded."""
    match = _CHARSET.search(content_type or "") or _CHARSET.search(payload[:2048].decode("ascii", "replace"))
    encoding = match.group(1) if match else "utf-8"
    try:
        text = payload.decode(encoding, "replace")
    except LookupError:
        text = payload.decode("utf-8", "replace")
    text = _TAG.sub(" ", _COMMENT.sub(" ", _SCRIPT_STYLE.sub(" ", text)))
    return " ".join(html.unescape(text).split())


class Cld2StandIn:
    """Up to three ISO 639-3 codes per text, most likely first (fastText lid.176; see the module)."""

    def __init__(self, min_probability: float = 0.1, max_chars: int = 20_000) -> None:
        import fasttext

        self._model: Any = fasttext.load_model(default_lid_model_path())
        self.min_probability = min_probability
        self.max_chars = max_chars
        self._codes: dict[str, str] = {}

    def _iso639_3(self, label: str) -> str:
        code = label.removeprefix("__label__").split("_")[0].split("-")[0].lower()
        if code not in self._codes:
            # CLD2 names a language by its ISO 639-2/T code (the macrolanguage's: zho, swa, msa), not the
            # bibliographic one (chi, dut) nor an individual language's (cmn, swh)
            three = sorted(iso639_3_codes(code) - _BIBLIOGRAPHIC, key=lambda c: (c[0] != code[0], c))
            self._codes[code] = three[0] if three else code
        return self._codes[code]

    def languages(self, text: str) -> str | None:
        if not text.strip():
            return None
        labels, probs = self._model.predict(" ".join(text[: self.max_chars].split()), k=3)
        codes = [self._iso639_3(label) for label, p in zip(labels, probs, strict=True) if p >= self.min_probability]
        return ",".join(dict.fromkeys(codes)) or None


def _surt(url: str) -> str:
    host, _, path = url.split("://", 1)[1].partition("/")
    return ",".join(reversed(host.split(":")[0].split("."))) + ")/" + path.lower()


def _host_parts(host: str) -> dict[str, object]:
    name = host.split(":")[0]
    is_ip = bool(re.fullmatch(r"[0-9.]+", name))
    parts = [] if is_ip else name.split(".")
    row: dict[str, object] = {"url_host_name": name, "url_host_name_reversed": None if is_ip else ".".join(parts[::-1])}
    for i, key in enumerate(("tld", "2nd_last_part", "3rd_last_part", "4th_last_part", "5th_last_part")):
        row[f"url_host_{key}"] = parts[-1 - i] if len(parts) > i else None
    suffix = parts[-1] if parts else None
    domain = ".".join(parts[-2:]) if len(parts) >= 2 else None
    row.update(
        url_host_registry_suffix=suffix,
        url_host_registered_domain=domain,
        url_host_private_suffix=suffix,
        url_host_private_domain=domain,
    )
    return row


def _index_row(member: bytes, filename: str, offset: int, labeler: Cld2StandIn) -> dict[str, object] | None:
    record = next(iter(ArchiveIterator(io.BytesIO(member))))
    if record.rec_type != "response" or record.http_headers is None:
        return None
    url = record.rec_headers.get_header("WARC-Target-URI")
    status = int(record.http_headers.get_statuscode())
    content_type = record.http_headers.get_header("Content-Type")
    mime = (content_type or "").split(";")[0].strip().lower() or None
    detected = record.rec_headers.get_header("WARC-Identified-Payload-Type") or mime
    payload = record.content_stream().read()
    languages = None
    if status == 200 and detected in ("text/html", "application/xhtml+xml"):
        languages = labeler.languages(visible_text(payload, content_type))
    protocol, rest = url.split("://", 1)
    host, _, path_query = rest.partition("/")
    path, _, query = ("/" + path_query).partition("?")
    port = int(host.rsplit(":", 1)[1]) if ":" in host else None
    digest = record.rec_headers.get_header("WARC-Payload-Digest") or "sha1:" + hashlib.sha1(payload).hexdigest()
    when = datetime.fromisoformat(record.rec_headers.get_header("WARC-Date").replace("Z", "+00:00"))
    return {
        "url_surtkey": _surt(url),
        "url": url,
        **_host_parts(host),
        "url_protocol": protocol,
        "url_port": port,
        "url_path": path,
        "url_query": query or None,
        "fetch_time": when,
        "fetch_status": status,
        "fetch_redirect": record.http_headers.get_header("Location"),
        "content_digest": digest.split(":", 1)[-1],
        "content_mime_type": mime,
        "content_mime_detected": detected,
        "content_charset": None,
        "content_languages": languages,
        "content_truncated": record.rec_headers.get_header("WARC-Truncated"),
        "warc_filename": filename,
        "warc_record_offset": offset,
        "warc_record_length": len(member),
        "warc_segment": SEGMENT,
    }


def _link_or_copy(source: Path, target: Path) -> None:
    if target.exists():
        target.unlink()
    try:
        os.link(source, target)
    except OSError:
        target.write_bytes(source.read_bytes())


def _write_index(root: Path, rows: list[dict[str, object]], index_parts: int, row_group_rows: int) -> list[str]:
    table = pa.Table.from_pylist(rows, schema=INDEX_SCHEMA).sort_by("url_surtkey")
    warc_paths: list[str] = []
    for subset in ("warc", "crawldiagnostics"):
        mask = pc.equal(table["fetch_status"], 200)
        part = table.filter(mask if subset == "warc" else pc.invert(mask))
        folder = f"cc-index/table/cc-main/warc/crawl={CRAWL}/subset={subset}"
        (root / folder).mkdir(parents=True, exist_ok=True)
        parts = index_parts if subset == "warc" else 1
        for p in range(parts):
            start, end = p * part.num_rows // parts, (p + 1) * part.num_rows // parts
            path = f"{folder}/part-{p:05d}-5e1b7c2a-9d4f-4c3b-8a6e-1f2d3c4b5a69.c000.gz.parquet"
            pq.write_table(
                part.slice(start, end - start), root / path, compression="gzip", row_group_size=row_group_rows
            )
            if subset == "warc":
                warc_paths.append(path)
    return warc_paths


def build_standin(corpus: list[str], root: Path, index_parts: int = 4, row_group_rows: int = 100_000) -> StandIn:
    """The stand-in of `corpus` (WARC files) under `root`, reused when an earlier build of the same files is
    there (see the module)."""
    stamp = json.dumps(
        {
            "v": LAYOUT_VERSION,
            "files": [(os.path.abspath(p), os.path.getsize(p), int(os.path.getmtime(p))) for p in corpus],
            "parts": index_parts,
            "rows": row_group_rows,
        }
    )
    manifest = root / "standin.json"
    if manifest.exists():
        saved = json.loads(manifest.read_text())
        if saved["stamp"] == stamp:
            return StandIn(root, CRAWL, saved["warc_paths"], saved["index_paths"], list(corpus),
                           saved["html_pages"], saved["primary_langs"])  # fmt: skip
    for stale in ("crawl-data", "cc-index"):  # an earlier build of other files
        shutil.rmtree(root / stale, ignore_errors=True)
    labeler = Cld2StandIn()
    warc_dir = f"crawl-data/{CRAWL}/segments/{SEGMENT}/warc"
    (root / warc_dir).mkdir(parents=True, exist_ok=True)
    warc_paths, rows = [], []
    for i, source in enumerate(corpus):
        name = f"{warc_dir}/{CRAWL}-20260201000000-20260201010000-{i:05d}.warc.gz"
        _link_or_copy(Path(source), root / name)
        data = (root / name).read_bytes()
        offsets = [*member_offsets(root / name), len(data)]
        for start, end in itertools.pairwise(offsets):
            row = _index_row(data[start:end], name, start, labeler)
            if row is not None:
                rows.append(row)
        warc_paths.append(name)
    index_paths = _write_index(root, rows, index_parts, row_group_rows)
    listing = root / "crawl-data" / CRAWL
    every_index = sorted(str(p.relative_to(root)) for p in (root / "cc-index").rglob("*.parquet"))
    (listing / "cc-index-table.paths.gz").write_bytes(gzip.compress(("\n".join(every_index) + "\n").encode()))
    (listing / "warc.paths.gz").write_bytes(gzip.compress(("\n".join(warc_paths) + "\n").encode()))
    html_rows = [r for r in rows if r["fetch_status"] == 200 and r["content_mime_detected"] == "text/html"]
    primary = Counter(str(r["content_languages"]).split(",")[0] for r in html_rows if r["content_languages"])
    manifest.write_text(
        json.dumps(
            {
                "stamp": stamp,
                "warc_paths": warc_paths,
                "index_paths": index_paths,
                "html_pages": len(html_rows),
                "primary_langs": dict(primary.most_common()),
            },
            indent=1,
        )
    )
    return StandIn(root, CRAWL, warc_paths, index_paths, list(corpus), len(html_rows), dict(primary.most_common()))
