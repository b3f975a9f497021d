"""The meter's DLMS/COSEM server on loopback TCP against raw TCP of the same sizes.

A simulated meter (the real firmware on the virtual board, the solar home model) runs
7 days and 1 hour of virtual time first (~2 s), so that its 15-minute profile holds its
full 672 rows (7 days); then MeterPorts serves it on the TCP wrapper port (IEC 62056-47)
from an asyncio loop in a background thread, as `opsm sim serve` does, and our host
client (host/dlms.py open_session: protocol/cosem_client.py on a socket) reads it on one
association of the public client (16):
  1. N GETs of register 1.0.1.8.0.255 attribute 2 (target: >= 3 000 GET/s, SPEC 9);
  2. the whole 15-minute profile 1.0.99.1.0.255 by range (selector 1 on the clock,
     every column, first to last row: 672 rows, checked), blocks reassembled and the
     rows decoded (target: <= 50 ms, SPEC 9).
The peer, measured in the same run and timed the same way: an asyncio server in a
background thread that answers a request with a reply of a size the request names, no
DLMS processing, read by a plain socket client (same socket options as host/dlms.py).
It replays the bytes on the wire of the real exchanges: N round trips of the GET's
request and reply sizes, and every block's request and reply sizes of the profile
read. ours/raw is what DLMS processing (client and server) costs on this machine.
For information only, the client side's cost: gurux-dlms's GXDLMSClient (a test-only
peer) reading the same register over a plain socket from the same server.
Every figure is the best of 3 repetitions (time.perf_counter).

    .venv/bin/python bench/dlms.py
Exit status 1 if a target is missed (or the profile does not hold 672 rows).
"""

import asyncio
import os
import socket
import struct
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from opsm.host import dlms as D
from opsm.protocol import axdr
from opsm.protocol import registers as M
from opsm.protocol.cosem_client import range_selection
from opsm.simulator import board
from opsm.simulator.serve import DEMO_METER, DEMO_SYSTEM, MeterPorts

Run = board.module("simulator.scenario_run").Run

REGISTER = "1.0.1.8.0.255"
PROFILE = "1.0.99.1.0.255"
ROWS = 672
GETS = 3000
GURUX_GETS = 1000
REPEATS = 3
TARGET_GETS_PER_S = 3000
TARGET_PROFILE_MS = 50.0
TIMEOUT_S = 10.0


def best(repeat, action) -> float:
    """The shortest of `repeat` timings of action(), seconds."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        action()
        times.append(time.perf_counter() - start)
    return min(times)


def in_thread(serve) -> None:
    """Run the coroutine serve(started) on its own loop in a daemon thread; wait until it listens."""
    ready = threading.Event()
    threading.Thread(target=lambda: asyncio.run(serve(ready.set)), daemon=True).start()
    if not ready.wait(10):
        raise RuntimeError("the server did not start")


# --- the meter --------------------------------------------------------------------------

def meter_with_a_week(folder: str) -> Run:
    """Recharged on its keypad, then 7 days 1 hour on the solar home model: 672 quarter-hour rows."""
    run = Run({"name": "bench", "meter": dict(DEMO_METER), "system": dict(DEMO_SYSTEM)}, folder)
    run.meter.set_setting("serial", "OPS00000042")
    run.type("*63638916334124550935*")
    run.advance((7 * 24 + 1) * 3600 * 1000)
    return run


def serve_meter(run: Run) -> int:
    """The meter's TCP wrapper port (MeterPorts, virtual time stopped)."""
    ports: dict = {}

    async def serve(ready):
        await MeterPorts([run], speed=0).serve({"dlms": 0}, started=lambda p: (ports.update(p), ready()))
    in_thread(serve)
    return ports["dlms"][0]


def record_sizes(link, client, action) -> list:
    """(bytes sent, bytes received) on the wire for every exchange action() makes."""
    stream = link.stream
    read, write = stream.read, stream.write
    exchange = client.exchange
    pairs = []
    counts = [0, 0]

    def counting_write(data):
        counts[0] += len(data)
        write(data)

    def counting_read():
        data = read()
        counts[1] += len(data)
        return data

    def counting_exchange(apdu):
        counts[0] = counts[1] = 0
        reply = exchange(apdu)
        pairs.append((counts[0], counts[1]))
        return reply

    stream.read, stream.write, client.exchange = counting_read, counting_write, counting_exchange
    try:
        action()
    finally:
        stream.read, stream.write, client.exchange = read, write, exchange
    return pairs


# --- the raw peer -------------------------------------------------------------------------

# A request: 4 bytes its own length, 4 bytes the length of the reply wanted, padding.
_HEADER = struct.Struct(">II")


async def _raw_connection(reader, writer) -> None:
    pending = bytearray()
    replies: dict = {}
    try:
        while True:
            data = await reader.read(4096)
            if not data:
                return
            pending.extend(data)
            while len(pending) >= _HEADER.size:
                size, reply = _HEADER.unpack_from(pending)
                if len(pending) < size:
                    break
                del pending[:size]
                if reply not in replies:
                    replies[reply] = bytes(reply)
                writer.write(replies[reply])
                await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


def serve_raw() -> int:
    ports = []

    async def serve(ready):
        server = await asyncio.start_server(_raw_connection, "127.0.0.1", 0)
        ports.append(server.sockets[0].getsockname()[1])
        ready()
        await server.serve_forever()
    in_thread(serve)
    return ports[0]


class RawClient:
    """The same socket as host/dlms.py's (create_connection with a timeout, recv(4096))."""

    def __init__(self, port: int):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)

    def replay(self, pairs: list):
        """A function that makes the round trips of `pairs` once, requests built beforehand."""
        frames = [(_HEADER.pack(sent, received) + bytes(sent - _HEADER.size), received) for sent, received in pairs]
        sock = self.sock

        def run():
            for frame, wanted in frames:
                sock.sendall(frame)
                got = 0
                while got < wanted:
                    data = sock.recv(4096)
                    if not data:
                        raise ConnectionError("the raw peer closed the connection")
                    got += len(data)
        return run

    def close(self) -> None:
        self.sock.close()


# --- gurux-dlms (information) ---------------------------------------------------------------

def gurux_gets_per_s(port: int, value: int):
    """GET/s of the register with gurux-dlms's client over a plain socket, or the reason it could not run."""
    try:
        from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
        from gurux_dlms.enums import Authentication, InterfaceType
        from gurux_dlms.objects import GXDLMSRegister
    except ImportError as exc:
        return None, "gurux-dlms not installed (%s)" % exc
    client = GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
    sock = socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT_S)

    def request(frames):
        reply = None
        for frame in frames if isinstance(frames, list) else [frames]:
            reply = GXReplyData()
            sock.sendall(bytes(frame))
            buffer = GXByteBuffer()
            while True:
                while not client.getData(buffer, reply, None):
                    data = sock.recv(4096)
                    if not data:
                        raise ConnectionError("the meter closed the connection")
                    buffer.set(data)
                if not reply.isMoreData():
                    break
                sock.sendall(bytes(client.receiverReady(reply)))
                buffer = GXByteBuffer()
        return reply

    register = GXDLMSRegister(REGISTER)

    def read(attribute):
        reply = request(client.read(register, attribute))
        if reply.error:
            raise RuntimeError("gurux: attribute %d: error %d" % (attribute, reply.error))
        return client.updateValue(register, attribute, reply.value)

    try:
        client.parseAareResponse(request(client.aarqRequest()).data)
        read(3)  # the scaler and unit first, as gurux scales the value with them
        if read(2) != value:
            return None, "gurux read %r, not %r" % (register.value, value)
        seconds = best(REPEATS, lambda: [read(2) for _ in range(GURUX_GETS)])
        request(client.releaseRequest())
    finally:
        sock.close()
    return GURUX_GETS / seconds, ""


# --- the bench ----------------------------------------------------------------------------

def main() -> int:
    folder = tempfile.mkdtemp(prefix="bench-dlms-")
    start = time.perf_counter()
    run = meter_with_a_week(folder)
    profile = run.meter.profiles[[p[0] for p in M.PROFILES].index(PROFILE)]  # what the DLMS model serves
    print("meter: 7 days 1 h simulated in %.1f s; its 15-minute profile holds %d rows"
          % (time.perf_counter() - start, profile.entries))
    if profile.entries != ROWS:
        print("the profile holds %d rows, not %d: cannot measure" % (profile.entries, ROWS))
        return 1
    first_s, last_s = profile.row(0)[0], profile.row(ROWS - 1)[0]
    selection = range_selection(axdr.date_time(first_s, 0), axdr.date_time(last_s, 0))
    expected = run.meter.snapshot()["import_wh"]

    meter_port = serve_meter(run)
    raw = RawClient(serve_raw())
    link, client = D.open_session("127.0.0.1", meter_port, "wrapper", 16, timeout=TIMEOUT_S)
    try:
        value = client.get(M.REGISTER, REGISTER, 2)
        if value != expected:
            print("GET %s read %r, the meter holds %r" % (REGISTER, value, expected))
            return 1
        rows = client.get(M.PROFILE_GENERIC, PROFILE, 2, selection)
        if len(rows) != ROWS:
            print("the range read gave %d rows, not %d" % (len(rows), ROWS))
            return 1
        get_pairs = record_sizes(link, client, lambda: client.get(M.REGISTER, REGISTER, 2))
        profile_pairs = record_sizes(link, client, lambda: client.get(M.PROFILE_GENERIC, PROFILE, 2, selection))

        def gets():
            for _ in range(GETS):
                client.get(M.REGISTER, REGISTER, 2)

        def profile_read():
            if len(client.get(M.PROFILE_GENERIC, PROFILE, 2, selection)) != ROWS:
                raise RuntimeError("the range read lost rows")

        ours_gets = best(REPEATS, gets)
        raw_gets = best(REPEATS, raw.replay(get_pairs * GETS))
        ours_profile = best(REPEATS, profile_read)
        raw_profile = best(REPEATS, raw.replay(profile_pairs))
        client.release()
    finally:
        link.close()
        raw.close()
    gurux_rate, gurux_problem = gurux_gets_per_s(meter_port, run.meter.snapshot()["import_wh"])

    gets_per_s = GETS / ours_gets
    profile_ms = ours_profile * 1000
    sent, received = get_pairs[0]
    print("TCP wrapper on loopback, one association (public client 16); best of %d; peer: raw TCP, same sizes"
          % REPEATS)
    print()
    print("GET %s attribute 2: request %d bytes, reply %d bytes on the wire" % (REGISTER, sent, received))
    print("  ours  %d GETs          %8.1f ms  %7.0f GET/s  (target >= %d: %s)"
          % (GETS, ours_gets * 1000, gets_per_s, TARGET_GETS_PER_S,
             "met" if gets_per_s >= TARGET_GETS_PER_S else "MISSED"))
    print("  raw   %d round trips   %8.1f ms  %7.0f round trips/s" % (GETS, raw_gets * 1000, GETS / raw_gets))
    print("  ours / raw: %.2f" % (ours_gets / raw_gets))
    print()
    print("profile %s by range, %d rows: %d exchanges, %d bytes sent, %d bytes received on the wire"
          % (PROFILE, ROWS, len(profile_pairs), sum(p[0] for p in profile_pairs), sum(p[1] for p in profile_pairs)))
    print("  ours  whole read       %8.1f ms  (target <= %.0f ms: %s)"
          % (profile_ms, TARGET_PROFILE_MS, "met" if profile_ms <= TARGET_PROFILE_MS else "MISSED"))
    print("  raw   same exchanges   %8.1f ms" % (raw_profile * 1000))
    print("  ours / raw: %.2f" % (ours_profile / raw_profile))
    print()
    print("information, the client side's cost: gurux-dlms GXDLMSClient (test-only peer), same server and register")
    if gurux_rate is None:
        print("  not measured: %s" % gurux_problem)
    else:
        print("  gurux %d GETs: %7.0f GET/s; our client %7.0f GET/s (ours / gurux: %.2f)"
              % (GURUX_GETS, gurux_rate, gets_per_s, gets_per_s / gurux_rate))
    ok = gets_per_s >= TARGET_GETS_PER_S and profile_ms <= TARGET_PROFILE_MS
    print()
    print("verdict: %s" % ("within targets" if ok else "OUTSIDE TARGETS"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
