"""No code sold twice (issue 15): TIDs and OpenPAYGO counts are allocated and recorded in one locked transaction,
and a unique constraint per meter refuses a second row at either, in SQLite and in PostgreSQL."""

import datetime
import json
import os
import sqlite3
import subprocess
import sys
import threading
import time

import pytest
from click.testing import CliRunner

from opsm.host.cli import cli
from opsm.host.keystore import KeyStore
from opsm.host.registry import Registry, RegistryError
from opsm.host.vending import Vendor, derive_decoder_key, tid_at
from opsm.protocol import sts_decoder as sts

from tests.host.conftest import ROOT

PASSPHRASE = "correct horse battery staple"
VK = "abababababababab949494949494949401234567"
SECRET = "0123456789abcdef0123456789abcdef"
PAN, OPG_PAN = "600727000000000009", "600727111111111153"
RUNS = 20
# Each process imports the CLI, then waits for the starting gun so that all 20 issue at the same moment.
STARTER = ("import os, sys, time\nfrom opsm.host.cli import main\ngo = sys.argv.pop(1)\n"
           "open('%s.ready.%d' % (go, os.getpid()), 'w').close()\n"
           "while not os.path.exists(go):\n    time.sleep(0.002)\nmain()\n")


@pytest.fixture(autouse=True)
def cheap_key_file(monkeypatch):
    """Key files made here take the least scrypt cost host.keystore allows (the file records it): twenty processes
    opening one at the default 2^15 spend 3 s of two cores on it, and that is not what these tests measure."""
    import opsm.host.keystore

    if isinstance(getattr(opsm.host.keystore, "SCRYPT", None), dict) and hasattr(opsm.host.keystore, "N_RANGE"):
        monkeypatch.setitem(opsm.host.keystore.SCRYPT, "n", opsm.host.keystore.N_RANGE[0])


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request, tmp_path):
    if request.param == "sqlite":
        return str(tmp_path / "registry.sqlite")
    return request.getfixturevalue("postgres_db")


def shop(folder, db: str) -> dict:
    """A key file and a registry holding one STS meter and one OpenPAYGO meter, made with the CLI."""
    env = dict(os.environ, OPSM_DB=db, OPSM_KEYFILE=str(folder / "keys.json"), OPSM_PASSPHRASE=PASSPHRASE)
    for args in (["keys", "init"], ["keys", "add", "default", "--hex", VK],
                 ["keys", "add", "device-1", "--hex", SECRET],
                 ["meter", "add", "--pan", PAN, "--sgc", "123457", "--base-date", "2014"],
                 ["meter", "add", "--pan", OPG_PAN, "--profile", "openpaygo", "--vending-key", "device-1"]):
        result = CliRunner().invoke(cli, args, env=env)
        assert result.exit_code == 0, result.output
    return env


def sql(db: str, text: str, params=()) -> list:
    """Straight to the database, past the registry's code."""
    if db.startswith("postgresql://"):
        import pg8000.dbapi
        import urllib.parse

        parts = urllib.parse.urlsplit(db)
        connection = pg8000.dbapi.connect(user=parts.username, host=parts.hostname, port=parts.port,
                                          database=parts.path.lstrip("/"))
        text = text.replace("?", "%s")
    else:
        connection = sqlite3.connect(db)
    try:
        cursor = connection.cursor()
        cursor.execute(text, params)
        rows = [tuple(r) for r in cursor.fetchall()] if cursor.description else []
        connection.commit()
        return rows
    except Exception:
        connection.rollback()  # a refused insert keeps no lock (the traceback holds the cursor)
        raise
    finally:
        connection.close()


def parallel_issues(env: dict, pan: str, folder) -> tuple:
    """RUNS `opsm token issue --json` processes let go at once: (their outputs, seconds from the gun to the last)."""
    go = str(folder / "go")
    procs = [subprocess.Popen([sys.executable, "-c", STARTER, go, "token", "issue", "--meter", pan, "--kwh", "1",
                               "--json"], env=env, cwd=str(ROOT), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True) for _ in range(RUNS)]
    deadline = time.monotonic() + 60
    while len([n for n in os.listdir(folder) if n.startswith("go.ready.")]) < RUNS:  # all imported, all waiting
        assert time.monotonic() < deadline and all(p.poll() is None for p in procs)
        time.sleep(0.01)
    started = time.monotonic()
    open(go, "w").close()
    outs = [p.communicate(timeout=120) for p in procs]
    seconds = time.monotonic() - started
    for p, (out, err) in zip(procs, outs):
        assert p.returncode == 0, err
    return [json.loads(out)["tokens"][0] for out, _ in outs], seconds


def test_parallel_cli_issues_never_share_a_tid(tmp_path, db_url):
    env = shop(tmp_path, db_url)
    issued, seconds = parallel_issues(env, PAN, tmp_path)
    tids = sorted(t["tid"] for t in issued)
    dialect = "postgresql" if "://" in db_url else "sqlite"
    print("%d parallel issues on %s: %d distinct TIDs in %.2f s" % (RUNS, dialect, len(set(tids)), seconds))
    assert len(set(tids)) == RUNS and tids[-1] - tids[0] == RUNS - 1  # one run of consecutive TIDs
    assert len({t["token"] for t in issued}) == RUNS
    rows = sql(db_url, "SELECT token, tid FROM tokens WHERE pan = ?", (PAN,))
    assert sorted(rows) == sorted((t["token"], t["tid"]) for t in issued)  # every code sold is recorded
    assert sql(db_url, "SELECT last_tid FROM meters WHERE pan = ?", (PAN,)) == [(tids[-1],)]
    key = derive_decoder_key(bytes.fromhex(VK), dict(pan=PAN, sgc="123457", ti=1, krn=1, kt=2, base_year=2014,
                                                     ea=11, dkga="04"))
    meter = sts.StsDecoder(sts.StsState(key, ea=11, base_year=2014))
    for t in sorted(issued, key=lambda t: t["tid"]):
        result = meter.decode(t["token"])
        assert result.ok and result.amount == 10
        meter.commit(result)


def test_parallel_cli_openpaygo_issues_never_share_a_count(tmp_path, db_url):
    env = shop(tmp_path, db_url)
    issued, _ = parallel_issues(env, OPG_PAN, tmp_path)
    counts = sorted(t["details"]["count"] for t in issued)
    assert counts == list(range(2, 2 * RUNS + 1, 2))  # ADD_TIME lives on even counts: 2, 4, ... 40
    assert len({t["token"] for t in issued}) == RUNS
    rows = sql(db_url, "SELECT token FROM tokens WHERE pan = ?", (OPG_PAN,))
    assert sorted(r[0] for r in rows) == sorted(t["token"] for t in issued)
    assert sql(db_url, "SELECT opaygo_count FROM meters WHERE pan = ?", (OPG_PAN,)) == [(2 * RUNS,)]


def test_concurrent_vendors_in_threads(tmp_path, db_url):
    """Twenty vendors (each its own connection, as in twenty consoles) sell batches of 3 at the same moment."""
    env = shop(tmp_path, db_url)
    keystore = KeyStore.open(env["OPSM_KEYFILE"], PASSPHRASE)
    barrier, results, errors = threading.Barrier(RUNS), [], []

    def sell(n):
        registry = Registry(db_url)
        try:
            vendor = Vendor(registry, keystore, "vendor-%d" % n)
            barrier.wait()
            results.append(vendor.credit(PAN, 10, count=3))
            results.append(vendor.credit(OPG_PAN, 10))
        except Exception as exc:  # reported below, with the thread's failure
            errors.append(exc)
        finally:
            registry.close()

    threads = [threading.Thread(target=sell, args=(n,)) for n in range(RUNS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors
    sts_items = [t for batch in results for t in batch if "tid" in t]
    opg_items = [t for batch in results for t in batch if "tid" not in t]
    assert len({t["tid"] for t in sts_items}) == 3 * RUNS
    for batch in results:  # a batch is a run of rising TIDs
        if "tid" in batch[0]:
            assert [t["tid"] for t in batch] == list(range(batch[0]["tid"], batch[0]["tid"] + 3))
    assert sorted(t["details"]["count"] for t in opg_items) == list(range(2, 2 * RUNS + 1, 2))
    recorded = sql(db_url, "SELECT token FROM tokens")
    assert sorted(r[0] for r in recorded) == sorted(t["token"] for t in sts_items + opg_items)


def intruder(db: str, pan: str, tid=None, opaygo_count=None) -> None:
    """A token row written past the registry, as a buggy or older writer would."""
    columns = "pan, kind, token, tid, amount_tenths, details, operator, issued_at"
    values = [pan, "credit", "1" * 20, tid, 10, "{}", "intruder", "2025-01-01T00:00:00+00:00"]
    if opaygo_count is not None:
        columns += ", opaygo_count"
        values.append(opaygo_count)
    sql(db, "INSERT INTO tokens (%s) VALUES (%s)" % (columns, ", ".join("?" * len(values))), values)


def is_unique_violation(exc: Exception) -> bool:
    return isinstance(exc, sqlite3.IntegrityError) or "23505" in str(exc)


def test_database_refuses_a_second_row_at_a_tid_or_count(tmp_path, db_url):
    env = shop(tmp_path, db_url)
    registry = Registry(db_url)
    try:
        vendor = Vendor(registry, KeyStore.open(env["OPSM_KEYFILE"], PASSPHRASE), "op")
        tid = vendor.credit(PAN, 10)[0]["tid"]
        count = vendor.credit(OPG_PAN, 10)[0]["details"]["count"]
    finally:
        registry.close()
    with pytest.raises(Exception) as caught:
        intruder(db_url, PAN, tid=tid)  # the columns an older writer fills
    assert is_unique_violation(caught.value), caught.value
    with pytest.raises(Exception) as caught:
        intruder(db_url, OPG_PAN, opaygo_count=count)
    assert is_unique_violation(caught.value), caught.value
    intruder(db_url, PAN, tid=tid + 1)  # another TID is another code
    assert len(sql(db_url, "SELECT id FROM tokens")) == 3


def test_a_violation_issues_nothing(tmp_path, db_url):
    """A registry whose last TID fell behind its tokens refuses to sell rather than sell a recorded TID again."""
    env = shop(tmp_path, db_url)
    now = lambda: datetime.datetime(2025, 3, 1, 12, 0, tzinfo=datetime.timezone.utc)
    registry = Registry(db_url)
    try:
        vendor = Vendor(registry, KeyStore.open(env["OPSM_KEYFILE"], PASSPHRASE), "op", clock=now)
        first = vendor.credit(PAN, 10, count=2)
        assert [t["tid"] for t in first] == [tid_at(now(), 2014), tid_at(now(), 2014) + 1]
        sql(db_url, "UPDATE meters SET last_tid = -1, opaygo_count = 0")  # the registry forgets
        with pytest.raises(RegistryError, match="%s.*%d" % (PAN, first[0]["tid"])):
            vendor.credit(PAN, 10)
        with pytest.raises(RegistryError, match="tid"):
            vendor.management(PAN, "max-power", 1000)
    finally:
        registry.close()
    assert sorted(r[0] for r in sql(db_url, "SELECT token FROM tokens")) == sorted(t["token"] for t in first)


def test_a_violation_issues_no_openpaygo_code(tmp_path, db_url):
    env = shop(tmp_path, db_url)
    registry = Registry(db_url)
    try:
        vendor = Vendor(registry, KeyStore.open(env["OPSM_KEYFILE"], PASSPHRASE), "op")
        first = vendor.credit(OPG_PAN, 10)
        sql(db_url, "UPDATE meters SET opaygo_count = 0 WHERE pan = ?", (OPG_PAN,))
        with pytest.raises(RegistryError, match="count.*%s" % OPG_PAN):
            vendor.credit(OPG_PAN, 10)
    finally:
        registry.close()
    assert [r[0] for r in sql(db_url, "SELECT token FROM tokens")] == [first[0]["token"]]


# The registry as versions before issue 15 made it: no version table, no unique index.
OLD_SCHEMA = """
CREATE TABLE meters (pan TEXT PRIMARY KEY, profile TEXT NOT NULL CHECK (profile IN ('sts', 'openpaygo')),
    dkga TEXT CHECK (dkga IN ('02', '04')), ea INTEGER CHECK (ea IN (9, 11)), sgc TEXT, ti INTEGER, krn INTEGER,
    kt INTEGER, ken INTEGER NOT NULL DEFAULT 255, base_year INTEGER, vending_key TEXT NOT NULL,
    last_tid INTEGER NOT NULL DEFAULT -1, opaygo_count INTEGER NOT NULL DEFAULT 0,
    opaygo_extended INTEGER NOT NULL DEFAULT 0, opaygo_restricted INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL);
CREATE TABLE tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, pan TEXT NOT NULL REFERENCES meters(pan),
    kind TEXT NOT NULL, token TEXT NOT NULL, tid INTEGER, amount_tenths INTEGER, details TEXT NOT NULL DEFAULT '{}',
    operator TEXT NOT NULL, issued_at TEXT NOT NULL);
CREATE INDEX tokens_by_meter ON tokens (pan, issued_at);
INSERT INTO meters VALUES ('600727000000000009', 'sts', '04', 11, '123457', 1, 2, 2, 255, 2014, 'default', 702, 0,
    0, 0, '2024-01-01T00:00:00+00:00');
INSERT INTO meters VALUES ('600727111111111153', 'openpaygo', NULL, NULL, NULL, NULL, NULL, NULL, 255, NULL,
    'device-1', -1, 4, 0, 0, '2024-01-01T00:00:00+00:00');
"""


def old_registry(path, rows) -> None:
    db = sqlite3.connect(path)
    db.executescript(OLD_SCHEMA)
    db.executemany("INSERT INTO tokens (pan, kind, token, tid, details, operator, issued_at) VALUES (?, ?, ?, ?, ?, "
                   "'op', '2024-06-01T00:00:00+00:00')", rows)
    db.commit()
    db.close()


def test_old_registry_with_a_code_sold_twice_is_reported_and_left_alone(tmp_path):
    path = str(tmp_path / "old.sqlite")
    old_registry(path, [(PAN, "credit", "1" * 20, 700, "{}"), (PAN, "credit", "2" * 20, 701, "{}"),
                        (PAN, "credit", "2" * 20, 701, "{}"),
                        (OPG_PAN, "add_time", "123456789", None, '{"count": 2}'),
                        (OPG_PAN, "add_time", "123456780", None, '{"count": 4}')])
    before = sql(path, "SELECT * FROM tokens")
    with pytest.raises(RegistryError, match="meter %s.* TID 701 .*2 times" % PAN):
        Registry(path)
    assert sql(path, "SELECT * FROM tokens") == before  # nothing changed: the migration is one transaction
    assert "tid_epoch" not in [r[1] for r in sql(path, "PRAGMA table_info(tokens)")]
    sql(path, "DELETE FROM tokens WHERE id = 3")
    sql(path, """INSERT INTO tokens (pan, kind, token, details, operator, issued_at)
                 VALUES (?, 'add_time', '111111111', '{"count": 4}', 'op', 'x')""", (OPG_PAN,))
    with pytest.raises(RegistryError, match="meter %s.* count 4 .*2 times" % OPG_PAN):
        Registry(path)
    sql(path, "DELETE FROM tokens WHERE token = '111111111'")
    registry = Registry(path)  # now it opens, keeps every row, and the constraint holds
    try:
        assert [t["token"] for t in registry.tokens()] == [r[3] for r in before if r[0] != 3]
        assert [t["opaygo_count"] for t in registry.tokens(OPG_PAN)] == [2, 4]
    finally:
        registry.close()
    with pytest.raises(sqlite3.IntegrityError):
        intruder(path, PAN, tid=700)
    with pytest.raises(sqlite3.IntegrityError):
        intruder(path, OPG_PAN, opaygo_count=4)


def test_old_registry_after_a_rollover_keeps_both_tid_counts(tmp_path):
    """A base-date rollover starts the TIDs again: the same TID before and after it is two different codes."""
    path = str(tmp_path / "old.sqlite")
    old_registry(path, [(PAN, "credit", "1" * 20, 700, "{}"),
                        (PAN, "key-change", "3" * 20, None, '{"base_year": 2014, "rollover": true}'),
                        (PAN, "credit", "2" * 20, 700, "{}")])
    registry = Registry(path)
    try:
        assert registry.meter(PAN)["tid_epoch"] == 1
        assert [(t["tid"], t["tid_epoch"]) for t in registry.tokens(PAN) if t["tid"]] == [(700, 0), (700, 1)]
    finally:
        registry.close()


def test_rollover_lets_tids_count_again(tmp_path, db_url):
    env = shop(tmp_path, db_url)
    registry = Registry(db_url)
    try:
        registry.add_meter("600727000000000017", "123457", 1, 1, 2, 1993, 11, "04", "default")
        clock = [datetime.datetime(2024, 6, 1, tzinfo=datetime.timezone.utc)]
        vendor = Vendor(registry, KeyStore.open(env["OPSM_KEYFILE"], PASSPHRASE), "op", clock=lambda: clock[0])
        before = vendor.credit("600727000000000017", 10)[0]
        vendor.key_change("600727000000000017", rollover=True)
        clock[0] = datetime.datetime(2014, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
            minutes=before["tid"])
        after = vendor.credit("600727000000000017", 10)[0]
        assert after["tid"] == before["tid"] and after["token"] != before["token"]
        assert registry.meter("600727000000000017")["tid_epoch"] == 1
    finally:
        registry.close()
