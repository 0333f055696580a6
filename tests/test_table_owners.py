"""One door to the database: only the modules that own tables hold SQL on it (besides them, only
tasks' SQL on private connections over Parquet files, and the layout's DDL).

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
    "miner/store.py": "migrations, runs, sources, drops, settings, band_files; mined inputs' commits and rows",
    "miner/tables.py": "every Arrow-declared table's schema and the one `insert`",
    "miner/corpus_reads.py": "reads of prompts, sources, documents, languages and a mining run's counts",
    "miner/scoring_tables.py": "scores, prompts, scored_docs, scored_files: the scoring stage's reads and commits",
    "evaluate/eval_tables.py": "eval_runs, generations, eval_metrics, templates, judgements, safety_metrics",
    "evaluate/import_tables.py": "imports (the prompt-set files imported)",
    "miner/queries.py": "the user's own SQL: `toxmine sql`, `toxmine query` and the named queries",
    "miner/band_segments.py": "band_segments and band_compacted (merged key files), and its tasks' SQL over them",
}
# Task-private SQL over files: each runs on a connection of its own (an in-memory DuckDB of a task,
# or of a scorer's private score cache) over the Parquet files of tasks, never on the database.
TASK_PRIVATE = {
    "miner/task_files.py": "task connections (spill folder) and writing a query's rows to Parquet whole",
    "miner/neardup.py": "the distributed near-dedup decision's stages over band and edge files",
    "miner/units.py": "finalizing a work unit: its documents joined with the dedup decisions",
    "miner/score_units.py": "a scoring task's documents read from its unit's Parquet file",
    "miner/select_records.py": "merging a selection's part files into its output, out of core",
}
# The layout's DDL: the database's bulk tables become views over Parquet (its reads and writes of
# band_files, scored_files, documents and settings go through their owners above).
LAYOUT_DDL = {
    "miner/layout.py": "tables turned into views over the Parquet files of mined and scored units",
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


def test_only_the_table_owners_task_private_sql_and_the_layout_hold_sql() -> None:
    found = _modules_with_sql()
    allowed = set(OWNERS) | set(TASK_PRIVATE) | set(LAYOUT_DDL)
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
                   "evaluate/templates.py", "miner/split.py", "toxmine/cli.py", "evaluate/imports.py",
                   "miner/mine.py", "miner/stored_bands.py", "miner/score_stage.py"):  # fmt: skip
        assert sql_uses((ROOT / module).read_text(encoding="utf-8")) == [], module
