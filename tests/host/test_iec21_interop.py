"""A third-party IEC 62056-21 reader (PyPI iec62056-21) reads the virtual meter over loopback TCP."""

import asyncio
import json
import os
import subprocess
import sys
import tempfile
import threading

from iec62056_21.client import Iec6205621Client

from opsm.protocol.registers import REGISTERS, iec21_address, iec21_data_sets
from opsm.simulator import board
from opsm.simulator.serve import DEMO_METER, MeterPorts

Run = board.module("simulator.scenario_run").Run


def _serve(run):
    started = threading.Event()
    ports = []

    def main():
        async def go():
            await MeterPorts([run], speed=0).serve({"iec21": 0},
                                                   started=lambda p: (ports.extend(p["iec21"]), started.set()))
        asyncio.run(go())

    threading.Thread(target=main, daemon=True).start()
    assert started.wait(10)
    return ports[0]


def _readout(port):
    client = Iec6205621Client.with_tcp_transport(("127.0.0.1", port), device_address="", password=None)
    client.transport.timeout = 10
    client.connect()
    try:
        response = client.standard_readout()
    finally:
        client.disconnect()
    return {ds.address: (ds.value, ds.unit) for line in response.data_block.data_lines for ds in line.data_sets}


def test_standard_readout_over_tcp_matches_the_register_map():
    run = Run({"name": "iec21", "meter": dict(DEMO_METER)}, tempfile.mkdtemp())
    run.type("*63638916334124550935*")
    run.hal.ac.load(500)
    run.advance(3600000)
    got = _readout(_serve(run))
    expected = {address: (value, unit or None) for address, value, unit in iec21_data_sets(run.meter.snapshot())}
    assert got == expected
    assert len(got) == len([row for row in REGISTERS if row.decimals is not None])  # the map's readout rows
    assert float(got[iec21_address("1.0.1.8.0.255")][0]) > 0.4  # an hour at 500 W, metered
    assert got[iec21_address("0.0.96.3.10.255")][0] == "1"


def test_fleet_serves_meters_with_distinct_serials_on_consecutive_ports():
    env = dict(os.environ, PYTHONUNBUFFERED="1")
    proc = subprocess.Popen([sys.executable, "-m", "opsm", "sim", "fleet", "--count", "3", "--base-port", "0", "--protocol", "iec21",
                             "--speed", "0"], stdout=subprocess.PIPE, text=True, env=env,
                            cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))
    try:
        ports = json.loads(proc.stdout.readline())["iec21"]
        assert len(ports) == 3
        serials = [_readout(port)["96.1.0"][0] for port in ports]
        assert serials == ["OPS00000001", "OPS00000002", "OPS00000003"]
    finally:
        proc.terminate()
        proc.wait(10)
