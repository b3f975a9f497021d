"""The OpenPAYGO profile of the recharge pipeline (see token_profiles.py)."""

from protocol import openpaygo as opg

from token_profiles import ADD, SET, UNLIMITED


class OpenPaygoProfile:
    """OpenPAYGO tokens; one token unit is `wh_per_unit` (default 0.1 kWh)."""

    tag = 2
    modules = ()  # none released after a code: this module holds protocol.openpaygo for its kinds

    def __init__(self, key, starting_code=None, extended=False, restricted=False, wh_per_unit=100,
                 preferred_values=()):
        self.key = key
        self.starting_code = starting_code
        self.extended = extended
        self.restricted = restricted
        self.wh_per_unit = wh_per_unit
        self.preferred_values = preferred_values

    def decoder(self, state_bytes=None):
        state = None if state_bytes is None else opg.unpack_state(state_bytes)
        return opg.OpenPaygoDecoder(self.key, self.starting_code, self.extended, self.restricted,
                                    preferred_values=self.preferred_values, state=state)

    def credit(self, result):
        if result.kind == opg.ADD_TIME:
            return ADD, result.value * self.wh_per_unit
        if result.kind == opg.SET_TIME:
            return SET, result.value * self.wh_per_unit
        if result.kind == opg.DISABLE_PAYG:
            return UNLIMITED, 0
        return None
