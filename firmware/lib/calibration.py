"""Per-board calibration constants of the meter's analogue front end, as integers.

Every unit is calibrated once (the ADC reference spreads by several per cent
between chips: ESP32 Vref 1.0-1.2 V, the Pico's reference is its 3.3 V rail), so
the constants live in their own CRC-protected record. The board module passes
nominal defaults computed from its divider and burden resistors; the technician
replaces them with `two_point` against a true-RMS meter at ~60 V and ~120 V
(and two load currents), and the phase with a resistive load.

Units (all integers, so they mean the same on a 32-bit board and under CPython):
  v_gain_uv   line-voltage microvolts per ADC count (RMS count -> RMS uV)
  v_offset_mv added to the RMS voltage after the gain (ADC offset/INL near zero)
  i_gain_ua   load-current microamps per ADC count
  i_offset_ma added to the RMS current after the gain
  phase_ns    delay of the current path behind the voltage path: a current
              sample shows the current of phase_ns earlier. Negative when the
              current is converted after the voltage (sequential ADC) or the
              CT's secondary leads its primary.
  bat_gain_ppm trim of the battery divider, parts per million (1 000 000 = none)
"""

import binascii
import math
import struct

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

_FORMAT = const(">BIiIiiI")  # version, v gain, v offset, i gain, i offset, phase, battery gain
_VERSION = const(1)
_BODY = const(25)            # struct.calcsize(_FORMAT), spelled out for the length check
_INT32_MAX = const(2147483647)
_PHASE_NS_MAX = const(1000000)  # 1 ms = 21.6 degrees at 60 Hz: beyond any CT or ADC skew


def div_round(num: int, den: int) -> int:
    """num / den rounded to the nearest integer (halves up); den > 0."""
    return (2 * num + den) // (2 * den)


def _check(name: str, value: int, low: int, high: int) -> None:
    if not low <= value <= high:
        raise ValueError("calibration: %s must be between %d and %d" % (name, low, high))


class Calibration:
    def __init__(self, v_gain_uv: int, i_gain_ua: int, v_offset_mv: int = 0, i_offset_ma: int = 0,
                 phase_ns: int = 0, bat_gain_ppm: int = 1000000):
        _check("v_gain_uv", v_gain_uv, 1, _INT32_MAX)
        _check("i_gain_ua", i_gain_ua, 1, _INT32_MAX)
        _check("v_offset_mv", v_offset_mv, -_INT32_MAX, _INT32_MAX)
        _check("i_offset_ma", i_offset_ma, -_INT32_MAX, _INT32_MAX)
        _check("phase_ns", phase_ns, -_PHASE_NS_MAX, _PHASE_NS_MAX)
        _check("bat_gain_ppm", bat_gain_ppm, 1, _INT32_MAX)
        self.v_gain_uv = v_gain_uv
        self.i_gain_ua = i_gain_ua
        self.v_offset_mv = v_offset_mv
        self.i_offset_ma = i_offset_ma
        self.phase_ns = phase_ns
        self.bat_gain_ppm = bat_gain_ppm

    def pack(self) -> bytes:
        """25 bytes of fields (big-endian, version 1) followed by their CRC-32."""
        body = struct.pack(_FORMAT, _VERSION, self.v_gain_uv, self.v_offset_mv, self.i_gain_ua,
                           self.i_offset_ma, self.phase_ns, self.bat_gain_ppm)
        return body + struct.pack(">I", binascii.crc32(body) & 0xFFFFFFFF)


def unpack_calibration(data) -> Calibration:
    if len(data) != _BODY + 4:
        raise ValueError("calibration: record must be %d bytes" % (_BODY + 4))
    body = bytes(data[:_BODY])
    if binascii.crc32(body) & 0xFFFFFFFF != struct.unpack(">I", bytes(data[_BODY:]))[0]:
        raise ValueError("calibration: record CRC does not match")
    version, v_gain, v_offset, i_gain, i_offset, phase, bat_gain = struct.unpack(_FORMAT, body)
    if version != _VERSION:
        raise ValueError("calibration: record version must be %d" % _VERSION)
    return Calibration(v_gain, i_gain, v_offset, i_offset, phase, bat_gain)


def two_point(raw_low: int, true_low: int, raw_high: int, true_high: int):
    """(gain, offset) of the line through two reference points: true = raw * gain / 10**6 + offset.

    raw_*: the meter's uncalibrated RMS in thousandths of an ADC count
    (Reading.v_mcounts or i_mcounts); true_*: the reference meter's reading in
    mV (or mA). The gain comes out in uV (uA) per count, the offset in mV (mA),
    split so that both points are off by the same rounding.
    """
    if raw_low <= 0 or raw_high <= raw_low:
        raise ValueError("calibration: raw readings must satisfy 0 < raw_low < raw_high")
    if true_low <= 0 or true_high <= true_low:
        raise ValueError("calibration: true readings must satisfy 0 < true_low < true_high")
    gain = div_round((true_high - true_low) * 1000000, raw_high - raw_low)
    offset = div_round((true_low + true_high) * 1000000 - (raw_low + raw_high) * gain, 2000000)
    return gain, offset


def voltage_points(raw_low: int, true_low: int, raw_high: int, true_high: int, design_gain_uv: int):
    """two_point for the admin menu's two voltages, refusing points the meter did not see apart.

    The meter's own span must be within a factor 2 of what the front end's design gain
    predicts for the technician's two readings: the same voltage applied twice (span 0),
    swapped points or a loose probe give a gain no unit can have.
    """
    expected = (true_high - true_low) * 1000000 // design_gain_uv
    span = raw_high - raw_low
    if span * 2 < expected:
        raise ValueError("CALIBRACION: puntos muy cercanos")
    if span > expected * 2:
        raise ValueError("CALIBRACION: lectura fuera de rango")
    return two_point(raw_low, true_low, raw_high, true_high)


def phase_from_unity_load(phase_ns: int, p_mw: int, q_fund_mvar: int, freq_mhz: int) -> int:
    """The phase_ns that cancels the angle a resistive load shows with phase_ns in use.

    p_mw and q_fund_mvar come from a reading of a resistive load (power factor 1)
    fed by a sine source: any angle between its fundamental voltage and current
    is the meter's own, and moving phase_ns by that angle's time removes it.
    """
    if p_mw <= 0:
        raise ValueError("calibration: phase needs a resistive load drawing power (p_mw > 0)")
    if freq_mhz <= 0:
        raise ValueError("calibration: phase needs the measured frequency (freq_mhz > 0)")
    step = math.atan2(q_fund_mvar, p_mw) / (2 * math.pi * freq_mhz) * 1e12
    phase = phase_ns + round(step)
    _check("phase_ns", phase, -_PHASE_NS_MAX, _PHASE_NS_MAX)
    return phase
