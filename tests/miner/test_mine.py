"""End-to-end mining into a real DuckDB file: provenance, dedup across runs, bad inputs,
parallel workers, and resumption after SIGKILL."""

from __future__ import annotations

import json
import logging
import os
import random
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TypeVar

import duckdb
import pytest
from cli_runner import CliResult, run_cli
from corpora import db_snapshot, warcs_of
from http_server import FileServer
from warc_builder import Page, RealPage, write_warc
from warcio.archiveiterator import ArchiveIterator

from toxmine.miner.errors import ConfigError
from toxmine.miner.executors import SerialExecutor, TaskFailed
from toxmine.miner.langid import LidOptions
from toxmine.miner.mine import mine, work_dir_for
from toxmine.miner.process import ProcessOptions
from toxmine.miner.sources import LocalFile, resolve_inputs
from toxmine.miner.units import mine_unit

T = TypeVar("T")
R = TypeVar("R")


def _as_pages(real: list[RealPage], prefix: str = "") -> list[Page]:
    return [Page(prefix + p.url if prefix else p.url, p.payload, content_type=p.content_type) for p in real]


def _corpus(folder: Path, demo_pages: list[RealPage], n_files: int) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for i in range(n_files):
        path = folder / f"part-{i:02d}.warc.gz"
        write_warc(path, _as_pages(demo_pages[i::n_files]))
        paths.append(path)
    return paths


def _sources(paths: list[Path]) -> list[LocalFile]:
    return [LocalFile(str(p)) for p in paths]


def test_mining_stores_documents_with_provenance(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    paths = _corpus(tmp_path / "warc", demo_pages[::2], 3)
    db = tmp_path / "corpus.duckdb"
    report = mine(_sources(paths), str(db))
    assert report.ok and report.processed == 3 and report.documents > 30
    con = duckdb.connect(str(db), read_only=True)
    langs = dict(con.execute("SELECT lang, kept FROM lang_counts").fetchall())
    assert {"en", "de", "fr", "ru", "zh", "ja"} <= set(langs)
    assert con.execute("SELECT count(*) FROM documents WHERE dup_of IS NULL").fetchone()[0] == sum(langs.values())
    # every document points back to its WARC record
    rows = con.execute(
        "SELECT url, warc_file, warc_offset, warc_record_id FROM documents USING SAMPLE 10 ROWS"
    ).fetchall()
    for url, warc_file, offset, record_id in rows:
        with open(warc_file, "rb") as handle:
            handle.seek(offset)
            record = next(iter(ArchiveIterator(handle)))
            assert record.rec_headers.get_header("WARC-Target-URI") == url
            assert record.rec_headers.get_header("WARC-Record-ID") == record_id
    statuses = con.execute("SELECT status, n_records > 0 FROM sources").fetchall()
    assert statuses == [("done", True)] * 3
    reasons = dict(con.execute("SELECT reason, n FROM drop_reasons").fetchall())
    assert reasons["not_response"] >= 3 * 2  # warcinfo + requests
    dangling = con.execute(
        "SELECT count(*) FROM documents d WHERE dup_of IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM documents k WHERE k.doc_id = d.dup_of AND k.dup_of IS NULL)"
    ).fetchone()[0]
    assert dangling == 0
    assert con.execute("SELECT count(*) FROM runs WHERE finished_at IS NOT NULL").fetchone()[0] == 1
    con.close()


@pytest.mark.slow
def test_rerun_skips_and_new_inputs_dedup_against_stored(
    tmp_path: Path, demo_pages: list[RealPage], caplog: pytest.LogCaptureFixture
) -> None:
    paths = _corpus(tmp_path / "warc", demo_pages, 2)
    db = tmp_path / "corpus.duckdb"
    mine(_sources(paths[:1]), str(db))
    caplog.set_level(logging.INFO, logger="toxmine")
    before = db_snapshot(db)
    copies = tmp_path / "warc" / "copies.warc.gz"  # the first file's pages again, under new URLs
    write_warc(copies, _as_pages(demo_pages[0::2], prefix="http://mirror.example/?u="))
    report = mine(_sources([paths[0], paths[1], copies]), str(db))
    assert report.skipped == 1 and report.processed == 2
    assert f"skipping 1 input already in {db}" in caplog.text  # one input, not "1 inputs"
    after = db_snapshot(db)
    assert set(before["documents"]) <= set(after["documents"])  # stored rows untouched
    con = duckdb.connect(str(db), read_only=True)
    copy_rows = con.execute(
        "SELECT count(*), count(dup_of) FROM documents WHERE warc_file = ?", [str(copies)]
    ).fetchone()
    assert copy_rows[0] > 0 and copy_rows[0] == copy_rows[1]  # every copy is a duplicate
    first_file_ids = {
        r[0] for r in con.execute("SELECT doc_id FROM documents WHERE warc_file = ?", [str(paths[0])]).fetchall()
    }
    targets = {
        r[0] for r in con.execute("SELECT DISTINCT dup_of FROM documents WHERE warc_file = ?", [str(copies)]).fetchall()
    }
    assert targets <= first_file_ids
    con.close()


@pytest.mark.slow
def test_two_workers_give_the_same_database(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    paths = _corpus(tmp_path / "warc", demo_pages[::3], 4)
    one, two = tmp_path / "one.duckdb", tmp_path / "two.duckdb"
    mine(_sources(paths), str(one), workers=1)
    report = mine(_sources(paths), str(two), workers=2)
    assert report.processed == 4
    assert db_snapshot(one) == db_snapshot(two)


@pytest.mark.slow
def test_inputs_split_across_workers_give_the_same_outcomes(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    """Local files over --unit-mb are mined in several record ranges (units); their merge must
    equal one reading: same documents in the same order, statuses, errors and drop counts."""
    paths, _ = _bad_local_inputs(tmp_path / "warc", demo_pages)
    paths += _corpus(tmp_path / "more", demo_pages[1::4], 2)
    one, three = tmp_path / "one.duckdb", tmp_path / "three.duckdb"
    first = mine(_sources(paths), str(one), workers=1)
    again = mine(_sources(paths), str(three), workers=3, unit_mb=0.004)
    assert (len(first.failed), len(first.partial)) == (len(again.failed), len(again.partial)) == (2, 1)
    assert db_snapshot(one) == db_snapshot(three)
    assert not (tmp_path / ".three.duckdb.work").exists()  # the units' files are gone
    con = duckdb.connect(str(three), read_only=True)
    split = con.execute("SELECT count(*) FROM band_files WHERE source IS NOT NULL GROUP BY source").fetchall()
    con.close()
    assert max(n for (n,) in split) >= 3  # the inputs really were mined in several units


@pytest.mark.slow
def test_language_allowlist_and_threshold(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    paths = _corpus(tmp_path / "warc", demo_pages[::2], 1)
    db = tmp_path / "de_fr.duckdb"
    options = ProcessOptions(lid=LidOptions(langs=frozenset({"de", "fr"}), threshold=0.9))
    mine(_sources(paths), str(db), options)
    con = duckdb.connect(str(db), read_only=True)
    assert {r[0] for r in con.execute("SELECT DISTINCT lang FROM documents").fetchall()} == {"de", "fr"}
    assert con.execute("SELECT min(lang_score) FROM documents").fetchone()[0] >= 0.9
    reasons = dict(con.execute("SELECT reason, n FROM drop_reasons").fetchall())
    assert reasons["lang_not_allowed"] > 5
    con.close()
    with pytest.raises(ConfigError, match=r"--langs: tlh not among"):
        mine(
            _sources(paths),
            str(tmp_path / "x.duckdb"),
            ProcessOptions(lid=LidOptions(langs=frozenset({"tlh"}))),
        )


def test_sampled_lid_is_honoured_and_recorded(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    from toxmine.miner.langid import FastTextLid

    paths = _corpus(tmp_path / "warc", demo_pages[:24], 1)
    scores = {}
    for sample_chars in (0, 200):
        db = tmp_path / f"sample{sample_chars}.duckdb"
        options = LidOptions(sample_chars=sample_chars, sample_margin=0.0)
        mine(_sources(paths), str(db), ProcessOptions(lid=options))
        with duckdb.connect(str(db), read_only=True) as con:
            (config,) = con.execute("SELECT config_json FROM runs").fetchone() or ("{}",)
            rows = con.execute("SELECT doc_id, text, lang, lang_score FROM documents").fetchall()
        recorded = json.loads(config)["lid"]
        assert (recorded["sample_chars"], recorded["sample_run"], recorded["sample_margin"]) == (sample_chars, 1, 0.0)
        scores[sample_chars] = {doc_id: score for doc_id, _, _, score in rows}
        lid = FastTextLid()
        for _, text, lang, score in rows:  # what the two-stage prediction says, read from the samples
            guess = lid.predict([text], options)[0]
            assert (lang, score) == (guess.lang, round(guess.score, 5))
    differ = [d for d in scores[200] if d in scores[0] and scores[200][d] != scores[0][d]]
    assert differ  # long texts were labelled from their samples


def test_lid_sample_chars_flag_reaches_the_run_config(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    paths = _corpus(tmp_path / "warc", demo_pages[:6], 1)
    for value in ("0", "400"):
        db = tmp_path / f"flag{value}.duckdb"
        assert (
            _cli("mine", *map(str, paths), "--db", str(db), "--lid-sample-chars", value, cwd=tmp_path).returncode == 0
        )
        with duckdb.connect(str(db), read_only=True) as con:
            (config,) = con.execute("SELECT config_json FROM runs").fetchone() or ("{}",)
        assert json.loads(config)["lid"]["sample_chars"] == int(value)


def _cli(*args: str, cwd: Path) -> CliResult:
    return run_cli(*args, cwd=cwd, env={"CI": "1"})


def _bad_local_inputs(folder: Path, demo_pages: list[RealPage]) -> tuple[list[Path], list[int]]:
    """A good WARC, the same with one gzip member cut short, a non-WARC file and an empty file;
    and the record offsets of the good one."""
    good = _corpus(folder, demo_pages[:20], 1)[0]
    data = good.read_bytes()
    with open(good, "rb") as handle:
        iterator = ArchiveIterator(handle)
        offsets = [iterator.get_record_offset() for _ in iterator]
    truncated = folder / "truncated.warc.gz"
    truncated.write_bytes(data[: offsets[10] + 50] + data[offsets[11] :])
    not_warc = folder / "page.warc.gz"
    not_warc.write_bytes(b"<html>not a warc</html>\n" * 10)
    empty = folder / "empty.warc"
    empty.write_bytes(b"")
    return [good, truncated, not_warc, empty], offsets


@pytest.mark.slow
def test_bad_inputs_are_reported_and_good_ones_kept(
    tmp_path: Path, demo_pages: list[RealPage], http_server: FileServer, http_root: Path
) -> None:
    (good, truncated, not_warc, empty), offsets = _bad_local_inputs(tmp_path / "warc", demo_pages)
    db = tmp_path / "corpus.duckdb"
    missing_url = f"{http_server.url}/gone.warc.gz"
    args = [
        str(good),
        str(truncated),
        str(not_warc),
        str(empty),
        missing_url,
        "--db",
        str(db),
        "--http-retries",
        "0",
    ]
    result = _cli("mine", *args, cwd=tmp_path)
    assert result.returncode == 1, result.stderr
    assert (
        f"{truncated} at offset {offsets[10]}" in result.stderr or f"{truncated}: offset {offsets[10]}" in result.stderr
    )
    assert f"{not_warc}: offset 0: not a WARC file? (expected a WARC/1.x header line" in result.stderr
    assert f"{empty}: offset 0: empty file" in result.stderr
    assert f"{missing_url}: HTTP 404" in result.stderr
    status = {row[0]: row[2] for row in db_snapshot(db)["sources"]}
    assert status == {
        str(good): "done",
        str(truncated): "partial",
        str(not_warc): "failed",
        str(empty): "failed",
        missing_url: "failed",
    }
    snap = db_snapshot(db)
    con = duckdb.connect(str(db), read_only=True)
    per_file = dict(con.execute("SELECT warc_file, count(*) FROM documents GROUP BY 1").fetchall())
    con.close()
    assert per_file[str(good)] > 5 and 0 < per_file[str(truncated)] < per_file[str(good)] + 1
    # a rerun retries only the failed inputs and changes nothing stored
    again = _cli("mine", *args, cwd=tmp_path)
    assert again.returncode == 1
    assert "skipping 2 inputs" in again.stderr
    assert db_snapshot(db)["documents"] == snap["documents"]


def test_settings_are_fixed_per_database(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    paths = _corpus(tmp_path / "warc", demo_pages[:10], 1)
    db = tmp_path / "corpus.duckdb"
    assert _cli("mine", str(paths[0]), "--db", str(db), cwd=tmp_path).returncode == 0
    clash = _cli("mine", str(paths[0]), "--db", str(db), "--bands", "20", "--rows", "5", cwd=tmp_path)
    assert clash.returncode == 2 and "dedup.bands=14 (asked 20)" in clash.stderr


@pytest.mark.subprocess
@pytest.mark.slow
def test_sigkill_then_rerun_equals_uninterrupted_run(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    paths = [str(p) for p in _corpus(tmp_path / "warc", demo_pages[::2], 6)]
    reference = tmp_path / "reference.duckdb"
    assert _cli("mine", *paths, "--db", str(reference), cwd=tmp_path).returncode == 0
    expected = db_snapshot(reference)
    rng = random.Random(7)
    for scenario, kill_after_commits in enumerate([1, 4, None]):
        db = tmp_path / f"killed-{scenario}.duckdb"
        cmd = [sys.executable, "-m", "toxmine", "mine", *paths, "--db", str(db), "--workers", "2"]
        proc = subprocess.Popen(
            cmd,
            cwd=tmp_path,
            stderr=subprocess.PIPE,
            stdout=subprocess.DEVNULL,
            text=True,
            env={**os.environ, "CI": "1"},
        )
        assert proc.stderr is not None
        if kill_after_commits is None:
            time.sleep(rng.uniform(0.5, 2.0))
        else:
            commits = 0
            for line in proc.stderr:
                commits += " documents (" in line
                if commits >= kill_after_commits:
                    break
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        proc.stderr.close()
        resumed = _cli("mine", *paths, "--db", str(db), cwd=tmp_path)
        assert resumed.returncode == 0, resumed.stderr
        if kill_after_commits:
            assert f"skipping {kill_after_commits}" in resumed.stderr or "skipping" in resumed.stderr
        assert db_snapshot(db) == expected


def test_inputs_over_http_match_local_inputs(
    tmp_path: Path, demo_pages: list[RealPage], http_server: FileServer, http_root: Path
) -> None:
    paths = _corpus(http_root, demo_pages[:30], 2)
    listing = http_root / "inputs.txt"
    listing.write_text("".join(f"{http_server.url}/{p.name}\n" for p in paths))
    remote = resolve_inputs([f"{http_server.url}/inputs.txt"])
    assert [s.name for s in remote] == [f"{http_server.url}/{p.name}" for p in paths]
    mine(remote, str(tmp_path / "remote.duckdb"))
    mine(_sources(paths), str(tmp_path / "local.duckdb"))
    con_r = duckdb.connect(str(tmp_path / "remote.duckdb"), read_only=True)
    con_l = duckdb.connect(str(tmp_path / "local.duckdb"), read_only=True)
    query = "SELECT url, warc_offset, lang, text, dup_of IS NULL FROM documents ORDER BY url, warc_offset"
    assert con_r.execute(query).fetchall() == con_l.execute(query).fetchall()


class _Stopped(Exception):
    pass


class _StopsAtSecondMining(SerialExecutor):
    """Serial, but the second batch's mining stage stops the run (as a killed driver would)."""

    def __init__(self) -> None:
        super().__init__()
        self.mining_stages = 0

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R | TaskFailed]]:
        if fn is mine_unit:
            self.mining_stages += 1
            if self.mining_stages == 2:
                raise _Stopped
        return super().map_unordered(fn, items)


@pytest.mark.slow
def test_batches_of_inputs_commit_as_they_go_and_give_the_same_database(
    tmp_path: Path, demo_pages: list[RealPage]
) -> None:
    """`batch_inputs` runs every stage per batch of inputs: a run stopped in its second batch has
    stored the first, and the database ends as one run over all inputs leaves it (duplicates
    across batches included)."""
    pages = demo_pages[::3]
    inputs = warcs_of(tmp_path / "warc", [pages[0::3], pages[1::3] + pages[0:6], pages[2::3] + pages[1:7]])
    whole, batched = tmp_path / "whole.duckdb", tmp_path / "batched.duckdb"
    assert mine(inputs, str(whole)).duplicates >= 10
    with pytest.raises(_Stopped):
        mine(inputs, str(batched), executor=_StopsAtSecondMining(), batch_inputs=1)
    with duckdb.connect(str(batched), read_only=True) as con:
        assert con.execute("SELECT source FROM sources").fetchall() == [(inputs[0].name,)]
    units = Path(work_dir_for(str(batched))) / "units"
    assert not units.exists() or not list(units.iterdir())  # the stored batch's work files are gone
    report = mine(inputs, str(batched), batch_inputs=1)
    assert report.skipped == 1 and report.processed == 2 and report.duplicates >= 10
    assert db_snapshot(whole) == db_snapshot(batched)
    with pytest.raises(ConfigError, match="--batch-inputs"):
        mine(inputs, str(batched), batch_inputs=0)


_PANDAS_CHECK = """
import sys
from toxmine.cli import main
from toxmine.miner.demo import demo_warc_path
code = main(["mine", str(demo_warc_path()), "--db", sys.argv[1], "--no-score", "--workers", "1"])
print(code, "pandas" in sys.modules)
"""


@pytest.mark.subprocess
def test_mining_from_the_cli_does_not_import_pandas(tmp_path: Path) -> None:
    """pyarrow imports pandas (0.3-0.4 CPU-s a process) to ask whether a list is a pandas object;
    a mining run never pays for it (forked workers inherit the skipped probe)."""
    db = tmp_path / "m.duckdb"
    done = subprocess.run([sys.executable, "-c", _PANDAS_CHECK, str(db)], capture_output=True, text=True, timeout=300)
    assert done.stdout.splitlines()[-1].split() == ["0", "False"], done.stderr[-2000:]
    with duckdb.connect(str(db), read_only=True) as con:
        assert con.execute("SELECT count(*) FROM documents").fetchone()[0] > 150  # type: ignore[index]


@pytest.mark.subprocess
def test_pyarrow_still_converts_pandas_after_the_probe_is_skipped() -> None:
    """What pyarrow does with pandas objects in that process afterwards still works."""
    code = (
        "import sys, pyarrow as pa\n"
        "from toxmine.miner.task_files import skip_pandas_probe\n"
        "skip_pandas_probe(); pa.table({'a': [1, 2]}); assert 'pandas' not in sys.modules\n"
        "import pandas as pd\n"
        "frame = pd.DataFrame({'a': [1, 2]})\n"
        "assert pa.Table.from_pandas(frame).column('a').to_pylist() == [1, 2]\n"
        "assert pa.table(frame).to_pandas()['a'].tolist() == [1, 2]\n"
        "assert pa.array(pd.Series([1.5])).type == pa.float64()\n"
        "print('ok')\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "ok", done.stderr[-2000:]


def test_a_run_loads_the_lid_model_once(
    tmp_path: Path, demo_pages: list[RealPage], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model the run checks `--langs` with is the one its units use (the default model too)."""
    import fasttext

    import toxmine.miner.units as units

    loaded: list[str] = []
    load = fasttext.load_model
    monkeypatch.setattr(fasttext, "load_model", lambda path: loaded.append(path) or load(path))
    monkeypatch.setattr(units, "_worker_lid", {})
    paths = _corpus(tmp_path / "warc", demo_pages[::4], 2)
    assert mine(_sources(paths), str(tmp_path / "m.duckdb"), workers=1).processed == 2
    assert len(loaded) == 1


@pytest.mark.slow
def test_mining_without_the_c_module_warns_and_stores_the_same(
    tmp_path: Path, demo_pages: list[RealPage], monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """An install without a C compiler has no `_native`: mining says so once, runs the Python
    definitions, and stores exactly what the C module stores."""
    import toxmine.miner.dedup as dedup
    import toxmine.miner.langid as langid
    import toxmine.miner.native as native

    paths = _corpus(tmp_path / "warc", demo_pages[::3], 2)
    with_c = tmp_path / "c.duckdb"
    mine(_sources(paths), str(with_c), workers=1)
    assert "not built" not in caplog.text
    monkeypatch.setattr(native, "native_function", lambda name: None)
    monkeypatch.setattr(native, "_warned", False)
    monkeypatch.setattr(dedup, "_native_signature", None)
    monkeypatch.setattr(dedup, "_map_code_points", None)
    monkeypatch.setattr(langid, "_sample", langid._python_sample)
    monkeypatch.setattr(langid, "_window", langid.window_of)
    without = tmp_path / "python.duckdb"
    mine(_sources(paths), str(without), workers=1)
    assert caplog.text.count("C module (miner/_native.c) is not built") == 1
    query = "SELECT d.*, m.signature FROM documents d LEFT JOIN doc_minhash m USING (doc_id) ORDER BY doc_id"
    with duckdb.connect(str(with_c), read_only=True) as a, duckdb.connect(str(without), read_only=True) as b:
        rows = a.execute(query).fetchall()
        assert len(rows) > 20 and rows == b.execute(query).fetchall()
