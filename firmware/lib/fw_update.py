"""The meter's side of a firmware update: its image transfer object (IC 18) over its flash, its firmware key
and running version, and what activation does for now (docs/firmware-update.md, "Transfer over DLMS").

Loaded only when a client first touches the image transfer object (cosem_meter.image_transfer): a meter
that is never updated pays no heap for it. Activation records the verified image's manifest as pending
in a power-safe record and logs it; switching slots and rebooting into it are the next slice.
"""

import binascii
import json
import os

from protocol import events, fw_image
from protocol.image_transfer import FileStorage, ImageTransfer

from provision import FILE as PROVISION_FILE

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

# The version this firmware is (cosem_meter.VERSION names it): an image must be newer to be taken.
FIRMWARE_VERSION = (0, 5, 0)
# The largest image taken: over three times today's ~150 KB image, while the staged image and the slot
# it will unpack into (the next slice) still fit a 4 MB ESP32's file system beside the meter's records.
SLOT_SIZE = const(512 * 1024)
IMAGE_FILE = "fw.img"
STATE_RECORD = "fwstate"
PENDING_RECORD = "fwpending"  # the manifest of the image activated, waiting for the slot switch
_ADMIN_FIRMWARE = const(13)   # ADMIN event: an image activated (b: its major << 8 | minor)
_KEY_SIZE = 32


def board_name() -> str:
    """The board an image must be built for, from the MicroPython build's machine name; the simulator
    (unix port, CPython) stands for the classic ESP32 whose heap budget it models."""
    machine = os.uname().machine.upper() if hasattr(os, "uname") else ""
    if "ESP32S3" in machine:
        return "esp32s3"
    if "RP2040" in machine or "PICO" in machine:
        return "pico"
    return "esp32"


def firmware_key(root: str, opener=open):
    """The meter's firmware key: provision.json's "fw_key" (64 hexadecimal digits, `fwimage.derive_key`),
    or None when it has none (or no longer has the file)."""
    try:
        with opener(root + PROVISION_FILE, "rb") as f:
            doc = json.loads(bytes(f.read()).decode())
        key = binascii.unhexlify(doc["fw_key"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    return key if len(key) == _KEY_SIZE else None


def image_transfer(meter, clock) -> ImageTransfer:
    """The meter's image transfer object, rebuilt from its state record (a transfer resumes after a reboot).
    clock() -> (now_s, now_ms)."""
    hal = meter.hal
    root = hal.storage_root.rstrip("/") + "/"
    # No key provisioned: a random one, so that no image verifies (an empty key would be one anybody has).
    key = firmware_key(root, hal.opener) or os.urandom(_KEY_SIZE)
    board = board_name()

    def verifier():
        return fw_image.Verifier(key, board, FIRMWARE_VERSION)

    def activate(manifest) -> bool:
        meter.record(PENDING_RECORD, True).save(manifest.pack())
        major, minor, _ = manifest.version
        meter.log.append(clock()[0], events.ADMIN, _ADMIN_FIRMWARE, (major << 8) | minor)
        return True

    storage = FileStorage(root + IMAGE_FILE, meter.record(STATE_RECORD), hal.opener)
    return ImageTransfer(storage, SLOT_SIZE, verifier, activate)
