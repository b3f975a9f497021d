"""The real boards' hardware layers, built against a fake `machine` module (no board here)."""

import importlib
import sys
import time
import types
from array import array

import pytest

from adc_burst import rp2040_dnl
from hal import FRONT_END_V_GAIN_UV, NoWatchdog


SPIS: list = []
UARTS: list = []
ADCS: list = []


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


class FakeEsp32Adc:
    """The esp32 port's ADC: attenuation at construction, init() or atten() (deprecated), width()
    (deprecated), and read_uv() in eFuse-calibrated microvolts. Every configuration call is recorded."""

    ATTN_0DB, ATTN_2_5DB, ATTN_6DB, ATTN_11DB = 0, 1, 2, 3
    WIDTH_9BIT, WIDTH_10BIT, WIDTH_11BIT, WIDTH_12BIT = 9, 10, 11, 12
    uv = 1550000    # what every pin reads, microvolts
    u16 = 0x4000    # what read_u16 would give: a quarter scale, unlike uv, so a test sees which was read

    def __init__(self, pin, *, atten=None, sample_ns=None):
        self.pin, self.config, self.u16_reads = pin, [], 0
        if atten is not None:
            self.config.append(("atten", atten))
        if sample_ns is not None:
            self.config.append(("sample_ns", sample_ns))
        ADCS.append(self)

    def init(self, *, atten=None, sample_ns=None):
        if atten is not None:
            self.config.append(("atten", atten))
        if sample_ns is not None:
            self.config.append(("sample_ns", sample_ns))

    def atten(self, atten):
        self.config.append(("atten", atten))

    def width(self, bits):
        self.config.append(("width", bits))

    def read_uv(self):
        return FakeEsp32Adc.uv

    def read_u16(self):
        self.u16_reads += 1
        return FakeEsp32Adc.u16


class FakeRp2Adc:
    """The rp2 port's ADC: ADC(id) takes no keyword (a TypeError, as on the board), has no
    atten(), width() or read_uv(); read_u16() widens the 12-bit code the way the port does."""

    CORE_TEMP = 4
    code = 0x800    # the 12-bit code every pin converts

    def __init__(self, pin, **keywords):
        if keywords:
            raise TypeError("function doesn't take keyword arguments")  # the port's own message
        self.pin, self.config = pin, []
        ADCS.append(self)

    def read_u16(self):
        return FakeRp2Adc.code << 4 | FakeRp2Adc.code >> 8


def fake_machine(port="esp32"):
    machine = types.ModuleType("machine")
    machine.Pin = FakePin
    machine.ADC = FakeEsp32Adc if port == "esp32" else FakeRp2Adc
    machine.SPI = lambda bus, **kw: SPIS.append((bus, kw)) or types.SimpleNamespace(write=lambda data: None)
    machine.WDT = lambda timeout: types.SimpleNamespace(timeout=timeout, feed=lambda: None)
    machine.reset_cause = lambda: 1
    machine.reset = lambda: RESETS.append(1)
    machine.UART = lambda n, **kw: UARTS.append((n, kw)) or types.SimpleNamespace(read=lambda: None)
    machine.RTC = FakeRtc
    return machine


RESETS: list = []


class FakeRtc:
    set_to: list = []

    def datetime(self, value=None):
        FakeRtc.set_to.append(value)


PORTS = {"esp32s3": "esp32", "esp32": "esp32", "pico": "rp2"}


def _make_board(monkeypatch, name):
    """Imports boards.<name> afresh against the fake machine of its port and builds its Hal."""
    monkeypatch.setitem(sys.modules, "machine", fake_machine(PORTS[name]))
    monkeypatch.setattr(time, "sleep_ms", lambda ms: None, raising=False)  # MicroPython's, for the TFT reset
    monkeypatch.delitem(sys.modules, "board_kit", raising=False)
    monkeypatch.delitem(sys.modules, "boards." + name, raising=False)
    FakePin.made = []
    SPIS.clear()
    ADCS.clear()
    board = importlib.import_module("boards." + name)
    return board, board.make_hal()


@pytest.mark.parametrize("name,bus,relay,divider", [("esp32s3", 1, 21, 16000), ("esp32", 2, 4, 16000),
                                                    ("pico", 0, 15, 12000)])
def test_make_hal_wires_every_pin_of_the_table(monkeypatch, name, bus, relay, divider):
    board, hal = _make_board(monkeypatch, name)
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
    RESETS.clear()
    hal.restart()  # what the app calls to restart the board (a firmware activation)
    assert RESETS == [1]


@pytest.mark.parametrize("name", ["esp32s3", "esp32"])
def test_esp32_boards_set_11_db_on_every_adc_pin_and_read_calibrated_microvolts(monkeypatch, name):
    # Without attenuation the esp32 ADC spans ~0-1 V: the front end's 0.19-2.9 V swing would clip.
    board, hal = _make_board(monkeypatch, name)
    assert sorted(adc.pin.n for adc in ADCS) == sorted(board.PINS[k] for k in ("adc_v", "adc_i", "adc_battery"))
    assert all(adc.config == [("atten", FakeEsp32Adc.ATTN_11DB)] for adc in ADCS)  # 11 dB, 12-bit default width
    # read_uv against the board's full scale (ADC_REF_MV at 4096 counts): eFuse-calibrated counts
    assert board.ADC_REF_MV == 3100
    for uv, counts in ((1550000, 2048), (2450000, 3237), (150000, 198), (3100000, 4095), (3400000, 4095)):
        monkeypatch.setattr(FakeEsp32Adc, "uv", uv)
        vbuf, ibuf = array("H", bytes(8)), array("H", bytes(8))
        hal.ac.burst(vbuf, ibuf, 4, 1)
        assert hal.battery.read() == counts and list(vbuf) == list(ibuf) == [counts] * 4, uv
    assert all(adc.u16_reads == 0 for adc in ADCS)  # the raw, uncalibrated path is not used


def test_the_pico_adcs_take_no_keyword_and_correct_the_rp2040_dnl(monkeypatch):
    board, hal = _make_board(monkeypatch, "pico")  # FakeRp2Adc raises TypeError on any keyword
    assert sorted(adc.pin.n for adc in ADCS) == [26, 27, 28] and all(adc.config == [] for adc in ADCS)
    assert board.ADC_CORRECT is rp2040_dnl
    for code, corrected in ((0, 0), (511, 495), (512, 504), (1536, 1536), (2048, 2048), (2560, 2568),
                            (3584, 3600), (4095, 4095)):
        monkeypatch.setattr(FakeRp2Adc, "code", code)
        vbuf, ibuf = array("H", bytes(8)), array("H", bytes(8))
        hal.ac.burst(vbuf, ibuf, 4, 1)
        assert hal.battery.read() == corrected and list(vbuf) == list(ibuf) == [corrected] * 4, code


def test_an_esp32_attenuation_on_the_rp2_port_fails_at_build(monkeypatch):
    # The rp2 ADC takes no keyword: a board table that asked for one must fail at once, not read 0 dB.
    board_kit = _board_kit(monkeypatch, 1970, port="rp2")
    monkeypatch.delitem(sys.modules, "boards.pico", raising=False)
    pins = importlib.import_module("boards.pico").PINS
    with pytest.raises(TypeError, match="doesn't take keyword"):
        board_kit.build_hal(pins, 0, 1000, 8000, 12000, 3300, adc_atten=3)


def _board_kit(monkeypatch, epoch_year, watchdog=None, port="esp32"):
    monkeypatch.setitem(sys.modules, "machine", fake_machine(port))
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
