"""Builds the hardware layer of a real board from its pin table (esp32s3, esp32, pico).

A board module only states its pins, SPI bus and defaults; the wiring of pins to
drivers is the same on every board and lives here once.
"""

import time

import machine

from protocol import civil

from adc_burst import AdcBurst, AdcReader
from calibration import Calibration
from hal import FRONT_END_I_GAIN_UA, FRONT_END_V_GAIN_UV, RESET_POWER_ON, Hal, NoWatchdog
from ili9341 import ILI9341
from keypad import Keypad

try:  # written by `opsm fw build`: True in a production build, False in a development one (--dev)
    from build_config import WATCHDOG  # type: ignore[import-not-found]
except ImportError:  # running from a source tree: a development board
    WATCHDOG = False

# The ports count time.time() from 2000 (ESP32) or from 1970 (RP2040 since MicroPython 1.22):
# the meter counts from 2000 everywhere.
_EPOCH_OFFSET = civil.UNIX_2000 if time.gmtime(0)[0] == 1970 else 0


class Clock:
    """Seconds since 2000-01-01 UTC from the RTC, whatever the port's epoch, and ticks."""

    def now_s(self) -> int:
        return int(time.time()) - _EPOCH_OFFSET

    def set_s(self, now_s: int) -> None:
        year, month, day, hour = civil.date(now_s)
        machine.RTC().datetime((year, month, day, civil.weekday(now_s) - 1, hour, now_s % 3600 // 60,
                                now_s % 60, 0))

    def ticks_ms(self):
        return time.ticks_ms()


def _adc(pin: int, atten):
    # The esp32 port sets the attenuation at construction (ADC(pin, atten=...)); the rp2 port's
    # ADC takes no keyword at all, so a board without one (atten None) passes none.
    if atten is None:
        return machine.ADC(machine.Pin(pin))
    return machine.ADC(machine.Pin(pin), atten=atten)


def build_hal(pins: dict, spi_bus: int, spi_baud: int, wdt_ms: int, battery_divider_milli: int,
              adc_ref_mv: int, keymap: str = "123A456B789C*0#D", shadow=None, adc_atten=None,
              adc_correct=None) -> Hal:
    """adc_ref_mv: pin millivolts at 4096 counts, also the full scale that calibrated read_uv()
    microvolts are scaled against (where the port has read_uv). adc_atten: the port's
    attenuation constant for every ADC pin (esp32: ADC.ATTN_11DB), or None. adc_correct: a
    function of a raw 12-bit code (rp2040_dnl), or None. docs/front-end.md has the numbers."""
    Pin = machine.Pin
    spi = machine.SPI(spi_bus, baudrate=spi_baud, sck=Pin(pins["spi_sck"]), mosi=Pin(pins["spi_mosi"]),
                      miso=Pin(pins["spi_miso"]))
    # A pull-down on the relay driver keeps it open through a reset; drive it open first.
    relay = Pin(pins["relay"], Pin.OUT, value=0)
    rows = [Pin(n, Pin.OUT, value=1) for n in pins["rows"]]
    cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in pins["cols"]]
    display = ILI9341(spi, Pin(pins["tft_cs"], Pin.OUT, value=1), Pin(pins["tft_dc"], Pin.OUT, value=0),
                      Pin(pins["tft_rst"], Pin.OUT, value=1))
    full_scale_uv = adc_ref_mv * 1000
    ac = AdcBurst(_adc(pins["adc_v"], adc_atten), _adc(pins["adc_i"], adc_atten), full_scale_uv=full_scale_uv,
                  correct=adc_correct)
    battery = AdcReader(_adc(pins["adc_battery"], adc_atten), full_scale_uv=full_scale_uv, correct=adc_correct)
    wdt = machine.WDT(timeout=wdt_ms) if WATCHDOG else NoWatchdog()  # once started it cannot be stopped
    cause = machine.reset_cause() if hasattr(machine, "reset_cause") else RESET_POWER_ON
    # IEC 62056-21 starts at 300 Bd in modes A-C; an optical probe for mode C/E at 9600 Bd is the usual kit.
    optical = machine.UART(pins["uart"], baudrate=9600, tx=Pin(pins["uart_tx"]), rx=Pin(pins["uart_rx"]), timeout=0)
    return Hal(ac, battery, lambda closed: relay(1 if closed else 0), Keypad(rows, cols, keymap), display, wdt,
               "/", Clock(), cause, Calibration(FRONT_END_V_GAIN_UV, FRONT_END_I_GAIN_UA), keymap,
               shadow=shadow, battery_divider_milli=battery_divider_milli, adc_ref_mv=adc_ref_mv, optical=optical,
               restart=machine.reset)
