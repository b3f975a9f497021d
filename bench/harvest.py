"""The harvester on a simulated fleet against a sequential gurux-dlms read of the same meters.

A fleet of N meters (default 1 000) that lived a day is started as `opsm sim fleet --count N
--base-port 0 --protocol dlms --history 1d --speed 0 --faults latency=L --inventory PATH` in a subprocess
(the real firmware on the virtual board per meter, TCP wrapper on loopback, virtual time
stopped), and every reply is held back L ms (default 20): a meter on the far side of a
WAN, cellular or VPN link is tens of milliseconds or more away, and that round trip, not
CPU, is what a head-end waits on. At 0 ms the comparison measures only the CPU of both
sides (client and simulated meters) on this machine: a run with a latency ends with the
same comparison at 0 ms on a second, smaller fleet (--cpu-only-count, default 200
meters), printed for information; `--latency-ms 0` judges the target at 0 ms.

Measured in the same run, each timed with time.perf_counter:
  ours   host/harvest.py harvest(): all N meters at once with concurrency 100 (public
         client 16: association, every register of protocol/registers.py REGISTERS, the
         clock, the 15-minute and hourly profiles and the event log after what is stored,
         release), into a fresh SQLite file, everything read checked: every meter read,
         and each holds >= 95 rows of the 15-minute profile 1.0.99.1.0.255 (3 columns) in
         profile_values. The time covers loading the inventory, opening the store and
         the harvest with its writes.
  gurux  gurux-dlms's GXDLMSClient (the test-only peer, tests/host/dlms_peers.py) over a
         plain socket, one meter after the other, the plan SPEC 9 names: associate as
         client 16, every REGISTERS value (attribute 2; for class 3 the scaler and unit,
         attribute 3, first, as gurux scales with it), the clock, the 15-minute profile
         by range over the meter's last day (its capture objects, attribute 3, first:
         gurux needs them to decode the rows), release. Nothing is stored. The objects are
         built from the register table (GXDLMSData, GXDLMSRegister, GXDLMSClock, ...), not
         taken from the association view: a head-end that knows its meters' model does not
         fetch the object list of every meter, and this is the cheaper choice for gurux,
         so the ratio is conservative; what reading the view would add per meter is
         measured once and printed for information. Reading N meters one after another
         would take minutes, so a sample is timed (the first meters, as many as fit in
         --gurux-seconds, default 30 s) and gurux's meters/s is extrapolated from it.
Per meter, ours makes 21 exchanges (it knows the scalers from the register table, and it
also reads the hourly profile and the event log), gurux 29; both counts are printed, with
the CPU per meter of the client (this process) and of the simulated meters (the fleet's
process, from /proc), which says where the time goes.
Target (SPEC 9): ours / gurux >= 10 in meters per second.

    .venv/bin/python -m bench.harvest [--count 1000] [--latency-ms 20]
Exit status 1 if the target is missed, a meter is not read, or a meter's profile is short.
"""

import argparse
import asyncio
import datetime
import json
import os
import queue
import signal
import subprocess
import sys
import tempfile
import threading
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from opsm.host import dlms as D
from opsm.host import harvest, inventory, store
from opsm.protocol import registers as M

QUARTER = "1.0.99.1.0.255"
MIN_ROWS = 95                    # a day holds 96 quarter-hours; allow for the edges
CONCURRENCY = 100
TARGET_RATIO = 10.0
CPU_ONLY_COUNT = 200             # the 0 ms pass of a default run: a smaller fleet, ~15 s
FLEET_START_S = 300              # building 1 000 meters with a day of history takes ~30 s


# --- the fleet ----------------------------------------------------------------------------

def start_fleet(count: int, latency_ms: int, folder: str, inventory_path: str):
    """`opsm sim fleet` in a subprocess, writing its inventory; (process, dlms ports, seconds until it listened)."""
    command = [sys.executable, "-m", "opsm", "sim", "fleet", "--count", str(count), "--base-port", "0",
               "--protocol", "dlms", "--history", "1d", "--speed", "0", "--inventory", inventory_path]
    if latency_ms:
        command += ["--faults", "latency=%d" % latency_ms]
    errors = open(os.path.join(folder, "fleet.stderr"), "w+")
    start = time.perf_counter()
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
    lines: queue.Queue = queue.Queue()
    threading.Thread(target=lambda: [lines.put(line) for line in process.stdout], daemon=True).start()
    deadline = start + FLEET_START_S
    while True:
        try:
            line = lines.get(timeout=max(0.1, min(1.0, deadline - time.perf_counter())))
        except queue.Empty:
            if process.poll() is not None or time.perf_counter() > deadline:
                stop_fleet(process)
                errors.seek(0)
                raise RuntimeError("the fleet did not start:\n" + errors.read()[-2000:])
            continue
        try:
            ports = json.loads(line)["dlms"]
        except (ValueError, KeyError, TypeError):
            continue
        return process, ports, time.perf_counter() - start


def stop_fleet(process) -> None:
    """SIGINT (the CLI's Ctrl-C), then wait; kill if it does not end."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGINT)
    try:
        process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def cpu_s(pid: int):
    """CPU seconds (user + system) a process has used so far, from /proc; None where there is none."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError):
        return None


class CpuClock:
    """Wall time, this process's CPU and the fleet's CPU over a stretch of the bench."""

    def __init__(self, fleet_pid: int):
        self.pid = fleet_pid
        self.start = (time.perf_counter(), time.process_time(), cpu_s(fleet_pid))

    def text(self, meters: int) -> str:
        wall, mine, fleet = time.perf_counter(), time.process_time(), cpu_s(self.pid)
        out = "CPU per meter: client %.1f ms" % ((mine - self.start[1]) * 1000 / meters)
        if fleet is not None and self.start[2] is not None:
            out += ", simulated meters %.1f ms" % ((fleet - self.start[2]) * 1000 / meters)
        return out + " (wall %.1f ms)" % ((wall - self.start[0]) * 1000 / meters)


# --- ours ---------------------------------------------------------------------------------

def exchanges_per_meter(meter) -> int:
    """Exchanges (request, reply) our harvester makes for one meter, counted on a throwaway store."""
    count = [0]
    exchange = D.AsyncLink.exchange

    async def counting(self, apdu):
        count[0] += 1
        return await exchange(self, apdu)

    D.AsyncLink.exchange = counting
    try:
        with tempfile.TemporaryDirectory() as folder:
            db = store.Store.open(os.path.join(folder, "count.db"))
            reading = asyncio.run(harvest.read_meter(meter, db))
            db.close()
    finally:
        D.AsyncLink.exchange = exchange
    if not reading.ok:
        raise RuntimeError("%s: %s" % (meter.device_id, reading.error))
    return count[0]


def ours(inventory_path: str, db_path: str, concurrency: int):
    """(seconds, problems, rows per meter): the whole fleet harvested into a fresh SQLite file."""
    start = time.perf_counter()
    meters = inventory.load(inventory_path)
    db = store.Store.open(db_path)
    results = asyncio.run(harvest.harvest(meters, db, concurrency=concurrency, since=0, timeout=10.0, retries=2))
    seconds = time.perf_counter() - start
    problems = ["%s: %s (attempts %d)" % (device_id, r.error, r.attempts)
                for device_id, r in sorted(results.items()) if not r.ok]
    retried = sum(1 for r in results.values() if r.attempts > 1)
    counted = {device_id: (values, rows) for device_id, values, rows in db.query(
        "SELECT device_id, COUNT(*), COUNT(DISTINCT captured_at) FROM profile_values WHERE profile = ? "
        "GROUP BY device_id", (QUARTER,))}
    db.close()
    rows = []
    for meter in meters:
        values, distinct = counted.get(meter.device_id, (0, 0))
        rows.append(values // 3)
        if values < 3 * MIN_ROWS or values != 3 * distinct:
            problems.append("%s: %d values of %s stored at %d times (want 3 columns x >= %d rows)"
                            % (meter.device_id, values, QUARTER, distinct, MIN_ROWS))
    return seconds, problems, rows, retried, len(meters)


# --- gurux --------------------------------------------------------------------------------

def gurux_objects():
    """Typed gurux objects for the plan, built from the register table (not the association view)."""
    from gurux_dlms.objects import (GXDLMSClock, GXDLMSCredit, GXDLMSData, GXDLMSDisconnectControl,
                                    GXDLMSProfileGeneric, GXDLMSRegister)

    kinds = {M.DATA: GXDLMSData, M.REGISTER: GXDLMSRegister, M.CREDIT: GXDLMSCredit,
             M.DISCONNECT_CONTROL: GXDLMSDisconnectControl}
    registers = [(row[0], row[1], kinds[row[1]](row[0])) for row in M.REGISTERS]
    return registers, GXDLMSClock(M.CLOCK_OBIS), GXDLMSProfileGeneric(QUARTER)


def gurux_meter(port: int, serial: str):
    """One meter with gurux's plan; (rows of the 15-minute profile, exchanges). Raises on a wrong reading."""
    from tests.host.dlms_peers import Gurux

    client = Gurux(port)
    exchanges = [0]
    request = client.request

    def counted(frames):
        exchanges[0] += 1 if isinstance(frames, (bytes, bytearray)) else len(frames)
        return request(frames)

    client.request = counted
    try:
        client.connect()
        registers, clock, profile = gurux_objects()
        for obis, class_id, obj in registers:
            if class_id == M.REGISTER:
                client.read(obj, 3)
            value = client.read(obj, 2)
            if obis == "0.0.96.1.0.255":
                text = value.decode("ascii", "replace") if isinstance(value, (bytes, bytearray)) else str(value)
                if text != serial:
                    raise RuntimeError("gurux: port %d says serial %r, not %r" % (port, text, serial))
        client.read(clock, 2)
        end = clock.time.value
        client.read(profile, 3)
        rows = client.rows_by_range(profile, end - datetime.timedelta(days=1), end)
    finally:
        client.close()
    exchanges[0] += 1  # the release
    return len(rows), exchanges[0]


def gurux_association_view_s(port: int) -> float:
    """Seconds to read the association view (the object list) once, for information."""
    from tests.host.dlms_peers import Gurux

    client = Gurux(port).connect()
    try:
        start = time.perf_counter()
        client.objects()
        return time.perf_counter() - start
    finally:
        client.close()


def gurux(ports: list, seconds: float):
    """Meters read one after another until `seconds` have passed (or all are read): (meters, seconds, ...)."""
    rows_seen = []
    exchanges = 0
    start = time.perf_counter()
    for n, port in enumerate(ports):
        rows, exchanges = gurux_meter(port, "OPS%08d" % (n + 1))
        if rows < MIN_ROWS:
            raise RuntimeError("gurux: meter %d: %d rows of %s by range, not >= %d" % (n, rows, QUARTER, MIN_ROWS))
        rows_seen.append(rows)
        if time.perf_counter() - start >= seconds:
            break
    return len(rows_seen), time.perf_counter() - start, min(rows_seen), exchanges


# --- the bench ----------------------------------------------------------------------------

def measure(count: int, latency_ms: int, concurrency: int, gurux_seconds: float, folder: str) -> dict:
    """Both sides on one fleet; the figures, and the problems found (empty when every read was right)."""
    print("fleet: %d meters, a day of history, %d ms latency on every reply ..." % (count, latency_ms))
    sys.stdout.flush()
    inventory_path = os.path.join(folder, "inventory-%d-%d.csv" % (count, latency_ms))
    process, ports, started_s = start_fleet(count, latency_ms, folder, inventory_path)
    try:
        print("  listening after %.1f s (opsm sim fleet: building the meters and their day)" % started_s)
        meters = inventory.load(inventory_path)
        ours_exchanges = exchanges_per_meter(meters[0])  # also warms up imports and the first connection
        gurux_meter(ports[0], meters[0].serial)          # the same warm-up for gurux

        print("ours: host/harvest.py, concurrency %d, into a fresh SQLite file ..." % concurrency)
        sys.stdout.flush()
        db_path = os.path.join(folder, "harvest-%d-%d.db" % (count, latency_ms))
        clock = CpuClock(process.pid)
        ours_s, problems, rows, retried, harvested = ours(inventory_path, db_path, concurrency)
        ours_rate = harvested / ours_s
        print("  %d meters in %.2f s: %.1f meters/s; %d exchanges per meter; 15-minute rows per meter %d..%d; "
              "%d meters needed a retry" % (harvested, ours_s, ours_rate, ours_exchanges, min(rows), max(rows),
                                            retried))
        print("  " + clock.text(harvested))
        for problem in problems[:10]:
            print("  PROBLEM " + problem)
        if len(problems) > 10:
            print("  ... and %d more problems" % (len(problems) - 10))

        print("gurux: GXDLMSClient, one meter after another, sample of up to %.0f s ..." % gurux_seconds)
        sys.stdout.flush()
        clock = CpuClock(process.pid)
        sampled, gurux_s, fewest, gurux_exchanges = gurux(ports, gurux_seconds)
        gurux_rate = sampled / gurux_s
        gurux_cpu = clock.text(sampled)
        view_s = gurux_association_view_s(ports[0])
    finally:
        stop_fleet(process)
    how = "all %d meters" % count if sampled == count else \
        "extrapolated from the first %d of %d meters" % (sampled, count)
    print("  %d meters in %.2f s: %.2f meters/s (%s); %d exchanges per meter; >= %d rows by range each"
          % (sampled, gurux_s, gurux_rate, how, gurux_exchanges, fewest))
    print("  " + gurux_cpu)
    print("  for information: reading the association view would add %.0f ms per meter (not included)"
          % (view_s * 1000))
    print("  sequential gurux for all %d meters: ~%.0f s; ours: %.1f s" % (count, count / gurux_rate, ours_s))
    return {"ours": ours_rate, "gurux": gurux_rate, "ratio": ours_rate / gurux_rate, "problems": problems,
            "gurux_how": how}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=1000, help="meters in the fleet (1..20000)")
    parser.add_argument("--latency-ms", type=int, default=20, help="held back before every reply of a meter")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY, help="meters in flight in our harvester")
    parser.add_argument("--gurux-seconds", type=float, default=30.0, help="how long to time gurux's sample")
    parser.add_argument("--cpu-only-count", type=int, default=CPU_ONLY_COUNT,
                        help="with a latency: meters of a second fleet at 0 ms, for information (0: none)")
    args = parser.parse_args()
    if not 1 <= args.count <= 20000:
        parser.error("--count: 1..20000 (opsm sim fleet)")
    start = time.perf_counter()
    cpu_only = None
    with tempfile.TemporaryDirectory(prefix="bench-harvest-") as folder:
        result = measure(args.count, args.latency_ms, args.concurrency, args.gurux_seconds, folder)
        if args.latency_ms and args.cpu_only_count:
            print()
            print("for information, the same at 0 ms latency (CPU only), on a smaller fleet:")
            cpu_only = measure(min(args.count, args.cpu_only_count), 0, args.concurrency, args.gurux_seconds, folder)
    ok = result["ratio"] >= TARGET_RATIO and not result["problems"]
    print()
    print("%d meters (association, registers, clock, a day of 15-minute profile); %d ms latency per reply"
          % (args.count, args.latency_ms))
    print("  ours   %8.2f meters/s  (host/harvest.py, concurrency %d, into SQLite)" % (result["ours"], args.concurrency))
    print("  gurux  %8.2f meters/s  (gurux-dlms, sequential: %s)" % (result["gurux"], result["gurux_how"]))
    print("  ours / gurux: %.1f  (target >= %.0f: %s)" % (result["ratio"], TARGET_RATIO,
                                                         "met" if result["ratio"] >= TARGET_RATIO else "MISSED"))
    if result["problems"]:
        print("  %d meters were not read right (see PROBLEM lines)" % len(result["problems"]))
    if args.latency_ms:
        print("  latency: a WAN, cellular or VPN round trip to a meter is tens of ms or more, and a head-end mostly "
              "waits on it;")
        print("  at 0 ms both sides only spend CPU, on %d cores shared with the simulated fleet (one process)."
              % os.cpu_count())
    else:
        print("  no latency: both sides only spend CPU, on %d cores shared with the simulated fleet (one process);"
              % os.cpu_count())
        print("  the fleet's CPU per meter bounds ours, so 10x is out of reach here: the target is for a real link "
              "(default --latency-ms 20)")
    if cpu_only is not None:
        print("  information, 0 ms, %d meters: ours %.2f meters/s, gurux %.2f meters/s, ours / gurux %.1f%s"
              % (min(args.count, args.cpu_only_count), cpu_only["ours"], cpu_only["gurux"], cpu_only["ratio"],
                 "" if not cpu_only["problems"] else "; %d meters NOT read right" % len(cpu_only["problems"])))
        ok = ok and not cpu_only["problems"]
    print("total runtime %.1f s" % (time.perf_counter() - start))
    print("verdict: %s" % ("within target" if ok else "OUTSIDE TARGET"))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
