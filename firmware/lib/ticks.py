"""Tick counters and their arithmetic, the same on every runtime.

ticks_ms/ticks_us are MicroPython's (under CPython, ticks_host.py's). ticks_add and
ticks_diff are ours: they work modulo 2**30, the period of the ESP32 and RP2040
counters, which is also right for the unix port's 2**62 (a multiple) as long as
differences stay under 2**29 ticks. Tests can then run a board's wrap anywhere.
"""

try:
    from time import ticks_ms, ticks_us  # noqa: F401
except ImportError:
    from ticks_host import ticks_ms, ticks_us  # type: ignore # noqa: F401

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

PERIOD = const(1 << 30)
_HALF = const(1 << 29)
_MASK = const(PERIOD - 1)


def ticks_add(ticks, delta):
    return (ticks + delta) & _MASK


def ticks_diff(new, old):
    """new - old for a counter wrapping at 2**30."""
    return ((new - old + _HALF) & _MASK) - _HALF
