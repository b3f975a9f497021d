"""ESP32-S3 (no PSRAM needed): pin table and hardware layer.

ADC1 only (GPIO1-10: ADC2 stops working with Wi-Fi on); strapping pins 0, 3, 45, 46 unused.
Every ADC pin at 11 dB (ESP-IDF 5 calls it 12 dB), read through read_uv() (eFuse-calibrated);
docs/front-end.md has the front end's numbers, and what clips.
"""

from machine import ADC

from board_kit import build_hal
from tcp_push import TcpSender

PINS = {
    "adc_v": 1, "adc_i": 2, "adc_battery": 4,     # 11 dB: 0-3100 mV, accurate up to ~2900 mV
    "relay": 21,
    "spi_sck": 12, "spi_mosi": 11, "spi_miso": 13, "tft_cs": 10, "tft_dc": 9, "tft_rst": 14,
    "rows": (5, 6, 7, 8), "cols": (15, 16, 17, 18),
    "uart": 1, "uart_tx": 39, "uart_rx": 40,       # optical probe (UART0 stays the REPL)
}
SPI_BUS = 1
SPI_BAUD = 40000000
BATTERY_DIVIDER_MILLI = 16000  # 150k/10k: 36 V -> 2.25 V
ADC_REF_MV = 3100              # pin mV at 4096 counts: the S3 saturates at ~3.1 V at 11 dB
ADC_ATTEN = ADC.ATTN_11DB      # without it: 0 dB, ~0-1 V, and the AC swing clips
WDT_MS = 10000


def make_hal():
    hal = build_hal(PINS, SPI_BUS, SPI_BAUD, WDT_MS, BATTERY_DIVIDER_MILLI, ADC_REF_MV, adc_atten=ADC_ATTEN)
    hal.push = TcpSender()  # DLMS push over the board's Wi-Fi, once boot.py or the REPL has joined a network
    return hal
