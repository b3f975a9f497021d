"""`make soak`: compile the firmware with the virtual board and run simulator/soak.py on it.

The firmware runs from .mpy files, as on a board (no compiler transients in the heap),
under the MicroPython unix port with the heap given. Prints what the soak prints
and exits with its status.
"""

import argparse
import os
import shutil
import subprocess
import sys
import tempfile

from host.fwbuild import compile_tree, firmware_sources
from host.mpunix import ROOT, micropython_command


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--heap", default="192K", help="MicroPython heap size, e.g. 96K")
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as work:
        tree = os.path.join(work, "tree")
        compile_tree(firmware_sources() + [(os.path.join(ROOT, "boards", "sim.py"), "boards/sim.py"),
                                           (os.path.join(ROOT, "boards", "__init__.py"), "boards/__init__.py")],
                     tree)
        shutil.copy(os.path.join(ROOT, "simulator", "soak.py"), os.path.join(tree, "soak.py"))
        state = os.path.join(work, "flash")
        os.makedirs(state)
        env = dict(os.environ, MICROPYPATH=tree + ":.frozen")
        proc = subprocess.run(micropython_command() + ["-X", "heapsize=" + args.heap, os.path.join(tree, "soak.py"),
                                                       state], env=env, cwd=tree, timeout=1800)
        return proc.returncode


if __name__ == "__main__":
    sys.exit(main())
