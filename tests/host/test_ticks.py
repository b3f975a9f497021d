"""The CPython stand-in for MicroPython's ticks wraps like a 32-bit board."""

import ticks_host as ticks


def test_wraps_with_the_boards_period():
    assert ticks.PERIOD == 1 << 30
    assert ticks.ticks_diff(ticks.ticks_add(ticks.PERIOD - 10, 25), ticks.PERIOD - 10) == 25
    assert ticks.ticks_diff(5, ticks.PERIOD - 5) == 10
    assert ticks.ticks_diff(ticks.PERIOD - 5, 5) == -10
    assert 0 <= ticks.ticks_ms() < ticks.PERIOD
