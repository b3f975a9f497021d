"""Each meter gets its own DLMS secrets at provisioning; a head-end changes them over HLS; the clock is set
over a management association. End to end: `opsm fw provision`, a simulated meter booted from that
provision.json (the firmware's own provision.credentials_from), `opsm dlms` and the harvester on loopback."""

import json
import tomllib

from click.testing import CliRunner

from opsm.host.cli import cli
from opsm.host.inventory import load_credentials
from opsm.simulator import board
from opsm.simulator.serve import DEMO_METER
from tests.host import dlms_peers as P

Run = board.module("simulator.scenario_run").Run

PANS = ("600727000000000009", "600727000000000017")


def run(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


def _provisioned(home):
    run("keys", "init")
    run("keys", "add", "default", "--hex", "abababababababab949494949494949401234567")
    docs = []
    for pan in PANS:
        run("meter", "add", "--pan", pan, "--sgc", "123457", "--base-date", "2014")
        path = home / (pan + ".json")
        run("fw", "provision", "--meter", pan, "--out", path, "--credentials", home / "headend.toml")
        docs.append(json.loads(path.read_text()))
    return docs


def test_every_meter_is_provisioned_with_its_own_secrets(home):
    docs = _provisioned(home)
    assert docs[0]["lls_password"] != docs[1]["lls_password"] and docs[0]["hls"] != docs[1]["hls"]
    assert all(len(d["lls_password"]) == 20 and len(d["hls"]["kek"]) == 32 for d in docs)
    table = tomllib.loads((home / "headend.toml").read_text())
    assert table[PANS[0]]["password"] == docs[0]["lls_password"] and table[PANS[1]]["ek"] == docs[1]["hls"]["ek"]
    loaded = load_credentials(str(home / "headend.toml"))[PANS[1]]  # the harvester reads the same file
    assert loaded["password"] == docs[1]["lls_password"].encode() and loaded["kek"].hex() == docs[1]["hls"]["kek"]
    again = run("fw", "provision", "--meter", PANS[0], "--out", home / "x.json", "--credentials",
                home / "headend.toml", code=1)
    assert "already has" in again and not (home / "x.json").exists()  # its secrets are never overwritten


def _serve(home, doc):
    meter = dict(DEMO_METER, lls_password=doc["lls_password"], hls=doc["hls"])
    (home / "flash").mkdir()
    run_ = Run({"name": "provisioned", "meter": meter}, str(home / "flash"))
    run_.meter.set_setting("serial", "OPS00000042")
    return run_, P.serve_in_thread([run_], ("dlms",))["dlms"][0]


def _keys(home, name, hls):
    path = home / name
    path.write_text("".join("%s = %s\n" % item for item in hls.items()))
    return path


def test_the_head_end_changes_the_secrets_over_hls_and_sets_the_clock(home):
    doc = _provisioned(home)[0]
    meter, port = _serve(home, doc)
    password = doc["lls_password"]
    assert "diagnostic 13" in run("dlms", "read", "--port", port, "--password", "OPSM-SP-230", code=1)
    assert json.loads(run("dlms", "read", "--port", port, "--password", password, "--json"))["registers"]
    current = _keys(home, "current.keys", doc["hls"])
    new = {"ek": "11" * 16, "ak": "22" * 16, "kek": "33" * 16}
    new_file = _keys(home, "new.keys", new)
    refused = run("dlms", "credentials", "--port", port, "--password", password, "--new-password", "x" * 12, code=1)
    assert "HLS association" in refused  # an LLS client cannot change secrets
    # explicit invocation counters: commands this close together would share the clock-made one
    out = json.loads(run("dlms", "credentials", "--port", port, "--hls-keys", current, "--invocation-counter", 1000,
                         "--new-password", "n3w-secret-0042", "--new-keys", new_file))
    assert out == {"lls_password": True, "keys": True}
    assert "diagnostic 13" in run("dlms", "read", "--port", port, "--password", password, code=1)
    run("dlms", "read", "--port", port, "--password", "n3w-secret-0042")
    assert run("dlms", "read", "--port", port, "--hls-keys", current, "--invocation-counter", 2000,
               code=1)  # the old keys are gone
    run("dlms", "read", "--port", port, "--hls-keys", new_file, "--invocation-counter", 3000)
    creds = meter.meter.dlms_access().credentials
    assert creds.ek.hex() == new["ek"] and creds.kek.hex() == new["kek"]
    clock = json.loads(run("dlms", "clock", "--port", port, "--password", "n3w-secret-0042",
                           "--set", "2027-06-01T12:00:00"))
    assert clock["clock"].startswith("2027-06-01T12:00")
    far_back = run("dlms", "clock", "--port", port, "--password", "n3w-secret-0042", "--set", "2027-05-01T12:00",
                   code=1)
    assert "event log" in far_back and json.loads(run("dlms", "clock", "--port", port, "--password",
                                                      "n3w-secret-0042"))["clock"].startswith("2027-06-01T12:0")
