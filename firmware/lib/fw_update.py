"""The meter's side of a firmware update: its image transfer object (IC 18) over its flash, its firmware key
and running version, and activation into the other slot (docs/firmware-update.md).

Loaded only when a client first touches the image transfer object (cosem_meter.image_transfer): a meter
that is never updated pays no heap for it. Activation unpacks the verified image's modules into the slot
that is not the confirmed one (bootslot.py), checking the image's hash again as it goes, writes the slot's
version, puts the slot on trial and asks the board to restart once the reply has left.
"""

import os

import bootslot
from protocol import events, fw_image
from protocol import image_transfer as T

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

# Private consts: no names in the module's table (this module's heap is what a meter pays to be updated).
# The largest image taken: over three times today's ~150 KB image, while the staged image and the two
# slots still fit a 4 MB ESP32's file system beside the meter's records.
_SLOT_SIZE = const(512 * 1024)
_PROVISION_FILE = const("provision.json")  # provision.FILE, not imported: its module brings the token profiles
_IMAGE_FILE = const("fw.img")
_STATE_RECORD = const("fwstate")
_ADMIN_FIRMWARE = const(13)   # ADMIN event: an image activated (b: its major << 8 | minor)
_ADMIN_REFUSED = const(16)    # ADMIN event: an image refused by its verification (b: fw_image's reason)
_KEY_SIZE = const(32)
# The update's code, which leaves the heap (hal.release) when a code needs the room or the board restarts.
MODULES = ("fw_update", "protocol.image_transfer", "protocol.fw_image")


def firmware_key(root: str, opener=open):
    """The meter's firmware key: provision.json's "fw_key" (64 hexadecimal digits, `fwimage.derive_key`),
    or None when it has none (or no longer has the file)."""
    import binascii  # built in: importing them here spares two names in this module's table
    import json

    try:
        with opener(root + _PROVISION_FILE, "rb") as f:
            doc = json.loads(bytes(f.read()).decode())
        key = binascii.unhexlify(doc["fw_key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return key if len(key) == _KEY_SIZE else None


class _SlotWriter:
    """Unpacker's sink: the image's lib/ entries into a slot's folder, emptied first; boot.py, main.py and
    the boot selector at the tree's root are not updated over the air (bootslot.py)."""

    def __init__(self, folder: str, opener):
        self.folder = folder
        self._open = opener
        self._file = None
        self._clear(folder)

    def begin(self, path: str, size: int) -> None:
        if not path.startswith("lib/"):
            return
        parts = path.split("/")[1:]
        folder = self.folder
        for part in parts[:-1]:
            folder += "/" + part
            try:
                os.mkdir(folder)
            except OSError:
                pass  # there already
        self._file = self._open(folder + "/" + parts[-1], "wb")

    def write(self, chunk) -> None:
        if self._file is not None:
            self._file.write(chunk)

    def end(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None

    def _clear(self, path: str) -> None:
        """Remove a folder's files and subfolders, keeping the folder (made when missing)."""
        try:
            names = os.listdir(path)
        except OSError:
            os.mkdir(path)  # an error here fails the activation, as writing into the missing folder would
            return
        for name in names:
            full = path + "/" + name
            try:
                os.remove(full)
            except OSError:  # a folder
                self._clear(full)
                os.rmdir(full)


def install(root: str, storage, size: int, check, opener=open) -> str:
    """Unpack the staged image (`size` bytes in `storage`) into the slot that is not the confirmed one and
    put that slot on trial; returns it. The image's hash is checked again as it is unpacked by `check`, a new
    fw_image.Verifier (flash can change since image_verify): on any error the trial is not started and the
    running slots stay as they were. A power cut before start_trial leaves a half-written spare slot that
    nothing boots."""
    slot = bootslot.other(bootslot.active(root))
    folder = bootslot.folder(root, slot)
    writer = _SlotWriter(folder, opener)
    unpacker = fw_image.Unpacker(writer)
    head = fw_image.HEADER_SIZE
    offset = 0
    for chunk in storage.chunks(size):
        check.feed(chunk)
        if offset + len(chunk) > head:
            unpacker.feed(memoryview(chunk)[max(0, head - offset):])
        offset += len(chunk)
    manifest = check.finish()
    unpacker.finish()  # every entry ended: the last file is closed
    with opener(folder + "/" + bootslot.VERSION_FILE, "wb") as f:
        f.write(fw_image.version_text(manifest.version).encode())
    bootslot.start_trial(root, slot)
    return slot


def image_transfer(meter, clock) -> T.ImageTransfer:
    """The meter's image transfer object, rebuilt from its state record (a transfer resumes after a reboot).
    clock() -> (now_s, now_ms)."""
    hal = meter.hal
    root = hal.storage_root.rstrip("/") + "/"
    # No key provisioned: a random one, so that no image verifies (an empty key would be one anybody has).
    key = firmware_key(root, hal.opener) or os.urandom(_KEY_SIZE)
    # The board an image must be built for, from the MicroPython build's machine name; the simulator
    # (unix port, CPython) stands for the classic ESP32 whose heap budget it models.
    machine = os.uname().machine.upper() if hasattr(os, "uname") else ""
    board = "esp32s3" if "ESP32S3" in machine else "pico" if "RP2040" in machine or "PICO" in machine else "esp32"
    running = bootslot.version(root)

    def verifier(identifier: bytes):
        return fw_image.Verifier(key, board, running, identifier.endswith(T.ALLOW_OLDER))

    def activate(manifest) -> bool:
        if bootslot.trial(root) is not None:
            return False  # the slot on trial is running: the confirmed slot is the only way back
        try:
            install(root, storage, manifest.payload_size + fw_image.HEADER_SIZE, verifier(transfer.identifier()),
                    hal.opener)
        except (ValueError, OSError):  # fw_image.ImageError: the staged image changed since its verification
            return False
        major, minor, _ = manifest.version
        meter.log.append(clock()[0], events.ADMIN, _ADMIN_FIRMWARE, (major << 8) | minor)
        hal.request_restart()
        return True

    def refused(reason: int) -> None:
        meter.log.append(clock()[0], events.ADMIN, _ADMIN_REFUSED, reason)

    storage = T.FileStorage(root + _IMAGE_FILE, meter.record(_STATE_RECORD), hal.opener)
    transfer = T.ImageTransfer(storage, _SLOT_SIZE, verifier, activate, refused=refused)
    return transfer
