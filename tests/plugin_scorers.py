"""Scorer plug-ins loaded by tests through the registry's `module:Class` path, as a user's would be."""

from __future__ import annotations

import hashlib
import os
import signal
from collections.abc import Sequence

from toxmine.miner.scoring import TextScore


class HashScorer:
    """Deterministic pseudo-scores spread over [0, 1] (fills every bucket), counting texts scored."""

    name = "hash"
    version = "1"

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls: list[str] = []
        self.fail_after = fail_after

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]:
        if self.fail_after is not None and len(self.calls) + len(texts) > self.fail_after:
            raise RuntimeError("scoring backend went away")
        self.calls.extend(texts)
        scores = []
        for text in texts:
            value = int.from_bytes(hashlib.md5(text.encode()).digest()[:4], "big") / 0xFFFFFFFF
            scores.append(TextScore(value, {"toxicity": value, "length": float(len(text))}))
        return scores


class DyingOnceScorer(HashScorer):
    """The HashScorer, except that its first batch ever (across processes: a flag file says so)
    SIGKILLs the process scoring it, as a crashed GPU worker would die."""

    def __init__(self, flag: str) -> None:
        super().__init__()
        self.flag = flag

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]:
        try:
            os.close(os.open(self.flag, os.O_CREAT | os.O_EXCL))
        except FileExistsError:
            return super().score_batch(texts, langs)
        os.kill(os.getpid(), signal.SIGKILL)
        raise AssertionError("unreachable")


class RefusingScorer:
    """Refuses every text, as a remote scorer that rejects all of a corpus's languages does."""

    name = "refusing"
    version = "1"

    def score_batch(self, texts: Sequence[str], langs: Sequence[str | None]) -> list[TextScore]:
        return [TextScore.failed(f"language {lang} is not supported") for lang in langs]
