"""How much faster than real time the simulator runs a month of a solar home system.

Plays scenarios/thirty_days.toml (the real firmware on the virtual board, one reading
a simulated minute, the solar home model) under CPython and under the MicroPython unix
port, and prints simulated seconds per wall second for each (target: 30 days in under
60 s under CPython, i.e. a ratio above 43 200).

    .venv/bin/python bench/sim.py
"""

import os
import sys
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

from opsm.simulator import scenario

TARGET = 30 * 86400 / 60.0


def main() -> int:
    path = os.path.join(ROOT, "scenarios", "thirty_days.toml")
    ok = True
    results = {}
    for runtime in scenario.RUNTIMES:
        start = time.perf_counter()
        summary = scenario.run(path, runtime)
        wall = time.perf_counter() - start
        ratio = summary["virtual_hours"] * 3600 / wall
        results[runtime] = summary
        print("%-12s 30 simulated days in %5.1f s of wall time: %7.0f simulated s per wall s; scenario %s"
              % (runtime, wall, ratio, "passed" if summary["ok"] else "FAILED"))
        ok = ok and summary["ok"] and (runtime != "cpython" or ratio > TARGET)
    same = results["cpython"] == results["micropython"]
    print("same result on both runtimes: %s (target for CPython: > %.0f)" % (same, TARGET))
    return 0 if ok and same else 1


if __name__ == "__main__":
    sys.exit(main())
