"""Small assertions the MicroPython-compatible tests share (no pytest there)."""


def raises(exc, fn, *args, **kw) -> bool:
    try:
        fn(*args, **kw)
    except exc:
        return True
    return False


def raises_value_error(fn, *args, **kw):
    return raises(ValueError, fn, *args, **kw)


def flipped(data, i: int, mask: int = 0x01) -> bytes:
    """data with bit(s) `mask` of byte i inverted: a tampered message."""
    out = bytearray(data)
    out[i] ^= mask
    return bytes(out)
