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
    machine.RTC = FakeRtc
    return machine


class FakeRtc:
    set_to: list = []

    def datetime(self, value=None):
        FakeRtc.set_to.append(value)


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
    assert isinstance(hal.wdt, NoWatchdog)  # from a source tree (no build_config): a development board
    assert hal.battery.read() == 0x800 and hal.keypad.scan() is None
    number, settings = UARTS[-1]
    assert number == board.PINS["uart"] and settings["baudrate"] == 9600 and settings["timeout"] == 0
    assert settings["tx"].n == board.PINS["uart_tx"] and settings["rx"].n == board.PINS["uart_rx"]
    assert hal.optical.read() is None


def _board_kit(monkeypatch, epoch_year, watchdog=None):
    monkeypatch.setitem(sys.modules, "machine", fake_machine())
    monkeypatch.setattr(time, "gmtime", lambda s=0: (epoch_year, 1, 1, 0, 0, 0, 0, 1))
    monkeypatch.setattr(time, "sleep_ms", lambda ms: None, raising=False)  # MicroPython's, for the TFT reset
    monkeypatch.delitem(sys.modules, "board_kit", raising=False)
    if watchdog is None:
        monkeypatch.delitem(sys.modules, "build_config", raising=False)
    else:
        monkeypatch.setitem(sys.modules, "build_config", types.SimpleNamespace(WATCHDOG=watchdog))
    return importlib.import_module("board_kit")


@pytest.mark.parametrize("epoch_year,offset", [(1970, 946684800), (2000, 0)])
def test_the_clock_counts_from_2000_whatever_the_port_epoch(monkeypatch, epoch_year, offset):
    # The Pico (MicroPython 1.22+) counts time.time() from 1970, the ESP32 from 2000.
    board_kit = _board_kit(monkeypatch, epoch_year)
    monkeypatch.setattr(time, "time", lambda: 852076800 + offset)  # 2027-01-01 00:00 UTC either way
    assert board_kit.Clock().now_s() == 852076800


def test_setting_the_clock_writes_the_rtc_in_its_own_terms(monkeypatch):
    board_kit = _board_kit(monkeypatch, 1970)
    FakeRtc.set_to = []
    board_kit.Clock().set_s(852076800 + 86400 * 45 + 3600 * 13 + 60 * 7 + 9)  # 2027-02-15 13:07:09, a Monday
    assert FakeRtc.set_to == [(2027, 2, 15, 0, 13, 7, 9, 0)]  # weekday 0: Monday, as machine.RTC counts


def test_the_watchdog_follows_the_build(monkeypatch):
    for watchdog, kind in ((True, "SimpleNamespace"), (False, "NoWatchdog")):
        board_kit = _board_kit(monkeypatch, 2000, watchdog)
        hal = board_kit.build_hal(importlib.import_module("boards.esp32").PINS, 2, 1000, 10000, 16000, 3100)
        assert type(hal.wdt).__name__ == kind
