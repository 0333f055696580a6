"""One door to the database: only the modules that own tables hold SQL.

Every package module is scanned for calls that run SQL on a connection (`.execute(`, `.executemany(`,
`.sql(`) and for SQL statements written in string literals (docstrings aside). The modules found must be
exactly the allow-list below: a new module with its own SQL fails (move the SQL into the owner of its
tables), and so does a listed module that holds none any more (drop it from the list).
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("miner", "evaluate", "toxmine")

OWNERS = {
    "miner/tables.py": "every Arrow-declared table's schema and the one `insert`",
    "miner/corpus_reads.py": "reads of prompts, sources, documents to score and languages (split, CLI, report)",
    "evaluate/eval_tables.py": "eval_runs, generations, eval_metrics, templates, judgements, safety_metrics",
    "miner/scoring_tables.py": "scores, prompts, scored_docs, scored_files: the scoring stage's reads and commits",
    "miner/queries.py": "the user's own SQL: `toxmine sql`, `toxmine query` and the named queries",
}
# The mining, storage and scoring internals (and the prompt-set imports), still holding their own SQL:
# they are being reworked apart from this change (issue 12) and move behind their tables' owners next.
INTERNALS = {
    "miner/store.py": "migrations, runs, sources, drops, settings, commits of mined inputs",
    "miner/layout.py": "tables or views over the Parquet task files",
    "miner/mine.py": "the mining report's counts",
    "miner/neardup.py": "the distributed near-dedup decision over band files",
    "miner/units.py": "work units' documents and dedup decisions",
    "miner/stored_bands.py": "band files of stored documents",
    "miner/task_files.py": "writing task files whole",
    "miner/score_units.py": "scoring stored units on Ray",
    "evaluate/imports.py": "imported prompt sets (imports table)",
}

_RUNS_SQL = frozenset({"execute", "executemany", "sql"})
_STATEMENT = re.compile(
    r"\b(SELECT\b.*\bFROM|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|"
    r"CREATE\s+(OR\s+REPLACE\s+)?(TEMP\w*\s+)?(TABLE|VIEW)|ALTER\s+TABLE|DROP\s+(TABLE|VIEW))\b",
    re.DOTALL,
)


def sql_uses(source: str) -> list[str]:
    """What in `source` runs SQL on a connection or writes an SQL statement (docstrings aside)."""
    tree = ast.parse(source)
    docstrings = {
        id(statement.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        for statement in node.body
        if isinstance(statement, ast.Expr) and isinstance(statement.value, ast.Constant)
    }
    found: list[tuple[int, str]] = []
    in_fstrings: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute) and node.func.attr in _RUNS_SQL:
            found.append((node.lineno, f".{node.func.attr}("))
        elif isinstance(node, ast.JoinedStr):
            in_fstrings.update(id(part) for part in node.values)
            text = "".join(p.value if isinstance(p, ast.Constant) else "{}" for p in node.values)
            if _STATEMENT.search(text):
                found.append((node.lineno, "SQL text"))
    skipped = docstrings | in_fstrings
    for node in ast.walk(tree):
        literal = isinstance(node, ast.Constant) and isinstance(node.value, str)
        if literal and id(node) not in skipped and _STATEMENT.search(node.value):
            found.append((node.lineno, "SQL text"))
    return [f"line {line}: {what}" for line, what in sorted(found)]


def _modules_with_sql() -> dict[str, list[str]]:
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            uses = sql_uses(path.read_text(encoding="utf-8"))
            if uses:
                found[path.relative_to(ROOT).as_posix()] = uses
    return found


def test_only_the_table_owners_and_listed_internals_hold_sql() -> None:
    found = _modules_with_sql()
    allowed = set(OWNERS) | set(INTERNALS)
    strays = {module: uses for module, uses in found.items() if module not in allowed}
    assert not strays, f"SQL outside the tables' owner modules (move it into {', '.join(OWNERS)}): {strays}"
    stale = sorted(allowed - set(found))
    assert not stale, f"allow-listed but holding no SQL any more, drop from the list: {stale}"


def test_the_scan_finds_calls_and_statements_but_not_docstrings() -> None:
    assert sql_uses('def f(store):\n    """SELECT x FROM y, as the docs say."""\n    return store.settings()\n') == []
    assert sql_uses("def f(store):\n    store.con.execute('SELECT 1')\n") == ["line 2: .execute("]
    assert sql_uses("def f(con, rows):\n    con.sql('FROM t').to_arrow_table()\n") == ["line 2: .sql("]
    assert sql_uses("def f(a):\n    return f'SELECT {a} FROM prompts'\n") == ["line 2: SQL text"]
    assert sql_uses("Q = ('DELETE '\n     'FROM eval_metrics WHERE eval_run_id = ?')\n") == ["line 1: SQL text"]
    assert sql_uses("MESSAGE = 'select the prompts from a split'\n") == []


def test_the_owner_modules_own_what_the_callers_read() -> None:
    """The modules the reads left hold none of their SQL (a spot check of the scan's verdict)."""
    for module in ("evaluate/run.py", "evaluate/report.py", "evaluate/safety.py", "evaluate/judging.py",
                   "evaluate/templates.py", "miner/split.py", "toxmine/cli.py"):  # fmt: skip
        assert sql_uses((ROOT / module).read_text(encoding="utf-8")) == [], module
