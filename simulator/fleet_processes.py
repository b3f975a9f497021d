"""`opsm sim fleet`: thousands of meters over several processes and several sites.

One event loop serves a few thousand meters: past that its open files and its CPU (building each
meter's history, then the virtual clock) run out, so a big fleet is served by child processes, each
building and serving a contiguous slice of the meters. Meter n is the same whichever process serves
it (serial OPS%08d of n + 1, system seed n + 1, serve.fleet()). The parent gathers the children's
ports over a pipe and reports them as one mapping, in meter order, as one process would.

Sites are contiguous blocks of meters, each on its own loopback address (127.0.0.1, 127.0.0.2...:
Linux routes all of 127.0.0.0/8 to lo), its meters on consecutive ports from the base port: a NAT/PAT
plan, one address per site, so a head-end can shard its inventory by site. The same port repeats
across sites, as it does behind real NAT addresses.
"""

import asyncio
import ctypes
import multiprocessing
import multiprocessing.connection
import os
import resource
import signal
import tempfile
import time

from opsm.simulator.serve import PROTOCOLS, MeterPorts, fleet

MAX_METERS = 20000     # twice the 10 000 measured; past that, memory and ports need a second machine
PER_PROCESS = 2500     # meters a process serves by default (4 protocols: 10 000 sockets, half the hard limit)
MAX_PROCESSES = 64
MAX_SITES = 254        # 127.0.0.1 .. 127.0.0.254
SHARED_MEMORY = "/dev/shm"
FLASH_BYTES_PER_METER = 96 * 1024  # in 4 KB pages: a day of history takes 24 KB, the longest profiles ~70 KB
INVENTORY_PROTOCOLS = {"dlms": "dlms-tcp", "hdlc": "dlms-hdlc-tcp", "modbus": "modbus-tcp"}
INVENTORY_HEADER = "device_id,serial,host,port,protocol,client,credentials,timezone\n"


class FleetError(RuntimeError):
    """A process of the fleet failed or ended: the fleet stops."""


class Plan:
    """Which site, address, port and process each meter of a fleet gets; every bad option named."""

    def __init__(self, count: int, protocols: list, base_port: int, sites: int = 1, processes: int = 0):
        if not 1 <= count <= MAX_METERS:
            raise ValueError("--count: must be 1..%d meters, got %d" % (MAX_METERS, count))
        if not protocols or any(p not in PROTOCOLS for p in protocols):
            raise ValueError("--protocol: must be one or more of %s, got %r" % (", ".join(PROTOCOLS),
                                                                             ",".join(protocols)))
        if not 1 <= sites <= min(count, MAX_SITES):
            raise ValueError("--sites: must be 1..%d (at most one a meter, and %d), got %d"
                             % (min(count, MAX_SITES), MAX_SITES, sites))
        processes = processes or -(-count // PER_PROCESS)
        if not 1 <= processes <= min(count, MAX_PROCESSES):
            raise ValueError("--processes: must be 1..%d (at most one a meter, and %d), got %d"
                             % (min(count, MAX_PROCESSES), MAX_PROCESSES, processes))
        self.count, self.protocols, self.base_port, self.sites, self.processes = (count, protocols, base_port,
                                                                                   sites, processes)
        self.block = -(-count // sites)  # ports a protocol takes at a site: the largest site's meters
        last = base_port + len(protocols) * self.block - 1
        if base_port and not (1 <= base_port and last <= 65535):
            raise ValueError("--base-port: must be 0 (any free ports), or leave %d ports per site below 65536 "
                             "(%d protocols x %d meters), got %d" % (len(protocols) * self.block, len(protocols),
                                                                    self.block, base_port))
        hard = resource.getrlimit(resource.RLIMIT_NOFILE)[1]
        wanted = open_files_wanted(-(-count // processes), len(protocols))
        if hard != resource.RLIM_INFINITY and wanted > hard:
            raise ValueError("--processes: %d meters a process need %d open files, over this machine's limit of "
                             "%d (ulimit -Hn): use more processes" % (-(-count // processes), wanted, hard))

    def site(self, n: int) -> int:
        """Balanced contiguous blocks: site s holds meters ceil(s * count / sites) on."""
        return n * self.sites // self.count

    def site_start(self, site: int) -> int:
        return -(-site * self.count // self.sites)

    def host(self, n: int) -> str:
        return "127.0.0.%d" % (1 + self.site(n))

    def slices(self) -> list:
        """(first, end) of each process's meters."""
        return [(p * self.count // self.processes, (p + 1) * self.count // self.processes)
                for p in range(self.processes)]

    def groups(self, first: int, end: int) -> list:
        """Meters first..end - 1 cut at site boundaries: (first, end, host, {protocol: base port})."""
        out = []
        n = first
        while n < end:
            site = self.site(n)
            stop = min(end, self.site_start(site + 1))
            offset = n - self.site_start(site)
            bases = {p: (self.base_port + k * self.block + offset if self.base_port else 0)
                     for k, p in enumerate(self.protocols)}
            out.append((n, stop, self.host(n), bases))
            n = stop
        return out


class _SiteMeters(MeterPorts):
    """One site's meters from meter `first` of the fleet: faults and trace files go by the fleet's meter number."""

    def __init__(self, first: int, runs, speed: float, **options):
        super().__init__(runs, speed, **options)
        self.first = first

    def _open(self, n: int, protocol: str, reader, writer):
        return super()._open(self.first + n, protocol, reader, writer)


def open_files_wanted(meters: int, protocols: int) -> int:
    """A listening socket a protocol per meter, room for connections, and the interpreter's own."""
    return meters * (protocols + 2) + 256


def _open_files(wanted: int) -> None:
    """Raise this process's soft limit of open files toward the hard one (each process has its own)."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < wanted:
        resource.setrlimit(resource.RLIMIT_NOFILE, (min(wanted, hard) if hard != resource.RLIM_INFINITY else wanted,
                                                    hard))


def _flash_dir(meters: int) -> str | None:
    """RAM (/dev/shm) for the meters' flash files when it has room for them, else the temporary folder: a meter
    opens its files ~35 times to boot, and on this machine's disk that was most of a start (CPU a meter: 2.8 ms
    against 1.0 in RAM; with a day of history 40 ms against 25)."""
    try:
        room = os.statvfs(SHARED_MEMORY)
    except OSError:
        return None
    if room.f_bavail * room.f_frsize < meters * FLASH_BYTES_PER_METER or not os.access(SHARED_MEMORY, os.W_OK):
        return None
    return SHARED_MEMORY


def _joined(parts: list) -> dict:
    """Slices' {protocol: ports, "hosts": addresses}, in meter order, as one."""
    out: dict = {}
    for part in parts:
        for name, values in part.items():
            out.setdefault(name, []).extend(values)
    return out


def serve_slice(plan: Plan, first: int, end: int, folder: str, speed: float, history_ms: int, report,
                **options) -> None:
    """Build meters first..end - 1 (their flash in folder) and serve them in this process until interrupted;
    report({protocol: ports, "hosts": addresses}) once they all listen."""
    _open_files(open_files_wanted(end - first, len(plan.protocols)))
    runs = fleet(end - first, folder, history_ms, first)
    try:
        asyncio.run(_serve_groups(plan, first, end, runs, speed, report, options))
    except asyncio.CancelledError:
        pass  # SIGTERM: every meter stopped serving


async def _serve_groups(plan: Plan, first: int, end: int, runs: list, speed: float, report, options: dict) -> None:
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGTERM, asyncio.current_task().cancel)  # every task stopped, not one at random
    serving, listening = [], []
    for lo, hi, host, bases in plan.groups(first, end):
        meters = _SiteMeters(lo, runs[lo - first:hi - first], speed, **options)
        ports = loop.create_future()
        listening.append((ports, host, hi - lo))
        serving.append(meters.serve(bases, host, started=ports.set_result))

    async def reported() -> None:
        parts = []
        for ports, host, meters in listening:
            parts.append(dict(await ports, hosts=[host] * meters))
        report(_joined(parts))

    await asyncio.gather(reported(), *serving)  # a site that fails to listen ends them all, with its error


def _die_with_parent() -> None:
    """A child ends when the parent does, even killed (Linux's PR_SET_PDEATHSIG): no orphan keeps the ports."""
    ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)


def _child(pipe, parent: int, plan: Plan, first: int, end: int, folder: str, speed: float, history_ms: int,
           options: dict) -> None:
    _die_with_parent()
    if os.getppid() != parent:
        return  # the parent ended before the line above
    try:
        serve_slice(plan, first, end, folder, speed, history_ms, lambda ports: pipe.send(("ports", ports)), **options)
    except KeyboardInterrupt:
        pass
    except Exception as exc:  # the parent names the meters and stops the fleet
        pipe.send(("error", "%s: %s" % (type(exc).__name__, exc)))
        raise SystemExit(1)


def _interrupted(signum, frame):
    raise KeyboardInterrupt  # SIGTERM while meters are built, or in the parent: as Ctrl-C, children stopped


def _rss_bytes(pid: int) -> int:
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def write_inventory(path: str, mapping: dict) -> None:
    """The served meters as a host/inventory.py CSV (device_id M00000.., public client 16, UTC), through the first
    protocol a harvester reads; written whole and then renamed, so a reader never sees half of it."""
    protocol = next(p for p in mapping if p in INVENTORY_PROTOCOLS)
    rows = [INVENTORY_HEADER]
    for n, (host, port) in enumerate(zip(mapping["hosts"], mapping[protocol])):
        rows.append("M%05d,OPS%08d,%s,%d,%s,16,,UTC\n" % (n, n + 1, host, port, INVENTORY_PROTOCOLS[protocol]))
    partial = path + ".partial"
    with open(partial, "w") as f:
        f.writelines(rows)
    os.replace(partial, path)


def run_fleet(plan: Plan, speed: float, started=None, history_ms: int = 0, inventory: str | None = None,
              stats: bool = False, **options) -> None:
    """Serve the plan's meters until interrupted (Ctrl-C or SIGTERM); started(mapping) once every meter listens.

    mapping: {protocol: ports in meter order, "hosts": each meter's address}, and with stats "start_s" (seconds
    until every meter listened), "rss_bytes" (resident memory of the fleet's processes, VmRSS) and
    "rss_bytes_per_meter". inventory: write the meters there (write_inventory) before started() is called.
    Raises FleetError when a child process fails or ends."""
    if inventory and not any(p in INVENTORY_PROTOCOLS for p in plan.protocols):
        raise ValueError("--inventory: needs dlms, hdlc or modbus in --protocol (a harvester reads those)")
    count = plan.count
    start = time.perf_counter()

    def listening(mapping: dict, pids: list) -> None:
        if inventory:
            write_inventory(inventory, mapping)
        if stats:
            rss = sum(_rss_bytes(pid) for pid in pids)
            mapping.update(start_s=round(time.perf_counter() - start, 2), rss_bytes=rss,
                           rss_bytes_per_meter=rss // count)
        if started is not None:
            started(mapping)

    previous = signal.signal(signal.SIGTERM, _interrupted)
    try:  # the parent removes every meter's flash, also of a child that was killed
        with tempfile.TemporaryDirectory(prefix="opsm-fleet-", dir=_flash_dir(count)) as folder:
            if plan.processes == 1:
                serve_slice(plan, 0, count, folder, speed, history_ms,
                            lambda mapping: listening(mapping, [os.getpid()]), **options)
            else:
                _run_children(plan, folder, speed, history_ms, listening, options)
    finally:
        signal.signal(signal.SIGTERM, previous)


def _run_children(plan: Plan, folder: str, speed: float, history_ms: int, listening, options: dict) -> None:
    """Fork a child per slice, gather their ports, then wait: the first child to end stops the fleet."""
    context = multiprocessing.get_context("fork")  # the children share the parent's imported code
    children = []
    try:
        for first, end in plan.slices():
            receive, send = context.Pipe(duplex=False)
            child = context.Process(target=_child, name="fleet meters %d..%d" % (first, end - 1),
                                    args=(send, os.getpid(), plan, first, end, folder, speed, history_ms, options))
            child.start()
            send.close()  # the child holds the only sending end: its exit reads as EOF here
            children.append((child, receive, first, end))
        parts: dict = {}
        while len(parts) < len(children):
            for ready in multiprocessing.connection.wait([c[1] for c in children if c[1] not in parts]):
                child, _, first, end = next(c for c in children if c[1] is ready)
                try:
                    kind, value = ready.recv()
                except EOFError:
                    child.join()
                    raise FleetError("meters %d..%d: their process ended (exit code %s) before they listened"
                                     % (first, end - 1, child.exitcode)) from None
                if kind == "error":
                    raise FleetError("meters %d..%d: %s" % (first, end - 1, value))
                parts[ready] = value
        listening(_joined([parts[c[1]] for c in children]), [os.getpid()] + [c[0].pid for c in children])
        ended = multiprocessing.connection.wait([c[0].sentinel for c in children])
        child, _, first, end = next(c for c in children if c[0].sentinel in ended)
        child.join()
        raise FleetError("meters %d..%d: their process ended (exit code %s); the fleet stops"
                         % (first, end - 1, child.exitcode))
    finally:
        for child, _, _, _ in children:
            if child.is_alive():
                child.terminate()
        for child, receive, _, _ in children:
            child.join(30)
            if child.is_alive():
                child.kill()
                child.join()
            receive.close()
