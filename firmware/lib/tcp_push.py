"""The push sender of a board with a network interface (and of the simulator): one TCP connection per
notification, as the TCP wrapper's push does it: connect, write the frame, close (nobody answers).

asyncio streams, so the other tasks run while it connects; a bounded wait, so a head-end that never
answers costs a failed try, not a stuck task. The network itself (Wi-Fi credentials, DHCP) is the
board's set-up, outside the meter's code.
"""

import asyncio


class TcpSender:
    def __init__(self, timeout_s: int = 10):
        self.timeout_s = timeout_s

    async def send(self, destination: str, frame: bytes) -> bool:
        """Raises OSError (refused, unreachable), asyncio's time-out, or ValueError for a bad destination."""
        from protocol.push import parse_destination  # loaded with the notifier already

        host, port = parse_destination(destination)
        await asyncio.wait_for(self._send(host, port, frame), self.timeout_s)
        return True

    async def _send(self, host: str, port: int, frame: bytes) -> None:
        _, writer = await asyncio.open_connection(host, port)
        try:
            writer.write(frame)
            await writer.drain()
        finally:
            writer.close()
            await writer.wait_closed()
