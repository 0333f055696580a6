"""What identifies a loaded model's weights: a fingerprint of a local folder's files, or the hub commit."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

__all__ = ["folder_fingerprint", "model_identity"]


def folder_fingerprint(model_dir: Path) -> str:
    """Changes when the config or weights change: names, sizes and mtimes of the folder's files."""
    digest = hashlib.blake2b(digest_size=6)
    for path in sorted(model_dir.iterdir()):
        if path.is_file():
            stat = path.stat()
            digest.update(f"{path.name}:{stat.st_size}:{int(stat.st_mtime)}".encode())
    return digest.hexdigest()


def model_identity(model: str, config: Any) -> str:
    """`files:FINGERPRINT` for a local folder (or file's folder), `hub:COMMIT` for a hub model
    (`hub:unknown` when transformers did not record the commit)."""
    local = Path(model).expanduser()
    if local.is_file():
        local = local.parent
    if local.is_dir():
        return f"files:{folder_fingerprint(local)}"
    return f"hub:{getattr(config, '_commit_hash', None) or 'unknown'}"
