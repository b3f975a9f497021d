"""The families of recharge codes a meter can be built for, behind one interface.

A profile makes the decoder (from the factory settings or from persisted state)
and says how much credit an accepted code carries. The recharge pipeline does
the rest the same way for both. STS lives here; OpenPAYGO in openpaygo_profile.py,
so an STS meter never loads it.
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
