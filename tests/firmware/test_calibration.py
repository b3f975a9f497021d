"""Calibration record and procedures, under MicroPython and CPython."""

import math

from calibration import Calibration, div_round, phase_from_unity_load, two_point, unpack_calibration, voltage_points

from tests.firmware.test_metering import I_GAIN_UA, MAINS_HZ, MAINS_MHZ, V_GAIN_UV, close, measure, sine


def _rejected(call):
    try:
        call()
    except ValueError:
        return True
    return False


def test_pack_round_trip():
    cal = Calibration(102138, 15713, v_offset_mv=-250, i_offset_ma=12, phase_ns=-41000, bat_gain_ppm=1003500)
    data = cal.pack()
    assert len(data) == 29
    back = unpack_calibration(data)
    assert (back.v_gain_uv, back.i_gain_ua, back.v_offset_mv, back.i_offset_ma, back.phase_ns, back.bat_gain_ppm) \
        == (102138, 15713, -250, 12, -41000, 1003500)
    assert unpack_calibration(bytearray(data)).pack() == data


def test_every_corrupted_byte_and_wrong_length_is_refused():
    data = Calibration(102138, 15713, 5, -5, 1000).pack()
    for j in range(len(data)):
        for bit in (0x01, 0x80):
            bad = bytearray(data)
            bad[j] ^= bit
            assert _rejected(lambda: unpack_calibration(bad)), (j, bit)
    assert _rejected(lambda: unpack_calibration(data[:-1]))
    assert _rejected(lambda: unpack_calibration(data + b"\x00"))


def test_fields_are_checked():
    for kwargs in ({"v_gain_uv": 0, "i_gain_ua": 1}, {"v_gain_uv": 1, "i_gain_ua": -5},
                   {"v_gain_uv": 1, "i_gain_ua": 1, "phase_ns": 1000001},
                   {"v_gain_uv": 1, "i_gain_ua": 1, "bat_gain_ppm": 0},
                   {"v_gain_uv": 2 ** 31, "i_gain_ua": 1}):
        assert _rejected(lambda: Calibration(**kwargs)), kwargs


def test_div_round():
    assert [div_round(x, 4) for x in (-6, -5, -3, -2, 1, 2, 6, 7)] == [-1, -1, -1, 0, 0, 1, 2, 2]


def test_two_point_recovers_a_line():
    gain, offset = 102138, -180
    raws = (587000, 1174000)
    trues = [raw * gain // 1000000 + offset for raw in raws]
    got_gain, got_offset = two_point(raws[0], trues[0], raws[1], trues[1])
    assert abs(got_gain - gain) <= 2 and abs(got_offset - offset) <= 1, (got_gain, got_offset)
    for raw, true in zip(raws, trues):
        assert abs(raw * got_gain // 1000000 + got_offset - true) <= 1


def test_two_point_rejects_unordered_or_empty_points():
    for args in ((0, 1, 10, 20), (10, 1, 10, 20), (20, 1, 10, 2), (10, 0, 20, 5), (10, 5, 20, 5)):
        assert _rejected(lambda: two_point(*args)), args


def test_two_point_calibrates_a_front_end_three_percent_off():
    # This board's divider and burden give 3 % and -2 % more counts than nominal.
    def on_board(v_rms, i_rms, calibration):
        return measure(sine(v_rms * 1.03, i_rms * 0.98, 1.0), calibration=calibration)

    nominal = Calibration(V_GAIN_UV, I_GAIN_UA)
    low, high = on_board(60, 2, nominal), on_board(120, 15, nominal)
    v_gain, v_offset = two_point(low.v_mcounts, 60000, high.v_mcounts, 120000)
    i_gain, i_offset = two_point(low.i_mcounts, 2000, high.i_mcounts, 15000)
    assert close(v_gain, V_GAIN_UV / 1.03, 0.0005) and close(i_gain, I_GAIN_UA / 0.98, 0.0005)
    calibrated = Calibration(v_gain, i_gain, v_offset, i_offset)
    check = on_board(90, 8, calibrated)
    assert close(check.vrms_mv, 90000, 0.0005), check.vrms_mv
    assert close(check.irms_ma, 8000, 0.001), check.irms_ma
    assert close(check.p_mw, 720000, 0.0015), check.p_mw
    assert close(on_board(10, 0.5, calibrated).vrms_mv, 10000, 0.005)


def test_phase_from_unity_load_numbers():
    # 1 degree at 60 Hz is 1/21600 s = 46 296 ns
    assert abs(phase_from_unity_load(0, 1000000, 17455, 60000) - 46296) <= 2
    assert abs(phase_from_unity_load(10000, 1000000, -17455, 60000) - (10000 - 46296)) <= 2
    assert _rejected(lambda: phase_from_unity_load(0, 0, 10, 60000))
    assert _rejected(lambda: phase_from_unity_load(0, 1000, 10, 0))
    assert _rejected(lambda: phase_from_unity_load(0, 1000, 1000, 60000))  # 45 degrees: 2 ms


def test_phase_calibration_with_a_resistive_load():
    # the current path lags 180 us (CT and burden) and the ADC converts the current
    # 25 us after the voltage: the meter sees a 155 us lag on a resistive load
    delay_ns = 155000
    waves = ((1, 1500.0, 1100.0, 2 * math.pi * MAINS_HZ * delay_ns * 1e-9),)
    before = measure(waves)
    assert before.pf_milli <= 998 and before.freq_mhz == MAINS_MHZ
    phase = phase_from_unity_load(0, before.p_mw, before.q_fund_mvar, before.freq_mhz)
    assert abs(phase - delay_ns) <= 200, phase
    after = measure(waves, calibration=Calibration(V_GAIN_UV, I_GAIN_UA, phase_ns=phase))
    assert after.pf_milli == 1000 and abs(after.q_fund_mvar) < after.p_mw // 1000


def test_voltage_points_refuse_what_the_meter_did_not_see_apart():
    # design gain 102100 uV/count: 60 V apart is ~587 700 mcounts
    gain, offset = voltage_points(587676, 60500, 1175352, 121000, 102100)
    assert 102000 < gain < 104000
    for raw_high, rule in ((587676, "puntos muy cercanos"), (587676 + 200000, "puntos muy cercanos"),
                           (587676 + 1300000, "lectura fuera de rango")):
        try:
            voltage_points(587676, 60500, raw_high, 121000, 102100)
        except ValueError as e:
            assert rule in str(e)
        else:
            raise AssertionError("accepted a span of %d" % (raw_high - 587676))
