"""Meter registry and the record of every token issued, in SQLite.

Each issue is one transaction: the token row and the meter's last TID move
together, so a crash never leaves a token that the registry does not know of.
"""

import datetime
import json
import sqlite3

from host.sts.keys import check_key_params, check_pan

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meters (
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
           AND ti IS NOT NULL AND krn IS NOT NULL AND kt IS NOT NULL AND base_year IS NOT NULL))
);
CREATE TABLE IF NOT EXISTS tokens (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    pan          TEXT NOT NULL REFERENCES meters(pan),
    kind         TEXT NOT NULL,
    token        TEXT NOT NULL,
    tid          INTEGER,
    amount_tenths INTEGER,
    details      TEXT NOT NULL DEFAULT '{}',
    operator     TEXT NOT NULL,
    issued_at    TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS tokens_by_meter ON tokens (pan, issued_at);
"""

METER_FIELDS = ("pan", "profile", "dkga", "ea", "sgc", "ti", "krn", "kt", "ken", "base_year",
                "vending_key", "last_tid", "opaygo_count", "opaygo_extended", "opaygo_restricted",
                "created_at")


class RegistryError(ValueError):
    """Bad registry input; the message names the field."""


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


class Registry:
    def __init__(self, path: str):
        self.path = path
        self.db = sqlite3.connect(path)
        self.db.row_factory = sqlite3.Row
        self.db.execute("PRAGMA foreign_keys = ON")
        self.db.executescript(_SCHEMA)

    def close(self) -> None:
        self.db.close()

    def add_meter(self, pan: str, sgc: str, ti: int, krn: int, kt: int, base_year: int,
                  ea: int, dkga: str, vending_key: str, ken: int = 255) -> dict:
        """Register an STS meter."""
        check_key_params(sgc, ti, krn, kt)
        if not 0 <= ken <= 255:
            raise RegistryError("ken: key expiry number must be 0..255, got %d" % ken)
        if dkga == "02" and ea != 9:
            raise RegistryError("ea: DKGA-02 keys are DES keys, use --ea 09")
        return self._insert(dict(pan=pan, profile="sts", dkga=dkga, ea=ea, sgc=sgc, ti=ti, krn=krn,
                                 kt=kt, ken=ken, base_year=base_year, vending_key=vending_key))

    def add_openpaygo_meter(self, pan: str, secret_key: str, extended: bool = False,
                            restricted: bool = False) -> dict:
        """Register a meter built for OpenPAYGO tokens; secret_key names its key in the key file."""
        return self._insert(dict(pan=pan, profile="openpaygo", vending_key=secret_key,
                                 opaygo_extended=int(extended), opaygo_restricted=int(restricted)))

    def _insert(self, fields: dict) -> dict:
        check_pan(fields["pan"])
        if self.find_meter(fields["pan"]):
            raise RegistryError("pan: meter %s is already registered" % fields["pan"])
        row = dict.fromkeys(METER_FIELDS)
        row.update(ken=255, last_tid=-1, opaygo_count=0, opaygo_extended=0, opaygo_restricted=0,
                   created_at=utc_now().isoformat(timespec="seconds"))
        row.update(fields)
        with self.db:
            self.db.execute("INSERT INTO meters (%s) VALUES (%s)" % (
                ", ".join(METER_FIELDS), ", ".join("?" * len(METER_FIELDS))),
                [row[f] for f in METER_FIELDS])
        return row

    def find_meter(self, pan: str) -> dict | None:
        row = self.db.execute("SELECT * FROM meters WHERE pan = ?", (pan,)).fetchone()
        return dict(row) if row else None

    def meter(self, pan: str) -> dict:
        row = self.find_meter(pan)
        if row is None:
            raise RegistryError("meter: no meter with PAN %r in %s (run 'opsm meter add')" % (pan, self.path))
        return row

    def meters(self) -> list:
        return [dict(r) for r in self.db.execute("SELECT * FROM meters ORDER BY pan")]

    def record(self, pan: str, issued: list, operator: str, meter_update: dict | None = None) -> None:
        """Store issued tokens (dicts: kind, token, tid, amount_tenths, details) in one transaction."""
        now = utc_now().isoformat(timespec="seconds")
        with self.db:
            for item in issued:
                self.db.execute(
                    "INSERT INTO tokens (pan, kind, token, tid, amount_tenths, details, operator, issued_at)"
                    " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (pan, item["kind"], item["token"], item.get("tid"), item.get("amount_tenths"),
                     json.dumps(item.get("details", {}), sort_keys=True), operator, now))
            tids = [item["tid"] for item in issued if item.get("tid") is not None]
            if tids:
                self.db.execute("UPDATE meters SET last_tid = MAX(last_tid, ?) WHERE pan = ?", (max(tids), pan))
            if meter_update:
                names = sorted(meter_update)
                self.db.execute("UPDATE meters SET %s WHERE pan = ?" % ", ".join("%s = ?" % n for n in names),
                                [meter_update[n] for n in names] + [pan])

    def tokens(self, pan: str | None = None) -> list:
        sql = "SELECT * FROM tokens" + (" WHERE pan = ?" if pan else "") + " ORDER BY id"
        return [dict(r) for r in self.db.execute(sql, (pan,) if pan else ())]
