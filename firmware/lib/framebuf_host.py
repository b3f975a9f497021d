"""MicroPython's framebuf for CPython (simulator, tests): the firmware draws the same way.

Why: the firmware draws into framebuf.FrameBuffers (GS4_HMSB strips or frames, a MONO_HLSB
glyph); CPython has no framebuf, so strip.py falls back on this stand-in, never loaded on a
board (like ticks_host.py). It keeps the same byte
layout and the same 8x8 font (tests/host/test_screenshots.py checks it byte for byte
against the real framebuf of the MicroPython unix port). The font is the public-domain
PetMe128 8x8 font that MicroPython's framebuf uses, read out of framebuf (MONO_VLSB: one
byte per column, least significant bit at the top) rather than typed in.
Only the drawing methods and formats the screens use are provided.
"""

GS4_HMSB = 2  # the screens' format (the values framebuf gives them)
MONO_HLSB = 3  # one bit a pixel, 8 a byte, the leftmost in bit 7: the screens' glyph scratch

# Glyphs for codes 32..127, 8 column bytes each; any other byte draws glyph 127.
_FONT = bytes.fromhex(
    "00000000000000000000004f4f0000000007070000070700147f7f14147f7f1400242e6b6b3a1200006333180c666300"
    "00327f4d4d777250000000040603010000001c3e63410000000041633e1c0000082a3e1c1c3e2a080008083e3e080800"
    "000080e0600000000008080808080800000000606000000000406030180c0602003e7f49457f3e000040447f7f404000"
    "00627351494f460000226349497f360000181814167f7f1000276745457d3900003e7f49497b3200000303797d070300"
    "00367f49497f360000266f49497f3e000000002424000000000080e46400000000081c36634141000014141414141400"
    "00414163361c080000020351590f0600003e7f414d4f2e00007c7e0b0b7e7c00007f7f49497f3600003e7f4141632200"
    "007f7f41633e1c00007f7f4949414100007f7f0909010100003e7f41497b3a00007f7f08087f7f000000417f7f410000"
    "002060417f3f0100007f7f1c36634100007f7f4040404000007f7f060c067f7f007f7f0e1c7f7f00003e7f41417f3e00"
    "007f7f09090f0600001e3f21617f5e00007f7f19396f460000266f49497b32000001017f7f010100003f7f40407f3f00"
    "001f3f60603f1f00007f7f3018307f7f0063771c1c77630000070f78780f0700006171594d47430000007f7f41410000"
    "0002060c18306040000041417f7f000000080c06060c0800c0c0c0c0c0c0c0c0000001030604000000207454547c7800"
    "007f7f44447c380000387c44446c280000387c44447f7f0000387c54545c580000087e7f090302000098bca4a4fc7c00"
    "007f7f04047c78000000007d7d0000000040c08080fd7d00007f7f30386c44000000417f7f400000007c7c1830187c7c"
    "007c7c04047c780000387c44447c380000fcfc24243c180000183c2424fcfc00007c7c04040c080000485c5454742000"
    "04043f7f44642000003c7c40407c3c00001c3c60603c1c00001c7c3018307c1c00446c38386c4400009cbca0a0fc7c00"
    "004464745c4c44000008083e77414100000000ffff000000004141773e0808000002030103020301aa55aa55aa55aa55")


class FrameBuffer:
    """framebuf.FrameBuffer for GS4_HMSB (two pixels a byte, the left one in the high nibble)
    and MONO_HLSB (lines of whole bytes, the leftmost pixel in bit 7)."""

    def __init__(self, buf, width: int, height: int, fmt: int):
        if fmt == GS4_HMSB:
            if width % 2:
                raise ValueError("width: GS4_HMSB needs an even width")
            self._stride = width // 2
        elif fmt == MONO_HLSB:
            self._stride = (width + 7) // 8
        else:
            raise ValueError("fmt: only GS4_HMSB and MONO_HLSB are supported")
        if len(buf) < self._stride * height:
            raise ValueError("buf: too small for width x height in this format")
        self.buf, self.width, self.height, self.fmt = buf, width, height, fmt

    def fill(self, c: int) -> None:
        self.fill_rect(0, 0, self.width, self.height, c)

    def pixel(self, x: int, y: int, c=None):
        if not (0 <= x < self.width and 0 <= y < self.height):
            return None
        if self.fmt == MONO_HLSB:
            i, bit = y * self._stride + (x >> 3), 0x80 >> (x & 7)
            if c is None:
                return 1 if self.buf[i] & bit else 0
            self.buf[i] = self.buf[i] | bit if c else self.buf[i] & ~bit
            return None
        i = y * self._stride + (x >> 1)
        if c is None:
            return self.buf[i] >> 4 if x % 2 == 0 else self.buf[i] & 0x0F
        if x % 2 == 0:
            self.buf[i] = (self.buf[i] & 0x0F) | (c & 0x0F) << 4
        else:
            self.buf[i] = (self.buf[i] & 0xF0) | (c & 0x0F)
        return None

    def fill_rect(self, x: int, y: int, w: int, h: int, c: int) -> None:
        # Clipped like framebuf: nothing for an empty or off-screen rectangle.
        x0, y0 = max(x, 0), max(y, 0)
        x1, y1 = min(x + w, self.width), min(y + h, self.height)
        if x0 >= x1 or y0 >= y1:
            return
        if self.fmt == MONO_HLSB:  # only ever 8x8 here: pixel by pixel is enough
            for row in range(y0, y1):
                for col in range(x0, x1):
                    self.pixel(col, row, c)
            return
        c &= 0x0F
        for row in range(y0, y1):
            left, right = x0, x1
            if left % 2:  # a lone right-hand pixel
                self.pixel(left, row, c)
                left += 1
            if right % 2 and right > left:  # a lone left-hand pixel
                self.pixel(right - 1, row, c)
                right -= 1
            if right > left:
                start = row * self._stride + (left >> 1)
                self.buf[start:start + ((right - left) >> 1)] = bytes((c * 0x11,)) * ((right - left) >> 1)

    def hline(self, x: int, y: int, w: int, c: int) -> None:
        self.fill_rect(x, y, w, 1, c)

    def vline(self, x: int, y: int, h: int, c: int) -> None:
        self.fill_rect(x, y, 1, h, c)

    def rect(self, x: int, y: int, w: int, h: int, c: int, f: bool = False) -> None:
        if f:
            self.fill_rect(x, y, w, h, c)
            return
        self.fill_rect(x, y, w, 1, c)
        self.fill_rect(x, y + h - 1, w, 1, c)
        self.fill_rect(x, y, 1, h, c)
        self.fill_rect(x + w - 1, y, 1, h, c)

    def text(self, s: str, x: int, y: int, c: int = 1) -> None:
        # framebuf draws the UTF-8 bytes, transparent background, clipped per pixel.
        for code in s.encode():
            glyph = (code if 32 <= code <= 127 else 127) - 32
            for col in range(8):
                bits = _FONT[glyph * 8 + col]
                row = 0
                while bits:
                    if bits & 1:
                        self.pixel(x, y + row, c)
                    bits >>= 1
                    row += 1
                x += 1
