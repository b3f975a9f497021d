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

Every field (the SCENARIO, METER, HLS, SYSTEM, STEP and EXPECT tables below hold them with their rules):

    name          text; default: the file's name
    [meter]       required
      key           the decoder key, hex: 32 digits for ea = 11 (MISTY1), 16 for ea = 9 (DES); required
      ea            9 or 11 (default 11)
      base_year     1993, 2014 or 2035 (default 2014)
      lls_password  the meter's LLS secret, 8-32 printable ASCII characters (default OPSM-SP-230)
      hls           { ek, ak, kek }: HLS keys, 32 hex digits each (default: none)
      start_s       the virtual clock at the start, seconds since 2000-01-01 (default 852076800)
    [system]      optional: a solar home (simulator/solar.py SolarHome) drives voltage, load and battery
      seed          an integer (default 1): the same seed, the same weather on both runtimes
      pv_wp         panels, Wp >= 0 (default 400)
      battery       "lead-acid" or "lifepo4" (default "lead-acid")
      battery_wh    capacity, Wh > 0 (default 4800)
      soc           state of charge at the start, 0..1 (default 0.8)
      load_scale    the household's appliances scaled, >= 0 (default 1.0)
      utc_offset_h  local time, -12..14 h (default -5)
      latitude, longitude   the site, degrees north -90..90 and east -180..360 (default 11.7, -72.3: La Guajira)
      altitude_m    -500..9000 m (default 10)
      tilt, azimuth the panels: 0..90 degrees from horizontal (default 15), 0..360 clockwise from north
                    (default: facing the equator)
      linke_turbidity  of the air, >= 1 (default 4.0)
      ambient_c     air temperature, -50..60 C (default 27)
      clear_sky     true: no clouds (default false)
    [[step]]      one at least; a step names one field at least, and does them in this order:
      power_cut     true: power lost and back, the meter boots from its flash
      rtc_lost      true, with power_cut: the RTC restarts from its epoch, as on a Pico
      load_w        the household load from now on, W >= 0
      pf_milli      its power factor, 1..1000 thousandths (default 1000)
      battery_mv    the battery's voltage from now on, mV >= 0 (default 25600)
      cloud         fraction of the clear-sky sun, 0..1 (needs [system]; it drifts on from there)
      cut_at_write  N >= 1: the supply fails at the N-th flash write from now, half of it written, and comes
                    back: the meter boots from its flash
      keys          typed on the keypad, 0.3 s apart: 0-9, A-D, * and #
      port_token    a token's digits delivered over the DLMS port (token gateway)
      advance       virtual time, one reading a minute: a number above 0 and a unit s, m, h or d ("90m", "1.5h")
      expect        a table naming one expectation at least:
        relay         "open" or "closed"
        credit_kwh    a number: the credit now, within tolerance_kwh
        energy_kwh    a number: the imported energy now, within tolerance_kwh
        tolerance_kwh a number >= 0 (default 0.05)
        screen        text on the screen now
        events        a list of event names logged so far (protocol/event_names.py NAMES)

load() checks the whole file against the tables before anything runs: an unknown table, field or
expectation, or a bad value, is a ScenarioError naming the file, the step (1-based) and the field, and
the rule: "scenarios/x.toml: step 3: expect.credit_kwh: must be a number (got '25')". A new field is
one line in its table (and the code in scenario_run.py that acts on it).
The firmware runs in-process under CPython with its flash in a temporary folder.
"""

import difflib
import json
import math
import os
import re
import shutil
import subprocess
import tempfile
import tomllib

from opsm.protocol import acse, event_names
from opsm.protocol import sts_decoder as sts
from opsm.simulator import board
from opsm.simulator.board import ROOT
from opsm.simulator.unix_port import micropython_command, micropython_env

_scenario_run = board.module("simulator.scenario_run")
ScenarioError, duration_ms, play = _scenario_run.ScenarioError, _scenario_run.duration_ms, _scenario_run.play
OCV = board.module("simulator.solar").OCV

RUNTIMES = ("cpython", "micropython")


# --- the schema: a table of fields per TOML table, each field with its rule --------------------------

class Bad(Exception):
    """A mistake in a scenario: the field as the file writes it (with its step) and what is wrong."""

    def __init__(self, field: str, message: str):
        super().__init__("%s: %s" % (field, message))
        self.field, self.message = field, message


class Rule:
    """One field: `test(value)` says whether a value is good; `text` completes "must be ..."."""

    def __init__(self, text: str, test, required: bool = False):
        self.text, self.test, self.required = text, test, required

    def check(self, value, field: str) -> None:
        if not self.test(value):
            raise Bad(field, "must be %s (got %s)" % (self.text, _shown(value)))


class Table(Rule):
    """An inline or [table] whose fields follow `schema`; `nonempty`: it must name one at least."""

    def __init__(self, schema: dict, text: str = "a table", required: bool = False, nonempty: bool = False):
        super().__init__(text, lambda v: isinstance(v, dict), required)
        self.schema, self.nonempty = schema, nonempty

    def check(self, value, field: str) -> None:
        super().check(value, field)
        if self.nonempty and not value:
            raise Bad(field, "empty: name at least one of %s" % ", ".join(self.schema))
        check_table(value, self.schema, field + ".")


class Steps(Rule):
    """[[step]] tables, one at least, each following `schema`; a message names the step, 1-based."""

    def __init__(self, schema: dict, required: bool = False):
        super().__init__("[[step]] tables, one at least",
                         lambda v: isinstance(v, list) and v != [] and all(isinstance(s, dict) for s in v), required)
        self.schema = schema

    def check(self, value, field: str) -> None:
        super().check(value, field)
        for n, step in enumerate(value, 1):
            if not step:
                raise Bad("step %d" % n, "empty: name at least one of %s" % ", ".join(self.schema))
            check_table(step, self.schema, "step %d: " % n)


class ListOf(Rule):
    """A list whose items follow `item`; a message names the bad item."""

    def __init__(self, item: Rule, text: str):
        super().__init__(text, lambda v: isinstance(v, list))
        self.item = item

    def check(self, value, field: str) -> None:
        super().check(value, field)
        for one in value:
            self.item.check(one, field)


class Keys(Rule):
    """Keys typed on the 4x4 keypad; a message names the first bad one."""

    KEYPAD = "0123456789ABCD*#"

    def __init__(self):
        super().__init__("keypad keys: 0-9, A-D, * and #", lambda v: isinstance(v, str) and v != "")

    def check(self, value, field: str) -> None:
        if value == "":
            raise Bad(field, "must be %s (got an empty text)" % self.text)
        super().check(value, field)
        for at, key in enumerate(value, 1):
            if key not in self.KEYPAD:
                raise Bad(field, "must be %s (got %r, character %d of %s)" % (self.text, key, at, _shown(value)))


class EventName(Rule):
    """An event's English name (protocol/event_names.py NAMES)."""

    def __init__(self):
        self.known = sorted(name for name, _ in event_names.NAMES.values())
        super().__init__("an event name", lambda v: v in self.known)

    def check(self, value, field: str) -> None:
        if not self.test(value):
            raise Bad(field, "%s is not an event name; known: %s" % (_shown(value), ", ".join(self.known)))


def _shown(value) -> str:
    """A value as the file writes it (true, not True), cut short."""
    text = str(value).lower() if isinstance(value, bool) else repr(value)
    return text if len(text) <= 48 else text[:45] + "..."


def _is_number(v) -> bool:
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v)  # TOML has inf and nan


def number(low=None, high=None, above=None) -> Rule:
    """An int or float (not true/false, not inf or nan) within the bounds."""
    if low is not None and high is not None:
        text = "a number from %s to %s" % (low, high)
    elif low is not None:
        text = "a number >= %s" % low
    else:
        text = "a number > %s" % above if above is not None else "a number"
    return Rule(text, lambda v: (_is_number(v) and (low is None or v >= low) and (high is None or v <= high)
                                 and (above is None or v > above)))


def integer(low=None, high=None) -> Rule:
    if high is not None:
        text = "an integer from %s to %s" % (low, high)
    else:
        text = "an integer >= %s" % low if low is not None else "an integer"
    return Rule(text, lambda v: (isinstance(v, int) and not isinstance(v, bool)
                                 and (low is None or v >= low) and (high is None or v <= high)))


def one_of(*values) -> Rule:
    """One of these values, of the same type (true is not 1)."""
    return Rule("one of %s" % ", ".join(repr(v) for v in values),
                lambda v: any(type(v) is type(x) and v == x for x in values))


def text(what: str = "text", pattern: str = "(?s).*", required: bool = False) -> Rule:
    """A string the regular expression `pattern` matches whole."""
    return Rule(what, lambda v: isinstance(v, str) and re.fullmatch(pattern, v) is not None, required)


def _lls_ok(v) -> bool:
    try:
        acse.check_lls_secret(v.encode())
    except (ValueError, AttributeError):
        return False
    return True


def _duration_ok(v) -> bool:
    return isinstance(v, str) and re.fullmatch(r"[0-9]*\.?[0-9]+[smhd]", v) is not None and duration_ms(v) > 0


HEX_16_BYTES = text("32 hexadecimal digits", "[0-9a-fA-F]{32}", required=True)

HLS = {
    "ek": HEX_16_BYTES,
    "ak": HEX_16_BYTES,
    "kek": HEX_16_BYTES,
}

METER = {  # simulator/scenario_run.py Run.__init__
    "key": text("the decoder key: 32 hexadecimal digits for ea = 11, 16 for ea = 9", "(?:[0-9a-fA-F]{16}){1,2}",
                required=True),
    "ea": one_of(sts.EA_DES, sts.EA_MISTY1),
    "base_year": one_of(*sts.BASE_YEARS),
    "lls_password": Rule("%d-%d printable ASCII characters, no spaces" % (acse.LLS_MIN, acse.LLS_MAX), _lls_ok),
    "hls": Table(HLS, "a table { ek, ak, kek } of 32 hexadecimal digits each"),
    "start_s": integer(0),
}

SYSTEM = {  # simulator/solar.py SolarHome's arguments
    "seed": integer(),
    "pv_wp": number(0),
    "battery": one_of(*sorted(OCV)),
    "battery_wh": number(above=0),
    "soc": number(0, 1),
    "load_scale": number(0),
    "utc_offset_h": number(-12, 14),
    "latitude": number(-90, 90),
    "longitude": number(-180, 360),
    "altitude_m": number(-500, 9000),
    "tilt": number(0, 90),
    "azimuth": number(0, 360),
    "linke_turbidity": number(1),
    "ambient_c": number(-50, 60),
    "clear_sky": Rule("true or false", lambda v: isinstance(v, bool)),
}

EXPECT = {  # simulator/scenario_run.py Run.check
    "relay": one_of("open", "closed"),
    "credit_kwh": number(),
    "energy_kwh": number(),
    "tolerance_kwh": number(0),
    "screen": text("text shown on the screen", ".+"),
    "events": ListOf(EventName(), "a list of event names"),
}

STEP = {  # simulator/scenario_run.py steps(), in the order it does them
    "power_cut": Rule("true or false", lambda v: isinstance(v, bool)),
    "rtc_lost": Rule("true or false", lambda v: isinstance(v, bool)),
    "load_w": number(0),
    "pf_milli": integer(1, 1000),
    "battery_mv": integer(0),
    "cloud": number(0, 1),
    "cut_at_write": integer(1),
    "keys": Keys(),
    "port_token": text("digits 0-9 (a token)", "[0-9]+"),
    "advance": Rule("a duration: a number above 0 and a unit s, m, h or d, e.g. '90m' or '1.5h'", _duration_ok),
    "expect": Table(EXPECT, nonempty=True),
}

SCENARIO = {
    "name": text(),
    "meter": Table(METER, "a [meter] table with key = the decoder key", required=True),
    "system": Table(SYSTEM, "a [system] table"),
    "step": Steps(STEP, required=True),
}


def check_across(doc: dict) -> None:
    """Rules that join fields (after each field has passed its own)."""
    m = doc["meter"]
    ea = m.get("ea", sts.EA_MISTY1)
    digits = 32 if ea == sts.EA_MISTY1 else 16
    if len(m["key"]) != digits:
        raise Bad("meter.key", "must be %d hexadecimal digits for ea = %d (got %d digits)"
                  % (digits, ea, len(m["key"])))
    for n, step in enumerate(doc["step"], 1):
        if "cloud" in step and "system" not in doc:
            raise Bad("step %d: cloud" % n, "needs a [system] table (the solar home whose sun it dims)")
        if step.get("rtc_lost") and not step.get("power_cut"):
            raise Bad("step %d: rtc_lost" % n, "needs power_cut = true in the same step")


def _written(name: str, rule_or_value, top: bool) -> str:
    """A field as the file writes it: [table] and [[tables]] at the top level."""
    if top and isinstance(rule_or_value, (Table, dict)):
        return "[%s]" % name
    if top and isinstance(rule_or_value, Steps) or (top and isinstance(rule_or_value, list)
                                                     and all(isinstance(v, dict) for v in rule_or_value)):
        return "[[%s]]" % name
    return name


def check_table(table: dict, schema: dict, prefix: str = "") -> None:
    """Unknown fields first (a typo in a name also leaves its field missing), then each field present or required."""
    top = prefix == ""
    allowed = [_written(name, rule, top) for name, rule in schema.items()]
    for name, value in table.items():
        if name not in schema:
            field = _written(name, value, top)
            near = difflib.get_close_matches(field, allowed, 1, 0.6)
            raise Bad(prefix + field, "unknown %s; %s(allowed: %s)" % ("field" if field == name else "table",
                                                                      "did you mean %s? " % near[0] if near else "",
                                                                      ", ".join(allowed)))
    for name, rule in schema.items():  # in the schema's order, which is a file's: [meter] before [[step]]
        if name in table:
            # [meter]'s fields read meter.key; the [[step]] array and values of the wrong type keep their brackets
            value = table[name]
            rule.check(value, prefix + (name if isinstance(rule, Table) else _written(name, value, top)))
        elif rule.required:
            raise Bad(prefix + _written(name, rule, top), "missing (required: %s)" % rule.text)


def validate(doc: dict) -> None:
    """Raises Bad for the first mistake in a parsed scenario, naming the step and the field."""
    check_table(doc, SCENARIO)
    check_across(doc)


def load(path: str) -> dict:
    """Read and check a scenario file; ScenarioError naming the file, the step and the field."""
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError("%s: %s" % (path, exc)) from None
    try:
        validate(doc)
    except Bad as bad:
        raise ScenarioError("%s: %s: %s" % (path, bad.field, bad.message)) from None
    doc.setdefault("name", os.path.basename(path))
    return doc


SHIPPED = os.path.join(ROOT, "scenarios")  # installed with the package (opsm/scenarios)


def shipped() -> list:
    """The names of the scenarios that come with opsm."""
    return sorted(name[:-5] for name in os.listdir(SHIPPED) if name.endswith(".toml"))


def find(name_or_path: str) -> str:
    """A scenario file: a path as given, or the name of a shipped scenario (with or without .toml)."""
    if os.path.isfile(name_or_path):
        return name_or_path
    name = name_or_path[:-5] if name_or_path.endswith(".toml") else name_or_path
    if name in shipped():
        return os.path.join(SHIPPED, name + ".toml")
    raise ScenarioError("%s: no such file, nor a shipped scenario (opsm sim scenarios lists them)" % name_or_path)


def run(path: str, runtime: str = "cpython") -> dict:
    """Play one scenario file in-process (CPython) or on the MicroPython unix port."""
    if runtime not in RUNTIMES:
        raise ScenarioError("runtime: must be cpython or micropython, got %r" % runtime)
    doc = load(path)
    folder = tempfile.mkdtemp(prefix="opsm-sim-")
    try:
        if runtime == "cpython":
            return play(doc, folder)
        job = os.path.join(folder, "scenario.json")
        with open(job, "w") as f:
            json.dump(doc, f)
        flash = os.path.join(folder, "flash")
        os.makedirs(flash)
        proc = subprocess.run(micropython_command() + ["-X", "heapsize=4M",
                                                       os.path.join(ROOT, "simulator", "scenario_run.py"), job, flash],
                              env=micropython_env(), capture_output=True, text=True, timeout=1800)
        if proc.returncode:
            raise ScenarioError("%s: MicroPython run failed:\n%s%s" % (path, proc.stdout[-2000:], proc.stderr))
        return json.loads(proc.stdout.strip().splitlines()[-1])
    finally:
        shutil.rmtree(folder, ignore_errors=True)
