"""A scorer served by a pool of Ray actors, each holding its own copy of a registered scorer.

The pool looks like any other scorer (`name`, `version`, `score_batch`), so the scoring stage
runs unchanged: each `score_batch` call is cut into chunks spread over the actors and the
scores come back in order. Actors may ask for GPUs (`num_gpus`, fractions allowed), so a
cluster's GPU nodes run the classifier while its CPU nodes mine. By default an actor reserves no
CPU: the pool is created (and a bad model refused) before mining starts, and actors holding CPUs
would leave the mining tasks none; they only work once mining is done.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from ..errors import ConfigError
from ..score_units import ScoreCache, ScoredUnit, ScoreUnitTask, score_unit
from .base import Scorer, TextScore, create_scorer

__all__ = ["RayScorerPool"]


class _ScorerActor:
    """Runs in a Ray actor process: one scorer, created there from its registry name."""

    def __init__(self, name: str, options: dict[str, Any]) -> None:
        self.scorer: Scorer = create_scorer(name, **options)
        self.cache: ScoreCache | None = None  # made by the first unit: kept across the actor's units

    def identity(self) -> tuple[str, str]:
        return self.scorer.name, self.scorer.version

    def score(self, texts: list[str], langs: list[str | None]) -> list[TextScore]:
        return self.scorer.score_batch(texts, langs)

    def score_unit(self, task: ScoreUnitTask) -> ScoredUnit:
        if self.cache is None:
            self.cache = ScoreCache()
        return score_unit(self.scorer, task, self.cache)


class RayScorerPool:
    """`actors` copies of scorer `name` (with `options`) as Ray actors; Ray must be started."""

    def __init__(
        self,
        name: str,
        options: dict[str, Any] | None = None,
        actors: int = 1,
        num_gpus: float = 0,
        chunk: int = 64,
        num_cpus: float = 0,
        max_restarts: int = 3,
    ) -> None:
        from toxmine.miner.executors import import_ray

        ray = import_ray()
        if actors < 1 or chunk < 1 or num_gpus < 0 or num_cpus < 0:
            raise ConfigError(f"need actors >= 1, chunk >= 1, num_gpus >= 0, num_cpus >= 0; got {actors}, {chunk}, "
                              f"{num_gpus}, {num_cpus}")  # fmt: skip
        # an actor that dies (a crashed GPU worker, a lost node) is restarted and its task retried
        actor_class = ray.remote(num_cpus=num_cpus, num_gpus=num_gpus, max_restarts=max_restarts,
                                 max_task_retries=max_restarts)(_ScorerActor)  # fmt: skip
        self._actors = [actor_class.remote(name, options or {}) for _ in range(actors)]
        try:
            identities = ray.get([actor.identity.remote() for actor in self._actors])
        except ray.exceptions.RayActorError as exc:
            raise ConfigError(f"scorer {name!r} could not start in a Ray actor: {exc}") from exc
        except ray.exceptions.RayTaskError as exc:
            cause = exc.cause if isinstance(exc.cause, Exception) else exc
            raise ConfigError(f"scorer {name!r} could not start in a Ray actor: {cause}") from exc
        self.name, self.version = identities[0]
        self.chunk = chunk
        self._pool = ray.util.ActorPool(self._actors)

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]:
        chunks = [
            (list(texts[start : start + self.chunk]), list(langs[start : start + self.chunk]))
            for start in range(0, len(texts), self.chunk)
        ]
        results: list[TextScore] = []
        for scores in self._pool.map(lambda actor, job: actor.score.remote(*job), chunks):
            results.extend(scores)
        return results

    def score_units(self, tasks: list[ScoreUnitTask]) -> Iterator[ScoredUnit]:
        """Score stored units on the actors, each reading its unit's file itself; yields as they finish."""
        yield from self._pool.map_unordered(lambda actor, task: actor.score_unit.remote(task), tasks)

    def close(self) -> None:
        from toxmine.miner.executors import import_ray

        ray = import_ray()
        for actor in self._actors:
            ray.kill(actor)
        self._actors = []
