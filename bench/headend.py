"""The head-end on a 10 000-meter fleet: one `opsm harvest` process against 1 and 2 Celery workers
(`opsm headend worker`), in the same run, on the same fleet, each into a fresh PostgreSQL database.

The fleet is `opsm sim fleet --count N --sites S --base-port 0 --history H --speed 0 --faults
latency=L --stats --inventory F` (the real firmware on the virtual board per meter, one loopback
address per site, several fleet processes), every reply held back L ms (default 20) as on a
WAN/VPN link. A Redis (the broker) and a PostgreSQL (the store) are started from Debian's packages
for the run (tests/services.py).

Measured, each timed from the command's start to the last meter stored:
  single   `opsm harvest --inventory F --db URL --concurrency C` in one process.
  workers  K `opsm headend worker --concurrency C` processes (K = 1, then 2), started and ready
           first; `opsm headend submit --inventory F --shards 8 --wait` (shards by site).
For each: meters per second, and CPU per meter of the head-end side (the harvest process, or the
workers, from /proc and wait4), of PostgreSQL (its server processes) and of the simulated meters
(the fleet's processes, from /proc).
The fleet's resident memory per meter and its start time are printed from its --stats.
Printed ratios: workers / single in meters per second. On this 2-core machine the fleet shares
the cores with the head-end, so the ratio says how much of the work parallelises here, not what
more machines give; README's "Beyond one machine" reads it.

    .venv/bin/python -m bench.headend [--count 10000] [--sites 40] [--shards 8] [--latency-ms 20] [--history 6h]
Exit status 1 if a meter is not read in any of the three runs.
"""

import argparse
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from bench.harvest import cpu_s, stop_fleet
from tests import services

CONCURRENCY = 100
SHARDS = 8        # a few per worker: each shard ends with a tail of fewer than --concurrency meters in flight
FLEET_START_S = 1800


def _family(pid: int) -> list:
    """The process and its descendants, from /proc."""
    out, todo = [], [pid]
    while todo:
        current = todo.pop()
        out.append(current)
        try:
            with open("/proc/%d/task/%d/children" % (current, current)) as f:
                todo.extend(int(child) for child in f.read().split())
        except OSError:
            pass
    return out


def cpu_of(pids: list) -> float:
    return sum(cpu_s(pid) or 0.0 for pid in pids)


def database_cpu() -> float:
    """CPU seconds of the PostgreSQL server processes on the machine (the bench's own server is the only one),
    with their children that ended (a connection's backend ends with it: its time goes to the postmaster)."""
    total = 0.0
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                with open("/proc/%s/comm" % name) as f:
                    if f.read().strip() != "postgres":
                        continue
                with open("/proc/%s/stat" % name) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            total += sum(int(v) for v in fields[11:15]) / os.sysconf("SC_CLK_TCK")  # utime stime cutime cstime
    return total


def start_fleet(args, folder: str):
    command = [sys.executable, "-m", "opsm", "sim", "fleet", "--count", str(args.count), "--sites", str(args.sites),
               "--base-port", "0", "--history", args.history, "--speed", "0", "--stats",
               "--inventory", os.path.join(folder, "inventory.csv")]
    if args.latency_ms:
        command += ["--faults", "latency=%d" % args.latency_ms]
    errors = open(os.path.join(folder, "fleet.stderr"), "w+")
    process = subprocess.Popen(command, cwd=ROOT, stdout=subprocess.PIPE, stderr=errors, text=True)
    line = process.stdout.readline()  # the JSON line comes once every meter listens
    if not line:
        errors.seek(0)
        raise RuntimeError("the fleet did not start:\n" + errors.read()[-2000:])
    return process, json.loads(line)


def run_single(args, inventory_path: str, db: str, fleet_pids: list) -> dict:
    fleet_before, database_before = cpu_of(fleet_pids), database_cpu()
    start = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "opsm", "harvest", "--inventory", inventory_path, "--db", db,
                                "--concurrency", str(args.concurrency), "--json"], cwd=ROOT, stdout=subprocess.PIPE,
                               text=True)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - start
    summary = json.loads(output.splitlines()[-1])
    return {"seconds": seconds, "read": summary["read"], "client_cpu_s": usage.ru_utime + usage.ru_stime,
            "fleet_cpu_s": cpu_of(fleet_pids) - fleet_before, "database_cpu_s": database_cpu() - database_before}


def run_workers(args, inventory_path: str, db: str, broker: str, workers: int, fleet_pids: list,
                folder: str) -> dict:
    logs = [os.path.join(folder, "worker%d-%d.log" % (workers, k)) for k in range(workers)]
    processes = [subprocess.Popen([sys.executable, "-m", "opsm", "headend", "worker", "--broker", broker, "--db", db,
                                   "--concurrency", str(args.concurrency), "--name", "bench%d-%d" % (workers, k)],
                                  cwd=ROOT, stdout=subprocess.DEVNULL, stderr=open(log, "w"))
                 for k, log in enumerate(logs)]
    try:
        for process, log in zip(processes, logs):
            while "ready." not in open(log).read():
                if process.poll() is not None:
                    raise RuntimeError("a worker did not start:\n" + open(log).read()[-2000:])
                time.sleep(0.2)
        pids = [pid for process in processes for pid in _family(process.pid)]
        workers_before, fleet_before, database_before = cpu_of(pids), cpu_of(fleet_pids), database_cpu()
        start = time.perf_counter()
        submitted = subprocess.run([sys.executable, "-m", "opsm", "headend", "submit", "--inventory", inventory_path,
                                    "--shards", str(args.shards), "--broker", broker, "--db", db, "--wait",
                                    "--json"], cwd=ROOT, capture_output=True, text=True)
        seconds = time.perf_counter() - start
        summary = json.loads(submitted.stdout.splitlines()[-1])
        return {"seconds": seconds, "read": summary["read"], "client_cpu_s": cpu_of(pids) - workers_before,
                "fleet_cpu_s": cpu_of(fleet_pids) - fleet_before, "database_cpu_s": database_cpu() - database_before}
    finally:
        for process in processes:
            process.send_signal(signal.SIGTERM)
        for process in processes:
            try:
                process.wait(60)
            except subprocess.TimeoutExpired:
                process.kill()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10000)
    parser.add_argument("--sites", type=int, default=40)
    parser.add_argument("--latency-ms", type=int, default=20)
    parser.add_argument("--history", default="6h")
    parser.add_argument("--concurrency", type=int, default=CONCURRENCY)
    parser.add_argument("--shards", type=int, default=SHARDS)
    args = parser.parse_args()
    failed = False
    with tempfile.TemporaryDirectory() as folder, services.postgres() as server, services.redis() as broker:
        fleet, started = start_fleet(args, folder)
        try:
            fleet_pids = _family(fleet.pid)
            print("fleet: %d meters on %d sites in %d processes, started in %.1f s, %.0f KB resident per meter"
                  % (args.count, args.sites, len(fleet_pids) - 1 or 1, started.get("start_s", 0),
                     started.get("rss_bytes_per_meter", 0) / 1024))
            inventory_path = os.path.join(folder, "inventory.csv")
            runs = {"single process": run_single(args, inventory_path, services.new_database(server, "single"),
                                                 fleet_pids)}
            for workers in (1, 2):
                db = services.new_database(server, "workers%d" % workers)
                runs["%d worker%s" % (workers, "s" if workers > 1 else "")] = run_workers(
                    args, inventory_path, db, broker, workers, fleet_pids, folder)
        finally:
            stop_fleet(fleet)
    base = args.count / runs["single process"]["seconds"]
    for name, run in runs.items():
        rate = args.count / run["seconds"]
        print("%-15s %6d of %d meters in %7.1f s: %6.1f meters/s (%.2fx single); CPU per meter: head-end %.1f ms, "
              "PostgreSQL %.1f ms, simulated meters %.1f ms"
              % (name, run["read"], args.count, run["seconds"], rate, rate / base,
                 run["client_cpu_s"] * 1000 / args.count, run["database_cpu_s"] * 1000 / args.count,
                 run["fleet_cpu_s"] * 1000 / args.count))
        failed |= run["read"] != args.count
    if failed:
        print("FAILED: a run did not read every meter")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
