"""Mining a record list: single WARC records fetched by range from a miniature Common Crawl on 127.0.0.1."""

from __future__ import annotations

import gzip
import json
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import duckdb
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cc_layout import MiniCrawl, build_mini_crawl
from cli_runner import CliResult, run_cli
from corpora import db_snapshot
from http_server import Fault, FileServer

from toxmine.miner.errors import InputError
from toxmine.miner.framing import FramedRecord, FramingLimits
from toxmine.miner.http import HttpOptions
from toxmine.miner.langid import normalize_label
from toxmine.miner.mine import mine
from toxmine.miner.record_reader import frame_group
from toxmine.miner.record_sources import read_record_list
from toxmine.miner.sources import RecordFile, RecordGroup, RecordPointer, SourceSelection, resolve_inputs
from toxmine.miner.targeting import RecordTally

FAST = HttpOptions(backoff_s=0.01, max_backoff_s=0.02, max_retries=3, timeout_s=10)
WANTED = ("jpn", "rus")
_COMPARED = "doc_id, url, crawl, warc_file, warc_record_id, warc_offset, fetch_time, lang, script, lang_score, text"


@pytest.fixture
def crawl(http_root: Path) -> MiniCrawl:
    return build_mini_crawl(http_root)


def selected_rows(crawl: MiniCrawl, codes: tuple[str, ...] = WANTED) -> list[dict[str, object]]:
    rows = [r for r in crawl.index_rows() if r["content_languages"] and r["content_languages"].split(",")[0] in codes]
    return sorted(rows, key=lambda r: (r["warc_filename"], r["warc_record_offset"]))


def write_record_list(path: Path, rows: list[dict[str, object]]) -> Path:
    columns = ("warc_filename", "warc_record_offset", "warc_record_length", "url", "content_languages")
    pq.write_table(pa.Table.from_pylist([{c: r[c] for c in columns} for r in rows]), path)
    return path


def run_select(crawl: MiniCrawl, server: FileServer, langs: str, out: Path) -> CliResult:
    """`toxmine select` of the crawl's index, served by `server`, for `langs` into `out`."""
    return run_cli("select", f"cc-index:{crawl.crawl}", "--langs", langs, "--cc-base-url", server.url, "-o", str(out))


def documents(db: Path, where: str = "") -> list[tuple[object, ...]]:
    con = duckdb.connect(str(db), read_only=True)
    try:
        return con.execute(f"SELECT {_COMPARED} FROM documents {where} ORDER BY doc_id").fetchall()
    finally:
        con.close()


def mine_list(records: Path, db: Path, base: str, **kwargs: object) -> object:
    sources = resolve_inputs([str(records)], SourceSelection(cc_base_url=base, http=FAST))
    return mine(sources, str(db), **kwargs)  # type: ignore[arg-type]


def test_only_the_selected_records_are_fetched_and_they_equal_the_whole_files_documents(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    rows = selected_rows(crawl)
    records = write_record_list(tmp_path / "records.parquet", rows)
    report = mine_list(records, tmp_path / "targeted.duckdb", http_server.url)
    fetched = [(path, rng) for path, rng in http_server.requests]
    assert len(fetched) == len(rows)  # one range request per record, nothing else
    wanted = {(f"/{r['warc_filename']}", r["warc_record_offset"], r["warc_record_length"]) for r in rows}
    asked = {(p, int(r.split("=")[1].split("-")[0]), int(r.split("-")[1]) - int(r.split("=")[1].split("-")[0]) + 1)
             for p, r in fetched if r}  # fmt: skip
    assert asked == wanted
    assert http_server.bytes_sent == sum(int(r["warc_record_length"]) for r in rows)  # type: ignore[call-overload]
    assert report.documents > 0  # type: ignore[attr-defined]

    whole = [f"{http_server.url}/{path}" for path in crawl.warc_paths]
    mine(resolve_inputs(whole, SourceSelection(http=FAST)), str(tmp_path / "whole.duckdb"))
    pairs = ", ".join(f"('{http_server.url}/{r['warc_filename']}', {r['warc_record_offset']})" for r in rows)
    assert documents(tmp_path / "targeted.duckdb") == documents(
        tmp_path / "whole.duckdb", f"WHERE (warc_file, warc_offset) IN ({pairs})"
    )


def test_the_cost_and_the_agreement_are_stored(crawl: MiniCrawl, http_server: FileServer, tmp_path: Path) -> None:
    rows = selected_rows(crawl, ("jpn", "rus", "eng"))
    records = write_record_list(tmp_path / "records.parquet", rows)
    mine_list(records, tmp_path / "t.duckdb", http_server.url)
    con = duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True)
    cost = con.execute("SELECT warc_files, records_selected, bytes_fetched, bytes_whole FROM targeting_cost").fetchone()
    sizes = sum((crawl.root / p).stat().st_size for p in crawl.warc_paths)
    assert cost == (3, len(rows), sum(r["warc_record_length"] for r in rows), sizes)  # type: ignore[misc]
    targeting = {
        row[0]: row[1:]
        for row in con.execute("SELECT lang, selected, fetched, texts, agreed FROM targeting").fetchall()
    }
    assert targeting["ja"][0] == sum(1 for r in rows if r["content_languages"].startswith("jpn"))  # type: ignore[union-attr]
    assert targeting["ja"][2] * 0.8 < targeting["ja"][3] <= targeting["ja"][2]  # fastText agrees on most
    assert 0 < targeting["en"][3] < targeting["en"][2]  # "eng" labels pages of other languages too (mislabelled)
    index_lang = {
        (f"{http_server.url}/{r['warc_filename']}", r["warc_record_offset"]): normalize_label(
            str(r["content_languages"]).split(",")[0]
        )[0]
        for r in rows
    }
    kept = Counter(
        index_lang[key] for key in con.execute("SELECT warc_file, warc_offset FROM kept_documents").fetchall()
    )
    stored = Counter(index_lang[key] for key in con.execute("SELECT warc_file, warc_offset FROM documents").fetchall())
    found = con.execute("SELECT lang, stored, kept FROM targeting").fetchall()
    assert {lang: (s, k) for lang, s, k in found} == {lang: (stored[lang], kept[lang]) for lang in targeting}
    assert sum(stored.values()) > sum(kept.values())  # near-duplicates are stored, not kept
    con.close()


def test_a_rerun_fetches_nothing_and_a_second_list_only_what_is_not_stored(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    rows = selected_rows(crawl)
    db = tmp_path / "t.duckdb"
    mine_list(write_record_list(tmp_path / "a.parquet", rows), db, http_server.url)
    http_server.requests.clear()
    report = mine_list(write_record_list(tmp_path / "a.parquet", rows), db, http_server.url)
    assert http_server.requests == [] and report.skipped > 0  # type: ignore[attr-defined]
    more = selected_rows(crawl, ("jpn", "rus", "deu"))
    before = documents(db)
    mine_list(write_record_list(tmp_path / "b.parquet", more), db, http_server.url)
    assert len(http_server.requests) < len(more)
    after = documents(db)
    assert set(before) <= set(after) and len({row[0] for row in after}) == len(after)


def test_retries_on_503_and_dropped_connections(crawl: MiniCrawl, http_server: FileServer, tmp_path: Path) -> None:
    rows = selected_rows(crawl)
    for path in crawl.warc_paths:
        http_server.faults[f"/{path}"] = Fault(statuses=[503, 503], retry_after="0", cut_after=[50, 10])
    mine_list(write_record_list(tmp_path / "r.parquet", rows), tmp_path / "t.duckdb", http_server.url)
    mine_list(write_record_list(tmp_path / "r.parquet", rows), tmp_path / "clean.duckdb", http_server.url)
    assert documents(tmp_path / "t.duckdb") == documents(tmp_path / "clean.duckdb")


def test_a_record_that_cannot_be_fetched_fails_its_group_which_a_rerun_mines(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    rows = selected_rows(crawl)
    broken = f"/{crawl.warc_paths[1]}"
    http_server.faults[broken] = Fault(statuses=[500] * 1000)
    db = tmp_path / "t.duckdb"
    report = mine_list(write_record_list(tmp_path / "r.parquet", rows), db, http_server.url)
    assert len(report.failed) == 1 and "HTTP 500" in report.failed[0][1]  # type: ignore[attr-defined]
    assert all(crawl.warc_paths[1] not in row[3] for row in documents(db))  # nothing of the failed group stored
    http_server.faults.clear()
    mine_list(write_record_list(tmp_path / "r.parquet", rows), db, http_server.url)
    mine_list(write_record_list(tmp_path / "r.parquet", rows), tmp_path / "clean.duckdb", http_server.url)
    assert documents(db) == documents(tmp_path / "clean.duckdb")


def test_a_wrong_offset_or_length_in_the_index_is_reported_not_stored(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    rows = selected_rows(crawl)[:3]
    bad = [dict(rows[0], warc_record_offset=int(rows[0]["warc_record_offset"]) + 7),  # type: ignore[call-overload]
           dict(rows[1], url="http://elsewhere.example/"),
           dict(rows[2], warc_record_length=int(rows[2]["warc_record_length"]) + 40)]  # type: ignore[call-overload]  # fmt: skip
    report = mine_list(write_record_list(tmp_path / "r.parquet", bad), tmp_path / "t.duckdb", http_server.url)
    errors = " ".join(error for _, error in report.partial + report.failed)  # type: ignore[attr-defined]
    assert "the index names 'http://elsewhere.example/'" in errors
    assert str(bad[0]["warc_record_offset"]) in errors
    assert f"offset {bad[2]['warc_record_offset']}: the index's length" in errors
    stored = documents(tmp_path / "t.duckdb")  # only the record whose range held more: it is whole and checked
    assert [row[5] for row in stored] == [bad[2]["warc_record_offset"]]


def test_a_group_has_one_deadline_for_all_its_records(crawl: MiniCrawl, http_server: FileServer) -> None:
    path = crawl.warc_paths[0]
    rows = sorted((r for r in crawl.index_rows() if r["warc_filename"] == path), key=lambda r: r["warc_record_length"])
    pointers = tuple(sorted((RecordPointer(r["warc_record_offset"], r["warc_record_length"], None, "und")  # type: ignore[arg-type]
                             for r in rows[:6]), key=lambda p: p.offset))  # fmt: skip
    assert sum(p.length for p in pointers) < 7000  # each record alone takes about 1 s, all of them 6 s or more
    http_server.faults[f"/{path}"] = Fault(trickle_s=0.001)
    options = HttpOptions(backoff_s=0.01, max_backoff_s=0.02, max_retries=3, timeout_s=10, deadline_s=2.5)
    group = RecordGroup((RecordFile(f"{http_server.url}/{path}", pointers),), options, concurrency=1)
    started = time.monotonic()
    with pytest.raises(InputError, match="deadline passed"):
        list(frame_group(group, FramingLimits()))
    assert time.monotonic() - started < 4.5


def test_stopping_a_group_midway_does_not_wait_for_slow_fetches(crawl: MiniCrawl, http_server: FileServer) -> None:
    path = crawl.warc_paths[0]
    rows = sorted((r for r in crawl.index_rows() if r["warc_filename"] == path), key=lambda r: r["warc_record_offset"])
    pointers = tuple(RecordPointer(r["warc_record_offset"], r["warc_record_length"], None, "und") for r in rows)  # type: ignore[arg-type]
    assert sum(p.length for p in pointers[1:5]) > 10_000  # the next fetches, trickled, take 20 s or more
    http_server.faults[f"/{path}"] = Fault(trickle_s=0.002, trickle_from=pointers[1].offset)
    group = RecordGroup((RecordFile(f"{http_server.url}/{path}", pointers),), FAST, concurrency=4)
    frames = frame_group(group, FramingLimits())
    assert isinstance(next(frames)[1], FramedRecord)
    started = time.monotonic()
    frames.close()  # as when the run is interrupted (KeyboardInterrupt) or the unit is given up
    assert time.monotonic() - started < 2
    assert not [thread for thread in threading.enumerate() if thread.name.startswith("toxmine-fetch")]


def test_a_server_ignoring_range_is_read_as_one_stream_in_bounded_memory(crawl: MiniCrawl, tmp_path: Path) -> None:
    big = crawl.root / crawl.warc_paths[0]
    padding = big.read_bytes()
    big.write_bytes(padding * 40)  # 17 MB: the same records again, after the selected ones
    rows = [r for r in selected_rows(crawl) if r["warc_filename"] == crawl.warc_paths[0]]
    with plain_http_server(crawl.root) as url:  # Python's http.server: no Range support, another process
        sources = resolve_inputs([str(write_record_list(tmp_path / "r.parquet", rows))],
                                 SourceSelection(cc_base_url=url, http=FAST))  # fmt: skip
        group = sources[0]
        assert isinstance(group, RecordGroup) and len(group.files) == 1
        tally = RecordTally(group.index_languages())
        tracemalloc.start()
        frames = [frame for _, frame in frame_group(group, FramingLimits(), tally)]
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
    assert [f.offset for f in frames] == [r["warc_record_offset"] for r in rows]
    assert all(isinstance(f, FramedRecord) for f in frames)
    assert peak < 4 << 20 < big.stat().st_size // 4  # a few fetches' buffers, not the file
    assert 0 < tally.bytes_fetched <= len(padding)  # read up to the last selected record, not the 40 copies
    local = RecordGroup((RecordFile(str(big), group.files[0].pointers),))
    assert frames == [frame for _, frame in frame_group(local, FramingLimits())]


@contextmanager
def plain_http_server(root: Path) -> Iterator[str]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1", "--directory", str(root)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    try:
        for _ in range(100):
            with socket.socket() as client:
                if client.connect_ex(("127.0.0.1", port)) == 0:
                    break
            time.sleep(0.05)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_a_local_copy_gives_the_same_documents(crawl: MiniCrawl, http_server: FileServer, tmp_path: Path) -> None:
    rows = selected_rows(crawl)
    records = write_record_list(tmp_path / "r.parquet", rows)
    mine_list(records, tmp_path / "local.duckdb", str(crawl.root))
    local = documents(tmp_path / "local.duckdb")
    whole = [str(crawl.root / p) for p in crawl.warc_paths]
    mine(resolve_inputs(whole), str(tmp_path / "whole.duckdb"))
    pairs = ", ".join(f"('{crawl.root / r['warc_filename']}', {r['warc_record_offset']})" for r in rows)  # type: ignore[str-bytes-safe]
    assert local == documents(tmp_path / "whole.duckdb", f"WHERE (warc_file, warc_offset) IN ({pairs})")


def test_the_cli_mines_a_record_list_and_shows_the_cost(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    records = write_record_list(tmp_path / "r.parquet", selected_rows(crawl))
    db = tmp_path / "t.duckdb"
    result = run_cli("mine", str(records), "--db", str(db), "--cc-base-url", http_server.url, "--no-score",
                     "--group-records", "4", "--fetch-concurrency", "2")  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert re.search(
        r"record lists: 32 records of 3 WARC files in 8 groups: fetched [0-9.]+ KiB of the 1.11 MiB", result.stdout
    )
    assert re.search(r"^ja\s+15\s+15\s+15\s+1[0-9] \(\d+%\)\s+\d+\s+\d+$", result.stdout, re.MULTILINE)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("warc_filename,warc_record_offset\nx.warc.gz,1\n", "no warc_record_length or length column"),
        ("warc_filename,warc_record_offset,warc_record_length\nx.warc.gz,-4,10\n", "row 1: warc_record_offset -4"),
        ("warc_filename,warc_record_offset,warc_record_length\nx.warc.gz,4,0\n", "row 1: warc_record_length 0"),
        ("warc_filename,warc_record_offset,warc_record_length\n,4,10\n", "row 1: warc_filename None names no file"),
        ('warc_filename,warc_record_offset,warc_record_length\n"a\nb.warc.gz",4,10\n', "row 1: warc_filename 'a\\nb"),
    ],
)
def test_a_bad_record_list_is_named_with_its_row(tmp_path: Path, content: str, message: str) -> None:
    records = tmp_path / "bad.csv"
    records.write_text(content)
    result = run_cli("mine", str(records), "--db", str(tmp_path / "t.duckdb"), "--no-score")
    assert result.returncode == 1
    assert f"{records}: {message}" in result.stderr and "Traceback" not in result.stderr


def test_a_record_list_inflating_past_the_size_limit_is_refused(tmp_path: Path) -> None:
    rows = "".join(f"x.warc.gz,{offset},10\n" for offset in range(0, 10_000_000, 100))  # about 1.5 MB inflated
    records = tmp_path / "big.csv.gz"
    records.write_bytes(gzip.compress(b"warc_filename,warc_record_offset,warc_record_length\n" + rows.encode()))
    assert records.stat().st_size < 1 << 20
    with pytest.raises(InputError, match=r"big\.csv\.gz: record list larger than 1 MiB"):
        list(read_record_list(str(records), "https://data.commoncrawl.org", HttpOptions(max_bytes=1 << 20)))


def test_cdx_json_lines_name_records_too(crawl: MiniCrawl, http_server: FileServer, tmp_path: Path) -> None:
    rows = selected_rows(crawl)[:5]
    cdx = [{"url": r["url"], "filename": r["warc_filename"], "offset": str(r["warc_record_offset"]),
            "length": str(r["warc_record_length"]), "languages": r["content_languages"]} for r in rows]  # fmt: skip
    lines = [json.dumps(row) for row in cdx]
    (tmp_path / "cdx.jsonl").write_text("\n".join(lines) + "\n")
    mine_list(tmp_path / "cdx.jsonl", tmp_path / "a.duckdb", http_server.url)
    mine_list(write_record_list(tmp_path / "r.parquet", rows), tmp_path / "b.duckdb", http_server.url)
    assert documents(tmp_path / "a.duckdb") == documents(tmp_path / "b.duckdb") != []


def test_a_whole_file_after_its_records_is_refused_not_stored_twice(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    db = tmp_path / "t.duckdb"
    mine_list(write_record_list(tmp_path / "r.parquet", selected_rows(crawl)), db, http_server.url)
    before = documents(db)
    report = mine(resolve_inputs([f"{http_server.url}/{crawl.warc_paths[0]}"], SourceSelection(http=FAST)), str(db))
    assert len(report.failed) == 1 and "would store them twice" in report.failed[0][1]
    assert documents(db) == before


def test_overlapping_lists_and_their_whole_file_in_one_run_store_each_record_once(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    rows = selected_rows(crawl)
    first = write_record_list(tmp_path / "a.parquet", rows[: len(rows) // 2 + 2])
    second = write_record_list(tmp_path / "b.parquet", rows[len(rows) // 2 - 2 :])
    whole = f"{http_server.url}/{crawl.warc_paths[0]}"
    inputs = [whole, str(first), str(second)]
    report = mine(
        resolve_inputs(inputs, SourceSelection(cc_base_url=http_server.url, http=FAST)), str(tmp_path / "t.duckdb")
    )
    assert [name for name, _ in report.failed] == [whole]  # type: ignore[attr-defined]
    assert "would store them twice" in report.failed[0][1]  # type: ignore[attr-defined]
    mine_list(write_record_list(tmp_path / "all.parquet", rows), tmp_path / "clean.duckdb", http_server.url)
    assert documents(tmp_path / "t.duckdb") == documents(tmp_path / "clean.duckdb") != []


@pytest.mark.slow
@pytest.mark.subprocess
def test_killed_while_mining_a_record_list_resumes_to_the_same_database(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    records = write_record_list(tmp_path / "r.parquet", selected_rows(crawl, ("jpn", "rus", "deu", "fra")))
    reference, killed = tmp_path / "reference.duckdb", tmp_path / "killed.duckdb"

    def command(db: Path) -> list[str]:
        return [sys.executable, "-m", "toxmine", "mine", str(records), "--db", str(db), "--cc-base-url",
                http_server.url, "--no-score", "-v", "--group-records", "6", "--batch-inputs", "2"]  # fmt: skip

    env = {**os.environ, "CI": "1"}
    subprocess.run(command(reference), check=True, capture_output=True, env=env, timeout=300)
    proc = subprocess.Popen(command(killed), stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, env=env)
    assert proc.stderr is not None
    for line in proc.stderr:
        if "documents (" in line:  # the first group is committed; others are being fetched
            proc.send_signal(signal.SIGKILL)
            break
    proc.wait(timeout=60)
    assert proc.returncode == -signal.SIGKILL
    partial = db_snapshot(killed)["sources"]
    assert 0 < len(partial) < len(db_snapshot(reference)["sources"])
    subprocess.run(command(killed), check=True, capture_output=True, env=env, timeout=300)
    assert db_snapshot(killed) == db_snapshot(reference)


@pytest.mark.ray
@pytest.mark.slow
def test_select_then_mine_on_ray_equals_the_local_run(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    import ray

    records = tmp_path / "records.parquet"
    selected = run_select(crawl, http_server, "ja,ru", records)
    assert selected.returncode == 0, selected.stderr
    assert pq.read_table(records).num_rows == len(selected_rows(crawl))
    local = tmp_path / "local.duckdb"
    mine_list(records, local, http_server.url)
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    try:
        report = mine_list(records, tmp_path / "ray.duckdb", http_server.url, executor="ray", workers=2)
    finally:
        ray.shutdown()
    assert report.ok  # type: ignore[attr-defined]
    assert db_snapshot(tmp_path / "ray.duckdb") == db_snapshot(local)


def test_a_group_spans_files_and_one_server_ignoring_range_does_not_stop_the_others(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    rows = selected_rows(crawl)
    records = write_record_list(tmp_path / "r.parquet", rows)
    (group,) = resolve_inputs([str(records)], SourceSelection(cc_base_url=http_server.url, http=FAST))
    assert isinstance(group, RecordGroup) and len(group.files) == 3  # a few records per file: one input
    mine_list(records, tmp_path / "clean.duckdb", http_server.url)
    http_server.requests.clear()
    http_server.faults[f"/{crawl.warc_paths[1]}"] = Fault(ignore_range=[True] * 1000)
    mine_list(records, tmp_path / "t.duckdb", http_server.url)
    assert documents(tmp_path / "t.duckdb") == documents(tmp_path / "clean.duckdb")
    ranged = {path for path, rng in http_server.requests if rng and rng.split("-")[1]}  # bounded ranges
    assert {f"/{crawl.warc_paths[0]}", f"/{crawl.warc_paths[2]}"} <= ranged
    con = duckdb.connect(str(tmp_path / "t.duckdb"), read_only=True)
    fetched = dict(con.execute("SELECT warc_file, bytes_fetched FROM source_files").fetchall())
    con.close()
    streamed = fetched[f"{http_server.url}/{crawl.warc_paths[1]}"]
    assert streamed > sum(int(r["warc_record_length"]) for r in rows if r["warc_filename"] == crawl.warc_paths[1])  # type: ignore[call-overload]


def test_a_problem_in_a_group_of_several_files_names_its_file(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    rows = selected_rows(crawl)
    bad = [dict(r, url="http://elsewhere.example/") if i == 20 else r for i, r in enumerate(rows)]
    report = mine_list(write_record_list(tmp_path / "r.parquet", bad), tmp_path / "t.duckdb", http_server.url)
    (error,) = [error for _, error in report.partial]  # type: ignore[attr-defined]
    assert (
        f"offset {rows[20]['warc_record_offset']}: {http_server.url}/{rows[20]['warc_filename']}: the record" in error
    )


def test_a_list_fetched_by_url_cannot_name_local_files(http_server: FileServer, http_root: Path) -> None:
    (http_root / "evil.csv").write_text("warc_filename,warc_record_offset,warc_record_length\n/etc/passwd,0,10\n")
    result = run_cli("mine", f"{http_server.url}/evil.csv", "--db", str(http_root / "t.duckdb"), "--no-score")
    assert result.returncode == 1
    assert "row 1: warc_filename '/etc/passwd': a record list fetched by URL may name only URLs" in result.stderr


def test_a_boolean_is_no_offset(tmp_path: Path) -> None:
    records = tmp_path / "bad.jsonl"
    records.write_text('{"filename": "x.warc.gz", "offset": true, "length": 10}\n')
    result = run_cli("mine", str(records), "--db", str(tmp_path / "t.duckdb"), "--no-score")
    assert result.returncode == 1 and "row 1: warc_record_offset True is not a whole number" in result.stderr


def test_records_mined_from_one_host_are_known_on_another(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    records = write_record_list(tmp_path / "r.parquet", selected_rows(crawl))
    db = tmp_path / "t.duckdb"
    mine_list(records, db, http_server.url)
    before = documents(db)
    report = mine_list(records, db, str(crawl.root))  # the same crawl, from a local mirror
    assert report.processed == 0 and report.skipped == 1  # type: ignore[attr-defined]
    assert documents(db) == before


def test_an_empty_record_list_is_an_error_and_select_says_nothing_matched(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    out = tmp_path / "sw.parquet"
    selected = run_select(crawl, http_server, "sw,yo", out)
    assert selected.returncode == 0 and "no record of the index matched --langs sw,yo" in selected.stderr
    mined = run_cli("mine", str(out), "--db", str(tmp_path / "t.duckdb"), "--no-score")
    assert mined.returncode == 1 and f"{out}: the record list names no records" in mined.stderr
    wrong = run_select(crawl, http_server, "ja", tmp_path / "out.csv")
    assert wrong.returncode == 2 and "select writes Parquet; name a .parquet file" in wrong.stderr


def test_mining_a_selection_from_another_host_warns(crawl: MiniCrawl, http_server: FileServer, tmp_path: Path) -> None:
    out = tmp_path / "ja.parquet"
    selected = run_select(crawl, http_server, "ja", out)
    assert selected.returncode == 0, selected.stderr
    same = run_cli("mine", str(out), "--db", str(tmp_path / "a.duckdb"), "--cc-base-url", http_server.url, "--no-score")
    assert same.returncode == 0 and "was selected from" not in same.stderr
    other = run_cli(
        "mine", str(out), "--db", str(tmp_path / "b.duckdb"), "--cc-base-url", str(crawl.root), "--no-score"
    )
    assert other.returncode == 0
    assert f"was selected from {http_server.url}; its crawl-data/ paths are fetched from --cc-base-url" in other.stderr


def test_a_cut_record_list_is_named_and_nothing_is_stored(crawl: MiniCrawl, tmp_path: Path) -> None:
    whole = write_record_list(tmp_path / "whole.parquet", selected_rows(crawl))
    cut = tmp_path / "cut.parquet"
    cut.write_bytes(whole.read_bytes()[: whole.stat().st_size // 2])
    result = run_cli("mine", str(cut), "--db", str(tmp_path / "t.duckdb"), "--no-score")
    assert result.returncode == 1 and f"{cut}: not a readable record list" in result.stderr
    assert documents(tmp_path / "t.duckdb") == []
