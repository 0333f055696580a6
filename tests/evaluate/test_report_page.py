"""`toxmine report` as a page to share: escaped user text, a run table that fits, n on every figure,
single-prompt groups flagged, no empty charts, source-aware wording, the generations per cell, and the
page checked in a real headless browser at 1280 px."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from collections.abc import Sequence
from html.parser import HTMLParser
from pathlib import Path

import pytest
from corpora import mined_corpus
from plugin_judges import HashJudge
from plugin_scorers import HashScorer
from warc_builder import RealPage

from toxmine.evaluate.backends import Completion
from toxmine.evaluate.imports import import_prompts
from toxmine.evaluate.judging import judge_run
from toxmine.evaluate.params import GenerationParams
from toxmine.evaluate.report import collect_report, render_html, render_markdown, write_report
from toxmine.evaluate.run import EvalSelection, run_eval
from toxmine.miner.scoring import TextScore
from toxmine.miner.split import SplitOptions
from toxmine.miner.store import Store

SAMPLES = Path(__file__).resolve().parents[2] / "evaluate" / "data"
SCRIPT = "<script>alert('pwned')</script> you idiot"
MODEL = "scripted <b>model</b> & co"
PARAMS = GenerationParams(k=3, max_new_tokens=4, seed=7)


class ScriptedBackend:
    """A model whose answers the test controls (the rest of the run is real)."""

    name = "scripted"

    def __init__(self, model: str, samples: Sequence[str]) -> None:
        self.model = model
        self.samples = list(samples)

    def generate(self, prompts: Sequence[str], params: GenerationParams) -> list[list[Completion]]:
        return [[Completion(self.samples[i % len(self.samples)]) for i in range(params.k)] for _ in prompts]


class ZeroScorer:
    """Every continuation scores 0."""

    name = "zero"
    version = "1"

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]:
        return [TextScore(0.0) for _ in texts]


@pytest.fixture(scope="module")
def shared_db(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> tuple[Path, str, str]:
    """Mined prompts and the ALERT sample: one judged run with hostile text, one imported-only run scoring 0."""
    folder = tmp_path_factory.mktemp("page")
    db = mined_corpus(folder, demo_pages, every=3, score=True)
    with Store(str(db)) as store:
        import_prompts(store, "alert", SAMPLES / "alert_sample.jsonl", HashScorer(), lang="sw")  # sw: only ALERT's
        both = EvalSelection(SplitOptions(per_bucket=1, langs=["de", "sw"], scorer="hash", sources=["mined", "alert"]))
        backend = ScriptedBackend(MODEL, [SCRIPT, "a `tick` | pipe\nnew line", "fine thanks"])
        hostile = run_eval(store, backend, PARAMS, both, HashScorer()).eval_run_id
        judge_run(store, hostile, HashJudge())
        alert = EvalSelection(SplitOptions(per_bucket=2, langs=["sw"], scorer="hash", sources=["alert"]), limit=5)
        zero = run_eval(store, ScriptedBackend("quiet", ["fine"]), PARAMS, alert, ZeroScorer()).eval_run_id
    return db, hostile, zero


class _Text(HTMLParser):
    """The page's visible text outside the cells that show user text (class "user") and the plots."""

    def __init__(self) -> None:
        super().__init__()
        self.skip: list[str] = []
        self.text: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if self.skip or tag in {"svg", "style"} or "user" in (dict(attrs).get("class") or "").split():
            self.skip.append(tag)

    def handle_endtag(self, tag: str) -> None:
        if self.skip and self.skip[-1] == tag:
            self.skip.pop()

    def handle_data(self, data: str) -> None:
        if not self.skip:
            self.text.append(data)


def test_user_text_is_escaped(shared_db: tuple[Path, str, str]) -> None:
    db, hostile, _ = shared_db
    with Store(str(db)) as store:
        data = collect_report(store, [hostile])
    page, markdown = render_html(data), render_markdown(data)
    assert "<script>" not in page and "&lt;script&gt;alert(&#39;pwned&#39;)&lt;/script&gt; you idiot" in page
    assert "<b>model</b>" not in page and "scripted &lt;b&gt;model&lt;/b&gt; &amp; co" in page
    assert "<script>" not in markdown and "&lt;script&gt;" in markdown  # GitHub renders inline HTML
    assert "a `tick` \\| pipe new line" in markdown  # a continuation stays inside its table cell


def test_no_markdown_backticks_in_the_page(shared_db: tuple[Path, str, str]) -> None:
    db, hostile, _ = shared_db
    with Store(str(db)) as store:
        page = render_html(collect_report(store, [hostile]))
    parser = _Text()
    parser.feed(page)
    assert "`" not in "".join(parser.text)
    assert "<code>eval_runs.params_json</code>" in page and "<code>languages</code>" in page


def test_run_table_shows_every_setting(shared_db: tuple[Path, str, str]) -> None:
    db, hostile, zero = shared_db
    with Store(str(db)) as store:
        markdown = render_markdown(collect_report(store, [hostile, zero]))
    table = markdown.split("## Runs")[1].split("## ")[0]
    cells = [line.strip("| ").split(" | ") for line in table.splitlines() if line.startswith("| ")]
    rows = {row[0]: row[1:] for row in cells}
    assert rows["seed (generation)"][:2] == ["7", "7"]
    assert rows["protocol (preset)"][:2] == ["rtp", "rtp"]
    assert rows["limit"][:2] == ["none (the whole split)", "5"]
    assert rows["k (continuations per prompt)"][:2] == ["3", "3"] and rows["max new tokens"][:2] == ["4", "4"]
    assert rows["chat template"][0].startswith("auto")
    assert rows["jailbreak template"][0] == "none (plain prompts)"
    assert rows["scorer and version"][:2] == ["hash 1", "zero 1"]
    assert re.fullmatch(r"hash-judge 1 \(\d+ verdicts\)", rows["judges"][0]) and rows["judges"][1] == "none"
    assert rows["toxmine version"][0] not in {"", "–"}
    assert re.fullmatch(r"\d{4}-\d\d-\d\d \d\d:\d\d \(finished\)", rows["date (UTC start)"][0])
    assert rows["prompt sources"][:2] == ["alert, mined", "alert"]


def test_every_figure_has_its_n_and_single_prompt_groups_are_flagged(shared_db: tuple[Path, str, str]) -> None:
    db, hostile, _ = shared_db
    with Store(str(db)) as store:
        data = collect_report(store, [hostile])
    page, markdown = render_html(data), render_markdown(data)
    cells = re.findall(r"<td[^>]*>(.*?)</td>", page.split("<h2>Overall</h2>")[1].split("<h2>Generations</h2>")[0])
    figures = [c for c in cells if re.match(r"\d\.\d{3}", c)]
    assert figures and all("n=" in c for c in figures)
    assert '<td class="num uncertain" title="single prompt, no interval">' in page
    assert "(n=1, single prompt, no interval)" in markdown
    single = [
        line for line in markdown.splitlines() if line.startswith("| ") and "(n=1, single prompt, no interval)" in line
    ]
    assert single and not any(re.search(r"\[\d\.\d{3}, \d\.\d{3}\] n=1\b", line) for line in single)


def test_all_zero_charts_are_left_out_and_say_why(shared_db: tuple[Path, str, str], tmp_path: Path) -> None:
    db, _, zero = shared_db
    with Store(str(db)) as store:
        files = write_report(store, tmp_path, [zero])
    page, markdown = files.html.read_text(encoding="utf-8"), files.markdown.read_text(encoding="utf-8")
    assert "<svg" not in page and files.figures == []
    assert (
        "No chart: every expected max. toxicity per language is 0 or missing (the table above has each figure)." in page
    )
    assert (
        "No chart: every expected max. toxicity per language is 0 or missing (the table above has each figure)."
        in markdown
    )


def test_imported_prompts_are_not_called_mined_spans(shared_db: tuple[Path, str, str]) -> None:
    db, hostile, zero = shared_db
    with Store(str(db)) as store:
        imported = render_markdown(collect_report(store, [zero]))
        mixed = render_markdown(collect_report(store, [hostile]))
    bucket_section = imported.split("## By prompt toxicity bucket")[1].split("\n|")[0]
    assert "web-text span" not in bucket_section and "Imported prompts (alert) are whole prompts" in bucket_section
    assert "not mined spans" in bucket_section
    assert "Mined prompts are bucketed by the toxicity of the web-text span" in mixed
    assert "Imported prompts (alert)" in mixed


def test_generations_per_cell_most_toxic_first(shared_db: tuple[Path, str, str]) -> None:
    db, hostile, zero = shared_db
    with Store(str(db)) as store:
        data = collect_report(store, [hostile, zero], samples_per_cell=2)
    page = render_html(data)
    browser = page.split("<h2>Generations</h2>")[1]
    assert "<h3>By language and prompt toxicity bucket</h3>" in browser and "<h3>By category</h3>" in browser
    assert "<h3>By source</h3>" in browser
    assert browser.count('<details class="cell">') == len({(c.grouping, c.group) for c in data.generations})
    for cell in data.generations:
        assert len(cell.shown) == min(2, cell.total) and cell.more == cell.total - len(cell.shown)
        if cell.grouping == "language x bucket":
            scores = [g.toxicity for g in cell.shown if g.toxicity is not None]
            assert scores == sorted(scores, reverse=True)
        else:  # judged: unsafe verdicts first
            flags = [g.unsafe for g in cell.shown]
            assert flags == sorted(flags, reverse=True)
    assert any(c.more for c in data.generations)
    more = next(c.more for c in data.generations if c.more)
    assert f"{more} more continuation" in browser and "2 per cell" in browser
    assert re.search(r"<td>\d\.\d{3}</td><td>(unsafe|safe), [a-z ]+</td>", browser)  # score and verdict shown
    with Store(str(db)) as store:
        assert collect_report(store, [hostile], samples_per_cell=0).generations == []


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.slow
def test_page_fits_1280_px_in_a_real_browser(shared_db: tuple[Path, str, str], tmp_path: Path) -> None:
    browser = _chromium()
    if browser is None:
        if os.environ.get("CI", "").lower() == "true":
            pytest.fail("chromium is not installed; CI needs it for the report's browser check (make setup)")
        pytest.skip("chromium not installed (apt-get install chromium): the report's browser check needs it")
    db, hostile, zero = shared_db
    with Store(str(db)) as store:
        page = write_report(store, tmp_path / "report", [hostile, zero]).html.read_text(encoding="utf-8")
    probe = (
        "<script>addEventListener('load',()=>{document.querySelectorAll('details').forEach(d=>d.open=true);"
        "const e=document.documentElement;document.body.setAttribute('data-scroll-width',e.scrollWidth);"
        "document.body.setAttribute('data-scroll-height',e.scrollHeight);"
        "document.body.setAttribute('data-fits',String(e.scrollWidth<=1280));});</script></body>"
    )
    checked = tmp_path / "checked.html"  # the page with every <details> open, measuring itself
    checked.write_text(page.replace("</body>", probe), encoding="utf-8")
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--virtual-time-budget=3000",
             "--no-first-run", f"--user-data-dir={tmp_path / 'profile'}"]  # fmt: skip
    dom = subprocess.run([browser, *flags, "--window-size=1280,1000", "--dump-dom", checked.as_uri()],
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    width, height = (
        re.search(r'data-scroll-width="(\d+)"', dom.stdout),
        re.search(r'data-scroll-height="(\d+)"', dom.stdout),
    )
    assert width is not None and height is not None, f"the browser ran no script: {dom.stderr[-2000:]}"
    assert 'data-fits="true"' in dom.stdout, f"the page is {width[1]} px wide in a 1280 px window"
    shot = Path(os.environ.get("TOXMINE_REPORT_SHOT", tmp_path / "report_shot.png"))  # the whole page, all open
    subprocess.run([browser, *flags, f"--window-size=1280,{min(int(height[1]), 16000)}", f"--screenshot={shot}",
                    checked.as_uri()], capture_output=True, timeout=120, check=True)  # fmt: skip
    assert shot.stat().st_size > 10_000 and shot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_report_command_takes_samples_per_cell(
    shared_db: tuple[Path, str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from toxmine.cli import main

    db, _, zero = shared_db
    out = tmp_path / "r"
    assert main(["report", "--db", str(db), "--run", zero, "--out", str(out), "--samples-per-cell", "1"]) == 0
    assert re.search(r"\d+ more continuations in this cell not shown \(1 per cell", (out / "report.html").read_text())
    assert main(["report", "--db", str(db), "--out", str(out), "--samples-per-cell", "-1"]) == 2
    err = capsys.readouterr().err
    assert "--samples-per-cell must be 0 or more, got -1" in err and "Traceback" not in err
