"""The encrypted vending key file: who may read it, how strong its passphrase is, which scrypt cost its header may
ask for; every refusal a message naming the field, never a traceback or a hang."""

import json
import os
import stat
import time
import types

import click
import pytest
from click.testing import CliRunner

from opsm.host import cli_common, keystore
from opsm.host.cli import cli
from opsm.host.keystore import KeyStore, KeyStoreError

PASSPHRASE = "correct horse battery staple"
KEY = bytes(range(16))
posix_only = pytest.mark.skipif(os.name == "nt", reason="POSIX permission bits")


def made(tmp_path, passphrase=PASSPHRASE) -> str:
    path = str(tmp_path / "keys.json")
    store = KeyStore.create(path, passphrase)
    store.add("default", KEY)
    store.save()
    return path


def edited(path: str, **fields) -> None:
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    doc.update(fields)
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)


def cli_run(tmp_path, *args, passphrase=PASSPHRASE):
    env = {"OPSM_KEYFILE": str(tmp_path / "keys.json"), "OPSM_DB": str(tmp_path / "registry.sqlite"),
           "OPSM_PASSPHRASE": passphrase}
    result = CliRunner().invoke(cli, list(args), env=env)
    assert "Traceback" not in result.output and (result.exception is None or isinstance(result.exception,
                                                                                         SystemExit)), result
    return result


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o700], ids=oct)
def test_a_key_file_others_could_read_is_refused_with_the_chmod_to_run(tmp_path, mode):
    path = made(tmp_path)
    os.chmod(path, mode)
    with pytest.raises(KeyStoreError) as caught:
        KeyStore.open(path, PASSPHRASE)
    assert "0%o" % mode in str(caught.value) and "chmod 600 %s" % path in str(caught.value)
    result = cli_run(tmp_path, "keys", "list")
    assert result.exit_code == 1 and "chmod 600" in result.output and "default" not in result.output
    os.chmod(path, 0o600)
    assert KeyStore.open(path, PASSPHRASE).get("default") == KEY
    os.chmod(path, 0o400)  # narrower is fine
    assert KeyStore.open(path, PASSPHRASE).get("default") == KEY


@pytest.mark.parametrize("passphrase", ["a", "x" * 11, " " * 20, " " * 6 + "y" * 11])
def test_a_new_key_file_needs_a_passphrase_of_twelve_characters(tmp_path, passphrase):
    assert keystore.MIN_PASSPHRASE == 12
    path = tmp_path / "keys.json"
    with pytest.raises(KeyStoreError, match="passphrase: a new key file needs at least 12 characters"):
        KeyStore.create(str(path), passphrase)
    assert not path.exists()
    result = cli_run(tmp_path, "keys", "init", passphrase=passphrase)
    assert result.exit_code == 1 and "at least 12 characters" in result.output
    assert not path.exists()
    assert KeyStore.create(str(path), "x" * 12).keys == {}


def test_an_existing_file_with_a_short_passphrase_still_opens_and_can_take_a_longer_one(tmp_path, monkeypatch):
    monkeypatch.setattr(keystore, "MIN_PASSPHRASE", 1)  # a file made before the rule
    path = made(tmp_path, "short")
    monkeypatch.undo()
    store = KeyStore.open(path, "short")
    assert store.get("default") == KEY and store.weak_passphrase
    store.add("second", KEY)
    store.save()  # the same passphrase: the file stays usable
    store = KeyStore.open(path, "short")
    with pytest.raises(KeyStoreError, match="at least 12 characters"):
        store.change_passphrase("still short")
    assert KeyStore.open(path, "short").keys == {"default": KEY, "second": KEY}
    store.change_passphrase(PASSPHRASE)
    if os.name != "nt":
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert sorted(os.listdir(tmp_path)) == ["keys.json"]  # no temporary left beside it
    renewed = KeyStore.open(path, PASSPHRASE)
    assert renewed.keys == {"default": KEY, "second": KEY} and not renewed.weak_passphrase
    with pytest.raises(KeyStoreError, match="wrong passphrase"):
        KeyStore.open(path, "short")


def test_the_file_records_every_scrypt_parameter_and_other_valid_ones_open(tmp_path, monkeypatch):
    path = made(tmp_path)
    with open(path, encoding="utf-8") as f:
        doc = json.load(f)
    assert (doc["scrypt_n"], doc["scrypt_r"], doc["scrypt_p"]) == (2 ** 15, 8, 1)
    monkeypatch.setattr(keystore, "SCRYPT", {"n": 2 ** 14, "r": 4, "p": 2})
    other = made(tmp_path / "other")
    monkeypatch.undo()
    assert KeyStore.open(other, PASSPHRASE).get("default") == KEY
    # a file written before scrypt_r and scrypt_p were recorded used r=8, p=1
    doc.pop("scrypt_r"), doc.pop("scrypt_p")
    with open(path, "w", encoding="utf-8") as f:
        json.dump(doc, f)
    assert KeyStore.open(path, PASSPHRASE).get("default") == KEY


@pytest.mark.parametrize("fields, message", [
    ({"scrypt_n": -1}, "scrypt_n: must be a power of two from 2**14 to 2**20, got -1"),
    ({"scrypt_n": 0}, "scrypt_n: must be a power of two from 2**14 to 2**20, got 0"),
    ({"scrypt_n": 3 * 2 ** 14}, "scrypt_n: must be a power of two"),
    ({"scrypt_n": 2 ** 13}, "scrypt_n: must be a power of two from 2**14 to 2**20, got 8192"),
    ({"scrypt_n": 2 ** 21}, "scrypt_n: must be a power of two from 2**14 to 2**20, got 2097152"),
    ({"scrypt_n": 2 ** 62}, "scrypt_n: must be a power of two from 2**14 to 2**20"),
    ({"scrypt_n": 10 ** 400}, "scrypt_n: must be a power of two from 2**14 to 2**20"),
    ({"scrypt_n": "32768"}, "scrypt_n: must be a power of two from 2**14 to 2**20, got '32768'"),
    ({"scrypt_n": 32768.0}, "scrypt_n: must be a power of two"),
    ({"scrypt_n": True}, "scrypt_n: must be a power of two"),
    ({"scrypt_r": 0}, "scrypt_r: must be an integer from 1 to 32, got 0"),
    ({"scrypt_r": -8}, "scrypt_r: must be an integer from 1 to 32, got -8"),
    ({"scrypt_r": 33}, "scrypt_r: must be an integer from 1 to 32, got 33"),
    ({"scrypt_p": 0}, "scrypt_p: must be an integer from 1 to 16, got 0"),
    ({"scrypt_p": 2 ** 20}, "scrypt_p: must be an integer from 1 to 16, got 1048576"),
    ({"scrypt_p": -1}, "scrypt_p: must be an integer from 1 to 16, got -1"),
    ({"scrypt_n": 2 ** 20, "scrypt_r": 8}, "scrypt: n=1048576, r=8 need 1024 MiB of memory, more than the 256 MiB"),
    ({"scrypt_n": 2 ** 17, "scrypt_r": 8, "scrypt_p": 16}, "scrypt: n*r*p=16777216 is more work than"),
    ({"scrypt_n": 2 ** 16, "scrypt_r": 1}, "scrypt: n=65536 needs r of at least 2"),
    ({"salt": "AAAA"}, "salt: must be 16 to 64 bytes, got 3"),
    ({"nonce": "AAAAAAAA"}, "nonce: must be 12 bytes, got 6"),
])
def test_kdf_parameters_out_of_bounds_are_refused_at_once(tmp_path, fields, message):
    path = made(tmp_path)
    edited(path, **fields)
    started = time.monotonic()
    with pytest.raises(KeyStoreError) as caught:
        KeyStore.open(path, PASSPHRASE)
    assert time.monotonic() - started < 1.0
    assert str(caught.value).startswith("keyfile: %s: " % path) and message in str(caught.value)
    result = cli_run(tmp_path, "keys", "list")
    assert result.exit_code == 1 and message in result.output


def test_the_largest_accepted_cost_opens_within_seconds(tmp_path, monkeypatch):
    monkeypatch.setattr(keystore, "SCRYPT", {"n": 2 ** 20, "r": 2, "p": 2})  # at the bounds: 256 MiB, n*r*p = 2**22
    started = time.monotonic()
    path = made(tmp_path)
    monkeypatch.undo()
    assert KeyStore.open(path, PASSPHRASE).get("default") == KEY
    assert time.monotonic() - started < 20  # two saves and an open


def test_keys_init_at_a_terminal_asks_again_for_a_short_passphrase(monkeypatch):
    monkeypatch.delenv("OPSM_PASSPHRASE", raising=False)
    monkeypatch.setattr(cli_common, "sys", types.SimpleNamespace(stdin=types.SimpleNamespace(isatty=lambda: True)))

    @click.command()
    def ask():
        click.echo("got %r" % cli_common.read_passphrase(confirm=True))

    result = CliRunner().invoke(ask, input="too short\n%s\n%s\n" % (PASSPHRASE, PASSPHRASE))
    assert result.exit_code == 0, result.output
    assert "at least 12 characters" in result.output and result.output.endswith("got %r\n" % PASSPHRASE)
    monkeypatch.setenv("OPSM_PASSPHRASE", "too short")
    with pytest.raises(ValueError, match="OPSM_PASSPHRASE: a new key file needs at least 12 characters"):
        cli_common.read_passphrase(confirm=True)
    assert cli_common.read_passphrase() == "too short"  # an existing file may still be opened with it
