"""The partitioned near-dedup decides exactly what the sequential `DedupIndex` decides: synthetic
corpora with duplicate chains (A~B~C, A and C apart), exact duplicates, empty texts and documents
stored by an earlier run, over 1, 3 and 7 shards, several partition counts, shuffled completion
order and retried tasks."""

from __future__ import annotations

import glob
import itertools
import os
import random
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

import pyarrow.parquet as pq
import pytest

from toxmine.miner.bands import keys_table
from toxmine.miner.dedup import DedupIndex, DedupOptions, normalize_text, text_hash
from toxmine.miner.executors import RayExecutor, RayOptions, SerialExecutor, TaskFailed
from toxmine.miner.neardup import DedupJob, NewUnit, StoredKeys, decide_duplicates

OPTIONS = DedupOptions()
WIDTH = OPTIONS.rows * 4
T = TypeVar("T")
R = TypeVar("R")


@dataclass
class Doc:
    doc_id: str
    digest: str
    signature: bytes


def _random_band(rng: random.Random) -> bytes:
    return rng.randbytes(WIDTH)


def synthetic_corpus(n: int, seed: int) -> list[Doc]:
    """Documents whose bands come from small per-band pools (dense collision graphs with long
    chains), planted chains A~B~C, exact duplicates with other signatures, and empty texts."""
    rng = random.Random(seed)
    pools = [[_random_band(rng) for _ in range(max(3, n // 6))] for _ in range(OPTIONS.bands)]
    digests = [text_hash(f"text {i}") for i in range(n)]
    docs: list[Doc] = []
    empty = bytes([0xFF]) * (OPTIONS.bands * WIDTH)
    for i in range(n):
        kind = rng.random()
        if kind < 0.05:
            docs.append(Doc(f"d{i:05d}", text_hash(normalize_text("")), empty))
            continue
        bands = [rng.choice(pools[b]) if rng.random() < 0.08 else _random_band(rng) for b in range(OPTIONS.bands)]
        digest = digests[i]
        if kind < 0.12 and docs:
            digest = rng.choice(docs).digest  # an exact duplicate whose signature differs
        docs.append(Doc(f"d{i:05d}", digest, b"".join(bands)))
    # a planted chain: A~B share band 0, B~C share band 1, A and C share nothing
    a, b, c = (_random_band(rng) for _ in range(3))
    tails = [[_random_band(rng) for _ in range(OPTIONS.bands - 2)] for _ in range(3)]
    x, y = _random_band(rng), _random_band(rng)
    docs.append(Doc("chain-a", text_hash("chain a"), a + x + b"".join(tails[0])))
    docs.append(Doc("chain-b", text_hash("chain b"), a + b + b"".join(tails[1])))
    docs.append(Doc("chain-c", text_hash("chain c"), c + b + b"".join(tails[2])))
    docs.append(Doc("chain-d", text_hash("chain d"), c + y + b"".join(tails[1])))  # joins B through the tail
    return docs


def sequential(stored: list[Doc], new: list[Doc]) -> tuple[list[tuple[int, Doc]], dict[str, str]]:
    """What the single-process index decides: stored documents' kept ones (with ordinals) first."""
    index = DedupIndex(OPTIONS)
    kept: list[tuple[int, Doc]] = []
    for ordinal, doc in enumerate(stored):
        if index.check_and_add(doc.doc_id, doc.digest, doc.signature) is None:
            kept.append((ordinal, doc))
    replay = DedupIndex(OPTIONS)
    replay.load((d.doc_id, d.digest, d.signature) for _, d in kept)
    dups = {}
    for doc in new:
        found = replay.check_and_add(doc.doc_id, doc.digest, doc.signature)
        if found is not None:
            dups[doc.doc_id] = found
    return kept, dups


def _write(table_path: Path, docs: Sequence[Doc], rows: Sequence[int] | None, row_name: str) -> str:
    table = keys_table([d.doc_id for d in docs], [d.digest for d in docs], [d.signature for d in docs], OPTIONS,
                       rows, row_name)  # fmt: skip
    pq.write_table(table, table_path)
    return str(table_path)


def distributed(
    folder: Path,
    stored: list[tuple[int, Doc]],
    new: list[Doc],
    first: int,
    shards: int,
    partitions: int,
    executor: object,
) -> dict[str, str]:
    folder.mkdir(parents=True, exist_ok=True)
    units = []
    cuts = (
        sorted({0, len(new), *random.Random(shards).sample(range(1, len(new)), shards - 1)})
        if shards > 1
        else [0, len(new)]
    )
    for number, (lo, hi) in enumerate(itertools.pairwise(cuts)):
        units.append(NewUnit(_write(folder / f"unit{number}.parquet", new[lo:hi], None, "row"), first + lo))
    bands: tuple[StoredKeys, ...] = ()
    if stored:
        bands = (StoredKeys(_write(folder / "stored.parquet", [d for _, d in stored], [o for o, _ in stored],
                                   "ordinal")),)  # fmt: skip
    job = DedupJob(str(folder / "work"), partitions, tuple(units), bands)
    files = decide_duplicates(job, executor)  # type: ignore[arg-type]
    by_ordinal = {first + i: d.doc_id for i, d in enumerate(new)}
    decided = {}
    for path in files:
        rows = pq.read_table(path).to_pylist()
        assert [r["ordinal"] for r in rows] == sorted(r["ordinal"] for r in rows)
        decided.update({by_ordinal[r["ordinal"]]: r["dup_of"] for r in rows})
    return decided


class RetryingExecutor(SerialExecutor):
    """Runs every task, forgets that it finished (as when a worker dies after writing its output
    but before reporting), and runs it again: what Ray does with `max_retries`."""

    def __init__(self, workdir: Path, shuffle_seed: int) -> None:
        super().__init__(shuffle_seed)
        self.workdir = workdir

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R | TaskFailed]]:
        for index, _ in super().map_unordered(fn, items):
            for marker in glob.glob(str(self.workdir / "**" / "*.done.json"), recursive=True):
                os.remove(marker)
            yield index, fn(items[index])


@pytest.mark.parametrize("shards", [1, 3, 7])
@pytest.mark.parametrize("partitions", [1, 4, 9])
def test_partitioned_decision_equals_the_sequential_index(tmp_path: Path, shards: int, partitions: int) -> None:
    docs = synthetic_corpus(240, seed=shards * 10 + partitions)
    stored_docs, new_docs = docs[:60], docs[60:]
    kept, expected = sequential(stored_docs, new_docs)
    assert len(expected) > 40 and len(kept) < len(stored_docs)  # collisions everywhere, also among stored
    assert {"chain-b", "chain-d"} <= expected.keys() and "chain-c" not in expected  # B dup of A, so C is kept
    got = distributed(
        tmp_path, kept, new_docs, len(stored_docs), shards, partitions, SerialExecutor(shuffle_seed=partitions)
    )
    assert got == expected


def test_without_stored_documents_and_with_retried_tasks(tmp_path: Path) -> None:
    docs = synthetic_corpus(150, seed=5)
    _, expected = sequential([], docs)
    executor = RetryingExecutor(tmp_path / "work", shuffle_seed=3)
    assert distributed(tmp_path, [], docs, 0, 3, 5, executor) == expected


def test_a_corpus_without_any_collision(tmp_path: Path) -> None:
    rng = random.Random(1)
    docs = [Doc(f"u{i}", text_hash(f"t{i}"), rng.randbytes(OPTIONS.bands * WIDTH)) for i in range(30)]
    assert distributed(tmp_path, [], docs, 0, 2, 3, SerialExecutor()) == {}


def test_a_long_chain_converges(tmp_path: Path) -> None:
    """A path of 300 documents, each sharing one band with the next: one component, many rounds
    for plain label propagation, few for large-star/small-star."""
    rng = random.Random(2)
    links = [_random_band(rng) for _ in range(300)]
    docs = []
    for i in range(300):
        bands = [_random_band(rng) for _ in range(OPTIONS.bands)]
        bands[i % OPTIONS.bands] = links[i]  # shared with the next document
        if i:
            bands[(i - 1) % OPTIONS.bands] = links[i - 1]  # shared with the previous one
        docs.append(Doc(f"p{i:03d}", text_hash(f"p{i}"), b"".join(bands)))
    _, expected = sequential([], docs)
    assert len(expected) >= 100
    assert distributed(tmp_path, [], docs, 0, 4, 3, SerialExecutor()) == expected


@pytest.mark.ray
@pytest.mark.slow
def test_on_a_real_local_ray_instance(tmp_path: Path) -> None:
    """The stages as Ray tasks (2 CPUs, completion order as Ray decides) decide the same."""
    docs = synthetic_corpus(200, seed=11)
    kept, expected = sequential(docs[:50], docs[50:])
    runner = RayExecutor(RayOptions(num_cpus=2))
    try:
        got = distributed(tmp_path, kept, docs[50:], 50, 3, 4, runner)
    finally:
        runner.close()
    assert got == expected and len(expected) > 30
