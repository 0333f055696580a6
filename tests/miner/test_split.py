"""Stratified, reproducible splits with quotas, shortfalls and a dataset card."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from corpora import mined_corpus
from warc_builder import RealPage

from toxmine.miner.errors import ConfigError
from toxmine.miner.split import EXPORT_COLUMNS, SplitOptions, export_split
from toxmine.miner.store import Store


@pytest.fixture(scope="module")
def scored_db(tmp_path_factory: pytest.TempPathFactory, demo_pages: list[RealPage]) -> Path:
    return mined_corpus(tmp_path_factory.mktemp("split"), demo_pages, every=2, score=True)


def _jsonl(path: Path) -> list[dict[str, object]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_quotas_reproducibility_and_formats(scored_db: Path, tmp_path: Path) -> None:
    with Store(str(scored_db)) as store:
        first = export_split(store, SplitOptions(per_bucket=5, seed=3), tmp_path / "a")
        export_split(store, SplitOptions(per_bucket=5, seed=3), tmp_path / "b")
        other = export_split(store, SplitOptions(per_bucket=5, seed=4), tmp_path / "c")
    rows = _jsonl(tmp_path / "a" / "prompts.jsonl")
    assert rows == _jsonl(tmp_path / "b" / "prompts.jsonl")  # same seed, same set, same order
    assert {r["prompt_id"] for r in rows} != {r["prompt_id"] for r in _jsonl(tmp_path / "c" / "prompts.jsonl")}
    assert first.total == len(rows) == other.total
    cells: dict[tuple[object, object], int] = {}
    for row in rows:
        cells[(row["lang"], row["bucket"])] = cells.get((row["lang"], row["bucket"]), 0) + 1
        lo, hi = [(0, 0.25), (0.25, 0.5), (0.5, 0.75), (0.75, 1.0001)][int(row["bucket"])]  # type: ignore[call-overload]
        assert lo <= float(row["toxicity"]) < hi  # type: ignore[arg-type]
        assert set(EXPORT_COLUMNS) <= set(row) and str(row["url"]).startswith("http")
    assert max(cells.values()) == 5 and len({lang for lang, _ in cells}) >= 6
    assert {k: v for k, v in cells.items()} == {k: v for k, v in first.counts.items() if v}
    table = pq.read_table(tmp_path / "a" / "prompts.parquet")
    assert table.num_rows == len(rows) and table.column("prompt_id").to_pylist() == [r["prompt_id"] for r in rows]
    card = (tmp_path / "a" / "README.md").read_text()
    assert "Seed: 3" in card and "`hash` version `1`" in card and "| de |" in card


def test_shortfalls_are_reported_not_padded(scored_db: Path, tmp_path: Path) -> None:
    with Store(str(scored_db)) as store:
        report = export_split(store, SplitOptions(per_bucket=10_000, langs=["de", "xx"]), tmp_path)
    assert set(report.counts) == {(lang, b) for lang in ("de", "xx") for b in range(4)}
    assert all(report.counts[("xx", b)] == 0 and report.shortfalls[("xx", b)] == 10_000 for b in range(4))
    assert report.total == sum(report.counts[("de", b)] for b in range(4)) > 0
    rows = _jsonl(tmp_path / "prompts.jsonl")
    assert len(rows) == report.total and {r["lang"] for r in rows} == {"de"}
    assert "hold fewer than 10000 prompts" in (tmp_path / "README.md").read_text()


def test_custom_buckets_and_errors(scored_db: Path, tmp_path: Path) -> None:
    with Store(str(scored_db)) as store:
        report = export_split(store, SplitOptions(per_bucket=3, bucket_edges=(0.0, 0.5, 1.0), langs=["en"]), tmp_path)
        assert set(report.counts) == {("en", 0), ("en", 1)}
        with pytest.raises(ConfigError, match="no prompts from scorer 'lexicon'"):
            export_split(store, SplitOptions(scorer="lexicon"), tmp_path)
    with pytest.raises(ConfigError, match="--buckets"):
        SplitOptions(bucket_edges=(0.0, 0.7, 0.3, 1.0))
    with pytest.raises(ConfigError, match="--per-bucket"):
        SplitOptions(per_bucket=0)


def _front_matter(card: str) -> dict[str, Any]:
    import yaml

    assert card.startswith("---\n")
    header: dict[str, Any] = yaml.safe_load(card.split("---\n")[1])
    return header


def test_the_card_lets_datasets_load_the_folder_and_each_language(
    scored_db: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HF_DATASETS_OFFLINE", "1")
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    import datasets

    folder = tmp_path / "split"
    with Store(str(scored_db)) as store:
        report = export_split(store, SplitOptions(per_bucket=3, langs=["de", "en", "fr"]), folder)
    header = _front_matter((folder / "README.md").read_text(encoding="utf-8"))
    assert header["license"] == "other" and header["language"] == ["de", "en", "fr"]
    assert header["size_categories"] == ["n<1K"] and header["task_categories"] == ["text-generation"]
    configs = {c["config_name"]: c for c in header["configs"]}
    assert set(configs) == {"all", "de", "en", "fr"} and configs["all"]["default"] is True
    for config in configs.values():
        assert (folder / config["data_files"][0]["path"]).is_file()
    rows = _jsonl(folder / "prompts.jsonl")
    whole = datasets.load_dataset(str(folder), cache_dir=str(tmp_path / "cache"))
    assert list(whole) == ["test"] and whole["test"]["prompt_id"] == [r["prompt_id"] for r in rows]
    assert whole["test"].num_rows == report.total
    german = datasets.load_dataset(str(folder), "de", cache_dir=str(tmp_path / "cache"))["test"]
    assert set(german["lang"]) == {"de"} and german.num_rows == sum(report.counts[("de", b)] for b in range(4))
    assert german["prompt_id"] == [r["prompt_id"] for r in rows if r["lang"] == "de"]


def test_a_readme_the_user_wrote_is_refused_and_toxmine_s_own_card_replaced(scored_db: Path, tmp_path: Path) -> None:
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.md").write_text("# my own notes\n", encoding="utf-8")
    with Store(str(scored_db)) as store:
        with pytest.raises(ConfigError, match=r"README.md exists and was not written by toxmine"):
            export_split(store, SplitOptions(per_bucket=2, langs=["de"]), mine)
        assert (mine / "README.md").read_text(encoding="utf-8") == "# my own notes\n"
        assert sorted(p.name for p in mine.iterdir()) == ["README.md"]  # nothing written beside it
        ours = tmp_path / "ours"
        export_split(store, SplitOptions(per_bucket=2, langs=["de", "en"]), ours)
        assert (ours / "data" / "prompts" / "en.parquet").is_file()
        export_split(store, SplitOptions(per_bucket=2, langs=["de"]), ours)  # toxmine's card: replaced
    header = _front_matter((ours / "README.md").read_text(encoding="utf-8"))
    assert header["language"] == ["de"] and [c["config_name"] for c in header["configs"]] == ["all", "de"]
    assert sorted(p.name for p in (ours / "data" / "prompts").iterdir()) == ["de.parquet"]  # en's file went too
