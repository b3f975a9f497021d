"""STS 16-bit amount field: 2-bit exponent, 14-bit mantissa, in 0.1 units.

value = m                                   when e == 0
value = m * 10**e + sum(2**14 * 10**(n-1))  for n = 1..e, otherwise
The largest value, 18 201 624 tenths, fits a MicroPython small int on 32-bit boards.
"""

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

_MANTISSA = const(16384)  # 2**14
# Offset of each band: sum of 2**14 * 10**(n-1) for n = 1..e.
_OFFSETS = const((0, 16384, 180224, 1818624))
_STEPS = const((1, 10, 100, 1000))
MAX_TENTHS = 18201624


def decode_amount(field: int) -> int:
    """Amount field -> value in tenths."""
    e = field >> 14
    return (field & 0x3FFF) * _STEPS[e] + _OFFSETS[e]


def encode_amount(tenths: int) -> int:
    """Value in tenths -> amount field, rounding up so the customer never gets less.

    Raises ValueError outside 0..MAX_TENTHS.
    """
    if tenths < 0 or tenths > MAX_TENTHS:
        raise ValueError("amount must be 0..%d tenths, got %d" % (MAX_TENTHS, tenths))
    e = 3
    while e and tenths < _OFFSETS[e]:
        e -= 1
    m = (tenths - _OFFSETS[e]) // _STEPS[e]
    if m * _STEPS[e] + _OFFSETS[e] < tenths:
        m += 1
    if m == _MANTISSA:  # rounding up overflowed the band: first value of the next band
        e += 1
        m = 0
    return (e << 14) | m
