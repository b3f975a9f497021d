"""A band of the screen to draw into, so that no board holds a whole frame buffer.

Why: a 320x240 frame at 4 bits is 38 400 B, too much for the smallest board's heap
(SPEC: draw by regions). The app draws the screen once per strip through a Strip: a
window with the FrameBuffer drawing methods the screens use, which moves every
drawing up by the strip's top line into a small GS4_HMSB buffer (320x40: 6 400 B).
The buffer clips what falls outside, as the whole frame clips at its edges, so each
strip holds exactly the lines of the full frame it covers and the strips sent one
after another make the same image. Pixel reads answer only inside the strip (None
elsewhere): the screens never read back what they drew.
"""

try:
    import framebuf
except ImportError:  # CPython (host tools, simulator, tests): the host's stand-in, same layout and font
    import framebuf_host as framebuf  # type: ignore[no-redef]


class Strip:
    """width x lines pixels of a taller screen, starting at screen line `top` (move() sets it)."""

    def __init__(self, width: int, lines: int):
        if width <= 0 or width % 2 or lines <= 0:
            raise ValueError("width, lines: need an even width and at least one line")
        self.width = width
        self.lines = lines
        self.top = 0
        self.buf = bytearray(width * lines // 2)  # GS4_HMSB: two pixels a byte, line `top` first
        self._fb = framebuf.FrameBuffer(self.buf, width, lines, framebuf.GS4_HMSB)

    def move(self, top: int) -> None:
        """Cover screen lines top <= y < top + lines from now on (the pixels are left as they are)."""
        self.top = top

    def fill(self, c: int) -> None:
        self._fb.fill(c)

    def fill_rect(self, x: int, y: int, w: int, h: int, c: int) -> None:
        self._fb.fill_rect(x, y - self.top, w, h, c)

    def rect(self, x: int, y: int, w: int, h: int, c: int, f: bool = False) -> None:
        self._fb.rect(x, y - self.top, w, h, c, f)

    def hline(self, x: int, y: int, w: int, c: int) -> None:
        self._fb.hline(x, y - self.top, w, c)

    def vline(self, x: int, y: int, h: int, c: int) -> None:
        self._fb.vline(x, y - self.top, h, c)

    def text(self, s: str, x: int, y: int, c: int = 1) -> None:
        self._fb.text(s, x, y - self.top, c)

    def pixel(self, x: int, y: int, c=None):
        if c is None:
            return self._fb.pixel(x, y - self.top)
        self._fb.pixel(x, y - self.top, c)
        return None
