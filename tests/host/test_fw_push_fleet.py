"""`opsm fw push --inventory` (issue 19): simulated meters on loopback, reached as the harvester reaches them (TCP
wrapper and HDLC over TCP, LLS and HLS), each take the image `opsm fw sign --inventory` signed for them, a few at a
time; a refused image, a closed port and a missing head fail their meters only; a link broken mid-transfer is
retried and resumes; a second run skips the finished meters and resumes the others. And the same fleet function in
a Celery worker, one task per shard (a real Redis)."""

import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest
from click.testing import CliRunner

from opsm.host import fwbuild, fwimage, fwpush, inventory
from opsm.host.cli import cli
from opsm.simulator.board import ROOT
from opsm.simulator.serve import DEMO_RECHARGE, Faults
from tests.host import dlms_peers as P

MASTER = bytes(range(32))
HEADER = "device_id,serial,host,port,protocol,client,credentials,timezone\n"
PASSWORD = "s3cret-42"
CREDENTIALS = '[mgmt]\npassword = "%s"\n[hls]\nek = "%s"\nak = "%s"\n' % (PASSWORD, P.EK.hex(), P.AK.hex())


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    """A small tree built for esp32 (its lib/board.mpy compiled as `opsm fw build` does): a ~20 KB image."""
    folder = str(tmp_path_factory.mktemp("tree"))
    fwbuild.compile_tree([(os.path.join(ROOT, "boards", "esp32.py"), "board.py")], os.path.join(folder, "lib"))
    with open(os.path.join(folder, "main.py"), "w") as f:
        f.write("import app\n")
    with open(os.path.join(folder, "lib", "app.mpy"), "wb") as f:
        f.write(bytes((i * 31) & 0xFF for i in range(20000)))
    return folder


class Fleet:
    """`count` simulated meters, each provisioned with its firmware key, serving the TCP wrapper and HDLC over TCP
    with the management password and the HLS keys; an inventory (`rows`: meter n's protocol and association),
    the credentials file, and the images signed for them by `opsm fw sign --inventory`'s own function."""

    def __init__(self, folder, tree, count: int, faults=None):
        self.folder = str(folder)
        self.runs = []
        for n in range(count):
            home = os.path.join(self.folder, "meter%d" % n)
            os.makedirs(home)
            run = P.Run({"name": "fw%d" % n, "meter": dict(P.DEMO_METER), "system": dict(P.DEMO_SYSTEM)}, home)
            run.meter.set_setting("serial", self.serial(n))
            with open(os.path.join(home, "provision.json"), "w") as f:
                json.dump({"fw_key": fwimage.derive_key(MASTER, self.serial(n)).hex()}, f)
            self.runs.append(run)
        self.ports = P.serve_in_thread(self.runs, ("dlms", "hdlc"), keys_file=P.keys_file(self.folder),
                                       lls_password=PASSWORD.encode(), faults=faults or {})
        self.credentials = os.path.join(self.folder, "credentials.toml")
        with open(self.credentials, "w") as f:
            f.write(CREDENTIALS)
        self.images = os.path.join(self.folder, "images")
        fwimage.sign("esp32", "1.0.0", MASTER, self.images, tree, serials=[self.serial(n) for n in range(count)])

    @staticmethod
    def serial(n: int) -> str:
        return "OPS%08d" % (n + 1)

    def row(self, n: int, protocol: str = "dlms-tcp", client: int = 17) -> str:
        port = self.ports["hdlc" if protocol == "dlms-hdlc-tcp" else "dlms"][n]
        credentials = {17: "mgmt", 1: "hls"}[client]
        return "M%03d,%s,127.0.0.1,%d,%s,%d,%s,UTC\n" % (n, self.serial(n), port, protocol, client, credentials)

    def inventory(self, name: str, *rows) -> str:
        path = os.path.join(self.folder, name)
        with open(path, "w") as f:
            f.write(HEADER + "".join(rows))
        return path

    def image(self, n: int) -> bytes:
        with open(os.path.join(self.images, self.serial(n) + ".head"), "rb") as f:
            head = f.read()
        with open(os.path.join(self.images, "payload.bin"), "rb") as f:
            return head + f.read()

    def staged(self, n: int) -> bytes:
        """The image the meter holds in its flash (fw_update's staged image file)."""
        with open(os.path.join(self.runs[n].folder, "fw.img"), "rb") as f:
            return f.read()


def _push(fleet, inventory_path, *options, code=0):
    result = CliRunner().invoke(cli, ["fw", "push", "--inventory", inventory_path, "--credentials",
                                      fleet.credentials, "--images", fleet.images, *options])
    assert result.exit_code == code, result.output
    return result


def _by_serial(result) -> dict:
    doc = json.loads(result.stdout)
    return doc, {row["serial"]: row for row in doc["results"]}


def test_a_fleet_is_pushed_concurrently_then_a_second_run_skips_it(tmp_path, tree):
    fleet = Fleet(tmp_path, tree, 6)
    rows = [fleet.row(n) for n in range(4)] + [fleet.row(4, client=1), fleet.row(5, "dlms-hdlc-tcp")]
    path = fleet.inventory("meters.csv", *rows)
    started = time.monotonic()
    result = _push(fleet, path, "--concurrency", "3", "--json")
    seconds = time.monotonic() - started
    doc, rows = _by_serial(result)
    blocks = -(-len(fleet.image(0)) // 192)
    assert (doc["meters"], doc["activated"], doc["ok"], doc["blocks_sent"]) == (6, 6, True, 6 * blocks)
    for n in range(6):
        row = rows[fleet.serial(n)]
        assert (row["outcome"], row["blocks_sent"], row["blocks"], row["attempts"]) == ("activated", blocks, blocks, 1)
        assert fleet.staged(n) == fleet.image(n)
    assert "fw push: 6/6 meters done, %d blocks sent" % (6 * blocks) in result.stderr
    print("6 meters x %d blocks in %.2f s, 3 at a time" % (blocks, seconds))
    # again: the LLS meters are skipped; the HLS one refuses an association so soon (its invocation counter)
    again = _push(fleet, fleet.inventory("lls.csv", *[fleet.row(n) for n in range(4)]))
    lines = again.stdout.splitlines()
    assert len(lines) == 5 and lines[-1].startswith("0 activated, 4 up to date,") and " 0 blocks sent" in lines[-1]
    for n, line in enumerate(lines[:4]):  # activated, the meter restarted into the image's slot
        assert line.startswith("%s up to date: 0/0 blocks" % fleet.serial(n)), line
        assert line.endswith("1 attempt(s); the meter runs OPSM-SP-230 fw 1.0.0"), line
    hls = inventory.load(fleet.inventory("hls.csv", fleet.row(4, client=1)), fleet.credentials)
    row, = fwpush.push_fleet(hls, fleet.images, retries=0)
    assert row["outcome"] == "failed" and row["reason"].startswith("association refused: diagnostic 1 (HLS: perhaps an "
                                                                   "invocation counter the meter has seen;")


def test_a_refused_image_a_closed_port_and_a_missing_head_fail_their_meters_only(tmp_path, tree):
    fleet = Fleet(tmp_path, tree, 5)
    other = str(tmp_path / "other")  # meter 1's head signed under another entity's master key
    fwimage.sign("esp32", "1.0.0", bytes(32), other, tree, serials=[fleet.serial(1)])
    shutil.copy(os.path.join(other, fleet.serial(1) + ".head"), fleet.images)
    os.remove(os.path.join(fleet.images, fleet.serial(3) + ".head"))
    closed = fleet.row(2).replace(",%d," % fleet.ports["dlms"][2], ",1,")  # nothing listens on port 1
    path = fleet.inventory("meters.csv", fleet.row(0), fleet.row(1), closed, fleet.row(3), fleet.row(4))
    result = _push(fleet, path, "--json", "--retries", "1", "--timeout", "2", code=1)
    doc, rows = _by_serial(result)
    assert {serial: row["outcome"] for serial, row in rows.items()} == {
        fleet.serial(0): "activated", fleet.serial(1): "refused", fleet.serial(2): "unreachable",
        fleet.serial(3): "no image", fleet.serial(4): "activated"}
    assert (doc["activated"], doc["refused"], doc["unreachable"], doc["no_image"], doc["up_to_date"], doc["ok"]) == \
        (2, 1, 1, 1, 0, False)
    refused = rows[fleet.serial(1)]
    assert refused["reason"].startswith("block 0: action-result 250 (verification failed: the meter refused")
    assert (refused["blocks_sent"], refused["attempts"]) == (0, 1)  # a refusal is not tried again
    unreachable = rows[fleet.serial(2)]
    assert "cannot connect to 127.0.0.1:1" in unreachable["reason"] and unreachable["attempts"] == 2
    assert rows[fleet.serial(3)]["reason"] == "%s.head: No such file or directory in %s" % (fleet.serial(3),
                                                                                          fleet.images)
    for n in (0, 4):
        assert fleet.staged(n) == fleet.image(n)


def test_a_link_broken_mid_transfer_is_retried_and_resumed(tmp_path, tree):
    """Meters 0 (HLS) and 1 (LLS) lose their link after 40 replies on every connection: the push tries again
    and resumes (the HLS one with an invocation counter above the previous session's); with no retries it stops,
    and the next push sends only the rest."""
    fleet = Fleet(tmp_path, tree, 3, faults={0: Faults(disconnect_after=40), 1: Faults(disconnect_after=40)})
    meters = inventory.load(fleet.inventory("meters.csv", fleet.row(0, client=1), fleet.row(1), fleet.row(2)),
                            fleet.credentials)
    blocks = -(-len(fleet.image(0)) // 192)
    seen = []
    first = fwpush.push_fleet(meters[1:], fleet.images, 2, lambda *p: seen.append(p), retries=0, backoff=0.01)
    assert [row["outcome"] for row in first] == ["failed", "activated"]
    broken = first[0]
    assert broken["reason"] == "the meter closed the connection" and 0 < broken["blocks_sent"] < blocks
    assert seen[-1] == (2, 2, broken["blocks_sent"] + blocks)
    rows = fwpush.push_fleet(meters, fleet.images, 3, retries=6, backoff=0.01)
    assert [row["outcome"] for row in rows] == ["activated", "activated", "up to date"]
    hls, resumed = rows[0], rows[1]
    assert hls["attempts"] > 1 and hls["blocks_sent"] <= blocks  # a block whose reply was lost is not sent again
    assert resumed["blocks_sent"] <= blocks - broken["blocks_sent"] and resumed["attempts"] > 1
    assert rows[2]["outcome"] == "up to date" and rows[2]["blocks_sent"] == 0
    for n in range(3):
        assert fleet.staged(n) == fleet.image(n)


def test_bad_input_is_named(tmp_path, tree):
    fleet = Fleet(tmp_path, tree, 1)
    path = fleet.inventory("meters.csv", fleet.row(0))
    runner = CliRunner()
    nowhere = str(tmp_path / "no")
    for args, message in (
            (["--inventory", path, "--images", nowhere], "--images: %s is not a folder" % nowhere),
            (["--inventory", path, "--images", str(tmp_path)], "--images: cannot read %s" % (tmp_path / "payload.bin")),
            (["--inventory", path], "--images: required with --inventory"),
            (["--inventory", path, "--images", fleet.images, "--port", "4059", "--client", "1"],
             "leave out --port, --client"),
            (["--images", fleet.images], "--images: only with --inventory"),
            ([], "IMAGE: give a signed image file, or --inventory and --images"),
            (["--inventory", path, "--images", fleet.images, "--concurrency", "0"], "--concurrency: must be at least"),
            (["--inventory", fleet.inventory("bad.csv", "M9,,127.0.0.1,4059,dlms-tcp,16,,UTC\n"), "--images",
              fleet.images], "serial: must not be empty")):
        if "--inventory" in args:
            args += ["--credentials", fleet.credentials]
        result = runner.invoke(cli, ["fw", "push", *args])
        assert result.exit_code in (1, 2) and message in result.output, (args, result.output)


# --- the same in the distributed head-end: Celery workers, one task per shard ------------------------------

def test_headend_fw_push_pushes_each_shard_in_a_worker(tmp_path, tree, redis_url):
    fleet = Fleet(tmp_path, tree, 4)
    # two sites (the shards keep a site whole): meters 0-1 at 127.0.0.1, 2-3 at localhost, the same loopback
    path = fleet.inventory("meters.csv", *[fleet.row(n) if n < 2 else fleet.row(n).replace("127.0.0.1", "localhost")
                                           for n in range(4)])
    log = tmp_path / "worker.log"
    worker = subprocess.Popen([sys.executable, "-m", "opsm", "headend", "worker", "--broker", redis_url, "--db",
                               str(tmp_path / "h.sqlite"), "--credentials", fleet.credentials, "--name", "fw",
                               "--concurrency", "2"], stdout=subprocess.DEVNULL, stderr=open(log, "w"))
    try:
        deadline = time.monotonic() + 60
        while "ready." not in log.read_text():
            assert worker.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.2)
        result = CliRunner().invoke(cli, ["headend", "fw-push", "--inventory", path, "--credentials",
                                          fleet.credentials, "--images", fleet.images, "--shards", "2", "--broker",
                                          redis_url, "--wait", "--json"])
        assert result.exit_code == 0, result.output
        doc = json.loads(result.stdout)
        blocks = -(-len(fleet.image(0)) // 192)
        assert (doc["meters"], doc["activated"], doc["ok"], doc["shards"]) == (4, 4, True, 2)
        for n in range(4):
            assert fleet.staged(n) == fleet.image(n)
        text = log.read_text()
        assert all("fw push: %s activated: %d/%d blocks" % (fleet.serial(n), blocks, blocks) in text
                   for n in range(4)), text
    finally:
        worker.send_signal(signal.SIGTERM)
        worker.wait(30)


def test_twenty_meters_take_a_release_through_power_cuts_and_a_broken_one_rolls_back(tmp_path, releases):
    """Acceptance (issue 19): 20 meters; two lose power mid-transfer, one mid-activation; all end on the new
    version, confirmed, with credit and TID memory unchanged; then a broken release rolls back wherever it went."""
    from opsm.simulator import board, unix_port

    bootslot = board.module("bootslot")
    good, broken = releases["good"], releases["broken"]
    fleet = Fleet(tmp_path, good, 20)
    fleet.images = os.path.join(fleet.folder, "release")
    serials = [fleet.serial(n) for n in range(20)]
    fwimage.sign("esp32", "0.6.0", MASTER, fleet.images, good, serials=serials)
    blocks = -(-len(fleet.image(0)) // 192)
    for run in fleet.runs:
        run.slot_starts = unix_port.slot_starts  # a slot boots only if the unix port imports its app
        run.type(DEMO_RECHARGE)
    trust = [(run.meter.available_wh(), bytes(run.meter.recharger.state)) for run in fleet.runs]
    # meters 3 and 11: the power goes at a flash write mid-transfer; meter 7: at the 20th write of the activation
    # (a transfer writes its state record once, then each block and its bit: 1 + 2 x blocks writes)
    for n, after in ((3, 300), (11, 901), (7, 1 + 2 * blocks + 20)):
        fleet.runs[n].flash.cut_at = fleet.runs[n].flash.writes + after
    path = fleet.inventory("meters.csv", *[fleet.row(n) for n in range(20)])
    started = time.monotonic()
    doc, rows = _by_serial(_push(fleet, path, "--concurrency", "20", "--retries", "2", "--json"))
    seconds = time.monotonic() - started
    assert {row["outcome"] for row in rows.values()} == {"activated"}, doc
    assert [fleet.runs[n].power_losses for n in (3, 11, 7)] == [1, 1, 1]
    assert all(rows[fleet.serial(n)]["attempts"] == 2 for n in (3, 7, 11))
    for n in (3, 11):  # the retry resumed: of the blocks before the cut only the one cut short is sent again
        assert blocks <= rows[fleet.serial(n)]["blocks_sent"] <= blocks + 1
    for n, run in enumerate(fleet.runs):
        root = run.folder + "/"
        assert bootslot.trial(root) == ("b", 1) and run.model.snapshot()["firmware"] == b"OPSM-SP-230 fw 0.6.0"
        assert (run.meter.available_wh(), bytes(run.meter.recharger.state)) == trust[n], n
        run.advance(3600 * 1000)  # a minute of readings: the firmware on trial confirms itself
        assert bootslot.active(root) == "b" and bootslot.trial(root) is None
    print("20 meters x %d blocks in %.1f s on loopback" % (blocks, seconds))
    # a broken release to the first five: each takes it, restarts into it three times, and falls back to 0.6.0
    shutil.rmtree(fleet.images)
    fwimage.sign("esp32", "0.7.0", MASTER, fleet.images, broken, serials=serials[:5])
    doc, rows = _by_serial(_push(fleet, fleet.inventory("five.csv", *[fleet.row(n) for n in range(5)]), "--json"))
    assert {row["outcome"] for row in rows.values()} == {"activated"}, doc
    for run in fleet.runs[:5]:
        root = run.folder + "/"
        assert run.failed_boots == bootslot.MAX_TRIAL_BOOTS and bootslot.active(root) == "b"
        assert run.model.snapshot()["firmware"] == b"OPSM-SP-230 fw 0.6.0"
        assert [e[4] for e in run.meter.log.events() if e[2:4] == (6, 15)] == [bootslot.MAX_TRIAL_BOOTS]
    assert all(run.failed_boots == 0 for run in fleet.runs[5:])
