"""The simulator: the meter's firmware on the virtual board (boards/sim.py).

Two kinds of module live here. scenario_run, flash, solar and soak run on the virtual board, under
MicroPython and CPython alike, and import the firmware's flat modules as a board does: the host
reaches them through board.module(). The others (scenario, serve, interactive, modbus, screenshot,
board, unix_port) are host code.
"""
