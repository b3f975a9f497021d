"""Harvesting many meters at once into the store: registers, profiles, events, clock drift.

asyncio with a bounded number of meters in flight; each meter gets a deadline on every
read, retries with backoff for link failures (never for a refused password: that is
permanent), and one transaction in the store. Profiles resume after the newest stored
row, so a second harvest fetches only what is new. DLMS meters are read with the same
client steps as every other tool (protocol/cosem_client.py); serial meters (an optical
probe, pyserial) are read in a worker thread with the blocking form of the same steps.
"""

import asyncio
import time

from protocol import axdr, civil, cosem_client, iec62056_21, modbus_map
from protocol import registers as M
from protocol.cosem_server import Keys

from host import dlms
from host.inventory import Meter

EVENTS = "events"
_PERMANENT = (13, 11, 14)  # AARE diagnostics that retrying will not change


class Reading:
    def __init__(self):
        self.ok = False
        self.error = ""
        self.read_at = int(time.time())
        self.registers: dict = {}      # OBIS -> value in the register's unit (or text)
        self.profiles: list = []       # (profile OBIS, column OBIS codes, rows (time, values...))
        self.events: list = []         # (time, code)
        self.clock_drift_s: int | None = None
        self.attempts = 0


def dlms_plan(client, meter: Meter, newest, since: int, reading: Reading):
    """The reading plan as client steps: association, every register, clock, profiles after what is stored."""
    yield from client.associate_steps()
    for row in M.REGISTERS:
        value = yield from client.get_steps(row[1], row[0], 2)
        reading.registers[row[0]] = dlms.scaled(row, value)
    serial = reading.registers["0.0.96.1.0.255"]
    if serial != meter.serial:
        raise cosem_client.CosemError("serial: the meter says %r, the inventory %r" % (serial, meter.serial))
    raw = yield from client.get_steps(M.CLOCK, M.CLOCK_OBIS, 2)
    meter_now = axdr.date_time_seconds(raw, 0) + civil.UNIX_2000
    reading.clock_drift_s = meter_now - int(time.time())
    for obis, _period, keys in M.PROFILES:
        name = EVENTS if keys == ("event_code",) else obis
        start = max(newest(meter.device_id, name) + 1, since)
        if start > meter_now:
            continue
        selection = cosem_client.range_selection(axdr.date_time(start - civil.UNIX_2000, 0),
                                                 axdr.date_time(meter_now - civil.UNIX_2000, 0))
        rows = yield from client.get_steps(M.PROFILE_GENERIC, obis, 2, selection)
        stamped = [(axdr.date_time_seconds(r[0], 0) + civil.UNIX_2000,) + tuple(r[1:]) for r in rows]
        if name == EVENTS:
            reading.events = [(t, code) for t, code in stamped]
        else:
            scaling = [M.register(key) for key in keys]
            columns = tuple(row[0] for row in scaling)
            reading.profiles.append((obis, columns, [(r[0],) + tuple(dlms.scaled(s, v) for s, v in zip(scaling, r[1:]))
                                                     for r in stamped]))
    yield from client.release_steps()


def _client(meter: Meter) -> cosem_client.CosemClient:
    keys = None
    if "ek" in meter.credentials:
        keys = Keys(meter.credentials["ek"], meter.credentials["ak"], b"")
    return cosem_client.CosemClient(None, meter.client, meter.credentials.get("password", b""), keys,
                                    b"OPSMHES1", dlms.growing_counter())


async def _read_dlms_tcp(meter: Meter, store, since: int, timeout: float, reading: Reading) -> None:
    framing = "hdlc" if meter.protocol == "dlms-hdlc-tcp" else "wrapper"
    link = await dlms.AsyncLink.open(meter.host, meter.port, framing, meter.client, timeout)
    try:
        await cosem_client.arun(dlms_plan(_client(meter), meter, store.newest, since, reading), link.exchange)
    finally:
        await link.close()


def _read_dlms_serial(meter: Meter, store_newest, since: int, timeout: float, reading: Reading) -> None:
    stream = dlms.Stream.serial(meter.host, meter.port, timeout)
    try:
        dlms.mode_e(stream)  # the optical probe's opening
        link = dlms.HdlcLink(stream, meter.client)
    except Exception:
        stream.close()
        raise
    try:
        cosem_client.run(dlms_plan(_client(meter), meter, store_newest, since, reading), link.exchange)
    finally:
        link.close()


def _read_iec21_serial(meter: Meter, timeout: float, reading: Reading) -> None:
    stream = dlms.Stream.serial(meter.host, meter.port, timeout)
    try:
        ident = dlms.identification(stream)
        stream.write(b"\x060" + ident[4:5] + b"0\r\n")  # ACK 0 Z 0: data readout
        block = b""
        while len(block) < 2 or block[-2] != iec62056_21.ETX:
            block += stream.read()
    finally:
        stream.close()
    by_address = {M.iec21_address(row[0]): row for row in M.REGISTERS}
    for address, value, _unit in iec62056_21.parse_data_block(block):
        row = by_address.get(address)
        if row is None:
            continue
        if row[7] == 0 and not value.lstrip("-").isdigit():
            reading.registers[row[0]] = value
        else:
            reading.registers[row[0]] = dlms.scaled(row, round(float(value) * 10 ** row[7]))


async def _read_modbus(meter: Meter, timeout: float, reading: Reading) -> None:
    from pymodbus.client import AsyncModbusTcpClient

    client = AsyncModbusTcpClient(meter.host, port=meter.port, timeout=timeout, retries=0)
    try:
        if not await client.connect():
            raise dlms.TransportError("cannot connect to %s:%d" % (meter.host, meter.port))
        reply = await client.read_holding_registers(0, count=modbus_map.SIZE)
        if reply.isError():
            raise dlms.TransportError("Modbus exception: %s" % reply)
    finally:
        client.close()
    values = modbus_map.decode(reply.registers)
    for row in M.REGISTERS:
        if row[2] in values:
            reading.registers[row[0]] = dlms.scaled(row, values[row[2]])


async def read_meter(meter: Meter, store, since: int = 0, timeout: float = 10.0, retries: int = 2,
                     backoff: float = 0.5) -> Reading:
    """One meter, with retries; a Reading that says what went wrong when it did."""
    reading = Reading()
    for attempt in range(retries + 1):
        reading = Reading()
        reading.attempts = attempt + 1
        try:
            if meter.protocol in ("dlms-tcp", "dlms-hdlc-tcp"):
                await _read_dlms_tcp(meter, store, since, timeout, reading)
            elif meter.protocol == "dlms-hdlc-serial":
                newest = _snapshot_newest(store, meter)
                await asyncio.to_thread(_read_dlms_serial, meter, newest, since, timeout, reading)
            elif meter.protocol == "iec21-serial":
                await asyncio.to_thread(_read_iec21_serial, meter, timeout, reading)
            else:
                await _read_modbus(meter, timeout, reading)
            reading.ok = True
            return reading
        except cosem_client.CosemError as exc:
            reading.error = str(exc)
            if exc.code in _PERMANENT or str(exc).startswith("serial:"):
                return reading
        except (OSError, ValueError, asyncio.TimeoutError) as exc:
            reading.error = "%s: %s" % (type(exc).__name__, exc)
        if attempt < retries:
            await asyncio.sleep(backoff * 2 ** attempt)
    return reading


def _snapshot_newest(store, meter: Meter):
    """The store's resume points, read now: a worker thread must not touch the store's connection."""
    names = [EVENTS if keys == ("event_code",) else obis for obis, _, keys in M.PROFILES]
    newest = {name: store.newest(meter.device_id, name) for name in names}
    return lambda device_id, name: newest[name]


async def harvest(meters: list, store, concurrency: int = 50, since: int = 0, timeout: float = 10.0,
                  retries: int = 2, backoff: float = 0.5, progress=None) -> dict:
    """Read every meter, at most `concurrency` at a time; device_id -> Reading. progress(reading) after each."""
    if concurrency < 1:
        raise ValueError("--concurrency: must be at least 1")
    harvest_id = store.begin_harvest(len(meters))
    gate = asyncio.Semaphore(concurrency)
    results: dict = {}

    async def one(meter: Meter) -> None:
        async with gate:
            reading = await read_meter(meter, store, since, timeout, retries, backoff)
        store.save(harvest_id, meter, reading)
        results[meter.device_id] = reading
        if progress is not None:
            progress(meter, reading)

    await asyncio.gather(*[one(m) for m in meters])
    store.end_harvest(harvest_id, sum(1 for r in results.values() if not r.ok))
    return results
