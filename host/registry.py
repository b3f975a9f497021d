"""Meter registry and the record of every token issued: SQLite (a file) or PostgreSQL (a URL).

No code is sold twice. A sale (issuing) holds the meter's row from the moment it is read:
concurrent vendors wait their turn, the codes are built from the last committed TID or
OpenPAYGO count, recorded, and handed out only once committed; unique indexes underneath refuse
a second row at a meter's TID or count (host/store/registry.py keeps the tables and the lock).
"""

import contextlib
import datetime
import json
import urllib.parse

from opsm.host import families
from opsm.host.store import AlreadyStored
from opsm.host.store.registry import METER_FIELDS, Busy, DuplicateSales, RegistryStore, Unopened
from opsm.host.sts.keys import check_pan


class RegistryError(ValueError):
    """Bad registry input; the message names the field."""


def utc_now() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _sale_count(profile: str, details: dict):
    """The OpenPAYGO count a recorded token was sold at, as its family reads it (None for a code without one)."""
    return families.by_name(profile).sale_count({"details": details})


class Registry:
    def __init__(self, path: str):
        """`path`: a SQLite file, sqlite:///PATH, or postgresql://user:password@host:port/database."""
        self.path = _shown(path)
        with self._refusals():
            self.store = RegistryStore.open(path, _sale_count)

    def close(self) -> None:
        self.store.close()

    @contextlib.contextmanager
    def _refusals(self):
        """The store's refusals, told in the registry's words."""
        try:
            yield
        except Unopened as exc:
            raise RegistryError("--db: cannot open the registry %s: %s" % (self.path, exc)) from None
        except Busy as exc:
            raise RegistryError("registry: %s stayed locked by another writer (%s)" % (self.path, exc)) from None
        except DuplicateSales as exc:
            lines = ["meter %s has %s recorded %d times (token rows %s)" % (
                pan, ("TID %d" if kind == "tid" else "count %d") % number, times, ", ".join(map(str, ids)))
                for pan, kind, number, times, ids in exc.shown]
            if exc.count > len(exc.shown):
                lines.append("and %d more" % (exc.count - len(exc.shown)))
            raise RegistryError(
                "registry: %s holds codes sold more than once, so it cannot take the constraint that stops this: %s."
                " Nothing was changed. Keep one row per TID or count (move the others to a table of your own) and "
                "open it again." % (self.path, "; ".join(lines))) from None

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
        try:
            with self._refusals():
                self.store.add_meter(row)
        except AlreadyStored:
            raise RegistryError("pan: meter %s is already registered" % fields["pan"]) from None
        return row

    def find_meter(self, pan: str) -> dict | None:
        return self.store.meter(pan)

    def meter(self, pan: str) -> dict:
        row = self.find_meter(pan)
        if row is None:
            raise RegistryError("meter: no meter with PAN %r in %s (run 'opsm meter add')" % (pan, self.path))
        return row

    def meters(self) -> list:
        return self.store.meters()

    # --- sales ---------------------------------------------------------------------------

    @contextlib.contextmanager
    def issuing(self, pan: str):
        """A sale: one transaction holding the meter's row from the moment it is read; yields the meter.

        Read last_tid / opaygo_count from the meter yielded, build the codes, record() them inside; they are
        committed together when the block ends, and rolled back (nothing issued) if it raises.
        """
        with self._refusals(), self.store.selling(pan) as meter:
            if meter is None:
                raise RegistryError("meter: no meter with PAN %r in %s (run 'opsm meter add')" % (pan, self.path))
            yield meter

    def record(self, pan: str, issued: list, operator: str, meter_update: dict | None = None) -> None:
        """Store issued tokens (dicts: kind, token, tid, amount_tenths, details) and move the meter, in one
        transaction (the sale's, inside issuing()). A TID or OpenPAYGO count already recorded for the meter
        raises RegistryError and nothing of the sale is kept."""
        now = utc_now().isoformat(timespec="seconds")
        with self.issuing(pan) as meter:
            family = families.of(meter)
            tokens = [dict(kind=item["kind"], token=item["token"], tid=item.get("tid"), tid_epoch=meter["tid_epoch"],
                           opaygo_count=family.sale_count(item), amount_tenths=item.get("amount_tenths"),
                           details=json.dumps(item.get("details", {}), sort_keys=True), operator=operator,
                           issued_at=now) for item in issued]
            changes = {}
            tids = [item["tid"] for item in issued if item.get("tid") is not None]
            if tids and max(tids) > meter["last_tid"]:
                changes["last_tid"] = max(tids)
            changes.update(meter_update or {})
            try:
                self.store.record_sale(pan, tokens, changes)
            except AlreadyStored as exc:
                what = ("tid: meter %s already has TID %d" % (pan, exc.row["tid"]) if exc.row["tid"] is not None
                        else "count: meter %s already has OpenPAYGO count %s" % (pan, exc.row["opaygo_count"]))
                raise RegistryError("%s recorded; nothing was issued (the meter's last TID or count in the "
                                    "registry is behind its tokens)" % what) from None

    def tokens(self, pan: str | None = None) -> list:
        return self.store.tokens(pan)


def _shown(path: str) -> str:
    """The registry's name for messages: a URL without its password."""
    parts = urllib.parse.urlsplit(path)
    if parts.password is None:
        return path
    return urllib.parse.urlunsplit(parts._replace(netloc=parts.netloc.replace(":" + parts.password + "@", ":***@")))
