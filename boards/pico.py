"""Raspberry Pi Pico (RP2040): pin table and hardware layer.

ADC0-2 on GP26-28, referenced to the filtered 3.3 V rail (no attenuator, no calibrated
read_uv on this port); raw codes are corrected for the ADC's wide codes (RP2040-E11).
docs/front-end.md has the front end's numbers. The RP2040 watchdog tops out at 8.4 s.
The port reformats a file system that fails to mount, so the meter keeps a shadow copy
of its credit record in raw flash outside the file system (SHADOW) when the firmware
leaves room.
"""

from adc_burst import rp2040_dnl
from board_kit import build_hal

PINS = {
    "adc_v": 26, "adc_i": 27, "adc_battery": 28,
    "relay": 15,
    "spi_sck": 18, "spi_mosi": 19, "spi_miso": 16, "tft_cs": 17, "tft_dc": 20, "tft_rst": 21,
    "rows": (2, 3, 4, 5), "cols": (6, 7, 8, 9),
    "uart": 0, "uart_tx": 0, "uart_rx": 1,         # optical probe
}
SPI_BUS = 0
SPI_BAUD = 30000000
BATTERY_DIVIDER_MILLI = 12000  # 110k/10k: 36 V -> 3.0 V; the 3.3 V rail is the ADC reference
ADC_REF_MV = 3300
ADC_CORRECT = rp2040_dnl       # DNL spikes at codes 512, 1536, 2560, 3584
WDT_MS = 8000
# (flash offset, 4 KB blocks) for the shadow copy. Stock RPI_PICO firmware gives all
# the flash after itself to the file system: set this when MicroPython is built with
# a smaller MICROPY_HW_FLASH_STORAGE_BYTES, e.g. (0x1C0000, 64) for the last 256 KB
# (64 blocks keep 10 years of saves under 10 % of the flash's rated erase cycles).
SHADOW = None


def make_hal():
    shadow = None
    if SHADOW:
        import rp2
        from shadow import RingRecordStore

        shadow = RingRecordStore(rp2.Flash(start=SHADOW[0], len=SHADOW[1] * 4096), 0, SHADOW[1])
    return build_hal(PINS, SPI_BUS, SPI_BAUD, WDT_MS, BATTERY_DIVIDER_MILLI, ADC_REF_MV, shadow=shadow,
                     adc_correct=ADC_CORRECT)
