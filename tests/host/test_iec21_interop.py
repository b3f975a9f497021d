"""A third-party IEC 62056-21 reader (PyPI iec62056-21) reads the virtual meter over loopback TCP."""

import asyncio
import tempfile
import threading

from iec62056_21.client import Iec6205621Client

import simulator  # noqa: F401  (puts the firmware's modules on the path)
from protocol.registers import REGISTERS, iec21_address, iec21_data_sets
from simulator.interactive import DEMO_METER
from simulator.scenario_run import Run
from simulator.serve import MeterPorts


def _serve(run):
    started = threading.Event()
    port = []

    def main():
        async def go():
            await MeterPorts(run, speed=0).serve(0, started=lambda p: (port.append(p), started.set()))
        try:
            asyncio.run(go())
        except RuntimeError:
            pass

    threading.Thread(target=main, daemon=True).start()
    assert started.wait(10)
    return port[0]


def test_standard_readout_over_tcp_matches_the_register_map():
    run = Run({"name": "iec21", "meter": dict(DEMO_METER)}, tempfile.mkdtemp())
    run.type("*63638916334124550935*")
    run.hal.ac.load(500)
    run.advance(3600000)
    port = _serve(run)
    client = Iec6205621Client.with_tcp_transport(("127.0.0.1", port), device_address="", password=None)
    client.transport.timeout = 10
    client.connect()
    try:
        response = client.standard_readout()
    finally:
        client.disconnect()
    got = {}
    for line in response.data_block.data_lines:
        for data_set in line.data_sets:
            got[data_set.address] = (data_set.value, data_set.unit)
    expected = {address: (value, unit or None) for address, value, unit in iec21_data_sets(run.meter.snapshot())}
    assert got == expected
    assert len(got) == len(REGISTERS)
    assert float(got[iec21_address("1.0.1.8.0.255")][0]) > 0.4  # an hour at 500 W, metered
    assert got[iec21_address("0.0.96.3.10.255")][0] == "1"
