"""Named, parameterised SQL queries shipped in `sql/queries/`, and result formatting.

A query file starts with comment lines: the first is its description, and lines of the form
`-- param: NAME = DEFAULT` declare `$NAME` parameters (a default may be left empty).
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from importlib import resources
from typing import Any

import duckdb

from .errors import ConfigError

__all__ = ["NamedQuery", "format_rows", "list_queries", "load_query", "run_sql"]

_PARAM = re.compile(r"--\s*param:\s*(\w+)\s*(?:=\s*(.*))?$")


@dataclass(frozen=True)
class NamedQuery:
    name: str
    description: str
    params: dict[str, str | None]  # name -> default
    sql: str

    def bind(self, given: Mapping[str, str]) -> dict[str, str]:
        unknown = sorted(set(given) - set(self.params))
        if unknown:
            raise ConfigError(f"query {self.name}: unknown parameter {', '.join(unknown)}; takes {self._signature()}")
        values: dict[str, str] = {}
        for name, default in self.params.items():
            value = given.get(name, default)
            if value is None or value == "":
                raise ConfigError(f"query {self.name}: parameter {name} needs a value (-p {name} VALUE)")
            values[name] = value
        return values

    def _signature(self) -> str:
        return ", ".join(f"{k}={v}" if v else k for k, v in self.params.items()) or "no parameters"


def _parse(name: str, text: str) -> NamedQuery:
    description = ""
    params: dict[str, str | None] = {}
    for line in text.splitlines():
        stripped = line.strip()
        if not stripped.startswith("--"):
            break
        match = _PARAM.match(stripped)
        if match:
            params[match.group(1)] = (match.group(2) or "").strip() or None
        elif not description:
            description = stripped.lstrip("-").strip()
    return NamedQuery(name, description, params, text)


def list_queries() -> list[NamedQuery]:
    folder = resources.files("toxmine.sql").joinpath("queries")
    found = [
        _parse(entry.name[:-4], entry.read_text(encoding="utf-8"))
        for entry in folder.iterdir()
        if entry.name.endswith(".sql")
    ]
    return sorted(found, key=lambda q: q.name)


def load_query(name: str) -> NamedQuery:
    for query in list_queries():
        if query.name == name:
            return query
    known = ", ".join(q.name for q in list_queries())
    raise ConfigError(f"unknown query {name!r}; known: {known}")


def run_sql(
    con: duckdb.DuckDBPyConnection, sql: str, params: Mapping[str, Any] | None = None
) -> tuple[list[str], list[tuple[Any, ...]]]:
    """Column names and rows of a query; SQL errors become ConfigError with DuckDB's message."""
    try:
        cursor = con.execute(sql, dict(params) if params else None)
    except duckdb.Error as exc:
        raise ConfigError(f"SQL error: {str(exc).splitlines()[0]}") from exc
    columns = [d[0] for d in cursor.description or []]
    return columns, cursor.fetchall()


def format_rows(columns: Sequence[str], rows: Sequence[Sequence[Any]], fmt: str = "table", width: int = 60) -> str:
    """Rows as an aligned text table, CSV or JSON lines."""
    if fmt == "csv":
        buffer = io.StringIO()
        writer = csv.writer(buffer, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows(rows)
        return buffer.getvalue()
    if fmt == "json":
        return "".join(json.dumps(dict(zip(columns, row, strict=True)), ensure_ascii=False, default=str) + "\n"
                       for row in rows)  # fmt: skip
    if fmt != "table":
        raise ConfigError(f"unknown output format {fmt!r}")

    def cell(value: Any) -> str:
        text = "" if value is None else (f"{value:.4g}" if isinstance(value, float) else str(value))
        text = " ".join(text.split())
        return text if len(text) <= width else text[: width - 1] + "…"

    cells = [[cell(v) for v in row] for row in rows]
    widths = [max([len(c), *(len(r[i]) for r in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    lines.append(f"({len(rows)} row{'s' if len(rows) != 1 else ''})")
    return "\n".join(lines) + "\n"
