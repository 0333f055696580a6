"""The embedded sample: a small multilingual WARC written by wget from real pages."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

__all__ = ["demo_warc_path"]


def demo_warc_path() -> Path:
    """Path of the shipped demo WARC (see miner/data/README.md for its provenance)."""
    return Path(str(resources.files("toxmine.miner").joinpath("data/demo.warc.gz")))
