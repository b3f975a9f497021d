"""The real boards' hardware layers, built against a fake `machine` module (no board here)."""

import importlib
import sys
import time
import types

import pytest

from hal import FRONT_END_V_GAIN_UV, NoWatchdog


SPIS: list = []
UARTS: list = []


class FakePin:
    OUT, IN, PULL_UP = 1, 0, 2
    made: list = []

    def __init__(self, n, mode=None, pull=None, value=None):
        self.n, self.mode, self.pull, self.level = n, mode, pull, value
        self.writes = [] if value is None else [value]
        FakePin.made.append(self)

    def __call__(self, value=None):
        if value is None:
            return 1
        self.writes.append(value)
        self.level = value
        return None


def fake_machine():
    machine = types.ModuleType("machine")
    machine.Pin = FakePin
    machine.ADC = lambda pin: types.SimpleNamespace(pin=pin, read_u16=lambda: 0x8000)
    machine.SPI = lambda bus, **kw: SPIS.append((bus, kw)) or types.SimpleNamespace(write=lambda data: None)
    machine.WDT = lambda timeout: types.SimpleNamespace(timeout=timeout, feed=lambda: None)
    machine.reset_cause = lambda: 1
    machine.UART = lambda n, **kw: UARTS.append((n, kw)) or types.SimpleNamespace(read=lambda: None)
    return machine


@pytest.mark.parametrize("name,bus,relay,divider", [("esp32s3", 1, 21, 16000), ("esp32", 2, 4, 16000),
                                                    ("pico", 0, 15, 12000)])
def test_make_hal_wires_every_pin_of_the_table(monkeypatch, name, bus, relay, divider):
    monkeypatch.setitem(sys.modules, "machine", fake_machine())
    monkeypatch.setattr(time, "sleep_ms", lambda ms: None, raising=False)  # MicroPython's, for the TFT reset
    monkeypatch.delitem(sys.modules, "board_kit", raising=False)
    FakePin.made = []
    SPIS.clear()
    board = importlib.import_module("boards." + name)
    hal = board.make_hal()
    pins = {p.n: p for p in FakePin.made}
    assert pins[relay].mode == FakePin.OUT and pins[relay].writes[0] == 0  # relay open first
    assert all(pins[n].mode == FakePin.OUT and pins[n].level == 1 for n in board.PINS["rows"])
    assert all(pins[n].pull == FakePin.PULL_UP for n in board.PINS["cols"])
    assert SPIS[0][0] == bus and SPIS[0][1]["baudrate"] == board.SPI_BAUD
    hal.relay(True)
    assert pins[relay].level == 1
    assert hal.calibration.v_gain_uv == FRONT_END_V_GAIN_UV and hal.battery_divider_milli == divider
    assert isinstance(hal.wdt, NoWatchdog)  # no /production flag: never start the watchdog
    assert hal.battery.read() == 0x800 and hal.keypad.scan() is None
    number, settings = UARTS[-1]
    assert number == board.PINS["uart"] and settings["baudrate"] == 9600 and settings["timeout"] == 0
    assert settings["tx"].n == board.PINS["uart_tx"] and settings["rx"].n == board.PINS["uart_rx"]
    assert hal.optical.read() is None
