"""Task markers: the small JSON file a task writes last, saying that its outputs are whole.

Written under a temporary name and renamed, so a marker is whole or absent. One that cannot be
read (damaged outside toxmine) counts as absent: the task runs again, with a warning naming it.
"""

from __future__ import annotations

import json
import logging
import os
import uuid
from typing import Any

__all__ = ["read_marker", "write_marker"]

log = logging.getLogger(__name__)


def read_marker(path: str) -> dict[str, Any] | None:
    """The marker's content, or None when there is none or it is unreadable."""
    try:
        with open(path, encoding="utf-8") as handle:
            data = json.load(handle)
    except FileNotFoundError:
        return None
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        log.warning("%s: unreadable task marker, the task runs again (%s)", path, exc)
        return None
    if not isinstance(data, dict):
        log.warning("%s: unreadable task marker, the task runs again (not an object)", path)
        return None
    return data


def write_marker(path: str, data: dict[str, Any]) -> None:
    """Write the marker whole (temporary name, then rename)."""
    work = f"{path}.{uuid.uuid4().hex}.tmp"
    with open(work, "w", encoding="utf-8") as handle:
        json.dump(data, handle)
    os.replace(work, path)
