"""Credit ledger in whole watt-hours (integers only: no float drift on 32-bit boards).

Two pots, consumed in this order:
- subsidy: kWh per month granted by the state (SUBSIDIO); refilled to the allowance
  when the month moves past the last one granted, never carried over;
- purchased: credit from recharge codes, and the advances the entity grants (CREDITO).
An advance is credit at once and a debt (owed_wh) that the next recharge repays in full,
before it adds anything; a recharge smaller than the debt repays what it can and the rest
waits for the following ones (seed: "la cual se descontara inmediatamente se realice").
Energy used with no credit left (friendly hours, the minimum time before the relay may open)
is owed the same way: nothing the meter registers is free.
Every register stays below 2**30 so it is a small int on every board.
"""

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

CREDIT_MAX_WH = 999999999  # 999 999.999 kWh: a recharge past this is OVERFLOW
WH_PER_TENTH = 100          # tokens count in 0.1 kWh
_SIZE_V1 = const(16)        # before advances were counted (grants)


class Ledger:
    def __init__(self, purchased_wh: int = 0, unlimited: int = 0, subsidy_wh: int = 0,
                 subsidy_month: int = 0, owed_wh: int = 0, grants: int = 0):
        self.purchased_wh = purchased_wh
        self.unlimited = unlimited  # pay-as-you-go ended (OpenPAYGO DISABLE_PAYG): never cut
        self.subsidy_wh = subsidy_wh              # left of this month's subsidy
        self.subsidy_month = subsidy_month        # year * 12 + month it belongs to
        self.owed_wh = owed_wh                    # advanced and not yet repaid by a recharge
        self.grants = grants                      # advances granted so far (16 bits, wraps)

    def room_for(self, wh: int) -> bool:
        return self.purchased_wh + wh <= CREDIT_MAX_WH

    def add(self, wh: int) -> int:
        """A recharge: repays what is owed first, the rest becomes purchased credit.

        Returns the Wh that went to repayment.
        """
        if not self.room_for(wh):
            raise ValueError("ledger: credit register would overflow")
        repaid = min(wh, self.owed_wh)
        self.owed_wh -= repaid
        self.purchased_wh += wh - repaid
        return repaid

    def advance(self, wh: int, grant: int) -> bool:
        """Grant number `grant` of an advance of wh: credit now, owed until repaid. Only the grant
        after the last one applied counts (else False): a grant saved elsewhere (the settings
        record) is replayed safely after a power cut, and never twice. One that would overflow
        the register is not granted either (the admin menu checks room_for before saving it)."""
        if grant != (self.grants + 1) & 0xFFFF or not self.room_for(wh) or self.owed_wh + wh > CREDIT_MAX_WH:
            return False
        self.purchased_wh += wh
        self.owed_wh += wh
        self.grants = grant
        return True

    def set(self, wh: int) -> None:
        if wh > CREDIT_MAX_WH:
            raise ValueError("ledger: credit register would overflow")
        self.purchased_wh = wh

    def clear(self) -> None:
        self.purchased_wh = 0

    def new_month(self, month: int, allowance_wh: int) -> bool:
        """Refill the subsidy when `month` (year * 12 + month) starts; True if it did.

        Only a month past the last one granted refills: a clock moved back and forth across
        a month boundary grants that month once."""
        if month <= self.subsidy_month:
            return False
        self.subsidy_month = month
        self.subsidy_wh = allowance_wh
        return True

    def available_wh(self) -> int:
        """Credit the household can still use, both pots together."""
        return self.subsidy_wh + self.purchased_wh

    def consume(self, wh: int) -> int:
        """Take `wh` from subsidy, then purchased credit; what finds no credit is owed.

        Returns the Wh that found no credit.
        """
        take = min(wh, self.subsidy_wh)
        self.subsidy_wh -= take
        wh -= take
        take = min(wh, self.purchased_wh)
        self.purchased_wh -= take
        wh -= take
        self.owed_wh = min(self.owed_wh + wh, CREDIT_MAX_WH)
        return wh

    def pack(self) -> bytes:
        return (self.purchased_wh.to_bytes(4, "big") + bytes((self.unlimited,))
                + self.subsidy_wh.to_bytes(4, "big") + self.subsidy_month.to_bytes(3, "big")
                + self.owed_wh.to_bytes(4, "big") + self.grants.to_bytes(2, "big"))


def unpack_ledger(data) -> Ledger:
    """A ledger record; one of the firmware before advances (16 bytes) held as owed what was
    used of its standing emergency credit, which is what the next recharge repays here too."""
    if len(data) not in (_SIZE_V1, _SIZE_V1 + 2):
        raise ValueError("ledger: record must be 16 or 18 bytes")
    return Ledger(int.from_bytes(data[0:4], "big"), data[4], int.from_bytes(data[5:9], "big"),
                  int.from_bytes(data[9:12], "big"), int.from_bytes(data[12:16], "big"),
                  int.from_bytes(data[16:18], "big"))
