"""`opsm fw push` end to end (issue 19): a simulated meter on loopback takes a signed image over DLMS image
transfer (IC 18) in an HLS association, resumes a broken transfer, refuses another key's image, denies the
public client; gurux-dlms (test-only) reads the object too."""

import hashlib
import json
import os
import tempfile
import time

import pytest
from click.testing import CliRunner
from gurux_dlms.objects import GXDLMSImageTransfer

from opsm.host import dlms as D
from opsm.host import fwimage, fwpush
from opsm.host.cli import cli as opsm
from opsm.protocol import axdr, events
from opsm.protocol import fw_image as F
from opsm.protocol import image_transfer as T
from opsm.protocol.dlms_security import Keys
from opsm.simulator import board
from tests.host import dlms_peers as P

SERIAL = "OPS00000007"
MASTER = bytes(range(32))
fw_update = board.module("fw_update")
bootslot = board.module("bootslot")


def _image(folder, master=MASTER, version="1.0.0"):
    """A meter's signed image of a small tree (the meter judges its head and hash, not what the tree runs)."""
    tree = os.path.join(folder, "tree")
    os.makedirs(os.path.join(tree, "lib"), exist_ok=True)
    with open(os.path.join(tree, "main.py"), "w") as f:
        f.write("import app\n")
    with open(os.path.join(tree, "lib", "app.mpy"), "wb") as f:
        f.write(bytes((i * 31) & 0xFF for i in range(20000)))
    payload, built_s = fwimage.pack_tree(tree)
    head = fwimage.header(len(payload), hashlib.sha256(payload).digest(), "esp32", fwimage.parse_version(version),
                          built_s, master, SERIAL)
    path = os.path.join(folder, "fw.img")
    with open(path, "wb") as f:
        f.write(head + payload)
    return path, head + payload


def _meter():
    """(run, port, HLS key file) of a meter provisioned with its firmware key, serving the TCP wrapper."""
    folder = tempfile.mkdtemp()
    run = P.Run({"name": "fw", "meter": dict(P.DEMO_METER), "system": dict(P.DEMO_SYSTEM)}, folder)
    run.meter.set_setting("serial", SERIAL)
    with open(os.path.join(folder, "provision.json"), "w") as f:
        json.dump({"fw_key": fwimage.derive_key(MASTER, SERIAL).hex()}, f)
    keys = P.keys_file(folder)
    return run, P.serve_in_thread([run], ("dlms",), keys_file=keys)["dlms"][0], keys


def _push(port, *options, code=0):
    result = CliRunner().invoke(opsm, ["fw", "push", "--port", str(port), *options])
    assert result.exit_code == code, result.output
    return result.output


def test_a_signed_image_is_transferred_verified_and_activated():
    run, port, keys = _meter()
    path, image = _image(tempfile.mkdtemp())
    out = _push(port, "--hls-keys", keys, "--json", path)
    summary = json.loads(out.strip().splitlines()[-1])
    blocks = -(-len(image) // 192)
    assert summary == {"identifier": fwpush.identifier(image).decode(), "bytes": len(image), "blocks": blocks,
                       "sent": blocks, "status": "activated"}
    assert "%d/%d blocks" % (blocks, blocks) in out
    # activated: unpacked into slot b, on trial, and the meter restarted into it (a new Meter from flash)
    assert bootslot.trial(run.folder + "/") == ("b", 1) and run.model.snapshot()["firmware"].endswith(b" 1.0.0")
    with open(os.path.join(run.folder, "lib_b", "app.mpy"), "rb") as f:
        assert f.read() == bytes((i * 31) & 0xFF for i in range(20000))
    assert [e[2:5] for e in run.meter.log.events()][-3:-1] == [(events.ADMIN, 13, 1 << 8), (events.POWER_UP, 0, 0)]
    with open(os.path.join(run.folder, fw_update._IMAGE_FILE), "rb") as f:
        assert f.read() == image


def test_a_broken_link_is_resumed_by_pushing_again():
    run, port, keys = _meter()
    path, image = _image(tempfile.mkdtemp())
    with open(keys) as f:
        hls = Keys.parse(f.read(), b"")
    link, client = D.open_session("127.0.0.1", port, "wrapper", 1, keys=hls,
                                  invocation_counter=P.next_invocation_counter())

    def cut(sent, _):
        if sent == 5:
            link.close()  # the link goes after the fifth block

    with pytest.raises((D.TransportError, OSError)):
        fwpush.push(client, image, cut)
    transfer = run.model.image_transfer()
    blocks = -(-len(image) // 192)
    bits = bytearray()
    transfer.get_attribute(3, bits)
    assert transfer.status == T.INITIATED and fwpush.missing(axdr.get(bits, 0)[1], blocks) == list(range(5, blocks))
    summary = json.loads(_push(port, "--hls-keys", keys, "--json", path).strip().splitlines()[-1])
    assert summary["sent"] == blocks - 5 < summary["blocks"] == blocks and summary["status"] == "activated"


def test_an_image_signed_under_another_key_fails_verification_with_its_reason():
    run, port, keys = _meter()
    path, _ = _image(tempfile.mkdtemp(), master=bytes(32))
    out = _push(port, "--hls-keys", keys, path, code=1)
    assert "block 0: action-result 250 (verification failed: the meter refused the image" in out
    transfer = run.model.image_transfer()
    assert transfer.status == T.VERIFY_FAILED and F.NAMES[transfer.refusal] == "BAD_SIGNATURE"


def test_the_public_client_is_denied():
    run, port, _ = _meter()
    path, _ = _image(tempfile.mkdtemp())
    out = _push(port, "--client", "16", path, code=1)
    assert "initiate: action-result 3 (access denied" in out
    assert run.model.image_transfer().status == T.NOT_INITIATED


def test_gurux_reads_the_image_transfer_object_and_transfers_a_whole_image():
    run, port, _ = _meter()
    _, image = _image(tempfile.mkdtemp())
    public = P.Gurux(port).connect()
    try:
        transfer = GXDLMSImageTransfer("0.0.44.0.0.255")
        assert public.read(transfer, 2) == 192 and transfer.imageBlockSize == 192
        assert public.read(transfer, 5) is True
        public.read(transfer, 6)
        assert int(transfer.imageTransferStatus) == T.NOT_INITIATED
    finally:
        public.sock.close()
    gurux = P.Gurux(port, hls=True).connect()  # its own image transfer methods, in its own HLS association
    try:
        transfer = GXDLMSImageTransfer("0.0.44.0.0.255")
        gurux.read(transfer, 2)
        assert gurux.request(transfer.imageTransferInitiate(gurux.c, fwpush.identifier(image).decode(),
                                                            len(image))).error == 0
        assert {gurux.request(frame).error for frame in transfer.imageBlockTransfer(gurux.c, bytearray(image), None)} \
            == {0}
        assert gurux.request(transfer.imageVerify(gurux.c)).error == 0
        gurux.read(transfer, 6)
        assert int(transfer.imageTransferStatus) == T.VERIFIED
        assert gurux.request(transfer.imageActivate(gurux.c)).error == 0  # answered, then the meter restarts
        deadline = time.monotonic() + 10
        while bootslot.trial(run.folder + "/") != ("b", 1) and time.monotonic() < deadline:
            time.sleep(0.01)  # the restart follows the reply on the meter's thread
        assert bootslot.trial(run.folder + "/") == ("b", 1)
    finally:
        gurux.sock.close()


def test_an_older_image_needs_allow_older():
    run, port, keys = _meter()
    path, _ = _image(tempfile.mkdtemp(), version="0.4.0")  # the meter runs 0.5.0
    out = _push(port, "--password", run.lls_password, path, code=1)  # LLS: the HLS counter stays for the next
    assert "verification failed" in out and F.NAMES[run.model.image_transfer().refusal] == "OLDER"
    out = _push(port, "--hls-keys", keys, "--allow-older", "--json", path)
    assert json.loads(out.strip().splitlines()[-1])["identifier"].endswith("+downgrade")
    assert run.model.snapshot()["firmware"] == b"OPSM-SP-230 fw 0.4.0"
