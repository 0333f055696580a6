"""Mining on Ray: each input is a Ray task that writes one Parquet shard.

The tasks run `process_input` (the same stages as the local executor) on any node of the
cluster and write `<shard_dir>/<key>.parquet` plus a small result file next to it; the driver
then loads the shards into DuckDB in input order through the same single writer as the local
executor, so global near-dedup, and hence the kept documents and their `dup_of` links, are those
of a local run on the same inputs.

Fault tolerance: a task whose worker dies is retried by Ray (`max_retries`). A shard is written
under a temporary name and renamed, and its result file last, so a retried or resumed task finds
either a complete shard (and returns it without redoing the work) or nothing. Each input is
committed once, atomically with its `sources` row; a shard is deleted after its commit. Shards
finished but not loaded by an interrupted run are reused by the next one.

On a real cluster, `shard_dir` must be a folder every node and the driver can read and write
(NFS, a mounted bucket) and every node needs toxmine installed (or a Ray runtime environment
that installs it).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import uuid
from collections import deque
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from typing import Any

from .errors import ConfigError
from .langid import FastTextLid
from .process import InputResult, ProcessOptions, merge_parts, process_input
from .sources import InputSource
from .store import InputOutcome, utc_now

__all__ = ["RayOptions", "import_ray", "process_to_shard", "ray_results", "ray_session", "shard_key", "start_ray"]

log = logging.getLogger(__name__)

_SHARD_FORMAT = 1  # part of every shard key: a change of layout never reuses old shards


@dataclass(frozen=True)
class RayOptions:
    """Where and how the Ray executor runs."""

    address: str | None = None  # None: start a local Ray instance (what the tests use)
    num_cpus: int | None = None  # CPUs of a local instance (default: all)
    max_retries: int = 3  # retries of a task whose worker died
    in_flight: int | None = None  # tasks submitted ahead of the loader (default: 4 x cluster CPUs)


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("the ray executor needs Ray: pip install 'toxmine[ray]'") from exc
    return ray


def start_ray(options: RayOptions) -> bool:
    """Join the cluster at `options.address`, or start a local instance; True when this call
    started Ray (False: it was running in this process already)."""
    ray = import_ray()
    if ray.is_initialized():
        return False
    try:
        if options.address:
            ray.init(address=options.address, log_to_driver=False)
        else:
            ray.init(num_cpus=options.num_cpus, include_dashboard=False, log_to_driver=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = options.address or "a local instance"
        raise ConfigError(f"cannot start Ray at {where}: {str(exc).splitlines()[0]}") from exc
    return True


@contextmanager
def ray_session(options: RayOptions) -> Iterator[None]:
    """Ray for the duration (see `start_ray`); shuts down only what it started."""
    if not start_ray(options):
        yield
        return
    try:
        yield
    finally:
        import_ray().shutdown()


def shard_key(source: InputSource, options: ProcessOptions) -> str:
    """The shard's file stem: the input and every option that shapes its documents."""
    config = json.dumps(asdict(options), sort_keys=True, default=sorted)
    key = f"{_SHARD_FORMAT}\x00{source.name}\x00{config}"
    return hashlib.blake2b(key.encode(), digest_size=12).hexdigest()


# -- task side (runs in a Ray worker process) --------------------------------------------------
# One LID model per worker process, loaded on its first task (fastText models cannot be
# pickled); the module-level slot is that process's own, as the local pool's is. Likewise one
# extraction sandbox per worker process (`process_input`'s default, started on its first page):
# it ends at the worker's exit, or when Ray kills the worker, as its stdin then ends.
_worker_lid: dict[str, FastTextLid] = {}


def _outcome_to_json(result: InputResult) -> dict[str, Any]:
    outcome = asdict(result.outcome)
    for name in ("started_at", "finished_at"):
        outcome[name] = outcome[name].isoformat()
    return {"outcome": outcome, "n_documents": result.n_documents, "problems": result.problems}


def _outcome_from_json(data: dict[str, Any], shard: str) -> InputResult:
    outcome = dict(data["outcome"])
    for name in ("started_at", "finished_at"):
        outcome[name] = datetime.fromisoformat(outcome[name])
    paths = [shard] if data["n_documents"] else []
    problems = [(int(offset), str(message)) for offset, message in data["problems"]]
    return InputResult(InputOutcome(**outcome), paths, int(data["n_documents"]), problems)


def process_to_shard(source: InputSource, options: ProcessOptions, shard_dir: str, key: str) -> InputResult:
    """Process one input into `<shard_dir>/<key>.parquet`; a complete shard is returned as it is."""
    shard = os.path.join(shard_dir, f"{key}.parquet")
    marker = os.path.join(shard_dir, f"{key}.json")
    if os.path.exists(marker):
        with open(marker, encoding="utf-8") as handle:
            return _outcome_from_json(json.load(handle), shard)
    lid = _worker_lid.get(options.lid.model_path or "")
    if lid is None:
        lid = _worker_lid.setdefault(options.lid.model_path or "", FastTextLid(options.lid.model_path))
    work = os.path.join(shard_dir, f"{key}.{uuid.uuid4().hex}.tmp.parquet")
    try:
        result = merge_parts([process_input(source, options, lid, work)])
        if result.spill_paths:
            os.replace(work, shard)
        result.spill_paths = [shard] if result.spill_paths else []
        note = f"{marker}.{uuid.uuid4().hex}.tmp"
        with open(note, "w", encoding="utf-8") as handle:
            json.dump(_outcome_to_json(result), handle)
        os.replace(note, marker)  # last: the shard is complete once its marker exists
    finally:
        if os.path.exists(work):
            os.remove(work)
    return result


# -- driver side -------------------------------------------------------------------------------
def _failed(source: InputSource, error: str) -> InputResult:
    outcome = InputOutcome(source=source.name, crawl=source.crawl, status="failed", error=error)
    outcome.finished_at = utc_now()
    return InputResult(outcome, [], 0)


def ray_results(
    todo: Sequence[InputSource], options: ProcessOptions, shard_dir: str, ray_options: RayOptions
) -> Iterator[InputResult]:
    """Run every input as a Ray task and yield the results in input order (Ray must be started).

    At most `in_flight` tasks are submitted ahead of the one the loader waits for, so a crawl of
    90,000 files neither floods the scheduler nor fills the shard folder. A task that fails for
    good (its worker died more than `max_retries` times, or it raised) becomes a failed input.
    """
    ray = import_ray()
    os.makedirs(shard_dir, exist_ok=True)
    remote = ray.remote(num_cpus=1, max_retries=ray_options.max_retries)(process_to_shard)
    window = ray_options.in_flight or max(2, 4 * int(ray.cluster_resources().get("CPU", 1)))
    pending: deque[tuple[InputSource, Any]] = deque()
    sources = iter(todo)
    exhausted = False
    while True:
        while not exhausted and len(pending) < window:
            source = next(sources, None)
            if source is None:
                exhausted = True
                break
            pending.append((source, remote.remote(source, options, shard_dir, shard_key(source, options))))
        if not pending:
            return
        source, ref = pending.popleft()
        try:
            result = ray.get(ref)
        except ray.exceptions.RayError as exc:
            message = str(exc).strip().splitlines()[-1] if str(exc).strip() else type(exc).__name__
            log.error("%s: Ray task failed: %s", source.name, message, extra={"source": source.name})
            result = _failed(source, f"{source.name}: Ray task failed: {message}")
        yield result
        # the caller asks for the next result once this one is committed: its shard is done with
        # (a failed input is tried afresh by the next run)
        key = shard_key(source, options)
        for path in (os.path.join(shard_dir, f"{key}.parquet"), os.path.join(shard_dir, f"{key}.json")):
            if os.path.exists(path):
                os.remove(path)
