"""The simulator: the meter's firmware on the virtual board (boards/sim.py).

The firmware's modules are flat on a board (lib/ and drivers/ on sys.path); under
CPython the same is arranged here (MicroPython runs get MICROPYPATH instead).
"""

import sys

if sys.implementation.name != "micropython":
    import os

    _FIRMWARE = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "firmware")
    for _folder in ("drivers", "lib"):
        _path = os.path.join(_FIRMWARE, _folder)
        if _path not in sys.path:
            sys.path.insert(0, _path)
