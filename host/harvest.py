"""Harvesting many meters at once into the store: registers, profiles, events, clock drift.

asyncio with a bounded number of meters in flight; each meter gets a time-out on every
read, retries with backoff for link failures (never for a refused password: that is
permanent), and one transaction in the store. Profiles resume after the newest stored
row, so a second harvest fetches only what is new. DLMS meters are read with the same
client steps as every other tool (protocol/cosem_client.py); serial meters (an optical
probe, pyserial) are read in a worker thread with the blocking form of the same steps.

A hostile or broken meter costs bounded time and memory: the per-read time-out does not
catch a meter that trickles a byte every few seconds, nor one that sends blocks forever,
so each meter also has a deadline for its whole session (connection, association, every
read, release, retries: `meter_deadline`), the harvest an optional one (`harvest_deadline`),
and every read a cap on its bytes (`max_reply_bytes`, all blocks together) and on its GET
blocks (`max_blocks`; also HDLC segments of one reply). A meter over a bound fails at once
(no retry: it would do the same again) with the reason stored, e.g. "deadline 60 s passed
after 12 reads, reading 1.0.99.1.0.255", "reply over 1 MB reading 1.0.99.2.0.255", "more
than 256 blocks reading 0.0.99.98.0.255"; the rest of the fleet is read and stored.
"""

import asyncio
import time

from opsm.protocol import axdr, civil, cosem_client, iec62056_21, modbus_map
from opsm.protocol import registers as M
from opsm.protocol.dlms_security import Keys

from opsm.host import dlms
from opsm.host.inventory import Meter

EVENTS = "events"
_PERMANENT = (13, 11, 14)  # AARE diagnostics that retrying will not change
METER_DEADLINE_S = 60.0    # one meter's whole session, retries included; a meter takes ~21 exchanges
MAX_REPLY_BYTES = dlms.MAX_REPLY_BYTES  # one read, all its blocks: 1 MB (the full hourly profile is ~35 KB)
MAX_BLOCKS = dlms.MAX_SEGMENTS          # GET blocks of one read (and HDLC segments of one reply): 256


class DeadlineError(dlms.TransportError):
    """A meter read in a worker thread ran past its deadline (the event loop's own is asyncio.timeout)."""


class Session:
    """One meter's bounds, and where its current attempt is: what a deadline or a cap says when it stops it."""

    def __init__(self, max_reply_bytes: int = MAX_REPLY_BYTES, max_blocks: int = MAX_BLOCKS,
                 ends_at: float = float("inf")):
        self.max_reply_bytes = max_reply_bytes
        self.max_blocks = max_blocks
        self.ends_at = ends_at  # time.monotonic() (the event loop's clock) when the deadline passes
        self.reads = 0
        self.step = "connecting"

    def restart(self) -> None:
        self.reads = 0
        self.step = "connecting"

    def doing(self) -> str:
        return self.step if self.step.startswith(("in ", "connecting")) else "reading " + self.step

    def check(self) -> None:
        """For a worker thread: the deadline, between two reads of the port."""
        if time.monotonic() >= self.ends_at:
            raise DeadlineError("deadline")

    def bounded(self, steps, what: str, read: bool = True):
        """Relay an operation's steps, counting its replies (blocks) and their bytes: LimitError past a cap."""
        self.step = what
        blocks = size = 0
        try:
            request = next(steps)
        except StopIteration as stop:
            return stop.value
        while True:
            reply = yield request
            blocks += 1
            size += len(reply)
            if blocks > self.max_blocks:
                raise dlms.LimitError("more than %d blocks" % self.max_blocks)
            if size > self.max_reply_bytes:
                raise dlms.LimitError("reply over %s" % dlms.size_text(self.max_reply_bytes))
            try:
                request = steps.send(reply)
            except StopIteration as stop:
                if read:
                    self.reads += 1
                return stop.value


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
        self.stored = False  # False after the harvest too when it held this meter's reading already


def _stored_as(profile) -> str:
    """Where the store keeps a profile's rows: the event log's as events, a load profile's under its OBIS."""
    return EVENTS if profile.period_s == 0 else profile.obis


def dlms_plan(client, meter: Meter, newest, since: int, reading: Reading, session: Session | None = None):
    """The reading plan as client steps: association, every register, clock, profiles after what is stored.
    Every operation goes through session.bounded (its caps, and what the meter is doing when it stops)."""
    session = session or Session()
    bounded = session.bounded
    yield from bounded(client.associate_steps(), "in the association", False)
    for row in M.REGISTERS:
        value = yield from bounded(client.get_steps(row.class_id, row.obis, row.attribute), row.obis)
        reading.registers[row.obis] = dlms.scaled(row, value)
    serial = reading.registers[M.by_key("serial").obis]
    if serial != meter.serial:
        raise cosem_client.CosemError("serial: the meter says %r, the inventory %r" % (serial, meter.serial))
    raw = yield from bounded(client.get_steps(M.CLOCK, M.CLOCK_OBIS, 2), M.CLOCK_OBIS)
    meter_now = axdr.date_time_seconds(raw, 0) + civil.UNIX_2000
    reading.clock_drift_s = meter_now - int(time.time())
    for profile in M.PROFILES:
        obis = profile.obis
        name = _stored_as(profile)
        start = max(newest(meter.device_id, name) + 1, since)
        if start > meter_now:
            continue
        selection = cosem_client.range_selection(axdr.date_time(start - civil.UNIX_2000, 0),
                                                 axdr.date_time(meter_now - civil.UNIX_2000, 0))
        rows = yield from bounded(client.get_steps(M.PROFILE_GENERIC, obis, 2, selection), obis)
        stamped = [(axdr.date_time_seconds(r[0], 0) + civil.UNIX_2000,) + tuple(r[1:]) for r in rows]
        if name == EVENTS:
            reading.events = [(t, code) for t, code in stamped]
        else:
            scaling = [M.by_key(key) for key in profile.columns]
            columns = tuple(register.obis for register in scaling)
            reading.profiles.append((obis, columns, [(r[0],) + tuple(dlms.scaled(s, v) for s, v in zip(scaling, r[1:]))
                                                     for r in stamped]))
    yield from bounded(client.release_steps(), "in the release", False)


DLMS_PROTOCOLS = ("dlms-tcp", "dlms-hdlc-tcp", "dlms-hdlc-serial")


def meter_client(meter: Meter, invocation_counter: int | None = None) -> cosem_client.CosemClient:
    """A client for the meter as its inventory row says (client SAP, LLS secret or HLS keys), driven with steps;
    an HLS invocation counter from the time unless given (a session soon after another that spent many)."""
    keys = None
    if "ek" in meter.credentials:
        keys = Keys(meter.credentials["ek"], meter.credentials["ak"], b"")
    return cosem_client.CosemClient(None, meter.client, meter.credentials.get("password", b""), keys,
                                    b"OPSMHES1", dlms.growing_counter() if invocation_counter is None
                                    else invocation_counter)


async def over_link(meter: Meter, steps, timeout: float, session: Session):
    """Drive client steps (protocol/cosem_client.py) over a DLMS meter's link: the TCP wrapper or HDLC over TCP on
    the event loop, HDLC on a serial port (an optical probe) in a worker thread; the steps' result. The link is
    closed (DISC) when they end, dropped at once when they fail."""
    if meter.protocol == "dlms-hdlc-serial":
        return await asyncio.to_thread(_over_serial, meter, steps, timeout, session)
    framing = "hdlc" if meter.protocol == "dlms-hdlc-tcp" else "wrapper"
    link = await dlms.AsyncLink.open(meter.host, meter.port, framing, meter.client, timeout,
                                     session.max_reply_bytes, session.max_blocks)
    try:
        result = await cosem_client.arun(steps, link.exchange)
        await link.close()  # DISC, within the deadline
        return result
    finally:
        link.abort()  # a failure or the deadline: no DISC to wait for


def _bounded_stream(stream, session: Session):
    """A serial stream whose reads check the deadline and count the bytes of one reply (reset per exchange)."""
    read = stream.read
    received = [0]

    def bounded_read() -> bytes:
        session.check()
        data = read()
        received[0] += len(data)
        if received[0] > session.max_reply_bytes:
            raise dlms.LimitError("reply over %s" % dlms.size_text(session.max_reply_bytes))
        session.check()
        return data
    stream.read = bounded_read
    return received


def _over_serial(meter: Meter, steps, timeout: float, session: Session):
    stream = dlms.Stream.serial(meter.host, meter.port, timeout)
    received = _bounded_stream(stream, session)
    try:
        dlms.mode_e(stream)  # the optical probe's opening
        link = dlms.HdlcLink(stream, meter.client)
    except Exception:
        stream.close()
        raise

    def exchange(apdu: bytes) -> bytes:
        received[0] = 0
        return link.exchange(apdu)
    try:
        return cosem_client.run(steps, exchange)
    finally:
        link.close()


def _read_iec21_serial(meter: Meter, timeout: float, reading: Reading, session: Session) -> None:
    stream = dlms.Stream.serial(meter.host, meter.port, timeout)
    _bounded_stream(stream, session)
    session.step = "in the readout"
    try:
        ident = dlms.identification(stream)
        stream.write(b"\x060" + ident[4:5] + b"0\r\n")  # ACK 0 Z 0: data readout
        block = b""
        while len(block) < 2 or block[-2] != iec62056_21.ETX:
            block += stream.read()
    finally:
        stream.close()
    by_address = {M.iec21_address(row.obis): row for row in M.REGISTERS if row.decimals is not None}
    for address, value, _unit in iec62056_21.parse_data_block(block):
        row = by_address.get(address)
        if row is None:
            continue
        if row.decimals == 0 and not value.lstrip("-").isdigit():
            reading.registers[row.obis] = value
        else:
            reading.registers[row.obis] = dlms.scaled(row, round(float(value) * 10 ** row.decimals))


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
        if row.key in values:
            reading.registers[row.obis] = dlms.scaled(row, values[row.key])


def _reads(n: int) -> str:
    return "%d read%s" % (n, "" if n == 1 else "s")


async def read_meter(meter: Meter, store, since: int = 0, timeout: float = 10.0, retries: int = 2,
                     backoff: float = 0.5, meter_deadline: float = METER_DEADLINE_S,
                     max_reply_bytes: int = MAX_REPLY_BYTES, max_blocks: int = MAX_BLOCKS,
                     harvest_end: tuple | None = None) -> Reading:
    """One meter, with retries, all within meter_deadline seconds (and harvest_end: (the event loop's time, the
    seconds it stands for) of an overall bound); a Reading that says what went wrong when it did."""
    loop = asyncio.get_running_loop()
    ends_at, name, seconds = loop.time() + meter_deadline, "deadline", meter_deadline
    if harvest_end is not None and harvest_end[0] < ends_at:
        ends_at, name, seconds = harvest_end[0], "harvest deadline", harvest_end[1]
    session = Session(max_reply_bytes, max_blocks, ends_at)
    reading = Reading()
    for attempt in range(retries + 1):
        reading = Reading()
        reading.attempts = attempt + 1
        session.restart()
        bound = asyncio.timeout_at(ends_at)
        try:
            async with bound:
                if meter.protocol in DLMS_PROTOCOLS:
                    newest = store.newest if meter.protocol != "dlms-hdlc-serial" else _snapshot_newest(store, meter)
                    await over_link(meter, dlms_plan(meter_client(meter), meter, newest, since, reading, session),
                                    timeout, session)
                elif meter.protocol == "iec21-serial":
                    await asyncio.to_thread(_read_iec21_serial, meter, timeout, reading, session)
                else:
                    session.step = "in the Modbus read"
                    await _read_modbus(meter, timeout, reading)
            reading.ok = True
            return reading
        except (DeadlineError, TimeoutError) as exc:
            if isinstance(exc, DeadlineError) or bound.expired():
                reading.error = "%s %g s passed after %s, %s" % (name, seconds, _reads(session.reads),
                                                                 session.doing())
                return reading
            reading.error = "%s: %s" % (type(exc).__name__, exc)
        except dlms.LimitError as exc:
            reading.error = "%s %s" % (exc, session.doing())
            return reading  # the meter would send the same again
        except cosem_client.CosemError as exc:
            reading.error = str(exc)
            if exc.code in _PERMANENT or str(exc).startswith("serial:"):
                return reading
        except (OSError, ValueError) as exc:
            reading.error = "%s: %s" % (type(exc).__name__, exc)
        if attempt < retries:
            pause = backoff * 2 ** attempt
            if loop.time() + pause >= ends_at:
                return reading  # no time left for another attempt: the last one's reason stands
            await asyncio.sleep(pause)
    return reading


def _snapshot_newest(store, meter: Meter):
    """The store's resume points, read now: a worker thread must not touch the store's connection."""
    names = [_stored_as(profile) for profile in M.PROFILES]
    newest = {name: store.newest(meter.device_id, name) for name in names}
    return lambda device_id, name: newest[name]


async def harvest(meters: list, store, concurrency: int = 50, since: int = 0, timeout: float = 10.0,
                  retries: int = 2, backoff: float = 0.5, progress=None, meter_deadline: float = METER_DEADLINE_S,
                  harvest_deadline: float | None = None, max_reply_bytes: int = MAX_REPLY_BYTES,
                  max_blocks: int = MAX_BLOCKS, harvest_id: int | None = None) -> dict:
    """Read every meter, at most `concurrency` at a time; device_id -> Reading. progress(reading) after each.
    harvest_id: store into that harvest (a shard of a distributed run, host/headend/), which its owner ends;
    None: a harvest of its own, begun and ended here.

    meter_deadline: seconds for one meter's whole session (retries included); harvest_deadline: seconds for
    the whole harvest (None: no bound), meters not finished by then fail with it; max_reply_bytes and
    max_blocks: caps on one read (all its blocks) and on its GET blocks (and HDLC segments of one reply)."""
    if concurrency < 1:
        raise ValueError("--concurrency: must be at least 1")
    for option, value in (("--meter-deadline", meter_deadline), ("--harvest-deadline", harvest_deadline),
                          ("--max-reply-bytes", max_reply_bytes), ("--max-blocks", max_blocks)):
        if value is not None and not value > 0:
            raise ValueError("%s: must be more than 0, got %r" % (option, value))
    loop = asyncio.get_running_loop()
    harvest_end = (loop.time() + harvest_deadline, harvest_deadline) if harvest_deadline else None
    own = harvest_id is None
    if own:
        harvest_id = store.begin_harvest(len(meters))
    gate = asyncio.Semaphore(concurrency)
    results: dict = {}

    async def one(meter: Meter) -> None:
        async with gate:
            if harvest_end is not None and loop.time() >= harvest_end[0]:
                reading = Reading()
                reading.error = "harvest deadline %g s passed before the meter was read" % harvest_deadline
            else:
                reading = await read_meter(meter, store, since, timeout, retries, backoff, meter_deadline,
                                           max_reply_bytes, max_blocks, harvest_end)
        reading.stored = store.save(harvest_id, meter, reading) is not None
        results[meter.device_id] = reading
        if progress is not None:
            progress(meter, reading)

    await asyncio.gather(*[one(m) for m in meters])
    if own:
        store.end_harvest(harvest_id, sum(1 for r in results.values() if not r.ok))
    return results
