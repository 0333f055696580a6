"""The C module `_native` (`miner/_native.c`): per-document loops that compute exactly what their
Python definitions compute (MinHash signatures, language ID's sample and window, normalisation's
code point mapping). `setup.py` builds it where a C compiler is found; without it toxmine runs the
Python definitions, with the same results and ~0.2 ms more CPU a page.
"""

from __future__ import annotations

import logging
from typing import Any

__all__ = ["native_function", "warn_if_not_built"]

log = logging.getLogger(__name__)
_warned = False


def native_function(name: str) -> Any | None:
    """Function `name` of the C module, or None where the module is not built."""
    try:
        from . import _native
    except ImportError:  # pragma: no cover - an install without a C compiler
        return None
    return getattr(_native, name)


def warn_if_not_built() -> None:
    """Say once per process that the C module is missing (mining is then slower, not different)."""
    global _warned
    if _warned or native_function("signature") is not None:
        return
    _warned = True
    log.warning(
        "toxmine's C module (miner/_native.c) is not built: no C compiler was found when toxmine was "
        "installed; MinHash, language ID's sampling and normalisation run in numpy/Python instead (the same "
        "results, ~0.2 ms more CPU a page). Install gcc or clang and reinstall toxmine to build it."
    )
