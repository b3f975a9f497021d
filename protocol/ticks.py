"""Arithmetic on tick counters (ticks_ms, ticks_us values), the same on every runtime.

On MicroPython it is the port's own time.ticks_add/ticks_diff: they work in machine words,
so they never allocate, even near the wrap where `new - old + half` would pass the 31-bit
small ints of a 32-bit board and become a heap integer. The period is the port's: 2**30 on
the ESP32, RP2040 and the 32-bit WebAssembly port, 2**62 on the 64-bit unix port.
CPython has none: there the functions below keep the boards' 2**30 period, so wrap bugs
show up on the host too.
"""

_HALF = 1 << 29
_MASK = (1 << 30) - 1


def ticks_add(ticks, delta):
    return (ticks + delta) & _MASK


def ticks_diff(new, old):
    """new - old for a counter wrapping at 2**30."""
    return ((new - old + _HALF) & _MASK) - _HALF


try:
    from time import ticks_add, ticks_diff  # type: ignore  # noqa: F811  (MicroPython: the port's own)
except ImportError:
    pass

PERIOD = ticks_add(0, -1) + 1  # the counter's period on this runtime
