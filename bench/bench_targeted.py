"""Targeted mining (`toxmine select` + `toxmine mine records.parquet`) vs mining whole WARC files, over HTTP.

A local stand-in of one Common Crawl snapshot is built from the bench corpus (`cc_standin.py`: the
WARC files unchanged under crawl-data/..., the columnar index with Common Crawl's columns, offsets and
lengths computed from the files, `content_languages` from fastText over each page's visible text standing
in for CLD2) and served by tests/http_server.py on 127.0.0.1 (a thread of this process; `--latency-ms`
delays every request, as S3's time to first byte would). In one run, for the `--langs` languages (by
default the two rarest primary languages of the index with at least `--min-pages` pages):

  a. whole files: `toxmine mine cc:CRAWL --langs L` (every WARC file, streamed whole);
  b. targeted:    `toxmine select cc-index:CRAWL --langs L` then `toxmine mine records.parquet --langs L`;
  c. the fixed cost of a `mine` run: the same targeted command on a list of one record.

Each command is a fresh subprocess; its wall time and CPU time (its own and its children's) are
measured, and the bytes the server sent (its `bytes_sent`, checked against the sum of the ranges asked).
(b)'s documents are checked to be a subset of (a)'s (same doc ids, same texts), and (b)'s recall of
(a)'s documents is reported: how many of the documents that fastText keeps in L the index stand-in found.

    .venv/bin/python bench/bench_targeted.py                      # ~4-5 minutes on 2 cores
    .venv/bin/python bench/bench_targeted.py --max-files 4 --latency-ms 30 --json /tmp/targeted.json
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import resource
import shlex
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import benchkit as bk
import duckdb
import httpx
import pyarrow.parquet as pq
from cc_standin import StandIn, build_standin

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
import http_server

from toxmine.miner.cc_index import INDEX_COLUMNS
from toxmine.miner.langid import normalize_label

REPO = Path(__file__).resolve().parent.parent
TOXMINE = str(REPO / ".venv" / "bin" / "toxmine") if (REPO / ".venv" / "bin" / "toxmine").exists() else "toxmine"
MIB = 1 << 20


@dataclass
class Run:
    """One command: its times and what the server sent for it."""

    name: str
    argv: list[str]
    wall_s: float
    cpu_s: float
    bytes_sent: int
    bytes_asked: int  # the sum of the ranges (or whole files) the requests asked for
    requests: int
    stdout: str
    extra: dict[str, Any] = field(default_factory=dict)


def server_handler(delay_s: float, nodelay: bool) -> type[http_server._Handler]:
    """tests/http_server.py's handler, each request delayed by `delay_s`; with `nodelay` its socket sends without
    Nagle's delay (it writes headers and body apart, so a reused connection otherwise waits on the client's
    delayed ACK, ~40 ms a request)."""

    class Handler(http_server._Handler):
        def setup(self) -> None:
            super().setup()
            if nodelay:
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            if delay_s:
                time.sleep(delay_s)
            super().do_GET()

    return Handler


def _asked(server: http_server.FileServer, requests: list[tuple[str, str | None]]) -> int:
    total = 0
    for path, header in requests:
        size = (server.root / path.lstrip("/")).stat().st_size
        match = re.fullmatch(r"bytes=(\d+)-(\d*)", header or "")
        if match:
            start = int(match.group(1))
            end = min(size - 1, int(match.group(2))) if match.group(2) else size - 1
            total += max(0, end - start + 1)
        else:
            total += size
    return total


def run_command(name: str, argv: list[str], server: http_server.FileServer) -> Run:
    """Run `argv` as a subprocess; its wall seconds, the CPU seconds of it and all its descendants (sampled every
    0.1 s: an extraction sandbox outlives the worker that waits for it, so RUSAGE_CHILDREN misses it), and the
    server's bytes and requests for it."""
    bk.log(f"{name}: {shlex.join(argv)}")
    first, sent = len(server.requests), server.bytes_sent
    cpu: dict[int, float] = {}
    started = time.perf_counter()
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        process = subprocess.Popen(argv, stdout=out, stderr=err, text=True, env=dict(os.environ, CI="1"))
        while process.poll() is None:
            cpu.update(bk.descendants_cpu())
            time.sleep(0.1)
        wall = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if process.returncode != 0:
        sys.stderr.write(stdout[-3000:] + stderr[-3000:])
        raise SystemExit(f"{name} failed ({process.returncode})")
    requests = server.requests[first:]
    return Run(name, argv, wall, sum(cpu.values()), server.bytes_sent - sent, _asked(server, requests),
               len(requests), stdout)  # fmt: skip


def probe_server(base: str, standin: StandIn, n: int = 30) -> dict[str, float]:
    """Median ms of a 1-byte range request on the largest WARC file and on a small listing: the server reads
    and hashes the whole file (its ETag) on every request, so the difference is its per-request cost."""
    largest = max(standin.warc_paths, key=lambda p: (standin.root / p).stat().st_size)
    small = f"crawl-data/{standin.crawl}/warc.paths.gz"
    times: dict[str, list[float]] = {"warc": [], "small": []}
    with httpx.Client() as client:
        for _ in range(n):
            for key, path in (("warc", largest), ("small", small)):
                started = time.perf_counter()
                client.get(f"{base}/{path}", headers={"Range": "bytes=0-0"}).raise_for_status()
                times[key].append((time.perf_counter() - started) * 1000)
    return {key: statistics.median(values) for key, values in times.items()} | {
        "warc_mib": (standin.root / largest).stat().st_size / MIB
    }


def documents(db: str) -> dict[str, tuple[str, bool, str]]:
    """doc_id -> (lang, kept, md5 of text)."""
    con = duckdb.connect(db, read_only=True)
    try:
        rows = con.execute("SELECT doc_id, lang, dup_of IS NULL, md5(text) FROM documents").fetchall()
    finally:
        con.close()
    return {row[0]: (row[1], bool(row[2]), row[3]) for row in rows}


def query(db: str, sql: str) -> list[tuple[Any, ...]]:
    con = duckdb.connect(db, read_only=True)
    try:
        return con.execute(sql).fetchall()
    finally:
        con.close()


def pick_langs(standin: StandIn, min_pages: int) -> list[str]:
    """The two rarest primary languages of the index with at least `min_pages` HTML pages (English aside)."""
    counts = sorted((n, code) for code, n in standin.primary_langs.items() if n >= min_pages and code != "eng")
    if not counts:
        raise SystemExit(f"no language with {min_pages} pages in the stand-in's index: lower --min-pages")
    return [code for _, code in counts[:2]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("corpus", nargs="?", default=str(REPO / "bench" / ".cache" / "warc"))
    parser.add_argument("--max-files", type=int, help="use the first N WARC files of the corpus")
    parser.add_argument("--langs", help="ISO 639-3 codes as in the index (default: the two rarest, see --min-pages)")
    parser.add_argument("--min-pages", type=int, default=40, help="fewest HTML pages of a language picked (40)")
    parser.add_argument("--workers", type=int, default=2, help="--workers of both mine runs (2)")
    parser.add_argument("--fetch-concurrency", type=int, default=8, help="targeted mine's --fetch-concurrency (8)")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="delay added to every HTTP request (0)")
    parser.add_argument("--index-parts", type=int, default=4, help="subset=warc index files of the stand-in (4)")
    parser.add_argument("--standin-dir", default=str(REPO / "bench" / ".cache" / "targeted"))
    parser.add_argument("--tmp-dir", help="folder for the databases and the record list (default: system temp)")
    parser.add_argument("--json", default=str(REPO / "bench" / ".cache" / "targeted.json"))
    args = parser.parse_args()

    began = time.perf_counter()
    load_start = bk.loadavg()
    speedup_start = bk.parallel_capacity()
    corpus = bk.warc_files(args.corpus)[: args.max_files]
    bk.log(f"stand-in of {len(corpus)} WARC files in {args.standin_dir}")
    standin = build_standin(corpus, Path(args.standin_dir), index_parts=args.index_parts)
    langs = args.langs.split(",") if args.langs else pick_langs(standin, args.min_pages)
    codes = ",".join(normalize_label(code)[0] for code in langs)
    server, _ = http_server.start_server(standin.root)
    server.RequestHandlerClass = server_handler(args.latency_ms / 1000, nodelay=False)
    base = server.url
    probe = probe_server(base, standin)
    work = Path(tempfile.mkdtemp(prefix="bench-targeted-", dir=args.tmp_dir))
    common = ["--langs", codes, "--workers", str(args.workers), "--no-score", "--no-progress"]
    server_cpu = bk.cpu_seconds(resource.RUSAGE_SELF)

    whole = run_command("a whole", [TOXMINE, "mine", f"cc:{standin.crawl}", "--cc-base-url", base,
                                    "--db", str(work / "whole.duckdb"), *common], server)  # fmt: skip
    records = work / "records.parquet"
    select = run_command("b select", [TOXMINE, "select", f"cc-index:{standin.crawl}", "--cc-base-url", base,
                                      "--langs", codes, "-o", str(records), "--no-progress"], server)  # fmt: skip
    targeted = run_command("b mine", [TOXMINE, "mine", str(records), "--cc-base-url", base,
                                      "--db", str(work / "targeted.duckdb"), "--fetch-concurrency",
                                      str(args.fetch_concurrency), *common], server)  # fmt: skip
    one = work / "one.parquet"
    pq.write_table(pq.read_table(records).slice(0, 1), one)
    fixed = run_command("c fixed", [TOXMINE, "mine", str(one), "--cc-base-url", base,
                                    "--db", str(work / "one.duckdb"), *common], server)  # fmt: skip
    b2 = [TOXMINE, "mine", str(records), "--cc-base-url", base, "--fetch-concurrency", str(args.fetch_concurrency)]
    single = run_command("d groups of 1", [*b2, "--db", str(work / "single.duckdb"), "--group-records", "1",
                                           *common], server)  # fmt: skip
    server.RequestHandlerClass = server_handler(args.latency_ms / 1000, nodelay=True)
    probe_nodelay = probe_server(base, standin)
    nodelay = run_command("e no Nagle", [*b2, "--db", str(work / "nodelay.duckdb"), *common], server)  # fmt: skip
    server_cpu = bk.cpu_seconds(resource.RUSAGE_SELF) - server_cpu
    server.shutdown()

    # -- what each run found -------------------------------------------------------------------------
    docs_a, docs_b = documents(str(work / "whole.duckdb")), documents(str(work / "targeted.duckdb"))
    common_ids = set(docs_a) & set(docs_b)
    subset = set(docs_b) <= set(docs_a)
    same_text = sum(docs_a[i][2] == docs_b[i][2] for i in common_ids)
    kept_a = {i for i, d in docs_a.items() if d[1]}
    kept_b = {i for i, d in docs_b.items() if d[1]}
    selected = pq.read_table(records)
    selected_by_lang = Counter(selected.column("lang").to_pylist())
    targeting = query(
        str(work / "targeted.duckdb"), "SELECT lang, selected, fetched, texts, agreed, kept FROM targeting"
    )
    cost = query(str(work / "targeted.duckdb"), "SELECT warc_files, bytes_fetched, bytes_whole FROM targeting_cost")[0]
    pages_a = standin.html_pages
    pages_b = selected.num_rows
    index_total = standin.index_bytes
    columns = standin.column_bytes()
    needed = sum(columns[name] for name in INDEX_COLUMNS)
    rows_index = sum(pq.read_metadata(standin.root / p).num_rows for p in standin.index_paths)
    lang_a = Counter(d[0] for i, d in docs_a.items() if i in kept_a)
    lang_b = Counter(d[0] for i, d in docs_b.items() if i in kept_b)

    def per(run: Run, pages: int, kept: int) -> list[str]:
        per_doc = bk.num(bk.rate(run.bytes_sent, kept) / 1024, 1)
        return [
            bk.num(run.wall_s, 1),
            bk.num(run.cpu_s, 1),
            f"{bk.num(bk.rate(pages, run.wall_s), 1)} pages/s, {bk.num(bk.rate(kept, run.wall_s), 2)} kept/s",
            f"{run.bytes_sent / MIB:,.2f} MiB in {run.requests:,} requests; {per_doc} KiB/kept doc",
        ]

    b_wall, b_cpu = select.wall_s + targeted.wall_s, select.cpu_s + targeted.cpu_s
    b_bytes = select.bytes_sent + targeted.bytes_sent
    by_lang = ", ".join(f"{k} {v}" for k, v in sorted(selected_by_lang.items()))
    share = needed / sum(columns.values())
    note_a = (
        f"{len(standin.warc_paths)} WARC files, {pages_a:,} HTML pages; {len(docs_a):,} documents, {len(kept_a):,} kept"
    )
    note_b1 = (
        f"index (subset=warc) {index_total / MIB:,.3f} MiB in {len(standin.index_paths)} files, {rows_index:,} rows: "
        f"read {select.bytes_sent / index_total:.1%}; the 7 needed columns hold {share:.1%} of the column bytes; "
        f"{pages_b:,} records selected ({by_lang})"
    )
    note_b2 = (
        f"{cost[0]} of {len(standin.warc_paths)} WARC files touched; fetched {cost[1] / MIB:,.2f} MiB of their "
        f"{cost[2] / MIB:,.1f} MiB; --fetch-concurrency {args.fetch_concurrency}; {len(docs_b):,} documents, "
        f"{len(kept_b):,} kept"
    )
    b_rate = bk.rate(len(kept_b), b_wall)
    per_kept = bk.ratio(bk.rate(b_bytes, len(kept_b)), bk.rate(whole.bytes_sent, len(kept_a)))
    r_wall, r_cpu = bk.ratio(targeted.wall_s, whole.wall_s), bk.ratio(targeted.cpu_s, whole.cpu_s)
    r_wall_net = bk.ratio(targeted.wall_s - fixed.wall_s, whole.wall_s - fixed.wall_s)
    r_cpu_net = bk.ratio(targeted.cpu_s - fixed.cpu_s, whole.cpu_s - fixed.cpu_s)
    note_r1 = (
        f"b2 alone: wall {r_wall:.3f}, CPU {r_cpu:.3f}; b2 less the fixed cost c over a less c: "
        f"wall {r_wall_net:.3f}, CPU {r_cpu_net:.3f}"
    )
    same = "yes" if subset and same_text == len(common_ids) else "NO"
    recall = f"**{len(kept_a & kept_b) / len(kept_a):.1%}**" if kept_a else "n/a"
    exact = all(r.bytes_sent == r.bytes_asked for r in (whole, select, targeted, fixed, single, nodelay))
    units = query(str(work / "single.duckdb"), "SELECT count(*) FROM sources WHERE n_selected IS NOT NULL")[0][0]
    same_d = documents(str(work / "single.duckdb")) == docs_b
    same_e = documents(str(work / "nodelay.duckdb")) == docs_b
    per_input = bk.num((single.wall_s - targeted.wall_s) / max(1, units - 2) * 1000, 0)
    note_s = (
        f"on a {probe['warc_mib']:.1f} MiB WARC file vs {probe['small']:.1f} ms on a tiny file: tests/http_server.py "
        f"reads and hashes the whole file per request; with TCP_NODELAY {probe_nodelay['warc']:.1f} / "
        f"{probe_nodelay['small']:.1f} ms; --latency-ms {args.latency_ms:g}; server CPU (this process) "
        f"{server_cpu:.1f} s; bytes_sent equals the ranges asked in every run: {exact}"
    )
    rows = [
        ["#", "measurement", "wall s", "CPU s", "rate", "bytes (server)", "notes"],
        ["---", "---", "---:", "---:", "---:", "---:", "---"],
        ["a", f"whole files: `mine cc:{standin.crawl} --langs {codes}`", *per(whole, pages_a, len(kept_a)), note_a],
        [
            "b1",
            f"`select cc-index:{standin.crawl} --langs {codes}`",
            bk.num(select.wall_s, 1),
            bk.num(select.cpu_s, 1),
            f"{bk.num(bk.rate(rows_index, select.wall_s), 0)} index rows/s",
            f"{select.bytes_sent / MIB:,.3f} MiB in {select.requests:,} requests",
            note_b1,
        ],
        ["b2", "`mine records.parquet --langs ...`", *per(targeted, pages_b, len(kept_b)), note_b2],
        [
            "b",
            "targeted = b1 + b2",
            bk.num(b_wall, 1),
            bk.num(b_cpu, 1),
            f"{bk.num(b_rate, 2)} kept/s",
            f"{b_bytes / MIB:,.2f} MiB; {bk.num(bk.rate(b_bytes, len(kept_b)) / 1024, 1)} KiB/kept doc",
            "",
        ],
        [
            "c",
            "fixed cost: `mine` of a 1-record list",
            bk.num(fixed.wall_s, 1),
            bk.num(fixed.cpu_s, 1),
            "",
            "",
            "start-up, fastText and sandbox start, database creation: in both a and b2",
        ],
        [
            "r1",
            "ratio targeted / whole (b / a)",
            f"**{bk.ratio(b_wall, whole.wall_s):.3f}**",
            f"**{bk.ratio(b_cpu, whole.cpu_s):.3f}**",
            f"kept/s x{bk.ratio(b_rate, bk.rate(len(kept_a), whole.wall_s)):.2f}",
            f"**{bk.ratio(b_bytes, whole.bytes_sent):.4f}**; per kept doc {per_kept:.4f}",
            note_r1,
        ],
        [
            "r2",
            "b's documents a subset of a's (doc ids, texts)",
            "",
            "",
            f"**{same}**",
            "",
            f"{len(common_ids):,} of b's {len(docs_b):,} in a; same text: {same_text:,}",
        ],
        [
            "r3",
            "recall of the index stand-in: a's kept documents that b kept",
            "",
            "",
            recall,
            "",
            "; ".join(f"{lang}: {lang_b.get(lang, 0)} of {n}" for lang, n in sorted(lang_a.items())),
        ],
        [
            "r4",
            "index / fastText agreement (b's `targeting` view)",
            "",
            "",
            "",
            "",
            "; ".join(f"{t[0]}: selected {t[1]}, texts {t[3]}, agreed {t[4]}, kept {t[5]}" for t in targeting),
        ],
        [
            "d",
            "b2 with `--group-records 1` (one record per input: what each input costs)",
            *per(single, pages_b, len(kept_b)),
            f"{units} inputs (record groups); {per_input} ms wall per extra input; same documents as b2: {same_d}",
        ],
        [
            "e",
            "b2 with the server's ~40 ms per request removed (TCP_NODELAY)",
            *per(nodelay, pages_b, len(kept_b)),
            f"b2 - e = {targeted.wall_s - nodelay.wall_s:.1f} s of waiting on requests; same documents as b2: {same_e}",
        ],
        ["s", "server per-request cost (1-byte range, median)", "", "", f"{probe['warc']:.1f} ms", "", note_s],
    ]
    facts = bk.machine_facts(["toxmine", "pyarrow", "httpx", "duckdb", "trafilatura"], load_start, speedup_start,
                             bk.parallel_capacity())  # fmt: skip
    command = shlex.join([".venv/bin/python", "bench/bench_targeted.py", *sys.argv[1:]])
    print("### toxmine targeted vs whole-file mining\n")
    print(f"- command: `{command}`")
    print(f"- machine: nproc {facts['nproc']} (usable {facts['usable_cpus']}), {facts['cpu']}, {facts['platform']}; "
          f"2 processes vs 1: x{facts['parallel_speedup_start']:.2f} at start, x{facts['parallel_speedup_end']:.2f} "
          f"at end; load average {facts['loadavg_start']} -> {facts['loadavg_end']}")  # fmt: skip
    print(f"- versions: {', '.join(f'{k} {v}' for k, v in facts['versions'].items())}")
    print(f"- stand-in: {standin.crawl}, {len(standin.warc_paths)} WARC files ({standin.warc_bytes / MIB:,.1f} MiB, "
          f"{pages_a:,} HTML pages), languages {', '.join(langs)} (toxmine {codes}: "
          f"{', '.join(str(standin.primary_langs.get(c, 0)) for c in langs)} pages by primary index language); "
          f"server: tests/http_server.py on 127.0.0.1, in-process thread")  # fmt: skip
    print(f"- benchmark took {time.perf_counter() - began:.0f} s\n")
    print("\n".join(bk.markdown_rows(rows)))
    column_share = {name: columns[name] / sum(columns.values()) for name in sorted(columns, key=lambda n: -columns[n])}
    print("\nindex column share (compressed bytes, subset=warc): "
          + ", ".join(f"{name} {share:.1%}" for name, share in list(column_share.items())[:8]))  # fmt: skip
    print(f"needed columns: {', '.join(f'{n} {columns[n] / rows_index:.2f} B/row' for n in INDEX_COLUMNS)}; "
          f"total {needed / rows_index:.1f} B/row of {sum(columns.values()) / rows_index:.1f}")  # fmt: skip
    print(f"\nselect's summary:\n{select.stdout}")
    runs = {
        r.name: {k: v for k, v in r.__dict__.items() if k != "stdout"}
        for r in (whole, select, targeted, fixed, single, nodelay)
    }
    bk.write_json(args.json, {
        "machine": facts, "command": command, "langs": langs, "runs": runs,
        "probe": probe, "probe_nodelay": probe_nodelay,
        "pages": {"whole": pages_a, "selected": pages_b}, "documents": {"whole": len(docs_a), "targeted": len(docs_b)},
        "kept": {"whole": len(kept_a), "targeted": len(kept_b), "both": len(kept_a & kept_b)},
        "subset": subset, "same_text": same_text, "targeting": targeting, "targeting_cost": cost,
        "index": {"bytes": index_total, "rows": rows_index, "columns": columns, "needed": needed},
        "server_cpu_s": server_cpu, "md5_docs_b": hashlib.md5(",".join(sorted(docs_b)).encode()).hexdigest(),
    })  # fmt: skip


if __name__ == "__main__":
    main()
