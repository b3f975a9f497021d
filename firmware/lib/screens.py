"""What the meter's 320x240 TFT shows: one function per screen, drawn from plain values.

Why: screens are drawn in 4-bit palette colours (GS4_HMSB) that the ILI9341 driver
expands to RGB565 line by line. Any object with the FrameBuffer drawing methods used
here (fill, fill_rect, rect, hline, text) works and nothing is read back from it: on
a board it is a strip.Strip, a band of lines the app moves down the screen, drawing
the screen once per band; the host draws whole frames (framebuf.FrameBuffer or its
CPython stand-in, 38 400 B) for screenshots and tests.
Every function paints the whole screen and returns the strings it drew, top to
bottom, so logic tests can check what a person sees without looking at pixels.
Labels are Spanish in plain ASCII: the framebuf font is 8x8 ASCII. Values are
integers in the firmware's units (W, mV, Wh, percent).
"""

from strip import Strip, framebuf  # framebuf: the board's, or the host's stand-in under CPython

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

WIDTH = 320
HEIGHT = 240
FB_BYTES = WIDTH * HEIGHT // 2  # GS4_HMSB: two pixels a byte


def rgb565(r: int, g: int, b: int) -> int:
    return (r & 0xF8) << 8 | (g & 0xFC) << 3 | b >> 3


# The 16 colours, by palette index: the only place colours are defined (private constants:
# a board keeps no global for each).
_BLACK = const(0)
_WHITE = const(1)
_GREY = const(2)
_LIGHT_GREY = const(3)
_DARK_GREY = const(4)
_GREEN = const(5)
_DARK_GREEN = const(6)
_RED = const(7)
_DARK_RED = const(8)
_AMBER = const(9)
_YELLOW = const(10)
_NAVY = const(11)
_BLUE = const(12)
_CYAN = const(13)
_ORANGE = const(14)
_MAGENTA = const(15)
# Their R, G, B bytes in index order: a bytes literal stays in flash, where (r, g, b) tuples
# would stay in the heap beside PALETTE.
_RGB = const(b"\x00\x00\x00" b"\xff\xff\xff" b"\x88\x88\x88" b"\xc8\xc8\xc8"
             b"\x30\x30\x38" b"\x28\xc8\x5a" b"\x00\x60\x28" b"\xe0\x28\x28"
             b"\x70\x00\x00" b"\xff\xb0\x00" b"\xff\xe8\x00" b"\x10\x28\x60"
             b"\x30\x78\xff" b"\x00\xc8\xdc" b"\xff\x70\x00" b"\xdc\x00\xc8")
PALETTE = tuple([rgb565(_RGB[i], _RGB[i + 1], _RGB[i + 2]) for i in range(0, 48, 3)])

_MENU_ROWS = const(8)  # admin items on screen at once: the list scrolls with the cursor

# Alarms: the full screen and the main screen's alarm line.
LOW_CREDIT = "LOW_CREDIT"
CREDIT_OUT = "CREDIT_OUT"
BATTERY_LOW = "BATTERY_LOW"
METER_FAULT = "METER_FAULT"
ALARM_LINES = {
    LOW_CREDIT: "Credito bajo: recargue pronto",
    CREDIT_OUT: "Sin credito: servicio cortado",
    BATTERY_LOW: "Bateria baja: servicio cortado",
    METER_FAULT: "Falla de medicion: servicio cortado",
}

# Key hints, as the keypad state machine reads the keys.
_HINT_MAIN = const("* recargar      # administrar")
_HINT_TOKEN = const("D borrar   * aceptar   # cancelar")
_HINT_MENU = const("A/B mover   # elegir   * a SALIR")
_HINT_EDIT = const("# aceptar   * volver   D borrar")
_HINT_ANY_KEY = const("Pulse una tecla para volver")

_TITLE_H = const(24)
_FOOTER_Y = const(220)
_CHAR = const(8)

# One glyph for _big: MONO_HLSB keeps a row of 8 pixels in a byte, the leftmost in bit 7.
_GLYPH = bytearray(_CHAR)
_GLYPH_FB = framebuf.FrameBuffer(_GLYPH, _CHAR, _CHAR, framebuf.MONO_HLSB)


def draw_main(fb, entity: str, power_w: int, battery_mv: int, battery_pct: int, inverter_mv: int,
              credit_wh: int, relay_closed: bool, alarm: str = "", message: str = "") -> list:
    """Status: entity, credit (large), consumption, battery, inverter, relay, one alarm line;
    message: why a keypad session ended (cancelled, locked, timed out), in the hint's place."""
    if not 0 <= battery_pct <= 100:
        raise ValueError("battery_pct: must be 0..100")
    shown: list = []
    fb.fill(_BLACK)
    fb.fill_rect(0, 0, WIDTH, _TITLE_H, _NAVY)
    badge = "CONECTADO" if relay_closed else "CORTADO"
    badge_w = len(badge) * _CHAR + 8
    _put(fb, shown, _fit(entity, (WIDTH - badge_w - 16) // _CHAR), 6, 8, _WHITE)
    fb.fill_rect(WIDTH - badge_w - 4, 4, badge_w, 16, _GREEN if relay_closed else _RED)
    _put(fb, shown, badge, WIDTH - badge_w, 8, _BLACK if relay_closed else _WHITE)

    _put(fb, shown, "CREDITO DISPONIBLE", 8, 32, _GREY)
    credit = _kwh(credit_wh)
    scale = 4 if len(credit) <= 6 else 3
    colour = _GREEN if credit_wh > 0 else _RED
    _put(fb, shown, credit, 8, 46, colour, _BLACK, scale)
    _put(fb, shown, "kWh", 16 + len(credit) * _CHAR * scale, 46 + _CHAR * scale - 16, colour, _BLACK, 2)
    fb.hline(8, 88, WIDTH - 16, _DARK_GREY)

    y = 96
    for label, value in (("CONSUMO", "%d W" % power_w),
                         ("BATERIA", _fixed(battery_mv, 1000, 1) + " V"),
                         ("INVERSOR", _fixed(inverter_mv, 1000, 1) + " V")):
        _put(fb, shown, label, 8, y + 4, _GREY)
        _put(fb, shown, value, 104, y, _WHITE, _BLACK, 2)
        y += 28
    _battery_gauge(fb, shown, 224, 124, battery_pct)

    if alarm:
        fb.fill_rect(0, 184, WIDTH, 24, _RED)
        _put_centred(fb, shown, _fit(alarm, 38), 192, _WHITE)
    _footer(fb, shown, _HINT_MAIN, message)
    return shown


def draw_token_entry(fb, digits: str, length: int = 20, message: str = "") -> list:
    """Recharge code entry: the digits so far in groups of five, blanks, a cursor, a count."""
    if len(digits) > length:
        raise ValueError("digits: more than length")
    for d in digits:
        if not "0" <= d <= "9":
            raise ValueError("digits: only 0-9")
    shown: list = []
    fb.fill(_BLACK)
    _title(fb, shown, "RECARGA DE ENERGIA", _NAVY)
    _put_centred(fb, shown, "Digite el codigo de %d digitos" % length, 36, _LIGHT_GREY)
    scale = 3
    cell = _CHAR * scale
    y = 60
    for start in range(0, length, 10):  # a line holds two groups: "12345 67890"
        typed = digits[start:start + 10]
        blanks = "-" * (min(length - start, 10) - len(typed))
        line = _group(typed + blanks)
        cut = len(_group(typed))
        x0 = (WIDTH - len(line) * cell) // 2
        _big(fb, line[:cut], x0, y, _WHITE, _BLACK, scale)
        _big(fb, line[cut:], x0 + cut * cell, y, _GREY, _BLACK, scale)
        shown.append(line)
        at = len(digits) - start
        if 0 <= at < 10 and len(digits) < length:
            fb.fill_rect(x0 + (at + at // 5) * cell, y + cell + 2, cell, 3, _AMBER)
        y += cell + 12
    _put_centred(fb, shown, "%d/%d" % (len(digits), length), y + 8, _GREY)
    _footer(fb, shown, _HINT_TOKEN, message)
    return shown


def draw_token_accepted(fb, added_wh: int, credit_wh: int, repaid_wh: int = 0) -> list:
    """Recharge accepted: the energy the code brought (large), the part that repaid an advance
    (CREDITO) if any, and the credit now available."""
    shown: list = []
    fb.fill(_BLACK)
    _title(fb, shown, "RECARGA ACEPTADA", _DARK_GREEN)
    added = "+" + _kwh(added_wh)
    scale = 4 if len(added) <= 7 else 3
    x = (WIDTH - len(added) * _CHAR * scale - 8 - 3 * 16) // 2
    _put(fb, shown, added, x, 56, _GREEN, _BLACK, scale)
    _put(fb, shown, "kWh", x + len(added) * _CHAR * scale + 8, 56 + _CHAR * scale - 16, _GREEN, _BLACK, 2)
    if repaid_wh:
        _put_centred(fb, shown, "Descontado del anticipo: -" + _kwh(repaid_wh) + " kWh", 104, _AMBER)
    _put_centred(fb, shown, "Credito disponible", 124, _GREY)
    _put_centred(fb, shown, _kwh(credit_wh) + " kWh", 140, _WHITE, _BLACK, 2)
    _footer(fb, shown, _HINT_ANY_KEY, "")
    return shown


def draw_token_rejected(fb, reason: str, advice: str = "") -> list:
    """reason: one short sentence saying why (the token decoder's message); advice: what to do."""
    shown: list = []
    fb.fill(_BLACK)
    _title(fb, shown, "CODIGO RECHAZADO", _RED)
    y = 64
    for line in _wrap(reason, WIDTH // (2 * _CHAR) - 1)[:3]:
        _put_centred(fb, shown, line, y, _WHITE, _BLACK, 2)
        y += 24
    if advice:
        _put_centred(fb, shown, _fit(advice, 38), 152, _GREY)
    _footer(fb, shown, _HINT_ANY_KEY, "")
    return shown


def draw_admin_menu(fb, items, selected: int, values=(), edit_value=None, message: str = "") -> list:
    """Admin menu: items with their current values, the selected one highlighted.

    items: the menu's item names (View.items); values: the value shown beside each
    (same order; missing ones blank). At most _MENU_ROWS rows show, the window following
    the cursor. edit_value: None, or the text being typed for the selected item (edit
    field). message: a status line (e.g. why a value was refused) shown instead of the hint.
    """
    if not 0 <= selected < len(items):
        raise ValueError("selected: must index the menu's items")
    shown: list = []
    fb.fill(_BLACK)
    _title(fb, shown, "ADMINISTRACION", _NAVY)
    y = _TITLE_H + 2
    first = min(max(selected - _MENU_ROWS // 2 + 1, 0), max(len(items) - _MENU_ROWS, 0))
    for i in range(first, min(first + _MENU_ROWS, len(items))):
        chosen = i == selected
        fg, bg = (_BLACK, _AMBER) if chosen else (_WHITE, _BLACK)
        if chosen:
            fb.fill_rect(0, y, WIDTH, 20, _AMBER)
        _put(fb, shown, items[i], 8, y + 2, fg, bg, 2)
        value = _fit(values[i], 15) if i < len(values) else ""
        if value:
            _put(fb, shown, value, WIDTH - 8 - len(value) * _CHAR, y + 6, fg if chosen else _LIGHT_GREY)
        y += 20
    if edit_value is not None:
        fb.rect(4, 190, WIDTH - 8, 26, _AMBER)
        label = items[selected] + ":"
        _put(fb, shown, label, 12, 199, _AMBER)
        x = 12 + (len(label) + 1) * _CHAR
        value = _fit(edit_value, (WIDTH - 16 - x) // 16)
        _put(fb, shown, value, x, 195, _WHITE, _BLACK, 2)
        fb.fill_rect(x + len(value) * 16, 195, 2, 16, _AMBER)  # cursor
    _footer(fb, shown, _HINT_EDIT if edit_value is not None else _HINT_MENU, message)
    return shown


def draw_prompt(fb, title: str, prompt: str, entry: str, message: str = "") -> list:
    """One typed value on its own screen: admin password, new password, calibration volts.

    entry is shown as given: the caller masks a password with '*'.
    """
    shown: list = []
    fb.fill(_BLACK)
    _title(fb, shown, title, _NAVY)
    y = 48
    for line in _wrap(prompt, 38)[:2]:
        _put_centred(fb, shown, line, y, _LIGHT_GREY)
        y += 12
    fb.rect(24, 96, WIDTH - 48, 44, _WHITE)
    shown_entry = _fit(entry, 11)
    x = (WIDTH - len(shown_entry) * 24) // 2
    _put(fb, shown, shown_entry, x, 106, _WHITE, _BLACK, 3)
    fb.fill_rect(x + len(shown_entry) * 24, 106, 3, 24, _AMBER)  # cursor
    _footer(fb, shown, _HINT_EDIT, message)
    return shown


def draw_alarm(fb, kind: str, credit_wh: int = 0, battery_mv: int = 0, message: str = "",
               restore_mv: int = 0) -> list:
    """Full-screen alarm: low credit, credit exhausted, battery low or a metering fault (relay open);
    message: as draw_main's, in the hint's place; restore_mv: where the supply comes back (BATTERY_LOW)."""
    if kind == LOW_CREDIT:
        colour, title = _AMBER, "CREDITO BAJO"
        detail, advice = "Quedan " + _kwh(credit_wh) + " kWh", "Recargue pronto con la tecla *"
    elif kind == CREDIT_OUT:
        colour, title = _RED, "SIN CREDITO"
        detail, advice = "Servicio cortado", "Recargue con la tecla *"
    elif kind == BATTERY_LOW:
        colour, title = _RED, "BATERIA BAJA"
        detail, advice = "Bateria " + _fixed(battery_mv, 1000, 1) + " V", "Vuelve al cargar a " + _fixed(
            restore_mv, 1000, 1) + " V"
    elif kind == METER_FAULT:  # no supply the meter cannot meter and charge
        colour, title = _RED, "FALLA MEDIDOR"
        detail, advice = "Servicio cortado", "La medicion fallo; se reintenta sola"
    else:
        raise ValueError("kind: must be LOW_CREDIT, CREDIT_OUT, BATTERY_LOW or METER_FAULT")
    shown: list = []
    fb.fill(_BLACK)
    for i in range(4):  # a thick frame in the alarm colour
        fb.rect(i, i, WIDTH - 2 * i, HEIGHT - 2 * i, colour)
    for i in range(48):  # warning triangle with an exclamation mark
        fb.hline(WIDTH // 2 - i, 18 + i, 2 * i + 1, colour)
    _put(fb, shown, "!", WIDTH // 2 - 12, 38, _BLACK, colour, 3)
    _put_centred(fb, shown, title, 84, colour, _BLACK, 3)
    _put_centred(fb, shown, detail, 124, _WHITE, _BLACK, 2)
    _put_centred(fb, shown, advice, 156, _LIGHT_GREY)
    _put_centred(fb, shown, _fit(message, 38) or _HINT_ANY_KEY, 200, _AMBER if message else _GREY)
    return shown


# --- helpers -------------------------------------------------------------------

def _put(fb, shown: list, s: str, x: int, y: int, fg: int, bg: int = _BLACK, scale: int = 1) -> None:
    # bg only matters when scaled: big glyphs are painted on an opaque cell.
    if scale == 1:
        fb.text(s, x, y, fg)
    else:
        _big(fb, s, x, y, fg, bg, scale)
    shown.append(s)


def _put_centred(fb, shown: list, s: str, y: int, fg: int, bg: int = _BLACK, scale: int = 1) -> None:
    _put(fb, shown, s, (WIDTH - len(s) * _CHAR * scale) // 2, y, fg, bg, scale)


def _big(fb, s: str, x: int, y: int, fg: int, bg: int, scale: int) -> None:
    """Text at scale 2, 3, 4... from the frame buffer's own 8x8 font.

    Each glyph is drawn at its normal size into a private 8x8 one-bit buffer, whose
    bytes are then the glyph's rows, and painted on fb as runs of scale x scale
    blocks on an opaque cell. The glyph is never read back from fb, so fb may be a
    strip that holds only some of the lines. Whole glyphs only: one that would cross
    the right edge is not drawn.
    """
    size = _CHAR * scale
    if isinstance(fb, Strip) and not fb.top - size < y < fb.top + fb.lines:
        return  # no row of it in the strip being drawn: spare the glyph work, most of a redraw
    for ch in s:
        if x + size > WIDTH:
            return
        _GLYPH_FB.fill(0)
        _GLYPH_FB.text(ch, 0, 0, 1)
        fb.fill_rect(x, y, size, size, bg)
        for row in range(_CHAR):
            bits, col = _GLYPH[row], 0
            while col < _CHAR:
                start = col
                while col < _CHAR and bits & (0x80 >> col):
                    col += 1
                if col > start:
                    fb.fill_rect(x + start * scale, y + row * scale, (col - start) * scale, scale, fg)
                else:
                    col += 1
        x += size


def _title(fb, shown: list, title: str, bg: int) -> None:
    # Large when it fits the width (19 characters), else the small font (38): never cut.
    fb.fill_rect(0, 0, WIDTH, _TITLE_H, bg)
    if len(title) * _CHAR * 2 <= WIDTH:
        _put_centred(fb, shown, title, 4, _WHITE, bg, 2)
    else:
        _put_centred(fb, shown, _fit(title, WIDTH // _CHAR), 8, _WHITE, bg)


def _footer(fb, shown: list, hint: str, message: str) -> None:
    # A message (refusal, status) takes the hint's place, in amber, on two lines if it needs them.
    fb.fill_rect(0, _FOOTER_Y, WIDTH, HEIGHT - _FOOTER_Y, _DARK_GREY)
    if not message:
        _put_centred(fb, shown, hint, _FOOTER_Y + 6, _LIGHT_GREY)
        return
    lines = _wrap(message, WIDTH // _CHAR)[:2]
    y = _FOOTER_Y + (6 if len(lines) == 1 else 2)
    for line in lines:
        _put_centred(fb, shown, line, y, _AMBER)
        y += 9


def _battery_gauge(fb, shown: list, x: int, y: int, pct: int) -> None:
    fb.rect(x, y, 56, 16, _LIGHT_GREY)
    fb.fill_rect(x + 56, y + 4, 3, 8, _LIGHT_GREY)
    colour = _GREEN if pct >= 40 else _AMBER if pct >= 20 else _RED
    fb.fill_rect(x + 2, y + 2, 52 * pct // 100, 12, colour)
    _put(fb, shown, "%d%%" % pct, x + 64, y + 4, _WHITE)


def _fit(s: str, n: int) -> str:
    return s[:n] if len(s) > n else s


def _group(digits: str) -> str:
    """'1234567890' -> '12345 67890'."""
    return " ".join([digits[i:i + 5] for i in range(0, len(digits), 5)])


def _wrap(text: str, width: int) -> list:
    """Words into lines of at most width characters (a longer word is cut)."""
    lines: list = []
    line = ""
    for word in text.split():
        word = word[:width]
        if line and len(line) + 1 + len(word) > width:
            lines.append(line)
            line = word
        else:
            line = line + " " + word if line else word
    if line:
        lines.append(line)
    return lines


def _fixed(value: int, unit: int, decimals: int) -> str:
    """value / unit with a fixed number of decimals, truncated: (12345, 1000, 2) -> '12.34'."""
    sign = "-" if value < 0 else ""
    value = -value if value < 0 else value
    step = 10 ** decimals
    frac = value % unit * step // unit
    return "%s%d.%s" % (sign, value // unit, ("%d" % (step + frac))[1:])


def _kwh(wh: int) -> str:
    return _fixed(wh, 1000, 2)
