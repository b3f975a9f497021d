"""The harvester against a simulated fleet: every protocol, faults on part of the fleet, resume, bad inventories."""

import asyncio
import datetime
import json
import os
import subprocess
import sys
import tempfile
import threading
from zoneinfo import ZoneInfo

import pytest
from click.testing import CliRunner

from host import harvest, inventory, store
from host.cli import cli
from simulator.serve import Faults, MeterPorts, fleet

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
    proc = subprocess.Popen([sys.executable, "-m", "host.cli", "sim", "serve", "--dlms-port", "0", "--iec21-pty",
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

    from protocol import civil

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
    proc = subprocess.Popen([sys.executable, "-m", "host.cli", "harvest", "--inventory", inventory_path,
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
