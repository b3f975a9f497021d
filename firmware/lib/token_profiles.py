"""The families of recharge codes a meter can be built for, behind one interface.

A profile makes the decoder (from the factory settings or from persisted state)
and says how much credit an accepted code carries. The recharge pipeline does
the rest the same way for both. STS lives here; OpenPAYGO in openpaygo_profile.py,
so an STS meter never loads it.

The profile and the recharge record hold the decoder's state as bytes, never a decoder object (which
would keep its modules alive), so the decoder's modules can leave the heap (~7 KB on the soak's port)
when a firmware transfer needs the room (recharge.Recharger.release); the next code imports them again.
"""

from protocol import token_result as R

from ledger import WH_PER_TENTH

# Credit effects of an accepted code.
ADD = "add"
SET = "set"
UNLIMITED = "unlimited"  # pay-as-you-go is over: the meter never cuts again


class StsProfile:
    tag = 1
    # What the decoder imports (sts_decoder the rest, its cipher_for one cipher): what Recharger.release lets go.
    modules = ("protocol.sts_decoder", "protocol.sts_token", "protocol.sts_amount", "protocol.misty1",
               "protocol.des", "protocol.block_cipher")

    def __init__(self, factory_state):
        self.factory = bytes(factory_state.pack())  # an sts_decoder.StsState, kept packed

    def decoder(self, state_bytes=None):
        from protocol import sts_decoder as sts

        return sts.StsDecoder(sts.unpack_state(self.factory if state_bytes is None else state_bytes))

    def credit(self, result):
        """(effect, Wh) for a code that changes credit, else None."""
        if result.kind == R.CREDIT:
            return ADD, result.amount * WH_PER_TENTH
        return None
