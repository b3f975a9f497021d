"""The two families of recharge codes a meter can be built for, behind one interface.

A profile makes the decoder (from the factory settings or from persisted state)
and says how much credit an accepted code carries. The recharge pipeline does
the rest the same way for both.
"""

from protocol import sts_decoder as sts

from ledger import WH_PER_TENTH

# Credit effects of an accepted code.
ADD = "add"
SET = "set"
UNLIMITED = "unlimited"  # pay-as-you-go is over: the meter never cuts again


class StsProfile:
    tag = 1

    def __init__(self, factory_state):
        self.factory_state = factory_state

    def decoder(self, state_bytes=None):
        state = self.factory_state if state_bytes is None else sts.unpack_state(state_bytes)
        return sts.StsDecoder(state)

    def credit(self, result):
        """(effect, Wh) for a code that changes credit, else None."""
        if result.kind == sts.CREDIT:
            return ADD, result.amount * WH_PER_TENTH
        return None


class OpenPaygoProfile:
    """OpenPAYGO tokens; one token unit is `wh_per_unit` (default 0.1 kWh)."""

    tag = 2

    def __init__(self, key, starting_code=None, extended=False, restricted=False, wh_per_unit=100,
                 preferred_values=()):
        self.key = key
        self.starting_code = starting_code
        self.extended = extended
        self.restricted = restricted
        self.wh_per_unit = wh_per_unit
        self.preferred_values = preferred_values

    def decoder(self, state_bytes=None):
        from protocol import openpaygo as opg  # an STS meter never loads it

        state = None if state_bytes is None else opg.unpack_state(state_bytes)
        return opg.OpenPaygoDecoder(self.key, self.starting_code, self.extended, self.restricted,
                                    preferred_values=self.preferred_values, state=state)

    def credit(self, result):
        # The kind names of protocol/openpaygo.py, without importing it here.
        if result.kind == "ADD_TIME":
            return ADD, result.value * self.wh_per_unit
        if result.kind == "SET_TIME":
            return SET, result.value * self.wh_per_unit
        if result.kind == "DISABLE_PAYG":
            return UNLIMITED, 0
        return None
