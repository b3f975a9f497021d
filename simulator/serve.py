"""The meter's ports on loopback: the virtual meter answers IEC 62056-21 readers over TCP.

The same sans-IO session the firmware runs on its UART (protocol/iec62056_21.py), fed
by asyncio streams; virtual time runs on at `speed` virtual seconds per wall second.
"""

import asyncio

from protocol import iec62056_21
from protocol.registers import iec21_data_sets


class MeterPorts:
    def __init__(self, run, speed: float = 60.0):
        self.run = run
        self.speed = speed

    async def iec21_client(self, reader, writer) -> None:
        session = iec62056_21.Session("OPSM-SP-230", lambda: iec21_data_sets(self.run.meter.snapshot()))
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

    async def clock(self) -> None:
        """Virtual time: a reading every virtual minute, paced to `speed`."""
        while True:
            await asyncio.sleep(60.0 / self.speed if self.speed > 0 else 3600)
            if self.speed > 0:
                self.run.advance(60000)

    async def serve(self, iec21_port: int, host: str = "127.0.0.1", started=None) -> None:
        server = await asyncio.start_server(self.iec21_client, host, iec21_port)
        if started is not None:
            started(server.sockets[0].getsockname()[1])
        async with server:
            await asyncio.gather(server.serve_forever(), self.clock())
