"""The store owns every SQL statement and every transaction (host/store/): no other host module writes SQL,
executes a statement, commits, rolls back, opens a transaction or imports a database driver; they ask the
store by name (store.charges_between(...), registry's store.selling(...)) instead.

Parsed with ast: docstrings may describe SQL (prose), comments are not seen, and a commit() with arguments
(a token decoder's) is no database's."""

import ast
import pathlib
import re

from tests.host.source_scan import docstring_nodes

ROOT = pathlib.Path(__file__).resolve().parents[2]
STORE = ROOT / "host" / "store"
# Statements as this code base writes them: upper-case keywords.
SQL = re.compile(r"\b(SELECT|INSERT\s+INTO|UPDATE\s+\w+\s+SET|DELETE\s+FROM|CREATE\s+(UNIQUE\s+)?(TABLE|INDEX|VIEW)|"
                 r"ALTER\s+TABLE|DROP\s+(TABLE|INDEX|VIEW)|BEGIN\s+(IMMEDIATE|EXCLUSIVE|TRANSACTION)|PRAGMA|"
                 r"ON\s+CONFLICT)\b")
DATABASE_CALLS = {"execute", "executemany", "executescript", "query", "dicts", "insert_ignore", "cursor",
                  "transaction", "exclusive"}
DATABASE_ENDINGS = {"commit", "rollback"}  # DB-API: without arguments
DRIVERS = {"sqlite3", "pg8000"}


def database_work(source: str, name: str) -> list:
    """"name:line what" of every SQL statement, database call and driver import in Python source."""
    tree = ast.parse(source, name)
    prose = docstring_nodes(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in prose:
            if SQL.search(node.value):
                found.append("%s:%d SQL %r" % (name, node.lineno, node.value[:60]))
        elif isinstance(node, ast.Call):
            called = getattr(node.func, "attr", getattr(node.func, "id", ""))
            if called in DATABASE_CALLS or (called in DATABASE_ENDINGS and not node.args and not node.keywords):
                found.append("%s:%d %s()" % (name, node.lineno, called))
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            modules = [alias.name for alias in node.names] if isinstance(node, ast.Import) else [node.module or ""]
            if any(module.split(".")[0] in DRIVERS for module in modules):
                found.append("%s:%d import %s" % (name, node.lineno, ", ".join(modules)))
    return found


def test_no_host_module_outside_the_store_speaks_sql():
    found = []
    for path in sorted((ROOT / "host").rglob("*.py")):
        if STORE not in path.parents:
            found += database_work(path.read_text(encoding="utf-8"), path.relative_to(ROOT).as_posix())
    assert not found, "ask the store (host/store/) by name instead:\n" + "\n".join(found)


def test_the_check_sees_statements_calls_and_drivers():
    probe = '''"""A docstring may say SELECT ... FOR UPDATE."""
import sqlite3
from pg8000 import dbapi
ROWS = "SELECT x FROM t WHERE y = ?"
LOCK = "BEGIN IMMEDIATE"
UPSERT = f"INSERT INTO {table} (a) VALUES (?) ON CONFLICT (a) DO NOTHING"
help_text = "Select the meter from the list"  # prose, not a statement
store.execute(ROWS)
store.db.commit()
connection.rollback()
with store.transaction():
    pass
decoder.commit(result)  # a token decoder's commit
'''
    lines = sorted({int(entry.split(" ", 1)[0].split(":")[1]) for entry in database_work(probe, "probe.py")})
    assert lines == [2, 3, 4, 5, 6, 8, 9, 10, 11], database_work(probe, "probe.py")


def test_the_store_is_where_the_sql_is():
    """The check is not blind: it finds the statements and transactions of each of the store's domain modules."""
    for module in ("console", "customers", "exports", "harvests", "registry", "schema"):
        assert database_work((STORE / (module + ".py")).read_text(encoding="utf-8"), module), module
