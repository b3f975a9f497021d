"""The ILI9341 driver on a fake bus: init sequence, address windows, RGB565 bytes, strips (from the
whole frame or from a strip buffer), no allocation."""

import hashlib

from ili9341 import ILI9341

from tests.asserts import raises_value_error
from tests.nogc import without_allocation

_SWRESET, _SLPOUT, _DISPON, _CASET, _PASET, _RAMWR, _MADCTL, _COLMOD = (
    0x01, 0x11, 0x29, 0x2A, 0x2B, 0x2C, 0x36, 0x3A)


class Command:
    """One command seen on the bus and its data: the first and last bytes, count, SHA-256.

    Digests rather than copies: a frame is 153 600 bytes and the tests run in a board-sized heap.
    """

    def __init__(self, code):
        self.code = code
        self.head = b""
        self.tail = b""
        self.size = 0
        self._hash = hashlib.sha256()

    def add(self, data):
        if self.size < 16:
            self.head += bytes(data[:16 - self.size])
        self.tail = (self.tail + bytes(data[-4:]))[-4:]
        self.size += len(data)
        self._hash.update(data)

    def digest(self):
        return self._hash.digest()


class FakeBus:
    """SPI and pins of a panel: records pin levels, delays and commands, in order.

    keep_writes also keeps every write as (dc, bytes), for simulator.screenshot.decode_spi_capture.
    """

    def __init__(self, keep_writes=False):
        self.events = []  # ("rst", level), ("sleep", ms), ("command", code)
        self.commands = []
        self.writes = [] if keep_writes else None
        self.dc_level = -1
        self.cs_level = -1
        self.writes_without_cs = 0

    def write(self, buf):
        if self.cs_level != 0:
            self.writes_without_cs += 1
        if self.writes is not None:
            self.writes.append((self.dc_level, bytes(buf)))
        if self.dc_level == 0:
            self.events.append(("command", buf[0]))
            self.commands.append(Command(buf[0]))
        else:
            self.commands[-1].add(buf)

    def cs(self, level):
        self.cs_level = level

    def dc(self, level):
        self.dc_level = level

    def rst(self, level):
        self.events.append(("rst", level))

    def sleep_ms(self, ms):
        self.events.append(("sleep", ms))

    def short_commands(self):
        """(code, data) for commands with at most 16 data bytes."""
        return [(c.code, c.head) for c in self.commands if c.size <= 16]

    def clear(self):
        self.events, self.commands = [], []


class CountingBus:
    """A bus that allocates nothing: counts data bytes and sums them."""

    def __init__(self):
        self.data_bytes = 0
        self.checksum = 0
        self.level = 0

    def write(self, buf):
        if self.level:
            self.data_bytes += len(buf)
            for b in buf:
                self.checksum = (self.checksum + b) & 0xFFFF

    def dc(self, level):
        self.level = level

    def pin(self, level):
        pass


def _panel(bus=None, **kw):
    bus = bus or FakeBus()
    return bus, ILI9341(bus, bus.cs, bus.dc, bus.rst, sleep_ms=bus.sleep_ms, **kw)


def _pattern(width=320, height=240):
    """Every pixel a different mix of colour indices: (x + y) % 16 then (x + 2y) % 16."""
    fb = bytearray(width * height // 2)
    for y in range(height):
        for i in range(width // 2):
            fb[y * width // 2 + i] = ((2 * i + y) % 16) << 4 | (2 * i + 1 + 2 * y) % 16
    return fb


_PALETTE = tuple([0x1234 + 0x1111 * i & 0xFFFF for i in range(16)])


def _expected(fb, palette, y0, y1, width=320):
    """(byte count, SHA-256) of lines y0..y1 as big-endian RGB565, expanded independently of the driver."""
    digest = hashlib.sha256()
    line = bytearray(width * 2)
    for y in range(y0, y1):
        for x in range(width):
            pair = fb[(y * width + x) // 2]
            colour = palette[pair >> 4 if x % 2 == 0 else pair & 0x0F]
            line[2 * x] = colour >> 8
            line[2 * x + 1] = colour & 0xFF
        digest.update(line)
    return (y1 - y0) * width * 2, digest.digest()


def _data(command):
    return command.size, command.digest()


def test_init_resets_then_wakes_the_panel_in_landscape_16_bit():
    bus, _ = _panel()
    assert bus.short_commands() == [(_SWRESET, b""), (_SLPOUT, b""), (_COLMOD, b"\x55"), (_MADCTL, b"\x28"),
                                    (_DISPON, b"")]
    assert bus.writes_without_cs == 0
    kinds = [e[0] for e in bus.events]
    assert [e[1] for e in bus.events if e[0] == "rst"] == [1, 0, 1]
    assert kinds.index("command") > max([i for i, k in enumerate(kinds) if k == "rst"])
    # The datasheet's 120 ms after the reset and after sleep out, before the next command.
    for code in (_SWRESET, _SLPOUT):
        at = bus.events.index(("command", code))
        waited = 0
        for e in bus.events[at + 1:]:
            if e[0] == "command":
                break
            waited += e[1] if e[0] == "sleep" else 0
        assert waited >= 120, (code, waited)


def test_rotation_and_colour_order_set_the_scan_bits():
    assert _panel(rotation=270)[0].short_commands()[3] == (_MADCTL, b"\xe8")
    assert _panel(bgr=False)[0].short_commands()[3] == (_MADCTL, b"\x20")
    assert _panel(width=240, height=320, rotation=0)[0].short_commands()[3] == (_MADCTL, b"\x48")
    assert raises_value_error(_panel, rotation=45)
    assert raises_value_error(_panel, width=240, height=320)  # portrait size, landscape rotation


def test_no_reset_pin_skips_the_hardware_reset():
    bus = FakeBus()
    ILI9341(bus, bus.cs, bus.dc, None, sleep_ms=bus.sleep_ms)
    assert [e for e in bus.events if e[0] == "rst"] == []
    assert bus.short_commands()[0] == (_SWRESET, b"")


def test_full_frame_sets_the_whole_window_and_sends_every_pixel_big_endian():
    bus, tft = _panel()
    bus.clear()
    fb = _pattern()
    tft.show(fb, _PALETTE)
    assert [c.code for c in bus.commands] == [_CASET, _PASET, _RAMWR]
    assert bus.commands[0].head == b"\x00\x00\x01\x3f"  # columns 0..319
    assert bus.commands[1].head == b"\x00\x00\x00\xef"  # rows 0..239
    assert _data(bus.commands[2]) == _expected(fb, _PALETTE, 0, 240)
    assert bus.commands[2].size == 320 * 240 * 2
    assert bus.writes_without_cs == 0


def test_known_pixels_come_out_as_their_palette_colours():
    bus, tft = _panel()
    fb = bytearray(320 * 240 // 2)
    fb[0] = 0x1F  # (0,0) colour 1, (1,0) colour 15
    fb[-1] = 0x20  # (318,239) colour 2, (319,239) colour 0
    palette = [0] * 16
    palette[1], palette[15], palette[2] = 0xF800, 0x07E0, 0xABCD
    bus.clear()
    tft.show(fb, palette)
    ram = bus.commands[2]
    assert ram.head == b"\xf8\x00\x07\xe0" + bytes(12)
    assert ram.tail == b"\xab\xcd\x00\x00"
    zeros = hashlib.sha256()
    zeros.update(b"\xf8\x00\x07\xe0" + bytes(636))
    for _ in range(238):
        zeros.update(bytes(640))
    zeros.update(bytes(636))
    zeros.update(b"\xab\xcd\x00\x00")
    assert _data(ram) == (320 * 240 * 2, zeros.digest())


def test_strip_refresh_sends_only_the_requested_lines():
    bus, tft = _panel()
    fb = _pattern()
    bus.clear()
    tft.show(fb, _PALETTE, 100, 140)
    assert bus.commands[0].head == b"\x00\x00\x01\x3f"
    assert bus.commands[1].head == b"\x00\x64\x00\x8b"  # rows 100..139
    assert _data(bus.commands[2]) == _expected(fb, _PALETTE, 100, 140)


def test_a_strip_buffer_holding_only_the_lines_sends_them_where_they_belong():
    fb = _pattern()
    strip = fb[100 * 160:140 * 160]  # lines 100..139 alone, line 100 first
    bus, tft = _panel()
    bus.clear()
    tft.show(strip, _PALETTE, 100, 140)
    assert [c.code for c in bus.commands] == [_CASET, _PASET, _RAMWR]
    assert bus.commands[1].head == b"\x00\x64\x00\x8b"  # rows 100..139
    assert _data(bus.commands[2]) == _expected(fb, _PALETTE, 100, 140)
    bus.clear()
    tft.show(fb[:40 * 160], _PALETTE, 0, 40)  # the first strip
    assert _data(bus.commands[2]) == _expected(fb, _PALETTE, 0, 40)
    assert raises_value_error(tft.show, strip, _PALETTE, 100, 141)  # one line more than the strip holds
    assert raises_value_error(tft.show, strip, _PALETTE, 100)  # to the bottom: 140 lines


def test_lines_go_out_one_write_each_from_the_line_buffer():
    bus = FakeBus(keep_writes=True)
    tft = ILI9341(bus, bus.cs, bus.dc, bus.rst, sleep_ms=bus.sleep_ms)
    bus.writes = []
    tft.show(_pattern(), _PALETTE, 0, 8)
    assert [len(data) for dc, data in bus.writes if dc == 1][2:] == [640] * 8


def test_show_rejects_what_does_not_fit_the_panel():
    _, tft = _panel()
    fb = bytearray(320 * 240 // 2)
    assert raises_value_error(tft.show, bytearray(320 * 240), _PALETTE)
    assert raises_value_error(tft.show, fb, _PALETTE[:15])
    assert raises_value_error(tft.show, fb, (0x10000,) + _PALETTE[1:])
    assert raises_value_error(tft.show, fb, _PALETTE, 10, 10)
    assert raises_value_error(tft.show, fb, _PALETTE, 0, 241)
    assert raises_value_error(tft.show, fb, _PALETTE, -1, 20)


def test_show_allocates_nothing():
    bus = CountingBus()
    tft = ILI9341(bus, bus.pin, bus.dc, bus.pin, sleep_ms=bus.pin)
    fb = _pattern()
    bus.data_bytes = bus.checksum = 0
    def run():
        tft.show(fb, _PALETTE)
        tft.show(fb, _PALETTE, 200, 240)

    without_allocation(run)
    windows = b"\x00\x00\x01\x3f\x00\x00\x00\xef" + b"\x00\x00\x01\x3f\x00\xc8\x00\xef"
    assert bus.data_bytes == len(windows) + 320 * 240 * 2 + 320 * 40 * 2
    # The same bytes as the recorded path: a sum over every data byte sent.
    total = sum(windows)
    for y in range(240):
        total += _line_sum(fb, y)
    for y in range(200, 240):
        total += _line_sum(fb, y)
    assert bus.checksum == total & 0xFFFF


def test_sending_a_strip_allocates_nothing():
    bus = CountingBus()
    tft = ILI9341(bus, bus.pin, bus.dc, bus.pin, sleep_ms=bus.pin)
    fb = _pattern()
    strip = fb[200 * 160:]  # a 40-line strip buffer, as the app sends
    bus.data_bytes = bus.checksum = 0
    without_allocation(lambda: tft.show(strip, _PALETTE, 200, 240))
    window = b"\x00\x00\x01\x3f\x00\xc8\x00\xef"
    assert bus.data_bytes == len(window) + 320 * 40 * 2
    total = sum(window)
    for y in range(200, 240):
        total += _line_sum(fb, y)
    assert bus.checksum == total & 0xFFFF


def _line_sum(fb, y, width=320):
    total = 0
    for pair in fb[y * width // 2:(y + 1) * width // 2]:
        for index in (pair >> 4, pair & 0x0F):
            total += (_PALETTE[index] >> 8) + (_PALETTE[index] & 0xFF)
    return total
