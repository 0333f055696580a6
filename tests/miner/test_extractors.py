"""`--extractor`: every registered extractor and a user's plug-in mine the shipped pages end to end
in the sandbox, each document names what extracted it, bad plug-ins are clear errors before any
work, and a database made before the extractor was recorded migrates in both layouts."""

from __future__ import annotations

import shutil
from pathlib import Path

import duckdb
import pyarrow.parquet as pq
import pytest
from cli_runner import run_cli
from corpora import warcs_of
from warc_builder import Page, RealPage, html_page, write_warc

from toxmine.miner.errors import ConfigError
from toxmine.miner.extract import ExtractError, ExtractOptions, ExtractTimeout, extract_text
from toxmine.miner.extract_sandbox import ExtractSandbox
from toxmine.miner.extractors.catalog import EXTRACTORS, extractor_identity
from toxmine.miner.layout import data_folder_for
from toxmine.miner.mine import mine
from toxmine.miner.process import ProcessOptions
from toxmine.miner.sources import LocalFile
from toxmine.miner.store import Store

PLUGIN = "plugin_extractors:Paragraphs"
ARTICLE = [
    "The river flooded the lower town twice this spring, and the council has finally agreed to pay for a new levee.",
    "Engineers expect the work to take three years; residents will be able to comment on the plans until June.",
    "Farmers upstream say the real problem is the drained wetlands, which used to hold back the melt water.",
]


def _options(extractor: str, **extract: float) -> ProcessOptions:
    return ProcessOptions(extract=ExtractOptions(extractor=extractor, **extract))  # type: ignore[arg-type]


def _rows(db: Path, sql: str) -> list[tuple[object, ...]]:
    with duckdb.connect(str(db), read_only=True) as con:
        return con.execute(sql).fetchall()


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_each_extractor_mines_the_shipped_pages_and_names_itself(
    tmp_path: Path, demo_pages: list[RealPage], name: str
) -> None:
    inputs = warcs_of(tmp_path / "warc", [demo_pages[::4]])
    db = tmp_path / "db.duckdb"
    report = mine(inputs, str(db), _options(name), workers=1)
    assert report.ok and report.documents > 0
    identity = extractor_identity(name)
    stored = _rows(db, "SELECT DISTINCT extractor, extractor_version FROM documents")
    assert stored == [(name, identity.version_label)]
    assert all(version != "not installed" for version in identity.versions.values())
    config = _rows(db, "SELECT json_extract(config_json, '$.extract.identity') FROM runs")
    assert f'"name":"{name}"' in str(config[0][0]).replace(" ", "")
    texts = [str(row[0]) for row in _rows(db, "SELECT text FROM documents")]
    assert all(text.strip() and "<" not in text[:200] for text in texts)  # text, not markup


@pytest.mark.parametrize("name", EXTRACTORS.names())
def test_each_extractor_keeps_the_article_and_survives_bad_pages(name: str) -> None:
    page = html_page("Levee", ARTICLE).decode()
    options = ExtractOptions(extractor=name)
    with ExtractSandbox(extractor=name) as sandbox:
        text = sandbox.extract(page, "https://news.example/levee", options)
        assert text is not None and all(sentence in text for sentence in ARTICLE)
        assert text == extract_text(page, "https://news.example/levee", options)  # the same in this process
        deep = "<div>" * 30_000 + "deep text " * 50 + "</div>" * 30_000  # resiliparse: quadratic, ~12 CPU-s
        bounded = ExtractOptions(extractor=name, timeout_s=2.0)
        for bad in ("", "\x00\x01 not html at all \ufffd", "<html><body></body></html>", deep, "<p>" * 5000):
            try:
                result = sandbox.extract(bad, None, bounded)  # None, a text, or stopped at the limit
            except ExtractTimeout:
                continue
            assert result is None or isinstance(result, str)
        assert sandbox.extract(page, None, options)  # and the next page still works


def test_a_plugin_extracts_in_the_sandbox_and_is_recorded(tmp_path: Path, demo_pages: list[RealPage]) -> None:
    inputs = warcs_of(tmp_path / "warc", [demo_pages[::5]])
    db = tmp_path / "db.duckdb"
    assert mine(inputs, str(db), _options(PLUGIN), workers=2).ok
    # the plug-in's own name labels its version (it was the module:Class, its `name` ignored)
    assert _rows(db, "SELECT DISTINCT extractor, extractor_version FROM documents") == [(PLUGIN, "paragraphs 7")]
    identity = "json_extract_string(config_json, '$.extract.identity.{}')"
    params = _rows(db, f"SELECT {identity.format('params.tags[0]')}, {identity.format('label')} FROM runs")
    assert params == [("p", "paragraphs")]


def test_a_plugin_that_raises_or_spins_costs_one_page_each(tmp_path: Path) -> None:
    pages = [
        Page("https://a.example/1", html_page("One", ARTICLE)),
        Page("https://a.example/boom", html_page("Two", ["EXPLODE " + ARTICLE[0]])),
        Page("https://a.example/spin", html_page("Three", ["SPIN " + ARTICLE[1]])),
        Page("https://a.example/4", html_page("Four", [ARTICLE[2] + " Four."])),
    ]
    path = tmp_path / "pages.warc.gz"
    write_warc(path, pages)
    db = tmp_path / "db.duckdb"
    raising = mine([LocalFile(str(path))], str(db), _options("plugin_extractors:ExplodesOnMarker"))
    assert dict(raising.drops).get("extract_error") == 1 and raising.documents == 3
    spinning = mine([LocalFile(str(path))], str(tmp_path / "spin.duckdb"), _options("plugin_extractors:SpinsOnMarker",
                    timeout_s=0.5))  # fmt: skip
    assert dict(spinning.drops).get("extract_timeout") == 1 and spinning.documents == 3


def test_a_plugin_that_picks_on_the_warm_up_page_or_needs_the_url_still_starts(tmp_path: Path) -> None:
    """The sandbox's warm-up page gave url=None, and any failure on it meant "cannot start": every
    page of the input failed. A plug-in raising on a page costs that page only."""
    path = tmp_path / "pages.warc.gz"
    write_warc(path, [Page(f"https://a.example/{i}", html_page(f"Page {i}", ARTICLE)) for i in range(3)])
    for plugin in ("plugin_extractors:NeedsUrl", "plugin_extractors:PicksOnSmallPages"):
        done = mine([LocalFile(str(path))], str(tmp_path / f"{plugin[-8:]}.duckdb"), _options(plugin))
        assert done.ok and done.documents == 3, plugin


def test_a_plugin_returning_no_text_drops_the_page_as_an_error(tmp_path: Path) -> None:
    """It crashed the sandbox on every page (extract_crash, a new process and a warning per page)."""
    path = tmp_path / "pages.warc.gz"
    write_warc(path, [Page(f"https://a.example/{i}", html_page(f"Page {i}", ARTICLE)) for i in range(3)])
    done = mine([LocalFile(str(path))], str(tmp_path / "db.duckdb"), _options("plugin_extractors:ReturnsNumber"))
    assert dict(done.drops).get("extract_error") == 3 and "extract_crash" not in dict(done.drops)
    with pytest.raises(ExtractError, match="returned int, not str"):
        extract_text("<html><body><p>x</p></body></html>", None, ExtractOptions("plugin_extractors:ReturnsNumber"))


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("nosuch", "unknown extractor 'nosuch'; known: fast, resiliparse, trafilatura"),
        ("no_such_module:Thing", "cannot load no_such_module:Thing"),
        ("plugin_extractors:NoExtractMethod", "has no extract(html, url) method"),
    ],
)
def test_a_bad_extractor_name_fails_before_any_work(tmp_path: Path, name: str, message: str) -> None:
    path = tmp_path / "pages.warc.gz"
    write_warc(path, [Page("https://a.example/1", html_page("One", ARTICLE))])
    with pytest.raises(ConfigError, match=message.replace("(", r"\(").replace(")", r"\)")):
        mine([LocalFile(str(path))], str(tmp_path / "db.duckdb"), _options(name))
    assert not (tmp_path / "db.duckdb").exists() or not _rows(tmp_path / "db.duckdb", "SELECT * FROM sources")


def test_cli_names_a_plugin_that_cannot_start(tmp_path: Path) -> None:
    path = tmp_path / "pages.warc.gz"
    write_warc(path, [Page("https://a.example/1", html_page("One", ARTICLE))])
    db = tmp_path / "db.duckdb"
    done = run_cli("mine", str(path), "--db", str(db), "--no-score", "--extractor", "plugin_extractors:FailsToStart")
    assert done.returncode != 0
    assert "plugin_extractors:FailsToStart" in done.stderr and "model file /nonexistent/boilerplate.bin" in done.stderr
    assert "Traceback" not in done.stderr
    assert not _rows(db, "SELECT * FROM documents")


def _forget_migration(db: Path) -> None:
    """Make `db` look as the previous toxmine left it: no migration 015, and (tables layout) no
    extractor columns; the Parquet layout's files are rewritten without them."""
    with duckdb.connect(str(db)) as con:
        con.execute("DELETE FROM schema_migrations WHERE version = 15")
        kind = con.execute("SELECT table_type FROM information_schema.tables WHERE table_name = 'documents'").fetchone()
        if kind and kind[0] == "BASE TABLE":
            con.execute("ALTER TABLE documents DROP COLUMN extractor")
            con.execute("ALTER TABLE documents DROP COLUMN extractor_version")
    folder = Path(data_folder_for(str(db))) / "documents"
    for file in folder.glob("*.parquet") if folder.exists() else []:
        table = pq.read_table(file)
        pq.write_table(table.drop_columns([c for c in ("extractor", "extractor_version") if c in table.column_names]),
                       file)  # fmt: skip


@pytest.mark.parametrize("layout", ["tables", "parquet"])
def test_a_database_from_before_the_extractor_column_migrates(
    tmp_path: Path, demo_pages: list[RealPage], layout: str
) -> None:
    inputs = warcs_of(tmp_path / "warc", [demo_pages[::6], demo_pages[3::6]])
    db = tmp_path / "db.duckdb"
    assert mine(inputs[:1], str(db), layout=layout).ok
    _forget_migration(db)
    before = _rows(db, "SELECT count(*) FROM documents")[0][0]
    assert mine(inputs, str(db), _options("resiliparse")).ok
    with Store(str(db)) as store:
        assert store.schema_version() >= 15
    counts = dict(_rows(db, "SELECT coalesce(extractor, 'unrecorded'), count(*) FROM documents GROUP BY 1"))
    assert counts["unrecorded"] == before and counts["resiliparse"] > 0
    shutil.rmtree(tmp_path / "warc")
