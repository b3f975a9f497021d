"""The distributed head-end: shards by site, one reading per meter and run however often a shard is delivered,
dead letters, schedules; and a real Redis with two Celery worker processes harvesting a 300-meter fleet into a
real PostgreSQL while one of them is killed with SIGKILL."""

import datetime
import json
import multiprocessing
import os
import random
import signal
import subprocess
import sys
import time
import zoneinfo

import pytest
from click.testing import CliRunner
from hypothesis import given, settings, strategies as st

from opsm.host import harvest, inventory
from opsm.host.cli import cli
from opsm.host.headend import shards, tasks
from opsm.host.store import MIGRATIONS, Store

HEADER = "device_id,serial,host,port,protocol,client,credentials,timezone\n"
FLEET = 300
SITES = 12
DEAD = 5          # inventory rows on a site where nothing listens: they fail, every run
QUARTER = "1.0.99.1.0.255"


def _row(n: int, host: str, port: int = 4059) -> dict:
    return {"device_id": "M%05d" % n, "serial": "OPS%08d" % (n + 1), "host": host, "port": str(port),
            "protocol": "dlms-tcp", "client": "16", "credentials": "", "timezone": "UTC"}


# --- shards ----------------------------------------------------------------------------------

_sites = st.lists(st.integers(1, 40), min_size=1, max_size=30)


@settings(max_examples=60, deadline=None)
@given(_sites, st.integers(1, 12), st.randoms(use_true_random=False))
def test_shards_keep_sites_whole_balanced_and_stable_under_reordering(sizes, count, rnd):
    rows = [_row(n, "10.0.%d.1" % site) for site, size in enumerate(sizes) for n in range(site * 100, site * 100 + size)]
    parts = shards.split(rows, count)
    assert sorted(r["device_id"] for part in parts for r in part) == sorted(r["device_id"] for r in rows)
    assert 1 <= len(parts) <= min(count, len(sizes)) and all(parts)
    homes = {}
    for k, part in enumerate(parts):
        for r in part:
            assert homes.setdefault(r["host"], k) == k, "a site split over two shards"
    loads = sorted(len(part) for part in parts)
    assert loads[-1] - loads[0] <= max(sizes)  # greedy by site: never off by more than the largest site
    shuffled = list(rows)
    rnd.shuffle(shuffled)
    again = shards.split(shuffled, count)
    assert [sorted(r["device_id"] for r in part) for part in again] == \
        [sorted(r["device_id"] for r in part) for part in parts]


def test_shards_refuse_a_count_under_one():
    with pytest.raises(ValueError, match="--shards: must be at least 1"):
        shards.split([_row(1, "a")], 0)


# --- storage: one reading per meter and run, dead letters ------------------------------------------

def _reading(ok: bool, error: str = "", read_at: int | None = None) -> harvest.Reading:
    reading = harvest.Reading()
    reading.ok, reading.error = ok, error
    if read_at is not None:
        reading.read_at = read_at
    reading.attempts = 1
    if ok:
        reading.registers = {"0.0.96.1.0.255": "OPS00000002", "1.0.1.8.0.255": 12.5}
        reading.events = [(reading.read_at - 60, 1)]
    return reading


def _meter(n: int) -> inventory.Meter:
    return inventory.from_row(_row(n, "127.0.0.1"), {}, "test")


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_a_meter_is_stored_once_per_run_and_failures_become_dead_letters(backend, tmp_path, request):
    url = str(tmp_path / "h.sqlite") if backend == "sqlite" else request.getfixturevalue("postgres_db")
    with Store.open(url) as store:
        run = store.begin_run("inv.csv", [[_row(1, "a")], [_row(2, "b")]], "submit")
        assert store.save(run, _meter(1), _reading(False, "TimeoutError: no answer")) == 0
        # the same meter again in the same run (a shard delivered twice): refused, nothing of it written
        assert store.save(run, _meter(1), _reading(True, read_at=2_000_000_000)) is None
        assert store.query("SELECT COUNT(*) FROM register_values WHERE device_id = 'M00001'")[0][0] == 0
        assert store.save(run, _meter(2), _reading(True, read_at=1_900_000_000)) == 1
        assert store.save(run, _meter(2), _reading(True, read_at=1_900_000_100)) is None
        assert store.query("SELECT COUNT(DISTINCT read_at) FROM register_values WHERE device_id = 'M00002'")[0][0] == 1
        assert store.stored_in(run) == {"M00001", "M00002"}
        letters = store.dead_letters()
        assert [(d["device_id"], d["failures"], d["last_reason"]) for d in letters] == \
            [("M00001", 1, "TimeoutError: no answer")]
        assert store.finish_shard(run, 0) is False and store.finish_shard(run, 1) is True
        assert store.finish_shard(run, 1) is False  # ended once
        progress = store.run_progress(run)
        assert (progress["read"], progress["failed"], progress["shard_states"]) == (1, 1, {"done": 2})
        assert store.query("SELECT failed FROM harvests WHERE id = ?", (run,))[0][0] == 1
        # the next run fails it again: two in a row; then reads it: it leaves the dead letters
        second = store.begin_run("inv.csv", [[_row(1, "a")]], "submit")
        store.save(second, _meter(1), _reading(False, "ConnectionRefusedError"))
        assert [(d["failures"], d["last_reason"], d["harvest_id"]) for d in store.dead_letters()] == \
            [(2, "ConnectionRefusedError", second)]
        third = store.begin_run("inv.csv", [[_row(1, "a")]], "submit")
        store.save(third, _meter(1), _reading(True))
        assert store.dead_letters() == []
        # a failed read does not forget when the meter was last read
        store.save(store.begin_run("inv.csv", [[_row(1, "a")]], "submit"), _meter(1), _reading(False, "x"))
        assert store.harvested_meter("M00001")[2] is not None


def test_deliveries_of_one_meter_racing_on_postgresql_store_it_once(postgres_db):
    """Eight connections save the same meter into the same run at the same moment (a shard redelivered while its
    first worker still runs): one reading, one read's registers and events, whatever the order."""
    import threading

    with Store.open(postgres_db) as store:
        run = store.begin_run("inv.csv", [[_row(1, "a")]], "submit")
    stores = [Store.open(postgres_db) for _ in range(8)]
    go = threading.Barrier(len(stores))
    results: list = []

    def deliver(k: int) -> None:
        go.wait()
        results.append(stores[k].save(run, _meter(1), _reading(True, read_at=1_900_000_000 + k)))
    threads = [threading.Thread(target=deliver, args=(k,)) for k in range(len(stores))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    for one in stores:
        one.close()
    assert sorted(results, key=lambda r: r is None) == [1] + [None] * 7
    with Store.open(postgres_db) as store:
        assert store.query("SELECT COUNT(DISTINCT read_at) FROM register_values")[0][0] == 1
        assert store.query("SELECT COUNT(*) FROM events")[0][0] == 1
        assert store.query("SELECT COUNT(*) FROM readings WHERE harvest_id = ?", (run,))[0][0] == 1


def _open_store(url):
    Store.open(url).close()
    return True


@pytest.mark.parametrize("backend", ["sqlite", "postgresql"])
def test_workers_opening_a_new_database_together_migrate_it_once(backend, tmp_path, request):
    url = str(tmp_path / "new.sqlite") if backend == "sqlite" else request.getfixturevalue("postgres_db")
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        assert pool.map(_open_store, [url] * 4) == [True] * 4
    with Store.open(url) as store:
        versions = [row[0] for row in store.query("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [number for number, _ in MIGRATIONS]


def test_a_row_whose_credentials_the_worker_lacks_is_a_failure_naming_them(monkeypatch):
    monkeypatch.setattr(tasks.WORKER, "credentials", {"other": {"password": b"x"}})
    meter, problem = tasks._meter(dict(_row(3, "h"), client="17", credentials="site-a"), "run 7 shard 2")
    assert meter.device_id == "M00003"
    assert problem.startswith("this worker cannot read it: run 7 shard 2: credentials: must name an entry")
    monkeypatch.setattr(tasks.WORKER, "credentials", {"site-a": {"password": b"secret-ok-1"}})
    meter, problem = tasks._meter(dict(_row(3, "h"), client="17", credentials="site-a"), "run 7 shard 2")
    assert problem is None and meter.credentials == {"password": b"secret-ok-1"}


# --- schedules ---------------------------------------------------------------------------------

def test_a_daily_schedule_fires_once_a_day_at_its_local_hour_in_virtual_time(monkeypatch):
    zone = zoneinfo.ZoneInfo("America/Santiago")
    clock = [datetime.datetime(2026, 12, 3, 12, 0, tzinfo=zone)]
    entry = tasks.beat_entry({"name": "nightly", "every_s": None, "at_hour": 2, "at_minute": 30,
                              "timezone": "America/Santiago"})
    when = entry["schedule"]
    monkeypatch.setattr(when, "nowfun", lambda: clock[0])
    assert entry["task"] == "opsm.run_schedule" and entry["args"] == ("nightly",)
    last = clock[0]
    fired = []
    while clock[0] < datetime.datetime(2026, 12, 7, 0, 0, tzinfo=zone):  # four days, a minute at a time
        clock[0] += datetime.timedelta(minutes=1)
        due, _ = when.is_due(last)
        if due:
            fired.append(clock[0])
            last = clock[0]
    assert [t.strftime("%m-%d %H:%M") for t in fired] == ["12-04 02:30", "12-05 02:30", "12-06 02:30"]


def test_schedule_commands_check_their_input(tmp_path):
    db = str(tmp_path / "h.sqlite")
    inv = tmp_path / "inv.csv"
    inv.write_text(HEADER + "M1,OPS00000001,127.0.0.1,4059,dlms-tcp,16,,UTC\n")
    runner = CliRunner()
    for args, message in ((["--at", "25:00"], "--at: write a time HH:MM"), ([], "--at or --every: give exactly one"),
                          (["--at", "02:00", "--every", "60"], "--at or --every"),
                          (["--at", "02:00", "--timezone", "Mars/Olympus"], "--timezone: must be an IANA"),
                          (["--every", "0"], "--every")):
        result = runner.invoke(cli, ["headend", "schedule", "add", "x", "--inventory", str(inv), "--db", db, *args])
        assert result.exit_code != 0 and message in result.output, (args, result.output)
    bad = tmp_path / "bad.csv"
    bad.write_text(HEADER + "M1,OPS00000001,127.0.0.1,99999,dlms-tcp,16,,UTC\n")
    result = runner.invoke(cli, ["headend", "schedule", "add", "x", "--inventory", str(bad), "--db", db,
                                 "--every", "60"])
    assert result.exit_code == 1 and "port: must be a TCP port 1..65535" in result.output
    result = runner.invoke(cli, ["headend", "schedule", "add", "nightly", "--inventory", str(inv), "--db", db,
                                 "--at", "02:30", "--timezone", "America/Santiago", "--shards", "3"])
    assert result.exit_code == 0, result.output
    listed = runner.invoke(cli, ["headend", "schedule", "list", "--db", db]).output
    assert "nightly: inv.csv, 1 meters, 3 shards, daily at 02:30 America/Santiago" in listed
    assert runner.invoke(cli, ["headend", "schedule", "remove", "nightly", "--db", db]).exit_code == 0
    result = runner.invoke(cli, ["headend", "schedule", "remove", "nightly", "--db", db])
    assert result.exit_code == 1 and "no schedule 'nightly'" in result.output
    result = runner.invoke(cli, ["headend", "status", "42", "--db", db])
    assert result.exit_code == 1 and "no distributed run 42" in result.output


# --- the real thing: Redis, two Celery workers, PostgreSQL, a 300-meter fleet -----------------------

def _opsm(*args, **kwargs) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "opsm", *args], **kwargs)


@pytest.fixture(scope="module")
def fleet(tmp_path_factory):
    """300 meters over 12 sites (loopback addresses), 3 hours of history, every reply 20 ms late."""
    folder = tmp_path_factory.mktemp("fleet")
    inventory_path = folder / "inventory.csv"
    process = _opsm("sim", "fleet", "--count", str(FLEET), "--sites", str(SITES), "--base-port", "0", "--history",
                    "3h", "--speed", "0", "--faults", "latency=20", "--inventory", str(inventory_path),
                    stdout=subprocess.PIPE, stderr=open(folder / "fleet.err", "w"), text=True)
    line = process.stdout.readline()
    assert line, (folder / "fleet.err").read_text()
    rows = inventory_path.read_text().splitlines(True)
    # five meters at a site where nothing answers: failures every run, so dead letters
    rows += ["X%03d,OPX%08d,127.0.99.1,%d,dlms-tcp,16,,UTC\n" % (n, n, 9 + n) for n in range(DEAD)]
    inventory_path.write_text("".join(rows))
    yield str(inventory_path), folder
    process.terminate()
    process.wait(30)


class Worker:
    def __init__(self, name: str, broker: str, db: str, folder):
        self.log_path = os.path.join(folder, name + ".log")
        self.process = _opsm("headend", "worker", "--broker", broker, "--db", db, "--name", name, "--concurrency", "8",
                             "--visibility-timeout", "6", stdout=subprocess.DEVNULL,
                             stderr=open(self.log_path, "w"))
        self.name = name

    def wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while "ready." not in open(self.log_path).read():
            assert self.process.poll() is None and time.monotonic() < deadline, open(self.log_path).read()
            time.sleep(0.2)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(30)
            except subprocess.TimeoutExpired:
                self.process.kill()


def _wait_until(check, seconds: float, what: str):
    deadline = time.monotonic() + seconds
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, what
        time.sleep(0.2)


def test_two_workers_harvest_a_fleet_exactly_once_while_one_is_killed(fleet, redis_url, postgres_db):
    inventory_path, folder = fleet
    killed = Worker("killed", redis_url, postgres_db, folder)
    survivor = Worker("survivor", redis_url, postgres_db, folder)
    try:
        killed.wait_ready()
        survivor.wait_ready()
        result = CliRunner().invoke(cli, ["headend", "submit", "--inventory", inventory_path, "--shards", "10",
                                          "--timeout", "1", "--retries", "1", "--broker", redis_url, "--db",
                                          postgres_db, "--json"])
        assert result.exit_code == 0, result.output
        run = json.loads(result.output)["harvest_id"]
        store = Store.open(postgres_db)

        def killed_is_mid_shard():
            rows = store.query("SELECT h.shard FROM headend_shards h WHERE h.harvest_id = ? AND h.state = 'running' "
                               "AND h.worker LIKE '%killed%' AND EXISTS (SELECT 1 FROM readings r WHERE "
                               "r.harvest_id = h.harvest_id)", (run,))
            store.db.commit()
            return rows
        shard = _wait_until(killed_is_mid_shard, 60, "the worker to be killed never took a shard")[0][0]
        killed.process.send_signal(signal.SIGKILL)
        killed.process.wait(10)

        def finished():
            progress = store.run_progress(run)
            store.db.commit()
            return progress if progress["finished_at"] is not None else None
        progress = _wait_until(finished, 120, "the run did not finish after a worker was killed")
        assert (progress["meters"], progress["read"], progress["failed"]) == (FLEET + DEAD, FLEET, DEAD)
        redelivered = store.query("SELECT deliveries, worker, state FROM headend_shards WHERE harvest_id = ? AND "
                                  "shard = ?", (run, shard))[0]
        assert redelivered[0] == 2 and "survivor" in redelivered[1] and redelivered[2] == "done"
        # every meter stored exactly once: one reading in the run, its registers from one read only
        per_meter = store.query("SELECT device_id, COUNT(DISTINCT read_at) FROM register_values GROUP BY device_id")
        assert len(per_meter) == FLEET and {n for _, n in per_meter} == {1}
        assert store.query("SELECT COUNT(*), COUNT(DISTINCT device_id) FROM readings WHERE harvest_id = ?",
                           (run,))[0] == (FLEET + DEAD, FLEET + DEAD)
        quarters = store.query("SELECT device_id, COUNT(DISTINCT captured_at) FROM profile_values WHERE profile = ? "
                               "GROUP BY device_id",
                               (QUARTER,))
        assert len(quarters) == FLEET and min(n for _, n in quarters) >= 11  # three hours of quarter-hours
        letters = store.dead_letters()
        assert sorted(d["device_id"] for d in letters) == ["X%03d" % n for n in range(DEAD)]
        assert all("cannot connect" in d["last_reason"] or "refused" in d["last_reason"] for d in letters)
        # status says it, as the operator sees it
        shown = CliRunner().invoke(cli, ["headend", "status", str(run), "--db", postgres_db])
        assert "%d of %d meters read, %d failed" % (FLEET, FLEET + DEAD, DEAD) in shown.output
        assert "1 delivered more than once" in shown.output

        # the next run (the survivor alone, waited for): the dead letters are tried again and fail a second time
        rows = open(inventory_path).read().splitlines(True)
        again = os.path.join(folder, "again.csv")
        with open(again, "w") as f:
            f.writelines(rows[:1] + rows[1:21] + rows[-DEAD:])
        result = CliRunner().invoke(cli, ["headend", "submit", "--inventory", again, "--shards", "4",
                                          "--timeout", "1", "--retries", "0", "--broker", redis_url, "--db",
                                          postgres_db, "--wait", "--json"])
        assert result.exit_code == 2, result.output
        second = json.loads(result.output)
        assert (second["read"], second["failed"]) == (20, DEAD)
        assert {d["failures"] for d in store.dead_letters()} == {2}
        store.close()
    finally:
        killed.stop()
        survivor.stop()


def test_beat_submits_a_schedule_in_shortened_time(fleet, redis_url, postgres_db, tmp_path):
    inventory_path, folder = fleet
    small = tmp_path / "site.csv"
    rows = open(inventory_path).read().splitlines(True)
    small.write_text("".join(rows[:1] + random.Random(7).sample(rows[1:FLEET + 1], 20)))
    result = CliRunner().invoke(cli, ["headend", "schedule", "add", "often", "--inventory", str(small), "--every", "3",
                                      "--shards", "2", "--db", postgres_db])
    assert result.exit_code == 0, result.output
    worker = Worker("scheduled", redis_url, postgres_db, folder)
    beat = _opsm("headend", "beat", "--broker", redis_url, "--db", postgres_db, "--max-interval", "1",
                 stdout=subprocess.DEVNULL, stderr=open(tmp_path / "beat.log", "w"))
    try:
        store = Store.open(postgres_db)

        def two_runs_done():
            runs = [r for r in store.runs() if r["origin"] == "often" and r["finished_at"] is not None]
            store.db.commit()
            return runs if len(runs) >= 2 else None
        runs = _wait_until(two_runs_done, 90, "beat did not submit two runs: " + (tmp_path / "beat.log").read_text())
        for run in runs[:2]:
            progress = store.run_progress(run["harvest_id"])
            assert (progress["meters"], progress["read"], progress["inventory"]) == (20, 20, "site.csv")
        store.close()
    finally:
        beat.terminate()
        beat.wait(30)
        worker.stop()


def test_a_database_that_cannot_be_opened_is_named_not_a_traceback(tmp_path):
    not_a_database = tmp_path / "junk.sqlite"
    not_a_database.write_bytes(b"this is not SQLite" * 100)
    for db in (str(tmp_path / "missing" / "h.sqlite"), str(not_a_database)):
        result = CliRunner().invoke(cli, ["headend", "status", "--db", db])
        assert result.exit_code == 1 and "--db: cannot open the SQLite database %s" % db in result.output, \
            result.output
