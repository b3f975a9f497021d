"""pytest sees the firmware's modules the way the board does: lib/ and drivers/ on the path."""

import os
import sys

_FIRMWARE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware")
for _folder in ("drivers", "lib"):
    sys.path.insert(0, os.path.join(_FIRMWARE, _folder))

# Tests that need MicroPython itself (littlefs, heap_lock on real allocations): tests/mp_runner.py runs them.
collect_ignore = ["mp_only"]
