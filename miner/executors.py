"""Where the pipeline's tasks run: in this process, in a pool of forked processes, or as Ray
tasks. Every stage is a list of independent tasks (a module-level function and its argument)
whose results come back as they finish; the stages never branch on the executor.

A task must be idempotent (write its output under a temporary name, then rename), so that a
task retried after its worker died, or run again by a resumed run, gives the same result.
"""

from __future__ import annotations

import multiprocessing
import random
import signal
import threading
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar

from .errors import ConfigError

__all__ = [
    "EXECUTORS",
    "Executor",
    "PoolExecutor",
    "RayExecutor",
    "RayOptions",
    "SerialExecutor",
    "TaskFailed",
    "executor_for",
    "import_ray",
    "ray_session",
    "start_ray",
]

T = TypeVar("T")
R = TypeVar("R")


@dataclass(frozen=True)
class TaskFailed:
    """A task that raised, or whose worker died more often than retries allow."""

    message: str


@dataclass(frozen=True)
class RayOptions:
    """Where and how the Ray executor runs."""

    address: str | None = None  # None: start a local Ray instance (what the tests use)
    num_cpus: int | None = None  # CPUs of a local instance (default: all)
    max_retries: int = 3  # retries of a task whose worker died
    in_flight: int | None = None  # tasks submitted ahead (default: 4 x cluster CPUs)


class Executor(Protocol):
    """Runs independent tasks; results come back in completion order with the task's index."""

    name: str
    workers: int

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R | TaskFailed]]: ...

    def close(self) -> None: ...


class SerialExecutor:
    """Tasks one after another in this process; `shuffle_seed` runs them in a shuffled order
    (the tests use it to show that no stage depends on completion order)."""

    name = "local"  # the local executor with one worker

    def __init__(self, shuffle_seed: int | None = None) -> None:
        self.workers = 1
        self.shuffle_seed = shuffle_seed

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R | TaskFailed]]:
        order = list(range(len(items)))
        if self.shuffle_seed is not None:
            random.Random(self.shuffle_seed).shuffle(order)
        for index in order:
            yield index, _guarded(fn, items[index])

    def close(self) -> None:
        return None


def _guarded(fn: Callable[[T], R], item: T) -> R | TaskFailed:
    """The task's result, or what it raised as a TaskFailed (bad data never raises: a raise is a
    fault such as a full disk, and the stage reports it)."""
    try:
        return fn(item)
    except Exception as exc:
        return TaskFailed(f"{type(exc).__name__}: {exc}")


def _call(job: tuple[int, Callable[[Any], Any], Any]) -> tuple[int, Any]:
    index, fn, item = job
    return index, _guarded(fn, item)


def _ignore_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the driver's to handle, once


class PoolExecutor:
    """A pool of forked worker processes on this machine. Create it before DuckDB starts its
    threads (forking a process that runs threads is unsafe). Workers ignore SIGINT from birth:
    a terminal's Ctrl-C reaches the whole process group, and only the driver should answer."""

    name = "local"

    def __init__(self, workers: int) -> None:
        self.workers = workers
        context = multiprocessing.get_context("fork")
        if threading.current_thread() is threading.main_thread():
            previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
            try:
                self._pool = context.Pool(workers, initializer=_ignore_sigint)
            finally:
                signal.signal(signal.SIGINT, previous)
        else:
            self._pool = context.Pool(workers, initializer=_ignore_sigint)

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R | TaskFailed]]:
        jobs = [(index, fn, item) for index, item in enumerate(items)]
        yield from self._pool.imap_unordered(_call, jobs, chunksize=1)

    def close(self) -> None:
        self._pool.terminate()
        self._pool.join()


def import_ray() -> Any:
    try:
        import ray
    except ImportError as exc:
        raise ConfigError("the ray executor needs Ray: pip install 'toxmine[ray]'") from exc
    return ray


def _ray_call(fn: Callable[[Any], Any], item: Any) -> Any:
    return fn(item)


class RayExecutor:
    """Ray tasks (one CPU each) on a local instance or a cluster. Ray retries a task whose
    worker died (`max_retries`); a task that raised, or died too often, is a `TaskFailed`. At most
    `in_flight` tasks are submitted ahead, so 90,000 inputs neither flood the scheduler nor the disk."""

    name = "ray"

    def __init__(self, options: RayOptions) -> None:
        self.options = options
        self._started = start_ray(options)
        ray = import_ray()
        self.workers = max(1, int(ray.cluster_resources().get("CPU", 1)))
        self._remote = ray.remote(num_cpus=1, max_retries=options.max_retries)(_ray_call)

    def map_unordered(self, fn: Callable[[T], R], items: Sequence[T]) -> Iterator[tuple[int, R | TaskFailed]]:
        ray = import_ray()
        window = self.options.in_flight or max(2, 4 * self.workers)
        todo = deque(range(len(items)))
        pending: dict[Any, int] = {}
        while todo or pending:
            while todo and len(pending) < window:
                index = todo.popleft()
                call = self._remote.options(name=getattr(fn, "__name__", "task"))
                pending[call.remote(fn, items[index])] = index
            ready, _ = ray.wait(list(pending), num_returns=1)
            index = pending.pop(ready[0])
            try:
                yield index, ray.get(ready[0])
            except ray.exceptions.RayError as exc:
                text = str(exc).strip()
                yield index, TaskFailed(text.splitlines()[-1] if text else type(exc).__name__)

    def close(self) -> None:
        if self._started:
            import_ray().shutdown()


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


EXECUTORS = ("local", "ray")


def executor_for(name: str | Executor, workers: int, ray: RayOptions | None = None) -> Executor:
    """The executor a command names: `ray` (where `ray` says; a local instance of `workers` CPUs by default),
    else a pool of `workers` forked processes, or this process for one worker. An Executor is used as it is."""
    if not isinstance(name, str):
        return name
    if name == "ray":
        return RayExecutor(ray or RayOptions(num_cpus=workers))
    if workers > 1:  # forked before DuckDB starts its threads
        return PoolExecutor(workers)
    return SerialExecutor()
