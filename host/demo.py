"""`opsm demo`: sell a token for a demo meter and enter it on the firmware under MicroPython."""

import json
import os
import shutil
import subprocess

import click

from host.keystore import KeyStore
from host.mpunix import ROOT, micropython_command, micropython_env
from host.registry import Registry, utc_now
from host.vending import Vendor, derive_decoder_key

# Demo identities only: a published test vending key and a PAN with a valid Luhn digit.
DEMO_VENDING_KEY = bytes.fromhex("abababababababab949494949494949401234567")
DEMO_PAN = "600727000000000009"
DEMO_PASSPHRASE = "demo passphrase"


def run_on_micropython(module: str, argv: list) -> subprocess.CompletedProcess:
    snippet = "import sys, %s; sys.exit(%s.main(%r))" % (module, module, [str(a) for a in argv])
    return subprocess.run(micropython_command() + ["-X", "heapsize=96K", "-c", snippet], env=micropython_env(),
                          capture_output=True, text=True, timeout=60)


def run_demo(workdir: str | None) -> None:
    workdir = os.path.abspath(workdir or os.path.join(ROOT, "var", "demo"))
    if os.path.isdir(workdir):
        shutil.rmtree(workdir)
    os.makedirs(workdir)
    store = KeyStore.create(os.path.join(workdir, "vending-keys.json"), DEMO_PASSPHRASE)
    store.add("demo", DEMO_VENDING_KEY)
    store.save()
    registry = Registry(os.path.join(workdir, "registry.sqlite"))
    meter = registry.add_meter(DEMO_PAN, "123457", 1, 1, 2, 2014, 11, "04", "demo")
    click.echo("1. Registered demo meter %s (STS, DKGA-04, EA11 MISTY1, base date 2014)" % DEMO_PAN)
    sale = Vendor(registry, store, "demo").credit(DEMO_PAN, 250)[0]
    code = sale["token"]
    click.echo("2. Sold 25.0 kWh: token %s (TID %d)" % (" ".join(code[i:i + 5] for i in range(0, 20, 5)),
                                                      sale["tid"]))
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
    click.echo("4. Done: credit 25.0 kWh on the meter, replay refused. Files in %s" % workdir)
