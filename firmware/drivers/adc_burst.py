"""Paced burst sampling of voltage and current together, for boards with plain ADC pins.

v and i are read back to back at a fixed period, paced by ticks_us busy-waiting
(ESP32 timer callbacks are soft and jitter). The burst covers whole 60 Hz cycles,
e.g. 64 samples every 521 us = 2 cycles; nothing is allocated while sampling.
"""

from ticks import ticks_add, ticks_diff, ticks_us


class AdcBurst:
    def __init__(self, v_adc, i_adc, clock_us=ticks_us):
        # Objects with read_u16() (machine.ADC); the 16-bit value is scaled to 12 bits.
        # clock_us: the microsecond tick counter (tests run one across its wrap).
        self._v = v_adc.read_u16
        self._i = i_adc.read_u16
        self._clock_us = clock_us

    def burst(self, vbuf, ibuf, n: int, period_us: int) -> None:
        read_v = self._v
        read_i = self._i
        ticks_us = self._clock_us
        due = ticks_us()
        for k in range(n):
            while ticks_diff(ticks_us(), due) < 0:
                pass
            vbuf[k] = read_v() >> 4
            ibuf[k] = read_i() >> 4
            due = ticks_add(due, period_us)


class AdcReader:
    """One ADC pin averaged over a few reads (battery divider), as 12-bit counts."""

    def __init__(self, adc, reads: int = 16):
        self._read = adc.read_u16
        self._reads = reads

    def read(self) -> int:
        total = 0
        for _ in range(self._reads):
            total += self._read() >> 4
        return total // self._reads
