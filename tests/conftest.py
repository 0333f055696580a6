from __future__ import annotations

import logging
import os
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
# Tests never reach a model hub: everything they load is built locally.
os.environ["HF_HUB_OFFLINE"] = "1"
os.environ["TRANSFORMERS_OFFLINE"] = "1"

from http_server import FileServer, start_server
from openai_server import FakeOpenAI, start_fake_openai
from warc_builder import RealPage, pages_from_warc

from toxmine.miner.demo import demo_warc_path


@pytest.fixture
def http_root(tmp_path: Path) -> Path:
    root = tmp_path / "www"
    root.mkdir()
    return root


@pytest.fixture
def http_server(http_root: Path) -> Iterator[FileServer]:
    server, thread = start_server(http_root)
    yield server
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


@pytest.fixture(params=["warcio", "fastwarc"])
def warc_reader(request: pytest.FixtureRequest) -> str:
    """Each WARC header parser in turn (`warc_parsers.WARC_READERS`): tests that take it pass with both."""
    name: str = request.param
    return name


@pytest.fixture(scope="session")
def demo_pages() -> list[RealPage]:
    """The real HTML pages of the shipped demo WARC (several languages)."""
    return list(pages_from_warc(demo_warc_path()))


@pytest.fixture(scope="module")
def fake_server() -> Iterator[FakeOpenAI]:
    """A real OpenAI-compatible server on 127.0.0.1 with scripted replies (see openai_server)."""
    server = start_fake_openai()
    yield server
    server.stop()


@pytest.fixture(autouse=True)
def _reset_toxmine_logging() -> Iterator[None]:
    """Commands run in-process (`main([...])`) point toxmine's log handler at the stderr of their
    test; later tests must not write to that closed stream ("--- Logging error ---")."""
    yield
    logger = logging.getLogger("toxmine")
    logger.handlers[:] = []
    logger.filters[:] = []
    logger.propagate = True
    logger.setLevel(logging.NOTSET)


SLOW_KINDS = ("subprocess", "notebook", "ray", "browser", "model")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """A test of a slow kind (a real subprocess, a notebook, Ray, a browser, a model) is in the slow tier."""
    for item in items:
        if any(item.get_closest_marker(kind) for kind in SLOW_KINDS) and not item.get_closest_marker("slow"):
            item.add_marker(pytest.mark.slow)
