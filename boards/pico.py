"""Raspberry Pi Pico (RP2040): pin table and hardware layer.

ADC0-2 on GP26-28. The RP2040 watchdog tops out at 8.4 s. The port reformats a
file system that fails to mount, so the app keeps a shadow copy of credit in a
raw flash region (rp2.Flash) as well.
"""

import machine

from board_kit import build_hal

PINS = {
    "adc_v": 26, "adc_i": 27, "adc_battery": 28,
    "relay": 15,
    "spi_sck": 18, "spi_mosi": 19, "spi_miso": 16, "tft_cs": 17, "tft_dc": 20, "tft_rst": 21,
    "rows": (2, 3, 4, 5), "cols": (6, 7, 8, 9),
}
WDT_MS = 8000


def make_hal():
    spi = machine.SPI(0, baudrate=30000000, sck=machine.Pin(PINS["spi_sck"]),
                      mosi=machine.Pin(PINS["spi_mosi"]), miso=machine.Pin(PINS["spi_miso"]))
    return build_hal(PINS, spi, WDT_MS)
