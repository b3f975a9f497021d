"""`opsm fw sign` and `opsm fw inspect`: images signed per meter with cryptography's HMAC, checked by the
meter's own code (protocol/fw_image.py) under CPython and under the MicroPython unix port, and every
refusal with its reason."""

import hashlib
import json
import os
import subprocess

import pytest
from click.testing import CliRunner

from opsm.host import fwbuild, fwimage
from opsm.host.cli import cli
from opsm.protocol import fw_image as F
from opsm.simulator.board import ROOT
from opsm.simulator.unix_port import micropython_command

SERIAL = "600727000000000009"


def run(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.fixture(scope="module")
def tree(tmp_path_factory):
    return fwbuild.build("esp32", str(tmp_path_factory.mktemp("build") / "esp32"))


@pytest.fixture
def keys(home):
    run("keys", "init")
    run("keys", "add", "firmware", "--generate", 32)
    run("keys", "add", "other", "--generate", 32)
    return home


def _sign(tree, out, version="1.2.0", *extra, code=0):
    return run("fw", "sign", "--board", "esp32", "--version", version, "--tree", tree, "--out", out, *extra, code=code)


def _tree_files(tree):
    out = {}
    for folder, _, names in os.walk(tree):
        for name in names:
            path = os.path.join(folder, name)
            with open(path, "rb") as f:
                out[os.path.relpath(path, tree).replace(os.sep, "/")] = f.read()
    return out


def test_the_meter_side_hmac_is_cryptography_s():
    for size in (0, 1, 16, 32, 63, 64, 65, 131):
        key = bytes((i * 13 + size) & 0xFF for i in range(size))
        for message in (b"", b"abc", bytes(range(256)) * 3):
            assert F.hmac_sha256(key, message) == fwimage._hmac(key, message)
    assert fwimage.derive_key(bytes(32), SERIAL) == F.hmac_sha256(bytes(32), b"opsm-fw-key/1\x00" + SERIAL.encode())
    assert fwimage.derive_key(bytes(32), SERIAL) != fwimage.derive_key(bytes(32), "600727000000000010")


class _Files:
    def __init__(self):
        self.files = {}

    def begin(self, path, size):
        self.path = path
        self.files[path] = b""

    def write(self, chunk):
        self.files[self.path] += bytes(chunk)

    def end(self):
        pass


def test_a_signed_image_verifies_and_unpacks_into_the_tree(keys, tree):
    image = keys / "fw.img"
    assert "for 1 meter(s)" in _sign(tree, image, "1.2.0", "--serial", SERIAL)
    doc = json.loads(run("fw", "inspect", image, "--verify", "--running", "1.1.9", "--json"))
    assert doc["board"] == "esp32" and doc["version"] == "1.2.0" and doc["key_id"] == SERIAL and doc["verified"]
    assert doc["files"] == len(_tree_files(tree)) and doc["built"].endswith("Z")
    data = image.read_bytes()
    master = bytes(32)  # the same checks with a key we know, straight through the meter's classes
    payload = data[F.HEADER_SIZE:]
    head = fwimage.header(len(payload), hashlib.sha256(payload).digest(), "esp32", (1, 2, 0), 0, master, SERIAL)
    verifier = F.Verifier(fwimage.derive_key(master, SERIAL), "esp32", (1, 1, 0))
    verifier.feed(head)
    verifier.feed(data[F.HEADER_SIZE:])
    assert verifier.finish().payload_sha256 == bytes.fromhex(doc["payload_sha256"])
    files = _Files()
    unpacker = F.Unpacker(files)
    unpacker.feed(data[F.HEADER_SIZE:])
    unpacker.finish()
    assert files.files == _tree_files(tree)
    assert "verified        False" in run("fw", "inspect", image)  # the manifest needs no key


def test_each_refusal_names_its_reason(keys, tree):
    image = keys / "fw.img"
    _sign(tree, image, "1.2.0", "--serial", SERIAL)
    data = image.read_bytes()

    def refused(name, *extra, content=None):
        path = image
        if content is not None:
            path = keys / "bad.img"
            path.write_bytes(content)
        assert name + ":" in run("fw", "inspect", path, "--verify", *extra, code=1)

    refused("WRONG_BOARD", "--board", "pico")
    # the meter knows only the code: the host says what it means
    assert len(fwimage.MESSAGES) == len(F.NAMES) and all(fwimage.MESSAGES[1:])
    assert ("WRONG_BOARD: built for another board (esp32, not pico)"
            in run("fw", "inspect", image, "--verify", "--board", "pico", code=1))
    refused("OLDER", "--running", "1.3.0")
    assert "1.2.0" in run("fw", "inspect", image, "--verify", "--running", "1.3.0", "--allow-older")
    refused("SAME_VERSION", "--running", "1.2.0")
    refused("BAD_PAYLOAD", content=bytes(data[:-100]) + bytes((data[-100] ^ 1,)) + data[-99:])
    refused("BAD_SIGNATURE", content=data[:23] + bytes((data[23] ^ 1,)) + data[24:])  # the manifest's version
    refused("BAD_SIGNATURE", content=data[:100] + bytes((data[100] ^ 1,)) + data[101:])  # the tag
    refused("TRUNCATED", content=data[:-1])
    refused("TRUNCATED", content=data[:60])
    refused("TOO_LONG", content=data + b"\0")
    refused("BAD_FORMAT", content=b"PK\x03\x04" + data[4:])
    refused("BAD_SIGNATURE", "--fw-key", "other")  # another entity's key
    (keys / "cut.img").write_bytes(data[:-1])
    assert "TRUNCATED:" in run("fw", "inspect", keys / "cut.img", code=1)  # no key needed to see a cut image


def test_a_fleet_shares_one_payload_and_each_meter_has_its_own_head(keys, tree):
    inventory = keys / "meters.csv"
    inventory.write_text("device_id,serial,host,port,protocol\nM1,%s,10.0.0.1,7001,dlms-tcp\n"
                         "M2,600727000000000010,10.0.0.1,7002,dlms-tcp\n" % SERIAL)
    out = keys / "fleet"
    assert "for 2 meter(s)" in _sign(tree, out, "2.0.0", "--inventory", inventory)
    assert sorted(os.listdir(out)) == [SERIAL + ".head", "600727000000000010.head", "payload.bin"]
    heads = [(out / (s + ".head")).read_bytes() for s in (SERIAL, "600727000000000010")]
    assert all(len(h) == F.HEADER_SIZE for h in heads) and heads[0][:66] == heads[1][:66]  # only key id and tag differ
    for serial in (SERIAL, "600727000000000010"):
        doc = json.loads(run("fw", "inspect", out / (serial + ".head"), "--payload", out / "payload.bin", "--verify",
                             "--json"))
        assert doc["key_id"] == serial and doc["version"] == "2.0.0"
    # Meter 1's head carried to meter 2 (its key id rewritten to meter 2's): meter 2's key does not verify it.
    swapped = keys / "swapped.img"
    swapped.write_bytes(heads[0][:66] + heads[1][66:90] + heads[0][90:])
    assert "BAD_SIGNATURE:" in run("fw", "inspect", swapped, "--payload", out / "payload.bin", "--verify", code=1)
    inventory.write_text("serial\n%s\n%s\n" % (SERIAL, SERIAL))
    assert "also on row 2" in _sign(tree, keys / "again", "2.0.0", "--inventory", inventory, code=1)
    assert not (keys / "again").exists()


def test_sign_refuses_what_it_cannot_sign(keys, tree):
    out = keys / "x.img"
    assert "was not built for board pico" in run("fw", "sign", "--board", "pico", "--version", "1.0.0", "--tree", tree,
                                                 "--serial", SERIAL, "--out", out, code=1)
    assert "version" in _sign(tree, out, "1.2", "--serial", SERIAL, code=1)
    assert "version" in _sign(tree, out, "0.0.0", "--serial", SERIAL, code=1)
    assert "version" in _sign(tree, out, "1.256.0", "--serial", SERIAL, code=1)
    assert "--serial" in _sign(tree, out, "1.0.0", code=1)
    assert "serial" in _sign(tree, out, "1.0.0", "--serial", "x" * 25, code=1)
    run("keys", "add", "short", "--generate", 8)
    assert "at least 16 bytes" in _sign(tree, out, "1.0.0", "--serial", SERIAL, "--fw-key", "short", code=1)
    assert "no key named 'nothere'" in _sign(tree, out, "1.0.0", "--serial", SERIAL, "--fw-key", "nothere", code=1)
    assert not out.exists()


def test_the_unix_port_verifies_a_150_kb_image_in_blocks(tmp_path):
    """The meter's code on real MicroPython: the HMAC over hashlib, a 150 KB payload fed in 512-byte blocks."""
    payload = bytes((i * 31 + (i >> 8)) & 0xFF for i in range(150 * 1024))
    master = os.urandom(32)
    image = tmp_path / "fw.img"
    head = fwimage.header(len(payload), hashlib.sha256(payload).digest(), "esp32", (1, 4, 2), 0, master, SERIAL)
    image.write_bytes(head + payload)
    # The heap is locked while each full block is fed: a payload block costs no allocation.
    script = ("import time, micropython\nfrom protocol import fw_image as F\n"
              "v = F.Verifier(bytes.fromhex('%s'), 'esp32', (1, 4, 1))\nbuf = bytearray(512)\n"
              "t = time.ticks_ms()\n"
              "with open('%s', 'rb') as f:\n"
              "    v.feed(f.read(F.HEADER_SIZE))\n"
              "    while True:\n"
              "        n = f.readinto(buf)\n"
              "        if n < len(buf): break\n"
              "        micropython.heap_lock(); v.feed(buf); micropython.heap_unlock()\n"
              "    v.feed(buf[:n])\n"
              "m = v.finish()\nprint(F.version_text(m.version), time.ticks_diff(time.ticks_ms(), t))\n"
              % (fwimage.derive_key(master, SERIAL).hex(), image))
    out = subprocess.run(micropython_command() + ["-X", "heapsize=96K", "-c", script], env=dict(
        os.environ, MICROPYPATH=ROOT), capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    version, ms = out.stdout.split()
    assert version == "1.4.2"
    print("unix port: 150 KB image verified in %s ms" % ms)
    image.write_bytes(image.read_bytes()[:-1] + b"\0")
    out = subprocess.run(micropython_command() + ["-X", "heapsize=96K", "-c", script], env=dict(
        os.environ, MICROPYPATH=ROOT), capture_output=True, text=True, timeout=120)
    assert "BAD_PAYLOAD" in out.stdout + out.stderr  # the unix port prints tracebacks on stdout
