"""Running firmware code on the MicroPython unix port from the host (demo, tests, benches)."""

import os
import shutil
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
# Where a board finds modules: the repository root (protocol/), firmware lib and drivers,
# and the port's frozen modules (asyncio lives there).
MICROPYPATH = ":".join([ROOT, os.path.join(ROOT, "firmware", "lib"), os.path.join(ROOT, "firmware", "drivers"),
                        ".frozen"])


def micropython_command() -> list:
    """The MicroPython unix port installed in this environment."""
    exe = shutil.which("micropython", path=os.path.dirname(sys.executable)) or shutil.which("micropython")
    if not exe:
        raise ValueError("micropython: not installed (run 'make setup')")
    return [exe]


def micropython_env() -> dict:
    return dict(os.environ, MICROPYPATH=MICROPYPATH)
