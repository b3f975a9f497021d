"""The board's modules in a host process (simulator/board.py): found on the board's path, kept in a table of
their own, and the same path everywhere a runner states it."""

import pathlib
import re
import sys
import tomllib

import pytest

from opsm.simulator import board

ROOT = pathlib.Path(__file__).resolve().parents[2]
FLAT = ("app", "meter", "settings", "records", "ledger", "hal", "ticks", "boards", "simulator")


def test_the_board_s_flat_modules_never_enter_the_host_s_module_table():
    before = {name: sys.modules.get(name) for name in FLAT}
    meter = board.module("meter")
    run = board.module("simulator.scenario_run")
    assert meter.__name__ == "meter" and run.__name__ == "simulator.scenario_run"
    # pytest's own pythonpath puts firmware/lib on sys.path for the firmware tests; whatever the host held under
    # those names before, the board's table left it as it was
    assert {name: sys.modules.get(name) for name in FLAT} == before
    assert board.module("boards").sim is board.module("boards.sim")
    assert board.module("meter") is meter  # loaded once


def test_the_board_and_the_host_share_one_protocol_package():
    """An error a firmware module raises from a protocol core is the class the host's servers catch."""
    import opsm.protocol.axdr

    optical = board.module("optical_port")
    assert board.module("protocol") is sys.modules["opsm.protocol"]
    assert board.module("protocol.axdr").AxdrError is opsm.protocol.axdr.AxdrError
    assert board.module("cosem_meter").__builtins__["__import__"] is optical.__builtins__["__import__"]


def test_a_name_not_on_the_board_is_the_host_s_and_a_missing_one_is_named():
    assert board.module("metering").math is sys.modules["math"]
    with pytest.raises(ModuleNotFoundError, match="no module named 'no_such_module' on the board's path"):
        board.module("no_such_module")
    with pytest.raises(ModuleNotFoundError, match="'boards.no_such_board'"):
        board.module("boards.no_such_board")


def _relative(paths) -> list:
    return [str(pathlib.Path(p).resolve().relative_to(ROOT)) if pathlib.Path(p).resolve() != ROOT else "."
            for p in paths]


def test_every_runner_states_the_same_board_path():
    """simulator/board.PATH, the unix port's MICROPYPATH in the Makefile, pytest's pythonpath and the 32-bit
    port's runner: one path, in one order where the order matters (MicroPython's)."""
    expected = _relative(board.PATH)
    assert expected == [".", "firmware/lib", "firmware/drivers"]
    makefile = re.search(r"^MICROPYPATH_FW := (.*)$", (ROOT / "Makefile").read_text(), re.M).group(1).split(":")
    assert makefile == expected + [".frozen"]
    pytest_path = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["pytest"]["ini_options"]["pythonpath"]
    assert sorted(pytest_path) == sorted(expected)
    mp32 = re.search(r"sys\.path\[:0\] = \[(.*)\]", (ROOT / "tools" / "mp32" / "run.mjs").read_text()).group(1)
    assert [p.strip().strip('"').replace("/repo", ".", 1).replace("./", "") or "." for p in mp32.split(",")][1:] == \
        expected


def test_no_library_module_edits_sys_path():
    """The board's path is stated by the runners (MICROPYPATH, pytest's pythonpath), never by product code, but
    for the one place a board's own path is chosen at boot: the firmware slot boot.py runs (bootslot.py)."""
    edits = re.compile(r"sys\.path\s*(\.(insert|append|extend|pop|remove)\(|\[[^\]]*\]\s*=|\+=|=)")
    found = [str(path.relative_to(ROOT)) for folder in ("host", "simulator", "protocol", "firmware", "boards", "opsm")
             for path in (ROOT / folder).rglob("*.py") if edits.search(path.read_text())]
    assert found == ["firmware/lib/bootslot.py"]
