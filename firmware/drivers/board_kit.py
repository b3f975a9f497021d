"""Builds the hardware layer of a real board from its pin table (esp32s3, esp32, pico).

A board module only states its pins, SPI bus and defaults; the wiring of pins to
drivers is the same on every board and lives here once.
"""

import os
import time

import machine

from adc_burst import AdcBurst, AdcReader
from calibration import Calibration
from hal import FRONT_END_I_GAIN_UA, FRONT_END_V_GAIN_UV, RESET_POWER_ON, Hal, NoWatchdog
from ili9341 import ILI9341
from keypad import Keypad

PRODUCTION_FLAG = "/production"  # present: start the watchdog (it cannot be stopped again)


class Clock:
    """Seconds since 2000-01-01 UTC from the RTC (the ports' epoch), and ticks."""

    def now_s(self) -> int:
        return int(time.time())

    def ticks_ms(self):
        return time.ticks_ms()


def _production() -> bool:
    try:
        os.stat(PRODUCTION_FLAG)
        return True
    except OSError:
        return False


def build_hal(pins: dict, spi_bus: int, spi_baud: int, wdt_ms: int, battery_divider_milli: int,
              adc_ref_mv: int, keymap: str = "123A456B789C*0#D", shadow=None) -> Hal:
    Pin = machine.Pin
    spi = machine.SPI(spi_bus, baudrate=spi_baud, sck=Pin(pins["spi_sck"]), mosi=Pin(pins["spi_mosi"]),
                      miso=Pin(pins["spi_miso"]))
    # A pull-down on the relay driver keeps it open through a reset; drive it open first.
    relay = Pin(pins["relay"], Pin.OUT, value=0)
    rows = [Pin(n, Pin.OUT, value=1) for n in pins["rows"]]
    cols = [Pin(n, Pin.IN, Pin.PULL_UP) for n in pins["cols"]]
    display = ILI9341(spi, Pin(pins["tft_cs"], Pin.OUT, value=1), Pin(pins["tft_dc"], Pin.OUT, value=0),
                      Pin(pins["tft_rst"], Pin.OUT, value=1))
    ac = AdcBurst(machine.ADC(Pin(pins["adc_v"])), machine.ADC(Pin(pins["adc_i"])))
    battery = AdcReader(machine.ADC(Pin(pins["adc_battery"])))
    wdt = machine.WDT(timeout=wdt_ms) if _production() else NoWatchdog()
    cause = machine.reset_cause() if hasattr(machine, "reset_cause") else RESET_POWER_ON
    # IEC 62056-21 starts at 300 Bd in modes A-C; an optical probe for mode C/E at 9600 Bd is the usual kit.
    optical = machine.UART(pins["uart"], baudrate=9600, tx=Pin(pins["uart_tx"]), rx=Pin(pins["uart_rx"]), timeout=0)
    return Hal(ac, battery, lambda closed: relay(1 if closed else 0), Keypad(rows, cols, keymap), display, wdt,
               "/", Clock(), cause, Calibration(FRONT_END_V_GAIN_UV, FRONT_END_I_GAIN_UA), keymap,
               shadow=shadow, battery_divider_milli=battery_divider_milli, adc_ref_mv=adc_ref_mv, optical=optical)
