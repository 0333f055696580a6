"""Jailbreak templates: the intentional scenario wraps each prompt in a user-provided template.

A template is a text file holding `{prompt}` where the prompt goes (other braces are left as
they are). Its SHA-256 identifies it: the evaluation run records it, and the `templates` table
keeps its text, so results with and without a template sit side by side in one report.

Built-in templates (`resolve_template(NAME)`, `--template NAME`): `aim`, MultiJail's AIM prompt
(the default of a bare `--template`: MultiJail's intentional scenario wraps every prompt in it;
source and licence note in `data/templates_notice.txt`: the DAMO-NLP-SG/multilingual-safety-for-LLMs
README.md links it to jailbreakchat.com), and `devmode`, toxmine's short persona template. Any other
value is a file path (write `./aim` for a file of that name).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

from toxmine.miner.errors import InputError
from toxmine.miner.store import Store

from . import eval_tables

__all__ = [
    "BUILTIN_TEMPLATES",
    "DEFAULT_TEMPLATE",
    "PLACEHOLDER",
    "Template",
    "load_template",
    "record_template",
    "resolve_template",
]

PLACEHOLDER = "{prompt}"
BUILTIN_TEMPLATES = {"aim": "aim_template.txt", "devmode": "jailbreak_template.txt"}  # name -> evaluate/data file
DEFAULT_TEMPLATE = "aim"  # MultiJail's intentional scenario


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


def resolve_template(spec: str) -> Template:
    """A built-in template by name (`aim`, `devmode`), recorded under that name, or a template file."""
    if spec in BUILTIN_TEMPLATES:
        packaged = resources.files("toxmine.evaluate.data").joinpath(BUILTIN_TEMPLATES[spec])
        return Template(spec, load_template(Path(str(packaged))).text)
    return load_template(Path(spec))


def record_template(store: Store, template: Template) -> None:
    """Keep the template's text in the database (once per checksum)."""
    eval_tables.record_template(store, template.sha256, template.name, template.text)
