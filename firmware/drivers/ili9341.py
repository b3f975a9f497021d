"""ILI9341 TFT over SPI, fed from a 4-bit palette frame buffer one line at a time.

Why: a 320x240 RGB565 frame (153 600 B) does not fit the heap of a board without
PSRAM, so the screen is drawn into a GS4_HMSB buffer (16 colours; 38 400 B for the
whole frame, less for a strip of it) and each line is expanded to big-endian RGB565
into one preallocated line buffer as it is sent. show() can send a band of lines
only, from the whole frame or from a strip buffer holding just that band, so the app
can draw and send the screen band by band and yield between bands (the watchdog and
the keypad keep running).

The bus is duck-typed so a fake is trivial: spi has .write(buf); cs, dc and rst
are callables taking a level 0/1 (a machine.Pin is one); rst may be None when the
board ties the panel's reset to its own.
"""

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

# Commands (ILI9341 datasheet, section 8).
_SWRESET = const(0x01)
_SLPOUT = const(0x11)
_DISPON = const(0x29)
_CASET = const(0x2A)
_PASET = const(0x2B)
_RAMWR = const(0x2C)
_MADCTL = const(0x36)
_COLMOD = const(0x3A)

_PIXEL_16BIT = const(0x55)  # COLMOD: 16 bits per pixel on both interfaces

# MADCTL bits: row/column order and exchange, and the panel's BGR colour filter.
_MY = const(0x80)
_MX = const(0x40)
_MV = const(0x20)
_BGR = const(0x08)

# rotation (degrees) -> MADCTL scan bits. 90 and 270 exchange rows and columns:
# landscape, 320 wide; 0 and 180 are portrait, 240 wide.
_SCAN = {0: _MX, 90: _MV, 180: _MY, 270: _MY | _MX | _MV}

# Datasheet waits: 120 ms after a reset (hardware or software) before SLPOUT,
# 120 ms after SLPOUT for the supply to settle.
_RESET_PULSE_MS = const(1)
_RESET_WAIT_MS = const(120)
_SLEEP_OUT_WAIT_MS = const(120)


class ILI9341:
    def __init__(self, spi, cs, dc, rst, width: int = 320, height: int = 240, rotation: int = 90,
                 bgr: bool = True, sleep_ms=None):
        if rotation not in _SCAN:
            raise ValueError("rotation: must be 0, 90, 180 or 270")
        landscape = rotation in (90, 270)
        if (width, height) != ((320, 240) if landscape else (240, 320)):
            raise ValueError("width, height: 320x240 for rotation 90/270, 240x320 for 0/180")
        if sleep_ms is None:
            import time
            sleep_ms = time.sleep_ms
        self.width = width
        self.height = height
        self._spi = spi
        self._cs = cs
        self._dc = dc
        self._rst = rst
        self._sleep_ms = sleep_ms
        self._madctl = _SCAN[rotation] | (_BGR if bgr else 0)
        # Preallocated so show() never allocates.
        self._cmd = bytearray(1)
        self._window = bytearray(4)
        self._line = bytearray(width * 2)
        self._hi = bytearray(16)  # palette split into the two bytes each pixel sends
        self._lo = bytearray(16)
        cs(1)
        self.init()

    def init(self) -> None:
        """Reset and wake the panel: 16-bit pixels, the chosen orientation, display on."""
        rst = self._rst
        if rst is not None:
            rst(1)
            self._sleep_ms(_RESET_PULSE_MS)
            rst(0)
            self._sleep_ms(_RESET_PULSE_MS)
            rst(1)
            self._sleep_ms(_RESET_WAIT_MS)
        self._command(_SWRESET)
        self._sleep_ms(_RESET_WAIT_MS)
        self._command(_SLPOUT)
        self._sleep_ms(_SLEEP_OUT_WAIT_MS)
        self._command(_COLMOD, bytes((_PIXEL_16BIT,)))
        self._command(_MADCTL, bytes((self._madctl,)))
        self._command(_DISPON)

    def show(self, fb, palette, y0: int = 0, y1=None) -> None:
        """Send lines y0 <= y < y1 (y1 None: to the bottom) of a GS4_HMSB buffer.

        fb is the bytes of either the whole frame (width * height / 2) or a strip
        holding just those lines ((y1 - y0) * width / 2, line y0 first), two pixels
        a byte, the left one in the high nibble; palette holds 16 RGB565 colours.
        Allocation-free: safe to call in strips between other tasks.
        """
        width, height = self.width, self.height
        if y1 is None:
            y1 = height
        if not 0 <= y0 < y1 <= height:
            raise ValueError("y0, y1: need 0 <= y0 < y1 <= height")
        if len(fb) == width * height // 2:
            first = 0  # the line fb starts with
        elif len(fb) == (y1 - y0) * width // 2:
            first = y0
        else:
            raise ValueError("fb: must hold the whole frame or lines y0..y1, width / 2 bytes a line (GS4_HMSB)")
        if len(palette) != 16:
            raise ValueError("palette: must hold 16 RGB565 colours")
        hi, lo = self._hi, self._lo
        for i in range(16):
            colour = palette[i]
            if not 0 <= colour <= 0xFFFF:
                raise ValueError("palette: colours are RGB565, 0..0xFFFF")
            hi[i] = colour >> 8
            lo[i] = colour & 0xFF
        self._set_window(_CASET, 0, width - 1)
        self._set_window(_PASET, y0, y1 - 1)
        self._start(_RAMWR)
        for y in range(y0 - first, y1 - first):
            self._expand_line(fb, y)
            self._spi.write(self._line)
        self._cs(1)

    def _expand_line(self, fb, y: int) -> None:
        # Line y of fb; two pixels a source byte, two bytes (big-endian RGB565) a pixel.
        hi, lo, line = self._hi, self._lo, self._line
        start = y * (self.width >> 1)
        j = 0
        for i in range(start, start + (self.width >> 1)):
            pair = fb[i]
            left = pair >> 4
            right = pair & 0x0F
            line[j] = hi[left]
            line[j + 1] = lo[left]
            line[j + 2] = hi[right]
            line[j + 3] = lo[right]
            j += 4

    def _set_window(self, command: int, start: int, end: int) -> None:
        window = self._window
        window[0] = start >> 8
        window[1] = start & 0xFF
        window[2] = end >> 8
        window[3] = end & 0xFF
        self._command(command, window)

    def _command(self, command: int, data=None) -> None:
        self._start(command)
        if data is not None:
            self._spi.write(data)
        self._cs(1)

    def _start(self, command: int) -> None:
        # Chip selected, the command byte with D/C low, then D/C high for its data.
        self._cmd[0] = command
        self._dc(0)
        self._cs(0)
        self._spi.write(self._cmd)
        self._dc(1)
