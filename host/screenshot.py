"""Screens on the host: a CPython FrameBuffer like MicroPython's, PNG files, SPI captures.

Why: the firmware draws into a framebuf.FrameBuffer (GS4_HMSB); CPython has no framebuf,
so the simulator and the tests draw into the stand-in below, which keeps the same byte
layout and the same 8x8 font (tests/host/test_screenshots.py checks it byte for byte
against the real framebuf of the MicroPython unix port). The font is the public-domain
PetMe128 8x8 font that MicroPython's framebuf uses, read out of framebuf (MONO_VLSB: one
byte per column, least significant bit at the top) rather than typed in.
Only the drawing methods the screens use are provided.
"""

GS4_HMSB = 2  # the only format the stand-in supports (the value framebuf gives it)

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
    """framebuf.FrameBuffer for GS4_HMSB: two pixels a byte, the left one in the high nibble."""

    def __init__(self, buf, width: int, height: int, fmt: int):
        if fmt != GS4_HMSB:
            raise ValueError("fmt: only GS4_HMSB is supported")
        if width % 2 or len(buf) < width * height // 2:
            raise ValueError("buf: needs width * height / 2 bytes and an even width")
        self.buf, self.width, self.height = buf, width, height

    def fill(self, c: int) -> None:
        self.fill_rect(0, 0, self.width, self.height, c)

    def pixel(self, x: int, y: int, c=None):
        if not (0 <= x < self.width and 0 <= y < self.height):
            return None
        i = (y * self.width + x) >> 1
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
                start = (row * self.width + left) >> 1
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


def palette_pixels(fb_bytes, palette, width: int = 320, height: int = 240) -> list:
    """A GS4_HMSB buffer as RGB565 values, one per pixel, row by row."""
    if len(fb_bytes) != width * height // 2 or len(palette) != 16:
        raise ValueError("fb_bytes, palette: need width * height / 2 bytes and 16 colours")
    out = []
    for pair in fb_bytes:
        out.append(palette[pair >> 4])
        out.append(palette[pair & 0x0F])
    return out


def rgb565_to_rgb(colour: int) -> tuple:
    """8-bit channels, low bits filled from the high ones so white stays 255."""
    r, g, b = colour >> 11, (colour >> 5) & 0x3F, colour & 0x1F
    return (r << 3 | r >> 2, g << 2 | g >> 4, b << 3 | b >> 2)


def save_rgb565_png(width: int, height: int, pixels, path) -> None:
    from PIL import Image  # host only; imported here so the stand-in needs no Pillow

    data = bytearray()
    for colour in pixels:
        data += bytes(rgb565_to_rgb(colour))
    Image.frombytes("RGB", (width, height), bytes(data)).save(path, format="PNG")


def save_png(fb_bytes, palette, path, width: int = 320, height: int = 240) -> None:
    """A GS4_HMSB frame buffer and its 16-colour palette as a PNG file."""
    save_rgb565_png(width, height, palette_pixels(fb_bytes, palette, width, height), path)


def decode_spi_capture(writes, width: int = 320, height: int = 240):
    """What an ILI9341 would hold after a recorded SPI session: (width, height, pixels).

    writes: (dc, data) for every spi.write, dc the level of the D/C pin at the time
    (0 command, 1 data), as a fake bus records them. Column/page windows (0x2A/0x2B)
    and memory writes (0x2C) are replayed on a panel of the given size, initially black;
    pixels are RGB565 values, row by row, so strip refreshes compose into one frame.
    """
    pixels = [0] * (width * height)
    window = {0x2A: [0, width - 1], 0x2B: [0, height - 1]}
    command, args, pos, pending = None, bytearray(), 0, bytearray()
    for dc, data in writes:
        if not dc:
            if len(data) != 1:
                raise ValueError("writes: a command is one byte")
            command, args, pending = data[0], bytearray(), bytearray()
            pos = 0
            continue
        if command in window:
            args += data
            if len(args) >= 4:
                window[command] = [args[0] << 8 | args[1], args[2] << 8 | args[3]]
        elif command == 0x2C:
            (x0, x1), (y0, y1) = window[0x2A], window[0x2B]
            if not (0 <= x0 <= x1 < width and 0 <= y0 <= y1 < height):
                raise ValueError("writes: window outside the %dx%d panel" % (width, height))
            pending += data
            cols = x1 - x0 + 1
            for i in range(0, len(pending) - 1, 2):
                row, col = divmod(pos, cols)
                if y0 + row > y1:
                    raise ValueError("writes: more pixels than the window holds")
                pixels[(y0 + row) * width + x0 + col] = pending[i] << 8 | pending[i + 1]
                pos += 1
            del pending[:len(pending) & ~1]
    return width, height, pixels
