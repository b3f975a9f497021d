"""Tick counters for CPython that wrap with the boards' period (2**30), so wrap bugs
show up on the host too instead of hiding behind the unix port's 2**62."""

import time

PERIOD = 1 << 30
_HALF = PERIOD >> 1


def ticks_ms() -> int:
    return (time.monotonic_ns() // 1000000) & (PERIOD - 1)


def ticks_us() -> int:
    return (time.monotonic_ns() // 1000) & (PERIOD - 1)


def ticks_add(ticks: int, delta: int) -> int:
    return (ticks + delta) & (PERIOD - 1)


def ticks_diff(end: int, start: int) -> int:
    return ((end - start + _HALF) & (PERIOD - 1)) - _HALF
