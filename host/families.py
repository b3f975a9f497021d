"""The families of recharge codes a meter can be built for, host side: one object per family.

The firmware has one profile per family behind one interface (firmware/lib/token_profiles.py, chosen by
provision.profile_from); the host has one `Family` per family here, and every other host module asks the
meter's family (`of(meter_row)`, `by_name(name)`) instead of comparing family names. A family owns:

  name                  its name in the registry's profile column and in provision.json's "profile"
  label                 how people see it
  code_lengths(meter)   the code lengths the meter's keypad takes (the firmware's profile_from)
  meter_fields(options) the registry fields of a new meter, checked; options it does not use are ignored
  check_key(...)        whether the key file's key suits the meter, before it is registered
  summary(), status()   one line on a meter: as registered, in the meter list
  management, supports(kind)   the management codes it sells; test codes and key changes, or not
  credit(), manage(), test(), key_change()   the codes of a sale and how the meter's row moves with it
  sale_count(item)      the count a recorded code takes in the registry's unique index, or None
  provision(meter, key) provision.json's fields for the family

The sale functions are pure: they get the meter's row as the sale's transaction holds it (host.registry's
issuing()), a `key_of(name) -> bytes` from the key file and the time, and return the codes as the registry
records them (kind, token, tid, amount_tenths, details) with the update of the meter's row, or None.
Errors are ValueErrors whose message starts with the field at fault.

A new family: its object in FAMILIES, and a registry migration that widens the profile CHECK constraint
(host/registry.py).
"""

import datetime

from opsm.protocol import openpaygo as opg
from opsm.protocol.sts_amount import decode_amount, encode_amount

from opsm.host import openpaygo_vend
from opsm.host.sts import keys as sts_keys
from opsm.host.sts import tokens as sts_tokens

# Kinds of code, as the registry records them, that not every family sells.
TEST = "test"
KEY_CHANGE = "key-change"

TID_LIMIT = 1 << 24


def base_date(year: int) -> datetime.datetime:
    return datetime.datetime(year, 1, 1, tzinfo=datetime.timezone.utc)


def tid_at(when: datetime.datetime, base_year: int) -> int:
    """Whole UTC minutes since the meter's base date; ValueError once it rolled over."""
    minutes = int((when - base_date(base_year)).total_seconds() // 60)
    if minutes < 0:
        raise ValueError("tid: %s is before the base date %d-01-01" % (when.isoformat(), base_year))
    if minutes >= TID_LIMIT:
        raise ValueError("tid: base date %d rolled over on %s; issue a key change with --rollover first"
                         % (base_year, (base_date(base_year) + datetime.timedelta(minutes=TID_LIMIT)).date()))
    return minutes


def derive_decoder_key(vending_key: bytes, meter: dict) -> bytes:
    """An STS meter's decoder key from the vending key and its registry fields."""
    args = (vending_key, meter["pan"], meter["sgc"], meter["ti"], meter["krn"], meter["kt"])
    if meter["dkga"] == "02":
        return sts_keys.dkga02(*args)
    return sts_keys.dkga04(*args, base_year=meter["base_year"], ea=meter["ea"])


def _given(options: dict, name: str, default=None):
    value = options.get(name)
    return default if value is None else value


class Family:
    """What every family answers; a family without test codes or key changes keeps these refusals."""

    name = ""
    label = ""
    management: dict = {}    # management function -> what the family's code carries for it
    test_controls: dict = {}  # test codes: control name -> bit (empty: the family has none)
    changes_keys = False

    def __repr__(self) -> str:
        return "<family %s>" % self.name

    def supports(self, kind: str) -> bool:
        """Whether the family sells codes of this kind: credit, a management function, TEST or KEY_CHANGE."""
        if kind == "credit" or kind in self.management:
            return True
        if kind == TEST:
            return bool(self.test_controls)
        return kind == KEY_CHANGE and self.changes_keys

    def code_lengths(self, meter: dict) -> tuple:
        raise NotImplementedError

    def meter_fields(self, options: dict) -> dict:
        raise NotImplementedError

    def check_key(self, key: bytes, key_name: str, pan: str, fields: dict) -> None:
        raise NotImplementedError

    def summary(self, meter: dict) -> str:
        raise NotImplementedError

    def status(self, meter: dict) -> str:
        raise NotImplementedError

    def credit(self, meter: dict, key_of, now: datetime.datetime, tenths: int, count: int, random: int = 0):
        raise NotImplementedError

    def manage(self, meter: dict, key_of, now: datetime.datetime, function: str, value: int, random: int = 0):
        raise NotImplementedError

    def test(self, meter: dict, controls: list, mfr: int = 0) -> dict:
        raise ValueError("meter: %s codes have no test codes" % self.label)

    def key_change(self, meter: dict, key_of, krn=None, kt=None, ti=None, ken=None, rollover=False,
                   vending_key=None):
        raise ValueError("meter: %s codes have no key change" % self.label)

    def sale_count(self, item: dict):
        return None

    def provision(self, meter: dict, key: bytes) -> dict:
        raise NotImplementedError


class Sts(Family):
    """STS: 20-digit codes, a decoder key derived from the vending key, TIDs in minutes since a base date."""

    name = "sts"
    label = "STS"
    # Management functions: (class 2 subclass, whether the value is an amount in W).
    management = {
        "max-power": (0, True),
        "clear-credit": (1, False),
        "tariff": (2, False),
        "clear-tamper": (5, False),
        "phase-unbalance": (6, True),
    }
    # Class 1 control bits as this meter reads them (the standard's own table is not public).
    test_controls = {"all": 0x01, "relay": 0x02, "display": 0x04, "show-energy": 0x08,
                     "show-krn": 0x10, "show-ti": 0x20, "show-tid": 0x40, "show-credit": 0x80}
    changes_keys = True
    FIELDS = ("sgc", "ti", "krn", "kt", "ken", "base_year", "ea", "dkga")

    def code_lengths(self, meter: dict) -> tuple:
        return (20,)

    def meter_fields(self, options: dict) -> dict:
        """sgc, ti, krn, kt, base_year, ea (9 or 11), dkga ("02" or "04"); ken (default 255)."""
        sgc = options.get("sgc")
        if sgc is None:
            raise ValueError("sgc: an STS meter needs its 6-digit supply group code")
        for name in ("ti", "krn", "kt", "base_year", "ea", "dkga"):
            if options.get(name) is None:
                raise ValueError("%s: an STS meter needs one" % name.replace("base_year", "base-date"))
        ti, krn, kt, ken = options["ti"], options["krn"], options["kt"], _given(options, "ken", 255)
        sts_keys.check_key_params(sgc, ti, krn, kt)
        if not 0 <= ken <= 255:
            raise ValueError("ken: key expiry number must be 0..255, got %d" % ken)
        base_year, ea, dkga = options["base_year"], options["ea"], options["dkga"]
        if base_year not in sts_keys.BASE_DATE_CODES:
            raise ValueError("base-date: must be 1993, 2014 or 2035, got %r" % (base_year,))
        if dkga not in ("02", "04"):
            raise ValueError("dkga: must be 02 or 04, got %r" % (dkga,))
        if ea not in (9, 11):
            raise ValueError("ea: must be 09 (DES) or 11 (MISTY1), got %r" % (ea,))
        if dkga == "02" and ea != 9:
            raise ValueError("ea: DKGA-02 keys are DES keys, use --ea 09")
        return dict(sgc=sgc, ti=ti, krn=krn, kt=kt, ken=ken, base_year=base_year, ea=ea, dkga=dkga)

    def check_key(self, key: bytes, key_name: str, pan: str, fields: dict) -> None:
        """The vending key must derive the meter's decoder key (it names the field when it cannot)."""
        derive_decoder_key(key, dict(fields, pan=pan))

    def summary(self, meter: dict) -> str:
        return "EA%02d, DKGA-%s, base %d" % (meter["ea"], meter["dkga"], meter["base_year"])

    def status(self, meter: dict) -> str:
        return "EA%02d DKGA-%s KRN %d KT %d TI %02d base %d" % (
            meter["ea"], meter["dkga"], meter["krn"], meter["kt"], meter["ti"], meter["base_year"])

    @staticmethod
    def _key(meter: dict, key_of) -> bytes:
        return derive_decoder_key(key_of(meter["vending_key"]), meter)

    @staticmethod
    def _next_tids(meter: dict, now: datetime.datetime, count: int) -> list:
        """TIDs after the meter's last one (the row the sale holds), from the minute `now` on."""
        first = max(tid_at(now, meter["base_year"]), meter["last_tid"] + 1)
        if first + count > TID_LIMIT:
            raise ValueError("tid: no room left before the base date rolls over")
        return list(range(first, first + count))

    def credit(self, meter, key_of, now, tenths, count, random=0):
        key = self._key(meter, key_of)
        field = encode_amount(tenths)
        issued = []
        for tid in self._next_tids(meter, now, count):
            token = sts_tokens.tid_token(0, 0, tid, field, random, meter["ea"], key)
            issued.append(dict(kind="credit", token=token, tid=tid, amount_tenths=decode_amount(field)))
        return issued, None

    def manage(self, meter, key_of, now, function, value, random=0):
        subclass, is_amount = self.management[function]
        key = self._key(meter, key_of)
        field = encode_amount(value) if is_amount else value
        tid = self._next_tids(meter, now, 1)[0]
        token = sts_tokens.tid_token(2, subclass, tid, field, random, meter["ea"], key)
        return dict(kind=function, token=token, tid=tid, details={"value_field": "%04x" % field}), None

    def test(self, meter, controls, mfr=0):
        """Class 1 test/display code (not encrypted, no TID)."""
        unknown = [c for c in controls if c not in self.test_controls]
        if unknown or not controls:
            raise ValueError("test: choose from %s" % ", ".join(sorted(self.test_controls)))
        control = 0
        for name in controls:
            control |= self.test_controls[name]
        token = sts_tokens.meter_test_token(0 if mfr < 256 else 1, mfr, control)
        return dict(kind=TEST, token=token, details={"controls": controls, "mfr": mfr})

    def key_change(self, meter, key_of, krn=None, kt=None, ti=None, ken=None, rollover=False, vending_key=None):
        """The key change set to new key parameters (tokens joined by spaces) and the meter's new row fields.

        A rollover starts the TIDs again from the new base date: a new TID epoch for the meter."""
        old_key = self._key(meter, key_of)
        new = dict(meter)
        new["krn"] = krn if krn is not None else meter["krn"] % 9 + 1
        for name, value in (("kt", kt), ("ti", ti), ("ken", ken), ("vending_key", vending_key)):
            if value is not None:
                new[name] = value
        if rollover:
            years = sorted(sts_keys.BASE_DATE_CODES)
            at = years.index(meter["base_year"])
            if at + 1 == len(years):
                raise ValueError("rollover: base date %d is the last one" % meter["base_year"])
            new["base_year"] = years[at + 1]
        new_key = derive_decoder_key(key_of(new["vending_key"]), new)
        tokens = sts_tokens.key_change_set(meter["ea"], old_key, new_key, new["krn"], new["kt"],
                                           new["ti"], new["ken"], rollover, int(new["sgc"]))
        update = {name: new[name] for name in ("krn", "kt", "ti", "ken", "vending_key", "base_year")}
        if rollover:
            update.update(last_tid=-1, tid_epoch=meter["tid_epoch"] + 1)
        return dict(kind=KEY_CHANGE, token=" ".join(tokens), details=dict(update, rollover=rollover)), update

    def provision(self, meter, key):
        return {"profile": self.name, "key": derive_decoder_key(key, meter).hex(), "ea": meter["ea"],
                "base_year": meter["base_year"], "krn": meter["krn"], "kt": meter["kt"], "ti": meter["ti"],
                "ken": meter["ken"], "sgc": int(meter["sgc"])}


class OpenPaygo(Family):
    """OpenPAYGO Token: 9 or 12 digits (15 or 20 on a keypad of keys 1-4), a secret key per device, counts.

    One token unit is 0.1 kWh (the firmware's OpenPaygoProfile default)."""

    name = "openpaygo"
    label = "OpenPAYGO"
    management = {"disable-payg": opg.DISABLE_PAYG, "counter-sync": opg.COUNTER_SYNC}
    FIELDS = ("opaygo_extended", "opaygo_restricted", "opaygo_count")
    KEY_BYTES = 16

    def code_lengths(self, meter: dict) -> tuple:
        extended, restricted = bool(meter["opaygo_extended"]), bool(meter["opaygo_restricted"])
        return ((20 if extended else 15) if restricted else (12 if extended else 9),)

    def meter_fields(self, options: dict) -> dict:
        """extended, restricted (default no), count: the last count used (default 0: a new device)."""
        count = _given(options, "count", 0)
        if isinstance(count, bool) or not isinstance(count, int) or count < 0:
            raise ValueError("count: the last OpenPAYGO count used must be a whole number >= 0, got %r" % (count,))
        return dict(opaygo_extended=int(bool(options.get("extended"))),
                    opaygo_restricted=int(bool(options.get("restricted"))), opaygo_count=count)

    def check_key(self, key: bytes, key_name: str, pan: str, fields: dict) -> None:
        if len(key) != self.KEY_BYTES:
            raise ValueError("vending-key: an OpenPAYGO secret key is %d bytes, %r has %d"
                             % (self.KEY_BYTES, key_name, len(key)))

    def summary(self, meter: dict) -> str:
        return "OpenPAYGO" + (" extended" if meter["opaygo_extended"] else "")

    def status(self, meter: dict) -> str:
        return "OpenPAYGO count %d" % meter["opaygo_count"]

    def _codes(self, meter: dict, key_of, kinds: list, value=None):
        """Codes at the counts after the meter's last one, and the meter's new count."""
        key_hex = key_of(meter["vending_key"]).hex()
        count = meter["opaygo_count"]
        issued = []
        for kind in kinds:
            try:
                count, token = openpaygo_vend.generate(key_hex, count, kind, value,
                                                       extended=bool(meter["opaygo_extended"]),
                                                       restricted=bool(meter["opaygo_restricted"]))
            except ValueError as exc:
                if str(exc).startswith("value"):
                    raise ValueError("kwh: an OpenPAYGO token carries at most %.1f kWh (%s)" % (
                        (opg.MAX_VALUE_EXTENDED if meter["opaygo_extended"] else opg.MAX_VALUE) / 10, exc)) from None
                raise
            issued.append(dict(kind=kind.lower(), token=token, amount_tenths=value, details={"count": count}))
        return issued, {"opaygo_count": count}

    def credit(self, meter, key_of, now, tenths, count, random=0):
        return self._codes(meter, key_of, [opg.ADD_TIME] * count, tenths)

    def manage(self, meter, key_of, now, function, value, random=0):
        issued, update = self._codes(meter, key_of, [self.management[function]])
        return issued[0], update

    def sale_count(self, item: dict):
        return item.get("details", {}).get("count")

    def provision(self, meter, key):
        return {"profile": self.name, "key": key.hex(), "starting_code": None,
                "extended": bool(meter["opaygo_extended"]), "restricted": bool(meter["opaygo_restricted"])}


STS = Sts()
OPENPAYGO = OpenPaygo()
FAMILIES = (STS, OPENPAYGO)  # the first is the default of `opsm meter add`
DEFAULT = FAMILIES[0]
_BY_NAME = {family.name: family for family in FAMILIES}


def names() -> list:
    """The families' names, as the registry stores them (CLI choices)."""
    return [family.name for family in FAMILIES]


def by_name(name: str) -> Family:
    try:
        return _BY_NAME[name]
    except (KeyError, TypeError):
        raise ValueError("profile: must be one of %s, got %r" % (", ".join(names()), name)) from None


def of(meter: dict) -> Family:
    """The family of a meter's registry row."""
    return by_name(meter["profile"])


def functions() -> list:
    """Every family's management functions, each family's sorted, in the order of FAMILIES."""
    return [name for family in FAMILIES for name in sorted(family.management)]
