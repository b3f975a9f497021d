"""Issuing tokens for registered meters: the sale's transaction, keys and the issue record.

What a sale builds is the meter's family's (host/families.py); the Vendor holds the meter's row for the sale
(Registry.issuing), asks its family for the codes and records them within the same transaction.
"""

from opsm.host import families
from opsm.host.families import derive_decoder_key, tid_at  # noqa: F401  (offered here, as before)
from opsm.host.keystore import KeyStore
from opsm.host.registry import Registry, RegistryError, utc_now

# The families' tables, as this module has always offered them.
TEST_CONTROLS = families.STS.test_controls
MANAGEMENT = families.STS.management
OPENPAYGO_MANAGEMENT = families.OPENPAYGO.management


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

    def _family(self, meter: dict, kind: str) -> families.Family:
        """The meter's family, which must sell codes of `kind`."""
        family = families.of(meter)
        if not family.supports(kind):
            raise RegistryError("meter: %s uses the %s profile, which has no %s codes"
                                % (meter["pan"], family.name, kind))
        return family

    def _record(self, family: families.Family, meter: dict, issued: list, update: dict | None) -> None:
        """Record the sale's codes (inside issuing()); a code the meter's keypad cannot take is never sold."""
        lengths = family.code_lengths(meter)
        for item in issued:
            for code in item["token"].split(" "):
                if len(code) not in lengths:
                    raise RuntimeError("vending: a %d-digit %s code for meter %s, whose keypad takes %s digits"
                                       % (len(code), family.label, meter["pan"], " or ".join(map(str, lengths))))
        self.registry.record(meter["pan"], issued, self.operator, meter_update=update)

    def credit(self, pan: str, tenths: int, count: int = 1, random: int = 0) -> list:
        """A batch of `count` credit tokens of `tenths` 0.1 kWh each, at rising TIDs (STS) or counts (OpenPAYGO)."""
        if tenths <= 0:
            raise ValueError("kwh: must be more than 0")
        if not 1 <= count <= 1000:
            raise ValueError("count: must be 1..1000, got %d" % count)
        with self.registry.issuing(pan) as meter:
            family = self._family(meter, "credit")
            issued, update = family.credit(meter, self.keystore.get, self.clock(), tenths, count, random)
            self._record(family, meter, issued, update)
        return issued

    def management(self, pan: str, function: str, value: int, random: int = 0) -> dict:
        if function not in families.functions():
            raise ValueError("function: must be one of %s" % ", ".join(families.functions()))
        with self.registry.issuing(pan) as meter:
            family = self._family(meter, function)
            item, update = family.manage(meter, self.keystore.get, self.clock(), function, value, random)
            self._record(family, meter, [item], update)
        return item

    def test(self, pan: str, controls: list, mfr: int = 0) -> dict:
        """Class 1 test/display token (not encrypted, no TID), recorded for the meter."""
        meter = self.registry.meter(pan)
        family = self._family(meter, families.TEST)
        item = family.test(meter, controls, mfr)
        self._record(family, meter, [item], None)
        return item

    def key_change(self, pan: str, krn: int | None = None, kt: int | None = None,
                   ti: int | None = None, ken: int | None = None, rollover: bool = False,
                   vending_key: str | None = None) -> dict:
        """Key change set to new key parameters; the registry moves to them in the same transaction.

        A rollover starts the TIDs again from the new base date: a new TID epoch for the meter."""
        with self.registry.issuing(pan) as meter:
            family = self._family(meter, families.KEY_CHANGE)
            item, update = family.key_change(meter, self.keystore.get, krn, kt, ti, ken, rollover, vending_key)
            self._record(family, meter, [item], update)
        item["tokens"] = item["token"].split(" ")
        return item
