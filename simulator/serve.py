"""The meters' ports on loopback: DLMS/COSEM (TCP wrapper, HDLC over TCP), IEC 62056-21, Modbus.

Every port runs the sans-IO cores of protocol/ (the same the firmware runs) behind an
asyncio stream; virtual time runs on at `speed` virtual seconds per wall second. A fleet
is N meters, each on base_port + n of every protocol asked for, like a participant's
NAT/PAT port plan. Each connection has its own association; a meter's server (invocation
counter, replay memory) is shared by its connections. Faults (latency, dropped or
corrupted replies, a disconnect or a silent hang after N replies) and a hex trace per
connection are there for testing head-ends; so are hostile meters (a reply trickled a byte
at a time, a GET block transfer or HDLC segments that never end). A meter with a push
destination (push_to, or set over DLMS) sends the DataNotifications its events queue there,
each meter in tasks of its own, after every virtual minute and every DLMS request.
"""

import asyncio
import contextlib
import gc
import os
import random
import time
import tty

from opsm.protocol import civil, hdlc, iec62056_21, wrapper
from opsm.protocol.cosem_objects import hdlc_setup, tcp_udp_setup
from opsm.protocol.acse import check_lls_secret
from opsm.protocol.cosem_server import CosemServer, meter_keys, system_title
from opsm.protocol.dlms_security import Keys
from opsm.protocol.registers import iec21_data_sets
from opsm.simulator import board
from opsm.simulator.nullmodem import null_modem

Run = board.module("simulator.scenario_run").Run
PowerLost = board.module("simulator.flash").PowerLost  # the class the virtual board raises
BY_KEYPAD = board.module("meter").BY_KEYPAD
OpticalPort = board.module("optical_port").OpticalPort
ticks_ms = board.module("ticks").ticks_ms

DEMO_METER = {"key": "f94b6ed353c3bfdb113e2d3a7ea3c41d", "base_year": 1993}  # published test vector key
DEMO_SYSTEM = {"seed": 1, "pv_wp": 400, "battery_wh": 4800, "soc": 0.8}
PROTOCOLS = ("dlms", "hdlc", "iec21", "modbus")
INACTIVITY_S = 120  # TCP-UDP setup / HDLC setup inactivity time-out


class Faults:
    """What goes wrong on a connection, seeded so a failing test can be replayed.

    Besides a lossy link (latency, drop, corrupt, disconnect_after, hang_after), two hostile meters
    that a per-read time-out does not catch: trickle=S writes every reply one byte every S seconds;
    endless=blocks answers every plain GET with another block, never the last (both DLMS ports; an HLS
    association's ciphered GETs are served as usual), endless=segments sends the HDLC port's reply to
    the first GET in I-frame segments that never end (the TCP wrapper has no segments: blocks there).
    """

    ENDLESS = ("blocks", "segments")

    def __init__(self, latency_ms: int = 0, drop: float = 0.0, corrupt: float = 0.0, disconnect_after: int = 0,
                 hang_after: int = 0, seed: int = 1, trickle: float = 0.0, endless: str = ""):
        for name, p in (("drop", drop), ("corrupt", corrupt)):
            if not 0.0 <= p <= 1.0:
                raise ValueError("%s: must be a probability 0..1, got %r" % (name, p))
        if not 0.0 <= trickle <= 3600:
            raise ValueError("trickle: must be seconds between bytes, 0..3600, got %r" % trickle)
        if endless and endless not in self.ENDLESS:
            raise ValueError("endless: must be blocks or segments, got %r" % endless)
        self.latency_ms = latency_ms
        self.drop = drop
        self.corrupt = corrupt
        self.disconnect_after = disconnect_after
        self.hang_after = hang_after
        self.seed = seed
        self.trickle = trickle
        self.endless = endless

    @classmethod
    def parse(cls, text: str) -> "Faults":
        """'latency=50,drop=0.1,corrupt=0.05,disconnect_after=3,hang_after=5,seed=7'; 'trickle=2.5';
        'endless=blocks' or 'endless=segments'."""
        values: dict = {}
        for item in filter(None, text.split(",")):
            name, _, value = item.partition("=")
            if name not in ("latency_ms", "latency", "drop", "corrupt", "disconnect_after", "hang_after", "seed",
                            "trickle", "endless"):
                raise ValueError("faults: unknown fault %r" % name)
            if name == "endless":
                values[name] = value
                continue
            try:
                values["latency_ms" if name == "latency" else name] = float(value) if name in (
                    "drop", "corrupt", "trickle") else int(value)
            except ValueError:
                raise ValueError("faults: %s needs a number, got %r" % (name, value)) from None
        return cls(**values)


ENDLESS_CHUNK = 512   # filler bytes per endless block
ENDLESS_SEGMENT = 128  # info bytes per endless HDLC segment: the smallest size any link negotiates


def endless_blocks(handle):
    """An association's handle() whose every plain GET that it answers gets another data block, never the
    last (the block number counts on, the data is filler): a GET block transfer that does not end."""
    count = [0]

    def endless(client_sap: int, apdu) -> bytes:
        reply = handle(client_sap, apdu)
        if apdu[:1] != b"\xC0" or reply[:1] != b"\xC4" or len(apdu) < 3:
            return reply
        count[0] += 1
        out = bytearray((0xC4, 2, apdu[2], 0))
        out += count[0].to_bytes(4, "big")
        out += b"\x00\x82" + ENDLESS_CHUNK.to_bytes(2, "big") + bytes(ENDLESS_CHUNK)
        return bytes(out)
    return endless


class _EndlessSegments:
    """The HDLC reply to the first GET as I-frame segments that never end: the first segment takes the
    sequence numbers the server's link gave its real reply, each RR from the client gets the next."""

    def __init__(self, handle):
        self.handle = handle
        self.got_get = False
        self.started = False
        self.reader = hdlc.FrameReader()

    def watch(self, client_sap: int, apdu) -> bytes:
        """The link's handle(): the association's, noting the first GET."""
        if apdu[:1] == b"\xC0":
            self.got_get = True
        return self.handle(client_sap, apdu)

    def start(self, reply: bytes) -> bytes:
        first = next(f for f in hdlc.FrameReader().feed(reply) if f.control & 1 == 0)
        self.dest, self.src = first.dest, first.src
        self.received = first.control >> 5 & 7
        self.sent = first.control >> 1 & 7
        self.started = True
        return self._segment(hdlc.LLC_REPLY + bytes(ENDLESS_SEGMENT - 3))

    def _segment(self, info: bytes = bytes(ENDLESS_SEGMENT)) -> bytes:
        control = self.received << 5 | hdlc.PF | self.sent << 1
        self.sent = (self.sent + 1) & 7
        return hdlc.frame(self.dest, self.src, control, info, True)

    def receive(self, data: bytes):
        """The next segment for every RR; None when the client sent DISC (it gave up)."""
        out = b""
        for f in self.reader.feed(data):
            if f.control & ~hdlc.PF == hdlc.DISC:
                return None
            if f.control & 0x0F == hdlc.RR:
                out += self._segment()
        return out


class _Connection:
    """One client's stream: sends replies through the faults, traces both ways."""

    def __init__(self, reader, writer, faults: Faults | None, trace_path: str | None, inactivity_s: float):
        self.reader = reader
        self.writer = writer
        self.faults = faults or Faults()
        self.random = random.Random(self.faults.seed)
        self.replies = 0
        self.trace = open(trace_path, "a") if trace_path else None
        self.hung = False
        self.inactivity_s = inactivity_s
        self._timer = asyncio.get_running_loop().call_later(inactivity_s, writer.close)

    def log(self, direction: str, data: bytes) -> None:
        if self.trace is not None and data:
            self.trace.write("%.3f %s %s\n" % (time.time(), direction, data.hex(" ").upper()))
            self.trace.flush()

    async def read(self) -> bytes:
        """The next bytes; b"" when the peer left or stayed silent for the inactivity time-out."""
        data = await self.reader.read(4096)
        self._timer.cancel()  # one timer re-armed per read: cheaper than a wait_for task each time
        self._timer = asyncio.get_running_loop().call_later(self.inactivity_s, self.writer.close)
        self.log("RX", data)
        return data

    async def send(self, data: bytes) -> bool:
        """False when the connection must close now (an injected disconnect)."""
        if not data:
            return True
        f = self.faults
        self.replies += 1
        if f.hang_after and self.replies > f.hang_after:
            self.hung = True  # keep the socket open, never answer again
            return True
        if f.disconnect_after and self.replies > f.disconnect_after:
            return False
        if f.latency_ms:
            await asyncio.sleep(f.latency_ms / 1000)
        if f.drop and self.random.random() < f.drop:
            return True
        if f.corrupt and self.random.random() < f.corrupt:
            data = bytearray(data)
            data[self.random.randrange(len(data))] ^= 0x5A
            data = bytes(data)
        self.log("TX", data)
        if f.trickle:
            for i in range(len(data)):  # one byte, then a pause: under any per-read time-out
                self.writer.write(data[i:i + 1])
                await self.writer.drain()
                await asyncio.sleep(f.trickle)
            return True
        self.writer.write(data)
        await self.writer.drain()
        return True

    def close(self) -> None:
        self._timer.cancel()
        if self.trace is not None:
            self.trace.close()
        self.writer.close()


DEMO_RECHARGE = "*63638916334124550935*"  # 25.6 kWh for the demo key


def fleet(count: int, folder: str, history_ms: int = 0, first: int = 0) -> list:
    """Meters first..first + count - 1, each with its own serial number and solar home seeded by its number
    (so a meter is the same whichever process of a fleet builds it); with a history, each is recharged and
    has lived that long (profiles and events to harvest)."""
    if count < 1 or first < 0:
        raise ValueError("count: must be at least 1 meter from meter 0 on, got %d from %d" % (count, first))
    runs = []
    meter = dict(DEMO_METER)
    if history_ms:  # the history ends now, so the meters' clocks agree with the head-end's
        meter["start_s"] = int(time.time()) - civil.UNIX_2000 - history_ms // 1000
    try:
        for n in range(first, first + count):
            system = dict(DEMO_SYSTEM, seed=n + 1)
            path = "%s/%d" % (folder, n)
            os.makedirs(path, exist_ok=True)
            run = Run({"name": "meter %d" % n, "meter": dict(meter), "system": system}, path)
            run.meter.set_setting("serial", "OPS%08d" % (n + 1))
            if history_ms:
                run.type(DEMO_RECHARGE)
                run.advance(history_ms, 900000)
            runs.append(run)
            # The firmware collects garbage before each recharge (a board's small heap): with the meters built
            # so far frozen out of the collector, that walks one meter's objects, not every meter's.
            gc.freeze()
    finally:
        gc.unfreeze()
    return runs


def load_keys(path: str, serial: str) -> Keys:
    """Suite 0 keys from a file of `ek = HEX`, `ak = HEX` (and `kek = HEX`) lines; the system title
    comes from the serial."""
    with open(path) as f:
        return Keys.parse(f.read(), system_title(serial))


class MeterPorts:
    def __init__(self, runs, speed: float = 60.0, lls_password: bytes | None = None, keys_file: str | None = None,
                 faults=None, trace_dir: str | None = None, inactivity_s: float = INACTIVITY_S,
                 push_to: str | None = None):
        self.runs = runs
        self.inactivity_s = inactivity_s
        self.speed = speed
        self.faults = faults or {}  # meter index -> Faults
        self.trace_dir = trace_dir
        self.servers = []
        for run in runs:  # the secrets given here become the meters' own, as a head-end would set them
            meter = run.meter
            serial = meter.settings.get("serial") or "0"
            access = meter.dlms_access()
            if lls_password:
                check_lls_secret(lls_password)  # the meter's rule, with its message
                access.change_lls(lls_password, BY_KEYPAD)
            if keys_file:
                keys = load_keys(keys_file, serial)
                access.change_keys(keys.ek, keys.ak, keys.kek)
            if push_to:
                meter.set_setting("push_to", push_to)  # the meter's rule, with its message
            self.servers.append(CosemServer(run.model, run.model, meter_keys(access.credentials, serial),
                                            guard=run.model))
        self._connections = 0
        self._pushing: set = set()  # the delivery tasks running (asyncio keeps only weak references)

    def _open(self, n: int, protocol: str, reader, writer) -> _Connection:
        self._connections += 1
        trace = None
        if self.trace_dir:
            trace = os.path.join(self.trace_dir, "meter%d-%s-%d.log" % (n, protocol, self._connections))
        return _Connection(reader, writer, self.faults.get(n), trace, self.inactivity_s)

    def _handler(self, n: int, protocol: str):
        async def handle(reader, writer) -> None:
            connection = self._open(n, protocol, reader, writer)
            try:
                await getattr(self, "_" + protocol)(n, connection)
            except (ConnectionError, wrapper.WrapperError):
                pass  # a peer gone, or not DLMS at all: close
            except PowerLost:  # a power cut injected at a flash write: the meter starts again, the link is gone
                run = self.runs[n]
                run.power_losses += 1
                run.boot()
            finally:
                connection.close()
        return handle

    async def _dlms(self, n: int, c: _Connection) -> None:
        association = self.servers[n].association()
        handle = endless_blocks(association.handle) if c.faults.endless else association.handle
        frames = wrapper.WrapperReader()
        while True:
            data = await c.read()
            if not data:
                return
            for src, dst, apdu in frames.feed(data):
                if dst != 1:
                    continue  # only the management logical device
                if c.hung:
                    continue
                reply = handle(src, apdu)
                self.push(n)
                if not await c.send(wrapper.wrap(dst, src, reply)) or self.runs[n].restart_if_asked():
                    return

    async def _hdlc(self, n: int, c: _Connection) -> None:
        association = self.servers[n].association()
        handle = association.handle
        endless = None
        if c.faults.endless == "blocks":
            handle = endless_blocks(handle)
        elif c.faults.endless == "segments":
            endless = _EndlessSegments(handle)
            handle = endless.watch
        link = hdlc.ServerLink(handle, association.reset, timeout_ms=int(self.inactivity_s * 1000))
        while True:
            data = await c.read()
            if not data:
                return
            if endless is not None and endless.started:
                reply = endless.receive(data)
                if reply is None:
                    return
            else:
                reply = link.receive(data, ticks_ms())
                self.push(n)
                if endless is not None and endless.got_get and reply:
                    reply = endless.start(reply)
            if not c.hung and not await c.send(reply) or self.runs[n].restart_if_asked():
                return

    async def _iec21(self, n: int, c: _Connection) -> None:
        run = self.runs[n]
        session = iec62056_21.Session("OPSM-SP-230", lambda: iec21_data_sets(run.meter.snapshot()))
        while True:
            data = await c.read()
            if not data:
                return
            if not await c.send(session.feed(data)):
                return

    async def clock(self) -> None:
        """Virtual time: a reading every virtual minute on every meter, paced to `speed`."""
        while True:
            await asyncio.sleep(60.0 / self.speed if self.speed > 0 else 3600)
            if self.speed > 0:
                for n, run in enumerate(self.runs):
                    run.advance(60000)
                    self.push(n)

    def push(self, n: int) -> None:
        """Meter n's queued notifications out to its destination, in a task of its own: no meter waits for
        another's head-end (the notifier runs one delivery at a time)."""
        run = self.runs[n]
        notifier = run.meter.log.listener  # the meter's notifier while it pushes
        if notifier is not None and notifier.queue:
            task = asyncio.ensure_future(notifier.deliver(run.hal.push, run.clock.ticks_ms))
            self._pushing.add(task)
            task.add_done_callback(self._pushing.discard)

    async def _optical(self, n: int, master: int) -> None:
        """The optical port on a pseudo-terminal: mode C readout, mode E into HDLC."""
        port = OpticalPort("OPSM-SP-230", self.runs[n].model, lambda: self.servers[n])
        received: asyncio.Queue = asyncio.Queue()
        loop = asyncio.get_running_loop()
        loop.add_reader(master, lambda: received.put_nowait(os.read(master, 4096)))
        while True:
            data = await received.get()
            now_ms = ticks_ms()
            port.poll(now_ms)
            reply = port.feed(data, now_ms)
            if reply:
                os.write(master, reply)

    def _setups(self, ports: dict, n: int) -> tuple:
        """Meter n's communication setup objects: its HDLC port (optical, or HDLC on TCP) and its TCP wrapper."""
        inactivity = int(self.inactivity_s)
        setups = [hdlc_setup(9600, inactivity)] if "hdlc" in ports or "iec21_pty" in ports else []
        if "dlms" in ports:
            setups.append(tcp_udp_setup(ports["dlms"][n], inactivity))
        return tuple(setups)

    async def _modbus(self, run, host: str, port: int, tasks: list) -> int:
        """Start Modbus TCP for one meter (pymodbus); the port it listens on."""
        from opsm.simulator.modbus import serve_modbus_tcp

        listening: asyncio.Future = asyncio.get_running_loop().create_future()
        tasks.append(asyncio.ensure_future(serve_modbus_tcp(lambda: run.meter.snapshot(), host, port,
                                                            started=listening.set_result)))
        return await listening

    async def serve(self, base_ports: dict, host: str = "127.0.0.1", started=None, optical_pty: bool = False,
                    modbus_rtu_pty: bool = False, modbus_unit: int = 1) -> None:
        """Every protocol in base_ports on base + n for meter n (base 0: any free ports); started({protocol: ports}).

        optical_pty: each meter's optical port on a pseudo-terminal, listed as "iec21_pty".
        modbus_rtu_pty: each meter's Modbus RTU port (unit modbus_unit) at one end of a null-modem pair of
        pseudo-terminals, the other end listed as "modbus_rtu_pty" for the client to open."""
        with contextlib.ExitStack() as cables:
            await self._serve(base_ports, host, started, optical_pty,
                              [cables.enter_context(null_modem()) for _ in self.runs] if modbus_rtu_pty else [],
                              modbus_unit)

    async def _serve(self, base_ports: dict, host: str, started, optical_pty: bool, rtu_cables: list,
                     modbus_unit: int) -> None:
        servers = []
        tasks = []
        ports: dict = {}
        if rtu_cables:
            from opsm.simulator.modbus import serve_modbus_rtu

            ports["modbus_rtu_pty"] = []
            for run, (meter_end, client_end) in zip(self.runs, rtu_cables):
                opened: asyncio.Future = asyncio.get_running_loop().create_future()
                tasks.append(asyncio.ensure_future(serve_modbus_rtu(run.meter.snapshot, meter_end, unit=modbus_unit,
                                                                    started=opened.set_result)))
                await opened
                ports["modbus_rtu_pty"].append(client_end)
        if optical_pty:
            ports["iec21_pty"] = []
            for n in range(len(self.runs)):
                master, slave = os.openpty()
                tty.setraw(slave)
                ports["iec21_pty"].append(os.ttyname(slave))
                tasks.append(self._optical(n, master))
        for protocol, base in base_ports.items():
            if protocol not in PROTOCOLS:
                raise ValueError("protocol: must be one of %s, got %r" % (", ".join(PROTOCOLS), protocol))
            ports[protocol] = []
            for n, run in enumerate(self.runs):
                port = base + n if base else 0
                if protocol == "modbus":
                    ports[protocol].append(await self._modbus(run, host, port, tasks))
                    continue
                server = await asyncio.start_server(self._handler(n, protocol), host, port)
                servers.append(server)
                ports[protocol].append(server.sockets[0].getsockname()[1])
        for n, server in enumerate(self.servers):
            server.describe_ports(self._setups(ports, n))
        if started is not None:
            started(ports)
        await asyncio.gather(self.clock(), *tasks, *[s.serve_forever() for s in servers])

