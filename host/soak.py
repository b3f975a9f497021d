"""`make soak`: the firmware and the virtual board as a ROMFS image, run by simulator/soak.py.

On a board the code lives in flash (a ROMFS partition, executed in place) and the
heap holds data only; here the image is read into the unix port's memory and
mounted the same way, and --heap is the heap the firmware gets beside it. The day
includes a firmware update at 03:00 (--no-update leaves it out). Prints what the soak
prints and exits with its status.
"""

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tempfile

from opsm.host import fwimage
from opsm.host.fwbuild import build, compile_tree, firmware_sources
from opsm.simulator.board import ROOT
from opsm.simulator.unix_port import micropython_command


# Holding and mounting the image on the unix port beyond its bytes (the bytes object's
# header ~100 B, VfsRom and the mount table ~100 B, measured): none of it is in a board's heap.
MOUNT_BYTES = 256


def gc_tables(nbytes: int) -> int:
    """What MicroPython's collector keeps beside `nbytes` of the unix port's heap for its tables (py/gc.c: 2
    bits of allocation table and 1 bit of finaliser table per 32-byte block on a 64-bit port): the image's
    share of them would not exist on a board either, where the image is flash."""
    return -(-nbytes * 3 // (8 * 32))


# `micropython -c BOOTSTRAP IMAGE STATE_DIR [FIRMWARE_IMAGE]`: mount the image, then run the soak from it (the
# harness in the image too: compiled from source it would take ~5 KB of the heap the firmware is given).
BOOTSTRAP = """import gc, sys, vfs
with open(sys.argv[1], "rb") as f:
    image = f.read()
vfs.mount(vfs.VfsRom(image), "/rom")
gc.collect()
held = gc.mem_alloc()
import soak
sys.exit(soak.run(sys.argv[2], held, sys.argv[3] if len(sys.argv) > 3 else None))
"""


def _kib(text: str) -> int:
    return int(text[:-1]) * 1024 if text[-1:].upper() == "K" else int(text)


def build_image(work: str) -> str:
    tree = os.path.join(work, "tree")
    compile_tree(firmware_sources() + [(os.path.join(ROOT, "boards", "sim.py"), "boards/sim.py"),
                                       (os.path.join(ROOT, "boards", "__init__.py"), "boards/__init__.py"),
                                       (os.path.join(ROOT, "simulator", "soak.py"), "soak.py")], tree)
    image = os.path.join(work, "firmware.romfs")
    subprocess.run([sys.executable, "-m", "mpremote", "romfs", "--output", image, "build", tree],
                   check=True, capture_output=True)
    return image


def signed_update(work: str, state: str) -> str:
    """A production esp32 build, version 0.6.0, signed for the soak's meter, and provision.json giving the
    meter its firmware key: the update the soak transfers at 03:00. Returns the image's path."""
    tree = build("esp32", os.path.join(work, "esp32"))
    payload, built_s = fwimage.pack_tree(tree)
    master, serial = b"opsm soak firmware master key 32", "SOAK0001"
    image = os.path.join(work, "update.img")
    with open(image, "wb") as f:
        f.write(fwimage.header(len(payload), hashlib.sha256(payload).digest(), "esp32", (0, 6, 0), built_s,
                               master, serial) + payload)
    with open(os.path.join(state, "provision.json"), "w") as f:
        json.dump({"fw_key": fwimage.derive_key(master, serial).hex()}, f)
    return image


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap", default="96K", help="heap the firmware gets beside its ROMFS image")
    parser.add_argument("--no-update", dest="update", action="store_false",
                        help="the day without the firmware update at 03:00")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        image = build_image(work)
        state = os.path.join(work, "flash")
        os.makedirs(state)
        # The image's bytes sit in the unix heap (no flash here): add them, and what mounting costs.
        held = os.path.getsize(image) + MOUNT_BYTES
        total = _kib(args.heap) + held + gc_tables(held)
        print("heap %s beside a %d-byte ROMFS image (unix heap %d bytes)" % (args.heap, os.path.getsize(image), total))
        update = [os.path.relpath(signed_update(work, state), work)] if args.update else []
        # Paths relative to the work folder: the heap holds the same strings wherever TMPDIR is, so a soak
        # that passes here passes on any machine (its heap is laid out to the byte by what it is given).
        proc = subprocess.run(micropython_command() + ["-X", "heapsize=%d" % total, "-c", BOOTSTRAP,
                                                       os.path.relpath(image, work), os.path.relpath(state, work)]
                              + update,
                              env=dict(os.environ, MICROPYPATH="/rom:.frozen"), cwd=work, timeout=1800)
        return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
