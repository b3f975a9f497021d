"""`opsm demo`: sell a token for a demo meter and enter it on the firmware under MicroPython."""

import json
import os
import shutil
import subprocess

import click

from opsm.host.keystore import KeyStore
from opsm.host.registry import Registry, utc_now
from opsm.host.vending import Vendor, derive_decoder_key
from opsm.simulator import board
from opsm.simulator.unix_port import micropython_command, micropython_env

# Demo identities only: a published test vending key and a PAN with a valid Luhn digit.
DEMO_VENDING_KEY = bytes.fromhex("abababababababab949494949494949401234567")
DEMO_PAN = "600727000000000009"
DEMO_PASSPHRASE = "demo passphrase"
DEMO_MARKER = ".opsm-demo"


def run_on_micropython(module: str, argv: list) -> subprocess.CompletedProcess:
    snippet = "import sys, %s; sys.exit(%s.main(%r))" % (module, module, [str(a) for a in argv])
    return subprocess.run(micropython_command() + ["-X", "heapsize=96K", "-c", snippet], env=micropython_env(),
                          capture_output=True, text=True, timeout=60)


def run_demo(workdir: str | None) -> None:
    workdir = os.path.abspath(workdir or "opsm-demo")
    marker = os.path.join(workdir, DEMO_MARKER)
    if os.path.isdir(workdir) and os.listdir(workdir):
        if not os.path.isfile(marker):  # never empty a folder the demo did not make
            raise ValueError("workdir: %s exists and is not a demo's folder; give another --workdir" % workdir)
        shutil.rmtree(workdir)
    os.makedirs(workdir, exist_ok=True)
    with open(marker, "w") as f:
        f.write("made by opsm demo; the next demo here empties this folder\n")
    store = KeyStore.create(os.path.join(workdir, "vending-keys.json"), DEMO_PASSPHRASE)
    store.add("demo", DEMO_VENDING_KEY)
    store.save()
    registry = Registry(os.path.join(workdir, "registry.sqlite"))
    meter = registry.add_meter(DEMO_PAN, "123457", 1, 1, 2, 2014, 11, "04", "demo")
    click.echo("1. Registered demo meter %s (STS, DKGA-04, EA11 MISTY1, base date 2014)" % DEMO_PAN)
    vendor = Vendor(registry, store, "demo")
    sale = vendor.credit(DEMO_PAN, 250)[0]
    code = sale["token"]
    click.echo("2. Sold 25.0 kWh: token %s (TID %d)" % (_grouped(code), sale["tid"]))
    key = derive_decoder_key(DEMO_VENDING_KEY, meter)
    now = int(utc_now().timestamp()) - 946684800  # the boards count seconds from 2000-01-01
    argv = [os.path.join(workdir, "meter"), key.hex(), 11, 2014, now, code, code]
    proc = run_on_micropython("token_console", argv)
    if proc.returncode:
        raise ValueError("firmware: MicroPython decode failed:\n" + proc.stdout + proc.stderr)
    lines = proc.stdout.strip().splitlines()
    report = json.loads(lines[-1])
    click.echo("3. The meter (firmware under MicroPython, 96 KB heap) took the code, then the same code again:")
    for line in lines[:-1]:
        click.echo("   " + line)
    if not (report[0]["ok"] and report[1]["reason"] == "USED" and report[0]["credit_wh"] == 25000):
        raise ValueError("firmware: unexpected meter response %r" % report)
    small, more = vendor.credit(DEMO_PAN, 20)[0]["token"], vendor.credit(DEMO_PAN, 100)[0]["token"]
    click.echo("4. A day on a solar home system (virtual board, firmware under CPython, 2.0 kWh then 10.0 kWh):")
    _story(workdir, key, small, more)
    click.echo("5. Done. Registry, key file, flash and screenshots in %s" % workdir)


def _grouped(code: str) -> str:
    return " ".join(code[i:i + 5] for i in range(0, len(code), 5))


def _story(workdir: str, key: bytes, first: str, second: str) -> None:
    """Recharge, a day of use, the cut when credit runs out, a recharge and the restore."""
    from opsm.simulator.screenshot import FrameBuffer, GS4_HMSB, save_png

    Run = board.module("simulator.scenario_run").Run
    PALETTE = board.module("screens").PALETTE

    flash = os.path.join(workdir, "sim-flash")
    shots = os.path.join(workdir, "screens")
    os.makedirs(flash)
    os.makedirs(shots)
    doc = {"name": "demo", "meter": {"key": key.hex(), "base_year": 2014, "start_s": 852094800},
           "system": {"seed": 3, "pv_wp": 400, "battery_wh": 4800, "soc": 0.8, "load_scale": 3.0}}
    run = Run(doc, flash)

    def moment(name: str, what: str) -> None:
        frame = bytearray(160 * 240)
        shown = run.meter.render(FrameBuffer(frame, 320, 240, GS4_HMSB), run.clock.ticks_ms())
        path = os.path.join(shots, name + ".png")
        save_png(frame, PALETTE, path)
        hours = run.clock.ms / 3600000
        click.echo("   %5.1f h  %-44s screen: %s" % (hours, what, " / ".join(shown[:3])))
        click.echo("            %s" % path)

    run.type("*" + first + "*")
    moment("1-recharge", "code typed on the keypad: +2.0 kWh")
    run.advance(120000)
    minutes = 0
    while run.hal.relay.closed and minutes < 48 * 60:
        run.advance(60000)
        minutes += 1
    if run.hal.relay.closed:
        raise ValueError("demo: the credit did not run out in two days")
    run.advance(60000)
    moment("2-cut", "credit exhausted, the relay cut the supply")
    run.type("*" + second + "*")
    run.advance(120000)
    if not run.hal.relay.closed:
        raise ValueError("demo: the relay did not close after the recharge")
    moment("3-restored", "second code: +10.0 kWh, supply restored")
    energy = run.meter.energy.import_wh / 1000
    click.echo("   energy metered %.2f kWh, credit left %.2f kWh, %d events in the meter's log"
               % (energy, run.meter.available_wh() / 1000, len(run.meter.log.events())))
