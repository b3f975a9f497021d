"""`opsm sim fleet` over several processes and sites: the plan of serials and addresses, its inventory, stopping."""

import asyncio
import json
import os
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from opsm.host import dlms as D
from opsm.host import harvest, inventory, store
from opsm.host.cli import cli
from opsm.protocol import registers as M
from opsm.simulator.fleet_processes import Plan
from opsm.simulator.serve import fleet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _start(*args):
    """A fleet in a subprocess; (process, its JSON line)."""
    process = subprocess.Popen([sys.executable, "-m", "opsm", "sim", "fleet", "--base-port", "0", "--speed", "0",
                                *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, cwd=ROOT,
                               env=dict(os.environ, PYTHONUNBUFFERED="1"))
    line = process.stdout.readline()
    assert line, process.stderr.read()
    return process, json.loads(line)


def _children(pid: int) -> list:
    out = []
    for name in os.listdir("/proc"):
        try:
            with open("/proc/%s/stat" % name) as f:
                if name.isdigit() and int(f.read().rsplit(")", 1)[1].split()[1]) == pid:
                    out.append(int(name))
        except (OSError, ValueError):
            pass  # a process gone meanwhile, or not a process
    return out


def _gone(pids: list, seconds: float = 10) -> bool:
    deadline = time.monotonic() + seconds
    while any(os.path.exists("/proc/%d" % pid) for pid in pids):
        if time.monotonic() > deadline:
            return False
        time.sleep(0.05)
    return True


def _listening(port: int) -> set:
    """The addresses with a socket listening on this TCP port (/proc/net/tcp: little-endian hex address)."""
    with open("/proc/net/tcp") as f:
        rows = [line.split() for line in f.readlines()[1:]]
    return {".".join(str(b) for b in reversed(bytes.fromhex(address))) for address, hex_port, state in
            ((row[1].split(":")[0], row[1].split(":")[1], row[3]) for row in rows)
            if state == "0A" and int(hex_port, 16) == port}


def _stop(process) -> None:
    if process.poll() is None:
        process.terminate()
        process.wait(30)


def test_two_processes_two_sites_serve_the_meters_of_the_plan(tmp_path):
    path = str(tmp_path / "fleet.csv")
    process, mapping = _start("--count", "6", "--processes", "2", "--sites", "2", "--protocol", "dlms,hdlc",
                              "--inventory", path, "--stats")
    try:
        assert len(_children(process.pid)) == 2
        assert mapping["hosts"] == ["127.0.0.1"] * 3 + ["127.0.0.2"] * 3
        assert len(mapping["dlms"]) == len(mapping["hdlc"]) == 6
        assert mapping["rss_bytes_per_meter"] == mapping["rss_bytes"] // 6 and mapping["rss_bytes"] > 3 * 10 ** 7
        # meter 2 ends the first process's slice, meter 3 starts the second process and the second site
        for n in (2, 3, 5):
            link, client = D.open_session(mapping["hosts"][n], mapping["hdlc"][n], framing="hdlc", timeout=5)
            assert client.get(M.DATA, "0.0.96.1.0.255", 2) == b"OPS%08d" % (n + 1)
            client.release()
            link.close()
        listening = _listening(mapping["dlms"][3])  # another process may hold the same port on another address
        assert "127.0.0.2" in listening and "0.0.0.0" not in listening  # meter 3: on its site's address only

        meters = inventory.load(path)
        assert [(m.device_id, m.serial, m.host, m.port, m.protocol) for m in meters] == [
            ("M%05d" % n, "OPS%08d" % (n + 1), mapping["hosts"][n], mapping["dlms"][n], "dlms-tcp") for n in range(6)]
        db = store.Store.open(str(tmp_path / "h.db"))
        results = asyncio.run(harvest.harvest(meters, db, timeout=5, retries=0))
        db.close()
        assert all(r.ok for r in results.values()), {k: r.error for k, r in results.items()}  # serials checked too
        assert len(results) == 6
    finally:
        _stop(process)


def test_sigterm_on_the_parent_stops_every_child():
    process, mapping = _start("--count", "3", "--processes", "3")
    children = _children(process.pid)
    assert len(children) == 3 and len(mapping["dlms"]) == 3
    process.send_signal(signal.SIGTERM)
    assert process.wait(30) == 0
    assert _gone(children)
    assert process.stderr.read() == ""


def test_a_child_that_dies_stops_the_fleet_with_an_error():
    process, _ = _start("--count", "4", "--processes", "2")
    try:
        first, second = sorted(_children(process.pid))
        os.kill(second, signal.SIGKILL)
        assert process.wait(30) == 1
        assert "meters 2..3: their process ended (exit code -9)" in process.stderr.read()
        assert _gone([first])
    finally:
        _stop(process)


@pytest.mark.parametrize("args, message", [
    (["--count", "0"], "--count: must be 1..20000 meters, got 0"),
    (["--count", "-5"], "--count: must be 1..20000 meters, got -5"),
    (["--count", "1000000000"], "--count: must be 1..20000"),
    (["--count", "4", "--processes", "-1"], "--processes: must be 1..4"),
    (["--count", "4", "--processes", "5"], "--processes: must be 1..4"),
    (["--count", "4", "--sites", "0"], "--sites: must be 1..4"),
    (["--count", "1000", "--sites", "300"], "--sites: must be 1..254"),
    (["--count", "10", "--base-port", "65530"], "--base-port: must be 0 (any free ports), or leave 10 ports"),
    (["--count", "10", "--protocol", "iec21", "--inventory", "x.csv"], "--inventory: needs dlms, hdlc or modbus"),
])
def test_bad_options_are_refused_naming_the_option(args, message):
    result = CliRunner().invoke(cli, ["sim", "fleet", *args])
    assert result.exit_code == 1 and message in result.output, result.output


def test_the_plan_cuts_sites_and_slices_into_blocks():
    plan = Plan(10, ["dlms", "hdlc"], 7001, sites=3, processes=2)
    assert [plan.host(n) for n in range(10)] == ["127.0.0.1"] * 4 + ["127.0.0.2"] * 3 + ["127.0.0.3"] * 3
    assert plan.slices() == [(0, 5), (5, 10)]
    # each site's first meter on the base port, each protocol a block of the largest site's size (4)
    assert plan.groups(0, 5) == [(0, 4, "127.0.0.1", {"dlms": 7001, "hdlc": 7005}),
                                 (4, 5, "127.0.0.2", {"dlms": 7001, "hdlc": 7005})]
    assert plan.groups(5, 10) == [(5, 7, "127.0.0.2", {"dlms": 7002, "hdlc": 7006}),
                                  (7, 10, "127.0.0.3", {"dlms": 7001, "hdlc": 7005})]
    assert Plan(10000, ["dlms"], 0).processes == 4  # one process per 2500 meters by default
    assert Plan(30, ["dlms"], 0).processes == 1


def test_a_slice_builds_the_same_meters_as_the_whole_fleet(tmp_path):
    whole = fleet(3, str(tmp_path / "whole"))
    [third] = fleet(1, str(tmp_path / "slice"), first=2)
    assert third.meter.settings.get("serial") == whole[2].meter.settings.get("serial") == "OPS00000003"
    assert third.home.state == whole[2].home.state != whole[1].home.state  # the solar home seeded by number
