"""Playing a scenario on the virtual board: the part that runs under CPython and MicroPython.

simulator/scenario.py reads the TOML and calls play() in-process (CPython) or runs this
file under the MicroPython unix port:  micropython scenario_run.py DOC.json FLASH_DIR
"""

import json
import sys

from protocol import cosem_client, cosem_server
from protocol import event_names
from protocol import sts_decoder as sts

from boards import sim
import app
import bootslot
import provision
from cosem_meter import CosemMeter
from tcp_push import TcpSender
from meter import Meter
from simulator.flash import PowerLost, SimFlash
from simulator.solar import SolarHome
from strip import Strip
from token_profiles import StsProfile

_EVENT_CODES = {name: code for code, (name, _) in event_names.NAMES.items()}
_UNITS_MS = {"s": 1000, "m": 60000, "h": 3600000, "d": 86400000}
# A simulated meter's LLS secret when its scenario gives none: development only. A real meter has
# none until `opsm fw provision` gives it its own (firmware/lib/credentials.py).
SIM_LLS_PASSWORD = "OPSM-SP-230"


class ScenarioError(ValueError):
    """A scenario file that cannot run; the message names the step and the field."""


def duration_ms(text: str) -> int:
    try:
        return int(float(text[:-1]) * _UNITS_MS[text[-1]])
    except (KeyError, ValueError, IndexError):
        raise ScenarioError("advance: write a number and a unit s, m, h or d, e.g. '90m', got %r" % text) from None


class Run:
    """One meter on the virtual board, its flash in `folder`."""

    def __init__(self, doc: dict, folder: str):
        m = doc["meter"]
        try:
            key = bytes.fromhex(m["key"])
            self.state = sts.StsState(key, ea=int(m.get("ea", 11)), base_year=int(m.get("base_year", 2014)))
            self.lls_password = str(m.get("lls_password", SIM_LLS_PASSWORD))
            self.provisioned = provision.credentials_from({"lls_password": self.lls_password, "hls": m.get("hls")})
        except ValueError as exc:
            raise ScenarioError("meter: %s" % exc) from None
        self.folder = folder
        self.flash = SimFlash()
        self.power_losses = 0
        # Whether the firmware in a slot's folder starts (firmware updates): the host's simulator runs it under
        # the MicroPython unix port (unix_port.slot_starts); None: every slot starts.
        self.slot_starts = None
        self.failed_boots = 0
        self.confirm = None   # app.firmware_trial's: the firmware on trial, confirmed after a minute of readings
        self.readings = 0
        self.clock = sim.SimClock(int(m.get("start_s", 852076800)))
        self.load_w, self.pf_milli, self.battery_mv = 0, 1000, 25600
        self.strip = Strip(320, 20)
        self.home = None
        self.model = None
        if "system" in doc:
            try:
                self.home = SolarHome(**doc["system"])
            except TypeError as exc:
                raise ScenarioError("system: %s" % exc) from None
        self.boot()

    def boot(self) -> None:
        # boot.py's choice of slot; a slot whose firmware does not start is booted again (by the watchdog on a
        # board) until bootslot gives its trial up
        root = self.folder.rstrip("/") + "/"
        while True:
            folder = bootslot.folder(root, bootslot.select(root))
            if self.slot_starts is None or self.slot_starts(folder):
                break
            self.failed_boots += 1
        # a virtual board on the host's network: it pushes to where its push setup says (simulator/serve.py)
        self.hal = sim.make_hal(self.folder, self.clock, opener=self.flash.open, push=TcpSender())
        self.hal.ac.load(self.load_w, self.pf_milli)
        self.hal.battery.mv = self.battery_mv
        self.meter = Meter(self.hal, StsProfile(self.state), provisioned=self.provisioned)
        self.meter.boot(self.clock.now_s(), self.clock.ticks_ms())
        if self.model is None:
            clock = self.clock
            self.model = CosemMeter(self.meter, lambda: (clock.now_s(), clock.ticks_ms()))
        else:
            self.model.attach(self.meter)
        self.confirm = app.firmware_trial(root, self.meter, self.clock.now_s)
        self.readings = 0

    def restart_if_asked(self) -> bool:
        """The firmware asked for a restart (an activation): the board restarts, as app.py's supervisor does."""
        if not self.hal.restart_requested:
            return False
        self.boot()
        return True

    def port_token(self, digits: str) -> None:
        """A token delivered over the meter's DLMS port: LLS association, token gateway enter, release."""
        password = self.lls_password.encode()  # the meter's own, as its head-end knows it
        association = cosem_server.CosemServer(self.model, self.model, guard=self.model).association()
        client = cosem_client.CosemClient(lambda apdu: association.handle(17, apdu), 17, password)
        client.associate()
        try:
            client.enter_token(digits)
        except cosem_client.CosemError:
            pass  # refused: the meter logged and shows why, as for a typed code
        except PowerLost:
            self.power_losses += 1
            self.boot()
            return
        client.release()

    def advance(self, ms: int, step_ms: int = 60000) -> None:
        """Virtual time on, a reading every step_ms (a minute; a fleet's history takes 15-minute steps:
        the energy stays exact for the piecewise-constant load the model gives)."""
        meter, clock = self.meter, self.clock
        while ms > 0:
            step = min(ms, step_ms)
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
            self.readings += 1
            if self.confirm is not None and self.readings >= app.CONFIRM_READINGS:
                self.confirm()
                self.confirm = None

    def type(self, keys: str) -> None:
        for k in keys:
            self.clock.advance_ms(300)
            try:
                self.meter.key(k, self.clock.now_s(), self.clock.ticks_ms())
            except PowerLost:
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


def steps(doc: dict, folder: str):
    """Play a parsed scenario's steps with the flash in `folder`; (the Run, failed expectations)."""
    r = Run(doc, folder)
    failures: list = []
    for n, step in enumerate(doc.get("step", []), 1):
        where = "step %d" % n
        if step.get("power_cut"):
            if step.get("rtc_lost"):  # a board without a backed-up RTC: it restarts from its epoch
                r.clock.lose_power()
            r.boot()
        if "load_w" in step or "pf_milli" in step:
            r.load_w = int(step.get("load_w", r.load_w))
            r.pf_milli = int(step.get("pf_milli", r.pf_milli))
            r.hal.ac.load(r.load_w, r.pf_milli)
        if "battery_mv" in step:
            r.battery_mv = r.hal.battery.mv = int(step["battery_mv"])
        if "cloud" in step:
            if r.home is None:
                raise ScenarioError("%s: cloud needs a [system] section" % where)
            r.home.cloud = float(step["cloud"])  # fraction of clear-sky sun; it drifts on from there
        if "cut_at_write" in step:
            r.flash.cut_at = r.flash.writes + int(step["cut_at_write"])
        if "keys" in step:
            r.type(str(step["keys"]))
        if "port_token" in step:
            r.port_token(str(step["port_token"]))
        if "advance" in step:
            r.advance(duration_ms(str(step["advance"])))
        if "expect" in step:
            failures += r.check(step["expect"], where)
    return r, failures


def play(doc: dict, folder: str) -> dict:
    """Play a parsed scenario with its flash in `folder`; returns the JSON summary."""
    r, failures = steps(doc, folder)
    meter = r.meter
    return {"scenario": doc["name"], "ok": not failures, "failures": failures,
            "credit_kwh": round(meter.available_wh() / 1000, 3),
            "energy_kwh": round(meter.energy.import_wh / 1000, 3),
            "relay": "closed" if r.hal.relay.closed else "open",
            "virtual_hours": round(r.clock.ms / 3600000, 2), "events": len(meter.log.events()),
            "power_losses": r.power_losses}


if __name__ == "__main__":
    with open(sys.argv[1]) as f:
        print(json.dumps(play(json.load(f), sys.argv[2])))
