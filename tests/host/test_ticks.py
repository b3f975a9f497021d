"""Tick arithmetic wraps like a 32-bit board's counter, on every runtime."""

import ticks
import ticks_host


def test_wraps_with_the_boards_period():
    assert ticks.PERIOD == 1 << 30
    assert ticks.ticks_diff(ticks.ticks_add(ticks.PERIOD - 10, 25), ticks.PERIOD - 10) == 25
    assert ticks.ticks_diff(5, ticks.PERIOD - 5) == 10
    assert ticks.ticks_diff(ticks.PERIOD - 5, 5) == -10
    assert ticks.ticks_diff((1 << 40) + 7, (1 << 40) - 3) == 10  # the unix port's 2**62 counter
    assert 0 <= ticks_host.ticks_ms() < ticks.PERIOD and 0 <= ticks_host.ticks_us() < ticks.PERIOD
