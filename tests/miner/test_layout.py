"""The Parquet layout answers every query as the tables layout does: the same demo corpus mined
both ways (and scored), then every table and view compared with EXCEPT ALL both ways, through a
plain duckdb connection as an analyst opens the file."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from corpora import copy_database, warcs_of
from plugin_scorers import HashScorer
from warc_builder import RealPage

from toxmine.miner.errors import ConfigError
from toxmine.miner.mine import mine
from toxmine.miner.score_units import ScoredUnit, ScoreUnitTask, UnitScorer, score_documents, score_unit
from toxmine.miner.sources import LocalFile
from toxmine.miner.store import Store

pytestmark = pytest.mark.slow  # every test here waits on a module fixture that takes over 3 s

# differ between any two runs: ids, clocks, the versions that built them
_RUN_COLUMNS = {"run_id", "started_at", "finished_at", "applied_at", "scored_at", "created_at", "config_json"}


def _inputs(folder: Path, demo_pages: list[RealPage]) -> list[LocalFile]:
    pages = demo_pages[::2]
    return warcs_of(folder, [pages[0::2], pages[1::2] + pages[0:8]])


def _relations(con: duckdb.DuckDBPyConnection, catalog: str) -> dict[str, list[str]]:
    rows = con.execute(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_catalog = ? "
        "ORDER BY table_name, ordinal_position",
        [catalog],
    ).fetchall()
    found: dict[str, list[str]] = {}
    for table, column in rows:
        found.setdefault(table, []).append(column)
    return found


@pytest.fixture(scope="module")
def both(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> tuple[Path, Path]:
    folder = tmp_path_factory.mktemp("layouts")
    inputs = _inputs(folder / "warc", demo_pages)
    dbs = (folder / "tables.duckdb", folder / "parquet.duckdb")
    for db, layout in zip(dbs, ("tables", "parquet"), strict=True):
        first = mine(inputs[:1], str(db), layout=layout, unit_mb=0.05)  # two runs: stored documents come first
        second = mine(inputs, str(db), unit_mb=0.05)
        assert first.ok and second.ok and second.duplicates >= 5
        with Store(str(db)) as store:
            if layout == "tables":
                score_documents(store, HashScorer())
            else:  # small tasks, each with a cache of its own, as on actors: the same rows
                score_documents(store, HashScorer(), task_docs=3, run=_separate_caches(HashScorer()))
    return dbs


def _separate_caches(scorer: HashScorer) -> UnitScorer:
    def run(tasks: list[ScoreUnitTask]) -> Iterator[ScoredUnit]:
        return (score_unit(scorer, task) for task in tasks)

    return run


def test_every_relation_answers_the_same_in_both_layouts(both: tuple[Path, Path]) -> None:
    tables, parquet = both
    con = duckdb.connect(str(parquet), read_only=True)  # an analyst's plain duckdb
    con.execute(f"ATTACH '{tables}' AS t (READ_ONLY)")
    kinds = dict(con.execute("SELECT table_name, table_type FROM information_schema.tables WHERE table_catalog = "
                             "'parquet'").fetchall())  # fmt: skip
    bulk = ("documents", "doc_minhash", "prompts", "scores", "scored_docs")
    assert {kinds[name] for name in bulk} == {"VIEW"}
    relations = _relations(con, "parquet")
    assert set(relations) >= {"documents", "doc_minhash", "kept_documents", "sources", "drops", "prompts"}
    other = _relations(con, "t")
    compared = 0
    for name, columns in relations.items():
        if name in ("runs", "schema_migrations", "settings", "scored_files") or name.endswith("_rows"):
            continue  # run records, and the Parquet layout's own bookkeeping
        assert other[name] == columns, name  # same columns in the same order
        keep = ", ".join(f'"{c}"' for c in columns if c not in _RUN_COLUMNS)
        for left, right in ((f"main.{name}", f"t.{name}"), (f"t.{name}", f"main.{name}")):
            query = f"SELECT count(*) FROM (SELECT {keep} FROM {left} EXCEPT ALL SELECT {keep} FROM {right})"
            assert con.execute(query).fetchone() == (0,), f"{left} has rows {right} lacks"
        compared += 1
    sizes = con.execute("SELECT (SELECT count(*) FROM documents), (SELECT count(*) FROM doc_minhash), "
                        "(SELECT count(*) FROM prompts)").fetchone()  # fmt: skip
    con.close()
    assert compared >= 8 and sizes is not None and min(sizes) > 50


def test_parquet_documents_live_in_files_and_the_layout_is_kept(both: tuple[Path, Path]) -> None:
    tables, parquet = both
    files = sorted((Path(str(parquet) + ".data") / "documents").glob("*.parquet"))
    assert len(files) >= 3  # the schema file and one per unit
    for table in ("prompts", "scores", "scored_docs"):  # one per scoring task, named as recorded
        names = {path.name for path in (Path(str(parquet) + ".data") / table).glob("*.parquet")}
        with duckdb.connect(str(parquet), read_only=True) as con:
            recorded = {row[0] for row in con.execute("SELECT path FROM scored_files").fetchall()}
        assert len(recorded) > len(files) and names == recorded | {"_schema.parquet"}
    assert tables.stat().st_size > parquet.stat().st_size  # the texts are not in the database file
    with Store(str(parquet)) as store, pytest.raises(ConfigError, match="--layout parquet"):
        from toxmine.miner.layout import ensure_layout

        ensure_layout(store, "tables")


def test_an_unrecorded_unit_file_is_not_visible(both: tuple[Path, Path], tmp_path: Path) -> None:
    """A file an interrupted commit moved in before recording its unit stays out of the views."""
    _, parquet = both
    folder = Path(str(parquet) + ".data") / "documents"
    stray = folder / "not-committed.parquet"
    con = duckdb.connect(str(parquet), read_only=True)
    before = con.execute("SELECT count(*) FROM documents").fetchone()
    con.execute(f"COPY (SELECT * FROM documents LIMIT 5) TO '{stray}' (FORMAT parquet)")
    after = con.execute("SELECT count(*) FROM documents").fetchone()
    con.close()
    stray.unlink()
    assert before == after


def test_scores_scored_twice_by_separate_tasks_show_once(both: tuple[Path, Path], tmp_path: Path) -> None:
    """Two actors may score the same text (each has its own cache): `scores` is a cache keyed by
    text, scorer, version and attribute, so its view keeps the first file's row for a key."""
    _, parquet = both
    data = Path(str(parquet) + ".data")
    con = duckdb.connect(str(parquet))
    before = con.execute("SELECT count(*), round(sum(value), 6) FROM scores").fetchone()
    first = con.execute("SELECT path FROM scored_files ORDER BY path LIMIT 1").fetchone()
    assert first is not None
    again = "zz-scored-again.parquet"
    con.execute(f"COPY (SELECT * REPLACE (value + 1 AS value) FROM read_parquet('{data / 'scores' / first[0]}')) "
                f"TO '{data / 'scores' / again}' (FORMAT parquet)")  # fmt: skip
    for table in ("prompts", "scored_docs"):
        con.execute(f"COPY (SELECT * FROM {table} WHERE false) TO '{data / table / again}' (FORMAT parquet)")
    con.execute("INSERT INTO scored_files VALUES (?, 'u', 'hash', 'v', 0, 0, now())", [again])
    try:
        after = con.execute("SELECT count(*), round(sum(value), 6) FROM scores").fetchone()
        dups = con.execute("SELECT count(*) FROM read_parquet(?)", [str(data / "scores" / again)]).fetchone()
    finally:
        con.execute("DELETE FROM scored_files WHERE path = ?", [again])
        con.close()
        for table in ("prompts", "scores", "scored_docs"):
            (data / table / again).unlink()
    assert dups is not None and dups[0] > 0  # the planted file repeats keys, with other values
    assert after == before


class _DriverDied(Exception):
    pass


def test_scored_files_moved_but_not_recorded_stay_out_and_are_recorded_by_the_rerun(
    both: tuple[Path, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A driver that dies between moving a scored task's files into `.data` and recording them
    (simulated: the clock it reads for the record raises; a SIGKILL there cannot be timed) leaves
    files the views do not show; the rerun records them once, and the prompts equal a full run's."""
    tables, parquet = both
    db = tmp_path / "again.duckdb"
    copy_database(parquet, db)
    with duckdb.connect(str(db)) as con:  # forget the scoring: back to a mined, unscored database
        con.execute("DELETE FROM scored_files")
    import toxmine.miner.scoring_tables as scoring_tables

    def dies() -> None:
        raise _DriverDied

    with Store(str(db)) as store:
        monkeypatch.setattr(scoring_tables, "utc_now", dies)
        with pytest.raises(_DriverDied):
            score_documents(store, HashScorer(), task_docs=3)
        monkeypatch.undo()
        moved = [p for p in (Path(str(db) + ".data") / "prompts").glob("*.parquet") if p.name != "_schema.parquet"]
        left = store.con.execute("SELECT (SELECT count(*) FROM prompts), (SELECT count(*) FROM scored_files)")
        assert len(moved) > 1 and left.fetchone() == (0, 0)  # the old files and the moved one: none shown
        report = score_documents(store, HashScorer(), task_docs=3)  # the first task's marker: its files moved
        files = [p for p in (Path(str(db) + ".data") / "prompts").glob("*.parquet") if p.name != "_schema.parquet"]
        recorded = store.con.execute("SELECT count(*), count(DISTINCT path) FROM scored_files").fetchone()
        assert report.documents > 50 and recorded == (len(files), len(files))
    query = "SELECT prompt_id, toxicity, bucket FROM prompts ORDER BY prompt_id"
    rows = [duckdb.connect(str(path), read_only=True).execute(query).fetchall() for path in (tables, db)]
    assert len(rows[0]) > 50 and rows[0] == rows[1]
    everything = "SELECT * FROM scores ORDER BY ALL"
    scores = [duckdb.connect(str(path), read_only=True).execute(everything).fetchall() for path in (tables, db)]
    assert scores[0] == scores[1]
