"""The `toxmine` command: a thin shell over the library. Errors become one line and an exit code.

Each command is one entry of `COMMANDS` (its options and its handler); options shared by commands are
defined once in `cli_groups`, with defaults read from the option dataclasses that own them.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass
from pathlib import Path

from toxmine import __version__
from toxmine.evaluate import eval_tables
from toxmine.evaluate.default_model import DEFAULT_MODEL_SPEC
from toxmine.evaluate.imports import FORMATS
from toxmine.evaluate.judges import Judge
from toxmine.evaluate.metrics import MIN_PROMPTS
from toxmine.evaluate.params import PRESETS
from toxmine.evaluate.redaction import redact, redact_handlers
from toxmine.evaluate.results_files import JudgeSpec, check_output_path, write_results
from toxmine.evaluate.run import run_eval
from toxmine.evaluate.templates import DEFAULT_TEMPLATE, resolve_template
from toxmine.miner.cc_index import DEFAULT_MIMES, RecordFilter
from toxmine.miner.corpus_reads import unscored_documents
from toxmine.miner.demo import demo_warc_path
from toxmine.miner.errors import ConfigError, ToxmineError
from toxmine.miner.executors import RayOptions, ray_session
from toxmine.miner.index_inputs import IndexSelection
from toxmine.miner.mine import MineReport, mine
from toxmine.miner.progress import configure_logging, progress_wanted, quiet_third_party
from toxmine.miner.prompts import PROMPT_STYLES
from toxmine.miner.queries import format_rows, list_queries, load_query, run_sql
from toxmine.miner.score_units import score_documents
from toxmine.miner.scoring import Scorer, create_scorer
from toxmine.miner.scoring.ray_pool import RayScorerPool
from toxmine.miner.select_records import SelectOptions, format_summary, select_records
from toxmine.miner.sources import CC_BASE_URL, SourceSelection, resolve_inputs
from toxmine.miner.split import bucket_label, export_split
from toxmine.miner.store import Store
from toxmine.miner.targeting import counted, targeting_text
from toxmine.miner.task_files import skip_pandas_probe
from toxmine.outcomes import Outcome, settle

from .cli_groups import (
    add_db,
    add_executor,
    add_http_inputs,
    add_judge,
    add_logging,
    add_mining,
    add_model_backend,
    add_output_path,
    add_prompt_spans,
    add_record_lists,
    add_scorer,
    add_split_selection,
    backend_options,
    http_options,
    model_help,
    process_options,
    prompt_options,
    renamed,
    scorer_spec,
    split_options,
)
from .cli_values import edges, key_value, langs, names, param_default

__all__ = ["COMMANDS", "Command", "build_parser", "main"]

_key_value = key_value  # the names tests and plug-ins used before the option groups moved out
_http_options = http_options

log = logging.getLogger("toxmine.cli")

EXIT_OK, EXIT_INPUT_FAILED, EXIT_USAGE = 0, 1, 2


@dataclass(frozen=True)
class Command:
    """One subcommand: its help, the options it takes (besides the logging group every command has) and its
    handler, which returns the exit code."""

    help: str
    options: Callable[[argparse.ArgumentParser], None]
    run: Callable[[argparse.Namespace], int]
    description: str | None = None


def _require_db(db: str) -> None:
    """Commands that read a database never create an empty one: a missing one is a usage error."""
    if not os.path.exists(db):
        raise ConfigError(f"{db}: no such database")


def _existing_store(db: str, read_only: bool = False) -> Store:
    """The database `db`, which must exist."""
    _require_db(db)
    return Store(db, read_only=read_only)


def _scorer(args: argparse.Namespace) -> Scorer:
    name, options = scorer_spec(args)
    return create_scorer(name, **options)


def _score(args: argparse.Namespace, scorer: Scorer) -> int:
    """Score, print what was done; the exit code (1 when the scorer could score no prompt)."""
    with _existing_store(args.db) as store:
        pending = unscored_documents(store, scorer.name)
        show = progress_wanted() if args.progress is None else args.progress
        from tqdm import tqdm

        with tqdm(total=pending, unit="doc", disable=not show, desc="scoring") as bar:
            on_actors = scorer.score_units if isinstance(scorer, RayScorerPool) else None  # they read the files
            report = score_documents(store, scorer, prompt_options(args), progress=bar.update, run=on_actors)
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


def _print_report(report: MineReport, db: str) -> None:
    out = sys.stdout
    print(
        f"\n{counted(report.processed, 'input')} processed, {report.skipped} skipped (already in {db}), "
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
    if report.targeting is not None:
        print(targeting_text(report.targeting), file=out)
    if report.failed or report.partial:  # each input's error was logged once, as it was settled
        print(f"\ntoxmine: inputs failed: {len(report.failed)}, partial: {len(report.partial)} (errors above)",
              file=sys.stderr)  # fmt: skip


def _mine_inputs(args: argparse.Namespace, inputs: list[str]) -> int:
    selection = SourceSelection(
        cc_base_url=getattr(args, "cc_base_url", CC_BASE_URL),
        shard=getattr(args, "shard", None),
        limit_files=getattr(args, "limit_files", None),
        http=http_options(args),
        group_records=getattr(args, "group_records", SourceSelection.group_records),
        fetch_concurrency=getattr(args, "fetch_concurrency", SourceSelection.fetch_concurrency),
    )
    skip_pandas_probe()
    sources = resolve_inputs(inputs, selection)
    PROMPT_STYLES[prompt_options(args).style].prepare()  # bad prompt options or a missing spaCy fail before mining
    with _ray_session(args) as ray_options:
        scorer = None if args.no_score else _mining_scorer(args)  # a bad model fails before mining starts
        show = progress_wanted() if args.progress is None else args.progress
        report = mine(
            sources,
            args.db,
            process_options(args),
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
        scored = _score(args, scorer) if scorer is not None else EXIT_OK
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

    name, options = scorer_spec(args)
    return RayScorerPool(name, options, actors=args.scorer_actors or args.workers, num_gpus=args.scorer_gpus)


# -- mine, demo, score ------------------------------------------------------------------------------
def _mine_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="*", metavar="INPUT",
                        help="WARC files or globs, http(s) URLs, listings (inputs.txt, @list, *.paths.gz), "
                        "cc:CC-MAIN-YYYY-WW, record lists (*.parquet, *.csv, *.jsonl: `toxmine select`)")  # fmt: skip
    add_db(parser, "to create or extend", required=True)
    add_mining(parser)
    add_http_inputs(parser)
    add_record_lists(parser)
    parser.add_argument("--no-score", action="store_true", help="mine only; score later with `toxmine score`")
    add_scorer(parser)
    add_prompt_spans(parser)


def _run_mine(args: argparse.Namespace) -> int:
    if not args.inputs:
        raise ConfigError("mine needs at least one INPUT (WARC files or globs, http(s) URLs, listings, "
                          "cc:CC-MAIN-YYYY-WW); `toxmine demo --db FILE` mines the embedded sample")  # fmt: skip
    return _mine_inputs(args, args.inputs)


def _select_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="cc-index:CC-MAIN-YYYY-WW (that crawl's cc-index-table.paths.gz under --cc-base-url), a "
                        "listing of index files (path or URL), index Parquet files, a glob or a folder")  # fmt: skip
    add_output_path(parser, "the Parquet file of record pointers to write", required=True)
    parser.add_argument("--langs", type=langs, required=True, metavar="CODES",
                        help="comma-separated toxmine language codes, e.g. sw,yo (matched to the index's ISO 639-3 "
                        "codes)")  # fmt: skip
    parser.add_argument("--primary-only", action="store_true",
                        help="only pages whose most likely language (first code of content_languages) is "
                        "wanted")  # fmt: skip
    parser.add_argument("--mime", type=names, action="append", metavar="TYPES",
                        help=f"content_mime_detected types to keep, repeatable or comma-separated "
                        f"(default {','.join(DEFAULT_MIMES)})")  # fmt: skip
    parser.add_argument("--limit-records", type=int, metavar="N",
                        help="at most N records per language: those whose URL hashes lowest (a uniform, "
                        "deterministic sample)")  # fmt: skip
    add_http_inputs(parser)
    ex = add_executor(parser, "worker processes (local), or CPUs of a local Ray instance")
    ex.add_argument("--work-dir", metavar="DIR",
                    help="folder for the part files until the output is written (default: beside it)")  # fmt: skip


def _run_select(args: argparse.Namespace) -> int:
    mimes = frozenset(m for group in args.mime for m in group) if args.mime else frozenset(DEFAULT_MIMES)
    options = SelectOptions(RecordFilter(args.langs, args.primary_only, mimes), args.limit_records, http_options(args))
    selection = IndexSelection(args.cc_base_url, args.shard, args.limit_files, http_options(args))
    show = progress_wanted() if args.progress is None else args.progress
    report = select_records(args.inputs, args.output_path, options, selection, executor=args.executor,
                            workers=args.workers, ray=RayOptions(address=args.ray_address, num_cpus=args.workers),
                            work_dir=args.work_dir, version=__version__, show_progress=show)  # fmt: skip
    if not report.ok:
        print(f"toxmine: {len(report.failed)} of {report.index_files} index files failed (errors above); nothing "
              f"written to {args.output_path}: run the same command to retry them", file=sys.stderr)  # fmt: skip
        return EXIT_INPUT_FAILED
    print(format_summary(report, sorted(options.record_filter.langs)), end="")
    print(f"{report.records:,} record pointers written to {report.output}")
    if not report.records:
        print(f"toxmine: no record of the index matched --langs {','.join(sorted(options.record_filter.langs))}"
              " (CLD2 may not label these languages, or the index files read hold none)", file=sys.stderr)  # fmt: skip
    return EXIT_OK


def _demo_options(parser: argparse.ArgumentParser) -> None:
    add_db(parser, "to create or extend", default="toxmine-demo.duckdb")
    add_mining(parser)
    parser.add_argument("--no-score", action="store_true", help="mine only; score later with `toxmine score`")
    add_scorer(parser)
    add_prompt_spans(parser)


def _run_demo(args: argparse.Namespace) -> int:
    print(f"mining the embedded demo sample {demo_warc_path().name} into {args.db}", file=sys.stderr)
    return _mine_inputs(args, [str(demo_warc_path())])


def _score_options(parser: argparse.ArgumentParser) -> None:
    add_db(parser, "with mined documents")
    add_scorer(parser)
    add_prompt_spans(parser)
    add_executor(parser, "CPUs of a local Ray instance")


def _run_score(args: argparse.Namespace) -> int:
    _require_db(args.db)  # before Ray or a scorer model starts
    with _ray_session(args):
        return _score(args, _mining_scorer(args))


# -- split, import, query, sql ------------------------------------------------------------------------
def _split_options(parser: argparse.ArgumentParser) -> None:
    add_db(parser, "with scored prompts")
    add_output_path(parser, "output folder", default="split")
    stem = param_default(export_split, "name")
    parser.add_argument("--name", default=stem, help=f"file name stem (default {stem})")
    add_split_selection(parser)
    renamed(parser, "--seed", "--split-seed (--seed is the generation seed of `toxmine eval`)")
    renamed(parser, "--scorer", "--prompt-scorer (--scorer is the scorer of texts)")


def _run_split(args: argparse.Namespace) -> int:
    options = split_options(args)
    with _existing_store(args.db) as store:
        report = export_split(store, options, Path(args.output_path), args.name)
    print(f"{report.total:,} prompts from scorer {report.scorer} written to {', '.join(map(str, report.files))}")
    for (lang, bucket), missing in sorted(report.shortfalls.items()):
        print(f"shortfall: {lang} {bucket_label(options.bucket_edges, bucket)}: {missing} fewer than {args.per_bucket}")
    return EXIT_OK


def _import_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("format", choices=FORMATS, metavar="FORMAT", help=f"one of {', '.join(FORMATS)}")
    parser.add_argument("file", metavar="FILE", help="the set's file (JSONL, CSV for multijail, Parquet for ptp)")
    add_db(parser, "to create or extend", required=True)
    parser.add_argument("--source", metavar="NAME", help="name of the imported set (default: FORMAT)")
    parser.add_argument("--lang", metavar="CODE", help="language of alert/rtp rows (default en), ptp rows without")
    parser.add_argument("--rescore", action="store_true", help="ptp/rtp: score with --scorer, not the file's")
    kind = parser.add_mutually_exclusive_group()
    kind.add_argument("--benign", dest="harmful", action="store_false", default=None,
                      help="the prompts are harmless (for over-refusal rates), whatever the format's "
                      "default")  # fmt: skip
    kind.add_argument("--harmful", dest="harmful", action="store_true",
                      help="the prompts are harmful requests (default for alert and multijail)")  # fmt: skip
    parser.add_argument("--buckets", type=edges, metavar="EDGES",
                        help="toxicity bucket edges from 0 to 1 (default: the database's)")  # fmt: skip
    add_scorer(parser)


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


def _table_output(parser: argparse.ArgumentParser) -> None:
    add_db(parser, "to read")
    fmt = parser.add_mutually_exclusive_group()
    fmt.add_argument("--csv", dest="fmt", action="store_const", const="csv", help="CSV output")
    fmt.add_argument("--json", dest="fmt", action="store_const", const="json", help="JSON lines output")
    add_output_path(parser, "file to write the table to (default: stdout)")


def _query_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("query_name", nargs="?", metavar="NAME", help="query name; omit to list them")
    parser.add_argument("-p", "--param", nargs=2, action="append", default=[], metavar=("KEY", "VALUE"),
                        help="a parameter of the query, e.g. -p scorer lexicon (repeatable)")  # fmt: skip
    _table_output(parser)


def _sql_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("statement", metavar="SQL", help="a SQL statement run read-only against the database")
    _table_output(parser)


def _write(text: str, output: str | None) -> None:
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)


def _run_query(args: argparse.Namespace) -> int:
    if not args.query_name:
        for query in list_queries():
            params = ", ".join(f"{k}={v}" if v else k for k, v in query.params.items())
            print(f"{query.name:<22} {query.description}" + (f"  [{params}]" if params else ""))
        return EXIT_OK
    query = load_query(args.query_name)
    with _existing_store(args.db, read_only=True) as store:
        columns, rows = run_sql(store.con, query.sql, query.bind(dict(args.param)))
    _write(format_rows(columns, rows, args.fmt or "table"), args.output_path)
    return EXIT_OK


def _run_sql(args: argparse.Namespace) -> int:
    with _existing_store(args.db, read_only=True) as store:
        columns, rows = run_sql(store.con, args.statement)
    _write(format_rows(columns, rows, args.fmt or "table"), args.output_path)
    return EXIT_OK


# -- eval, judge, report, export-results ----------------------------------------------------------------
def _eval_options(parser: argparse.ArgumentParser) -> None:
    add_db(parser, "with prompts")
    parser.add_argument("--model", default=DEFAULT_MODEL_SPEC, metavar="SPEC", help=model_help())
    gen = parser.add_argument_group("generation")
    protocol = param_default(run_eval, "protocol")
    gen.add_argument("--preset", choices=sorted(PRESETS), default=protocol,
                     help=f"published protocol: sampling, toxic comparison, aggregates "
                     f"(default {protocol})")  # fmt: skip
    gen.add_argument("--k", type=int, metavar="N", help="continuations per prompt (overrides the preset)")
    gen.add_argument("--max-new-tokens", type=int, metavar="N", help="tokens per continuation (overrides the preset)")
    gen.add_argument("--temperature", type=float, metavar="T", help="sampling temperature (overrides the preset)")
    gen.add_argument("--top-p", type=float, metavar="P", help="nucleus sampling p (overrides the preset)")
    gen.add_argument("--top-k", type=int, metavar="N",
                     help="top-k sampling, 0 = off (overrides the preset; rtp, ptp: 0)")  # fmt: skip
    gen.add_argument("--seed", type=int, metavar="N",
                     help="generation seed (default: the preset's, 0); the split's is --split-seed")  # fmt: skip
    gen.add_argument("--chat", choices=["auto", "yes", "no"], default="auto",
                     help="apply the chat template (auto: when the model has one; default auto)")  # fmt: skip
    batch = param_default(run_eval, "batch_prompts")
    gen.add_argument("--batch-size", type=int, default=batch, metavar="N",
                     help=f"prompts per step: per vLLM or HTTP batch, stored together (default {batch})")  # fmt: skip
    gen.add_argument("--limit", type=int, metavar="N",
                     help="only N prompts of the split, round-robin over its language x bucket cells")  # fmt: skip
    gen.add_argument("--min-prompts", type=int, default=MIN_PROMPTS, metavar="N",
                     help=f"groups under N prompts: no interval, flagged (default {MIN_PROMPTS})")  # fmt: skip
    add_output_path(parser, "also write the run as lm-evaluation-harness does: PATH/MODEL/results_DATE.json and "
                    "samples_toxicity_DATE.jsonl (a PATH ending in .json: PATH_DATE.json beside it)")  # fmt: skip
    add_split_selection(parser, prefix="split: ")
    safety = parser.add_argument_group("safety (jailbreak scenario, judges)")
    safety.add_argument("--template", nargs="?", const=DEFAULT_TEMPLATE, metavar="NAME|FILE",
                        help="jailbreak template holding {prompt}: every prompt is sent wrapped in it (intentional "
                        "scenario); the run is recorded apart from the plain one. Built in: aim (MultiJail's AIM, "
                        "the default when no value is given), devmode; else a file")  # fmt: skip
    add_judge(safety)
    add_model_backend(parser)
    add_scorer(parser)


def _run_eval(args: argparse.Namespace) -> int:
    from toxmine.evaluate.backends import create_backend, parse_model_spec
    from toxmine.evaluate.eval_progress import generation_progress, log_stage
    from toxmine.evaluate.params import preset
    from toxmine.evaluate.run import EvalSelection, metric_options_for, select_prompts

    chat = {"auto": None, "yes": True, "no": False}[args.chat]
    params = preset(args.preset, k=args.k, max_new_tokens=args.max_new_tokens, temperature=args.temperature,
                    top_p=args.top_p, top_k=args.top_k, seed=args.seed, chat=chat)  # fmt: skip
    metric_options = metric_options_for(args.preset, args.min_prompts)  # checked before the model loads
    selection = EvalSelection(split_options(args), args.limit)
    with _existing_store(args.db) as store:  # an empty split fails here, before any model loads
        select_prompts(store, selection)
    scorer = _scorer(args)
    template = resolve_template(args.template) if args.template else None
    judge = _judge(args) if args.judge else None  # a bad judge fails before generating
    if args.output_path:
        check_output_path(Path(args.output_path))
    backend_name, _ = parse_model_spec(args.model)
    with log_stage("load model", f"{backend_name} {args.model}"):
        backend = create_backend(args.model, shared={"device": args.device}, **backend_options(args))
    show = progress_wanted() if args.progress is None else args.progress
    with Store(args.db) as store, generation_progress(bar=show) as bar:
        report = run_eval(store, backend, params, selection, scorer, args.batch_size,
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


def _runs_option(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--run", action="append", metavar="EVAL_RUN_ID", help=f"runs to {what} (default: all)")


def _judge_options(parser: argparse.ArgumentParser) -> None:
    add_db(parser, "with eval runs")
    _runs_option(parser, "judge")
    add_judge(parser.add_argument_group("judge"), required=True)


def _stored_runs(store: Store, args: argparse.Namespace) -> list[str]:
    run_ids: list[str] = args.run or eval_tables.run_ids(store)
    if not run_ids:
        raise ConfigError(f"{args.db}: no evaluation runs yet; run `toxmine eval` first")
    return run_ids


def _run_judge(args: argparse.Namespace) -> int:
    _require_db(args.db)  # before a judge model loads
    judge = _judge(args)
    show = progress_wanted() if args.progress is None else args.progress
    with Store(args.db) as store:
        outcomes = _judge_runs(store, _stored_runs(store, args), judge, args.group_by, show)
    return settle(outcomes)


def _report_options(parser: argparse.ArgumentParser) -> None:
    add_db(parser, "with eval runs")
    _runs_option(parser, "include")
    add_output_path(parser, "output folder", default="report")
    parser.add_argument("--name", default="report", help="file name stem (default report)")
    parser.add_argument("--threshold", type=float, metavar="T",
                        help="toxicity threshold for every run (default: each run's protocol, 0.5)")  # fmt: skip
    parser.add_argument("--judge-name", metavar="NAME",
                        help="the stored judge whose safety verdicts to show, e.g. heuristic (default: the judge "
                        "of most runs)")  # fmt: skip
    renamed(parser, "--judge", "--judge-name (--judge is a judge spec in `eval` and `judge`)")
    # report_data.DEFAULT_SAMPLES_PER_CELL (importing the report here would slow every command; a test ties them)
    parser.add_argument("--samples-per-cell", type=int, default=5, metavar="N",
                        help="generations shown per cell, most harmful first (default 5; 0: none)")  # fmt: skip


def _run_report(args: argparse.Namespace) -> int:
    from toxmine.evaluate.report import write_report

    with _existing_store(args.db) as store:
        files = write_report(store, Path(args.output_path), args.run, args.threshold, args.name, args.judge_name,
                             args.samples_per_cell)  # fmt: skip
    print(f"report written to {files.markdown} and {files.html} ({len(files.figures)} plots)")
    return EXIT_OK


def _export_results_options(parser: argparse.ArgumentParser) -> None:
    add_db(parser, "with eval runs")
    _runs_option(parser, "write")
    add_output_path(parser, "folder for PATH/MODEL/results_DATE.json, samples_toxicity_DATE.jsonl", required=True)


def _run_export_results(args: argparse.Namespace) -> int:
    _require_db(args.db)
    check_output_path(Path(args.output_path))
    with Store(args.db, read_only=True) as store:
        for run_id in _stored_runs(store, args):
            files = write_results(store, run_id, Path(args.output_path))
            print(f"{run_id}: results written to {files.results} and {files.samples} ({files.samples_written} samples)")
    return EXIT_OK


COMMANDS: dict[str, Command] = {
    "mine": Command(
        "mine WARC inputs into a DuckDB corpus",
        _mine_options,
        _run_mine,
        "Mine WARC files (paths, globs, http(s) URLs, listings, cc:CC-MAIN-YYYY-WW) into DuckDB. "
        "`toxmine demo` mines the embedded sample.",
    ),
    "select": Command(
        "select record pointers in the wanted languages from Common Crawl's columnar index",
        _select_options,
        _run_select,
    ),
    "demo": Command("mine and score the embedded multilingual sample WARC (offline)", _demo_options, _run_demo),
    "score": Command("build and score prompts of documents not yet scored", _score_options, _run_score),
    "split": Command("export a stratified prompt split (JSONL, Parquet, dataset card)", _split_options, _run_split),
    "query": Command("run a named query from sql/queries", _query_options, _run_query),
    "sql": Command("run a SQL statement", _sql_options, _run_sql),
    "eval": Command("sample continuations for a prompt split and score them", _eval_options, _run_eval),
    "report": Command(
        "Markdown and HTML report of evaluation runs, models side by side (with plots)", _report_options, _run_report
    ),
    "judge": Command("label the continuations of eval runs with a safety judge", _judge_options, _run_judge),
    "export-results": Command(
        "write stored eval runs as lm-evaluation-harness results JSON and samples JSONL",
        _export_results_options,
        _run_export_results,
    ),
    "import": Command(
        "import a prompt set (ALERT, MultiJail, PolygloToxicityPrompts, RealToxicityPrompts)",
        _import_options,
        _run_import,
    ),
}


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="toxmine", description=__doc__.split("\n", 1)[0] if __doc__ else None)
    parser.add_argument("--version", action="version", version=f"toxmine {__version__}")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, command in COMMANDS.items():
        cmd = commands.add_parser(name, help=command.help, description=command.description or command.help)
        command.options(cmd)
        add_logging(cmd)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    configure_logging(json_lines=args.log_json, verbose=args.verbose)
    quiet_third_party(verbose=args.verbose)  # transformers' and the hubs' own bars and notices only with -v
    redact_handlers(logging.getLogger("toxmine"))  # API keys never reach a log line, text or JSON
    try:
        return COMMANDS[args.command].run(args)
    except ToxmineError as exc:
        print(f"toxmine: error: {redact(str(exc))}", file=sys.stderr)
        return EXIT_USAGE if not os.environ.get("TOXMINE_TRACEBACK") else _reraise(exc)
    except KeyboardInterrupt:
        print(
            "toxmine: interrupted; what was finished is kept: run the same command to resume",
            file=sys.stderr,
        )
        return 130


def _reraise(exc: BaseException) -> int:
    raise exc
