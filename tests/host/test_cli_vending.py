"""The vending CLI end to end: key file, registry, issue, key change, management, bad input."""

import json
import os
import sqlite3
import stat

import pytest
from click.testing import CliRunner

from opsm.host.cli import cli
from opsm.host.keystore import KeyStore, KeyStoreError
from opsm.host.sts import tokens
from opsm.host.vending import TEST_CONTROLS, tid_at
from opsm.protocol import sts_decoder as sts
from opsm.protocol import token_result as R

PAN = "600727000000000009"
VK = "abababababababab949494949494949401234567"


def run(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output.strip()


def fail(*args):
    """A rejected command: exit 1, a message, no traceback."""
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.output


@pytest.fixture
def shop(home):
    run("keys", "init")
    run("keys", "add", "default", "--hex", VK)
    run("meter", "add", "--pan", PAN, "--sgc", "123457", "--base-date", "2014", "--dkga", "04", "--ea", "11")
    return home


def decoder_key(shop) -> bytes:
    out = json.loads(run("token", "derive-key", "--dkga", "04", "--vending-key", VK, "--pan", PAN,
                         "--sgc", "123457", "--ti", 1, "--krn", 1, "--kt", 2, "--base-date", 2014, "--json"))
    return bytes.fromhex(out["decoder_key"])


def test_help_lists_every_command():
    out = run("--help")
    for name in ("token", "meter", "keys", "demo"):
        assert name in out
    token_help = run("token", "--help")
    for name in ("derive-key", "build", "parse", "issue", "keychange", "manage", "openpaygo-issue",
                 "openpaygo-decode"):
        assert name in token_help
        assert "Usage" in run("token", name, "--help")


def test_key_file_is_private_and_encrypted(shop):
    path = os.environ["OPSM_KEYFILE"]
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    raw = open(path).read()
    assert VK not in raw and "abab" not in raw
    assert KeyStore.open(path, os.environ["OPSM_PASSPHRASE"]).get("default").hex() == VK


def test_wrong_passphrase_and_corrupt_key_file(shop, monkeypatch):
    path = os.environ["OPSM_KEYFILE"]
    monkeypatch.setenv("OPSM_PASSPHRASE", "wrong")
    assert "passphrase" in fail("token", "issue", "--meter", PAN, "--kwh", "5")
    monkeypatch.setenv("OPSM_PASSPHRASE", "correct horse battery staple")
    good = open(path).read()
    with open(path, "w") as f:
        f.write(good[: len(good) // 2])
    assert "corrupt" in fail("token", "issue", "--meter", PAN, "--kwh", "5")
    doc = json.loads(good)
    doc["ciphertext"] = doc["ciphertext"][:-8] + "AAAAAAA="
    with open(path, "w") as f:
        json.dump(doc, f)
    with pytest.raises(KeyStoreError, match="passphrase"):
        KeyStore.open(path, "correct horse battery staple")


def test_issue_batch_decodes_on_the_meter_and_is_recorded(shop):
    out = json.loads(run("token", "issue", "--meter", PAN, "--kwh", "12.34", "--count", 3, "--json"))
    issued = out["tokens"]
    assert len(issued) == 3
    tids = [t["tid"] for t in issued]
    assert tids == sorted(set(tids)) and tids[2] - tids[0] == 2
    now_tid = tid_at(__import__("opsm.host.registry").host.registry.utc_now(), 2014)
    assert abs(tids[0] - now_tid) <= 1
    d = sts.StsDecoder(sts.StsState(decoder_key(shop), ea=11, base_year=2014))
    for t in issued:
        result = d.decode(t["token"])
        assert result.ok and result.amount == 124 == t["amount_tenths"]  # 12.34 rounds up to 12.4
        d.commit(result)
    again = json.loads(run("token", "issue", "--meter", PAN, "--kwh", "1", "--json"))["tokens"][0]
    assert again["tid"] > tids[-1]  # TIDs never repeat for a meter
    db = sqlite3.connect(os.environ["OPSM_DB"])
    rows = db.execute("SELECT kind, token, tid, amount_tenths, operator FROM tokens ORDER BY id").fetchall()
    assert [r[1] for r in rows] == [t["token"] for t in issued] + [again["token"]]
    assert all(r[0] == "credit" and r[4] for r in rows)


def test_keychange_moves_meter_and_registry_together(shop):
    old = decoder_key(shop)
    out = json.loads(run("token", "keychange", "--meter", PAN, "--krn", 2, "--json"))
    assert len(out["tokens"]) == 4
    d = sts.StsDecoder(sts.StsState(old, ea=11, base_year=2014, sgc=123457))
    for code in out["tokens"]:
        d.commit(d.decode(code))
    assert d.state.krn == 2 and d.state.key != old
    issued = json.loads(run("token", "issue", "--meter", PAN, "--kwh", "3", "--json"))["tokens"][0]
    assert d.decode(issued["token"]).ok  # the registry now vends with the new key
    meter = json.loads(run("meter", "list", "--json"))["meters"][0]
    assert meter["krn"] == 2


def test_keychange_without_registry_and_manage(shop):
    out = json.loads(run("token", "keychange", "--ea", "09", "--decoder-key", "e653341f9d5bf36f",
                         "--new-key", "0011223344556677", "--krn", 3, "--json"))
    assert len(out["tokens"]) == 2
    key = decoder_key(shop)
    d = sts.StsDecoder(sts.StsState(key, ea=11, base_year=2014))
    item = json.loads(run("token", "manage", "--meter", PAN, "--function", "max-power", "--value", 2500, "--json"))
    result = d.decode(item["token"])
    assert result.kind == sts.MAX_POWER and result.amount == 2500
    item = json.loads(run("token", "manage", "--meter", PAN, "--function", "clear-credit", "--value", "ffff", "--json"))
    assert d.decode(item["token"]).kind == sts.CLEAR_CREDIT
    item = json.loads(run("token", "manage", "--meter", PAN, "--function", "test", "--control", "relay",
                          "--control", "display", "--json"))
    result = d.decode(item["token"])
    assert result.kind == sts.TEST
    assert tokens.parse(item["token"])["control"] == "%x" % (TEST_CONTROLS["relay"] | TEST_CONTROLS["display"])


def snapshot(home):
    db = sqlite3.connect(os.environ["OPSM_DB"])
    rows = db.execute("SELECT * FROM tokens").fetchall() + db.execute("SELECT * FROM meters").fetchall()
    db.close()
    return rows, open(os.environ["OPSM_KEYFILE"]).read()


@pytest.mark.parametrize("args,field", [
    (("token", "issue", "--meter", "600727000000000008", "--kwh", "5"), "pan"),
    (("token", "issue", "--meter", "600727111111111153", "--kwh", "5"), "meter"),
    (("token", "issue", "--meter", PAN, "--kwh", "abc"), "kwh"),
    (("token", "issue", "--meter", PAN, "--kwh", "-3"), "kwh"),
    (("token", "issue", "--meter", PAN, "--kwh", "5", "--count", "0"), "count"),
    (("token", "issue", "--meter", PAN, "--kwh", "200000000"), "amount"),
    (("token", "manage", "--meter", PAN, "--function", "tariff", "--value", "x"), "value"),
    (("token", "manage", "--meter", PAN, "--function", "test"), "test"),
    (("meter", "add", "--pan", "12345", "--sgc", "123457"), "pan"),
    (("meter", "add", "--pan", PAN, "--sgc", "123457"), "pan"),
    (("meter", "add", "--pan", "600727111111111153", "--sgc", "12"), "sgc"),
    (("meter", "add", "--pan", "600727111111111153", "--sgc", "123457", "--ea", "07"), "ea"),
    (("meter", "add", "--pan", "600727111111111153", "--sgc", "123457", "--vending-key", "nope"), "vending-key"),
    (("keys", "add", "default", "--hex", "00" * 16), "name"),
    (("keys", "add", "other", "--hex", "zz"), "hex"),
])
def test_bad_input_names_the_field_and_writes_nothing(shop, args, field):
    before = snapshot(shop)
    assert field in fail(*args).lower()
    assert snapshot(shop) == before


@pytest.mark.parametrize("args,field", [
    (("token", "parse", "1234"), "token"),
    (("token", "parse", "0000000000000000000a"), "token"),
    (("token", "parse", "99999999999999999999"), "token"),
    (("token", "parse", "00383912203740575049"), "decoder-key"),
    (("token", "parse", "00383912203740575049", "--decoder-key", "00"), "decoder-key"),
    (("token", "build", "--class", 0, "--subclass", 0, "--decoder-key", "00" * 16, "--tid", 2**24,
      "--kwh", 1), "tid"),
    (("token", "build", "--class", 0, "--subclass", 0, "--decoder-key", "00" * 16, "--tid", 5), "value-field"),
    (("token", "build", "--class", 0, "--subclass", 0, "--decoder-key", "00" * 16, "--tid", 5,
      "--value-field", "12345"), "value-field"),
    (("token", "build", "--class", 2, "--subclass", 0, "--decoder-key", "00" * 16, "--tid", 5,
      "--kwh", 1, "--random", 16), "random"),
    (("token", "build", "--ea", "07", "--class", 0, "--subclass", 0, "--decoder-key", "00" * 16,
      "--tid", 5, "--kwh", 1), "ea"),
    (("token", "build", "--class", 1, "--subclass", 0, "--control", "1", "--mfr", 300), "field"),
    (("token", "build", "--class", 1, "--subclass", 1, "--control", "fffffffff"), "control"),
    (("token", "build", "--class", 1, "--subclass", 0, "--control", "zz"), "control"),
    (("token", "build", "--class", 1, "--subclass", 0), "control"),
    (("token", "derive-key", "--dkga", "04", "--vending-key", VK, "--pan", PAN, "--sgc", "123457",
      "--ti", 1, "--krn", 10, "--kt", 2), "krn"),
    (("token", "derive-key", "--dkga", "02", "--vending-key", VK, "--pan", PAN, "--sgc", "123457",
      "--ti", 1, "--krn", 1, "--kt", 2), "vending-key"),
])
def test_stateless_commands_reject_bad_fields(args, field):
    assert field in fail(*args).lower()


def test_unknown_option_exits_1():
    fail("token", "build", "--no-such-option")
    assert R.MESSAGES[R.FORMAT]


def test_openpaygo_meter_from_registry_to_firmware(home):
    from recharge import Recharger
    from records import RecordStore
    from openpaygo_profile import OpenPaygoProfile

    from tests.firmware.fakeflash import FakeFlash

    secret = "0123456789abcdef0123456789abcdef"
    run("keys", "init")
    run("keys", "add", "device-1", "--hex", secret)
    pan = "600727111111111153"
    run("meter", "add", "--pan", pan, "--profile", "openpaygo", "--vending-key", "device-1")
    issued = json.loads(run("token", "issue", "--meter", pan, "--kwh", "7.5", "--count", 2, "--json"))["tokens"]
    assert [t["details"]["count"] for t in issued] == [2, 4]  # ADD_TIME lives on even counts
    meter = Recharger(RecordStore("/m/r", FakeFlash().open), OpenPaygoProfile(bytes.fromhex(secret)))
    for t in issued:
        out = meter.enter(t["token"], 0)
        assert out.ok and out.credit_wh == 7500
    assert meter.enter(issued[0]["token"], 0).reason == R.USED
    stop = json.loads(run("token", "manage", "--meter", pan, "--function", "disable-payg", "--json"))
    assert meter.enter(stop["token"], 0).ok and meter.ledger.unlimited == 1
    assert "kwh" in fail("token", "issue", "--meter", pan, "--kwh", "100")  # 1000 units > 995
    assert "profile" in fail("token", "manage", "--meter", pan, "--function", "max-power", "--value", 5)
    assert json.loads(run("meter", "list", "--json"))["meters"][0]["opaygo_count"] == 5


def test_db_takes_a_path_or_a_postgresql_url_and_names_what_else_it_got(shop, monkeypatch, tmp_path):
    (tmp_path / "cwd").mkdir()
    monkeypatch.chdir(tmp_path / "cwd")
    assert "--db" in fail("meter", "list", "--db", "mysql://localhost/registry")
    assert "--db" in fail("token", "issue", "--meter", PAN, "--kwh", "1", "--db", "postgresql://nobody@127.0.0.1:1/x")
    assert os.listdir(tmp_path / "cwd") == []  # no file made of a URL
    assert PAN in run("meter", "list", "--db", "sqlite:///" + os.environ["OPSM_DB"])


def test_meter_add_and_list_go_through_the_families(shop):
    """The family picks its options from `meter add`, checks its key, and says how it lists its meters."""
    from opsm.host import families

    run("keys", "add", "device-1", "--hex", "0123456789abcdef0123456789abcdef")
    pan = "600727111111111153"
    assert "16 bytes" in fail("meter", "add", "--pan", pan, "--profile", "openpaygo")  # the 20-byte vending key
    out = run("meter", "add", "--pan", pan, "--profile", "openpaygo", "--vending-key", "device-1", "--restricted",
              "--sgc", "123457")  # an STS option: not this family's
    assert out == "registered %s (OpenPAYGO)" % pan
    row = json.loads(run("meter", "list", "--json"))["meters"][1]
    assert (row["profile"], row["opaygo_restricted"], row["sgc"]) == (families.OPENPAYGO.name, 1, None)
    assert run("meter", "list").splitlines() == [
        "%s  EA11 DKGA-04 KRN 1 KT 2 TI 01 base 2014" % PAN, "%s  OpenPAYGO count 0" % pan]
    issued = json.loads(run("token", "issue", "--meter", pan, "--kwh", "1", "--json"))["tokens"][0]
    assert len(issued["token"]) == 15 and set(issued["token"]) <= set("1234")  # keys 1-4 only
    for args in (("token", "manage", "--meter", pan, "--function", "test", "--control", "relay"),
                 ("token", "keychange", "--meter", pan),
                 ("token", "manage", "--meter", PAN, "--function", "counter-sync")):
        assert "profile" in fail(*args)
    assert "profile" in fail("meter", "add", "--pan", pan, "--profile", "dlms")
