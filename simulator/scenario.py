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

Within a step: power_cut (with rtc_lost = true the RTC restarts from its epoch, as on a
Pico), then load_w / pf_milli / battery_mv / cloud (fraction of the
clear-sky sun, with [system]), then cut_at_write (the
supply fails at the N-th flash write from now, half of it written, and comes back: the
meter boots from its flash), then keys, then advance, then expect. Expectations: relay ("open"/"closed"), credit_kwh and energy_kwh (within
0.05 kWh or `tolerance_kwh`), screen (text on the screen now), events (names logged so far).
The firmware runs in-process under CPython with its flash in a temporary folder.
"""

import json
import os
import shutil
import subprocess
import tempfile
import tomllib

from host.mpunix import ROOT, micropython_command, micropython_env
from simulator.scenario_run import STEP_KEYS, ScenarioError, play

RUNTIMES = ("cpython", "micropython")


def load(path: str) -> dict:
    try:
        with open(path, "rb") as f:
            doc = tomllib.load(f)
    except (OSError, tomllib.TOMLDecodeError) as exc:
        raise ScenarioError("%s: %s" % (path, exc)) from None
    if "meter" not in doc or "key" not in doc["meter"]:
        raise ScenarioError("%s: [meter] needs key (the decoder key, hex)" % path)
    for n, step in enumerate(doc.get("step", []), 1):
        unknown = set(step) - STEP_KEYS
        if unknown:
            raise ScenarioError("%s: step %d: unknown field %s" % (path, n, ", ".join(sorted(unknown))))
    doc.setdefault("name", os.path.basename(path))
    return doc


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
