"""Metering maths of the meter: RMS, power, frequency, energy registers, battery.

Pure logic: the hardware layer fills two preallocated array('H') with
simultaneous raw 12-bit ADC counts (read_u16() >> 4 on both ports) of the AC
output voltage (divider) and the load current (CT + burden), biased near
mid-scale, in bursts covering a whole number of 60 Hz cycles (e.g. 64 samples
at 1920 Hz, period 521 us = 2 cycles).
A board measures ~30 bursts a second and takes a reading each second; the
simulator may measure one burst per simulated minute and hold it. Windows of
whole cycles are what make 12 bits enough: notes/firmware.md measured <= 0.03 %
RMS error at 120 V for any rate >= 960 Hz, against 0.4-0.7 % for windows cut
mid-cycle. The ADC itself sets the real limits: keep the AC signal inside the
ESP32's linear range (150-2450 mV at ATTN_11DB) and mind the RP2040's DNL
spikes (erratum E11) and its 3.3 V-rail reference; the per-board calibration
(calibration.py) absorbs gain and offset.

Formulas, with v, i the counts minus a fixed reference level and N the samples
since the last reading (all sums exact integers):
  Vrms^2 = sum(v*v)/N - (sum(v)/N)^2        offset removed exactly (EmonLibCM)
  Irms^2 = sum(i*i)/N - (sum(i)/N)^2
  P      = sum(vc*i)/N - (sum(v)/N)*(sum(i)/N), vc the phase-corrected voltage:
  vc[k]  = a*v[k] + b*v[k-1], a = sin(x-phi)/sin(x), b = sin(phi)/sin(x)
           x = 2*pi*f*T (one sample), phi = 2*pi*f*d (d = calibration phase_ns).
           This is interpolation between successive voltage samples with weights
           exact for the fundamental (the linear weights 1-d/T, d/T would shrink
           the voltage by up to 0.5 % at 32 samples a cycle). By linearity only
           two integer sums are kept, sum(v[k]*i[k]) and sum(v[k-1]*i[k]), and a,
           b apply once per reading. Inside a burst of whole cycles v[-1] is
           taken as v[n-1] (the same phase), so sum(v[k-1]) = sum(v).
  S      = Vrms * Irms
  Q      = sign(Q1) * sqrt(S^2 - P^2): everything that is not active power
           (displacement and distortion), signed like the fundamental's reactive
           power Q1 = (cos(phi)*sum(v[k-1]i[k]) - cos(x-phi)*sum(v[k]i[k]))/sin(x)
           (offsets removed), positive when the current lags (inductive), the
           convention of DLMS 1.0.3.8.0 / 1.0.4.8.0. Q1 is exact for sine waves;
           harmonic active power leaks into it, so use it for signs and phase
           calibration, not as a register.
  PF     = P / S;   f = whole cycles between the first and last rising zero
           crossing of each burst, and between its first and last falling one
           (each pair spans whole cycles whatever the offset), timed to 1/256
           sample by linear interpolation and summed across bursts. A burst of
           two cycles holds two rising or two falling crossings at any phase, so
           each burst (the simulator's one a minute too) measures f.

Starting threshold and no load (IEC 62053-21 class 1, direct connection: the
meter starts by 0.004 Ib and a voltage with no current, 115 % Un, gives at most
one pulse). Ib of this meter is 5 A (its CT spans 30 A peak, 2.5 kW at 120 V):
it starts by 20 mA, 2.4 W at 120 V. The rule compares powers, not Irms: the current
channel's noise of 1.4-2 LSB RMS (16.7 mA a count) alone reads 24-34 mA RMS,
more than the starting current, while it adds nothing to P or Q1 on average
(v and i noises are independent). With the threshold current _START_MA,
3/4 of the starting current so that a load at 20 mA starts through the noise:
  start  = max(Vrms, 1 V) x 15 mA          (1.8 W at 120 V, 0.15 W at 10 V)
  P = 0  when |P| < start                  (import and export: no creep, no "-1 W")
  Q = 0  when |Q1| < start                 (below it Q's sign is noise)
  both:  no load: Irms, S = 0, PF 1000
q_fund_mvar, v_mcounts and i_mcounts stay as measured: calibration's inputs.
So no energy reaches any register from noise, and export above the threshold
stays measurable. The noise P and Q1 see scales with Vrms, as start does: one
burst of 64 samples with the simulator's +-2 LSB of current noise (1.4 LSB RMS)
gives sigma(P) ~ 0.35 W at 120 V (start is 5 sigma), a board's 30 bursts a
reading 0.06-0.09 W (1.4-2 LSB RMS).

Per-burst sums stay small ints on a 32-bit board (64 x 2048^2 = 2^28 < 2^30);
each is added once per burst to a two-word accumulator, so add_burst never
makes a big int or any other object. reading() uses big ints and a few 32-bit
floats (the coefficients, never accumulated).
"""

import math
from array import array
from collections import namedtuple

from calibration import div_round

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

_MID_SCALE = const(2048)      # reference level until the first reading measures the bias
_HYSTERESIS = const(16)       # counts either side of the level for a crossing: 8x the ~2 LSB noise
_START_MA = const(15)         # starting threshold current: 3/4 of 0.004 Ib (Ib = 5 A), see above
_NO_VOLTAGE_MV = const(1000)  # the threshold's voltage floor: below 1 V there is nothing to meter
_LO_BITS = const(24)          # two-word accumulators: lo keeps 24 bits, hi the carries
_LO_MASK = const(0xFFFFFF)
_Q_BITS = const(24)           # fixed point of the phase coefficients
_NOMINAL_MHZ = const(60000)   # used for the coefficients until crossings measure f
# accumulator slots (lo at the index, hi at the index + 1)
_SV = const(0)
_SI = const(2)
_SVV = const(4)
_SII = const(6)
_SVI = const(8)     # v[k] * i[k]
_SPI = const(10)    # v[k-1] * i[k]
_SPAN = const(12)   # time between first and last crossing of each burst, 1/256 us
_SLOTS = const(14)


def isqrt(x: int) -> int:
    """Largest integer whose square is <= x (Newton; MicroPython has no math.isqrt)."""
    if x <= 0:
        return 0
    r = x
    y = (r + 1) >> 1
    while y < r:
        r = y
        y = (r + x // r) >> 1
    return r


# One reading of the AC output in integer milli-units (see the module docstring).
# v_mcounts, i_mcounts: uncalibrated RMS in thousandths of an ADC count, what
# calibration.two_point takes. q_fund_mvar: the fundamental's reactive power Q1.
# pf_milli is 1000 when there is no current (S = 0, or no load: below the starting
# threshold), negative when exporting.
# A named tuple: the reading made every second is one small object, not an instance
# and its attribute table.
Reading = namedtuple("Reading", "vrms_mv irms_ma p_mw s_mva q_mvar q_fund_mvar pf_milli freq_mhz v_mcounts i_mcounts")


def watts(p_mw: int) -> int:
    """Whole watts, rounded (a floor would show a 3 W load as 2 W and 1 kW as 999 W)."""
    return (p_mw + 500) // 1000


class PowerMeter:
    def __init__(self, calibration):
        self.calibration = calibration  # replaced as a whole when the technician recalibrates
        self._acc = array("i", [0] * _SLOTS)
        self._samples = 0
        self._cycles = 0
        self._period_us = 0
        # Reference levels subtracted from the counts: fixed within a reading (so
        # sums of different bursts add up), moved to the measured bias after it.
        self._mid_v = _MID_SCALE
        self._mid_i = _MID_SCALE

    def _accumulate(self, slot: int, value: int) -> None:
        """Add a per-burst sum to a (lo, hi) pair: both stay small ints on a 32-bit board."""
        acc = self._acc
        lo = acc[slot] + value
        acc[slot] = lo & _LO_MASK
        acc[slot + 1] += lo >> _LO_BITS

    def _total(self, slot: int) -> int:
        return (self._acc[slot + 1] << _LO_BITS) + self._acc[slot]

    def add_burst(self, vbuf, ibuf, n: int, period_us: int) -> None:
        """Accumulate n simultaneous samples of voltage and current taken period_us apart.

        The n samples must cover a whole number of mains cycles; all bursts of a
        reading share one period. Hot path: allocates nothing.
        """
        if n < 2 or n > len(vbuf) or n > len(ibuf) or period_us <= 0:
            raise ValueError("metering: burst needs 2 <= n <= buffer length and period_us > 0")
        mid_v = self._mid_v
        mid_i = self._mid_i
        sv = si = svv = sii = svi = spi = 0
        before = vbuf[n - 1] - mid_v  # v[k-1] for k = 0: v[n-1] has its phase (whole cycles)
        side = 0                      # 1 above +hysteresis, -1 below -hysteresis, 0 neither yet
        rises = falls = rise0 = rise1 = fall0 = fall1 = 0
        for k in range(n):
            v = vbuf[k] - mid_v
            i = ibuf[k] - mid_i
            sv += v
            si += i
            svv += v * v
            sii += i * i
            svi += v * i
            spi += before * i
            if v >= _HYSTERESIS:
                if side < 1:
                    if side:  # rising zero crossing between samples k-1 and k, in 1/256 sample
                        rise1 = ((k - 1) << 8) + ((-before) << 8) // (v - before)
                        if rises == 0:
                            rise0 = rise1
                        rises += 1
                    side = 1
            elif v <= -_HYSTERESIS:
                if side > -1:
                    if side:  # falling zero crossing
                        fall1 = ((k - 1) << 8) + (before << 8) // (before - v)
                        if falls == 0:
                            fall0 = fall1
                        falls += 1
                    side = -1
            before = v
        self._accumulate(_SV, sv)
        self._accumulate(_SI, si)
        self._accumulate(_SVV, svv)
        self._accumulate(_SII, sii)
        self._accumulate(_SVI, svi)
        self._accumulate(_SPI, spi)
        cycles = (rises - 1 if rises > 1 else 0) + (falls - 1 if falls > 1 else 0)
        if cycles:
            self._cycles += cycles
            self._accumulate(_SPAN, (rise1 - rise0 + fall1 - fall0) * period_us)
        self._samples += n
        self._period_us = period_us

    def reading(self) -> Reading:
        """Everything measured since the last reading; starts the next one."""
        n = self._samples
        if n == 0:
            raise ValueError("metering: reading() needs at least one burst")
        cal = self.calibration
        sv = self._total(_SV)
        si = self._total(_SI)
        # N^2 x (mean of products - product of means): variances and covariances, exact
        cvv = n * self._total(_SVV) - sv * sv
        cii = n * self._total(_SII) - si * si
        c0 = n * self._total(_SVI) - sv * si   # v[k] with i[k]
        c1 = n * self._total(_SPI) - sv * si   # v[k-1] with i[k]
        span = self._total(_SPAN)
        freq_mhz = div_round(self._cycles * 256000000000, span) if self._cycles and span > 0 else 0

        hz = (freq_mhz or _NOMINAL_MHZ) / 1000
        x = 2 * math.pi * hz * self._period_us / 1e6
        phi = 2 * math.pi * hz * cal.phase_ns / 1e9
        one = (1 << _Q_BITS) / math.sin(x)
        p_num = round(math.sin(x - phi) * one) * c0 + round(math.sin(phi) * one) * c1
        q_num = round(math.cos(phi) * one) * c1 - round(math.cos(x - phi) * one) * c0
        # counts^2 -> mW: uV x uA = pW, / 10**9
        power_den = (n * n << _Q_BITS) * 1000000000
        p_mw = div_round(p_num * cal.v_gain_uv * cal.i_gain_ua, power_den)
        q_fund_mvar = div_round(q_num * cal.v_gain_uv * cal.i_gain_ua, power_den)

        # sqrt(C)/N counts x gain uV/count = uV, / 1000 = mV
        vrms_mv = max(0, div_round(isqrt(cvv * cal.v_gain_uv * cal.v_gain_uv), n * 1000) + cal.v_offset_mv)
        irms_ma = max(0, div_round(isqrt(cii * cal.i_gain_ua * cal.i_gain_ua), n * 1000) + cal.i_offset_ma)
        # the starting threshold (module docstring): noise is no load, registers nothing
        start_mw = div_round(max(vrms_mv, _NO_VOLTAGE_MV) * _START_MA, 1000)
        if -start_mw < p_mw < start_mw:
            p_mw = 0
        reactive = not -start_mw < q_fund_mvar < start_mw
        if not (p_mw or reactive):
            irms_ma = 0
        s_mva = div_round(vrms_mv * irms_ma, 1000)
        q_mvar = isqrt(max(0, s_mva * s_mva - p_mw * p_mw)) if reactive else 0
        if q_fund_mvar < 0:
            q_mvar = -q_mvar
        pf_milli = max(-1000, min(1000, div_round(1000 * p_mw, s_mva))) if s_mva else 1000
        result = Reading(vrms_mv, irms_ma, p_mw, s_mva, q_mvar, q_fund_mvar, pf_milli, freq_mhz,
                         div_round(isqrt(cvv * 1000000), n), div_round(isqrt(cii * 1000000), n))

        self._mid_v += div_round(sv, n)
        self._mid_i += div_round(si, n)
        for slot in range(_SLOTS):
            self._acc[slot] = 0
        self._samples = self._cycles = 0
        return result


# The four DLMS energy registers, in Wh (varh).
ACTIVE_IMPORT = const(0)    # 1.0.1.8.0, P > 0
ACTIVE_EXPORT = const(1)    # 1.0.2.8.0, P < 0
REACTIVE_IMPORT = const(2)  # 1.0.3.8.0, Q > 0 (current lags)
REACTIVE_EXPORT = const(3)  # 1.0.4.8.0, Q < 0
UJ_PER_WH = 3600000000      # mW x ms (microjoules) in one Wh; a big int on a board, used per interval


class EnergyRegister:
    """Energy as whole Wh (varh) plus a carried residual, as EmonLibCM does.

    add() integrates a power held constant over an interval as the exact integer
    p_mw x dt_ms; what does not make a whole Wh stays in the residual for the next
    interval, so piecewise-constant loads integrate exactly, whatever the interval
    (a board: 1 s; the simulator: a burst held for a minute).
    """

    def __init__(self):
        self.wh = [0, 0, 0, 0]        # indexed by ACTIVE_IMPORT ... REACTIVE_EXPORT
        self.residual = [0, 0, 0, 0]  # mW x ms not yet a whole Wh, 0 <= residual < UJ_PER_WH

    @property
    def import_wh(self) -> int:
        return self.wh[ACTIVE_IMPORT]

    @property
    def export_wh(self) -> int:
        return self.wh[ACTIVE_EXPORT]

    @property
    def import_varh(self) -> int:
        return self.wh[REACTIVE_IMPORT]

    @property
    def export_varh(self) -> int:
        return self.wh[REACTIVE_EXPORT]

    def add(self, p_mw: int, q_mvar: int, dt_ms: int) -> None:
        if dt_ms < 0:
            raise ValueError("energy: dt_ms must not be negative")
        self._carry(ACTIVE_IMPORT if p_mw >= 0 else ACTIVE_EXPORT, abs(p_mw) * dt_ms)
        self._carry(REACTIVE_IMPORT if q_mvar >= 0 else REACTIVE_EXPORT, abs(q_mvar) * dt_ms)

    def _carry(self, register: int, uj: int) -> None:
        total = self.residual[register] + uj
        whole = total // UJ_PER_WH
        self.wh[register] += whole
        self.residual[register] = total - whole * UJ_PER_WH

    def exact_uj(self, register: int) -> int:
        """The register's whole content in mW x ms, residual included."""
        return self.wh[register] * UJ_PER_WH + self.residual[register]

    def pack(self) -> bytes:
        """32 bytes: for each register its Wh then its residual, unsigned 32-bit big-endian."""
        out = b""
        for register in range(4):
            if self.wh[register] > 0xFFFFFFFF:
                raise ValueError("energy: register %d exceeds 2**32 - 1 Wh" % register)
            out += self.wh[register].to_bytes(4, "big") + self.residual[register].to_bytes(4, "big")
        return out

    def restore(self, data) -> None:
        """Take the registers of a pack()ed record."""
        if len(data) != 32:
            raise ValueError("energy: record must be 32 bytes")
        wh = [int.from_bytes(data[i:i + 4], "big") for i in range(0, 32, 8)]
        residual = [int.from_bytes(data[i + 4:i + 8], "big") for i in range(0, 32, 8)]
        if max(residual) >= UJ_PER_WH:  # checked whole before any register changes
            raise ValueError("energy: residual must be below one Wh (3 600 000 000 mW x ms)")
        self.wh, self.residual = wh, residual


def unpack_energy(data) -> EnergyRegister:
    energy = EnergyRegister()
    energy.restore(data)
    return energy


# Resting (open-circuit) voltage -> state of charge: battery mV, percent, mV, percent...,
# rising. Flat: a tuple of pairs would hold one more object per point in the heap.
# Lead-acid 24 V (two flooded 12 V blocks, 25 C): the common rule of thumb per
# block 11.6 / 12.0 / 12.2 / 12.4 / 12.6 V at 0 / 25 / 50 / 75 / 100 %, doubled.
LEAD_ACID_24V = (23200, 0, 24000, 25, 24400, 50, 24800, 75, 25200, 100)
# LiFePO4 8S (24 V class), typical published resting values of an 8S pack.
# The middle of the curve is flat (25.0-25.6 V for 40-70 %): a 0.1 V error is
# ~10 % of charge, so read it as a gauge, not a fuel meter.
LIFEPO4_8S = (24000, 0, 24400, 10, 24600, 20, 24800, 30, 25000, 40, 25200, 50,
              25400, 60, 25600, 70, 26000, 80, 26300, 90, 26700, 100)


class BatteryMonitor:
    """Battery bank voltage from 12-bit ADC counts behind a divider, filtered, and its charge.

    divider_ratio_milli: (R_top + R_bottom) / R_bottom x 1000, e.g. 12000 for
    110k/10k (RP2040: 36 V -> 3.0 V under its 3.3 V reference) or 16000 for
    150k/10k (ESP32 at ATTN_11DB: 36 V -> 2.25 V, inside its 150-2450 mV linear
    range). adc_ref_mv: pin millivolts at 4096 counts. The filter is
    y += (x - y) / 2**shift in integers (time constant 2**shift samples); the
    first sample starts it, so a fresh boot reads at once. gain_ppm is the
    calibration's bat_gain_ppm. The state of charge is only right at rest: the
    meter does not see the battery current.
    """

    def __init__(self, divider_ratio_milli: int, adc_ref_mv: int, soc_table=LEAD_ACID_24V, shift: int = 3,
                 gain_ppm: int = 1000000):
        if divider_ratio_milli < 1000:
            raise ValueError("battery: divider_ratio_milli must be at least 1000")
        if adc_ref_mv <= 0:
            raise ValueError("battery: adc_ref_mv must be positive")
        if not 0 <= shift <= 16:
            raise ValueError("battery: shift must be between 0 and 16")
        self._scale_num = adc_ref_mv * divider_ratio_milli * gain_ppm
        self._shift = shift
        self._table = soc_table
        self._filtered = -1  # counts << shift; -1 until the first sample

    def add_sample(self, counts: int) -> None:
        if not 0 <= counts <= 4095:
            raise ValueError("battery: counts must be between 0 and 4095")
        shift = self._shift
        if self._filtered < 0:
            self._filtered = counts << shift
        else:
            self._filtered += counts - ((self._filtered + (1 << shift >> 1)) >> shift)

    def voltage_mv(self) -> int:
        if self._filtered < 0:
            raise ValueError("battery: no sample yet")
        # counts / 4096 x ref mV x ratio / 1000 x gain / 10**6
        return div_round(self._filtered * self._scale_num, (4096 << self._shift) * 1000000000)

    def soc_percent(self) -> int:
        """Linear interpolation in the resting-voltage table, clamped to 0-100."""
        mv = self.voltage_mv()
        table = self._table
        if mv <= table[0]:
            return table[1]
        for j in range(2, len(table), 2):
            hi_mv, hi_pct = table[j], table[j + 1]
            if mv < hi_mv:
                lo_mv, lo_pct = table[j - 2], table[j - 1]
                return lo_pct + div_round((mv - lo_mv) * (hi_pct - lo_pct), hi_mv - lo_mv)
        return table[-1]
