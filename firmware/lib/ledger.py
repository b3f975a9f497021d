"""Credit ledger in whole watt-hours (integers only: no float drift on 32-bit boards).

This holds purchased credit; subsidy and emergency credit join it with the
firmware's metering. The register stays below 2**30 so it is a small int on
every board.
"""

CREDIT_MAX_WH = 999999999  # 999 999.999 kWh: a recharge past this is OVERFLOW
WH_PER_TENTH = 100          # tokens count in 0.1 kWh


class Ledger:
    def __init__(self, purchased_wh: int = 0, unlimited: int = 0):
        self.purchased_wh = purchased_wh
        self.unlimited = unlimited  # pay-as-you-go ended (OpenPAYGO DISABLE_PAYG): never cut

    def room_for(self, wh: int) -> bool:
        return self.purchased_wh + wh <= CREDIT_MAX_WH

    def add(self, wh: int) -> None:
        if not self.room_for(wh):
            raise ValueError("ledger: credit register would overflow")
        self.purchased_wh += wh

    def set(self, wh: int) -> None:
        if wh > CREDIT_MAX_WH:
            raise ValueError("ledger: credit register would overflow")
        self.purchased_wh = wh

    def clear(self) -> None:
        self.purchased_wh = 0

    def pack(self) -> bytes:
        return self.purchased_wh.to_bytes(4, "big") + bytes((self.unlimited,))


def unpack_ledger(data) -> Ledger:
    if len(data) != 5:
        raise ValueError("ledger: record must be 5 bytes")
    return Ledger(int.from_bytes(data[0:4], "big"), data[4])
