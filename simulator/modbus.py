"""Modbus TCP and RTU front-ends of a meter: the block of protocol/modbus_map.py, served by pymodbus.

pymodbus 3.16 keeps a device's registers in a SimDevice and calls its `action` before it
answers; the action here re-encodes the whole block from snapshot(), so every read sees the
meter as it is at that moment. Function 3 and 4 read the same block; any other function
(writes, coils) gets exception 1, an address outside the block exception 2. RTU answers
only its unit id; TCP also answers 0 and 255, the ids a client uses for "the device itself".

Garbage on a port (line noise, a scanner, a fuzzer) makes pymodbus log every bad frame with a
hex dump of the last 20 frames, some with a traceback: megabytes for a few thousand frames.
Its logger gets a filter that lets one line through per LOG_INTERVAL_S (the message's first
line, no dump, no traceback) and counts the others, said with the next line let through.
"""

import logging
import time

from pymodbus import FramerType
from pymodbus.constants import ExcCodes
from pymodbus.server import ModbusSerialServer, ModbusTcpServer
from pymodbus.simulator import DataType, SimData, SimDevice

from opsm.protocol import modbus_map

READ_FUNCTIONS = (3, 4)
LOG_INTERVAL_S = 60.0
LOG_LINE_MAX = 200


class LogSummary(logging.Filter):
    """At most one pymodbus message per interval, cut to one short line; the rest counted."""

    def __init__(self, interval_s: float = LOG_INTERVAL_S, clock=time.monotonic):
        super().__init__()
        self.interval_s = interval_s
        self.clock = clock
        self.quiet_until = float("-inf")
        self.held = 0   # messages not shown since the last one shown
        self.seen = 0   # every message, shown or not

    def reset(self) -> None:
        """The next message is shown (a new interval starts with it)."""
        self.quiet_until = float("-inf")

    def filter(self, record: logging.LogRecord) -> bool:
        self.seen += 1
        now = self.clock()
        if now < self.quiet_until:
            self.held += 1
            return False
        line = record.getMessage().split("\n", 1)[0].split("; Traceback", 1)[0].strip()[:LOG_LINE_MAX]
        if self.held:
            line += " (and %d more Modbus messages in the last %g s, not shown)" % (self.held, self.interval_s)
        record.msg, record.args, record.exc_info, record.exc_text = "Modbus: %s", (line,), None, None
        self.held = 0
        self.quiet_until = now + self.interval_s
        return True


LOG_SUMMARY = LogSummary()


def quiet_logging() -> None:
    """Install the summary on pymodbus's logger (once)."""
    logger = logging.getLogger("pymodbus.logging")
    if LOG_SUMMARY not in logger.filters:
        logger.addFilter(LOG_SUMMARY)


def device(snapshot) -> SimDevice:
    """The meter's block as a pymodbus device, refreshed from snapshot() on every request."""
    async def refresh(function_code, start_address, address, count, current, set_values):
        if function_code not in READ_FUNCTIONS or set_values is not None:
            return ExcCodes.ILLEGAL_FUNCTION
        words = modbus_map.registers(snapshot())
        current[0:len(words)] = words  # the block starts at 0; the cell after it stays invalid
        return None

    block = SimData(0, values=[0] * modbus_map.SIZE, datatype=DataType.REGISTERS)
    return SimDevice(0, simdata=[block], action=refresh)  # id 0: any id the filter lets through


def _for_units(units):
    """A pymodbus trace_pdu hook that drops requests to other units (no reply, as on a bus)."""
    def trace_pdu(sending, pdu):
        return pdu if sending or pdu.dev_id in units else None
    return trace_pdu


async def _serve(server, started, arg) -> None:
    await server.serve_forever(background=True)
    try:
        if started is not None:
            started(arg(server))
        await server.serving
    finally:
        await server.shutdown()


async def serve_modbus_tcp(snapshot, host: str = "127.0.0.1", port: int = 502, started=None, unit: int = 1) -> None:
    """Modbus TCP on host:port (0: any free port); started(port) once it listens."""
    quiet_logging()
    server = ModbusTcpServer(device(snapshot), framer=FramerType.SOCKET, address=(host, port),
                             trace_pdu=_for_units((unit, 0, 255)))
    await _serve(server, started, lambda s: s.transport.sockets[0].getsockname()[1])


async def serve_modbus_rtu(snapshot, device_path: str, baudrate: int = 9600, unit: int = 1, started=None) -> None:
    """Modbus RTU on a serial port (8N1); started(device_path) once the port is open."""
    quiet_logging()
    server = ModbusSerialServer(device(snapshot), framer=FramerType.RTU, port=device_path, baudrate=baudrate,
                                trace_pdu=_for_units((unit,)))
    await _serve(server, started, lambda s: device_path)
