"""Classic ESP32 (WROOM, no PSRAM: the smallest heap we support): pin table and hardware layer.

ADC1 only (GPIO32-39); GPIO34-39 have no pull-ups, so the keypad columns use 21, 22, 32, 33.
Every ADC pin at 11 dB, read through read_uv() (eFuse-calibrated); docs/front-end.md has the
front end's numbers, and what clips.
"""

from machine import ADC

from board_kit import build_hal
from tcp_push import TcpSender

PINS = {
    "adc_v": 36, "adc_i": 39, "adc_battery": 34,
    "relay": 4,
    "spi_sck": 18, "spi_mosi": 23, "spi_miso": 19, "tft_cs": 5, "tft_dc": 16, "tft_rst": 17,
    "rows": (13, 14, 25, 26), "cols": (21, 22, 32, 33),
    "uart": 2, "uart_tx": 27, "uart_rx": 35,       # optical probe (UART0 stays the REPL); 35 is input-only
}
SPI_BUS = 2
SPI_BAUD = 26000000
BATTERY_DIVIDER_MILLI = 16000  # 150k/10k: 36 V -> 2.25 V, inside the 150-2450 mV linear range
ADC_REF_MV = 3100              # pin mV at 4096 counts: raw 4095 comes at ~3.1 V at 11 dB
ADC_ATTEN = ADC.ATTN_11DB      # without it: 0 dB, ~0-1 V, and the AC swing clips
WDT_MS = 10000


def make_hal():
    hal = build_hal(PINS, SPI_BUS, SPI_BAUD, WDT_MS, BATTERY_DIVIDER_MILLI, ADC_REF_MV, adc_atten=ADC_ATTEN)
    hal.push = TcpSender()  # DLMS push over the board's Wi-Fi, once boot.py or the REPL has joined a network
    return hal
