"""Metering maths on synthetic bursts, under MicroPython and CPython.

The bursts are made here: 64 samples = 2 cycles at a 521 us period (32 samples
a cycle, so the mains is 10**6 / (32 x 521) = 59.981 Hz), sine or modified sine
(3rd, 5th, 7th harmonics), quantised to 12 bits around a bias, optionally with
~2 LSB of noise from a seeded generator that gives the same numbers on both runtimes.
"""

import math
from array import array

from calibration import Calibration
from metering import (ACTIVE_EXPORT, ACTIVE_IMPORT, LEAD_ACID_24V, LIFEPO4_8S, REACTIVE_EXPORT,
                      REACTIVE_IMPORT, UJ_PER_WH, BatteryMonitor, EnergyRegister, PowerMeter, isqrt,
                      unpack_energy)

from tests.nogc import without_allocation

N = 64
PERIOD_US = 521
MAINS_HZ = 1e6 / (32 * PERIOD_US)
MAINS_MHZ = 59981
# Front end of the tests: 130 V rms and 20 A rms both reach 1800 counts peak.
V_GAIN_UV = 102138  # 130 V x sqrt(2) / 1800 counts
I_GAIN_UA = 15713   # 20 A x sqrt(2) / 1800 counts
# A modified-sine inverter: the odd harmonics of a quasi-square wave.
MODIFIED_SINE = ((1, 1.0), (3, 0.3), (5, 0.18), (7, 0.1))


class Lcg:
    """Tiny seeded generator: the same noise under MicroPython and CPython."""

    def __init__(self, seed):
        self.state = seed

    def unit(self):
        self.state = (self.state * 1103515245 + 12345) & 0x7FFFFFFF
        return self.state / 2147483648

    def noise(self, rms):
        """Triangular noise with the given RMS (in counts)."""
        return (self.unit() + self.unit() - 1) * rms * 2.449


def burst(vbuf, ibuf, rng, waves, start=None, mid_v=2048, mid_i=2048, noise_rms=0.0):
    """Fill one burst. waves: (harmonic, v peak counts, i peak counts, current lag radians)."""
    if start is None:
        start = rng.unit() * 2 * math.pi
    for k in range(N):
        theta = start + 4 * math.pi * k / N
        v = mid_v + rng.noise(noise_rms) if noise_rms else mid_v
        i = mid_i + rng.noise(noise_rms) if noise_rms else mid_i
        for h, v_peak, i_peak, lag in waves:
            v += v_peak * math.sin(h * theta)
            i += i_peak * math.sin(h * theta - lag)
        vbuf[k] = min(4095, max(0, int(v + 0.5)))
        ibuf[k] = min(4095, max(0, int(i + 0.5)))


def measure(waves, bursts=30, calibration=None, seed=1, **options):
    """One reading over `bursts` bursts at random starting phases."""
    meter = PowerMeter(calibration or Calibration(V_GAIN_UV, I_GAIN_UA))
    vbuf = array("H", [0] * N)
    ibuf = array("H", [0] * N)
    rng = Lcg(seed)
    for _ in range(bursts):
        burst(vbuf, ibuf, rng, waves, **options)
        meter.add_burst(vbuf, ibuf, N, PERIOD_US)
    return meter.reading()


def truth(waves):
    """(Vrms mV, Irms mA, P mW) of the waves, analytically."""
    vv = ii = p = 0.0
    for _, v_peak, i_peak, lag in waves:
        vv += v_peak * v_peak / 2
        ii += i_peak * i_peak / 2
        p += v_peak * i_peak / 2 * math.cos(lag)
    return math.sqrt(vv) * V_GAIN_UV / 1000, math.sqrt(ii) * I_GAIN_UA / 1000, p * V_GAIN_UV * I_GAIN_UA / 1e9


def sine(v_rms, i_rms, pf, lagging=True):
    """Waves of a sine load: v_rms volts, i_rms amps, power factor pf."""
    lag = math.acos(pf) if lagging else -math.acos(pf)
    return ((1, v_rms * 1.41421356e6 / V_GAIN_UV, i_rms * 1.41421356e6 / I_GAIN_UA, lag),)


def modified_sine(v_rms, i_rms, r_ohm, x_ohm):
    """Waves of a modified sine into a series R-L load (reactance x_ohm at the fundamental)."""
    norm = math.sqrt(sum(a * a for _, a in MODIFIED_SINE))
    waves = []
    for h, a in MODIFIED_SINE:
        z = math.sqrt(r_ohm * r_ohm + (h * x_ohm) ** 2)
        v_peak = v_rms * 1.41421356e6 * a / norm / V_GAIN_UV
        waves.append((h, v_peak, v_peak * V_GAIN_UV / z / I_GAIN_UA, math.atan2(h * x_ohm, r_ohm)))
    return tuple(waves)


def close(value, expected, relative):
    return abs(value - expected) <= abs(expected) * relative


def test_sine_rms_power_power_factor_and_frequency():
    waves = sine(120, 10, 0.8)
    r = measure(waves)
    v, i, p = truth(waves)
    assert close(r.vrms_mv, v, 0.0005), (r.vrms_mv, v)
    assert close(r.irms_ma, i, 0.001), (r.irms_ma, i)
    assert close(r.p_mw, p, 0.002), (r.p_mw, p)
    assert abs(r.pf_milli - 800) <= 2, r.pf_milli
    assert close(r.s_mva, v * i / 1000, 0.002)
    assert close(r.q_mvar, r.s_mva * 0.6, 0.005) and r.q_mvar > 0
    assert close(r.q_fund_mvar, r.s_mva * 0.6, 0.005)
    assert abs(r.freq_mhz - MAINS_MHZ) <= 5, r.freq_mhz


def test_noise_of_two_lsb_at_low_voltage_and_current():
    waves = sine(12, 1.5, 0.9)
    r = measure(waves, bursts=60, noise_rms=2.0)
    v, i, p = truth(waves)
    # noise adds in quadrature to the RMS but not to P (v and i noises are independent)
    assert close(r.vrms_mv, v, 0.005), (r.vrms_mv, v)
    assert close(r.irms_ma, i, 0.01), (r.irms_ma, i)
    assert close(r.p_mw, p, 0.01), (r.p_mw, p)
    assert abs(r.freq_mhz - MAINS_MHZ) <= 100, r.freq_mhz


def test_modified_sine_resistive_and_inductive():
    for x_ohm in (0.0, 8.0):
        waves = modified_sine(110, 8, 12.0, x_ohm)
        r = measure(waves)
        v, i, p = truth(waves)
        assert close(r.vrms_mv, v, 0.0005), (x_ohm, r.vrms_mv, v)
        assert close(r.irms_ma, i, 0.001), (x_ohm, r.irms_ma, i)
        assert close(r.p_mw, p, 0.002), (x_ohm, r.p_mw, p)
        assert abs(r.freq_mhz - MAINS_MHZ) <= 5, r.freq_mhz
    assert r.q_mvar > 0 and r.pf_milli < 900


def test_bias_of_either_channel_does_not_matter():
    waves = sine(90, 6, 0.7)
    centred = measure(waves)
    for mid_v, mid_i in ((1700, 2048), (2048, 2400), (1500, 2600)):
        shifted = measure(waves, mid_v=mid_v, mid_i=mid_i)
        # an integer bias moves every quantised sample by the same count: exact removal
        for name in ("vrms_mv", "irms_ma", "p_mw", "s_mva", "q_mvar", "pf_milli", "v_mcounts", "i_mcounts"):
            assert getattr(shifted, name) == getattr(centred, name), (name, mid_v, mid_i)
        assert abs(shifted.freq_mhz - MAINS_MHZ) <= 5


def test_bias_is_tracked_between_readings():
    meter = PowerMeter(Calibration(V_GAIN_UV, I_GAIN_UA))
    vbuf = array("H", [0] * N)
    ibuf = array("H", [0] * N)
    rng = Lcg(3)
    readings = []
    for _ in range(2):
        for _ in range(10):
            burst(vbuf, ibuf, rng, sine(120, 4, 1.0), mid_v=1650, mid_i=2500)
            meter.add_burst(vbuf, ibuf, N, PERIOD_US)
        readings.append(meter.reading())
    assert readings[0].vrms_mv == readings[1].vrms_mv or close(readings[1].vrms_mv, readings[0].vrms_mv, 1e-4)
    assert meter._mid_v == 1650 and meter._mid_i == 2500


def test_phase_correction_cancels_a_current_delay():
    for delay_ns in (300000, -40000):
        # a resistive load whose current reaches the ADC delay_ns late
        angle = 2 * math.pi * MAINS_HZ * delay_ns * 1e-9
        waves = ((1, 1500.0, 1200.0, angle),)
        _, _, p_true = truth(((1, 1500.0, 1200.0, 0.0),))
        raw = measure(waves)
        assert close(raw.q_fund_mvar, p_true * math.sin(angle), 0.01), (raw.q_fund_mvar, p_true * math.sin(angle))
        fixed = measure(waves, calibration=Calibration(V_GAIN_UV, I_GAIN_UA, phase_ns=delay_ns))
        assert fixed.pf_milli == 1000, fixed.pf_milli
        assert close(fixed.p_mw, p_true, 0.001), (fixed.p_mw, p_true)
        assert abs(fixed.q_fund_mvar) < p_true * 0.001


def test_phase_correction_keeps_power_of_a_lagging_load():
    # 0.5 lagging load seen through a 150 us current delay: corrected P is the load's
    delay_ns = 150000
    lag = math.acos(0.5)
    waves = ((1, 1600.0, 900.0, lag + 2 * math.pi * MAINS_HZ * delay_ns * 1e-9),)
    _, _, p_true = truth(((1, 1600.0, 900.0, lag),))
    r = measure(waves, calibration=Calibration(V_GAIN_UV, I_GAIN_UA, phase_ns=delay_ns))
    assert close(r.p_mw, p_true, 0.002), (r.p_mw, p_true)
    assert abs(r.pf_milli - 500) <= 2


def test_export_is_negative_power():
    r = measure(((1, 1500.0, 700.0, math.pi - 0.3),))
    _, _, p = truth(((1, 1500.0, 700.0, math.pi - 0.3),))
    assert r.p_mw < 0 and close(r.p_mw, p, 0.002)
    assert r.pf_milli < 0
    energy = EnergyRegister()
    energy.add(r.p_mw, r.q_mvar, 3600000)
    assert energy.import_wh == 0 and energy.export_wh == -r.p_mw // 1000


def test_no_current_reads_zero_power_and_unity_power_factor():
    r = measure(((1, 1500.0, 0.0, 0.0),))
    assert r.irms_ma == 0 and r.p_mw == 0 and r.s_mva == 0 and r.pf_milli == 1000


# The starting current of this meter: 0.004 Ib, Ib = 5 A (IEC 62053-21 class 1, direct connection).
START_A = 0.020


def _readings(waves, readings, bursts, seed, noise_rms=2.0, **options):
    """`readings` readings of `bursts` bursts each, on one meter (a board: 30 bursts, the simulator: 1)."""
    meter = PowerMeter(Calibration(V_GAIN_UV, I_GAIN_UA))
    vbuf = array("H", [0] * N)
    ibuf = array("H", [0] * N)
    rng = Lcg(seed)
    out = []
    for _ in range(readings):
        for _ in range(bursts):
            burst(vbuf, ibuf, rng, waves, noise_rms=noise_rms, **options)
            meter.add_burst(vbuf, ibuf, N, PERIOD_US)
        out.append(meter.reading())
    return out


def test_no_load_registers_nothing_and_shows_no_power():
    # voltage and no current (IEC no-load test: 115 % Un too), noise on both channels: one burst a
    # reading with the simulator's 1.4 LSB RMS, each held for a minute; a board's 30 bursts with 2 LSB
    for v_rms, readings, bursts, noise_rms in ((120, 200, 1, 1.5), (138, 100, 1, 1.5), (10, 50, 1, 1.5),
                                               (120, 10, 30, 2.0)):
        energy = EnergyRegister()
        for r in _readings(sine(v_rms, 0, 1.0), readings, bursts, seed=v_rms, noise_rms=noise_rms, mid_i=2051):
            assert (r.p_mw, r.q_mvar, r.s_mva, r.irms_ma, r.pf_milli) == (0, 0, 0, 0, 1000), (v_rms, r)
            assert r.p_mw // 1000 == 0  # the screen's W: no "-1 W" from noise
            assert close(r.vrms_mv, v_rms * 1000, 0.01)
            energy.add(r.p_mw, r.q_mvar, 60000)
        assert [energy.exact_uj(register) for register in range(4)] == [0, 0, 0, 0], energy.wh


def test_a_load_just_above_the_starting_current_registers_and_below_it_nothing():
    # unity power factor at 120 V (the IEC starting test), a board's 30 bursts a reading
    for fraction in (1.1, 0.5):
        i_rms = START_A * fraction
        energy = EnergyRegister()
        readings = _readings(sine(120, i_rms, 1.0), 10, 30, seed=7)
        for r in readings:
            energy.add(r.p_mw, r.q_mvar, 1000)
        truth_uj = 120 * i_rms * 1000 * 10 * 1000  # mW x ms
        if fraction > 1:
            assert all(r.p_mw > 0 and r.irms_ma > 0 for r in readings), readings
            assert close(energy.exact_uj(ACTIVE_IMPORT), truth_uj, 0.03), (energy.exact_uj(ACTIVE_IMPORT), truth_uj)
        else:
            assert all(r.p_mw == 0 and r.irms_ma == 0 for r in readings), readings
            assert energy.exact_uj(ACTIVE_IMPORT) == 0
        assert energy.exact_uj(ACTIVE_EXPORT) == 0
        assert energy.exact_uj(REACTIVE_IMPORT) == energy.exact_uj(REACTIVE_EXPORT) == 0


def test_export_above_the_starting_current_stays_measurable():
    # 0.1 A exported at 120 V (12 W): the export register counts it, import nothing
    energy = EnergyRegister()
    for r in _readings(sine(120, 0.1, -1.0), 5, 30, seed=11):  # current in antiphase
        assert close(r.p_mw, -12000, 0.03), r
        energy.add(r.p_mw, r.q_mvar, 3600000)
    assert energy.import_wh == 0 and close(energy.export_wh, 60, 0.03)


def _mains(vbuf, ibuf, rng, hz, period_us, start, noise_rms=2.0):
    """One burst of a 120 V, 10 A resistive load at `hz`, starting at phase `start`."""
    step = 2 * math.pi * hz * period_us * 1e-6
    v_peak = 120 * 1.41421356e6 / V_GAIN_UV
    i_peak = 10 * 1.41421356e6 / I_GAIN_UA
    for k in range(N):
        theta = start + step * k
        vbuf[k] = min(4095, max(0, int(2048 + v_peak * math.sin(theta) + rng.noise(noise_rms) + 0.5)))
        ibuf[k] = min(4095, max(0, int(2048 + i_peak * math.sin(theta) + rng.noise(noise_rms) + 0.5)))


def test_frequency_of_every_single_burst_at_any_phase():
    # 64 samples: 2 cycles at 50 Hz (625 us) or 60 Hz (521 us, 0.03 % more); one burst a reading,
    # as the simulator measures, starting anywhere in the cycle, a rising zero crossing included
    vbuf = array("H", [0] * N)
    ibuf = array("H", [0] * N)
    rng = Lcg(21)
    for hz, period_us in ((50.0, 625), (60.0, 521)):
        meter = PowerMeter(Calibration(V_GAIN_UV, I_GAIN_UA))
        phases = [0.0, math.pi, 2 * math.pi - 0.01] + [rng.unit() * 2 * math.pi for _ in range(40)]
        for start in phases:
            _mains(vbuf, ibuf, rng, hz, period_us, start)
            meter.add_burst(vbuf, ibuf, N, period_us)
            r = meter.reading()
            assert abs(r.freq_mhz - hz * 1000) <= 50, (hz, start, r.freq_mhz)
        for _ in range(30):  # a board's reading: 30 bursts at random phases
            _mains(vbuf, ibuf, rng, hz, period_us, rng.unit() * 2 * math.pi)
            meter.add_burst(vbuf, ibuf, N, period_us)
        assert abs(meter.reading().freq_mhz - hz * 1000) <= 5


def test_reading_needs_a_burst_and_a_sane_burst():
    meter = PowerMeter(Calibration(V_GAIN_UV, I_GAIN_UA))
    buf = array("H", [2048] * N)
    for call in (meter.reading, lambda: meter.add_burst(buf, buf, N + 1, PERIOD_US),
                 lambda: meter.add_burst(buf, buf, N, 0)):
        try:
            call()
            raise AssertionError("accepted")
        except ValueError:
            pass


def test_accumulators_stay_small_ints_at_full_scale():
    # worst case: full-scale square waves for 1000 bursts (33 s without a reading)
    meter = PowerMeter(Calibration(V_GAIN_UV, I_GAIN_UA))
    vbuf = array("H", [4095 if k % 32 < 16 else 0 for k in range(N)])
    ibuf = array("H", [4095 if k % 32 < 16 else 0 for k in range(N)])
    for _ in range(1000):
        meter.add_burst(vbuf, ibuf, N, PERIOD_US)
    assert max(abs(word) for word in meter._acc) < 2 ** 30
    r = meter.reading()
    # every sample is 2047.5 counts from the mean
    assert abs(r.v_mcounts - 2047500) <= 1 and abs(r.p_mw - 2047.5 ** 2 * V_GAIN_UV * I_GAIN_UA / 1e9) < 1


def test_add_burst_allocates_nothing():
    meter = PowerMeter(Calibration(V_GAIN_UV, I_GAIN_UA, phase_ns=30000))
    vbuf = array("H", [0] * N)
    ibuf = array("H", [0] * N)
    burst(vbuf, ibuf, Lcg(5), sine(120, 10, 0.8), noise_rms=2.0)
    def run():
        for _ in range(30):
            meter.add_burst(vbuf, ibuf, N, PERIOD_US)

    without_allocation(run)
    # the 30 us correction moves the voltage, which the current now lags by less
    assert close(meter.reading().p_mw, 1200000 * math.cos(math.acos(0.8) - 2 * math.pi * MAINS_HZ * 30e-6), 0.003)


def test_isqrt():
    for x in (0, 1, 2, 3, 4, 15, 16, 17, 10 ** 12, 10 ** 30 + 12345, 2 ** 100 - 1):
        r = isqrt(x)
        assert r * r <= x < (r + 1) * (r + 1), x


def test_energy_month_in_minute_steps_is_exact():
    energy = EnergyRegister()
    p_mw, q_mvar = 123457, -45679
    for _ in range(30 * 1440):
        energy.add(p_mw, q_mvar, 60000)
    month_ms = 30 * 86400000
    assert energy.exact_uj(ACTIVE_IMPORT) == p_mw * month_ms
    assert energy.import_wh == p_mw * month_ms // UJ_PER_WH == 88889
    assert energy.residual[ACTIVE_IMPORT] == p_mw * month_ms % UJ_PER_WH
    assert energy.export_varh == -q_mvar * month_ms // UJ_PER_WH == 32888
    assert energy.export_wh == 0 and energy.import_varh == 0


def test_energy_residual_is_carried_across_uneven_intervals():
    energy = EnergyRegister()
    steps = (1, 7, 999, 59999, 1234567, 3)
    total = 0
    for j in range(500):
        dt = steps[j % len(steps)]
        energy.add(100003, 5, dt)
        total += 100003 * dt
        assert energy.exact_uj(ACTIVE_IMPORT) == total
        assert 0 <= energy.residual[ACTIVE_IMPORT] < UJ_PER_WH
    assert energy.import_wh == total // UJ_PER_WH
    energy.add(0, 0, 1000)  # a held zero adds nothing
    assert energy.exact_uj(ACTIVE_IMPORT) == total


def test_energy_four_quadrants():
    energy = EnergyRegister()
    for p, q in ((1000, 500), (-2000, 300), (-1000, -700), (4000, -100)):
        energy.add(p, q, 3600000)
    assert energy.wh[ACTIVE_IMPORT] == 5 and energy.wh[ACTIVE_EXPORT] == 3
    assert energy.wh[REACTIVE_IMPORT] == 0 and energy.residual[REACTIVE_IMPORT] == 800 * 3600000
    assert energy.wh[REACTIVE_EXPORT] == 0 and energy.residual[REACTIVE_EXPORT] == 800 * 3600000
    try:
        energy.add(1, 1, -1)
        raise AssertionError("negative interval accepted")
    except ValueError:
        pass


def test_energy_pack_round_trip_and_bad_records():
    energy = EnergyRegister()
    energy.add(2500000, -300000, 86400000 * 3 + 17)
    energy.add(-12345, 6789, 777777)
    data = energy.pack()
    assert len(data) == 32
    back = unpack_energy(data)
    assert back.wh == energy.wh and back.residual == energy.residual
    for bad in (data[:-1], data + b"\x00", data[:4] + b"\xff\xff\xff\xff" + data[8:]):
        try:
            unpack_energy(bad)
            raise AssertionError("bad record accepted")
        except ValueError:
            pass


def test_battery_voltage_divider_and_filter():
    # RP2040-like: 3300 mV reference, 110k/10k divider
    battery = BatteryMonitor(12000, 3300, shift=3)
    battery.add_sample(3103)  # 3103 / 4096 x 3.3 V x 12 = 30.000 V
    assert battery.voltage_mv() == 30000
    low = 3103 - 290  # the battery drops ~2.8 V
    low_mv = low * 3300 * 12 / 4096
    seen = []
    for _ in range(60):
        battery.add_sample(low)
        seen.append(battery.voltage_mv())
    assert all(a >= b for a, b in zip(seen, seen[1:])), "the filter overshoots"
    # first order, time constant 2**shift samples: after 8 samples 1 - (7/8)**8 of the step is done
    expected = 30000 - (30000 - low_mv) * (1 - (7 / 8) ** 8)
    assert abs(seen[7] - expected) <= 15, (seen[7], expected)
    assert abs(seen[-1] - low_mv) <= 6, (seen[-1], low_mv)
    trimmed = BatteryMonitor(12000, 3300, gain_ppm=1010000)
    trimmed.add_sample(3103)
    assert abs(trimmed.voltage_mv() - 30300) <= 2


def test_battery_filter_averages_noise():
    battery = BatteryMonitor(16000, 3100, shift=4)
    rng = Lcg(9)
    for _ in range(400):
        battery.add_sample(2000 + int(rng.noise(3.0) + 0.5))
    assert abs(battery.voltage_mv() - 2000 * 3100 * 16 / 4096) < 20


def _soc(table, mv):
    battery = BatteryMonitor(10000, 4096, soc_table=table)  # 1 count = 10 mV at the battery
    battery.add_sample(mv // 10)
    return battery.soc_percent()


def test_state_of_charge_tables():
    for table in (LEAD_ACID_24V, LIFEPO4_8S):
        for at in range(0, len(table), 2):
            assert _soc(table, table[at]) == table[at + 1]
        assert _soc(table, table[0] - 2000) == 0 and _soc(table, table[-2] + 3000) == 100
    assert _soc(LEAD_ACID_24V, 24200) == 38   # halfway between 25 % and 50 %
    assert _soc(LIFEPO4_8S, 26150) == 85


def test_battery_rejects_bad_input():
    for args in ((900, 3300), (12000, 0)):
        try:
            BatteryMonitor(*args)
            raise AssertionError("accepted")
        except ValueError:
            pass
    battery = BatteryMonitor(12000, 3300)
    for call in (battery.voltage_mv, lambda: battery.add_sample(4096)):
        try:
            call()
            raise AssertionError("accepted")
        except ValueError:
            pass
