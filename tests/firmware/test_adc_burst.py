"""Burst sampler on fake ADC pins: pairing, scaling, pacing, no allocation.

Also the two per-board conversions to 12-bit counts: calibrated microvolts (esp32 read_uv)
against the board's full scale, and the RP2040's DNL correction of raw codes.
"""

from array import array

from adc_burst import AdcBurst, AdcReader, rp2040_dnl, uv_counts, uv_multiplier
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


FULL_SCALE_UV = 3100000  # the ESP32 boards' ADC_REF_MV: pin microvolts at 4096 counts


class FakeUvAdc:
    """An esp32 ADC: read_uv() gives calibrated microvolts from a list (cycled); read_u16 is a trap."""

    def __init__(self, uvs):
        self.uvs = uvs
        self.reads = 0
        self.u16_reads = 0

    def read_uv(self):
        uv = self.uvs[self.reads % len(self.uvs)]
        self.reads += 1
        return uv

    def read_u16(self):
        self.u16_reads += 1
        return 0


def counts_of(uv):
    """The reference: uv / full scale x 4096, rounded, clipped to 12 bits (big ints allowed here)."""
    return min(4095, (uv * 4096 * 2 + FULL_SCALE_UV) // (2 * FULL_SCALE_UV))


def test_calibrated_microvolts_become_12_bit_counts_against_the_full_scale():
    # 1 mV steps (the esp32 port's calibration returns whole millivolts), the mid-scale bias,
    # the top of the classic ESP32's linear range, full scale and beyond (the ADC saturates).
    uvs = [0, 1000, 150000, 757000, 1550000, 2450000, 2912000, 3099000, 3100000, 3300000]
    v, i = FakeUvAdc(uvs), FakeUvAdc(list(reversed(uvs)))
    vbuf, ibuf = array("H", bytes(2 * len(uvs))), array("H", bytes(2 * len(uvs)))
    AdcBurst(v, i, full_scale_uv=FULL_SCALE_UV).burst(vbuf, ibuf, len(uvs), 10)
    assert list(vbuf) == [counts_of(uv) for uv in uvs]
    assert list(ibuf) == [counts_of(uv) for uv in reversed(uvs)]
    assert vbuf[4] == 2048 and vbuf[5] == 3237 and vbuf[8] == 4095 and vbuf[9] == 4095
    assert v.u16_reads == i.u16_reads == 0 and v.reads == i.reads == len(uvs)


def test_every_millivolt_of_the_range_converts_within_half_a_count():
    # The precomputed multiplier (no division per sample) against exact rounding, 0-3.1 V.
    multiplier = uv_multiplier(FULL_SCALE_UV)
    worst = 0
    for mv in range(0, 3101):
        exact2 = mv * 1000 * 4096 * 2 // FULL_SCALE_UV  # twice the exact count, floored
        got = uv_counts(mv * 1000, multiplier)
        worst = max(worst, abs(2 * got - exact2))
    assert worst <= 2  # |got - exact| <= 1 count, and never more


def test_the_microvolt_burst_does_not_allocate_on_a_32_bit_board():
    # uv * 4096 for 3.3 V is 1.35e10: a heap integer on a 32-bit board. The burst must scale
    # without one, up to well beyond the ADC's full scale.
    uvs = [3300000, 3100000, 2912000, 1550000, 9000000, 0]
    sampler = AdcBurst(FakeUvAdc(uvs), FakeUvAdc(uvs), full_scale_uv=FULL_SCALE_UV)
    vbuf, ibuf = array("H", bytes(128)), array("H", bytes(128))
    without_allocation(lambda: sampler.burst(vbuf, ibuf, 64, 10))
    assert vbuf[0] == 4095 and vbuf[3] == 2048 and vbuf[4] == 4095 and vbuf[5] == 0 and ibuf[63] == 2048


def test_without_read_uv_the_raw_path_is_kept():
    # A port without read_uv (rp2) keeps read_u16 even when the board states a full scale.
    v, i = FakeAdc(0, 16 * 10), FakeAdc(0, 16 * 3)
    vbuf, ibuf = array("H", bytes(8)), array("H", bytes(8))
    AdcBurst(v, i, full_scale_uv=3300000).burst(vbuf, ibuf, 4, 10)
    assert list(vbuf) == [10, 20, 30, 40] and list(ibuf) == [3, 6, 9, 12]


def test_the_reader_averages_microvolts_before_converting():
    # 16 reads of 1 mV steps average to a value between two millivolts: more resolution than one read.
    adc = FakeUvAdc([1549000, 1550000, 1551000, 1552000])
    reader = AdcReader(adc, 16, full_scale_uv=FULL_SCALE_UV)
    assert reader.read() == counts_of(1550500) == 2049 and adc.reads == 16 and adc.u16_reads == 0
    assert AdcReader(FakeUvAdc([3300000]), 4, full_scale_uv=FULL_SCALE_UV).read() == 4095


# RP2040-E11: the codes 512, 1536, 2560 and 3584 are wide bins (DNL about +8 LSB), so every code
# above one reads about 8 LSB low against the codes below it. The correction adds 8 per wide code
# passed and takes 16 off, which keeps mid-scale (2048) in place, and clips to 0-4095.
def test_the_rp2040_correction_moves_each_code_by_the_wide_bins_below_it():
    expected = {0: 0, 15: 0, 16: 0, 17: 1, 511: 495, 512: 504, 1535: 1527, 1536: 1536, 2047: 2047,
                2048: 2048, 2559: 2559, 2560: 2568, 3583: 3591, 3584: 3600, 4079: 4095, 4095: 4095}
    for code, corrected in expected.items():
        assert rp2040_dnl(code) == corrected, (code, rp2040_dnl(code))


def test_the_rp2040_correction_is_monotonic_and_stays_in_12_bits():
    previous = 0
    steps = []
    for code in range(4096):
        corrected = rp2040_dnl(code)
        assert 0 <= corrected <= 4095 and corrected >= previous
        if code and corrected - previous > 1:
            steps.append((code, corrected - previous))
        previous = corrected
    assert steps == [(512, 9), (1536, 9), (2560, 9), (3584, 9)]  # one code plus the 8 LSB of each wide bin


def raw_u16(code):
    return code << 4 | code >> 8  # what the rp2 port's read_u16 returns for a 12-bit code


class FakeCodeAdc:
    def __init__(self, codes):
        self.codes = codes
        self.reads = 0

    def read_u16(self):
        code = self.codes[self.reads % len(self.codes)]
        self.reads += 1
        return raw_u16(code)


def test_a_corrected_burst_corrects_both_channels_without_allocating():
    codes = [0, 511, 512, 1535, 1536, 2048, 2560, 3584, 4095]
    sampler = AdcBurst(FakeCodeAdc(codes), FakeCodeAdc(list(reversed(codes))), correct=rp2040_dnl)
    vbuf, ibuf = array("H", bytes(128)), array("H", bytes(128))
    without_allocation(lambda: sampler.burst(vbuf, ibuf, 64, 10))
    assert list(vbuf[:9]) == [rp2040_dnl(c) for c in codes] == [0, 495, 504, 1527, 1536, 2048, 2568, 3600, 4095]
    assert list(ibuf[:9]) == [rp2040_dnl(c) for c in reversed(codes)]
    assert vbuf[63] == rp2040_dnl(codes[63 % 9])


def test_a_correction_keeps_the_raw_codes_even_where_read_uv_exists():
    # The correction is defined on raw codes: a port that offers read_uv still reads raw codes.
    adc = FakeCodeAdc([512])
    adc.read_uv = lambda: 1550000
    vbuf, ibuf = array("H", bytes(2)), array("H", bytes(2))
    AdcBurst(adc, adc, full_scale_uv=3300000, correct=rp2040_dnl).burst(vbuf, ibuf, 1, 10)
    assert vbuf[0] == ibuf[0] == 504


def test_the_reader_corrects_each_read_before_averaging():
    # Averaging raw codes across a wide bin and then correcting would smear the step.
    reader = AdcReader(FakeCodeAdc([511, 512]), 2, correct=rp2040_dnl)
    assert reader.read() == (495 + 504) // 2



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
