"""A solar home system around the meter: PV array, charge controller, 24 V battery,
inverter and household loads, stepped one minute at a time, seeded.

The model only decides physical quantities (inverter output voltage, load power and
power factor behind the relay, battery voltage); the virtual board turns them into
ADC samples, so the firmware meters them exactly as it would on a board.
"""

import math

from boards.sim import xorshift32

# Resting voltage against state of charge (24 V bank), (fraction, mV), rising.
OCV = {
    "lead-acid": ((0.0, 23200), (0.25, 24000), (0.5, 24400), (0.75, 24800), (1.0, 25200)),
    "lifepo4": ((0.0, 24000), (0.1, 24400), (0.3, 24800), (0.5, 25200), (0.7, 25600), (0.9, 26300),
                (1.0, 26700)),
}
INTERNAL_OHM = 0.05      # battery bank: what makes its voltage sag under load
INVERTER_IDLE_W = 10     # no-load consumption of a small sine inverter
INVERTER_LOSS_PER_W = 0.00008  # conduction losses grow with the square of the output
INVERTER_CUTOFF_MV = 21600     # the inverter's own low-voltage shutdown
PV_DERATE = 0.8          # heat, dust, wiring, controller
# Household appliances: (name, watts, power factor in thousandths, first hour on, last hour on).
APPLIANCES = (
    ("lights", 60, 1000, 18, 23),
    ("tv", 90, 700, 19, 22),
    ("radio", 15, 900, 6, 9),
    ("phone chargers", 10, 600, 20, 24),
)
FRIDGE_W, FRIDGE_PF, FRIDGE_DUTY = 80, 800, 0.35


def _interpolate(table, x: float) -> float:
    if x <= table[0][0]:
        return table[0][1]
    for (x0, y0), (x1, y1) in zip(table, table[1:]):
        if x <= x1:
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    return table[-1][1]


class SolarHome:
    def __init__(self, seed: int = 1, pv_wp: int = 400, battery: str = "lead-acid", battery_wh: int = 4800,
                 soc: float = 0.8, load_scale: float = 1.0, utc_offset_h: int = -5):
        if battery not in OCV:
            raise ValueError("battery: must be one of %s" % ", ".join(sorted(OCV)))
        if pv_wp < 0 or battery_wh <= 0 or not 0 <= soc <= 1 or load_scale < 0:
            raise ValueError("system: pv_wp >= 0, battery_wh > 0, 0 <= soc <= 1, load_scale >= 0")
        self.state = (seed * 2654435761 + 1) & 0xFFFFFFFF or 1
        self.pv_wp = pv_wp
        self.battery = battery
        self.battery_wh = battery_wh
        self.soc = soc
        self.load_scale = load_scale
        self.utc_offset_h = utc_offset_h
        self.cloud = 1.0          # fraction of clear-sky irradiance, a random walk each hour
        self.fridge_on = False
        self.inverter_on = True
        self.pv_w = 0.0
        self.load_w = 0.0
        self.battery_mv = int(_interpolate(OCV[battery], soc))

    def _random(self) -> float:
        """Uniform in [0, 1), seeded (boards/sim.py's xorshift: the same on both runtimes)."""
        self.state = xorshift32(self.state)
        return self.state / 4294967296.0

    def irradiance(self, local_hour: float) -> float:
        """W/m2: a clear-sky bell from 6:00 to 18:00, scaled by the clouds."""
        if not 6 <= local_hour <= 18:
            return 0.0
        return 1000 * math.sin(math.pi * (local_hour - 6) / 12) * self.cloud

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

    def step(self, utc_s: int, relay_closed: bool, minutes: float = 1.0):
        """Advance the system; returns (inverter output mV, load W behind the relay, pf)."""
        local_hour = ((utc_s / 3600.0) + self.utc_offset_h) % 24
        if utc_s % 3600 < 60 * minutes:  # a new hour: clouds drift
            self.cloud = min(1.0, max(0.15, self.cloud + 0.6 * self._random() - 0.3))
        if self._random() < 0.1 * minutes:  # the fridge thermostat
            self.fridge_on = self._random() < FRIDGE_DUTY
        demand_w, pf = self.demand(local_hour)
        self.load_w = demand_w if (relay_closed and self.inverter_on) else 0.0
        drawn_w = 0.0
        if self.inverter_on:
            drawn_w = self.load_w + INVERTER_IDLE_W + INVERTER_LOSS_PER_W * self.load_w ** 2
        self.pv_w = self.pv_wp * PV_DERATE * self.irradiance(local_hour) / 1000
        if self.soc >= 1.0:
            self.pv_w = min(self.pv_w, drawn_w)  # the controller curtails a full battery
        net_w = self.pv_w - drawn_w
        self.soc = min(1.0, max(0.0, self.soc + net_w * minutes / 60 / self.battery_wh))
        current_a = net_w / 24.0
        self.battery_mv = int(_interpolate(OCV[self.battery], self.soc) + current_a * INTERNAL_OHM * 1000)
        # The inverter's own protection, with hysteresis, independent of the meter.
        if self.inverter_on and self.battery_mv < INVERTER_CUTOFF_MV:
            self.inverter_on = False
        elif not self.inverter_on and self.battery_mv > INVERTER_CUTOFF_MV + 1600:
            self.inverter_on = True
        return (120000 if self.inverter_on else 0), self.load_w, pf
