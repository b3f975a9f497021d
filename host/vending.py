"""Issuing tokens for registered meters: keys, TIDs, building, and the issue record."""

import datetime

from protocol.sts_amount import decode_amount, encode_amount

from protocol import openpaygo as opg

from host import openpaygo_vend
from host.keystore import KeyStore
from host.registry import Registry, RegistryError, utc_now
from host.sts import keys as sts_keys
from host.sts import tokens as sts_tokens

# Class 1 control bits as this meter reads them (the standard's own table is not public).
TEST_CONTROLS = {"all": 0x01, "relay": 0x02, "display": 0x04, "show-energy": 0x08,
                 "show-krn": 0x10, "show-ti": 0x20, "show-tid": 0x40, "show-credit": 0x80}

TID_LIMIT = 1 << 24
# Management functions: (class 2 subclass, whether the value is an amount in W).
MANAGEMENT = {
    "max-power": (0, True),
    "clear-credit": (1, False),
    "tariff": (2, False),
    "clear-tamper": (5, False),
    "phase-unbalance": (6, True),
}
# OpenPAYGO meters: one token unit is 0.1 kWh (the firmware's OpenPaygoProfile default).
OPENPAYGO_MANAGEMENT = {"disable-payg": opg.DISABLE_PAYG, "counter-sync": opg.COUNTER_SYNC}


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
    args = (vending_key, meter["pan"], meter["sgc"], meter["ti"], meter["krn"], meter["kt"])
    if meter["dkga"] == "02":
        return sts_keys.dkga02(*args)
    return sts_keys.dkga04(*args, base_year=meter["base_year"], ea=meter["ea"])


class Vendor:
    """One operator issuing tokens against a registry and a key store.

    Each sale runs inside registry.issuing(pan): the meter's row is read under the write lock, so the TIDs
    and OpenPAYGO counts come from the last committed sale, and the codes are returned only once recorded.
    """

    def __init__(self, registry: Registry, keystore: KeyStore, operator: str, clock=utc_now):
        if not operator:
            raise RegistryError("operator: must not be empty")
        self.registry = registry
        self.keystore = keystore
        self.operator = operator
        self.clock = clock

    @staticmethod
    def _check_profile(meter: dict, profile: str = "sts") -> dict:
        if meter["profile"] != profile:
            raise RegistryError("meter: %s uses the %s profile, not %s" % (meter["pan"], meter["profile"], profile))
        return meter

    def _key(self, meter: dict) -> bytes:
        return derive_decoder_key(self.keystore.get(meter["vending_key"]), meter)

    def _next_tids(self, meter: dict, count: int) -> list:
        """TIDs after the meter's last one; `meter` must be the row issuing() holds."""
        first = max(tid_at(self.clock(), meter["base_year"]), meter["last_tid"] + 1)
        if first + count > TID_LIMIT:
            raise ValueError("tid: no room left before the base date rolls over")
        return list(range(first, first + count))

    def credit(self, pan: str, tenths: int, count: int = 1, random: int = 0) -> list:
        """A batch of `count` credit tokens of `tenths` 0.1 kWh each, at rising TIDs."""
        if tenths <= 0:
            raise ValueError("kwh: must be more than 0")
        if not 1 <= count <= 1000:
            raise ValueError("count: must be 1..1000, got %d" % count)
        with self.registry.issuing(pan) as meter:
            if meter["profile"] == "openpaygo":
                issued = self._openpaygo(meter, [opg.ADD_TIME] * count, tenths)
            else:
                key = self._key(self._check_profile(meter))
                field = encode_amount(tenths)
                issued = []
                for tid in self._next_tids(meter, count):
                    token = sts_tokens.tid_token(0, 0, tid, field, random, meter["ea"], key)
                    issued.append(dict(kind="credit", token=token, tid=tid, amount_tenths=decode_amount(field)))
                self.registry.record(pan, issued, self.operator)
        return issued

    def _openpaygo(self, meter: dict, kinds: list, value=None) -> list:
        """OpenPAYGO tokens at the counts after the meter's last one (inside issuing()); records them."""
        self._check_profile(meter, "openpaygo")
        key_hex = self.keystore.get(meter["vending_key"]).hex()
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
            issued.append(dict(kind=kind.lower(), token=token, amount_tenths=value,
                               details={"count": count}))
        self.registry.record(meter["pan"], issued, self.operator, meter_update={"opaygo_count": count})
        return issued

    def management(self, pan: str, function: str, value: int, random: int = 0) -> dict:
        if function not in MANAGEMENT and function not in OPENPAYGO_MANAGEMENT:
            raise ValueError("function: must be one of %s" % ", ".join(sorted(MANAGEMENT) + sorted(OPENPAYGO_MANAGEMENT)))
        with self.registry.issuing(pan) as meter:
            if function in OPENPAYGO_MANAGEMENT:
                item = self._openpaygo(meter, [OPENPAYGO_MANAGEMENT[function]])[0]
            else:
                subclass, is_amount = MANAGEMENT[function]
                key = self._key(self._check_profile(meter))
                field = encode_amount(value) if is_amount else value
                tid = self._next_tids(meter, 1)[0]
                token = sts_tokens.tid_token(2, subclass, tid, field, random, meter["ea"], key)
                item = dict(kind=function, token=token, tid=tid, details={"value_field": "%04x" % field})
                self.registry.record(pan, [item], self.operator)
        return item

    def test(self, pan: str, controls: list, mfr: int = 0) -> dict:
        """Class 1 test/display token (not encrypted, no TID), recorded for the meter."""
        self.registry.meter(pan)
        unknown = [c for c in controls if c not in TEST_CONTROLS]
        if unknown or not controls:
            raise ValueError("test: choose from %s" % ", ".join(sorted(TEST_CONTROLS)))
        control = 0
        for name in controls:
            control |= TEST_CONTROLS[name]
        token = sts_tokens.meter_test_token(0 if mfr < 256 else 1, mfr, control)
        item = dict(kind="test", token=token, details={"controls": controls, "mfr": mfr})
        self.registry.record(pan, [item], self.operator)
        return item

    def key_change(self, pan: str, krn: int | None = None, kt: int | None = None,
                   ti: int | None = None, ken: int | None = None, rollover: bool = False,
                   vending_key: str | None = None) -> dict:
        """Key change set to new key parameters; the registry moves to them in the same transaction.

        A rollover starts the TIDs again from the new base date: a new TID epoch for the meter."""
        with self.registry.issuing(pan) as meter:
            old_key = self._key(self._check_profile(meter))
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
            new_key = derive_decoder_key(self.keystore.get(new["vending_key"]), new)
            tokens = sts_tokens.key_change_set(meter["ea"], old_key, new_key, new["krn"], new["kt"],
                                               new["ti"], new["ken"], rollover, int(new["sgc"]))
            update = {name: new[name] for name in ("krn", "kt", "ti", "ken", "vending_key", "base_year")}
            if rollover:
                update.update(last_tid=-1, tid_epoch=meter["tid_epoch"] + 1)
            item = dict(kind="key-change", token=" ".join(tokens), details=dict(update, rollover=rollover))
            self.registry.record(pan, [item], self.operator, meter_update=update)
        item["tokens"] = tokens
        return item
