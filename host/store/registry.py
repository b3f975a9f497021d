"""The meter registry's database (a file or URL of its own): meters, and every token issued for them.

A sale is one transaction that first takes the meter's row for writing (SQLite: BEGIN IMMEDIATE,
the database's write lock, before anything is read; PostgreSQL: SELECT ... FOR UPDATE on the
meter), so concurrent vendors wait their turn and read the last TID or OpenPAYGO count only once
the sale before theirs is committed. Underneath, unique indexes refuse a second row at a meter's
TID (per base-date epoch: a rollover starts the TIDs again) or at its OpenPAYGO count. Reads
outside a sale end their transaction at once, so nothing is held between sales.
"""

import contextlib
import functools
import json
import sqlite3

from opsm.host.store.database import AlreadyStored, Database, StoreError, connect, unique_violation

# Version 1 is the schema registries had before they were versioned: IF NOT EXISTS adopts those files.
# {pk} is the dialect's auto-numbered primary key.
_V1 = (
    """CREATE TABLE IF NOT EXISTS meters (
        pan          TEXT PRIMARY KEY,
        profile      TEXT NOT NULL CHECK (profile IN ('sts', 'openpaygo')),
        dkga         TEXT CHECK (dkga IN ('02', '04')),
        ea           INTEGER CHECK (ea IN (9, 11)),
        sgc          TEXT,
        ti           INTEGER,
        krn          INTEGER,
        kt           INTEGER,
        ken          INTEGER NOT NULL DEFAULT 255,
        base_year    INTEGER,
        vending_key  TEXT NOT NULL,   -- STS: the vending key; OpenPAYGO: the device's secret key
        last_tid     INTEGER NOT NULL DEFAULT -1,
        opaygo_count INTEGER NOT NULL DEFAULT 0,
        opaygo_extended   INTEGER NOT NULL DEFAULT 0,
        opaygo_restricted INTEGER NOT NULL DEFAULT 0,
        created_at   TEXT NOT NULL,
        CHECK (profile = 'openpaygo' OR (dkga IS NOT NULL AND ea IS NOT NULL AND sgc IS NOT NULL
               AND ti IS NOT NULL AND krn IS NOT NULL AND kt IS NOT NULL AND base_year IS NOT NULL)))""",
    """CREATE TABLE IF NOT EXISTS tokens (
        id           {pk},
        pan          TEXT NOT NULL REFERENCES meters(pan),
        kind         TEXT NOT NULL,
        token        TEXT NOT NULL,
        tid          INTEGER,
        amount_tenths INTEGER,
        details      TEXT NOT NULL DEFAULT '{}',
        operator     TEXT NOT NULL,
        issued_at    TEXT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS tokens_by_meter ON tokens (pan, issued_at)",
)
METER_FIELDS = ("pan", "profile", "dkga", "ea", "sgc", "ti", "krn", "kt", "ken", "base_year",
                "vending_key", "last_tid", "opaygo_count", "opaygo_extended", "opaygo_restricted",
                "created_at", "tid_epoch")
_TOKEN_FIELDS = ("pan", "kind", "token", "tid", "tid_epoch", "opaygo_count", "amount_tenths", "details", "operator",
                 "issued_at")
_SHOWN_DUPLICATES = 10
_MIGRATION_LOCK = 0x6F70736D  # PostgreSQL advisory lock serialising registry migrations ("opsm")


class Unopened(StoreError):
    """SQLite could not open the file (the reason is the message)."""


class Busy(StoreError):
    """Another writer kept the registry locked past the wait (SQLite's message)."""


class DuplicateSales(StoreError):
    """An older registry holds codes sold more than once, so it cannot take the unique indexes; nothing was
    changed. `shown`: (pan, "tid" or "count", the TID or count, times recorded, token row ids) of the first
    ten; `count`: how many there are."""

    def __init__(self, shown: list, count: int):
        super().__init__("codes sold more than once")
        self.shown, self.count = shown, count


class RegistryStore(Database):
    def __init__(self, connection, dialect: str):
        super().__init__(connection, dialect)
        self._writing = False

    @classmethod
    def open(cls, url: str, sale_count) -> "RegistryStore":
        """The registry at `url`, brought to the newest schema. sale_count(profile, details) is the OpenPAYGO
        count a recorded token was sold at (None for a code without one): version 2 fills it in."""
        try:
            store = cls(*connect(url))
        except sqlite3.Error as exc:
            raise Unopened(str(exc)) from None
        try:
            if store.dialect == "sqlite":
                store.execute("PRAGMA foreign_keys = ON")
            store._migrate(sale_count)
        except BaseException:
            store.close()
            raise
        return store

    def _rows(self, text: str, params=()) -> list:
        rows = self.dicts(text, params)
        if not self._writing:
            self.db.commit()  # PostgreSQL opened a transaction to read: end it, hold nothing between sales
        return rows

    @contextlib.contextmanager
    def _write(self):
        """One transaction that holds the write lock from its first statement (joins one already open)."""
        if self._writing:
            yield
            return
        try:
            if self.dialect == "sqlite":
                self.execute("BEGIN IMMEDIATE")  # waits (the connection's busy timeout: 30 s) for other writers
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            raise Busy(str(exc)) from None
        self._writing = True
        try:
            with self.transaction():
                yield
        finally:
            self._writing = False

    # --- the schema ----------------------------------------------------------------------

    def _version(self) -> int:
        if self.dialect == "postgresql":
            found = "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND " \
                    "table_name = 'registry_version'"
        else:
            found = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'registry_version'"
        if not self._rows(found)[0]["n"]:
            return 0
        return self._rows("SELECT MAX(version) AS v FROM registry_version")[0]["v"] or 0

    def _migrate(self, sale_count) -> None:
        """Bring the database to the newest version, under the write lock; a current one is only read."""
        steps = ((1, self._adopt), (2, functools.partial(self._unique_sales, sale_count)))
        if self._version() >= steps[-1][0]:
            return
        with self._write():
            if self.dialect == "postgresql":
                self.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            self.execute("CREATE TABLE IF NOT EXISTS registry_version (version INTEGER NOT NULL)")
            current = self._version()  # another process may have migrated while this one waited
            for version, step in steps:
                if version > current:
                    step()
                    self.execute("INSERT INTO registry_version (version) VALUES (?)", (version,))

    def _adopt(self) -> None:
        """Version 1."""
        for statement in _V1:
            self.execute(statement.replace("{pk}", self.auto_key))

    def _unique_sales(self, sale_count) -> None:
        """Version 2: one row per meter and TID (per base-date epoch), one per meter and OpenPAYGO count."""
        for statement in ("ALTER TABLE meters ADD COLUMN tid_epoch INTEGER NOT NULL DEFAULT 0",
                          "ALTER TABLE tokens ADD COLUMN tid_epoch INTEGER NOT NULL DEFAULT 0",
                          "ALTER TABLE tokens ADD COLUMN opaygo_count INTEGER"):
            self.execute(statement)
        # The epoch of a TID is the number of base-date rollovers its meter had gone through when it was issued.
        rollovers: dict = {}
        for row in self._rows("SELECT id, pan, details FROM tokens WHERE kind = 'key-change' ORDER BY id"):
            if json.loads(row["details"]).get("rollover"):
                rollovers.setdefault(row["pan"], []).append(row["id"])
        for pan, ids in rollovers.items():
            for epoch, (first, end) in enumerate(zip(ids, ids[1:] + [None]), 1):
                self.execute("UPDATE tokens SET tid_epoch = ? WHERE pan = ? AND id > ?"
                             + (" AND id < ?" if end else ""), (epoch, pan, first) + ((end,) if end else ()))
            self.execute("UPDATE meters SET tid_epoch = ? WHERE pan = ?", (len(ids), pan))
        for row in self._rows("SELECT t.id, t.details, m.profile FROM tokens t JOIN meters m ON m.pan = t.pan"):
            count = sale_count(row["profile"], json.loads(row["details"]))
            if count is not None:
                self.execute("UPDATE tokens SET opaygo_count = ? WHERE id = ?", (count, row["id"]))
        self._refuse_duplicates()
        self.execute("CREATE UNIQUE INDEX tokens_one_per_tid ON tokens (pan, tid_epoch, tid)")
        self.execute("CREATE UNIQUE INDEX tokens_one_per_count ON tokens (pan, opaygo_count)")

    def _refuse_duplicates(self) -> None:
        """Before the unique indexes: DuplicateSales naming every TID or count an older version recorded twice."""
        found = [("tid", r["tid"], "tid_epoch = ? AND tid = ?", (r["tid_epoch"], r["tid"]), r) for r in self._rows(
            "SELECT pan, tid_epoch, tid, COUNT(*) AS n FROM tokens WHERE tid IS NOT NULL "
            "GROUP BY pan, tid_epoch, tid HAVING COUNT(*) > 1 ORDER BY pan, tid_epoch, tid")]
        found += [("count", r["opaygo_count"], "opaygo_count = ?", (r["opaygo_count"],), r) for r in self._rows(
            "SELECT pan, opaygo_count, COUNT(*) AS n FROM tokens WHERE opaygo_count IS NOT NULL "
            "GROUP BY pan, opaygo_count HAVING COUNT(*) > 1 ORDER BY pan, opaygo_count")]
        if found:
            raise DuplicateSales([(r["pan"], kind, number, r["n"], [row["id"] for row in self._rows(
                "SELECT id FROM tokens WHERE pan = ? AND %s ORDER BY id" % where, (r["pan"],) + params)])
                for kind, number, where, params, r in found[:_SHOWN_DUPLICATES]], len(found))

    # --- meters and tokens ---------------------------------------------------------------

    def add_meter(self, row: dict) -> None:
        """A new meter (a dict of METER_FIELDS); AlreadyStored when its PAN is registered."""
        with self._write():
            if self.meter(row["pan"]):
                raise AlreadyStored(row)
            try:
                self.execute("INSERT INTO meters (%s) VALUES (%s)" % (", ".join(METER_FIELDS), ", ".join(
                    "?" * len(METER_FIELDS))), [row[f] for f in METER_FIELDS])
            except Exception as exc:  # PostgreSQL: added by another connection since meter()
                if not unique_violation(exc):
                    raise
                raise AlreadyStored(row) from None

    def meter(self, pan: str) -> dict | None:
        rows = self._rows("SELECT * FROM meters WHERE pan = ?", (pan,))
        return rows[0] if rows else None

    def meters(self) -> list:
        return self._rows("SELECT * FROM meters ORDER BY pan")

    @contextlib.contextmanager
    def selling(self, pan: str):
        """A sale: one transaction holding the meter's row from the moment it is read; yields the meter (None when
        there is none). What is recorded inside commits when the block ends, or not at all if it raises."""
        with self._write():
            rows = self._rows("SELECT * FROM meters WHERE pan = ?" + (" FOR UPDATE" if self.dialect == "postgresql"
                                                                       else ""), (pan,))
            yield rows[0] if rows else None

    def record_sale(self, pan: str, tokens: list, meter_changes: dict) -> None:
        """Tokens (dicts of the tokens table's columns but pan and id) and the meter's new values, in the sale's
        transaction (selling()); AlreadyStored(token) for a token at a TID or count the meter already has."""
        with self._write():
            for token in tokens:
                try:
                    self.execute("INSERT INTO tokens (%s) VALUES (%s)" % (", ".join(_TOKEN_FIELDS), ", ".join(
                        "?" * len(_TOKEN_FIELDS))), [pan] + [token[f] for f in _TOKEN_FIELDS[1:]])
                except Exception as exc:
                    if not unique_violation(exc):
                        raise
                    raise AlreadyStored(token) from None
            if meter_changes:
                names = sorted(meter_changes)
                self.execute("UPDATE meters SET %s WHERE pan = ?" % ", ".join("%s = ?" % n for n in names),
                             [meter_changes[n] for n in names] + [pan])

    def tokens(self, pan: str | None = None) -> list:
        return self._rows("SELECT * FROM tokens" + (" WHERE pan = ?" if pan else "") + " ORDER BY id",
                          (pan,) if pan else ())
