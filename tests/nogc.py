"""Run code with MicroPython's heap locked, so any allocation raises MemoryError.

Under CPython there is no heap lock: the code just runs, and the test still checks
its results. Pass a callable without arguments (made before the lock is taken).
"""

import sys


def without_allocation(run):
    if sys.implementation.name != "micropython":
        return run()
    import micropython

    micropython.heap_lock()
    try:
        return run()
    finally:
        micropython.heap_unlock()
