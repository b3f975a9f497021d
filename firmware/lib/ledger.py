"""Credit ledger in whole watt-hours (integers only: no float drift on 32-bit boards).

Three pots, consumed in this order:
- subsidy: kWh per month granted by the state (SUBSIDIO); refilled to the allowance
  when the month moves past the last one granted, never carried over;
- purchased: credit from recharge codes;
- emergency: credit the entity advances (CREDITO) as a grace until the next
  recharge; what was used of it is repaid first from that recharge.
Every register stays below 2**30 so it is a small int on every board.
"""

CREDIT_MAX_WH = 999999999  # 999 999.999 kWh: a recharge past this is OVERFLOW
WH_PER_TENTH = 100          # tokens count in 0.1 kWh


class Ledger:
    def __init__(self, purchased_wh: int = 0, unlimited: int = 0, subsidy_wh: int = 0,
                 subsidy_month: int = 0, emergency_used_wh: int = 0):
        self.purchased_wh = purchased_wh
        self.unlimited = unlimited  # pay-as-you-go ended (OpenPAYGO DISABLE_PAYG): never cut
        self.subsidy_wh = subsidy_wh              # left of this month's subsidy
        self.subsidy_month = subsidy_month        # year * 12 + month it belongs to
        self.emergency_used_wh = emergency_used_wh  # advanced and not yet repaid

    def room_for(self, wh: int) -> bool:
        return self.purchased_wh + wh <= CREDIT_MAX_WH

    def add(self, wh: int) -> int:
        """A recharge: repays the emergency credit used, the rest becomes purchased credit.

        Returns the Wh that went to repayment.
        """
        if not self.room_for(wh):
            raise ValueError("ledger: credit register would overflow")
        repaid = min(wh, self.emergency_used_wh)
        self.emergency_used_wh -= repaid
        self.purchased_wh += wh - repaid
        return repaid

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

    def available_wh(self, emergency_limit_wh: int) -> int:
        """Credit the household can still use, all pots together."""
        emergency = emergency_limit_wh - self.emergency_used_wh
        return self.subsidy_wh + self.purchased_wh + (emergency if emergency > 0 else 0)

    def consume(self, wh: int, emergency_limit_wh: int) -> int:
        """Take `wh` from subsidy, then purchased, then emergency credit.

        Returns the Wh that found no credit (the relay should already be open then).
        """
        take = min(wh, self.subsidy_wh)
        self.subsidy_wh -= take
        wh -= take
        take = min(wh, self.purchased_wh)
        self.purchased_wh -= take
        wh -= take
        room = emergency_limit_wh - self.emergency_used_wh
        take = min(wh, room) if room > 0 else 0
        self.emergency_used_wh += take
        return wh - take

    def pack(self) -> bytes:
        return (self.purchased_wh.to_bytes(4, "big") + bytes((self.unlimited,))
                + self.subsidy_wh.to_bytes(4, "big") + self.subsidy_month.to_bytes(3, "big")
                + self.emergency_used_wh.to_bytes(4, "big"))


def unpack_ledger(data) -> Ledger:
    if len(data) != 16:
        raise ValueError("ledger: record must be 16 bytes")
    return Ledger(int.from_bytes(data[0:4], "big"), data[4], int.from_bytes(data[5:9], "big"),
                  int.from_bytes(data[9:12], "big"), int.from_bytes(data[12:16], "big"))
