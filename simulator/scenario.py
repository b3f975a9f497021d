"""Scenario files: a meter on the virtual board driven step by step, with expectations.

A scenario is TOML:

    name = "recharge and cut"
    [meter]                      # the meter's identity (STS profile)
    key = "f94b6ed353c3bfdb113e2d3a7ea3c41d"
    base_year = 1993
    [system]                     # optional: a solar home system drives voltage, load, battery
    seed = 7                     # (simulator/solar.py); without it the steps set them
    pv_wp = 400
    battery = "lead-acid"        # or "lifepo4"
    battery_wh = 4800
    soc = 0.8
    [[step]]
    keys = "*63638916334124550935*"    # typed on the keypad, 0.3 s apart
    [[step]]
    advance = "12h"                    # virtual time, one reading a minute
    load_w = 2000                      # the household load from now on (pf_milli optional)
    [[step]]
    power_cut = true                   # power lost and back: the meter boots from its flash
    [[step]]
    expect = { relay = "open", credit_kwh = 0.0, screen = "SIN CREDITO", events = ["recharge"] }

Within a step: power_cut, then load_w / pf_milli / battery_mv, then cut_at_write (the
supply fails at the N-th flash write from now, half of it written, and comes back: the
meter boots from its flash), then keys, then advance, then expect. Expectations: relay ("open"/"closed"), credit_kwh and energy_kwh (within
0.05 kWh or `tolerance_kwh`), screen (text on the screen now), events (names logged so far).
The firmware runs in-process under CPython with its flash in a temporary folder.
"""

import os
import shutil
import tempfile
import tomllib

from protocol import sts_decoder as sts

import eventlog
from boards import sim
from meter import Meter
from strip import Strip
from simulator.solar import SolarHome
from token_profiles import StsProfile

_EVENT_CODES = {"power up": eventlog.POWER_UP, "watchdog reset": eventlog.WATCHDOG_RESET,
                "recharge": eventlog.RECHARGE, "rejected": eventlog.REJECTED, "relay": eventlog.RELAY,
                "admin": eventlog.ADMIN, "month": eventlog.MONTH, "low credit": eventlog.LOW_CREDIT}
_UNITS_MS = {"s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
_STEP_KEYS = {"keys", "advance", "load_w", "pf_milli", "power_cut", "cut_at_write", "expect", "battery_mv"}


class ScenarioError(ValueError):
    """A scenario file that cannot run; the message names the step and the field."""


def duration_ms(text: str) -> int:
    try:
        return int(float(text[:-1]) * _UNITS_MS[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise ScenarioError("advance: write a number and a unit s, m, h or d, e.g. '90m', got %r" % text) from None


def load(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError("%s: %s" % (path, exc)) from None
    if "meter" not in doc or "key" not in doc["meter"]:
        raise ScenarioError("%s: [meter] needs key (the decoder key, hex)" % path)
    for n, step in enumerate(doc.get("step", []), 1):
        unknown = set(step) - _STEP_KEYS
        if unknown:
            raise ScenarioError("%s: step %d: unknown field %s" % (path, n, ", ".join(sorted(unknown))))
    doc.setdefault("name", os.path.basename(path))
    return doc


class Run:
    """One meter on the virtual board, its flash in `folder`."""

    def __init__(self, doc: dict, folder: str):
        m = doc["meter"]
        try:
            key = bytes.fromhex(m["key"])
            self.state = sts.StsState(key, ea=int(m.get("ea", 11)), base_year=int(m.get("base_year", 2014)))
        except ValueError as exc:
            raise ScenarioError("meter: %s" % exc) from None
        self.folder = folder
        self.flash = sim.SimFlash()
        self.power_losses = 0
        self.clock = sim.SimClock(int(m.get("start_s", 852076800)))
        self.load_w, self.pf_milli, self.battery_mv = 0, 1000, 25600
        self.strip = Strip(320, 20)
        self.home = None
        if "system" in doc:
            try:
                self.home = SolarHome(**doc["system"])
            except TypeError as exc:
                raise ScenarioError("system: %s" % exc) from None
        self.boot()

    def boot(self) -> None:
        self.hal = sim.make_hal(self.folder, self.clock, opener=self.flash.open)
        self.hal.ac.load(self.load_w, self.pf_milli)
        self.hal.battery.mv = self.battery_mv
        self.meter = Meter(self.hal, StsProfile(self.state))
        self.meter.boot(self.clock.now_s(), self.clock.ticks_ms())

    def advance(self, ms: int) -> None:
        meter, clock = self.meter, self.clock
        while ms > 0:
            step = min(ms, 60000)
            clock.advance_ms(step)
            ms -= step
            if self.home is not None:
                ac = self.hal.ac
                ac.vrms_mv, load_w, pf = self.home.step(clock.now_s(), self.hal.relay.closed, step / 60000)
                ac.load(int(load_w), pf)
                self.hal.battery.mv = self.home.battery_mv
            meter.measure()
            meter.second(clock.now_s(), clock.ticks_ms())
            meter.tick(clock.ticks_ms())

    def type(self, keys: str) -> None:
        for k in keys:
            self.clock.advance_ms(300)
            try:
                self.meter.key(k, self.clock.now_s(), self.clock.ticks_ms())
            except sim.PowerLost:
                self.power_losses += 1
                self.boot()  # the supply comes back: the meter starts from its flash

    def screen(self) -> list:
        return self.meter.render(self.strip, self.clock.ticks_ms())

    def check(self, expect: dict, where: str) -> list:
        """Failed expectations, each a sentence."""
        meter, failures = self.meter, []
        tolerance = float(expect.get("tolerance_kwh", 0.05))
        if "relay" in expect:
            state = "closed" if self.hal.relay.closed else "open"
            if state != expect["relay"]:
                failures.append("%s: relay is %s, expected %s" % (where, state, expect["relay"]))
        for name, value in (("credit_kwh", meter.available_wh() / 1000), ("energy_kwh", meter.energy.import_wh / 1000)):
            if name in expect and abs(value - float(expect[name])) > tolerance:
                failures.append("%s: %s is %.3f, expected %s" % (where, name, value, expect[name]))
        if "screen" in expect:
            shown = " ".join(self.screen())
            if expect["screen"] not in shown:
                failures.append("%s: screen shows %r, expected %r in it" % (where, shown, expect["screen"]))
        logged = {e[2] for e in meter.log.events()}
        for name in expect.get("events", []):
            if _EVENT_CODES.get(name) not in logged:
                failures.append("%s: no %r event in the log" % (where, name))
        return failures


def run(path: str) -> dict:
    """Play one scenario file; returns its JSON summary (ok, failures, final state)."""
    doc = load(path)
    folder = tempfile.mkdtemp(prefix="opsm-sim-")
    try:
        r = Run(doc, folder)
        failures = []
        for n, step in enumerate(doc.get("step", []), 1):
            where = "step %d" % n
            if step.get("power_cut"):
                r.boot()
            if "load_w" in step or "pf_milli" in step:
                r.load_w = int(step.get("load_w", r.load_w))
                r.pf_milli = int(step.get("pf_milli", r.pf_milli))
                r.hal.ac.load(r.load_w, r.pf_milli)
            if "battery_mv" in step:
                r.battery_mv = r.hal.battery.mv = int(step["battery_mv"])
            if "cut_at_write" in step:
                r.flash.cut_at = r.flash.writes + int(step["cut_at_write"])
            if "keys" in step:
                r.type(str(step["keys"]))
            if "advance" in step:
                r.advance(duration_ms(str(step["advance"])))
            if "expect" in step:
                failures += r.check(step["expect"], where)
        meter = r.meter
        return {"scenario": doc["name"], "ok": not failures, "failures": failures,
                "credit_kwh": round(meter.available_wh() / 1000, 3),
                "energy_kwh": round(meter.energy.import_wh / 1000, 3),
                "relay": "closed" if r.hal.relay.closed else "open",
                "virtual_hours": round(r.clock.ms / 3600000, 2), "events": len(meter.log.events()),
                "power_losses": r.power_losses}
    finally:
        shutil.rmtree(folder, ignore_errors=True)
