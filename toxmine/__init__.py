"""toxmine: mine multilingual web text into toxicity-stratified prompt sets and benchmark LLMs.

Subpackages: `toxmine.miner` (WARC -> DuckDB corpus), `toxmine.evaluate` (LLM benchmarks),
`toxmine.sql` (schema migrations, views and named queries).
"""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("toxmine")
except PackageNotFoundError:  # pragma: no cover - running from a source tree
    __version__ = "0.0.0"

__all__ = ["__version__"]
