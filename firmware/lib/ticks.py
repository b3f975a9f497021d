"""MicroPython's tick counters, and the same under CPython (simulator, host tests).

On CPython the counters wrap with the boards' period (2**30), so wrap bugs show up
on the host too instead of hiding behind the unix port's 2**62.
"""

try:
    from time import ticks_add, ticks_diff, ticks_ms, ticks_us  # noqa: F401
except ImportError:
    import time as _time

    PERIOD = 1 << 30
    _HALF = PERIOD >> 1

    def ticks_ms() -> int:
        return (_time.monotonic_ns() // 1000000) & (PERIOD - 1)

    def ticks_us() -> int:
        return (_time.monotonic_ns() // 1000) & (PERIOD - 1)

    def ticks_add(ticks: int, delta: int) -> int:
        return (ticks + delta) & (PERIOD - 1)

    def ticks_diff(end: int, start: int) -> int:
        return ((end - start + _HALF) & (PERIOD - 1)) - _HALF
