"""Screens as images: PNG files of frames, and frames rebuilt from an SPI capture.

The simulator and the tests render the firmware's screens into framebuf_host's
FrameBuffer (the CPython stand-in of MicroPython's framebuf) and save them here.
"""

from opsm.simulator import board

_framebuf_host = board.module("framebuf_host")  # the board's frame buffer, re-exported for callers
GS4_HMSB, FrameBuffer = _framebuf_host.GS4_HMSB, _framebuf_host.FrameBuffer


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
