"""Red-team review of the Perspective scorer: an answer whose body cannot be decoded is that text's
failure (tried again first), never the whole batch's."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from perspective_server import FakePerspective, Reply, start_fake_perspective

from toxmine.miner.scoring.perspective import KEY_VARIABLE, PerspectiveScorer

KEY = "test-perspective-key-0123456789"


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakePerspective]:
    monkeypatch.setenv(KEY_VARIABLE, KEY)
    fake = start_fake_perspective(KEY)
    yield fake
    fake.stop()


def test_an_undecodable_answer_fails_only_its_text(server: FakePerspective) -> None:
    """A 200 whose gzip body is corrupt raised httpx.DecodingError out of score_batch, so every text of the
    batch (in an eval: every continuation of the batch) was recorded as failed."""
    corrupt = Reply(200, b"not gzip at all", {"Content-Encoding": "gzip"})
    server.script["you idiot"] = [corrupt]  # once: the retry gets the real answer
    server.script["broken"] = [corrupt] * 10  # always
    scorer = PerspectiveScorer(url=server.url, qps=200, backoff_s=0.01, max_backoff_s=0.1, max_retries=2)
    scores = scorer.score_batch(["hello there", "you idiot", "broken"], ["en", "en", "en"])
    assert [s.error is None for s in scores] == [True, True, False]
    assert scores[0].toxicity == pytest.approx(0.08) and scores[1].toxicity == pytest.approx(0.92)
    assert scores[2].error is not None and "decod" in scores[2].error.lower() and KEY not in scores[2].error
