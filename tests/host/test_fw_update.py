"""Firmware update on the virtual board (issue 19): a real firmware tree, signed, taken by the meter's image
transfer object, unpacked into the other slot, booted on trial (its modules imported by the MicroPython unix
port), confirmed, or given up after its trial boots; power cuts at every stage of transfer, verify and activate.
The transfer here calls the meter's object directly; tests/host/test_fw_push.py takes the same path over DLMS."""

import hashlib
import json
import os
import shutil
import subprocess
import tempfile

import pytest

from opsm.host import fwimage
from opsm.protocol import cosem_objects as O
from opsm.protocol import events
from opsm.protocol import fw_image as F
from opsm.protocol import image_transfer as T
from opsm.simulator import board, unix_port
from tests.host import dlms_peers as P

bootslot = board.module("bootslot")
PowerLost = board.module("simulator.flash").PowerLost  # the class the virtual board raises
MASTER = bytes(range(32))
SERIAL = "OPS00000042"
CODE = "63638916334124550935"  # 25.6 kWh, the demo meter's key
CODE_2 = "45798100519745983712"  # 1638.4 kWh, the same key


def _image(tree, version=(0, 6, 0), master=MASTER, serial=SERIAL, board_name="esp32") -> bytes:
    payload, built_s = fwimage.pack_tree(tree)
    return fwimage.header(len(payload), hashlib.sha256(payload).digest(), board_name, version, built_s, master,
                          serial) + payload


def _meter(folder=None):
    """A provisioned meter (its firmware key) with credit; its slots' firmware judged by the unix port."""
    folder = folder or tempfile.mkdtemp()
    run = P.Run({"name": "fw", "meter": dict(P.DEMO_METER)}, folder)
    run.slot_starts = unix_port.slot_starts
    run.meter.set_setting("serial", SERIAL)
    with open(os.path.join(folder, "provision.json"), "w") as f:
        json.dump({"fw_key": fwimage.derive_key(MASTER, SERIAL).hex()}, f)
    run.type("*" + CODE + "*")
    run.advance(3600 * 1000)
    return run


def _trust(run) -> tuple:
    """What no update may change: credit, the decoder's state (key, TID memory) and energy."""
    recharger = run.meter.recharger
    return run.meter.available_wh(), bytes(recharger.state), recharger.energy.import_wh


def _send(run, image, numbers=None):
    transfer = run.model.image_transfer()
    assert transfer.action(1, [b"fw-test", len(image)]) == O.SUCCESS
    size = transfer.block_size
    for n in numbers if numbers is not None else range(-(-len(image) // size)):
        assert transfer.action(2, [n, image[n * size:(n + 1) * size]]) == O.SUCCESS
    return transfer


def _firmware(run) -> bytes:
    return run.model.snapshot()["firmware"]


def _admin(run, change):
    return [e[4] for e in run.meter.log.events() if e[2] == events.ADMIN and e[3] == change]


def test_an_update_unpacks_into_the_other_slot_boots_on_trial_and_confirms(releases):
    run = _meter()
    before = _trust(run)
    assert _firmware(run) == b"OPSM-SP-230 fw 0.5.0"
    image = _image(releases["good"])
    transfer = _send(run, image)
    assert transfer.action(3, 0) == O.SUCCESS and transfer.action(4, 0) == O.SUCCESS
    root = run.folder + "/"
    with open(os.path.join(releases["good"], "lib", "meter.mpy"), "rb") as a, open(root + "lib_b/meter.mpy", "rb") as b:
        assert a.read() == b.read()
    assert sorted(os.listdir(root + "lib_b/protocol")) == sorted(os.listdir(releases["good"] + "/lib/protocol"))
    assert not os.path.exists(root + "lib_b/boot.py") and not os.path.exists(root + "lib_b/bootslot.mpy")
    assert bootslot.trial(root) == ("b", 0) and _admin(run, 13) == [6]  # 0 << 8 | 6
    assert run.restart_if_asked()  # the board restarts once the reply has left
    assert bootslot.trial(root) == ("b", 1) and run.failed_boots == 0  # the unix port imported lib_b's app
    assert _firmware(run) == b"OPSM-SP-230 fw 0.6.0" and run.confirm is not None
    run.advance(59 * 60000)
    assert bootslot.trial(root) == ("b", 1)  # not yet: a minute of readings (here 60 steps) first
    run.advance(60000)
    assert bootslot.trial(root) is None and bootslot.active(root) == "b" and _admin(run, 14) == [6]
    run.boot()
    assert _firmware(run) == b"OPSM-SP-230 fw 0.6.0" and run.confirm is None
    used = run.meter.energy.import_wh - before[2]
    assert _trust(run)[1] == before[1] and run.meter.available_wh() == before[0] - used
    run.type("*" + CODE + "*")  # the TID memory came through: the same code is refused as used
    assert run.meter.available_wh() == before[0] - used


def test_an_image_that_does_not_start_is_given_up_after_its_trial_boots(releases):
    run = _meter()
    before = _trust(run)
    transfer = _send(run, _image(releases["broken"]))
    assert transfer.action(3, 0) == O.SUCCESS and transfer.action(4, 0) == O.SUCCESS
    assert run.restart_if_asked()
    root = run.folder + "/"
    # three boots of lib_b, each failing to import its app; then slot a again, and the firmware logs why
    assert run.failed_boots == bootslot.MAX_TRIAL_BOOTS and bootslot.trial(root) is None
    assert bootslot.active(root) == "a" and _firmware(run) == b"OPSM-SP-230 fw 0.5.0"
    assert _admin(run, 15) == [bootslot.MAX_TRIAL_BOOTS] and run.confirm is None
    assert _trust(run) == before
    # the good release goes into the same spare slot afterwards
    transfer = _send(run, _image(releases["good"], version=(0, 6, 1)))
    assert transfer.action(3, 0) == O.SUCCESS and transfer.action(4, 0) == O.SUCCESS and run.restart_if_asked()
    assert _firmware(run) == b"OPSM-SP-230 fw 0.6.1" and run.failed_boots == bootslot.MAX_TRIAL_BOOTS


@pytest.mark.parametrize("why, image, reason", [
    ("another meter's key", dict(master=bytes(32)), F.BAD_SIGNATURE),
    ("another board", dict(board_name="pico"), F.WRONG_BOARD),
    ("an older version", dict(version=(0, 4, 9)), F.OLDER),
    ("the running version", dict(version=(0, 5, 0)), F.SAME_VERSION),
])
def test_a_refused_image_is_logged_with_its_reason(releases, why, image, reason):
    run = _meter()
    data = _image(releases["good"], **image)
    transfer = run.model.image_transfer()
    assert transfer.action(1, [b"fw-test", len(data)]) == O.SUCCESS
    assert transfer.action(2, [0, data[:transfer.block_size]]) == O.OTHER_REASON, why  # judged at block 0
    assert transfer.refusal == reason and _admin(run, 16) == [reason]
    assert not os.path.exists(run.folder + "/lib_b") and bootslot.trial(run.folder + "/") is None


def _activate_through_cuts(run, cut_every: int) -> int:
    """Verify and activate, the power cut at every `cut_every`-th flash write of the activation in turn, each
    cut followed by a boot and a new verify (a verification does not outlive a reboot), until an activation
    goes through; returns the cuts. A cut before the trial is started leaves the old firmware running; one
    after it (at the event logged last) boots the new one on trial."""
    cuts = 0
    root = run.folder + "/"
    while True:
        transfer = run.model.image_transfer()
        assert transfer.status == T.INITIATED
        assert transfer.action(3, 0) == O.SUCCESS
        run.flash.cut_at = run.flash.writes + 1 + cuts * cut_every
        try:
            done = transfer.action(4, 0) == O.SUCCESS
        except PowerLost:
            cuts += 1
            run.power_losses += 1
            run.boot()
            if bootslot.trial(root) is not None:
                assert _firmware(run) == b"OPSM-SP-230 fw 0.6.0"
                return cuts
            assert _firmware(run) == b"OPSM-SP-230 fw 0.5.0"
            continue
        run.flash.cut_at = 0
        assert done and run.restart_if_asked()
        return cuts


def test_power_cuts_at_every_stage_keep_the_meter_and_the_update_goes_through(releases):
    run = _meter()
    before = _trust(run)
    image = _image(releases["good"])
    blocks = -(-len(image) // 192)
    # transfer: a cut at a block's write, then at its record's; the meter resumes with what it stored
    for cut in (7, 8):
        run.flash.cut_at = run.flash.writes + cut
        with pytest.raises(PowerLost):
            _send(run, image)
        run.boot()
        assert run.model.image_transfer().status == T.INITIATED
    transfer = run.model.image_transfer()
    bits = bytearray()
    transfer.get_attribute(4, bits)
    stored = bits[-1]
    assert 0 < stored < blocks
    _send(run, image, range(stored, blocks))
    # verify: a cut while it reads back (no write) is a reboot before its end: verify again
    run.boot()
    # activation: a cut at every 7th of its flash writes in turn (~600 writes of 256 bytes: the slot's files, its
    # version file, the event after the trial's start), each a reboot and a new verify and activate
    cuts = _activate_through_cuts(run, 7)
    assert cuts > 60
    assert _firmware(run) == b"OPSM-SP-230 fw 0.6.0"
    run.advance(3600 * 1000)
    assert bootslot.active(run.folder + "/") == "b"
    assert _trust(run)[1] == before[1] and run.power_losses == cuts


def test_a_code_that_finds_no_room_during_a_transfer_comes_first_and_the_transfer_resumes(releases):
    """A transfer takes the token decoder's room (cosem_meter.image_transfer); a code whose decoder then finds
    none (a MemoryError, as on a meter at its heap's limit) takes it back from the idle transfer, and the
    client's next request rebuilds the transfer from flash where it was."""
    run = _meter()
    image = _image(releases["good"])
    blocks = -(-len(image) // 192)
    _send(run, image, range(blocks // 2))
    recharger = run.meter.recharger
    assert recharger.make_room is not None  # what the transfer gives up for a code
    credit, energy = run.meter.available_wh(), run.meter.energy.import_wh
    decoder, tries = recharger.profile.decoder, []

    def no_room_at_first(state=None):
        tries.append(state)
        if len(tries) == 1:
            raise MemoryError("memory allocation failed")
        return decoder(state)

    recharger.profile.decoder = no_room_at_first
    run.type("*" + CODE_2 + "*")
    run.advance(60000)
    assert len(tries) == 2 and run.model._transfer is None and recharger.make_room is None
    assert run.meter.available_wh() == credit + 1638400 - (run.meter.energy.import_wh - energy)
    transfer = run.model.image_transfer()  # the client's next request: rebuilt from its state record
    bits = bytearray()
    transfer.get_attribute(4, bits)
    assert transfer.status == T.INITIATED and bits[-2:] == (blocks // 2).to_bytes(2, "big")
    _send(run, image, range(blocks // 2, blocks))
    assert transfer.action(3, 0) == O.SUCCESS and transfer.action(4, 0) == O.SUCCESS


def test_boot_selects_the_slot_under_micropython(tmp_path):
    """boot.py and bootslot as a board runs them: the unix port imports from the slot they put on the path."""
    flash = tmp_path / "flash"
    for slot in ("lib", "lib_b"):
        (flash / slot).mkdir(parents=True)
        (flash / slot / "which.py").write_text("SLOT = %r\n" % slot)
    shutil.copy(os.path.join(board.ROOT, "firmware", "boot.py"), flash / "boot.py")
    shutil.copy(os.path.join(board.ROOT, "firmware", "lib", "bootslot.py"), flash / "bootslot.py")
    script = "import sys\nsys.path.append('lib')\nimport bootslot\nbootslot.boot('')\nimport which\nprint(which.SLOT)"

    def boot() -> str:
        proc = subprocess.run(unix_port.micropython_command() + ["-c", script], cwd=flash, capture_output=True,
                              text=True, env=dict(os.environ, MICROPYPATH=".frozen"), timeout=60)
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.strip()

    assert boot() == "lib"
    (flash / "fwtrial").write_text("b 0")
    assert [boot() for _ in range(bootslot.MAX_TRIAL_BOOTS)] == ["lib_b"] * bootslot.MAX_TRIAL_BOOTS
    assert boot() == "lib" and (flash / "fwrollback").read_text() == "b 3" and not (flash / "fwtrial").exists()
    (flash / "fwtrial").write_text("b 0")
    assert boot() == "lib_b"
    proc = subprocess.run(unix_port.micropython_command() + ["-c", "import bootslot\nbootslot.confirm('')"],
                          cwd=flash, env=dict(os.environ, MICROPYPATH=".frozen"), timeout=60)
    assert proc.returncode == 0 and (flash / "fwslot").read_text() == "b"
    assert [boot() for _ in range(5)] == ["lib_b"] * 5


def test_boot_py_lets_the_selector_go_from_the_heap(tmp_path):
    """boot.py runs the selector and drops it from sys.modules: the app and the update import it when they need
    it, so the day's heap does not hold it (as the soak, which runs no boot.py, counts it)."""
    shutil.copy(os.path.join(board.ROOT, "firmware", "boot.py"), tmp_path / "boot.py")
    (tmp_path / "bootslot.py").write_text("def boot():\n    print('selected')\n")  # the selector's one call
    script = "exec(open('boot.py').read())\nimport sys\nprint('bootslot' in sys.modules)"
    proc = subprocess.run(unix_port.micropython_command() + ["-c", script], cwd=tmp_path, capture_output=True,
                          text=True, env=dict(os.environ, MICROPYPATH=".frozen"), timeout=60)
    assert proc.returncode == 0 and proc.stdout.split() == ["selected", "False"], proc.stdout + proc.stderr


def test_a_recharge_record_of_a_newer_format_is_refused_not_misread():
    """What an older firmware does after a rollback if a newer one had changed the record's format."""
    run = _meter()
    store = run.meter.record("state", True)
    data = bytearray(store.load())
    data[0] = 5  # a version no release knows yet
    store.save(bytes(data))
    with pytest.raises(ValueError, match="unknown version 5"):
        run.boot()


def test_the_firmware_key_is_read_from_the_file_provisioning_writes():
    assert board.module("fw_update")._PROVISION_FILE == board.module("provision").FILE


def test_an_older_image_is_taken_only_when_the_transfer_asks_for_a_downgrade(releases):
    run = _meter()
    image = _image(releases["good"], version=(0, 4, 9))
    transfer = run.model.image_transfer()
    assert transfer.action(1, [b"fw-test", len(image)]) == O.SUCCESS
    assert transfer.action(2, [0, image[:transfer.block_size]]) == O.OTHER_REASON and transfer.refusal == F.OLDER
    transfer = run.model.image_transfer()
    assert transfer.action(1, [b"fw-test" + T.ALLOW_OLDER, len(image)]) == O.SUCCESS
    size = transfer.block_size
    for n in range(-(-len(image) // size)):
        assert transfer.action(2, [n, image[n * size:(n + 1) * size]]) == O.SUCCESS
    assert transfer.action(3, 0) == O.SUCCESS and transfer.action(4, 0) == O.SUCCESS and run.restart_if_asked()
    assert _firmware(run) == b"OPSM-SP-230 fw 0.4.9"
