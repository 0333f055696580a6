"""`toxmine select` on a miniature Common Crawl snapshot (real WARC data, the real index columns), served by a
real HTTP server on 127.0.0.1 or read from a local copy: the selected rows, the bytes fetched, sampling,
shards, resumption, Ray, servers ignoring Range, and bad inputs."""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cc_layout import CRAWL, MiniCrawl, build_mini_crawl
from cli_runner import run_cli
from http_server import Fault, FileServer

from toxmine.miner.cc_index import INDEX_COLUMNS, IndexReader, RecordFilter
from toxmine.miner.errors import ConfigError, InputError
from toxmine.miner.executors import RayOptions, SerialExecutor
from toxmine.miner.http import HttpOptions
from toxmine.miner.index_inputs import IndexSelection
from toxmine.miner.record_sources import read_record_list
from toxmine.miner.select_records import (
    METADATA_KEY,
    SelectOptions,
    SelectReport,
    _merge,
    lowest_per_lang,
    sample_keys,
    select_records,
)

FAST = HttpOptions(backoff_s=0.01, max_backoff_s=0.02, max_retries=2, timeout_s=5)
OUTPUT_COLUMNS = [
    ("warc_filename", pa.string()),
    ("warc_record_offset", pa.int64()),
    ("warc_record_length", pa.int64()),
    ("url", pa.string()),
    ("content_languages", pa.string()),
    ("lang", pa.string()),
    ("crawl", pa.string()),
]
# what CLD2 calls the languages asked for below (written out here, not taken from toxmine's table)
CLD2 = {"de": {"deu"}, "en": {"eng"}, "fr": {"fra"}, "zh": {"zho", "chi", "cmn"}, "ja": {"jpn"}}


@pytest.fixture
def crawl(http_root: Path) -> MiniCrawl:
    return build_mini_crawl(http_root, n_index_parts=3)


def expected(crawl: MiniCrawl, langs: set[str], primary_only: bool = False, limit: int | None = None) -> list[tuple]:
    """The rows `select` must write, computed from the index rows the snapshot was built from."""
    chosen = []
    for row in crawl.index_rows("warc"):
        if row["fetch_status"] != 200 or row["content_mime_detected"] != "text/html" or not row["content_languages"]:
            continue
        codes = str(row["content_languages"]).split(",")[: 1 if primary_only else 3]
        lang = next((lang for code in codes for lang in sorted(langs) if code in CLD2[lang]), None)
        if lang is not None:
            key = int.from_bytes(hashlib.blake2b(str(row["url"]).encode(), digest_size=8).digest(), "big")
            chosen.append((key, row["url"], row["warc_filename"], row["warc_record_offset"], row, lang))
    if limit is not None:
        chosen.sort(key=lambda item: item[:4])
        chosen = [
            item for item in chosen if sum(1 for other in chosen[: chosen.index(item)] if other[5] == item[5]) < limit
        ]
    rows = [(r["warc_filename"], r["warc_record_offset"], r["warc_record_length"], r["url"], r["content_languages"],
             lang, CRAWL) for *_, r, lang in chosen]  # fmt: skip
    return sorted(rows, key=lambda row: (row[0], row[1]))


def rows_of(path: Path) -> list[tuple]:
    return [tuple(row.values()) for row in pq.read_table(path).to_pylist()]


def run(inputs: list[str], out: Path, langs: set[str], base: str, **kwargs: object) -> SelectReport:
    primary_only = bool(kwargs.pop("primary_only", False))
    limit = kwargs.pop("limit", None)
    shard = kwargs.pop("shard", None)
    options = SelectOptions(RecordFilter(frozenset(langs), primary_only), limit, FAST)  # type: ignore[arg-type]
    selection = IndexSelection(base, shard, None, FAST)  # type: ignore[arg-type]
    return select_records(inputs, str(out), options, selection, **kwargs)  # type: ignore[arg-type]


@pytest.mark.parametrize("primary_only", [False, True])
def test_selects_the_records_of_the_wanted_languages(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path, primary_only: bool
) -> None:
    out = tmp_path / "records.parquet"
    report = run([f"cc-index:{CRAWL}"], out, {"en", "zh"}, http_server.url, primary_only=primary_only, version="9.9")
    want = expected(crawl, {"en", "zh"}, primary_only)
    assert report.ok and rows_of(out) == want
    assert {row[5] for row in want} == {"en", "zh"} and report.records == len(want)
    if primary_only:  # "deu,eng" pages are not English pages
        assert all(row[4].startswith(("eng", "zho")) for row in want)
    else:
        assert any(row[4] == "deu,eng" and row[5] == "en" for row in want)
    table = pq.read_table(out)
    assert [(field.name, field.type) for field in table.schema] == OUTPUT_COLUMNS
    meta = json.loads(table.schema.metadata[METADATA_KEY])
    assert meta["toxmine_version"] == "9.9" and meta["crawl"] == CRAWL and meta["langs"] == ["en", "zh"]
    assert meta["primary_only"] is primary_only and meta["mime"] == ["application/xhtml+xml", "text/html"]
    assert len(meta["index_files"]) == 3 and all("subset=warc" in name for name in meta["index_files"])
    assert {"input", "limit_records", "shard", "created_at"} <= set(meta)
    assert not (tmp_path / ".records.parquet.work").exists()  # the parts are gone once merged
    zh = next(summary for summary in report.languages if summary.lang == "zh")
    assert zh.records == sum(row[5] == "zh" for row in want)
    assert zh.bytes == sum(row[2] for row in want if row[5] == "zh")
    assert zh.warc_files == len({row[0] for row in want if row[5] == "zh"})


def test_only_the_needed_columns_are_fetched(crawl: MiniCrawl, http_server: FileServer, http_root: Path,
                                            tmp_path: Path) -> None:  # fmt: skip
    report = run([f"cc-index:{CRAWL}"], tmp_path / "r.parquet", {"de"}, http_server.url)
    for path in crawl.index_paths[:3]:
        metadata = pq.read_metadata(http_root / path)
        unneeded = []
        for group in range(metadata.num_row_groups):
            for column in range(metadata.num_columns):
                chunk = metadata.row_group(group).column(column)
                if chunk.path_in_schema not in INDEX_COLUMNS:
                    start = min(x for x in (chunk.dictionary_page_offset, chunk.data_page_offset) if x)
                    unneeded.append((start, start + chunk.total_compressed_size))
        ranges = [r for p, r in http_server.requests if p == f"/{path}"]
        assert ranges and all(r is not None and r.startswith("bytes=") for r in ranges)
        for text in ranges:
            first, last = (int(x) for x in text[6:].split("-"))
            assert not any(first < end and start <= last for start, end in unneeded), (path, text)
    sizes = sum((http_root / path).stat().st_size for path in crawl.index_paths[:3])
    assert report.index_bytes_total == sizes and report.index_bytes_read < 0.75 * sizes


def test_a_local_copy_gives_the_same_records(crawl: MiniCrawl, http_server: FileServer, http_root: Path,
                                             tmp_path: Path) -> None:  # fmt: skip
    run([f"cc-index:{CRAWL}"], tmp_path / "http.parquet", {"de", "fr"}, http_server.url)
    local = str(http_root)
    run([f"cc-index:{CRAWL}"], tmp_path / "base.parquet", {"de", "fr"}, local)
    run([str(http_root / "cc-index")], tmp_path / "folder.parquet", {"de", "fr"}, local)  # crawldiagnostics left out
    run([str(http_root / "cc-index/**/subset=warc/*.parquet")], tmp_path / "glob.parquet", {"de", "fr"}, local)
    want = expected(crawl, {"de", "fr"})
    assert want and all(rows_of(tmp_path / f"{name}.parquet") == want for name in ("http", "base", "folder", "glob"))


def test_limit_records_is_one_sample_whatever_the_split(http_root: Path, tmp_path: Path) -> None:
    crawls = [build_mini_crawl(http_root / f"c{parts}", n_index_parts=parts) for parts in (1, 2, 5)]
    langs = {"en", "de", "ja"}
    outs = []
    for i, crawl in enumerate(crawls):
        out = tmp_path / f"{i}.parquet"
        executor = SerialExecutor(shuffle_seed=i)
        run([f"cc-index:{CRAWL}"], out, langs, str(crawl.root), limit=4, executor=executor)
        outs.append(rows_of(out))
    want = expected(crawls[0], langs, limit=4)
    assert outs == [want] * 3
    assert sorted(row[5] for row in want) == ["de"] * 4 + ["en"] * 4 + ["ja"] * 4
    assert len(expected(crawls[0], {"en"})) > 50  # ...from many more


def test_shards_together_are_the_whole(crawl: MiniCrawl, http_server: FileServer, tmp_path: Path) -> None:
    whole = run([f"cc-index:{CRAWL}"], tmp_path / "all.parquet", {"en"}, http_server.url)
    halves = [run([f"cc-index:{CRAWL}"], tmp_path / f"{i}.parquet", {"en"}, http_server.url, shard=(i, 2))
              for i in (0, 1)]  # fmt: skip
    assert [half.index_files for half in halves] == [2, 1] and whole.index_files == 3
    joined = sorted(rows_of(tmp_path / "0.parquet") + rows_of(tmp_path / "1.parquet"), key=lambda r: (r[0], r[1]))
    assert joined == rows_of(tmp_path / "all.parquet") == expected(crawl, {"en"})


def test_a_rerun_reads_only_the_file_that_failed(crawl: MiniCrawl, http_server: FileServer, tmp_path: Path) -> None:
    bad = f"/{crawl.index_paths[1]}"
    http_server.faults[bad] = Fault(statuses=[404])
    out = tmp_path / "r.parquet"
    first = run([f"cc-index:{CRAWL}"], out, {"de"}, http_server.url)
    assert not first.ok and not out.exists()
    assert len(first.failed) == 1 and first.failed[0][0].endswith(bad) and "HTTP 404" in first.failed[0][1]
    http_server.requests.clear()
    second = run([f"cc-index:{CRAWL}"], out, {"de"}, http_server.url)
    assert second.ok and second.reused == 2
    assert {path for path, _ in http_server.requests} == {bad, f"/crawl-data/{CRAWL}/cc-index-table.paths.gz"}
    assert rows_of(out) == expected(crawl, {"de"})


def test_a_server_ignoring_range_gives_the_same_records(
    crawl: MiniCrawl, http_server: FileServer, tmp_path: Path
) -> None:
    http_server.honour_range = False
    work = tmp_path / "work"
    report = run([f"cc-index:{CRAWL}"], tmp_path / "r.parquet", {"fr", "zh"}, http_server.url, work_dir=str(work))
    assert report.ok and rows_of(tmp_path / "r.parquet") == expected(crawl, {"fr", "zh"})
    assert report.index_bytes_read == report.index_bytes_total  # streamed whole, once
    assert list(work.iterdir()) == []  # the streamed copies and the parts are gone


@pytest.mark.ray
@pytest.mark.slow
def test_ray_executor_gives_the_same_records(crawl: MiniCrawl, http_server: FileServer, tmp_path: Path) -> None:
    out = tmp_path / "r.parquet"
    report = run([f"cc-index:{CRAWL}"], out, {"de", "ja"}, http_server.url, executor="ray", workers=2,
                 ray=RayOptions(num_cpus=2))  # fmt: skip
    assert report.ok and rows_of(out) == expected(crawl, {"de", "ja"})


def test_row_groups_ruled_out_by_their_statistics_are_not_read(tmp_path: Path) -> None:
    rows = [{"url": f"http://x.org/{i}", "fetch_status": 404 if i < 100 else 200, "content_mime_detected": "text/html",
             "content_languages": "deu", "warc_filename": "a.warc.gz", "warc_record_offset": i,
             "warc_record_length": 10} for i in range(150)]  # fmt: skip
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "i.parquet", row_group_size=50)
    with IndexReader(str(tmp_path / "i.parquet")) as reader:
        selected = pa.concat_tables(reader.selected(RecordFilter(frozenset({"de"}))))
    assert selected["warc_record_offset"].to_pylist() == list(range(100, 150))
    assert reader.tally.row_groups_skipped == 2 and reader.tally.rows_read == 50


def test_select_command(crawl: MiniCrawl, http_root: Path, tmp_path: Path) -> None:
    out = tmp_path / "records.parquet"
    result = run_cli("select", f"cc-index:{CRAWL}", "--langs", "de,zh", "--cc-base-url", str(http_root),
                     "-o", str(out), "--mime", "text/html", "--no-progress")  # fmt: skip
    assert result.returncode == 0, result.stderr
    want = expected(crawl, {"de", "zh"})
    assert rows_of(out) == want
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["lang", "records", "WARC", "files", "record", "bytes"]
    assert lines[1].split()[:2] == ["de", str(sum(row[5] == "de" for row in want))]
    assert "index: 3 files" in result.stdout and "record pointers written" in result.stdout


def _cut(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _garbage(path: Path) -> None:
    path.write_bytes(b"not parquet at all" * 100)


def _old_crawl(path: Path) -> None:
    pq.write_table(pq.read_table(path).drop_columns(["content_languages"]), path)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (_cut, "not a Parquet file|not a readable Parquet"),
        (_garbage, "not a Parquet file|not a readable Parquet"),
        (_old_crawl, "no column content_languages in this index file .*CC-MAIN-2018-39"),
    ],
)
@pytest.mark.parametrize("where", ["http", "local"])
def test_a_bad_index_file_is_named(crawl: MiniCrawl, http_server: FileServer, http_root: Path, tmp_path: Path,
                                   damage: object, message: str, where: str) -> None:  # fmt: skip
    damage(http_root / crawl.index_paths[0])  # type: ignore[operator]
    base = http_server.url if where == "http" else str(http_root)
    result = run_cli("select", f"cc-index:{CRAWL}", "--langs", "de", "--cc-base-url", base, "-o",
                     str(tmp_path / "r.parquet"), "--http-retries", "0")  # fmt: skip
    assert result.returncode == 1 and "Traceback" not in result.stderr
    error = next(line for line in result.stderr.splitlines() if "part-00000" in line)
    assert crawl.index_paths[0] in error
    assert re.search(message, error), error
    assert not (tmp_path / "r.parquet").exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cc-index:CC-MAIN-26"], "cc-index:CC-MAIN-26: expected cc-index:CC-MAIN-YYYY-WW"),
        (
            ["cc-index:CC-MAIN-2019-01"],
            "crawl-data/CC-MAIN-2019-01/cc-index-table.paths.gz: no such listing (cc-index:CC-MAIN-2019-01)",
        ),
        (["missing.paths.gz"], "missing.paths.gz: no such listing"),
        (["nothing/*.parquet"], "nothing/*.parquet: glob matched no files"),
        ([f"cc-index:{CRAWL}", "--langs", "xx,de"], "--langs: xx not ISO 639 language codes"),
        ([f"cc-index:{CRAWL}", "--shard", "2/2"], "shard '2/2': need 0 <= I < N"),
        ([f"cc-index:{CRAWL}", "--shard", "5/7"], "no index files left to read: 3 index files"),
        ([f"cc-index:{CRAWL}", "--limit-records", "0"], "--limit-records must be at least 1"),
    ],
)
def test_bad_input_is_one_clear_line(crawl: MiniCrawl, http_root: Path, tmp_path: Path, args: list[str],
                                     message: str) -> None:  # fmt: skip
    langs = [] if "--langs" in args else ["--langs", "de"]
    result = run_cli("select", *args, *langs, "--cc-base-url", str(http_root), "-o", str(tmp_path / "r.parquet"),
                     cwd=tmp_path)  # fmt: skip
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert message in result.stderr.strip().splitlines()[-1]


def test_an_unreadable_listing_url_hides_its_secret(http_server: FileServer, tmp_path: Path) -> None:
    url = f"{http_server.url}/missing.paths.gz?X-Amz-Signature=s3cr3tvalue"
    result = run_cli("select", url, "--langs", "de", "-o", str(tmp_path / "r.parquet"), "--http-retries", "0")
    assert result.returncode == 2 and "HTTP 404" in result.stderr and "/missing.paths.gz" in result.stderr
    assert "s3cr3tvalue" not in result.stderr + result.stdout


def test_record_filter_maps_codes() -> None:
    assert RecordFilter(frozenset({"sw", "yo", "zh"})).cld2_codes() == {
        "swa": "sw", "swh": "sw", "yor": "yo", "chi": "zh", "cmn": "zh", "zho": "zh"}  # fmt: skip
    with pytest.raises(ConfigError, match="swahili"):
        RecordFilter(frozenset({"swahili"}))
    with pytest.raises(InputError, match="cannot read: No such file"), IndexReader("/nonexistent/x.parquet"):
        pass


def _index_rows(n: int = 8) -> list[dict[str, object]]:
    return [{"url": f"http://x.org/{i}", "fetch_status": 200, "content_mime_detected": "text/html",
             "content_languages": "deu", "warc_filename": "crawl-data/a.warc.gz", "warc_record_offset": 100 * i,
             "warc_record_length": 10} for i in range(n)]  # fmt: skip


def test_index_rows_that_point_at_no_record_are_left_out(tmp_path: Path) -> None:
    rows = _index_rows()
    rows[0]["warc_record_offset"], rows[1]["warc_record_offset"], rows[2]["warc_filename"] = -5, None, None
    rows[3]["warc_record_length"], rows[4]["warc_record_length"], rows[5]["url"] = 0, None, None
    pq.write_table(pa.Table.from_pylist(rows), tmp_path / "i.parquet")
    for limit in (None, 10):
        out = tmp_path / f"r{limit}.parquet"
        report = run([str(tmp_path / "i.parquet")], out, {"de"}, "https://data.commoncrawl.org", limit=limit)
        assert report.ok, report.failed
        assert sorted(pq.read_table(out)["warc_record_offset"].to_pylist()) == [500, 600, 700]
        groups = list(read_record_list(str(out), str(tmp_path), FAST))  # `mine` reads it
        assert [pointer.offset for pointer in groups[0].files[0].pointers] == [500, 600, 700]


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("fetch_status", pa.array(["200"] * 8), "column fetch_status is string, not an integer"),
        ("warc_record_offset", pa.array([1.5] * 8), "column warc_record_offset is double, not an integer"),
        ("content_languages", pa.array([["deu"]] * 8), "column content_languages is list<.*>, not a string"),
        ("warc_filename", pa.array([7] * 8), "column warc_filename is int64, not a string"),
    ],
)
def test_an_index_column_of_the_wrong_type_is_named(tmp_path: Path, column: str, values: pa.Array, message: str
                                                    ) -> None:  # fmt: skip
    table = pa.Table.from_pylist(_index_rows())
    table = table.set_column(table.schema.get_field_index(column), column, values)
    pq.write_table(table, tmp_path / "i.parquet")
    report = run([str(tmp_path / "i.parquet")], tmp_path / "r.parquet", {"de"}, "https://data.commoncrawl.org")
    assert len(report.failed) == 1
    assert re.search(f"^{re.escape(str(tmp_path / 'i.parquet'))}: {message}", report.failed[0][1]), report.failed


@pytest.mark.slow
def test_the_merge_sorts_and_samples_out_of_core_as_each_unit_does(tmp_path: Path) -> None:
    """The final merge (DuckDB, spilling beyond its memory) keeps the same rows as the units' Arrow sample
    rule, and sorts by file and offset, for more rows than its memory holds."""
    n = 1_000_000  # about 125 MB of rows in Arrow, merged within 48 MB
    urls = [f"http://host{i % 977}.example/{i * 7919 % n:x}/page-{i}.html" for i in range(n)]
    table = pa.table({
        "warc_filename": [f"crawl-data/x/warc/{i % 101:05d}.warc.gz" for i in range(n)],
        "warc_record_offset": pa.array([(i * 104729) % (1 << 30) for i in range(n)], pa.int64()),
        "warc_record_length": pa.array([1000 + i % 500 for i in range(n)], pa.int64()),
        "url": urls,
        "content_languages": ["swa" if i % 3 else "yor,eng" for i in range(n)],
        "lang": ["sw" if i % 3 else "yo" for i in range(n)],
        "crawl": ["CC-MAIN-2026-01"] * n,
        "sample_key": sample_keys(pa.array(urls)),
    })  # fmt: skip
    parts = []
    for i in range(4):
        parts.append(str(tmp_path / f"part-{i}.parquet"))
        pq.write_table(table.slice(i * n // 4, n // 4), parts[-1])
    out = tmp_path / "records.parquet"
    summaries = _merge(parts, 50_000, str(out), {METADATA_KEY: b'{"it\'s": 1}'}, str(tmp_path / "spill"), "48MB")
    merged = pq.read_table(out)
    expected = lowest_per_lang(table, 50_000).sort_by(
        [("warc_filename", "ascending"), ("warc_record_offset", "ascending")]
    )
    assert merged.column("url").to_pylist() == expected.column("url").to_pylist()
    assert merged.schema.names == [name for name, _ in OUTPUT_COLUMNS]
    assert pq.read_metadata(out).metadata[METADATA_KEY] == b'{"it\'s": 1}'
    assert [(s.lang, s.records) for s in summaries] == [("sw", 50_000), ("yo", 50_000), ("", 100_000)]  # and the total
