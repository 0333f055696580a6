"""Exact range reads against a real HTTP server on 127.0.0.1 (retries, lies, servers ignoring Range)."""

from __future__ import annotations

import time
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cc_layout import build_mini_crawl
from http_server import Fault, FileServer

from toxmine.miner.errors import InputError
from toxmine.miner.http import HttpOptions
from toxmine.miner.ranges import RangeClient, RangeFile, RangeIgnored

FAST = HttpOptions(backoff_s=0.01, max_backoff_s=0.02, max_retries=3, timeout_s=5)


@pytest.fixture
def blob(http_root: Path) -> bytes:
    data = bytes(range(256)) * 400
    (http_root / "blob.bin").write_bytes(data)
    return data


def test_reads_exactly_the_range_and_counts_bytes(http_server: FileServer, blob: bytes) -> None:
    with RangeClient(FAST) as client:
        assert client.read(f"{http_server.url}/blob.bin", 1000, 300) == blob[1000:1300]
        assert client.stats.bytes == 300 and client.stats.requests == 1
        assert client.size_of(f"{http_server.url}/blob.bin") == len(blob)
    assert http_server.requests == [("/blob.bin", "bytes=1000-1299")]


def test_retries_503_and_a_dropped_transfer_from_where_it_broke(http_server: FileServer, blob: bytes) -> None:
    http_server.faults["/blob.bin"] = Fault(statuses=[503], retry_after="0", cut_after=[100])
    with RangeClient(FAST) as client:
        assert client.read(f"{http_server.url}/blob.bin", 5000, 400) == blob[5000:5400]
        assert client.stats.retries == 2
    assert [r for _, r in http_server.requests] == ["bytes=5000-5399", "bytes=5000-5399", "bytes=5100-5399"]


def test_gives_up_after_the_retries(http_server: FileServer, blob: bytes) -> None:
    http_server.faults["/blob.bin"] = Fault(statuses=[503] * 10, retry_after="0")
    with RangeClient(FAST) as client, pytest.raises(InputError, match=r"at offset 7: HTTP 503; giving up after 4"):
        client.read(f"{http_server.url}/blob.bin", 7, 10)


@pytest.mark.parametrize(
    ("fault", "message"),
    [
        (Fault(shift_start=[3]), "asked for bytes 10-19, the server sent Content-Range 'bytes 13-19/102400'"),
        (Fault(content_range=[""]), "Content-Range none"),
        (Fault(statuses=[404]), "HTTP 404"),
    ],
)
def test_a_wrong_range_is_refused(http_server: FileServer, blob: bytes, fault: Fault, message: str) -> None:
    http_server.faults["/blob.bin"] = fault
    with RangeClient(FAST) as client, pytest.raises(InputError, match=message):
        client.read(f"{http_server.url}/blob.bin", 10, 10)


def test_a_range_past_the_end(http_server: FileServer, blob: bytes) -> None:
    with RangeClient(FAST) as client, pytest.raises(InputError, match=r"past the end of the file \(102400 bytes\)"):
        client.read(f"{http_server.url}/blob.bin", len(blob) + 5, 10)


def test_a_server_ignoring_range_is_told_without_reading_its_body(http_server: FileServer, blob: bytes) -> None:
    http_server.honour_range = False
    with RangeClient(FAST) as client, pytest.raises(RangeIgnored) as caught:
        client.read(f"{http_server.url}/blob.bin", 10, 10)
    assert caught.value.size == len(blob)
    assert client.stats.bytes == 0


def test_a_file_that_changes_size_between_reads(http_server: FileServer, http_root: Path, blob: bytes) -> None:
    with RangeClient(FAST) as client:
        client.read(f"{http_server.url}/blob.bin", 0, 10)
        (http_root / "blob.bin").write_bytes(blob + b"more")
        with pytest.raises(InputError, match="changed on the server"):
            client.read(f"{http_server.url}/blob.bin", 0, 10)


def test_secrets_in_the_url_never_reach_the_error(http_server: FileServer, blob: bytes) -> None:
    http_server.faults["/blob.bin"] = Fault(statuses=[404])
    with RangeClient(FAST) as client, pytest.raises(InputError) as caught:
        client.read(f"{http_server.url}/blob.bin?X-Amz-Signature=s3cr3tvalue", 0, 10)
    assert "s3cr3tvalue" not in str(caught.value)


def test_range_file_lets_pyarrow_read_only_the_needed_columns(http_server: FileServer, http_root: Path) -> None:
    n = 200_000
    table = pa.table(
        {
            "offset": pa.array(range(n), pa.int64()),
            "url": [f"http://example.org/{i * 7919:x}/{i * 104729:x}.html" for i in range(n)],
        }
    )
    pq.write_table(table, http_root / "index.parquet", row_group_size=50_000)
    size = (http_root / "index.parquet").stat().st_size
    with RangeClient(FAST) as client:
        handle = RangeFile(client, f"{http_server.url}/index.parquet")
        read = pq.ParquetFile(handle).read(columns=["offset"])
        assert read.column(0).to_pylist() == list(range(n))
        assert client.stats.bytes < size / 3  # the url column was never fetched


def test_range_file_reads_the_columnar_index(http_server: FileServer, http_root: Path) -> None:
    crawl = build_mini_crawl(http_root)
    path = crawl.index_paths[0]
    with RangeClient(FAST) as client:
        read = pq.ParquetFile(RangeFile(client, f"{http_server.url}/{path}")).read(columns=["warc_record_offset"])
    assert read.column(0).to_pylist() == pq.read_table(http_root / path).column("warc_record_offset").to_pylist()


def test_a_trickling_server_is_given_up_at_the_deadline(http_server: FileServer, blob: bytes) -> None:
    http_server.faults["/blob.bin"] = Fault(trickle_s=0.005)  # 2000 bytes would take 10 s
    options = HttpOptions(backoff_s=0.01, max_backoff_s=0.02, max_retries=3, timeout_s=5, deadline_s=1)
    started = time.monotonic()
    with RangeClient(options) as client, pytest.raises(InputError, match="at offset 10: deadline passed"):
        client.read(f"{http_server.url}/blob.bin", 10, 2000)
    assert time.monotonic() - started < 4


def test_one_deadline_for_several_reads(http_server: FileServer, blob: bytes) -> None:
    http_server.faults["/blob.bin"] = Fault(trickle_s=0.005)  # 100 bytes take 0.5 s
    options = HttpOptions(backoff_s=0.01, max_backoff_s=0.02, max_retries=3, timeout_s=5, deadline_s=60)
    deadline = time.monotonic() + 1.2
    with RangeClient(options) as client, pytest.raises(InputError, match="deadline passed"):
        for start in range(0, 1000, 100):
            client.read(f"{http_server.url}/blob.bin", start, 100, deadline)
    assert time.monotonic() < deadline + 2
