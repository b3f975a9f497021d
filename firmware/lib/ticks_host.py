"""Tick counters for CPython that wrap with the boards' period (2**30), so wrap bugs show up
on the host too instead of hiding behind the unix port's 2**62."""

import time

from protocol.ticks import PERIOD


def ticks_ms() -> int:
    return (time.monotonic_ns() // 1000000) % PERIOD


def ticks_us() -> int:
    return (time.monotonic_ns() // 1000) % PERIOD
