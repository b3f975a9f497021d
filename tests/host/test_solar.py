"""The solar home system model: sun, battery, inverter and loads behave physically."""

import pandas as pd
import pvlib
import pytest

from opsm.simulator import board
_solar = board.module("simulator.solar")
CONTROLLER_EFFICIENCY = _solar.CONTROLLER_EFFICIENCY
GAMMA_PER_C = _solar.GAMMA_PER_C
INVERTER_CUTOFF_MV = _solar.INVERTER_CUTOFF_MV
INVERTER_IDLE_W = _solar.INVERTER_IDLE_W
INVERTER_RESTART_MV = _solar.INVERTER_RESTART_MV
SolarHome = _solar.SolarHome

DAY = 86400
NOON_UTC = 17 * 3600  # 12:00 in UTC-5
START_2027 = 852076800  # 2027-01-01 00:00 UTC, the scenarios' default start


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
    assert volts == 120000 and load_w == 0  # regulated: no load, a healthy battery
    assert home.soc < 0.5  # idle losses only


def test_inverter_cuts_at_low_battery_and_comes_back_charged():
    home = SolarHome(seed=3, soc=0.02, load_scale=5, clear_sky=True)
    volts, _, _ = run(home, NOON_UTC + 8 * 3600, 8 * 60)
    assert volts == 0 and home.battery_mv <= INVERTER_RESTART_MV  # off until the sun charges it
    volts, _, _ = run(home, NOON_UTC - 5 * 3600 + DAY, 10 * 60, relay=False)  # a sunny day, the meter's relay open
    assert volts == 120000 and home.battery_mv > INVERTER_RESTART_MV


def test_seed_makes_it_repeatable_and_settings_are_checked():
    a, b = SolarHome(seed=9), SolarHome(seed=9)
    assert run(a, 0, 3000) == run(b, 0, 3000) and a.soc == b.soc
    with pytest.raises(ValueError, match="battery"):
        SolarHome(battery="nicd")
    with pytest.raises(ValueError, match="soc"):
        SolarHome(soc=1.5)
    with pytest.raises(ValueError, match="latitude"):
        SolarHome(latitude=95)


def test_an_empty_battery_delivers_nothing():
    """Five sunless days on a 240 Wh battery: the loads and the inverter's idle get at most the 240 Wh
    stored (the model gave them 7 kWh), and a battery that starts empty gives nothing at all."""
    home = SolarHome(seed=5, pv_wp=0, battery_wh=240, soc=1.0, load_scale=1.0)
    loads_wh = idle_wh = 0.0
    for m in range(5 * 1440):
        volts, load_w, _ = home.step(START_2027 + 60 * m, True)
        loads_wh += load_w / 60
        idle_wh += INVERTER_IDLE_W / 60 if volts else 0.0
    assert 0 < loads_wh and loads_wh + idle_wh <= 240
    assert not home.inverter_on and home.load_w == 0
    empty = SolarHome(seed=5, pv_wp=0, battery_wh=240, soc=0.0)
    outputs = {empty.step(START_2027 + 60 * m, True)[:2] for m in range(5 * 1440)}
    assert outputs == {(0, 0.0)} and empty.soc == 0.0


@pytest.mark.parametrize("seed,battery", [(1, "lead-acid"), (2, "lifepo4"), (3, "lead-acid")])
def test_energy_out_never_exceeds_energy_stored_and_charged(seed, battery):
    """Over any window: what the inverter drew <= stored at its start + what the controller put on the
    bus - what is stored at its end; and the battery keeps less than it was given while charging."""
    home = SolarHome(seed=seed, pv_wp=150, battery=battery, battery_wh=480, soc=0.3, load_scale=1.5)
    stored = [home.soc * home.battery_wh]
    drawn, supplied = [0.0], [0.0]
    charged = discharged = 0.0  # at the battery's terminals
    for m in range(10 * 1440):
        home.step(START_2027 + 60 * (m + 1), m % 997 > 100)
        stored.append(home.soc * home.battery_wh)
        drawn.append(drawn[-1] + home.drawn_w / 60)
        supplied.append(supplied[-1] + home.pv_w * CONTROLLER_EFFICIENCY / 60)
        charged += max(0.0, home.battery_w) / 60
        discharged += max(0.0, -home.battery_w) / 60
    for start in range(0, 10 * 1440, 360):
        for end in range(start + 360, 10 * 1440 + 1, 1440):
            assert drawn[end] - drawn[start] <= stored[start] + supplied[end] - supplied[start] - stored[end] + 1e-6
    assert min(stored) < 0.1 * 480 and charged > 100  # it ran down and was charged
    assert stored[-1] - stored[0] < charged - discharged  # losses both ways


def test_a_light_load_reaches_the_inverter_cutoff_and_stays_off():
    """The inverter idling alone (relay open) runs a small battery down to its cut-off; at rest the
    nearly empty battery stays below the restart threshold, so the inverter does not hunt."""
    assert SolarHome(soc=0.01).battery_mv < INVERTER_CUTOFF_MV  # resting, nearly empty
    assert SolarHome(battery="lifepo4", soc=0.01).battery_mv < INVERTER_CUTOFF_MV
    home = SolarHome(seed=4, pv_wp=0, battery_wh=240, soc=0.3)
    volts = [run(home, START_2027 + DAY * d, 1440, relay=False)[0] for d in range(2)]
    assert volts[-1] == 0 and not home.inverter_on
    assert home.battery_mv < INVERTER_RESTART_MV and 0 < home.soc < 0.05  # nearly empty, not drained to nothing
    later = {home.step(START_2027 + 2 * DAY + 60 * m, True)[0] for m in range(1440)}
    assert later == {0} and home.battery_mv < INVERTER_RESTART_MV


@pytest.mark.parametrize("battery,most", [("lead-acid", 0.87), ("lifepo4", 0.97)])
def test_charging_raises_the_terminal_voltage_and_loses_charge(battery, most):
    """Sun on a half-charged battery, relay open: the battery keeps a share of the energy put into its
    terminals (its charge efficiency and I^2 R), and its voltage stands above the resting voltage."""
    home = SolarHome(seed=3, battery=battery, soc=0.5)
    before = home.soc * home.battery_wh
    into_wh = 0.0
    terminal = []
    for m in range(4 * 60):  # 10:00-14:00 local
        home.cloud = 1.0  # a clear sky (it drifts within the hour)
        home.step(NOON_UTC - 2 * 3600 + 60 * m, False)
        into_wh += (home.pv_w - INVERTER_IDLE_W) / 60  # the bus: what the array gives, less the inverter's idle
        terminal.append((home.battery_mv, home.soc))
    kept_wh = home.soc * home.battery_wh - before
    assert 0.5 * into_wh < kept_wh < most * into_wh
    # a new home at that state of charge shows its resting voltage
    assert all(mv > SolarHome(battery=battery, soc=soc).battery_mv + 50 for mv, soc in terminal)
    resting = home.resting_mv()
    run(home, NOON_UTC + 10 * 3600, 30, relay=True)  # 22:00: lights, TV, chargers
    assert home.battery_mv < home.resting_mv() < resting  # discharging: below its resting voltage


def test_output_voltage_sags_with_load_and_with_a_low_battery():
    heavy = SolarHome(seed=3, soc=0.9, load_scale=5)
    idle, _, _ = run(heavy, NOON_UTC + 8 * 3600, 5, relay=False)
    loaded, load_w, _ = run(heavy, NOON_UTC + 8 * 3600 + 300, 5)  # 20:00 local: lights, TV, chargers x 5
    assert idle == 120000 and load_w >= 800
    assert 0.95 * idle < loaded < 0.99 * idle  # a few % at (near) full load
    full, low = SolarHome(seed=3, soc=0.9), SolarHome(seed=3, soc=0.04)
    strong, strong_load_w, _ = run(full, NOON_UTC + 8 * 3600 + 300, 5)
    weak, weak_load_w, _ = run(low, NOON_UTC + 8 * 3600 + 300, 5)
    assert weak_load_w == strong_load_w > 0 and 0.85 * strong < weak < 0.98 * strong  # the same load, a low battery
    assert all(0 <= v <= 130000 for v in (idle, loaded, strong, weak))


# One year, clear sky, against pvlib (NREL SPA sun position, Ineichen clear sky with its monthly Linke
# turbidity climatology, Hay-Davies transposition, Fresnel (physical) incidence modifier, SAPM cell
# temperature, PVWatts DC and its default 14.08 % losses) for the same site and array, 1 kWp, 25 C air.
# The model differs in every step: its own sun formulas, a yearly mean turbidity, isotropic sky, the
# ASHRAE modifier, NOCT cell temperature, 14 % losses. Measured (15-minute steps, 2027):
#   La Guajira, Colombia (default site)  11.7 N  72.3 W    10 m, 15 deg south  1882 vs 1911 kWh (-1.5 %)
#   Huehuetenango, Guatemala             15.3 N  91.5 W  1900 m, 15 deg south  2128 vs 2166 kWh (-1.7 %)
#   Santiago, Chile                      33.5 S  70.7 W   520 m, 30 deg north  2063 vs 2097 kWh (-1.6 %)
SITES = {
    "colombia": dict(latitude=11.7, longitude=-72.3, altitude_m=10, tilt=15),
    "guatemala": dict(latitude=15.32, longitude=-91.47, altitude_m=1900, tilt=15),
    "chile": dict(latitude=-33.45, longitude=-70.67, altitude_m=520, tilt=30),
}


@pytest.mark.filterwarnings("ignore:.*dayofyear is deprecated")  # pvlib 0.16 under pandas 3
@pytest.mark.parametrize("name", sorted(SITES))
def test_a_year_of_pv_energy_agrees_with_pvlib_pvwatts(name):
    """The model's clear-sky annual PV energy within 5 % of pvlib's PVWatts (measured: -1.5 to -1.7 %)."""
    site = SITES[name]
    minutes = 15
    middles = pd.date_range("2027-01-01", "2028-01-01", freq="15min", tz="UTC", inclusive="left")
    middles += pd.Timedelta(minutes=minutes / 2)
    turbidity = float(pvlib.clearsky.lookup_linke_turbidity(middles, site["latitude"], site["longitude"]).mean())
    # An unlimited battery: the controller never curtails; relay open, the inverter idles.
    home = SolarHome(pv_wp=1000, battery_wh=10 ** 9, soc=0.5, clear_sky=True, linke_turbidity=turbidity,
                     ambient_c=25, **site)
    model_wh = 0.0
    for k in range(1, len(middles) + 1):
        home.step(START_2027 + 60 * minutes * k, False, minutes)
        model_wh += home.pv_w * minutes / 60

    where = pvlib.location.Location(site["latitude"], site["longitude"], altitude=site["altitude_m"])
    sun = where.get_solarposition(middles)
    sky = where.get_clearsky(middles, solar_position=sun)
    poa = pvlib.irradiance.get_total_irradiance(
        site["tilt"], home.azimuth, sun.apparent_zenith, sun.azimuth, sky.dni, sky.ghi, sky.dhi,
        dni_extra=pvlib.irradiance.get_extra_radiation(middles), albedo=0.2, model="haydavies")
    aoi = pvlib.irradiance.aoi(site["tilt"], home.azimuth, sun.apparent_zenith, sun.azimuth)
    effective = poa.poa_direct * pvlib.iam.physical(aoi) + poa.poa_diffuse
    cell = pvlib.temperature.sapm_cell(poa.poa_global, 25, 1,
                                       **pvlib.temperature.TEMPERATURE_MODEL_PARAMETERS["sapm"]["open_rack_glass_polymer"])
    dc = pvlib.pvsystem.pvwatts_dc(effective, cell, 1000, GAMMA_PER_C).clip(lower=0)
    pvwatts_wh = float(dc.sum()) * minutes / 60 * (1 - pvlib.pvsystem.pvwatts_losses() / 100)
    assert 1500e3 < pvwatts_wh < 2500e3  # kWh per kWp a year: a sane reference
    assert abs(model_wh / pvwatts_wh - 1) < 0.05, (model_wh / 1000, pvwatts_wh / 1000)
