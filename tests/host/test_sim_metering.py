"""The virtual ADC against the load a scenario applies: the firmware's metering through boards/sim.SimAc.

The simulator's front end is the design (nominal calibration), its ADC samples exact sine waves at
random phases, adds its seeded noise and bias and quantises: whatever error is left is the
firmware's own, and must meet its 0.5 % target from 5 W to 2 kW, frequency included.
"""

import json
import subprocess
from array import array

import pytest

from boards import sim
from calibration import Calibration
from metering import ACTIVE_EXPORT, ACTIVE_IMPORT, EnergyRegister, PowerMeter
from opsm.simulator.unix_port import micropython_command, micropython_env

N = 64
PERIOD_US = 521
BURSTS = 30  # a board's second


def _meter_on(ac: sim.SimAc, seconds: int, bursts: int = BURSTS):
    """(readings, energy) of `seconds` readings of `bursts` bursts, after one that finds the biases."""
    meter = PowerMeter(Calibration(sim.V_GAIN_UV, sim.I_GAIN_UA))
    vbuf, ibuf = array("H", bytes(2 * N)), array("H", bytes(2 * N))
    energy = EnergyRegister()
    readings = []
    for second in range(seconds + 1):
        for _ in range(bursts):
            ac.burst(vbuf, ibuf, N, PERIOD_US)
            meter.add_burst(vbuf, ibuf, N, PERIOD_US)
        r = meter.reading()
        if second:
            readings.append(r)
            energy.add(r.p_mw, r.q_mvar, 1000)
    return readings, energy


# (W, PF milli, seconds): long enough that the sim's noise moves the energy < 0.15 % (1 sigma)
@pytest.mark.parametrize("watts,pf_milli,seconds", [(5, 1000, 120), (100, 1000, 10), (200, 700, 10),
                                                    (2000, 1000, 10)])
def test_the_meter_reads_the_applied_load_within_half_a_percent(watts, pf_milli, seconds):
    ac = sim.SimAc(seed=watts)
    ac.load(watts, pf_milli)
    readings, energy = _meter_on(ac, seconds)
    truth_uj = watts * 1000 * seconds * 1000
    error = (energy.exact_uj(ACTIVE_IMPORT) - truth_uj) / truth_uj
    assert abs(error) <= 0.005, (watts, pf_milli, error)
    assert energy.exact_uj(ACTIVE_EXPORT) == 0
    mean_p = sum(r.p_mw for r in readings) / len(readings)
    assert abs(mean_p - watts * 1000) <= watts * 5, mean_p
    mean_pf = sum(r.pf_milli for r in readings) / len(readings)
    if watts >= 100:
        assert abs(mean_pf - pf_milli) <= 5, mean_pf
        mean_i = sum(r.irms_ma for r in readings) / len(readings)
        assert abs(mean_i - ac.irms_ma) <= ac.irms_ma * 0.005, (mean_i, ac.irms_ma)


def test_the_frequency_reads_60_hz():
    ac = sim.SimAc(seed=3)
    ac.load(500)
    readings, _ = _meter_on(ac, 10)
    assert all(abs(r.freq_mhz - 60000) <= 5 for r in readings), [r.freq_mhz for r in readings]  # 60.00 Hz
    # the simulator's one burst a minute: every reading measures it too, never 0.0 Hz
    readings, _ = _meter_on(ac, 300, bursts=1)
    assert all(abs(r.freq_mhz - 60000) <= 50 for r in readings), sorted(r.freq_mhz for r in readings)[:3]
    assert abs(sum(r.freq_mhz for r in readings) / len(readings) - 60000) <= 5


def test_no_load_reads_and_registers_nothing():
    ac = sim.SimAc(vrms_mv=138000, seed=5)  # the IEC no-load test: 115 % Un, no current
    readings, energy = _meter_on(ac, 1000, bursts=1)
    assert all((r.p_mw, r.q_mvar, r.irms_ma, r.pf_milli) == (0, 0, 0, 1000) for r in readings)
    assert [energy.exact_uj(register) for register in range(4)] == [0, 0, 0, 0]


def test_the_virtual_adc_is_the_same_under_micropython():
    script = (
        "from array import array\n"
        "from boards import sim\n"
        "ac = sim.SimAc(vrms_mv=118500, seed=9)\n"
        "ac.load(733, 820)\n"
        "v, i = array('H', bytes(128)), array('H', bytes(128))\n"
        "out = []\n"
        "for _ in range(20):\n"
        "    ac.burst(v, i, 64, 521)\n"
        "    out += list(v) + list(i)\n"
        "print(out)\n")
    proc = subprocess.run(micropython_command() + ["-c", script], capture_output=True, text=True,
                          env=micropython_env(), timeout=120, check=True)
    ac = sim.SimAc(vrms_mv=118500, seed=9)
    ac.load(733, 820)
    v, i = array("H", bytes(128)), array("H", bytes(128))
    expected = []
    for _ in range(20):
        ac.burst(v, i, 64, 521)
        expected += list(v) + list(i)
    assert json.loads(proc.stdout.strip().splitlines()[-1]) == expected
