"""OpenPAYGO Token vending (host side): the encoder.

Same tokens as the reference `openpaygo` 0.6.3 encoder, computed with the code
arithmetic of protocol/openpaygo.py that the meter runs. One deliberate difference:
extended SET_TIME refuses the values 998 and 999, which mean DISABLE_PAYG and
COUNTER_SYNC on odd counts (the reference decoder misreads them, upstream issue #24).
"""

import math

from opsm.protocol.openpaygo import (ADD_TIME, COUNTER_SYNC, DISABLE_PAYG, DISABLE_VALUE, KINDS,
                                MAX_STARTING_CODE, MAX_VALUE, MAX_VALUE_EXTENDED, SET_TIME,
                                SYNC_VALUE, Chain)

_FIXED_VALUES = {DISABLE_PAYG: DISABLE_VALUE, COUNTER_SYNC: SYNC_VALUE}


def parse_key(key_hex) -> bytes:
    """The 16-byte secret key from 32 hexadecimal characters."""
    if not isinstance(key_hex, str) or len(key_hex) != 32:
        raise ValueError("key: must be 32 hexadecimal characters")
    try:
        return bytes.fromhex(key_hex)
    except ValueError:
        raise ValueError("key: must be 32 hexadecimal characters, got %r" % key_hex) from None


def next_count(count: int, kind: str) -> int:
    """The count of the next token: even for ADD_TIME, odd for the other kinds."""
    want = 0 if kind == ADD_TIME else 1
    return count + 1 if (count + 1) % 2 == want else count + 2


def _is_int(x) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def raw_value(kind: str, value, divider: int, extended: bool) -> int:
    """The value the token carries, checked as the reference does (value * divider, rounded)."""
    if kind in _FIXED_VALUES:
        if value is not None:
            raise ValueError("value: not allowed for %s" % kind)
        return _FIXED_VALUES[kind]
    if (value is None or isinstance(value, bool) or not isinstance(value, (int, float))
            or not math.isfinite(value)):
        raise ValueError("value: a number is required for %s, got %r" % (kind, value))
    raw = int(round(value * divider, 0))
    limit = MAX_VALUE_EXTENDED if extended else MAX_VALUE
    if not 0 <= raw <= limit:
        raise ValueError("value: %r x divider %d = %d is outside 0..%d"
                         % (value, divider, raw, limit))
    if extended and kind == SET_TIME and raw in (DISABLE_VALUE, SYNC_VALUE):
        raise ValueError("value: %d is reserved in extended SET_TIME tokens (it means %s)"
                         % (raw, DISABLE_PAYG if raw == DISABLE_VALUE else COUNTER_SYNC))
    return raw


def generate(key_hex, count, kind, value=None, starting_code=None, extended=False,
             restricted=False, divider=1):
    """Next token after `count` (the last count used) -> (new_count, token digits)."""
    key = parse_key(key_hex)
    if not _is_int(count) or count < 0:
        raise ValueError("count: must be an integer >= 0, got %r" % (count,))
    if kind not in KINDS:
        raise ValueError("kind: must be one of %s, got %r" % (", ".join(KINDS), kind))
    if not _is_int(divider) or divider < 1:
        raise ValueError("divider: must be an integer >= 1, got %r" % (divider,))
    if starting_code is not None and (not _is_int(starting_code)
                                      or not 0 <= starting_code <= MAX_STARTING_CODE):
        raise ValueError("starting_code: must be an integer 0..%d, got %r"
                         % (MAX_STARTING_CODE, starting_code))
    raw = raw_value(kind, value, divider, extended)
    chain = Chain(key, extended)
    start = chain.default_start() if starting_code is None else starting_code
    new_count = next_count(count, kind)
    return new_count, token_at(chain, start, raw, new_count, restricted)


def token_at(chain: Chain, starting_code: int, value: int, count: int, restricted=False) -> str:
    """The token carrying value at count (no checks: generate() does them)."""
    base = chain.base(starting_code, value)
    code = [0, 0]
    chain.start(starting_code, base, code)
    chain.advance(code, count)
    number = code[0] * chain.split + base
    if not restricted:
        return "%0*d" % (chain.digits, number)
    # Keys 1..4: two bits per key, most significant first (30 or 40 bits).
    return "".join("1234"[(number >> shift) & 3]
                   for shift in range(2 * chain.restricted_digits - 2, -1, -2))


def bitmap_from_counts(max_count: int, counts) -> int:
    """The decoder's used bitmap from the reference's used_counts list."""
    return sum(1 << (max_count - 1 - c) for c in set(counts) if max_count - 16 <= c < max_count)


def counts_from_bitmap(max_count: int, used: int) -> list:
    """The reference's used_counts for a decoder state: the marked counts and max_count."""
    return [c for c in range(max(0, max_count - 16), max_count)
            if (used >> (max_count - 1 - c)) & 1] + [max_count]
