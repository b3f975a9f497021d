"""The meters' ports on loopback: virtual meters answer IEC 62056-21 readers over TCP.

The same sans-IO session the firmware runs on its UART (protocol/iec62056_21.py), fed
by asyncio streams; virtual time runs on at `speed` virtual seconds per wall second.
A fleet is N meters on N consecutive ports, like a participant's NAT/PAT port plan.
"""

import asyncio
import os
import tempfile

from protocol import iec62056_21
from protocol.registers import iec21_data_sets
from simulator.scenario_run import Run

DEMO_METER = {"key": "f94b6ed353c3bfdb113e2d3a7ea3c41d", "base_year": 1993}  # published test vector key
DEMO_SYSTEM = {"seed": 1, "pv_wp": 400, "battery_wh": 4800, "soc": 0.8}


def fleet(count: int, folder: str) -> list:
    """`count` meters with their own serial number and solar home (seeded by position)."""
    if not 1 <= count <= 1000:
        raise ValueError("count: must be 1..1000, got %d" % count)
    runs = []
    for n in range(count):
        system = dict(DEMO_SYSTEM, seed=n + 1)
        run = Run({"name": "meter %d" % n, "meter": dict(DEMO_METER), "system": system}, "%s/%d" % (folder, n))
        run.meter.set_setting("serial", "OPS%08d" % (n + 1))
        runs.append(run)
    return runs


class MeterPorts:
    def __init__(self, runs, speed: float = 60.0):
        self.runs = runs
        self.speed = speed

    def _client(self, run):
        async def handle(reader, writer) -> None:
            session = iec62056_21.Session("OPSM-SP-230", lambda: iec21_data_sets(run.meter.snapshot()))
            try:
                while True:
                    data = await reader.read(256)
                    if not data:
                        break
                    reply = session.feed(data)
                    if reply:
                        writer.write(reply)
                        await writer.drain()
            finally:
                writer.close()
        return handle

    async def clock(self) -> None:
        """Virtual time: a reading every virtual minute on every meter, paced to `speed`."""
        while True:
            await asyncio.sleep(60.0 / self.speed if self.speed > 0 else 3600)
            if self.speed > 0:
                for run in self.runs:
                    run.advance(60000)

    async def serve(self, base_port: int, host: str = "127.0.0.1", started=None) -> None:
        """IEC 62056-21 on base_port, base_port + 1, ... (0: any free ports); started(ports)."""
        servers = []
        for n, run in enumerate(self.runs):
            servers.append(await asyncio.start_server(self._client(run), host, base_port + n if base_port else 0))
        if started is not None:
            started([s.sockets[0].getsockname()[1] for s in servers])
        await asyncio.gather(self.clock(), *[s.serve_forever() for s in servers])


def run_fleet(count: int, base_port: int, speed: float, started=None) -> None:
    with tempfile.TemporaryDirectory() as folder:
        for n in range(count):
            os.makedirs("%s/%d" % (folder, n))
        asyncio.run(MeterPorts(fleet(count, folder), speed).serve(base_port, started=started))
