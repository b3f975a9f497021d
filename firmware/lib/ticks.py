"""Tick counters and their arithmetic, the same on every runtime.

On MicroPython all four are the port's own (time.ticks_*: machine words, no allocation near
the wrap) and PERIOD is its counter's period. Under CPython ticks_ms/ticks_us are
ticks_host.py's and the arithmetic protocol/ticks.py's, both wrapping at 2**30 like a board.
Tests run a board's wrap by starting a clock near PERIOD. (ticks.pyi gives the type checker
plain ints: the MicroPython stubs type tick values apart.)
"""

try:
    from time import ticks_add, ticks_diff, ticks_ms, ticks_us  # noqa: F401

    PERIOD = ticks_add(0, -1) + 1
except ImportError:
    from protocol.ticks import PERIOD, ticks_add, ticks_diff  # noqa: F401
    from ticks_host import ticks_ms, ticks_us  # noqa: F401
