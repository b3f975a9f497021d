"""Meter-side STS token decoder: decrypt, verify, enforce the TID rules, key change.

The decoder is split in two steps so that the meter can persist atomically:
`decode(code)` never changes anything and returns a `StsResult`; once the meter
has decided to accept it (credit register room, persistence ready), `commit(result)`
updates the decoder state. `StsState` is a plain object that packs to bytes.
"""

from . import token_result as R
from .token_result import (CLEAR_CREDIT, CLEAR_TAMPER, CREDIT, KEY_CHANGE, KEY_SECTION, MAX_POWER,  # result kinds
                           PHASE_UNBALANCE, TARIFF, TEST)
from .sts_amount import decode_amount
from .sts_token import crc_matches, digits_to_buffer, transpose

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

TID_MEMORY = 64          # remembered TIDs (TOKENS.md asks for at least 50)
EA_DES = 9
EA_MISTY1 = 11
_KT_INITIAL = const(0)   # DITK: never installable by a key change
KT_DEFAULT = 1           # DDTK: refuses credit
_KEN_NEVER = const(255)  # key expiry number meaning "never expires"
BASE_YEARS = (1993, 2014, 2035)
_MFR_ANY = const(0)      # class 1 tokens for every manufacturer


# Class 2 subclasses that carry RND | TID | value and what they mean.
_CLASS2_VALUE = {0: MAX_POWER, 1: CLEAR_CREDIT, 2: TARIFF, 5: CLEAR_TAMPER, 6: PHASE_UNBALANCE}
_KCT1 = const(3)
_KCT2 = const(4)
_KCT3 = const(8)
_KCT4 = const(9)
_PACK_VERSION = const(1)


class StsState:
    """Everything the decoder must remember across power cycles."""

    def __init__(self, key: bytes, ea: int = EA_MISTY1, krn: int = 1, kt: int = 2, ti: int = 1,
                 ken: int = _KEN_NEVER, base_year: int = 1993, sgc: int = 0, mfr: int = _MFR_ANY):
        if ea == EA_MISTY1 and len(key) != 16 or ea == EA_DES and len(key) != 8:
            raise ValueError("key: EA%02d needs a %d-byte key" % (ea, 16 if ea == EA_MISTY1 else 8))
        if ea not in (EA_DES, EA_MISTY1):
            raise ValueError("ea: must be 9 (DES) or 11 (MISTY1), got %d" % ea)
        if base_year not in BASE_YEARS:
            raise ValueError("base_year: must be one of 1993, 2014, 2035")
        self.key = bytes(key)
        self.ea = ea
        self.krn = krn
        self.kt = kt
        self.ti = ti
        self.ken = ken
        self.base_year = base_year
        self.sgc = sgc
        self.mfr = mfr
        self.tids: list = []     # accepted TIDs, ascending, at most TID_MEMORY
        self.pending: dict = {}  # key change sections received so far: subclass -> 6 bytes

    def pack(self) -> bytearray:
        # Written in place into one buffer of the record's size: it is packed twice in a
        # recharge, when the heap is at its fullest, and the TIDs alone may be 192 bytes.
        n = len(self.key)
        tids = self.tids
        pending = self.pending
        out = bytearray(16 + n + 3 * len(tids) + 6 * len(pending))
        out[0] = _PACK_VERSION
        out[1] = self.ea
        out[2] = self.krn
        out[3] = self.kt
        out[4] = self.ti
        out[5] = self.ken
        out[6] = self.mfr
        out[7] = n
        out[8:8 + n] = self.key
        _put(out, 8 + n, self.base_year, 2)
        _put(out, 10 + n, self.sgc, 3)
        out[13 + n] = len(tids)
        pos = 14 + n
        for tid in tids:
            _put(out, pos, tid, 3)
            pos += 3
        mask = 0
        for sub in pending:
            mask |= 1 << sub
        _put(out, pos, mask, 2)
        pos += 2
        for sub in range(16):  # the sections in ascending order, as unpack_state reads them
            if sub in pending:
                out[pos:pos + 6] = pending[sub]
                pos += 6
        return out


def _put(out, pos: int, value: int, size: int) -> None:
    """value big-endian into out[pos:pos + size], without a bytes object."""
    for i in range(pos + size - 1, pos - 1, -1):
        out[i] = value & 0xFF
        value >>= 8


def unpack_state(data) -> StsState:
    """Inverse of StsState.pack(); raises ValueError on a record it cannot read."""
    if len(data) < 8 or data[0] != _PACK_VERSION:
        raise ValueError("sts state: unknown record version")
    n = data[7]
    pos = 8 + n
    state = StsState(bytes(data[8:pos]), data[1], data[2], data[3], data[4], data[5],
                     int.from_bytes(data[pos:pos + 2], "big"),
                     int.from_bytes(data[pos + 2:pos + 5], "big"), data[6])
    pos += 5
    count = data[pos]
    pos += 1
    for _ in range(count):
        state.tids.append(int.from_bytes(data[pos:pos + 3], "big"))
        pos += 3
    mask = int.from_bytes(data[pos:pos + 2], "big")
    pos += 2
    for sub in range(16):
        if mask & (1 << sub):
            state.pending[sub] = bytes(data[pos:pos + 6])
            pos += 6
    if pos != len(data):
        raise ValueError("sts state: record length does not match its content")
    return state


class StsResult:
    """What a token means. ok is False with a reason from protocol.token_result.

    The fields a kind of token leaves alone keep the class's defaults: an instance
    holds only what its token set (a smaller attribute table on a board's heap).
    """

    kind: str | None = None
    tid = -1
    value = 0            # raw 16-bit value field
    amount = 0           # decoded amount (tenths of kWh, or W for limits)
    block: bytes | None = None  # plain block bytes (key sections keep their payload)
    sections = 0         # key change: sections received including this one
    sections_needed = 0
    new_state: StsState | None = None  # key change: the state to install when committed

    def __init__(self, reason=None, token_class: int = -1, subclass: int = -1):
        self.ok = reason is None
        self.reason = reason
        self.token_class = token_class
        self.subclass = subclass

    def __repr__(self):
        if not self.ok:
            return "StsResult(%s)" % self.reason
        return "StsResult(%s tid=%d amount=%d)" % (self.kind, self.tid, self.amount)


def cipher_for(ea: int, key: bytes):
    """The block cipher of an encryption algorithm, imported on use: a meter loads only
    the cipher of its own key (RAM on the board)."""
    if ea == EA_MISTY1:
        from .misty1 import Misty1

        return Misty1(key)
    if ea == EA_DES:
        from .des import Des

        return Des(key)
    raise ValueError("ea: must be 9 (DES) or 11 (MISTY1), got %d" % ea)


class StsDecoder:
    """Decodes 20-digit STS tokens for one meter."""

    def __init__(self, state: StsState):
        self.state = state
        self._cipher = cipher_for(state.ea, state.key)
        self._buf = bytearray(9)
        self._block = bytearray(8)

    def decode(self, code: str) -> StsResult:
        buf = self._buf
        if not digits_to_buffer(code, buf):
            return StsResult(R.FORMAT)
        transpose(buf)
        token_class = buf[0]
        block = self._block
        for i in range(8):
            block[i] = buf[i + 1]
        if token_class == 3:
            return StsResult(R.FUNCTION, 3)
        if token_class != 1:
            self._cipher.decrypt_into(block)
        subclass = block[0] >> 4
        if not crc_matches(token_class, block):
            return StsResult(R.CRC, token_class, subclass)
        if token_class == 1:
            return self._test_token(subclass, block)
        if token_class == 2 and subclass in (_KCT1, _KCT2, _KCT3, _KCT4):
            return self._key_section(subclass, block)
        if token_class == 0 and subclass == 0:
            kind = CREDIT
        elif token_class == 2 and subclass in _CLASS2_VALUE:
            kind = _CLASS2_VALUE[subclass]
        else:
            return StsResult(R.FUNCTION, token_class, subclass)
        return self._tid_token(token_class, subclass, kind, block)

    def _tid_token(self, token_class, subclass, kind, block) -> StsResult:
        state = self.state
        tid = (block[1] << 16) | (block[2] << 8) | block[3]
        if kind == CREDIT and state.kt == KT_DEFAULT:
            return StsResult(R.DDTK, token_class, subclass)
        if tid in state.tids:
            return StsResult(R.USED, token_class, subclass)
        # Once the memory is full, a TID below all of it may have been forgotten.
        if len(state.tids) == TID_MEMORY and tid < state.tids[0]:
            return StsResult(R.OLD, token_class, subclass)
        if state.ken != _KEN_NEVER and tid >> 16 > state.ken:
            return StsResult(R.KEY_EXPIRED, token_class, subclass)
        result = StsResult(None, token_class, subclass)
        result.kind = kind
        result.tid = tid
        result.value = (block[4] << 8) | block[5]
        if kind in (CREDIT, MAX_POWER, PHASE_UNBALANCE):
            result.amount = decode_amount(result.value)
        else:
            result.amount = result.value
        return result

    def _test_token(self, subclass, block) -> StsResult:
        if subclass > 1:
            return StsResult(R.FUNCTION, 1, subclass)
        # CONTROL (36 or 28 bits) then MFR: 8 bits in subclass 0, 16 bits in subclass 1.
        mfr = block[5] if subclass == 0 else (block[4] << 8) | block[5]
        if mfr != _MFR_ANY and mfr != self.state.mfr:
            return StsResult(R.RANGE, 1, subclass)
        result = StsResult(None, 1, subclass)
        result.kind = TEST
        result.value = mfr
        result.block = bytes(block)
        return result

    def _key_section(self, subclass, block) -> StsResult:
        state = self.state
        needed = (_KCT1, _KCT2) if state.ea == EA_DES else (_KCT1, _KCT2, _KCT3, _KCT4)
        if subclass not in needed:
            return StsResult(R.FUNCTION, 2, subclass)
        if subclass == _KCT1 and (block[1] & 3) == _KT_INITIAL:
            return StsResult(R.KEY_TYPE, 2, subclass)
        result = StsResult(None, 2, subclass)
        result.block = bytes(block[0:6])
        have = 0
        for sub in needed:
            if sub == subclass or sub in state.pending:
                have += 1
        result.sections = have
        result.sections_needed = len(needed)
        if have < len(needed):
            result.kind = KEY_SECTION
            return result
        result.kind = KEY_CHANGE
        sections = dict(state.pending)
        sections[subclass] = result.block
        result.new_state = _assemble_key(state, sections)
        return result

    def commit(self, result: StsResult) -> None:
        """Apply an accepted result to the decoder state (in memory)."""
        if not result.ok:
            raise ValueError("commit: result was rejected (%s)" % result.reason)
        state = self.state
        new_state = result.new_state
        if new_state is not None:  # a complete key change set
            self.state = new_state
            self._cipher = cipher_for(new_state.ea, new_state.key)
        elif result.kind == KEY_SECTION:
            state.pending[result.subclass] = result.block
        elif result.tid >= 0:
            _remember(state, result.tid)


def _remember(state, tid) -> None:
    tids = state.tids
    i = len(tids)
    while i and tids[i - 1] > tid:
        i -= 1
    tids.insert(i, tid)
    if len(tids) > TID_MEMORY:
        tids.pop(0)


def _assemble_key(state, sections) -> StsState:
    """Build the state a complete key change set installs."""
    kct1 = sections[_KCT1]
    kct2 = sections[_KCT2]
    ken = ((kct1[0] & 0x0F) << 4) | (kct2[0] & 0x0F)
    krn = kct1[1] >> 4
    rollover = kct1[1] & 0x08
    kt = kct1[1] & 0x03
    ti = kct2[1]
    if state.ea == EA_DES:
        key = kct1[2:6] + kct2[2:6]
        sgc = state.sgc
    else:
        # 128-bit key: NKHO | NKMO2 | NKMO1 | NKLO, SGC halves in sections 3 and 4.
        kct3 = sections[_KCT3]
        kct4 = sections[_KCT4]
        key = kct1[2:6] + kct3[2:6] + kct4[2:6] + kct2[2:6]
        sgc = (((kct4[0] & 0x0F) << 8 | kct4[1]) << 12) | ((kct3[0] & 0x0F) << 8) | kct3[1]
    base_year = state.base_year
    if rollover:
        at = BASE_YEARS.index(base_year)
        base_year = BASE_YEARS[min(at + 1, len(BASE_YEARS) - 1)]
    new = StsState(key, state.ea, krn, kt, ti, ken, base_year, sgc, state.mfr)
    if not rollover:
        new.tids = list(state.tids)
    return new
