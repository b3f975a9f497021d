"""pytest sees the firmware's modules the way the board does (pyproject's pythonpath: lib/ and
drivers/ beside protocol/ and boards/); host tests reach the simulator's board through
opsm.simulator.board, which keeps its own module table."""

# Tests that need MicroPython itself (littlefs, heap_lock on real allocations): tests/mp_runner.py runs them.
collect_ignore = ["mp_only"]
