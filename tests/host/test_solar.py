"""The solar home system model: sun, battery, inverter and loads behave physically."""

import pytest

from simulator.solar import INVERTER_CUTOFF_MV, SolarHome

DAY = 86400
NOON_UTC = 17 * 3600  # 12:00 in UTC-5


def run(home, start_s, minutes, relay=True):
    out = None
    for m in range(minutes):
        out = home.step(start_s + 60 * m, relay)
    return out


def test_sun_charges_by_day_and_loads_drain_by_night():
    home = SolarHome(seed=3, soc=0.5)
    run(home, NOON_UTC - 3 * 3600, 6 * 60)  # 09:00-15:00 local
    assert home.soc > 0.5 and home.pv_w > 0
    evening = home.soc
    run(home, NOON_UTC + 7 * 3600, 4 * 60)  # 19:00-23:00: lights, TV, no sun
    assert home.soc < evening and home.pv_w == 0 and home.load_w > 0


def test_relay_open_means_no_load_but_the_inverter_idles():
    home = SolarHome(seed=3, soc=0.5)
    volts, load_w, _ = run(home, NOON_UTC + 8 * 3600, 60, relay=False)
    assert volts == 120000 and load_w == 0
    assert home.soc < 0.5  # idle losses only


def test_inverter_cuts_at_low_battery_and_comes_back_charged():
    home = SolarHome(seed=3, soc=0.02, load_scale=5)
    volts, _, _ = run(home, NOON_UTC + 8 * 3600, 8 * 60)
    assert volts == 0 and home.battery_mv <= INVERTER_CUTOFF_MV + 1600  # off until the sun charges it
    volts, _, _ = run(home, NOON_UTC - 5 * 3600 + DAY, 10 * 60)  # a sunny day
    assert volts == 120000


def test_seed_makes_it_repeatable_and_settings_are_checked():
    a, b = SolarHome(seed=9), SolarHome(seed=9)
    assert run(a, 0, 3000) == run(b, 0, 3000) and a.soc == b.soc
    with pytest.raises(ValueError, match="battery"):
        SolarHome(battery="nicd")
    with pytest.raises(ValueError, match="soc"):
        SolarHome(soc=1.5)
