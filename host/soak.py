"""`make soak`: the firmware and the virtual board as a ROMFS image, run by simulator/soak.py.

On a board the code lives in flash (a ROMFS partition, executed in place) and the
heap holds data only; here the image is read into the unix port's memory and
mounted the same way, and --heap is the heap the firmware gets beside it. Prints
what the soak prints and exits with its status.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from opsm.host.fwbuild import compile_tree, firmware_sources
from opsm.simulator.board import ROOT
from opsm.simulator.unix_port import micropython_command


# Holding and mounting the image on the unix port beyond its bytes (the bytes object's
# header ~100 B, VfsRom and the mount table ~100 B, measured): none of it is in a board's heap.
MOUNT_BYTES = 256


def _kib(text: str) -> int:
    return int(text[:-1]) * 1024 if text[-1:].upper() == "K" else int(text)


def build_image(work: str) -> str:
    tree = os.path.join(work, "tree")
    compile_tree(firmware_sources() + [(os.path.join(ROOT, "boards", "sim.py"), "boards/sim.py"),
                                       (os.path.join(ROOT, "boards", "__init__.py"), "boards/__init__.py")], tree)
    image = os.path.join(work, "firmware.romfs")
    subprocess.run([sys.executable, "-m", "mpremote", "romfs", "--output", image, "build", tree],
                   check=True, capture_output=True)
    return image


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap", default="97K", help="heap the firmware gets beside its ROMFS image")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        image = build_image(work)
        script = os.path.join(work, "soak.py")
        shutil.copy(os.path.join(ROOT, "simulator", "soak.py"), script)
        state = os.path.join(work, "flash")
        os.makedirs(state)
        # The image's bytes sit in the unix heap (no flash here): add them, and what mounting costs.
        total = _kib(args.heap) + os.path.getsize(image) + MOUNT_BYTES
        print("heap %s beside a %d-byte ROMFS image (unix heap %d bytes)" % (args.heap, os.path.getsize(image), total))
        proc = subprocess.run(micropython_command() + ["-X", "heapsize=%d" % total, script, state, image],
                              env=dict(os.environ, MICROPYPATH="/rom:.frozen"), cwd=work, timeout=1800)
        return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
