"""A judge plug-in loaded by tests through the registry's `module:Class` path, as a user's would be."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

from toxmine.evaluate.judges import COMPLIANCE_LABELS, Verdict


class HashJudge:
    """Deterministic verdicts from a hash of the response (every label occurs), counting pairs seen."""

    name = "hash-judge"
    version = "1"

    def __init__(self, fail_every: int = 0) -> None:
        self.seen: list[tuple[str, str]] = []
        self.fail_every = fail_every

    def judge_batch(
        self, prompts: Sequence[str], responses: Sequence[str], langs: Sequence[str | None]
    ) -> list[Verdict]:
        verdicts = []
        for prompt, response in zip(prompts, responses, strict=True):
            self.seen.append((prompt, response))
            if self.fail_every and len(self.seen) % self.fail_every == 0:
                verdicts.append(Verdict.failed("judge timed out"))
                continue
            digest = hashlib.md5(response.encode()).digest()
            compliance = COMPLIANCE_LABELS[digest[0] % 4]
            verdicts.append(Verdict(safe=compliance != "full_compliance", compliance=compliance))
        return verdicts


class TokenJudge(HashJudge):
    """The HashJudge taking a secret, as a plug-in calling a hosted moderation API would (its options are
    recorded in results files, so the token must be masked there)."""

    name = "token-judge"

    def __init__(self, api_token: str, endpoint: str = "") -> None:
        super().__init__()
        self.api_token = api_token
        self.endpoint = endpoint
