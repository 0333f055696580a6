"""Per-document CPU cost of every mining stage but extraction, on one core (a benchmark, not a test).

The texts are what the pipeline stores: the HTML pages of the WARC files given (default: the
shipped `miner/data/*.warc.gz`), read with `read_html_pages`, decoded with `decode_html` and
extracted with `extract_text`, texts under `min_chars` dropped. They are replicated to `--docs`
documents; each copy after the first has a quarter of its words (a tenth of its characters in
unsegmented scripts) swapped for others of the same text, so copies are near neither their
original nor each other, as on real pages (an exact copy would stop at the exact-hash check).

    taskset -c 0 .venv/bin/python bench/bench_stages.py                 # shipped demo WARC
    taskset -c 0 .venv/bin/python bench/bench_stages.py bench/.cache/warc/*.warc.gz --docs 4000

Prints one Markdown table: CPU microseconds per document (`time.process_time`, best of
`--repeat`) and documents per CPU second. `decode` is per HTML page, everything else per
extracted text. Stages run as `process.py` runs them: LID in batches of `batch_size`, then per
kept document `normalize_text`, `text_hash`, `minhash_signature`, `doc_id_for` and the
`Document`, and the spill write per batch. What the writer does after the spill (band files, the
near-dedup stages, finalize, commit) is `bench_writer.py`'s; `DedupIndex.check_and_add`, the
near-dedup decision as defined (the writer takes the same one with band files and DuckDB), is
shown but not counted in the total.
"""

from __future__ import annotations

import argparse
import gc
import glob
import os
import random
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import fields, replace
from typing import Any

from benchkit import cpu_model, log, markdown_rows, versions

_ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _texts(
    paths: list[str], extractor: str | None = None
) -> tuple[list[tuple[bytes, str | None]], list[tuple[str, str]]]:
    """(payload, declared charset) of every HTML page, and (url, text) of every stored text
    (extracted by `extractor`, default the default one)."""
    from toxmine.miner.decode import decode_html
    from toxmine.miner.extract import extract_text
    from toxmine.miner.process import ProcessOptions
    from toxmine.miner.records import HtmlPage
    from toxmine.miner.sources import LocalFile
    from toxmine.miner.warc import read_html_pages

    options = ProcessOptions()
    extract = replace(options.extract, extractor=extractor or options.extract.extractor, sandbox=False)
    payloads: list[tuple[bytes, str | None]] = []
    texts: list[tuple[str, str]] = []
    for path in paths:
        for event in read_html_pages(LocalFile(path)):
            if not isinstance(event, HtmlPage):
                continue
            payloads.append((event.payload, event.declared_charset))
            html, _ = decode_html(event.payload, event.declared_charset)
            try:
                text = extract_text(html, event.url, extract)
            except Exception:
                continue
            if text is not None and len(text) >= options.min_chars:
                texts.append((event.url, text))
    return payloads, texts


def _numpy_signatures(
    stage: Callable[..., Any], signature: Callable[..., bytes], normalized: list[str], guesses: list[Any],
    options: Any, scheme: str,
) -> None:  # fmt: skip
    """The default scheme's signatures as numpy computes them, where a C signature exists."""
    from toxmine.miner.scripts import is_unsegmented

    unsegmented = [is_unsegmented(g.lang, g.script) for g in guesses]
    stage(
        f"minhash_signature {scheme}, numpy",
        lambda: [signature(n, u, options) for n, u in zip(normalized, unsegmented, strict=True)],
        "the same signatures without the C extension",
    )


def _variant(text: str, copy: int) -> str:
    """Copy `copy` of a text: 0 is the text; others swap a share of its words (characters in
    unsegmented scripts) for others of the same text, with a seed of their own."""
    if copy == 0:
        return text
    rng = random.Random(copy * 7919 + len(text))
    words = text.split(" ")
    if len(words) < 0.05 * len(text):  # few spaces: an unsegmented script
        chars = list(text)
        return "".join(rng.choice(chars) if c.strip() and rng.random() < 0.1 else c for c in chars)
    return " ".join(rng.choice(words) if rng.random() < 0.25 else w for w in words)


class HeadOnly:
    """An extractor plug-in that does nothing but answer (the page's first 3,000 characters): what
    the extraction sandbox's pipes and bookkeeping cost a page."""

    def extract(self, html: str, url: str | None) -> str | None:
        return html[:3000]


def _child_cpu(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()  # noqa: SIM115
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _round_trip(htmls: list[str]) -> float:
    """CPU seconds of the parent and the sandbox child to send every page and take its answer."""
    from toxmine.miner.extract import ExtractOptions
    from toxmine.miner.extract_sandbox import ExtractSandbox

    options = ExtractOptions(extractor="bench_stages:HeadOnly")
    with ExtractSandbox(options.memory_mb, options.extractor) as sandbox:
        sandbox.extract(htmls[0], None, options)  # started
        assert sandbox.pid is not None
        child, parent = _child_cpu(sandbox.pid), time.process_time()
        for html in htmls:
            sandbox.extract(html, None, options)
        return time.process_time() - parent + _child_cpu(sandbox.pid) - child


def _best(run: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    """Lowest CPU seconds of `repeat` runs, and the last run's result."""
    best, result = float("inf"), None
    for _ in range(repeat):
        gc.collect()
        started = time.process_time()
        result = run()
        best = min(best, time.process_time() - started)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("warcs", nargs="*", help="WARC files (default: miner/data/*.warc.gz)")
    parser.add_argument("--docs", type=int, default=3000, help="documents after replication (default 3000)")
    parser.add_argument("--repeat", type=int, default=3, help="runs per stage; the fastest counts (default 3)")
    parser.add_argument("--extractor", help="extractor of the texts (default: the default one)")
    args = parser.parse_args()

    from toxmine.miner import dedup as dedup_module
    from toxmine.miner.decode import decode_html
    from toxmine.miner.dedup import DedupIndex, minhash_signature, normalize_text, text_hash
    from toxmine.miner.langid import FastTextLid
    from toxmine.miner.process import ProcessOptions, doc_id_for
    from toxmine.miner.records import Document
    from toxmine.miner.spill import SpillWriter

    paths = args.warcs or sorted(glob.glob(os.path.join(_ROOT, "miner", "data", "*.warc.gz")))
    log(f"reading and extracting {len(paths)} WARC files")
    payloads, originals = _texts(paths, args.extractor)
    texts = [_variant(originals[i % len(originals)][1], i // len(originals)) for i in range(args.docs)]
    urls = [f"{originals[i % len(originals)][0]}#{i}" for i in range(args.docs)]
    pages = [payloads[i % len(payloads)] for i in range(args.docs)]
    log(f"{len(payloads)} HTML pages, {len(originals)} texts, replicated to {len(texts)} documents")

    options = ProcessOptions()
    lid = FastTextLid(options.lid.model_path)
    rows: list[tuple[str, float, str]] = []  # stage, CPU seconds for all docs, note

    def stage(name: str, run: Callable[[], Any], note: str) -> Any:
        seconds, result = _best(run, args.repeat)
        rows.append((name, seconds, note))
        log(f"{name}: {seconds * 1e6 / len(texts):,.1f} us/doc")
        return result

    stage("decode_html", lambda: [decode_html(p, c) for p, c in pages], "per HTML page")
    htmls = [decode_html(p, c)[0] for p, c in pages]
    rows.append(
        (
            "sandbox round trip",
            _round_trip(htmls),
            "per HTML page: parent and child CPU, an extractor that does nothing",
        )
    )
    log(f"sandbox round trip: {rows[-1][1] * 1e6 / len(texts):,.1f} us/page")

    def lid_all(lid_options: Any = options.lid) -> list[Any]:
        guesses: list[Any] = []
        for start in range(0, len(texts), options.batch_size):
            batch = texts[start : start + options.batch_size]
            if hasattr(lid_options, "sample_chars"):  # the sampled two-stage LID
                guesses.extend(lid.predict(batch, lid_options))
            elif getattr(lid_options, "head_chars", 0):  # a toxmine with the head two-stage LID
                o = lid_options
                guesses.extend(lid.predict(batch, o.max_chars, o.head_chars, o.head_accept))
            else:
                guesses.extend(lid.predict(batch))
        return guesses

    lid_keys = ("max_chars", "head_chars", "head_accept", "sample_chars", "sample_run", "sample_margin")
    lid_note = ", ".join(f"{k}={v}" for k, v in vars(options.lid).items() if k in lid_keys)
    guesses = stage("lid", lid_all, f"FastTextLid.predict, batches of {options.batch_size}; {lid_note}")
    stage_off = {"sample_chars": 0} if hasattr(options.lid, "sample_chars") else {"head_chars": 0}
    if getattr(options.lid, "sample_chars", 0) or getattr(options.lid, "head_chars", 0):
        one = stage("lid, one prediction", lambda: lid_all(replace(options.lid, **stage_off)), "")

        def decision(guess: Any) -> tuple[str, str | None, bool]:
            return guess.lang, guess.script, guess.score >= options.lid.threshold

        same = sum(decision(a) == decision(b) for a, b in zip(guesses, one, strict=True))
        note = f"one prediction on max_chars; same lang, script and kept for {100 * same / len(texts):.2f}% of docs"
        rows[-1] = (rows[-1][0], rows[-1][1], note)
    normalized = stage("normalize_text", lambda: [normalize_text(t) for t in texts], "NFKC, lower, punctuation, digits")
    digests = stage("text_hash", lambda: [text_hash(n) for n in normalized], "blake2b-128 hex")

    schemes: list[tuple[str, Any]] = [("", options.dedup)]
    if hasattr(options.dedup, "hash_scheme"):  # the schemes this toxmine has
        schemes = [(scheme, replace(options.dedup, hash_scheme=scheme)) for scheme in dedup_module.HASH_SCHEMES]
    signatures: list[bytes] = []
    pairs = list(zip(normalized, guesses, strict=True))
    for scheme, dedup_options in schemes:
        signed = stage(
            f"minhash_signature {scheme}".strip(),
            lambda o=dedup_options: [minhash_signature(n, g.lang, g.script, o) for n, g in pairs],
            f"shingles + {dedup_options.num_perm} permutations",
        )
        signatures = signatures or signed  # the default scheme's, for the index
        if scheme == getattr(dedup_module, "DEFAULT_HASH_SCHEME", None) and hasattr(dedup_module, "numpy_signature"):
            _numpy_signatures(stage, dedup_module.numpy_signature, normalized, guesses, dedup_options, scheme)

    def doc_ids() -> list[str]:
        return [doc_id_for("bench.warc.gz", i, f"<urn:uuid:{i}>") for i in range(len(texts))]

    ids = stage("doc_id_for", doc_ids, "blake2b-80 of file, offset, record id")

    # what process.py records of the extractor (a toxmine before the extractor registry: nothing)
    extractor_fields: tuple[str, ...] = ()
    if "extractor" in {f.name for f in fields(Document)}:
        from toxmine.miner.extractors.catalog import extractor_identity

        name = options.extract.extractor
        extractor_fields = (name, extractor_identity(name).version_label)

    def build() -> list[Document]:
        return [
            Document(ids[i], urls[i], None, "bench.warc.gz", f"<urn:uuid:{i}>", i, None, g.lang, g.script,
                     round(g.score, 5), texts[i], digests[i], signatures[i], *extractor_fields)
            for i, g in enumerate(guesses)
        ]  # fmt: skip

    docs = stage("Document", build, "the record built per kept document")

    def spill() -> None:
        with tempfile.TemporaryDirectory() as folder, SpillWriter(os.path.join(folder, "spill.arrow")) as writer:
            for start in range(0, len(docs), options.batch_size):
                writer.write(docs[start : start + options.batch_size])

    stage("spill write", spill, f"Arrow IPC, batches of {options.batch_size}")

    def index_all() -> int:
        index = DedupIndex(options.dedup)
        return sum(index.check_and_add(d.doc_id, d.text_hash, d.minhash) is not None for d in docs)

    dups = stage(
        "DedupIndex.check_and_add", index_all, "the decision as defined, in memory (not counted: see bench_writer.py)"
    )

    counted = [
        (name, seconds)
        for name, seconds, _ in rows
        if name not in ("decode_html", "sandbox round trip", "lid, one prediction", "DedupIndex.check_and_add")
    ]
    total = sum(seconds for name, seconds in counted if not name.startswith("minhash_"))
    total += next(seconds for name, seconds, _ in rows if name.startswith("minhash_"))  # the default scheme
    rows.append(("all but decode and extraction, to the spill", total, "the default minhash scheme counted once"))

    n = len(texts)
    packages = ", ".join(f"{k} {v}" for k, v in versions(["datasketch", "fasttext-predict", "numpy"]).items())
    print(f"`{' '.join(['python', *sys.argv])}`: {len(originals)} texts from {len(payloads)} pages, replicated to "
          f"{n} documents ({sum(map(len, texts)) // n:,} chars mean, {dups} near-duplicates found); "
          f"CPU time, best of {args.repeat}; {cpu_model()}; {packages}\n")  # fmt: skip
    print("| stage | µs/doc | docs/CPU-s | what |")
    print("|---|---:|---:|---|")
    for line in markdown_rows(
        (name, f"{seconds * 1e6 / n:,.1f}", f"{n / seconds:,.0f}" if seconds else "n/a", note)
        for name, seconds, note in rows
    ):
        print(line)


if __name__ == "__main__":
    main()
