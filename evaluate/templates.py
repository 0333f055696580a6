"""Jailbreak templates: the intentional scenario wraps each prompt in a user-provided template.

A template is a text file holding `{prompt}` where the prompt goes (other braces are left as
they are). Its SHA-256 identifies it: the evaluation run records it, and the `templates` table
keeps its text, so results with and without a template sit side by side in one report.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from toxmine.miner.errors import InputError
from toxmine.miner.store import Store

__all__ = ["PLACEHOLDER", "Template", "load_template", "record_template"]

PLACEHOLDER = "{prompt}"


@dataclass(frozen=True)
class Template:
    """A jailbreak template read from a file."""

    name: str
    text: str

    @property
    def sha256(self) -> str:
        return hashlib.sha256(self.text.encode("utf-8")).hexdigest()

    def apply(self, prompt: str) -> str:
        return self.text.replace(PLACEHOLDER, prompt)


def load_template(path: Path) -> Template:
    """Read a template file; it must be UTF-8 text holding `{prompt}`."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise InputError(str(path), "no such template file") from None
    except UnicodeDecodeError as exc:
        raise InputError(str(path), f"not UTF-8 text ({exc.reason})", offset=exc.start) from None
    except OSError as exc:
        raise InputError(str(path), f"cannot read the template ({exc.strerror})") from None
    if PLACEHOLDER not in text:
        raise InputError(str(path), f"the template holds no {PLACEHOLDER} placeholder for the prompt")
    return Template(path.name, text)


def record_template(store: Store, template: Template) -> None:
    """Keep the template's text in the database (once per checksum)."""
    with store.transaction() as con:
        con.execute(
            "INSERT INTO templates VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
            [template.sha256, template.name, template.text],
        )
