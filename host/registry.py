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
    dkga         TEXT NOT NULL CHECK (dkga IN ('02', '04')),
    ea           INTEGER NOT NULL CHECK (ea IN (9, 11)),
    sgc          TEXT NOT NULL,
    ti           INTEGER NOT NULL,
    krn          INTEGER NOT NULL,
    kt           INTEGER NOT NULL,
    ken          INTEGER NOT NULL DEFAULT 255,
    base_year    INTEGER NOT NULL,
    vending_key  TEXT NOT NULL,
    last_tid     INTEGER NOT NULL DEFAULT -1,
    created_at   TEXT NOT NULL
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
                "vending_key", "last_tid", "created_at")


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
                  ea: int, dkga: str, vending_key: str, profile: str = "sts", ken: int = 255) -> dict:
        check_pan(pan)
        check_key_params(sgc, ti, krn, kt)
        if not 0 <= ken <= 255:
            raise RegistryError("ken: key expiry number must be 0..255, got %d" % ken)
        if self.find_meter(pan):
            raise RegistryError("pan: meter %s is already registered" % pan)
        if dkga == "02" and ea != 9:
            raise RegistryError("ea: DKGA-02 keys are DES keys, use --ea 09")
        row = dict(pan=pan, profile=profile, dkga=dkga, ea=ea, sgc=sgc, ti=ti, krn=krn, kt=kt,
                   ken=ken, base_year=base_year, vending_key=vending_key, last_tid=-1,
                   created_at=utc_now().isoformat(timespec="seconds"))
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
