"""How much faster than real time the simulator runs a month of a solar home system.

Plays scenarios/thirty_days.toml (the real firmware on the virtual board, one reading
a simulated minute, the solar home model) under CPython and prints simulated seconds
per wall second (target: 30 days in under 60 s, i.e. a ratio above 43 200).

    .venv/bin/python bench/sim.py
"""

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from simulator import scenario  # noqa: E402

TARGET = 30 * 86400 / 60.0


def main() -> int:
    path = os.path.join(ROOT, "scenarios", "thirty_days.toml")
    start = time.perf_counter()
    summary = scenario.run(path)
    wall = time.perf_counter() - start
    simulated = summary["virtual_hours"] * 3600
    ratio = simulated / wall
    print("30 simulated days in %.1f s of wall time under CPython: %.0f simulated s per wall s "
          "(target > %.0f); scenario %s" % (wall, ratio, TARGET, "passed" if summary["ok"] else "FAILED"))
    return 0 if summary["ok"] and ratio > TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
