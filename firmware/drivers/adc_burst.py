"""Paced burst sampling of voltage and current together, for boards with plain ADC pins.

v and i are read back to back at a fixed period, paced by ticks_us busy-waiting
(ESP32 timer callbacks are soft and jitter). The burst covers whole 60 Hz cycles,
e.g. 64 samples every 521 us = 2 cycles; nothing is allocated while sampling.

Every board hands the firmware 12-bit counts (mid-scale 2048), read one of two ways:
- calibrated: read_uv() (esp32 port: eFuse-calibrated, whole millivolts) scaled to counts
  against the board's full scale (pin microvolts at 4096 counts), which removes the chip's
  own gain error. No division per sample: counts = ((uv >> 5) * multiplier + 2**15) >> 16,
  with multiplier = 2**33 / full_scale_uv. The product is about uv / full_scale x 2**28, so
  it stays a small int on a 32-bit board (below 2**30) for any reading under 3.9 x full
  scale; the ADC saturates near 1 x. (uv * 4096 would be a heap integer above 262 mV.)
- raw: read_u16() >> 4, then the board's correction of raw codes, if any (rp2040_dnl),
  applied after the paced loop so v and i stay back to back.
The choice is made once, at construction: read_uv where the port has it and the board
names no raw-code correction.
"""

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

from ticks import ticks_add, ticks_diff, ticks_us

_UV_SHIFT = const(16)
_UV_HALF = const(0x8000)     # 1 << (_UV_SHIFT - 1): rounds to the nearest count
_TOP = const(4095)


def uv_multiplier(full_scale_uv: int) -> int:
    """2**33 / full_scale_uv, rounded: the count scale of uv_counts (small ints only)."""
    if full_scale_uv < 1 << 16:  # 65 mV: below it, dropping 5 bits of the scale costs accuracy
        raise ValueError("adc: full_scale_uv must be at least 65536")
    per32 = full_scale_uv >> 5
    return ((1 << 28) + (per32 >> 1)) // per32


def uv_counts(uv: int, multiplier: int) -> int:
    """Calibrated microvolts at the pin as 12-bit counts, clipped at 4095 (as the burst does)."""
    counts = ((uv >> 5) * multiplier + _UV_HALF) >> _UV_SHIFT
    return counts if counts < 4096 else _TOP


def rp2040_dnl(code: int) -> int:
    """A raw RP2040 12-bit code corrected for erratum RP2040-E11, clipped to 0-4095.

    The codes 512, 1536, 2560 and 3584 (0x200 + k x 0x400) are wide bins: their DNL is about
    +8 to +9 LSB (RP2040 datasheet, RP2040-E11; 8.9 LSB measured at pico-adc.markomo.me), so
    each code above one reads about 8 LSB low against the codes below it. This adds 8 for
    every wide code at or below `code` ((code + 512) >> 10 of them) and takes 16 off, which
    keeps mid-scale 2048 where it was and the slope at one count per code: measured
    corrections averaged over five Picos (github.com/kitanokitsune/rp2040adc_correction) sit
    within about 3 LSB of it. Monotonic, no allocation. Codes below 16 and above 4079 clip.
    """
    code += ((code + 512) >> 10 << 3) - 16
    if code < 0:
        return 0
    return code if code < 4096 else _TOP


class AdcBurst:
    def __init__(self, v_adc, i_adc, clock_us=ticks_us, full_scale_uv: int = 0, correct=None):
        # v_adc, i_adc: machine.ADC objects (read_u16(), and read_uv() on esp32).
        # clock_us: the microsecond tick counter (tests run one across its wrap).
        # full_scale_uv: pin microvolts at 4096 counts (ADC_REF_MV x 1000); 0: raw reads only.
        # correct: a function of a raw 12-bit code (rp2040_dnl), or None.
        self._uv = correct is None and full_scale_uv > 0 and hasattr(v_adc, "read_uv") and hasattr(i_adc, "read_uv")
        if self._uv:
            self._v = v_adc.read_uv
            self._i = i_adc.read_uv
            self._multiplier = uv_multiplier(full_scale_uv)
        else:
            self._v = v_adc.read_u16
            self._i = i_adc.read_u16
        self._correct = correct
        self._clock_us = clock_us

    def burst(self, vbuf, ibuf, n: int, period_us: int) -> None:
        if self._uv:
            self._burst_uv(vbuf, ibuf, n, period_us)
            return
        self._burst_raw(vbuf, ibuf, n, period_us)
        correct = self._correct
        if correct is not None:
            for k in range(n):
                vbuf[k] = correct(vbuf[k])
                ibuf[k] = correct(ibuf[k])

    def _burst_raw(self, vbuf, ibuf, n: int, period_us: int) -> None:
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

    def _burst_uv(self, vbuf, ibuf, n: int, period_us: int) -> None:
        read_v = self._v
        read_i = self._i
        ticks_us = self._clock_us
        multiplier = self._multiplier
        due = ticks_us()
        for k in range(n):
            while ticks_diff(ticks_us(), due) < 0:
                pass
            v = read_v()
            i = read_i()
            v = ((v >> 5) * multiplier + _UV_HALF) >> _UV_SHIFT  # uv_counts, inline
            i = ((i >> 5) * multiplier + _UV_HALF) >> _UV_SHIFT
            vbuf[k] = v if v < 4096 else _TOP
            ibuf[k] = i if i < 4096 else _TOP
            due = ticks_add(due, period_us)


class AdcReader:
    """One ADC pin averaged over a few reads (battery divider), as 12-bit counts.

    Read the same way as AdcBurst: calibrated microvolts averaged, then scaled (more
    resolution than one millivolt read), or raw codes each corrected, then averaged.
    """

    def __init__(self, adc, reads: int = 16, full_scale_uv: int = 0, correct=None):
        self._uv = correct is None and full_scale_uv > 0 and hasattr(adc, "read_uv")
        if self._uv:
            self._read = adc.read_uv
            self._multiplier = uv_multiplier(full_scale_uv)
        else:
            self._read = adc.read_u16
        self._correct = correct
        self._reads = reads

    def read(self) -> int:
        total = 0
        read = self._read
        if self._uv:
            for _ in range(self._reads):
                total += read()
            return uv_counts(total // self._reads, self._multiplier)
        correct = self._correct
        for _ in range(self._reads):
            code = read() >> 4
            total += code if correct is None else correct(code)
        return total // self._reads
