"""The sample input files the README's quickstarts use stay valid, and the head-end operator's quickstart
runs as written: a simulated fleet, the sample inventory harvested, customers imported, the Gestiona
export and a customer report made (the SMEC step needs a month of readings: tests/host/test_export_smec.py)."""

import json
import os
import signal
import subprocess
import sys

from opsm.host import customers, inventory, smec

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
SAMPLES = os.path.join(ROOT, "samples")
OPSM = os.path.join(os.path.dirname(sys.executable), "opsm")


def test_every_sample_file_loads():
    assert [c[0] for c in customers.load_customers(os.path.join(SAMPLES, "customers.csv"))] == [  # customer_id
        "12345678-5", "7654321-6"]
    assert [m.device_id for m in inventory.load(os.path.join(SAMPLES, "inventory.csv"))] == ["M001", "M002", "M003"]
    assert len(smec.load_channels(os.path.join(SAMPLES, "channels.csv"))) == 4


def test_the_head_end_quickstart(tmp_path):
    fleet = subprocess.Popen([OPSM, "sim", "fleet", "--count", "3", "--base-port", "0", "--history", "2h"],
                             stdout=subprocess.PIPE, text=True, cwd=tmp_path)
    try:
        ports = json.loads(fleet.stdout.readline())["dlms"]
        with open(os.path.join(SAMPLES, "inventory.csv")) as f:
            lines = f.read().splitlines()
        for n, port in enumerate(ports):  # the sample's ports 7001-7003, here whatever was free
            lines[n + 1] = lines[n + 1].replace(",%d," % (7001 + n), ",%d," % port)
        (tmp_path / "inventory.csv").write_text("\n".join(lines) + "\n")
        env = dict(os.environ, OPSM_HARVEST_DB=str(tmp_path / "harvest.sqlite"))

        def opsm(*args):
            done = subprocess.run([OPSM, *args], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
            assert done.returncode == 0, (args, done.stdout, done.stderr)
            return done.stdout

        assert json.loads(opsm("harvest", "--inventory", "inventory.csv", "--json"))["failed"] == 0
        opsm("customers", "import", os.path.join(SAMPLES, "customers.csv"))
        opsm("export", "gestiona", "--out", "inventario.xlsx", "--skip-incomplete")
        opsm("report", "customer", "--device", "M001", "--out", "informe.pdf")
        assert (tmp_path / "inventario.xlsx").stat().st_size > 0 and (tmp_path / "informe.pdf").read_bytes()[:4] == b"%PDF"
    finally:
        fleet.send_signal(signal.SIGINT)
        fleet.wait(timeout=30)
