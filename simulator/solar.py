"""A solar home system around the meter: PV array, charge controller, 24 V battery,
inverter and household loads, stepped one minute at a time (or longer), seeded.

The model only decides physical quantities (inverter output voltage, load power and
power factor behind the relay, battery voltage); the virtual board turns them into
ADC samples, so the firmware meters them exactly as it would on a board.

Sun: the sun's position from the low-precision formulas of the Astronomical Almanac
(mean longitude, mean anomaly, ecliptic longitude, obliquity -> right ascension and
declination; Greenwich mean sidereal time -> hour angle; about 0.01 degree, ample
here), at the middle of each step. Clear sky: Ineichen and Perez (2002) with the
site's Linke turbidity and altitude, air mass after Kasten and Young (1989). Plane of
array: beam on the panel's normal with the ASHRAE incidence-angle modifier (b0 0.05),
isotropic sky diffuse, ground reflection (albedo 0.2). Clouds scale it all (`cloud`,
the fraction of the clear-sky sun, drifting each hour; none with clear_sky=True).

PV (PVWatts' form): array W = Wp x POA / 1000 x (1 + gamma (Tcell - 25 C)) x (1 - system
losses), Tcell = Tambient + POA x (NOCT - 20) / 800. The charge controller (MPPT)
passes 96 % of it to the DC bus, where the inverter draws first; the rest charges the
battery, and a full battery makes the controller curtail the array.

Battery: an open-circuit voltage against its stored energy (a table per chemistry,
with the knee of an exhausted battery below 5 %) behind an internal resistance. The
terminal current for a power P at the terminals solves P = (Voc + I R) I, so the
terminal voltage rises above Voc while charging and sags below it while discharging,
and the I^2 R heat is lost both ways. Charging stores only a fraction of the charge
put in (coulombic efficiency: 85 % lead-acid, 95 % LiFePO4). `soc` is the stored
energy over battery_wh: a discharge takes Voc x I x t from it, so the energy
delivered (loads, inverter idle and losses) over any period never exceeds what was
stored at its start plus what charging stored; an empty battery delivers nothing.

Inverter: draws idle + load + conduction losses from the bus; shuts down when the
battery's terminal voltage falls below INVERTER_CUTOFF_MV (a light load reaches it
too: the resting voltage of a nearly empty battery is below it) and restarts above
INVERTER_RESTART_MV. Its output is 120 V rms regulated, falling 3 % at rated load and
in proportion to the battery voltage below INVERTER_REGULATION_MV (no PWM headroom
left), kept within 0-130 V (the meter's range).

Plain floats and `math` only: it runs under MicroPython's unix port too, and gives the
same numbers there (both use the C library's libm).
"""

import math

from boards.sim import xorshift32

# Resting (open-circuit) voltage against stored energy (24 V bank), (fraction, mV), rising.
# Above 5 %: the meter's own gauge tables (firmware/lib/metering.py). Below: the knee of an
# exhausted battery (the last few % of a lead-acid bank's acid, an LiFePO4 cell falling to
# 2.5 V), so a light load too runs it below the inverter's cut-off.
OCV = {
    "lead-acid": ((0.0, 20000), (0.02, 22000), (0.05, 23200), (0.25, 24000), (0.5, 24400), (0.75, 24800),
                  (1.0, 25200)),
    "lifepo4": ((0.0, 20000), (0.02, 22400), (0.05, 24000), (0.1, 24400), (0.3, 24800), (0.5, 25200),
                (0.7, 25600), (0.9, 26300), (1.0, 26700)),
}
NOMINAL_V = 24.0               # a 24 V bank: battery_wh / 24 V is its capacity in Ah
# Internal resistance of a 24 V bank: wiring + (ohm x Ah) / Ah (cells, straps, polarisation):
# 0.025 ohm for 200 Ah of lead-acid, 0.31 ohm for 10 Ah.
WIRING_OHM = 0.01
OHM_AH = {"lead-acid": 3.0, "lifepo4": 1.0}
CHARGE_EFFICIENCY = {"lead-acid": 0.85, "lifepo4": 0.95}  # coulombic: the share of the charge kept

INVERTER_IDLE_W = 10     # no-load consumption of a small sine inverter
INVERTER_LOSS_PER_W = 0.00008  # conduction losses grow with the square of the output
INVERTER_CUTOFF_MV = 21600     # the inverter's own low-voltage shutdown ...
INVERTER_RESTART_MV = 23200    # ... and where it starts again (hysteresis)
INVERTER_NOMINAL_MV = 120000   # regulated output, rms
INVERTER_MAX_MV = 130000       # the meter's range
INVERTER_RATED_W = 1000
INVERTER_DROOP = 0.03          # the output falls 3 % at rated load
INVERTER_REGULATION_MV = 23000  # below this battery voltage the output follows the battery down

SOLAR_CONSTANT = 1361.0  # W/m2 at one astronomical unit
SYSTEM_LOSSES = 0.14     # soiling, shading, mismatch, wiring, nameplate, ageing (PVWatts' default is 14.08 %)
GAMMA_PER_C = -0.004     # PV power temperature coefficient, 1/C
NOCT_C = 45.0            # nominal operating cell temperature (800 W/m2, 20 C air, 1 m/s wind)
IAM_B0 = 0.05            # ASHRAE incidence-angle modifier
ALBEDO = 0.2
CONTROLLER_EFFICIENCY = 0.96  # MPPT charge controller

# Household appliances: (name, watts, power factor in thousandths, first hour on, last hour on).
APPLIANCES = (
    ("lights", 60, 1000, 18, 23),
    ("tv", 90, 700, 19, 22),
    ("radio", 15, 900, 6, 9),
    ("phone chargers", 10, 600, 20, 24),
)
FRIDGE_W, FRIDGE_PF, FRIDGE_DUTY = 80, 800, 0.35

_RAD = math.pi / 180


def _interpolate(table, x: float) -> float:
    if x <= table[0][0]:
        return table[0][1]
    for (x0, y0), (x1, y1) in zip(table, table[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return table[-1][1]


def sun_position(utc_s: float):
    """(declination, Greenwich hour angle, Earth-Sun distance factor (1/r^2)) in radians and
    AU^-2 at utc_s seconds since 2000-01-01 00:00 UTC (the simulator's clock)."""
    n = utc_s / 86400.0 - 0.5  # days from J2000.0 (UTC for TT: a minute off, nothing here)
    mean_longitude = (280.460 + 0.9856474 * n) % 360.0
    g = ((357.528 + 0.9856003 * n) % 360.0) * _RAD  # mean anomaly
    ecliptic = (mean_longitude + 1.915 * math.sin(g) + 0.020 * math.sin(2 * g)) * _RAD
    obliquity = (23.439 - 0.0000004 * n) * _RAD
    right_ascension = math.atan2(math.cos(obliquity) * math.sin(ecliptic), math.cos(ecliptic))
    declination = math.asin(math.sin(obliquity) * math.sin(ecliptic))
    sidereal_h = (18.697374558 + 24.06570982441908 * n) % 24.0
    hour_angle = sidereal_h * 15 * _RAD - right_ascension
    r = 1.00014 - 0.01671 * math.cos(g) - 0.00014 * math.cos(2 * g)
    return declination, hour_angle, 1 / (r * r)


class SolarHome:
    def __init__(self, seed: int = 1, pv_wp: int = 400, battery: str = "lead-acid", battery_wh: int = 4800,
                 soc: float = 0.8, load_scale: float = 1.0, utc_offset_h: int = -5,
                 latitude: float = 11.7, longitude: float = -72.3, altitude_m: float = 10.0, tilt: float = 15.0,
                 azimuth: float | None = None, linke_turbidity: float = 4.0, ambient_c: float = 27.0,
                 clear_sky: bool = False):
        """The default site is a rural home in La Guajira, on the Caribbean coast of Colombia (UTC-5).
        latitude, longitude: degrees, north and east positive; altitude_m above sea level; tilt of
        the panels from horizontal, degrees; azimuth they face, degrees clockwise from north (default:
        the equator, 180 in the northern hemisphere, 0 in the southern); linke_turbidity of the air
        (about 2 clean and dry, as central Chile; 3.5-5 humid tropics: 4.15 is the yearly mean of the
        climatology pvlib ships for the default site); ambient_c: the air temperature, C.
        clear_sky: no clouds (cloud stays 1 unless a scenario sets it)."""
        if battery not in OCV:
            raise ValueError("battery: must be one of %s" % ", ".join(sorted(OCV)))
        if pv_wp < 0 or battery_wh <= 0 or not 0 <= soc <= 1 or load_scale < 0:
            raise ValueError("system: pv_wp >= 0, battery_wh > 0, 0 <= soc <= 1, load_scale >= 0")
        if azimuth is None:
            azimuth = 180.0 if latitude >= 0 else 0.0
        if not (-90 <= latitude <= 90 and -180 <= longitude <= 360 and 0 <= tilt <= 90 and 0 <= azimuth <= 360
                and linke_turbidity >= 1 and -500 <= altitude_m <= 9000):
            raise ValueError("site: -90 <= latitude <= 90, -180 <= longitude <= 360, 0 <= tilt <= 90, "
                             "0 <= azimuth <= 360, linke_turbidity >= 1, -500 <= altitude_m <= 9000")
        self.state = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1
        self.pv_wp = pv_wp
        self.battery = battery
        self.battery_wh = battery_wh
        self.soc = soc
        self.load_scale = load_scale
        self.utc_offset_h = utc_offset_h
        self.latitude, self.longitude, self.tilt, self.azimuth = latitude, longitude, tilt, azimuth
        self.altitude_m, self.linke_turbidity, self.ambient_c = altitude_m, linke_turbidity, ambient_c
        self.clear_sky = clear_sky
        lat, b, a = latitude * _RAD, tilt * _RAD, azimuth * _RAD
        self._sin_lat, self._cos_lat = math.sin(lat), math.cos(lat)
        # the panels' normal, (east, north, up)
        self._normal = (math.sin(b) * math.sin(a), math.sin(b) * math.cos(a), math.cos(b))
        self._sky_view = (1 + math.cos(b)) / 2
        # Ineichen-Perez altitude terms
        self._fh1 = math.exp(-altitude_m / 8000)
        self._fh2 = math.exp(-altitude_m / 1250)
        self._pressure = (1 - 2.25577e-5 * altitude_m) ** 5.25588  # of sea level's, standard atmosphere
        self.ohm = WIRING_OHM + OHM_AH[battery] * NOMINAL_V / battery_wh
        self.charge_efficiency = CHARGE_EFFICIENCY[battery]
        self.cloud = 1.0          # fraction of clear-sky irradiance, a random walk each hour
        self.fridge_on = False
        self.pv_w = 0.0           # what the array gives (after its losses, curtailed when the battery is full)
        self.load_w = 0.0         # behind the relay
        self.drawn_w = 0.0        # the inverter's input: load, idle and losses
        self.battery_w = 0.0      # at the battery's terminals: + charging, - discharging
        self.battery_mv = int(self.resting_mv())
        self.inverter_on = self.battery_mv >= INVERTER_CUTOFF_MV

    def _random(self) -> float:
        """Uniform in [0, 1), seeded (boards/sim.py's xorshift: the same on both runtimes)."""
        self.state = xorshift32(self.state)
        return self.state / 4294967296.0

    def resting_mv(self) -> float:
        """The battery's open-circuit voltage at its state of charge."""
        return _interpolate(OCV[self.battery], self.soc)

    def sky(self, utc_s: float):
        """Clear-sky (global horizontal, direct normal, diffuse horizontal) W/m2 and the cosines of the
        sun's zenith angle and of its incidence on the panels, at utc_s."""
        declination, greenwich_h, distance = sun_position(utc_s)
        h = greenwich_h + self.longitude * _RAD
        cos_dec = math.cos(declination)
        sin_dec = math.sin(declination)
        up = self._sin_lat * sin_dec + self._cos_lat * cos_dec * math.cos(h)
        if up <= 0.0:
            return 0.0, 0.0, 0.0, up, 0.0
        east = -cos_dec * math.sin(h)
        north = self._cos_lat * sin_dec - self._sin_lat * cos_dec * math.cos(h)
        ne, nn, nu = self._normal
        incidence = east * ne + north * nn + up * nu
        zenith_deg = math.acos(min(1.0, up)) / _RAD
        air_mass = self._pressure / (up + 0.50572 * (96.07995 - zenith_deg) ** -1.6364)
        tl = self.linke_turbidity
        fh1 = self._fh1
        extra = SOLAR_CONSTANT * distance
        ghi = ((5.09e-5 * self.altitude_m + 0.868) * extra * up
               * math.exp(-(3.92e-5 * self.altitude_m + 0.0387) * air_mass * (fh1 + self._fh2 * (tl - 1))))
        dni = min((0.664 + 0.163 / fh1) * extra * math.exp(-0.09 * air_mass * (tl - 1)),
                  ghi * (1 - (0.1 - 0.2 * math.exp(-tl)) / (0.1 + 0.882 / fh1)) / up)
        dni = max(dni, 0.0)
        return ghi, dni, ghi - dni * up, up, incidence

    def irradiance(self, utc_s: float) -> float:
        """W/m2 on the panels, as they take it in (beam through the incidence-angle modifier),
        scaled by the clouds."""
        ghi, dni, dhi, _, incidence = self.sky(utc_s)
        if ghi <= 0.0:
            return 0.0
        beam = 0.0
        if incidence > IAM_B0 / (1 + IAM_B0):  # the modifier is 0 from there to grazing
            beam = dni * incidence * (1 - IAM_B0 * (1 / incidence - 1))
        poa = beam + dhi * self._sky_view + ghi * ALBEDO * (1 - self._sky_view)
        return poa * self.cloud

    def array_w(self, utc_s: float) -> float:
        """The PV array's DC output at utc_s, after its temperature and system losses."""
        poa = self.irradiance(utc_s)
        if poa <= 0.0 or self.pv_wp <= 0:
            return 0.0
        cell_c = self.ambient_c + poa * (NOCT_C - 20) / 800
        return self.pv_wp * poa / 1000 * (1 + GAMMA_PER_C * (cell_c - 25)) * (1 - SYSTEM_LOSSES)

    def demand(self, local_hour: float):
        """(W, power factor in thousandths) the household asks for now."""
        hour = int(local_hour)
        watts = 0.0
        weighted = 0.0
        for _, w, pf, first, last in APPLIANCES:
            if first <= hour < last:
                watts += w
                weighted += w * pf
        if self.fridge_on:
            watts += FRIDGE_W
            weighted += FRIDGE_W * FRIDGE_PF
        watts *= self.load_scale
        return watts, (int(weighted * self.load_scale / watts) if watts else 1000)

    def output_mv(self, load_w: float, battery_mv: float) -> int:
        """The inverter's output voltage (rms mV) for a load and a battery terminal voltage: regulated,
        sagging with the load and below INVERTER_REGULATION_MV with the battery."""
        mv = INVERTER_NOMINAL_MV * (1 - INVERTER_DROOP * load_w / INVERTER_RATED_W)
        if battery_mv < INVERTER_REGULATION_MV:
            mv = mv * battery_mv / INVERTER_REGULATION_MV
        return int(min(INVERTER_MAX_MV, max(0.0, mv)))

    def step(self, utc_s: int, relay_closed: bool, minutes: float = 1.0):
        """Advance the system over the `minutes` ending at utc_s; returns (inverter output mV, load W
        behind the relay (its mean over the step), pf)."""
        local_hour = ((utc_s / 3600.0) + self.utc_offset_h) % 24
        if utc_s % 3600 < 60 * minutes and not self.clear_sky:  # a new hour: clouds drift
            self.cloud = min(1.0, max(0.15, self.cloud + 0.6 * self._random() - 0.3))
        if self._random() < 0.1 * minutes:  # the fridge thermostat
            self.fridge_on = self._random() < FRIDGE_DUTY
        demand_w, pf = self.demand(local_hour)
        hours = minutes / 60
        pv_w = self.array_w(utc_s - 30 * minutes)  # the sun at the middle of the step
        supply_w = pv_w * CONTROLLER_EFFICIENCY    # onto the DC bus
        voc = self.resting_mv() / 1000
        r = self.ohm
        load_w = drawn_w = 0.0
        if self.inverter_on:
            load_w = demand_w if relay_closed else 0.0
            drawn_w = load_w + INVERTER_IDLE_W + INVERTER_LOSS_PER_W * load_w * load_w
            if drawn_w - supply_w > voc * voc / (4 * r):
                # more than the battery can give at any current: its voltage collapses, the inverter trips
                self.inverter_on = False
                load_w = drawn_w = 0.0
        net_w = supply_w - drawn_w  # into the battery's terminals
        # (Voc + I R) I = net_w: I > 0 charging, < 0 discharging
        current = (math.sqrt(voc * voc + 4 * r * net_w) - voc) / (2 * r)
        stored_wh = self.soc * self.battery_wh
        exhausted = False
        if current >= 0:
            kept_wh = self.charge_efficiency * voc * current * hours
            room_wh = self.battery_wh - stored_wh
            if kept_wh > room_wh:  # full: the controller curtails the array
                kept_wh = room_wh
                current = room_wh / (self.charge_efficiency * voc * hours)
                net_w = (voc + current * r) * current
                pv_w = (drawn_w + net_w) / CONTROLLER_EFFICIENCY
            self.soc = min(1.0, (stored_wh + kept_wh) / self.battery_wh)
        else:
            taken_wh = -voc * current * hours
            if taken_wh >= stored_wh:
                # empty within the step: the inverter ran as long as the charge lasted, then stopped
                share = stored_wh / taken_wh
                load_w *= share
                drawn_w *= share
                net_w *= share
                taken_wh = stored_wh
                exhausted = True
            self.soc = max(0.0, (stored_wh - taken_wh) / self.battery_wh)
        terminal_mv = self.resting_mv() + current * r * 1000
        volts = self.output_mv(load_w, terminal_mv) if self.inverter_on and drawn_w > 0 else 0
        if exhausted:
            self.inverter_on = False
            terminal_mv = self.resting_mv()  # at rest now, and the sun left for the rest of the step unused
        self.pv_w, self.load_w, self.drawn_w, self.battery_w = pv_w, load_w, drawn_w, net_w
        self.battery_mv = int(terminal_mv)
        # The inverter's own protection, with hysteresis, independent of the meter.
        if self.inverter_on and self.battery_mv < INVERTER_CUTOFF_MV:
            self.inverter_on = False
        elif not self.inverter_on and self.battery_mv > INVERTER_RESTART_MV:
            self.inverter_on = True
        return volts, self.load_w, pf
