"""Meter registry and the record of every token issued: SQLite (a file) or PostgreSQL (a URL).

No code is sold twice. A sale is one transaction that first takes the meter's row for
writing (SQLite: BEGIN IMMEDIATE, the database's write lock, before anything is read;
PostgreSQL: SELECT ... FOR UPDATE on the meter), then reads the last TID or OpenPAYGO
count, builds the codes, records them and advances the meter. Concurrent vendors wait
their turn, and a code is handed out only once its row is committed. Underneath, unique
indexes refuse a second row at a meter's TID (per base-date epoch: a rollover starts the
TIDs again) or at its OpenPAYGO count.
"""

import contextlib
import datetime
import json
import sqlite3
import urllib.parse

from opsm.host import families
from opsm.host.store import Store
from opsm.host.sts.keys import check_pan

# (version, statements or a function of the registry); {pk} is the dialect's auto-numbered primary key.
# Version 1 is the schema registries had before they were versioned: IF NOT EXISTS adopts those files.
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
_SHOWN_DUPLICATES = 10
_MIGRATION_LOCK = 0x6F70736D  # PostgreSQL advisory lock serialising registry migrations ("opsm")


class RegistryError(ValueError):
    """Bad registry input; the message names the field."""


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _unique_sales(registry: "Registry") -> None:
    """Version 2: one row per meter and TID (per base-date epoch), one per meter and OpenPAYGO count."""
    for statement in ("ALTER TABLE meters ADD COLUMN tid_epoch INTEGER NOT NULL DEFAULT 0",
                      "ALTER TABLE tokens ADD COLUMN tid_epoch INTEGER NOT NULL DEFAULT 0",
                      "ALTER TABLE tokens ADD COLUMN opaygo_count INTEGER"):
        registry._run(statement)
    # The epoch of a TID is the number of base-date rollovers its meter had gone through when it was issued.
    rollovers: dict = {}
    for row in registry._rows("SELECT id, pan, details FROM tokens WHERE kind = 'key-change' ORDER BY id"):
        if json.loads(row["details"]).get("rollover"):
            rollovers.setdefault(row["pan"], []).append(row["id"])
    for pan, ids in rollovers.items():
        for epoch, (first, end) in enumerate(zip(ids, ids[1:] + [None]), 1):
            registry._run("UPDATE tokens SET tid_epoch = ? WHERE pan = ? AND id > ?" + (" AND id < ?" if end else ""),
                          (epoch, pan, first) + ((end,) if end else ()))
        registry._run("UPDATE meters SET tid_epoch = ? WHERE pan = ?", (len(ids), pan))
    for row in registry._rows("SELECT t.id, t.details, m.profile FROM tokens t JOIN meters m ON m.pan = t.pan"):
        count = families.by_name(row["profile"]).sale_count({"details": json.loads(row["details"])})
        if count is not None:
            registry._run("UPDATE tokens SET opaygo_count = ? WHERE id = ?", (count, row["id"]))
    registry._refuse_duplicates()
    registry._run("CREATE UNIQUE INDEX tokens_one_per_tid ON tokens (pan, tid_epoch, tid)")
    registry._run("CREATE UNIQUE INDEX tokens_one_per_count ON tokens (pan, opaygo_count)")


_MIGRATIONS = ((1, _V1), (2, _unique_sales))


class _Connection(Store):
    """host/store.py's connection and dialect layer (paths, sqlite:/// and postgresql:// URLs, `?` parameters,
    transaction()), without the operations database's schema: the registry migrates its own."""

    def __init__(self, connection, dialect: str):
        self.db, self.dialect = connection, dialect


class Registry:
    def __init__(self, path: str):
        """`path`: a SQLite file, sqlite:///PATH, or postgresql://user:password@host:port/database."""
        self.path = _shown(path)
        self._writing = False
        try:
            self.store = _Connection.open(path)
        except sqlite3.Error as exc:
            raise RegistryError("--db: cannot open the registry %s: %s" % (self.path, exc)) from None
        self.db = self.store.db  # the driver's connection (callers close it)
        self.dialect = self.store.dialect
        try:
            if self.dialect == "sqlite":
                self.store.execute("PRAGMA foreign_keys = ON")
            self._migrate()
        except BaseException:
            self.db.close()
            raise

    def close(self) -> None:
        self.db.close()

    # --- the database ------------------------------------------------------------------

    def _run(self, text: str, params=()):
        return self.store.execute(text, params)

    def _rows(self, text: str, params=()) -> list:
        cursor = self.store.execute(text, params)
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, row)) for row in cursor.fetchall()]
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
                self.store.execute("BEGIN IMMEDIATE")  # waits (Store's busy timeout: 30 s) for other writers
        except sqlite3.OperationalError as exc:
            if "locked" not in str(exc):
                raise
            raise RegistryError("registry: %s stayed locked by another writer (%s)" % (self.path, exc)) from None
        self._writing = True
        try:
            with self.store.transaction():
                yield
        finally:
            self._writing = False

    def _version(self) -> int:
        if self.dialect == "postgresql":
            found = "SELECT COUNT(*) AS n FROM information_schema.tables WHERE table_schema = current_schema() AND " \
                    "table_name = 'registry_version'"
        else:
            found = "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name = 'registry_version'"
        if not self._rows(found)[0]["n"]:
            return 0
        return self._rows("SELECT MAX(version) AS v FROM registry_version")[0]["v"] or 0

    def _migrate(self) -> None:
        """Bring the database to the newest version, under the write lock; a current one is only read."""
        if self._version() >= _MIGRATIONS[-1][0]:
            return
        pk = "BIGSERIAL PRIMARY KEY" if self.dialect == "postgresql" else "INTEGER PRIMARY KEY AUTOINCREMENT"
        with self._write():
            if self.dialect == "postgresql":
                self._run("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
            self._run("CREATE TABLE IF NOT EXISTS registry_version (version INTEGER NOT NULL)")
            current = self._version()  # another process may have migrated while this one waited
            for version, step in _MIGRATIONS:
                if version <= current:
                    continue
                if callable(step):
                    step(self)
                else:
                    for statement in step:
                        self._run(statement.replace("{pk}", pk))
                self._run("INSERT INTO registry_version (version) VALUES (?)", (version,))

    def _refuse_duplicates(self) -> None:
        """Before the unique indexes: name every TID or count an older version recorded twice."""
        found = [("TID %d" % r["tid"], "tid_epoch = ? AND tid = ?", (r["tid_epoch"], r["tid"]), r) for r in self._rows(
            "SELECT pan, tid_epoch, tid, COUNT(*) AS n FROM tokens WHERE tid IS NOT NULL "
            "GROUP BY pan, tid_epoch, tid HAVING COUNT(*) > 1 ORDER BY pan, tid_epoch, tid")]
        found += [("count %d" % r["opaygo_count"], "opaygo_count = ?", (r["opaygo_count"],), r) for r in self._rows(
            "SELECT pan, opaygo_count, COUNT(*) AS n FROM tokens WHERE opaygo_count IS NOT NULL "
            "GROUP BY pan, opaygo_count HAVING COUNT(*) > 1 ORDER BY pan, opaygo_count")]
        if found:
            lines = []
            for what, where, params, r in found[:_SHOWN_DUPLICATES]:
                ids = [row["id"] for row in self._rows("SELECT id FROM tokens WHERE pan = ? AND %s ORDER BY id" % where,
                                                       (r["pan"],) + params)]
                lines.append("meter %s has %s recorded %d times (token rows %s)" % (
                    r["pan"], what, r["n"], ", ".join(map(str, ids))))
            if len(found) > _SHOWN_DUPLICATES:
                lines.append("and %d more" % (len(found) - _SHOWN_DUPLICATES))
            raise RegistryError(
                "registry: %s holds codes sold more than once, so it cannot take the constraint that stops this: %s."
                " Nothing was changed. Keep one row per TID or count (move the others to a table of your own) and "
                "open it again." % (self.path, "; ".join(lines)))

    # --- meters --------------------------------------------------------------------------

    def add(self, pan: str, family: "families.Family", vending_key: str, options: dict) -> dict:
        """Register a meter of a family (host/families.py) from the options it takes (it checks them; it
        ignores the others); vending_key names the meter's key in the key file."""
        try:
            fields = family.meter_fields(options)
        except ValueError as exc:
            raise RegistryError(str(exc)) from None
        return self._insert(dict(fields, pan=pan, profile=family.name, vending_key=vending_key))

    def add_meter(self, pan: str, sgc: str, ti: int, krn: int, kt: int, base_year: int,
                  ea: int, dkga: str, vending_key: str, ken: int = 255) -> dict:
        """Register an STS meter."""
        return self.add(pan, families.STS, vending_key, dict(sgc=sgc, ti=ti, krn=krn, kt=kt, ken=ken,
                                                             base_year=base_year, ea=ea, dkga=dkga))

    def add_openpaygo_meter(self, pan: str, secret_key: str, extended: bool = False,
                            restricted: bool = False) -> dict:
        """Register a meter built for OpenPAYGO tokens; secret_key names its key in the key file."""
        return self.add(pan, families.OPENPAYGO, secret_key, dict(extended=extended, restricted=restricted))

    def _insert(self, fields: dict) -> dict:
        check_pan(fields["pan"])
        row = dict.fromkeys(METER_FIELDS)
        row.update(ken=255, last_tid=-1, opaygo_count=0, opaygo_extended=0, opaygo_restricted=0, tid_epoch=0,
                   created_at=utc_now().isoformat(timespec="seconds"))
        row.update(fields)
        taken = RegistryError("pan: meter %s is already registered" % fields["pan"])
        with self._write():
            if self.find_meter(fields["pan"]):
                raise taken
            try:
                self._run("INSERT INTO meters (%s) VALUES (%s)" % (", ".join(METER_FIELDS), ", ".join("?" * len(
                    METER_FIELDS))), [row[f] for f in METER_FIELDS])
            except Exception as exc:  # PostgreSQL: added by another connection since find_meter
                if not _unique_violation(exc):
                    raise
                raise taken from None
        return row

    def find_meter(self, pan: str) -> dict | None:
        rows = self._rows("SELECT * FROM meters WHERE pan = ?", (pan,))
        return rows[0] if rows else None

    def meter(self, pan: str) -> dict:
        row = self.find_meter(pan)
        if row is None:
            raise RegistryError("meter: no meter with PAN %r in %s (run 'opsm meter add')" % (pan, self.path))
        return row

    def meters(self) -> list:
        return self._rows("SELECT * FROM meters ORDER BY pan")

    # --- sales ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def issuing(self, pan: str):
        """A sale: one transaction holding the meter's row from the moment it is read; yields the meter.

        Read last_tid / opaygo_count from the meter yielded, build the codes, record() them inside; they are
        committed together when the block ends, and rolled back (nothing issued) if it raises.
        """
        with self._write():
            rows = self._rows("SELECT * FROM meters WHERE pan = ?" + (" FOR UPDATE" if self.dialect == "postgresql"
                                                                       else ""), (pan,))
            if not rows:
                raise RegistryError("meter: no meter with PAN %r in %s (run 'opsm meter add')" % (pan, self.path))
            yield rows[0]

    def record(self, pan: str, issued: list, operator: str, meter_update: dict | None = None) -> None:
        """Store issued tokens (dicts: kind, token, tid, amount_tenths, details) and move the meter, in one
        transaction (the sale's, inside issuing()). A TID or OpenPAYGO count already recorded for the meter
        raises RegistryError and nothing of the sale is kept."""
        now = utc_now().isoformat(timespec="seconds")
        with self.issuing(pan) as meter:
            family = families.of(meter)
            for item in issued:
                count = family.sale_count(item)
                try:
                    self._run("INSERT INTO tokens (pan, kind, token, tid, tid_epoch, opaygo_count, amount_tenths,"
                              " details, operator, issued_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                              (pan, item["kind"], item["token"], item.get("tid"), meter["tid_epoch"], count,
                               item.get("amount_tenths"), json.dumps(item.get("details", {}), sort_keys=True),
                               operator, now))
                except Exception as exc:
                    if not _unique_violation(exc):
                        raise
                    what = ("tid: meter %s already has TID %d" % (pan, item["tid"]) if item.get("tid") is not None
                            else "count: meter %s already has OpenPAYGO count %s" % (pan, count))
                    raise RegistryError("%s recorded; nothing was issued (the meter's last TID or count in the "
                                        "registry is behind its tokens)" % what) from None
            tids = [item["tid"] for item in issued if item.get("tid") is not None]
            if tids and max(tids) > meter["last_tid"]:
                self._run("UPDATE meters SET last_tid = ? WHERE pan = ?", (max(tids), pan))
            if meter_update:
                names = sorted(meter_update)
                self._run("UPDATE meters SET %s WHERE pan = ?" % ", ".join("%s = ?" % n for n in names),
                          [meter_update[n] for n in names] + [pan])

    def tokens(self, pan: str | None = None) -> list:
        sql = "SELECT * FROM tokens" + (" WHERE pan = ?" if pan else "") + " ORDER BY id"
        return self._rows(sql, (pan,) if pan else ())


def _unique_violation(exc: Exception) -> bool:
    """SQLite's IntegrityError, or PostgreSQL's unique_violation (SQLSTATE 23505) as pg8000 reports it."""
    if isinstance(exc, sqlite3.IntegrityError):
        return "UNIQUE" in str(exc)
    detail = exc.args[0] if exc.args else None
    return isinstance(detail, dict) and detail.get("C") == "23505"


def _shown(path: str) -> str:
    """The registry's name for messages: a URL without its password."""
    parts = urllib.parse.urlsplit(path)
    if parts.password is None:
        return path
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.replace(":" + parts.password + "@", ":***@")))
