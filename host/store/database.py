"""One connection to SQLite (a file) or PostgreSQL (a URL), spoken in the SQL both understand.

Statements are written once, with `?` parameters (pg8000 takes `%s`: swapped here) and
ON CONFLICT, which both dialects know. transaction() commits what is written inside together
or not at all; exclusive() also keeps every other connection out of it until it ends.
"""

import contextlib
import hashlib
import sqlite3
import urllib.parse

_ROWS_PER_STATEMENT = 400  # rows of one multi-row INSERT: under SQLite's limit on parameters


class StoreError(ValueError):
    pass


class AlreadyStored(StoreError):
    """A unique index refused the row (a dict of its columns, when the caller wants to say which)."""

    def __init__(self, row: dict | None = None):
        super().__init__("a unique index refused the row")
        self.row = row


def connect(url: str) -> tuple:
    """(connection, dialect) of `sqlite:///path`, a plain path, or `postgresql://user:password@host:port/database`."""
    if url.startswith("postgresql://") or url.startswith("postgres://"):
        import pg8000.dbapi

        parts = urllib.parse.urlsplit(url)
        try:
            connection = pg8000.dbapi.connect(user=parts.username or "postgres", password=parts.password,
                                              host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                                              database=parts.path.lstrip("/") or "postgres", timeout=10)
        except Exception as exc:
            raise StoreError("--db: cannot connect to PostgreSQL at %s: %s" % (parts.hostname, exc)) from None
        return connection, "postgresql"
    path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
    if "://" in path:
        raise StoreError("--db: use a file path, sqlite:///PATH or postgresql://..., got %r" % url)
    try:
        connection = sqlite3.connect(path, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
    except sqlite3.Error as exc:  # a folder that does not exist, a file that is not a database...
        raise StoreError("--db: cannot open the SQLite database %s: %s" % (path, exc)) from None
    return connection, "sqlite"


def rows_window(limit: int | None, offset: int = 0) -> str:
    """The LIMIT/OFFSET clause of `limit` rows from `offset` on; limit None: every row (a feed, not a page: SQLite
    has no OFFSET without a LIMIT, PostgreSQL no LIMIT -1)."""
    if limit is None:
        if offset:
            raise ValueError("offset: only with a limit")
        return ""
    return "LIMIT %d OFFSET %d" % (int(limit), int(offset))


def unique_violation(exc: Exception) -> bool:
    """SQLite's IntegrityError, or PostgreSQL's unique_violation (SQLSTATE 23505) as pg8000 reports it."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    detail = exc.args[0] if exc.args else None
    return isinstance(detail, dict) and detail.get("C") == "23505"


class Database:
    def __init__(self, connection, dialect: str):
        self.db = connection
        self.dialect = dialect  # "sqlite" or "postgresql"

    @classmethod
    def open(cls, url: str):
        return cls(*connect(url))

    @property
    def auto_key(self) -> str:
        """The dialect's auto-numbered primary key."""
        return "BIGSERIAL PRIMARY KEY" if self.dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.dialect == "postgresql" else text

    def execute(self, text: str, params=()):
        cursor = self.db.cursor()
        cursor.execute(self._sql(text), params)
        return cursor

    def query(self, text: str, params=()) -> list:
        return [tuple(row) for row in self.execute(text, params).fetchall()]

    def dicts(self, text: str, params=()) -> list:
        """The rows as dicts by column name."""
        cursor = self.execute(text, params)
        names = [d[0] for d in cursor.description]
        return [dict(zip(names, row)) for row in cursor.fetchall()]

    def insert_ignore(self, table: str, columns: tuple, rows: list) -> int:
        """Insert rows, skipping those already stored; how many were new."""
        new = 0
        for start in range(0, len(rows), _ROWS_PER_STATEMENT):
            chunk = rows[start:start + _ROWS_PER_STATEMENT]
            marks = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * len(chunk))
            cursor = self.execute("INSERT INTO %s (%s) VALUES %s ON CONFLICT DO NOTHING" % (
                table, ", ".join(columns), marks), [v for row in chunk for v in row])
            new += cursor.rowcount if cursor.rowcount and cursor.rowcount > 0 else 0
        return new

    @contextlib.contextmanager
    def transaction(self):
        """What is written inside commits together, or not at all."""
        try:
            yield self
            self.db.commit()
        except BaseException:
            self.db.rollback()
            raise

    @contextlib.contextmanager
    def exclusive(self, name: str):
        """A transaction that no other connection holding `name` runs at the same time, in this process or another:
        the second waits for the first to commit. SQLite takes its database's write lock at the start (BEGIN
        IMMEDIATE); PostgreSQL an advisory lock on `name` held until the transaction ends."""
        self.db.commit()  # ends any implicit transaction, so the lock starts this one
        if self.dialect == "postgresql":
            key = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big", signed=True)
            self.execute("SELECT pg_advisory_xact_lock(?)", (key,))
        else:
            self.execute("BEGIN IMMEDIATE")
        with self.transaction():
            yield self

    def close(self) -> None:
        self.db.close()

    def __enter__(self):
        return self

    def __exit__(self, *_) -> None:
        self.close()
