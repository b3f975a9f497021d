"""The harvester against a simulated fleet: every protocol, faults on part of the fleet, resume, bad inventories."""

import asyncio
import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from opsm.host import harvest, inventory, store
from opsm.host.cli import cli
from opsm.simulator.serve import Faults, MeterPorts, fleet

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
HEADER = "device_id,serial,host,port,protocol,client,credentials,timezone\n"
COUNT = 24
QUARTER, HOURLY = "1.0.99.1.0.255", "1.0.99.2.0.255"


@pytest.fixture(scope="module")
def fleet_ports():
    """24 meters that lived a day; meter 3 hangs after its AARE, meter 4 drops mid-profile, meter 5's password
    is wrong in the inventory."""
    runs = fleet(COUNT, tempfile.mkdtemp(), 86400000)
    ports: dict = {}
    started = threading.Event()
    loop_box = []

    def main():
        async def go():
            loop_box.append(asyncio.get_running_loop())
            await MeterPorts(runs, speed=0, lls_password=b"s3cret-42",
                             faults={3: Faults(hang_after=1), 4: Faults(disconnect_after=20)}).serve(
                {"dlms": 0, "hdlc": 0, "modbus": 0}, started=lambda p: (ports.update(p), started.set()))
        asyncio.run(go())

    threading.Thread(target=main, daemon=True).start()
    assert started.wait(30)
    return runs, ports, loop_box[0]


def _inventory(folder, ports, rows=None):
    lines = [HEADER]
    protocols = ("dlms-tcp", "dlms-hdlc-tcp", "modbus-tcp")
    for n in rows if rows is not None else range(COUNT):
        protocol = "dlms-tcp" if n in (3, 4, 5) else protocols[n % 3]
        port = ports[{"dlms-tcp": "dlms", "dlms-hdlc-tcp": "hdlc", "modbus-tcp": "modbus"}[protocol]][n]
        client, secret = (17, "wrong" if n == 5 else "mgmt") if n % 2 else (16, "")
        lines.append("M%03d,OPS%08d,127.0.0.1,%d,%s,%d,%s,America/Guatemala\n" % (n, n + 1, port, protocol, client,
                                                                                 secret))
    with open(folder + "/inventory.csv", "w") as f:
        f.writelines(lines)
    with open(folder + "/credentials.toml", "w") as f:
        f.write('[mgmt]\npassword = "s3cret-42"\n[wrong]\npassword = "guess"\n')
    return folder + "/inventory.csv", folder + "/credentials.toml"


def _harvest(*args):
    result = CliRunner().invoke(cli, ["harvest", "--json", "--timeout", "1", "--retries", "1", *args])
    return result.exit_code, json.loads(result.output.splitlines()[-1]) if result.output.strip() else result.output


def test_a_fleet_harvest_with_faults_then_a_resume(fleet_ports):
    runs, ports, loop = fleet_ports
    folder = tempfile.mkdtemp()
    inventory_path, credentials = _inventory(folder, ports)
    db_path = folder + "/h.db"
    code, out = _harvest("--inventory", inventory_path, "--credentials", credentials, "--db", db_path)
    assert code == 2, out
    assert set(out["failures"]) == {"M003", "M004", "M005"}
    assert "no answer" in out["failures"]["M003"]["error"] and out["failures"]["M003"]["attempts"] == 2
    assert "closed" in out["failures"]["M004"]["error"]
    assert "diagnostic 13" in out["failures"]["M005"]["error"] and out["failures"]["M005"]["attempts"] == 1
    assert out["read"] == COUNT - 3 and all(abs(d) < 120 for d in out["clock_drift_s"].values())
    db = store.Store.open(db_path)
    dlms_ok = [n for n in range(COUNT) if n not in (3, 4, 5) and n % 3 != 2]
    for n in dlms_ok:
        profile = runs[n].meter.profiles[0]
        stored = db.query("SELECT captured_at, value FROM profile_values WHERE device_id = ? AND profile = ? AND "
                          "obis = '1.0.1.8.0.255' ORDER BY captured_at", ("M%03d" % n, QUARTER))
        assert [v for _, v in stored] == [profile.row(i)[1] for i in range(profile.entries)]
        assert stored[-1][0] - stored[0][0] == (profile.entries - 1) * 900
    # a failed meter leaves nothing half-written: no registers, no rows, only the reason
    assert db.query("SELECT COUNT(*) FROM profile_values WHERE device_id IN ('M003', 'M004', 'M005')") == [(0,)]
    assert db.query("SELECT COUNT(*) FROM register_values WHERE device_id = 'M004'") == [(0,)]
    modbus = db.query("SELECT value FROM register_values WHERE device_id = 'M002' AND obis = '0.0.19.10.0.255'")
    assert modbus == [(runs[2].meter.available_wh(),)]
    before = db.query("SELECT COUNT(*) FROM profile_values")[0][0]

    # an hour later: the second run stores exactly the new rows
    asyncio.run_coroutine_threadsafe(_advance(runs, 3600000), loop).result(60)
    inventory_path, _ = _inventory(folder, ports, [n for n in range(COUNT) if n not in (3, 4, 5)])
    code, out = _harvest("--inventory", inventory_path, "--credentials", credentials, "--db", db_path)
    assert code == 0 and out["failed"] == 0
    after = db.query("SELECT COUNT(*) FROM profile_values")[0][0]
    assert after - before == len(dlms_ok) * (4 * 3 + 1 * 5)  # four quarter rows of 3 values, one hourly of 5
    news = db.query("SELECT new_rows FROM readings WHERE harvest_id = 2 AND device_id = 'M000'")
    assert news[0][0] >= 5  # 4 + 1 profile rows, plus any events of the hour
    db.close()


async def _advance(runs, ms):
    for run in runs:
        run.advance(ms, 900000)


def test_inventory_errors_name_the_row_and_field(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text(HEADER + "M1,OPS1,127.0.0.1,70000,dlms-tcp,16,,America/Guatemala\n"
                             "M1,,127.0.0.1,4059,dlms-xyz,17,,Mars/Olympus\n"
                             "M3,OPS3,127.0.0.1,4059,dlms-tcp,1,nokeys,UTC\n")
    with pytest.raises(inventory.InventoryError) as bad:
        inventory.load(str(path))
    lines = str(bad.value).splitlines()
    assert any("row 2: port: must be a TCP port 1..65535, got '70000'" in line for line in lines)
    assert any("row 3: serial: must not be empty" in line for line in lines)
    assert any("row 3: protocol: must be one of" in line for line in lines)
    assert any("row 3: credentials: client 17 needs credentials" in line for line in lines)
    assert any("row 3: timezone: must be an IANA time zone" in line for line in lines)
    assert any("row 3: device_id: 'M1' is also on row 2" in line for line in lines)
    assert any("row 4: credentials: must name an entry" in line for line in lines)
    result = CliRunner().invoke(cli, ["harvest", "--inventory", str(path), "--db", str(tmp_path / "x.db")])
    assert result.exit_code == 1 and "row 3: serial" in result.output
    assert not (tmp_path / "x.db").exists()  # nothing written for a bad inventory
    toml = tmp_path / "inv.toml"
    toml.write_text('[[meter]]\ndevice_id = "A"\nserial = "OPS1"\nhost = "10.0.0.7"\nport = 7001\n'
                    'protocol = "modbus-tcp"\ntimezone = "America/Santiago"\n')
    [meter] = inventory.load(str(toml))
    assert (meter.host, meter.port, meter.protocol, meter.client, meter.timezone) == (
        "10.0.0.7", 7001, "modbus-tcp", 16, "America/Santiago")


def test_store_migrations_run_once_and_writes_are_idempotent(tmp_path):
    db = store.Store.open(str(tmp_path / "s.db"))
    assert db.version == len(store.MIGRATIONS)
    meter = inventory.Meter("M", "OPS1", "h", 1, "dlms-tcp", 16, {}, "UTC")
    reading = harvest.Reading()
    reading.ok = True
    reading.registers = {"1.0.1.8.0.255": 12.0}
    reading.profiles = [(QUARTER, ("1.0.1.8.0.255",), [(900, 1.0), (1800, 2.0)])]
    reading.events = [(900, 3)]
    harvest_id = db.begin_harvest(1)
    assert db.save(harvest_id, meter, reading) == 3
    reading.read_at += 1
    assert db.save(db.begin_harvest(1), meter, reading) == 0  # the same rows again: nothing new
    assert db.newest("M", QUARTER) == 1800 and db.newest("M", "events") == 900
    db.close()
    again = store.Store.open("sqlite:///" + str(tmp_path / "s.db"))
    assert again.query("SELECT COUNT(*) FROM schema_version") == [(len(store.MIGRATIONS),)]
    assert again.query("SELECT credit_wh FROM meter_status") == [(None,)]
    with pytest.raises(store.StoreError, match="--db"):
        store.Store.open("mysql://x")


def test_serial_meters_over_a_pty_pair(tmp_path):
    """The optical port of `opsm sim serve`: DLMS through mode E and an IEC 62056-21 readout."""
    proc = subprocess.Popen([sys.executable, "-m", "opsm", "sim", "serve", "--dlms-port", "0", "--iec21-pty",
                             "--speed", "0", "--scenario", "scenarios/recharge.toml"], stdout=subprocess.PIPE, text=True,
                            cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        pty = json.loads(proc.stdout.readline())["iec21_pty"]
        for protocol in ("dlms-hdlc-serial", "iec21-serial"):
            path = tmp_path / ("%s.csv" % protocol)
            path.write_text(HEADER + "S1,OPS00000001,%s,9600,%s,16,,UTC\n" % (pty, protocol))
            code, out = _harvest("--inventory", str(path), "--db", str(tmp_path / "serial.db"))
            assert code == 0, out
        db = store.Store.open(str(tmp_path / "serial.db"))
        assert db.query("SELECT ok FROM readings") == [(1,), (1,)]  # over DLMS, then over the mode C readout
        credit = db.query("SELECT DISTINCT value FROM register_values WHERE obis = '0.0.19.10.0.255'")
        assert credit == [(25600.0,)]
        assert db.query("SELECT COUNT(*) FROM events") != [(0,)]  # the event log came over DLMS
        db.close()
    finally:
        proc.terminate()
        proc.wait(10)


def test_postgresql_stores_the_same_harvest(fleet_ports, postgres):
    runs, ports, _ = fleet_ports
    folder = tempfile.mkdtemp()
    inventory_path, credentials = _inventory(folder, ports, [0, 1, 2, 6, 7, 8])
    code, out = _harvest("--inventory", inventory_path, "--credentials", credentials, "--db", postgres)
    assert code == 0, out
    code, out = _harvest("--inventory", inventory_path, "--credentials", credentials, "--db", postgres)
    assert code == 0
    db = store.Store.open(postgres)
    assert db.version == len(store.MIGRATIONS)
    rows = db.query("SELECT COUNT(*) FROM profile_values WHERE device_id = ? AND profile = ?", ("M000", QUARTER))
    assert rows == [(runs[0].meter.profiles[0].entries * 3,)]  # twice harvested, stored once
    assert db.query("SELECT SUM(new_rows) FROM readings GROUP BY harvest_id ORDER BY harvest_id")[1] == (0,)
    assert db.query("SELECT COUNT(*) FROM meter_status") == [(6,)]
    db.close()
    with pytest.raises(store.StoreError, match="cannot connect"):
        store.Store.open(postgres.rsplit(":", 1)[0] + ":1/postgres")


def test_harvested_profiles_export_to_smec(fleet_ports, tmp_path):
    """What the harvester stores is what the SMEC export needs: a generator's four channels, hour by hour,
    equal to the growth of the registers in the meter's own hourly and 15-minute profiles."""
    import xlrd

    from opsm.protocol import civil

    runs, ports, _ = fleet_ports
    inventory_path, credentials = _inventory(str(tmp_path), ports, [0])
    code, out = _harvest("--inventory", inventory_path, "--credentials", credentials, "--db", tmp_path / "h.db")
    assert code == 0, out
    hourly, quarter = runs[0].meter.profiles[1], runs[0].meter.profiles[0]
    rows = {r[0] + civil.UNIX_2000: r[1:] for r in (hourly.row(i) for i in range(hourly.entries))}
    minus_a = {r[0] + civil.UNIX_2000: r[2] for r in (quarter.row(i) for i in range(quarter.entries))}
    month = datetime.datetime.fromtimestamp(max(rows), ZoneInfo("America/Guatemala")).strftime("%Y-%m")
    (tmp_path / "channels.csv").write_text("channel,device_id,quantity,multiplier,participant\n" + "".join(
        "%d,M000,%s,1,generador\n" % (n, q) for n, q in enumerate(("KwhD", "KvarhD", "KwhR", "KvarhR"), 1)))
    result = CliRunner().invoke(cli, ["export", "smec", "--db", tmp_path / "h.db", "--month", month, "--channels",
                                      tmp_path / "channels.csv", "--out", tmp_path / "out", "--allow-incomplete"])
    assert result.exit_code == 0, result.output
    sheet = xlrd.open_workbook(str(tmp_path / "out" / ("SMEC-%s-01.xls" % month.replace("-", "")))).sheet_by_index(0)
    start = int(datetime.datetime.strptime(month, "%Y-%m").replace(tzinfo=ZoneInfo("America/Guatemala")).timestamp())
    checked = 0
    for hour in range(sheet.nrows - 1):
        t = start + 3600 * hour
        if t in rows and t + 3600 in rows:
            grown = [b - a for a, b in zip(rows[t], rows[t + 3600])]
            assert sheet.row_values(hour + 1)[:2] + sheet.row_values(hour + 1)[3:] == pytest.approx(
                [grown[0] / 1000, grown[1] / 1000, grown[2] / 1000])
            assert sheet.cell_value(hour + 1, 2) == pytest.approx((minus_a[t + 3600] - minus_a[t]) / 1000)
            checked += 1
        else:
            assert sheet.row_values(hour + 1) == [""] * 4  # an hour the meter did not cover stays empty
    assert checked >= 6  # the fleet lived a day; at least part of it falls in the month of its last capture


def test_progress_bar_on_a_terminal(fleet_ports, tmp_path):
    """On a terminal the harvest shows a progress bar (rich), counting meters up to the inventory's size;
    piped (every other test here) it shows none."""
    import pty
    import select
    import time

    runs, ports, _ = fleet_ports
    inventory_path, credentials = _inventory(str(tmp_path), ports, [0, 1, 2, 6, 7, 8])
    master, terminal = pty.openpty()
    proc = subprocess.Popen([sys.executable, "-m", "opsm", "harvest", "--inventory", inventory_path,
                             "--credentials", credentials, "--db", str(tmp_path / "h.db")], cwd=ROOT,
                            stdin=terminal, stdout=terminal, stderr=terminal, env=dict(os.environ, COLUMNS="100"))
    os.close(terminal)
    seen, deadline = b"", time.monotonic() + 60
    while time.monotonic() < deadline:
        if not select.select([master], [], [], 1)[0]:
            continue
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the terminal's far end closed: the harvest ended
            break
        if not chunk:
            break
        seen += chunk
    assert proc.wait(5) == 0
    os.close(master)
    text = seen.decode(errors="replace")
    assert "harvesting" in text and "100%" in text, text
    assert "6 of 6 meters read" in text


HOSTILE = {3: Faults(trickle=0.5), 4: Faults(trickle=0.5), 6: Faults(endless="blocks"), 7: Faults(endless="segments")}


@pytest.fixture(scope="module")
def hostile_ports():
    """20 meters that lived a day, public client, no faults but four hostile meters: 3 (TCP wrapper) and 4 (HDLC)
    trickle a byte every 0.5 s, under the per-read time-out; 6 answers GETs with blocks forever (TCP wrapper),
    7 with HDLC segments forever."""
    runs = fleet(20, tempfile.mkdtemp(), 86400000)
    ports: dict = {}
    started = threading.Event()

    def main():
        async def go():
            await MeterPorts(runs, speed=0, faults=HOSTILE).serve({"dlms": 0, "hdlc": 0, "modbus": 0},
                                                                  started=lambda p: (ports.update(p), started.set()))
        asyncio.run(go())

    threading.Thread(target=main, daemon=True).start()
    assert started.wait(30)
    return runs, ports


def _hostile_inventory(folder, ports, rows=range(20)):
    protocols = ("dlms-tcp", "dlms-hdlc-tcp", "modbus-tcp")
    lines = [HEADER]
    for n in rows:
        protocol = protocols[n % 3]
        port = ports[{"dlms-tcp": "dlms", "dlms-hdlc-tcp": "hdlc", "modbus-tcp": "modbus"}[protocol]][n]
        lines.append("H%03d,OPS%08d,127.0.0.1,%d,%s,16,,UTC\n" % (n, n + 1, port, protocol))
    path = os.path.join(str(folder), "hostile.csv")
    with open(path, "w") as f:
        f.writelines(lines)
    return path


_MEASURED = """
import json, resource, sys, tracemalloc
from opsm.host.cli import cli
import opsm.host.harvest, opsm.host.store, pymodbus.client, rich.console, rich.progress, rich.table  # imported: not counted
tracemalloc.start()
try:
    cli.main(sys.argv[1:], prog_name="opsm")
except SystemExit as end:
    code = end.code
# VmHWM: this process's own peak (ru_maxrss on Linux keeps the forking parent's size across exec, and a
# test run's pytest is hundreds of MB)
with open("/proc/self/status") as status:
    peak_kb = [int(line.split()[1]) for line in status if line.startswith("VmHWM:")]
print(json.dumps({"code": code, "peak_traced": tracemalloc.get_traced_memory()[1],
                  "maxrss_kb": peak_kb[0] if peak_kb else resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}),
      file=sys.stderr)
"""


def test_hostile_meters_cost_bounded_time_and_memory(hostile_ports, tmp_path):
    """A fleet with two trickling meters (a byte every 0.5 s: under the 1 s per-read time-out) and two endless
    ones (GET blocks, HDLC segments): the harvest ends within the per-meter deadline plus a margin, those
    four fail with their reason stored, the other sixteen are stored; memory stays bounded (measured in a
    subprocess: tracemalloc's peak and the peak resident size)."""
    runs, ports = hostile_ports
    db_path = str(tmp_path / "h.db")
    started = time.monotonic()
    proc = subprocess.run([sys.executable, "-c", _MEASURED, "harvest", "--json", "--inventory",
                           _hostile_inventory(tmp_path, ports), "--db", db_path, "--timeout", "1", "--retries", "1",
                           "--meter-deadline", "3"], capture_output=True, text=True, cwd=ROOT, timeout=120)
    wall = time.monotonic() - started
    measured = json.loads(proc.stderr.strip().splitlines()[-1])
    out = json.loads(proc.stdout.splitlines()[-1])
    print("hostile fleet: harvest %.2f s (process %.2f s), tracemalloc peak %.1f MB, max RSS %.1f MB" % (
        out["seconds"], wall, measured["peak_traced"] / 1e6, measured["maxrss_kb"] / 1024))
    assert measured["code"] == 2
    assert out["seconds"] < 3 + 2  # the per-meter deadline and a margin
    failures = out["failures"]
    print(json.dumps(failures, indent=1))
    assert set(failures) == {"H003", "H004", "H006", "H007"}, failures
    for device in ("H003", "H004"):
        assert failures[device]["error"].startswith("deadline 3 s passed after 0 reads"), failures[device]
    assert failures["H006"] == {"error": "more than 256 blocks reading 0.0.96.1.0.255", "attempts": 1}
    assert failures["H007"] == {"error": "more than 256 HDLC segments reading 0.0.96.1.0.255", "attempts": 1}
    assert measured["peak_traced"] < 10e6 and measured["maxrss_kb"] < 200 * 1024
    db = store.Store.open(db_path)
    stored = dict(db.query("SELECT device_id, error FROM readings WHERE ok = 0"))
    assert stored == {d: f["error"] for d, f in failures.items()}  # the reasons are in the store
    assert db.query("SELECT COUNT(DISTINCT device_id) FROM register_values") == [(16,)]
    quarter = db.query("SELECT COUNT(*) FROM profile_values WHERE device_id = 'H000' AND profile = ?", (QUARTER,))
    assert quarter == [(runs[0].meter.profiles[0].entries * 3,)]
    db.close()


def test_a_harvest_deadline_ends_a_slow_harvest(hostile_ports, tmp_path):
    """--harvest-deadline bounds the whole harvest: the meter in flight fails with it, those not yet
    started fail without being contacted; every reason is stored."""
    _, ports = hostile_ports
    start = time.monotonic()
    code, out = _harvest("--inventory", _hostile_inventory(tmp_path, ports, [3, 0, 1]), "--db", tmp_path / "h.db",
                         "--concurrency", "1", "--harvest-deadline", "2")
    assert time.monotonic() - start < 2 + 2
    assert code == 2 and out["failed"] == 3
    assert out["failures"]["H003"]["error"].startswith("harvest deadline 2 s passed after 0 reads")
    for device in ("H000", "H001"):
        assert out["failures"][device] == {"error": "harvest deadline 2 s passed before the meter was read",
                                           "attempts": 0}


def test_caps_on_blocks_and_bytes_fail_a_meter_with_the_reason(fleet_ports, tmp_path):
    """A reply over --max-reply-bytes, or a read in more than --max-blocks blocks, fails the meter at once
    (no retry: the meter would send the same), naming the bound and the object."""
    _, ports, _ = fleet_ports
    inventory_path, credentials = _inventory(str(tmp_path), ports, [0, 1])
    code, out = _harvest("--inventory", inventory_path, "--credentials", credentials, "--db", tmp_path / "a.db",
                         "--max-blocks", "2")
    assert code == 2
    assert out["failures"] == {d: {"error": "more than 2 blocks reading 1.0.99.1.0.255", "attempts": 1}
                               for d in ("M000", "M001")}
    code, out = _harvest("--inventory", inventory_path, "--credentials", credentials, "--db", tmp_path / "b.db",
                         "--max-reply-bytes", "2048")
    assert code == 2
    assert out["failures"] == {d: {"error": "reply over 2 KB reading 1.0.99.1.0.255", "attempts": 1}
                               for d in ("M000", "M001")}
    for option in ("--max-blocks", "--max-reply-bytes", "--meter-deadline", "--harvest-deadline"):
        result = CliRunner().invoke(cli, ["harvest", "--inventory", inventory_path, "--db", tmp_path / "c.db",
                                          option, "0"])
        assert result.exit_code != 0 and option in result.output


def test_harvest_exports_and_reports_share_one_database(fleet_ports, tmp_path, monkeypatch):
    """`opsm harvest` writes where the exports and reports read: OPSM_HARVEST_DB, else harvest.sqlite."""
    _, ports, _ = fleet_ports
    inventory_path, credentials = _inventory(str(tmp_path), ports, [0])
    options = {p.name: p for p in cli.commands["harvest"].params}
    export = {p.name: p for p in cli.commands["export"].commands["smec"].params}
    assert (options["db"].default, options["db"].envvar) == (export["db"].default, export["db"].envvar) == (
        "harvest.sqlite", "OPSM_HARVEST_DB")
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    monkeypatch.delenv("OPSM_HARVEST_DB", raising=False)
    runner = CliRunner()
    result = runner.invoke(cli, ["harvest", "--inventory", inventory_path, "--credentials", credentials, "--json"])
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(cwd)) == ["harvest.sqlite"]
    db = store.Store.open(str(cwd / "harvest.sqlite"))
    assert db.query("SELECT device_id, ok FROM readings") == [("M000", 1)]
    db.close()
    elsewhere = str(tmp_path / "fleet.sqlite")
    result = runner.invoke(cli, ["harvest", "--inventory", inventory_path, "--credentials", credentials, "--json"],
                           env={"OPSM_HARVEST_DB": elsewhere})
    assert result.exit_code == 0, result.output
    db = store.Store.open(elsewhere)
    assert db.query("SELECT device_id, ok FROM readings") == [("M000", 1)]
    db.close()


def test_serial_meters_are_bounded_too(tmp_path):
    """A serial meter is read in a worker thread: the deadline and the byte cap hold there as well. A fake
    optical port on a pty answers the identification, then sends its data block forever (never the ETX),
    as a flood or a trickle under the per-read time-out."""
    import pty
    import tty

    def fake_meter(master, stop, pause):
        os.read(master, 64)  # /?!
        os.write(master, b"/OPS5\\2OPSM-SP-230\r\n")
        os.read(master, 64)  # ACK 0 5 0: the readout
        os.write(master, b"\x02")
        os.set_blocking(master, False)  # a full pty buffer (nobody reading any more) must not hang the thread
        while not stop.is_set():
            try:
                os.write(master, b"1.8.0(0000123.456*kWh)\r\n"[:1 if pause else None])
            except BlockingIOError:
                pass
            except OSError:
                return
            time.sleep(pause or 0.001)

    for pause, options, reason in (
            (0, ("--max-reply-bytes", "4096"), "reply over 4 KB in the readout"),
            (0.3, ("--meter-deadline", "2"), "deadline 2 s passed after 0 reads, in the readout")):
        master, slave = pty.openpty()
        tty.setraw(slave)
        stop = threading.Event()
        meter = threading.Thread(target=fake_meter, args=(master, stop, pause), daemon=True)
        meter.start()
        try:
            path = tmp_path / "serial.csv"
            path.write_text(HEADER + "S1,OPS00000001,%s,9600,iec21-serial,16,,UTC\n" % os.ttyname(slave))
            start = time.monotonic()
            code, out = _harvest("--inventory", str(path), "--db", str(tmp_path / "s.db"), *options)
            assert time.monotonic() - start < 2 + 2
            assert code == 2 and out["failures"]["S1"] == {"error": reason, "attempts": 1}, out
        finally:
            stop.set()
            meter.join(5)
            os.close(master)
            os.close(slave)
