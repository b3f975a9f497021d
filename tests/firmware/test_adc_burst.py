"""Burst sampler on fake ADC pins: pairing, scaling, pacing, no allocation."""

from array import array

from adc_burst import AdcBurst, AdcReader
from ticks import PERIOD, ticks_add, ticks_diff, ticks_us

from tests.nogc import without_allocation


class FakeAdc:
    def __init__(self, start, step):
        self.value = start
        self.step = step
        self.reads = 0

    def read_u16(self):
        self.reads += 1
        self.value = (self.value + self.step) & 0xFFFF
        return self.value


def test_burst_pairs_scales_and_paces():
    v, i = FakeAdc(0, 16 * 10), FakeAdc(0, 16 * 3)
    vbuf, ibuf = array("H", bytes(16)), array("H", bytes(16))
    start = ticks_us()
    AdcBurst(v, i).burst(vbuf, ibuf, 8, 200)
    elapsed = ticks_diff(ticks_us(), start)
    assert list(vbuf) == [10 * (k + 1) for k in range(8)]
    assert list(ibuf) == [3 * (k + 1) for k in range(8)]
    assert v.reads == i.reads == 8
    assert elapsed >= 7 * 200  # paced: the 8th sample waits 7 periods


def test_burst_does_not_allocate():
    sampler = AdcBurst(FakeAdc(0, 16), FakeAdc(0, 32))
    vbuf, ibuf = array("H", bytes(128)), array("H", bytes(128))
    without_allocation(lambda: sampler.burst(vbuf, ibuf, 64, 10))
    assert vbuf[63] == 64 and ibuf[63] == 128


def test_reader_averages():
    adc = FakeAdc(0, 16)
    assert AdcReader(adc, 4).read() == (1 + 2 + 3 + 4) // 4



class WrappingClock:
    """A microsecond counter that starts just before the runtime's wrap and moves 37 us a read."""

    def __init__(self, before_wrap):
        self.now = PERIOD - before_wrap

    def __call__(self):
        self.now = ticks_add(self.now, 37)
        return self.now


def test_burst_across_the_tick_wrap_does_not_allocate():
    # On a 32-bit board (31-bit small ints) `new - old + half` near the wrap made a heap integer:
    # the burst that promises no allocation allocated every 17.9 minutes.
    for before in (1, 500, 2000, 1 << 20):
        clock = WrappingClock(before)
        sampler = AdcBurst(FakeAdc(0, 16), FakeAdc(0, 32), clock)
        vbuf, ibuf = array("H", bytes(128)), array("H", bytes(128))
        without_allocation(lambda: sampler.burst(vbuf, ibuf, 64, 100))
        assert vbuf[63] == 64 and ibuf[63] == 128
        assert clock.now < PERIOD


def test_ticks_arithmetic_across_the_wrap_does_not_allocate():
    results = [False] * 4
    steps = (1, 5, 10, 1000)
    old = PERIOD - 5  # made before the lock: PERIOD itself is a heap integer on the 64-bit unix port

    def run():
        for i in range(4):
            step = steps[i]
            new = ticks_add(old, step)
            results[i] = ticks_diff(new, old) == step and ticks_diff(old, new) == -step

    without_allocation(run)
    assert results == [True] * 4
