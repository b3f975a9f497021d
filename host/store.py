"""Where harvested readings live: SQLite by default (a file), PostgreSQL through a URL.

Versioned migrations bring any database to the current schema at open. Writes are
idempotent (profile rows and events are keyed by meter, time and column, and inserting
one twice stores nothing), and each meter's reading is one transaction, so a harvest cut
at any moment leaves the database consistent and the next run resumes after the newest
stored row. Times are seconds since 1970-01-01 UTC.
"""

import contextlib
import hashlib
import sqlite3
import time
import urllib.parse

# (version, statements); {pk} is the dialect's auto-numbered primary key.
MIGRATIONS = (
    (1, (
        """CREATE TABLE meters (device_id TEXT PRIMARY KEY, serial TEXT NOT NULL, host TEXT NOT NULL,
           port INTEGER NOT NULL, protocol TEXT NOT NULL, timezone TEXT NOT NULL, last_read BIGINT)""",
        "CREATE TABLE harvests (id {pk}, started_at BIGINT NOT NULL, finished_at BIGINT, meters INTEGER, "
        "failed INTEGER)",
        """CREATE TABLE readings (harvest_id BIGINT NOT NULL, device_id TEXT NOT NULL, read_at BIGINT NOT NULL,
           ok INTEGER NOT NULL, error TEXT, clock_drift_s BIGINT, attempts INTEGER NOT NULL, new_rows INTEGER,
           PRIMARY KEY (harvest_id, device_id))""",
        """CREATE TABLE register_values (device_id TEXT NOT NULL, read_at BIGINT NOT NULL, obis TEXT NOT NULL,
           value DOUBLE PRECISION, text TEXT, PRIMARY KEY (device_id, read_at, obis))""",
        """CREATE TABLE profile_values (device_id TEXT NOT NULL, profile TEXT NOT NULL, captured_at BIGINT NOT NULL,
           obis TEXT NOT NULL, value DOUBLE PRECISION NOT NULL, PRIMARY KEY (device_id, profile, captured_at, obis))""",
        """CREATE TABLE events (device_id TEXT NOT NULL, occurred_at BIGINT NOT NULL, code INTEGER NOT NULL,
           PRIMARY KEY (device_id, occurred_at, code))""",
    )),
    (2, (
        # the newest credit and relay state per meter, what a head-end's dashboard asks first
        """CREATE VIEW meter_status AS
           SELECT r.device_id, r.read_at,
                  MAX(CASE WHEN r.obis = '0.0.19.10.0.255' THEN r.value END) AS credit_wh,
                  MAX(CASE WHEN r.obis = '0.0.96.3.10.255' THEN r.value END) AS relay_closed
           FROM register_values r
           JOIN (SELECT device_id, MAX(read_at) AS read_at FROM register_values GROUP BY device_id) latest
             ON latest.device_id = r.device_id AND latest.read_at = r.read_at
           GROUP BY r.device_id, r.read_at""",
    )),
    (3, (
        # who is supplied through which meter: the customer register (host/customers.py)
        """CREATE TABLE customers (customer_id TEXT PRIMARY KEY, name TEXT NOT NULL, device_id TEXT, email TEXT,
           phone TEXT, address TEXT, comuna TEXT, provincia TEXT, region TEXT, building TEXT, unit TEXT,
           client_number TEXT, distributor TEXT, tariff TEXT, connected_kw DOUBLE PRECISION,
           smart INTEGER NOT NULL, shared INTEGER NOT NULL, bill_access INTEGER NOT NULL, updated_at BIGINT)""",
        # what each customer was charged (a billing system's export, or the vending console's sales);
        # money in cents of the currency, never in floating point
        """CREATE TABLE charges (customer_id TEXT NOT NULL, document TEXT NOT NULL, billed_at BIGINT NOT NULL,
           amount_cents BIGINT NOT NULL, currency TEXT NOT NULL, kwh DOUBLE PRECISION,
           PRIMARY KEY (customer_id, document))""",
        # the maximum and sum of every complete month of an AMM channel, as its mapping stood: Direct@mm's
        # checks compare a month with the six before it, and this spares reading seven months each time
        """CREATE TABLE smec_months (channel INTEGER NOT NULL, month TEXT NOT NULL, device_id TEXT NOT NULL,
           quantity TEXT NOT NULL, multiplier DOUBLE PRECISION NOT NULL, maximum DOUBLE PRECISION NOT NULL,
           total DOUBLE PRECISION NOT NULL, PRIMARY KEY (channel, month))""",
    )),
    (4, (
        # the SEC feed (host/sec.py): each batch delivered, and the digest of every record SEC holds,
        # against which the next delta is computed
        """CREATE TABLE sec_batches (id BIGINT PRIMARY KEY, kind TEXT NOT NULL, as_of TEXT NOT NULL,
           distributor TEXT NOT NULL, created_at BIGINT NOT NULL, inserts INTEGER NOT NULL, updates INTEGER NOT NULL,
           deletes INTEGER NOT NULL, destination TEXT NOT NULL)""",
        "CREATE TABLE sec_records (record_key TEXT PRIMARY KEY, digest TEXT NOT NULL, batch BIGINT NOT NULL)",
    )),
    (5, (
        # the vending console (host/console/): its accounts, settings (product, licence, seller), invoices;
        # a customer's meter for tokens and the account that registered the customer
        """CREATE TABLE console_users (id {pk}, email TEXT NOT NULL UNIQUE, name TEXT NOT NULL,
           role TEXT NOT NULL CHECK (role IN ('admin', 'vendor')), password_hash TEXT NOT NULL,
           failed_logins INTEGER NOT NULL DEFAULT 0, locked_until BIGINT NOT NULL DEFAULT 0,
           created_at BIGINT NOT NULL)""",
        "CREATE TABLE console_settings (name TEXT PRIMARY KEY, value TEXT NOT NULL)",
        """CREATE TABLE invoices (number BIGINT PRIMARY KEY, customer_id TEXT NOT NULL, vendor_id BIGINT NOT NULL,
           issued_at BIGINT NOT NULL, description TEXT NOT NULL, price_cents BIGINT NOT NULL, vat_bp INTEGER NOT NULL,
           currency TEXT NOT NULL, total_cents BIGINT NOT NULL, vat_cents BIGINT NOT NULL,
           kwh_tenths BIGINT NOT NULL, meter_pan TEXT NOT NULL, token TEXT NOT NULL)""",
        "CREATE INDEX invoices_by_date ON invoices (issued_at)",
        "ALTER TABLE customers ADD COLUMN meter_pan TEXT",
        "ALTER TABLE customers ADD COLUMN owner_id BIGINT",
    )),
    (6, (
        # the console's sessions: the SHA-256 of the cookie's random id, so the table does not hold live cookies
        """CREATE TABLE console_sessions (id TEXT PRIMARY KEY, user_id BIGINT NOT NULL, csrf TEXT NOT NULL,
           created_at BIGINT NOT NULL, seen_at BIGINT NOT NULL)""",
        "CREATE INDEX console_sessions_by_user ON console_sessions (user_id)",
        # failed logins per account name, client address or known browser; times in milliseconds
        """CREATE TABLE console_throttle (name TEXT PRIMARY KEY, failures INTEGER NOT NULL,
           last_at BIGINT NOT NULL)""",
        # an account an administrator locked (failed logins no longer lock one: console_throttle slows them)
        "ALTER TABLE console_users ADD COLUMN locked INTEGER NOT NULL DEFAULT 0",
        # the recharge form's one-time key: a form sent twice finds the first sale (NULL for older invoices)
        "ALTER TABLE invoices ADD COLUMN sale_key TEXT",
        "CREATE UNIQUE INDEX invoices_by_sale_key ON invoices (sale_key)",
        # whom a vendor has sold to (who sees which customers)
        "CREATE INDEX invoices_by_vendor ON invoices (vendor_id, customer_id)",
    )),
)
_ROWS_PER_STATEMENT = 400


class StoreError(ValueError):
    pass


class Store:
    def __init__(self, connection, dialect: str):
        self.db = connection
        self.dialect = dialect  # "sqlite" or "postgresql"
        self._migrate()

    @classmethod
    def open(cls, url: str) -> "Store":
        """`sqlite:///path`, a plain path, or `postgresql://user:password@host:port/database`."""
        if url.startswith("postgresql://") or url.startswith("postgres://"):
            import pg8000.dbapi

            parts = urllib.parse.urlsplit(url)
            try:
                connection = pg8000.dbapi.connect(user=parts.username or "postgres", password=parts.password,
                                                  host=parts.hostname or "127.0.0.1", port=parts.port or 5432,
                                                  database=parts.path.lstrip("/") or "postgres", timeout=10)
            except Exception as exc:
                raise StoreError("--db: cannot connect to PostgreSQL at %s: %s" % (parts.hostname, exc)) from None
            return cls(connection, "postgresql")
        path = url[len("sqlite:///"):] if url.startswith("sqlite:///") else url
        if "://" in path:
            raise StoreError("--db: use a file path, sqlite:///PATH or postgresql://..., got %r" % url)
        connection = sqlite3.connect(path, timeout=30)
        connection.execute("PRAGMA journal_mode=WAL")
        return cls(connection, "sqlite")

    def _sql(self, text: str) -> str:
        return text.replace("?", "%s") if self.dialect == "postgresql" else text

    def execute(self, text: str, params=()):
        cursor = self.db.cursor()
        cursor.execute(self._sql(text), params)
        return cursor

    def query(self, text: str, params=()) -> list:
        return [tuple(row) for row in self.execute(text, params).fetchall()]

    def _migrate(self) -> None:
        pk = "BIGSERIAL PRIMARY KEY" if self.dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
        self.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")
        rows = self.query("SELECT MAX(version) FROM schema_version")
        current = rows[0][0] or 0
        for version, statements in MIGRATIONS:
            if version <= current:
                continue
            for statement in statements:
                self.execute(statement.replace("{pk}", pk))
            self.execute("INSERT INTO schema_version (version) VALUES (?)", (version,))
            self.db.commit()
        self.db.commit()

    @property
    def version(self) -> int:
        return self.query("SELECT MAX(version) FROM schema_version")[0][0]

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

    # --- a harvest -----------------------------------------------------------------------

    def begin_harvest(self, meters: int) -> int:
        now = int(time.time())
        if self.dialect == "postgresql":
            harvest_id = self.query("INSERT INTO harvests (started_at, meters) VALUES (?, ?) RETURNING id",
                                    (now, meters))[0][0]
        else:
            harvest_id = self.execute("INSERT INTO harvests (started_at, meters) VALUES (?, ?)", (now, meters)).lastrowid
        self.db.commit()
        return harvest_id

    def end_harvest(self, harvest_id: int, failed: int) -> None:
        self.execute("UPDATE harvests SET finished_at = ?, failed = ? WHERE id = ?", (int(time.time()), failed,
                                                                                     harvest_id))
        self.db.commit()

    def newest(self, device_id: str, profile: str) -> int:
        """Time of the newest stored row of a profile (or event), 0 when none: where to resume."""
        if profile == "events":
            rows = self.query("SELECT MAX(occurred_at) FROM events WHERE device_id = ?", (device_id,))
        else:
            rows = self.query("SELECT MAX(captured_at) FROM profile_values WHERE device_id = ? AND profile = ?",
                              (device_id, profile))
        return rows[0][0] or 0

    def save(self, harvest_id: int, meter, reading) -> int:
        """One meter's reading in one transaction; the number of new profile rows and events."""
        with self.transaction():
            self.execute("""INSERT INTO meters (device_id, serial, host, port, protocol, timezone, last_read)
                            VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET
                            serial = excluded.serial, host = excluded.host, port = excluded.port,
                            protocol = excluded.protocol, timezone = excluded.timezone,
                            last_read = excluded.last_read""",
                         (meter.device_id, meter.serial, meter.host, meter.port, meter.protocol, meter.timezone,
                          reading.read_at if reading.ok else None))
            new = 0
            if reading.ok:
                registers = [(meter.device_id, reading.read_at, obis, None if isinstance(v, str) else float(v),
                              v if isinstance(v, str) else None) for obis, v in reading.registers.items()]
                self.insert_ignore("register_values", ("device_id", "read_at", "obis", "value", "text"), registers)
                for profile, columns, rows in reading.profiles:
                    values = [(meter.device_id, profile, row[0], obis, float(value))
                              for row in rows for obis, value in zip(columns, row[1:])]
                    new += self.insert_ignore("profile_values", ("device_id", "profile", "captured_at", "obis",
                                                                  "value"), values) // max(1, len(columns))
                new += self.insert_ignore("events", ("device_id", "occurred_at", "code"),
                                           [(meter.device_id, t, code) for t, code in reading.events])
            self.execute("""INSERT INTO readings (harvest_id, device_id, read_at, ok, error, clock_drift_s, attempts,
                            new_rows) VALUES (?, ?, ?, ?, ?, ?, ?, ?)""",
                         (harvest_id, meter.device_id, reading.read_at, 1 if reading.ok else 0, reading.error,
                          reading.clock_drift_s, reading.attempts, new))
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

    def __enter__(self) -> "Store":
        return self

    def __exit__(self, *_) -> None:
        self.close()
