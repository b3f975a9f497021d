"""MicroPython's tick counters; under CPython (simulator, host tests) ticks_host.py's."""

try:
    from time import ticks_add, ticks_diff, ticks_ms, ticks_us  # noqa: F401
except ImportError:
    from ticks_host import ticks_add, ticks_diff, ticks_ms, ticks_us  # type: ignore # noqa: F401
