"""The Hugging Face dataset card of a split folder: the YAML header the Hub and `datasets.load_dataset`
read (license, languages, size category, task, one config per language pointing at its file), and the
rule for an existing README.md: toxmine replaces only a card it wrote (marked by CARD_MARKER); a README
the user wrote is refused, never overwritten."""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from pathlib import Path

from .errors import ConfigError

__all__ = ["CARD_MARKER", "SPLIT", "card_header", "check_card_replaceable", "size_category"]

CARD_MARKER = "<!-- toxmine dataset card: `toxmine split` rewrites this file; delete this line to keep your edits -->"
SPLIT = "test"  # an evaluation prompt set: the Hub's split for held-out evaluation data
_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"),
          (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M"), (1_000_000_000, "100M<n<1B"))  # fmt: skip


def size_category(rows: int) -> str:
    """The Hub's size category for `rows` rows."""
    for limit, label in _SIZES:
        if rows < limit:
            return label
    return "n>1B"


def check_card_replaceable(card: Path) -> None:
    """Raise ConfigError when `card` exists and toxmine did not write it (no CARD_MARKER)."""
    if not card.exists():
        return
    try:
        text = card.read_text(encoding="utf-8", errors="replace")
    except OSError as exc:
        raise ConfigError(f"{card}: cannot read the existing README.md ({exc.strerror})") from exc
    if CARD_MARKER not in text:
        raise ConfigError(f"{card} exists and was not written by toxmine; it is kept: move it away or choose "
                          "another --out folder")  # fmt: skip


def _quoted(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)  # a JSON string is a YAML string


def card_header(
    pretty_name: str, whole_file: str, lang_files: Mapping[str, str], rows: int, mined: bool, sources: Sequence[str]
) -> str:
    """The YAML front matter: the default config `all` reads `whole_file`, config `<lang>` reads that
    language's file (paths relative to the folder); then CARD_MARKER."""
    lines = [
        "---",
        "license: other",
        "license_name: source-terms",
        *(["license_link: https://commoncrawl.org/terms-of-use"] if mined else []),
        "language:",
        *[f"- {_quoted(lang)}" for lang in lang_files],
        f"multilinguality: {'multilingual' if len(lang_files) > 1 else 'monolingual'}",
        "size_categories:",
        f"- {_quoted(size_category(rows))}",
        "task_categories:",
        "- text-generation",
        "tags:",
        *[f"- {_quoted(tag)}" for tag in ("toxicity", "safety", "toxmine", *sorted(set(sources) - {"mined"}))],
        f"pretty_name: {_quoted(pretty_name)}",
        "configs:",
        "- config_name: all",
        "  default: true",
        "  data_files:",
        f"  - split: {SPLIT}",
        f"    path: {_quoted(whole_file)}",
    ]
    for lang, path in lang_files.items():
        lines += [f"- config_name: {_quoted(lang)}", "  data_files:", f"  - split: {SPLIT}",
                  f"    path: {_quoted(path)}"]  # fmt: skip
    return "\n".join([*lines, "---", CARD_MARKER, ""])
