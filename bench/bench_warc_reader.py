#!/usr/bin/env python3
"""CPU cost of reading WARC files with each header parser (`warc_parsers`: warcio, fastwarc).

The "warcio" reader parses plain headers itself (`parse_plain`) and the others with warcio; the
table also shows warcio's own parser on every response, for comparison.

A benchmark, not a test: one run over the same files prints one Markdown table, side by side:
CPU seconds per 1,000 records and compressed MB per CPU second of `read_html_pages` with each
reader, and where the time goes (framing: gzip inflate, CRC and record cutting; header parsing;
body decoding; the rest: classification and events), measured record by record on the same
framed records. CPU time of this process, not wall time: pin it to one core on a shared machine.

    taskset -c 0 .venv/bin/python bench/bench_warc_reader.py              # bench/.cache/warc/*.warc.gz
    taskset -c 0 .venv/bin/python bench/bench_warc_reader.py FILE...

`measure(files)` returns the same figures as a dict, for other bench scripts.
"""

from __future__ import annotations

import contextlib
import gc
import glob
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, BinaryIO

from toxmine.miner import framing
from toxmine.miner.framing import FramedRecord, FramingLimits, frame_records
from toxmine.miner.http_body import BodyError, decode_body
from toxmine.miner.sources import LocalFile
from toxmine.miner.warc import read_html_pages
from toxmine.miner.warc_parsers import WARC_READERS, parse_plain, parse_with_fastwarc, parse_with_warcio, warc_parser

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
DEFAULT_FILES = os.path.join(BENCH_DIR, ".cache", "warc", "*.warc.gz")
READERS = ("warcio", "fastwarc")


def _framed(path: str) -> list[FramedRecord]:
    def open_at(offset: int) -> BinaryIO:
        handle = open(path, "rb")  # noqa: SIM115 (framing closes it)
        handle.seek(offset)
        return handle

    return [r for r in frame_records(open_at, FramingLimits()) if isinstance(r, FramedRecord)]


def _whole(files: Sequence[str], reader: str) -> tuple[float, int]:
    """CPU seconds and records of `read_html_pages` over `files`."""
    start = time.process_time()
    n = sum(1 for path in files for _ in read_html_pages(LocalFile(path), warc_reader=reader))
    return time.process_time() - start, n


def _stages(files: Sequence[str]) -> dict[str, Any]:
    """CPU seconds of framing, then of each reader's header parsing and of body decoding, on the same records."""
    start = time.process_time()
    records = [r for path in files for r in _framed(path)]
    framing = time.process_time() - start
    responses = [r for r in records if r.warc_type == "response" and not r.skimmed]
    out: dict[str, Any] = {"framing_s": framing, "responses": len(responses)}
    for reader in READERS:
        parse = warc_parser(reader)
        start = time.process_time()
        for framed in responses:
            parse(framed)
        out[f"parse_{reader}_s"] = time.process_time() - start
    start = time.process_time()
    for framed in responses:
        parse_with_warcio(framed)  # warcio's own parser on every record: what the warcio reader did before parse_plain
    out["parse_warcio_alone_s"] = time.process_time() - start
    out["plain_parsed"] = sum(1 for framed in responses if parse_plain(framed) is not None)
    parsed = [parse(r) for r in responses]
    start = time.process_time()
    for record in parsed:
        if record.http is not None and record.http.status == "200":
            with contextlib.suppress(BodyError):
                decode_body(record.body, record.http.transfer_encoding, record.http.content_encoding, 4 << 20)
    out["body_s"] = time.process_time() - start
    warcio_only = [r for r in responses if _falls_back(r)]
    out["fastwarc_fallbacks"] = len(warcio_only)
    return out


def _falls_back(record: FramedRecord) -> bool:
    """Whether FastWARC hands this record to warcio (headers outside its plain subset)."""
    from toxmine.miner import warc_parsers

    calls = 0
    original = warc_parsers.parse_with_warcio

    def counting(framed: FramedRecord) -> Any:
        nonlocal calls
        calls += 1
        return original(framed)

    warc_parsers.parse_with_warcio = counting  # type: ignore[assignment]
    try:
        parse_with_fastwarc(record)
    finally:
        warc_parsers.parse_with_warcio = original  # type: ignore[assignment]
    return calls > 0


def measure(files: Sequence[str]) -> dict[str, Any]:
    """Figures of one run over `files`: per reader CPU s / 1,000 records and MB / CPU s, and the stage split."""
    megabytes = sum(os.path.getsize(f) for f in files) / 1e6
    result: dict[str, Any] = {"files": len(files), "mb": megabytes, "readers": {}}
    for reader in READERS:
        _whole(files[:1], reader)  # warm imports and caches
    gc.collect()
    gc.disable()  # collections triggered by one reader's garbage would be billed to the other
    try:
        for reader in READERS:
            cpu, n = _whole(files, reader)
            result["records"] = n
            result["readers"][reader] = {
                "cpu_s": cpu,
                "cpu_s_per_1000": cpu / n * 1000,
                "mb_per_cpu_s": megabytes / cpu,
            }
            gc.collect()
        result["stages"] = _stages(files)
    finally:
        gc.enable()
    return result


def table(result: dict[str, Any]) -> str:
    """The figures as a Markdown table."""
    readers = result["readers"]
    stages = result["stages"]
    n, responses, alone = result["records"], stages["responses"], stages["parse_warcio_alone_s"]
    rows = [
        "| figure | warcio | fastwarc |",
        "|---|---:|---:|",
        "| `read_html_pages` CPU s | {:.2f} | {:.2f} |".format(*(readers[r]["cpu_s"] for r in READERS)),
        "| CPU s / 1,000 records | {:.3f} | {:.3f} |".format(*(readers[r]["cpu_s_per_1000"] for r in READERS)),
        "| CPU us / record | {:.1f} | {:.1f} |".format(*(readers[r]["cpu_s_per_1000"] * 1000 for r in READERS)),
        "| MB (compressed) / CPU s | {:.1f} | {:.1f} |".format(*(readers[r]["mb_per_cpu_s"] for r in READERS)),
        "| header parsing, us / response | {:.1f} | {:.1f} |".format(
            *(stages[f"parse_{r}_s"] / responses * 1e6 for r in READERS)
        ),
        f"| framing (inflate, CRC, cutting), us / record | {stages['framing_s'] / n * 1e6:.1f} | same |",
        f"| body decoding (HTTP 200), us / response | {stages['body_s'] / responses * 1e6:.1f} | same |",
        f"| warcio's own parser on every response, us / response | {alone / responses * 1e6:.1f} | |",
        f"| responses parsed by warcio (fallback) | {responses - stages['plain_parsed']} of {responses} "
        f"| {stages['fastwarc_fallbacks']} of {responses} |",
    ]
    head = f"{result['files']} files, {result['mb']:.1f} MB compressed, {n} records, {responses} responses"
    head += f"; gzip inflated by {framing._ZLIB.__name__}"
    return head + "\n\n" + "\n".join(rows)


def main(argv: Sequence[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    files = args or sorted(glob.glob(DEFAULT_FILES))
    if not files:
        print(f"no WARC files (build them with bench/build_bench_corpus.sh, or name some): {DEFAULT_FILES}")
        return 2
    assert set(READERS) <= set(WARC_READERS.names())
    print(table(measure(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
