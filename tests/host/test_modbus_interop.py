"""A pymodbus client reads the virtual meter's Modbus block over TCP and RTU (a pty pair)."""

import asyncio
import contextlib
import pathlib
import tempfile
import threading

import pytest
from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient
from pymodbus.exceptions import ModbusIOException

from opsm.protocol import modbus_map
from opsm.simulator.modbus import serve_modbus_rtu, serve_modbus_tcp
from opsm.simulator.nullmodem import null_modem
from opsm.simulator import board
from opsm.simulator.serve import DEMO_METER

Run = board.module("simulator.scenario_run").Run

ROOT = pathlib.Path(__file__).resolve().parents[2]
DT = ModbusTcpClient.DATATYPE


@pytest.fixture(scope="module")
def run():
    with tempfile.TemporaryDirectory() as folder:
        r = Run({"name": "modbus", "meter": dict(DEMO_METER)}, folder)
        r.meter.set_setting("serial", "OPS00000042")
        r.type("*63638916334124550935*")
        r.hal.ac.load(500)
        r.advance(3600000)
        yield r


@contextlib.contextmanager
def _serving(serve):
    """Run serve(started) on its own event loop in a thread; yield what it passed to started."""
    loop = asyncio.new_event_loop()
    got, ready = [], threading.Event()

    def started(arg):
        got.append(arg)
        ready.set()

    task = loop.create_task(serve(started))

    def main():
        try:
            loop.run_until_complete(task)
        except BaseException as exc:  # noqa: BLE001  (a server that cannot start: the test says why)
            got.append(exc)
        finally:
            ready.set()
            loop.close()

    thread = threading.Thread(target=main, daemon=True)
    thread.start()
    assert ready.wait(5), "server did not start"
    assert got and not isinstance(got[0], BaseException), got
    try:
        yield got[0]
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(5)
        assert not thread.is_alive()


def _decode(words):
    """The block decoded with pymodbus's own converter, row by row, as {key: value}."""
    values = {}
    for row in modbus_map.table():
        part = words[row.address:row.address + row.count]
        if row.key in modbus_map.TEXT_KEYS:
            values[row.key] = ModbusTcpClient.convert_from_registers(part, DT.STRING).rstrip("\x00")
        else:
            values[row.key] = ModbusTcpClient.convert_from_registers(part, DT.INT32 if row.signed else DT.UINT32)
    return values


def _read_block(client, function=3, device_id=1):
    read = client.read_holding_registers if function == 3 else client.read_input_registers
    reply = read(0, count=modbus_map.SIZE, device_id=device_id)
    assert not reply.isError(), reply
    return reply.registers


def _expected(run):
    snapshot = run.meter.snapshot()
    return {row.key: snapshot[row.key] for row in modbus_map.table()}


def test_tcp_reads_the_meter_as_the_map_says(run):
    async def serve(started):
        await serve_modbus_tcp(run.meter.snapshot, "127.0.0.1", 0, started=started)

    with _serving(serve) as port:
        client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
        assert client.connect()
        try:
            words = _read_block(client)
            got = _decode(words)
            assert got == _expected(run)
            assert got["import_wh"] > 400 and got["relay"] == 1 and got["serial"] == "OPS00000042"
            assert got["credit_wh"] > 0 and 100000 < got["voltage_mv"] < 260000
            assert _read_block(client, function=4) == words  # input registers: the same block
            assert _read_block(client, device_id=255) == words and _read_block(client, device_id=0) == words

            one = client.read_holding_registers(20, count=2)  # a single value, credit
            assert ModbusTcpClient.convert_from_registers(one.registers, DT.INT32) == got["credit_wh"]

            run.advance(600000)  # values are read live from the meter
            assert _decode(_read_block(client)) == _expected(run) != got

            for address, count in ((modbus_map.SIZE - 1, 2), (modbus_map.SIZE, 1), (1000, 4)):
                reply = client.read_holding_registers(address, count=count)
                assert reply.isError() and reply.exception_code == 2, (address, reply)

            for reply in (client.write_register(0, 7), client.write_registers(20, [0, 1]),
                          client.read_coils(0, count=8)):
                assert reply.isError() and reply.exception_code == 1, reply
            reply = client.write_register(modbus_map.SIZE + 5, 7)
            assert reply.isError() and reply.exception_code == 2
            assert _decode(_read_block(client)) == _expected(run)  # nothing changed
        finally:
            client.close()


def test_rtu_over_a_serial_line_reads_the_same_block(run):
    with null_modem() as (meter_port, reader_port):
        async def serve(started):
            await serve_modbus_rtu(run.meter.snapshot, meter_port, baudrate=9600, unit=17, started=started)

        with _serving(serve):
            client = ModbusSerialClient(reader_port, framer=FramerType.RTU, baudrate=9600, timeout=0.5, retries=0)
            assert client.connect()
            try:
                assert _decode(_read_block(client, device_id=17)) == _expected(run)
                assert _decode(_read_block(client, function=4, device_id=17)) == _expected(run)
                reply = client.read_holding_registers(modbus_map.SIZE, count=1, device_id=17)
                assert reply.isError() and reply.exception_code == 2
                reply = client.write_register(0, 1, device_id=17)
                assert reply.isError() and reply.exception_code == 1
                with pytest.raises(ModbusIOException):  # another meter's address: this one stays silent
                    client.read_holding_registers(0, count=2, device_id=18)
            finally:
                client.close()


def test_docs_hold_the_current_table():
    doc = (ROOT / "docs" / "modbus.md").read_text()
    assert modbus_map.markdown() in doc, "docs/modbus.md is out of date: paste `python -m protocol.modbus_map`"


def test_garbage_frames_log_little_and_the_port_still_serves(run):
    """pymodbus logs every bad frame with a hex dump of the last 20 (7.5 MB for 5 000 of them): the server
    lets one short line through per interval and counts the rest. 5 000 random frames: under 50 KB of log."""
    import logging
    import random
    import socket
    import time

    class Counting(logging.Handler):
        def __init__(self):
            super().__init__(logging.DEBUG)
            self.bytes = 0
            self.lines = []

        def emit(self, record):
            text = self.format(record)
            self.bytes += len(text) + 1
            self.lines.append(text)

    from opsm.simulator.modbus import LOG_SUMMARY

    counting = Counting()
    LOG_SUMMARY.reset()  # other tests of this process had Modbus messages: a new interval starts here
    seen = LOG_SUMMARY.seen
    logger = logging.getLogger("pymodbus")
    logger.addHandler(counting)
    rnd = random.Random(5)
    seed = bytes.fromhex("000100000006010300000002")

    async def serve(started):
        await serve_modbus_tcp(run.meter.snapshot, "127.0.0.1", 0, started=started)

    try:
        with _serving(serve) as port:
            sent = 0
            while sent < 5000:
                with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                    sock.setblocking(False)
                    for _ in range(100):
                        data = bytearray(seed if rnd.random() < 0.5 else rnd.randbytes(rnd.randint(1, 64)))
                        for _ in range(rnd.randint(1, 4)):
                            data[rnd.randrange(len(data))] = rnd.randrange(256)
                        try:
                            sock.sendall(bytes(data))
                            sent += 1
                            time.sleep(0.0005)
                            sock.recv(65536)
                        except BlockingIOError:
                            pass
                        except OSError:
                            break
            client = ModbusTcpClient("127.0.0.1", port=port, timeout=2, retries=0)
            assert client.connect()
            try:
                assert _decode(_read_block(client)) == _expected(run)  # a good request after the garbage
            finally:
                client.close()
    finally:
        logger.removeHandler(counting)
    print("5 000 garbage Modbus frames: %d bytes of log, %d pymodbus messages counted" % (
        counting.bytes, LOG_SUMMARY.seen - seen))
    assert len(counting.lines) == 1, counting.lines  # one line for the interval
    assert LOG_SUMMARY.seen - seen >= 1000  # pymodbus complained about most frames: counted, not written
    assert counting.bytes < 50000, (counting.bytes, counting.lines[:3])
    assert all("\n" not in line and len(line) < 300 for line in counting.lines)


def test_the_log_summary_counts_what_it_held_back():
    import logging

    from opsm.simulator.modbus import LogSummary

    now = [0.0]
    summary = LogSummary(60, clock=lambda: now[0])
    shown = []
    logger = logging.getLogger("test.modbus.summary")
    logger.propagate = False
    handler = logging.Handler()
    handler.emit = lambda record: shown.append(record.getMessage())
    logger.addHandler(handler)
    logger.addFilter(summary)
    for n in range(500):
        now[0] = n * 0.25  # 500 messages over 125 s
        logger.error("Invalid Modbus protocol id: %d\n>>>>> recv: 0x0 0x1 ...; Traceback (most recent call last):", n)
    assert shown == ["Modbus: Invalid Modbus protocol id: 0",
                     "Modbus: Invalid Modbus protocol id: 240 (and 239 more Modbus messages in the last 60 s, not shown)",
                     "Modbus: Invalid Modbus protocol id: 480 (and 239 more Modbus messages in the last 60 s, not shown)"]
    assert summary.seen == 500
