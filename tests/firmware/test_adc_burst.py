"""Burst sampler on fake ADC pins: pairing, scaling, pacing, no allocation."""

from array import array

from adc_burst import AdcBurst, AdcReader
from ticks import ticks_diff, ticks_us

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

