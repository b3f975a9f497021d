"""Each screen shows what the meter must show: the strings drawn and a few telling pixels.

On MicroPython the screens draw into the real framebuf; under CPython into the host's
stand-in with the same layout and font (tests/host/test_screenshots.py compares the two).
On a board they are drawn strip by strip (strip.Strip): the strips make the same frame.
"""

import sys

import admin_menu
import screens as S
from strip import Strip

from tests.asserts import raises_value_error
from tests.nogc import without_allocation


# The palette indices and key hints the screens use (private constants there: no heap on a board).
BLACK, WHITE, GREY, LIGHT_GREY, DARK_GREY, GREEN, DARK_GREEN, RED, DARK_RED, AMBER, YELLOW, NAVY, BLUE, CYAN, \
    ORANGE, MAGENTA = range(16)
HINT_MENU = "A/B mover   # elegir   * a SALIR"
HINT_EDIT = "# aceptar   * volver   D borrar"
HINT_TOKEN = "D borrar   * aceptar   # cancelar"
ITEMS = admin_menu.labels()  # the admin menu's labels, from its one table (admin_fields.ITEMS)


def _fb(buf=None):
    """A whole 320x240 frame buffer, on buf if given."""
    buf = bytearray(S.FB_BYTES) if buf is None else buf
    if sys.implementation.name == "micropython":
        import framebuf
        return framebuf.FrameBuffer(buf, S.WIDTH, S.HEIGHT, framebuf.GS4_HMSB)
    from framebuf_host import GS4_HMSB, FrameBuffer
    return FrameBuffer(buf, S.WIDTH, S.HEIGHT, GS4_HMSB)


def _colours(fb, x, y, w, h):
    """The set of colour indices in a rectangle."""
    seen = set()
    for yy in range(y, y + h):
        for xx in range(x, x + w):
            seen.add(fb.pixel(xx, yy))
    return seen


def _main(fb, **changes):
    values = {"entity": "Cooperativa Solar", "power_w": 347, "battery_mv": 25460, "battery_pct": 78,
              "inverter_mv": 119850, "credit_wh": 123456, "relay_closed": True, "alarm": ""}
    for k in changes:
        values[k] = changes[k]
    return S.draw_main(fb, values["entity"], values["power_w"], values["battery_mv"], values["battery_pct"],
                       values["inverter_mv"], values["credit_wh"], values["relay_closed"], values["alarm"])


def test_palette_has_sixteen_rgb565_colours():
    assert len(S.PALETTE) == 16
    assert S.PALETTE[BLACK] == 0x0000 and S.PALETTE[WHITE] == 0xFFFF
    assert S.rgb565(255, 0, 0) == 0xF800 and S.rgb565(0, 255, 0) == 0x07E0 and S.rgb565(0, 0, 255) == 0x001F
    assert len(set(S.PALETTE)) == 16


def test_main_shows_entity_credit_readings_and_relay():
    fb = _fb()
    shown = _main(fb)
    for text in ("Cooperativa Solar", "CONECTADO", "123.45", "kWh", "347 W", "25.4 V", "78%", "119.8 V"):
        assert text in shown, text
    assert GREEN in _colours(fb, 8, 46, 192, 32)  # credit figure, large, green
    assert RED not in _colours(fb, 0, 180, S.WIDTH, 30)  # no alarm bar


def test_main_with_credit_out_shows_red_credit_open_relay_and_the_alarm_line():
    fb = _fb()
    shown = _main(fb, credit_wh=0, relay_closed=False, power_w=0, alarm=S.ALARM_LINES[S.CREDIT_OUT])
    assert "0.00" in shown and "CORTADO" in shown and "CONECTADO" not in shown
    assert S.ALARM_LINES[S.CREDIT_OUT] in shown
    assert RED in _colours(fb, 8, 46, 128, 32) and GREEN not in _colours(fb, 8, 46, 128, 32)
    assert fb.pixel(2, 186) == RED  # the alarm bar
    assert fb.pixel(S.WIDTH - 20, 6) == RED  # the relay badge


def test_main_truncates_a_long_entity_name_and_checks_the_battery_level():
    shown = _main(_fb(), entity="Empresa de Energia Solar Comunitaria del Norte")
    assert shown[0] == "Empresa de Energia Solar Com"  # 28 characters beside the badge
    assert raises_value_error(_main, _fb(), battery_pct=101)


def test_battery_gauge_fills_with_the_level():
    fb = _fb()
    _main(fb, battery_pct=50)
    assert fb.pixel(226 + 25, 130) == GREEN and fb.pixel(226 + 27, 130) == BLACK
    fb = _fb()
    _main(fb, battery_pct=10)
    assert fb.pixel(227, 130) == RED


def test_token_entry_groups_digits_in_fives_with_blanks_and_a_cursor():
    fb = _fb()
    shown = S.draw_token_entry(fb, "1234567890123")
    assert "12345 67890" in shown and "123-- -----" in shown and "13/20" in shown
    # Cursor under the 4th digit of the second line: x0 28, cells of 24 px, line 2 at y 96.
    assert fb.pixel(28 + 3 * 24 + 5, 96 + 24 + 3) == AMBER
    assert fb.pixel(28 + 2 * 24 + 5, 96 + 24 + 3) == BLACK
    assert S.draw_token_entry(_fb(), "")[2:4] == ["----- -----", "----- -----"]
    shown = S.draw_token_entry(_fb(), "123456789", length=9, message="Incompleto")
    assert "12345 6789" in shown and "9/9" in shown and shown[-1] == "Incompleto"


def test_token_entry_refuses_what_cannot_be_typed():
    assert raises_value_error(S.draw_token_entry, _fb(), "1" * 21)
    assert raises_value_error(S.draw_token_entry, _fb(), "12a4")


def test_token_results_say_what_was_added_or_why_not():
    shown = S.draw_token_accepted(_fb(), 12500, 135990)
    assert "+12.50" in shown and "135.99 kWh" in shown and "RECARGA ACEPTADA" in shown
    fb = _fb()
    shown = S.draw_token_rejected(fb, "Code type not supported")
    assert "CODIGO RECHAZADO" in shown and "Code type not" in shown and "supported" in shown
    assert fb.pixel(2, 2) == RED


def test_admin_menu_highlights_the_selected_item_and_scrolls_with_it():
    values = ("900123456", "1098765432", "2026-03-01", "2027-01-01 1030", "5.0 kWh", "30.0 kWh")
    items = ITEMS
    for selected in range(len(items)):
        fb = _fb()
        shown = S.draw_admin_menu(fb, items, selected, values)
        rows = [s for s in shown if s in items]
        assert len(rows) == 8 and items[selected] in rows  # a window of 8 that follows the cursor
        assert rows == list(items[items.index(rows[0]):items.index(rows[0]) + 8])
        for row in range(8):
            colour = fb.pixel(2, 26 + 20 * row + 1)
            assert colour == (AMBER if rows[row] == items[selected] else BLACK), (selected, row)
    first = S.draw_admin_menu(_fb(), items, 0, values)
    assert first[1:3] == ["UID", "900123456"] and "1098765432" in first and HINT_MENU in first
    assert "SALIR" in S.draw_admin_menu(_fb(), items, len(items) - 1, values)


def test_admin_edit_field_shows_the_item_and_the_typed_value():
    shown = S.draw_admin_menu(_fb(), ITEMS, 2, (), "202603", "FECHA: dia 01-31")
    assert shown[-3:] == ["FECHA:", "202603", "FECHA: dia 01-31"]
    assert S.draw_admin_menu(_fb(), ITEMS, 0, (), "")[-1] == HINT_EDIT
    assert raises_value_error(S.draw_admin_menu, _fb(), ITEMS, len(ITEMS))


def test_prompt_shows_title_prompt_and_entry():
    shown = S.draw_prompt(_fb(), "CLAVE", "Digite la clave de administrador", "****")
    assert shown == ["CLAVE", "Digite la clave de administrador", "****", HINT_EDIT]


def test_alarms_name_the_problem_and_the_way_out():
    fb = _fb()
    shown = S.draw_alarm(fb, S.LOW_CREDIT, credit_wh=1250)
    assert "CREDITO BAJO" in shown and "Quedan 1.25 kWh" in shown
    assert fb.pixel(0, 0) == AMBER
    fb = _fb()
    shown = S.draw_alarm(fb, S.CREDIT_OUT)
    assert "SIN CREDITO" in shown and "Servicio cortado" in shown
    assert fb.pixel(0, 0) == RED
    shown = S.draw_alarm(_fb(), S.BATTERY_LOW, battery_mv=21850, restore_mv=24800)
    assert "BATERIA BAJA" in shown and "Bateria 21.8 V" in shown and "Vuelve al cargar a 24.8 V" in shown
    assert raises_value_error(S.draw_alarm, _fb(), "FIRE")


def test_every_line_fits_the_screen():
    for shown in (_main(_fb(), alarm=S.ALARM_LINES[S.BATTERY_LOW]), S.draw_alarm(_fb(), S.BATTERY_LOW, 0, 21000),
                  S.draw_token_rejected(_fb(), "Credit would overflow the register of this meter")):
        for line in shown:
            assert len(line) <= S.WIDTH // 8, line


def test_large_text_is_the_small_glyph_scaled_up():
    fb = _fb()
    fb.text("8", 0, 0, WHITE)
    S._big(fb, "8", 16, 0, WHITE, BLACK, 3)
    for y in range(24):
        for x in range(24):
            assert fb.pixel(16 + x, y) == fb.pixel(x // 3, y // 3), (x, y)
    assert WHITE in _colours(fb, 16, 0, 24, 24)


def test_numbers_are_fixed_point_and_truncated():
    assert S._kwh(123456) == "123.45"
    assert S._kwh(5) == "0.00"
    assert S._kwh(1050) == "1.05"
    assert S._fixed(25460, 1000, 1) == "25.4"
    assert S._fixed(-1234, 1000, 1) == "-1.2"
    assert S._fixed(999999999, 1000, 2) == "999999.99"


# --- strip by strip ------------------------------------------------------------

SCREEN_CALLS = (
    (S.draw_main, ("Cooperativa Solar", 347, 25460, 78, 119850, 123456, True, "")),
    (S.draw_main, ("Cooperativa Solar", 0, 24100, 9, 0, 0, False, S.ALARM_LINES[S.CREDIT_OUT])),
    (S.draw_token_entry, ("1234567890123",)),
    (S.draw_token_entry, ("1234", 9, "Incompleto: faltan 5")),
    (S.draw_token_accepted, (12500, 135990)),
    (S.draw_token_rejected, ("Credit would overflow the register of this meter",)),
    (S.draw_admin_menu, (ITEMS, 3, ("900123456", "1098765432", "2026-03-01", "5.0 kWh"))),
    (S.draw_admin_menu, (ITEMS, 0, (), "90012", "UID: 10 digitos")),
    (S.draw_prompt, ("CLAVE", "Digite la clave de administrador", "****")),
    (S.draw_alarm, (S.LOW_CREDIT, 1250)),
    (S.draw_alarm, (S.BATTERY_LOW, 0, 21800)),
)


def _in_strips(draw, lines):
    """draw(fb) on strips of `lines` lines down the screen: the frame they make, and what each returned."""
    frame = bytearray(S.FB_BYTES)
    strip = Strip(S.WIDTH, lines)
    row = S.WIDTH // 2
    returned = []
    for top in range(0, S.HEIGHT, lines):
        strip.move(top)
        returned.append(draw(strip))
        n = min(lines, S.HEIGHT - top) * row  # the last strip may reach below the screen
        frame[top * row:top * row + n] = strip.buf[:n]
    return frame, returned


def test_every_screen_drawn_strip_by_strip_is_the_full_frame():
    for lines in (40, 48, 7):  # the app's strips, larger ones, and strips that do not divide 240
        for fn, args in SCREEN_CALLS:
            full = bytearray(S.FB_BYTES)
            shown = fn(_fb(full), *args)
            frame, texts = _in_strips(lambda strip: fn(strip, *args), lines)
            assert frame == full, (shown[0], lines)
            assert texts == [shown] * len(texts), (shown[0], lines)


def test_strips_clip_like_the_frame_at_every_edge():
    def shapes(fb):  # across strip boundaries, off every edge of the screen
        fb.fill(NAVY)
        fb.text("".join([chr(c) for c in range(32, 128)]), -4, 36, WHITE)
        fb.text("edge", -20, -3, MAGENTA)
        fb.text("clip", 300, 236, RED)
        fb.fill_rect(-5, 75, 12, 10, AMBER)
        fb.fill_rect(311, 30, 20, 200, LIGHT_GREY)
        fb.rect(1, 20, 7, 190, DARK_GREY)
        fb.rect(2, 38, 5, 5, DARK_GREEN, True)
        fb.hline(-3, 80, 400, GREY)
        fb.vline(319, -5, 300, CYAN)
        fb.pixel(7, 79, ORANGE)
        fb.pixel(7, 80, ORANGE)
        S._big(fb, "8A", 100, 28, YELLOW, BLUE, 3)  # crosses the line-40 boundary
        S._big(fb, "Wh", 100, 228, GREEN, BLACK, 2)  # reaches below the screen
    full = bytearray(S.FB_BYTES)
    shapes(_fb(full))
    for lines in (40, 13, 1):
        assert _in_strips(shapes, lines)[0] == full, lines


def test_a_strip_reads_back_only_its_own_lines():
    strip = Strip(S.WIDTH, 40)
    strip.move(80)
    strip.fill(BLACK)
    strip.pixel(5, 80, RED)
    strip.fill_rect(0, 119, 2, 5, GREEN)
    assert strip.pixel(5, 80) == RED and strip.buf[2] == RED  # screen line 80 is the strip's first
    assert strip.pixel(1, 119) == GREEN and strip.buf[39 * 160] == GREEN * 0x11
    assert strip.pixel(5, 79) is None and strip.pixel(0, 120) is None
    assert raises_value_error(Strip, 321, 40) and raises_value_error(Strip, 320, 0)


def test_drawing_into_a_strip_allocates_nothing():
    strip = Strip(S.WIDTH, 40)
    text = "12.50"
    without_allocation(lambda: _draw_on_a_strip(strip, text))
    assert strip.pixel(0, 40) == BLACK and strip.pixel(0, 55) == NAVY
    assert GREEN in _colours(strip, 8, 46, 32, 32) and WHITE in _colours(strip, 120, 40, 40, 8)


def _draw_on_a_strip(strip, text):
    strip.move(40)
    strip.fill(BLACK)
    strip.fill_rect(0, 50, S.WIDTH, 10, NAVY)
    strip.rect(4, 30, 50, 20, AMBER)
    strip.hline(0, 79, S.WIDTH, GREY)
    strip.vline(2, 0, S.HEIGHT, GREY)
    strip.text(text, 120, 36, WHITE)
    S._big(strip, text, 8, 46, GREEN, BLACK, 4)


# --- the app's refresh -----------------------------------------------------------

class FrameDisplay:
    """A display that keeps what it is sent: each strip copied into its lines of one frame."""

    def __init__(self):
        self.frame = bytearray(S.FB_BYTES)
        self.bands = []

    def show(self, fb_bytes, palette, y0, y1):
        row = S.WIDTH // 2
        self.frame[y0 * row:y1 * row] = fb_bytes
        self.bands.append((y0, y1))


def ui_round(meter, display, between=None):
    """One round of the app's ui task with the board's strip; between() runs where it yields
    between strips. Returns the text of each meter.render call."""
    import asyncio

    from app import App, frame_buffer

    strip, data = frame_buffer()
    meter.hal.display = display
    texts = []
    draw = meter.render

    def render(fb, now_ms):
        texts.append(draw(fb, now_ms))
        return texts[-1]

    async def sleep_ms(ms):
        if ms:
            app.running = False  # the round's closing sleep: one round is enough
        elif between is not None:
            between()

    meter.render = render
    app = App(meter.hal, meter, strip, data, sleep_ms)
    asyncio.run(app.ui_task())
    meter.render = draw
    return texts


def booted_meter():
    from tests.firmware.fakeflash import FakeFlash
    from tests.firmware.test_meter import _meter

    return _meter(FakeFlash())


def test_the_app_sends_the_frame_strip_by_strip_from_a_small_buffer():
    from app import STRIP_LINES, frame_buffer

    strip, data = frame_buffer()
    assert len(data) == S.WIDTH * STRIP_LINES // 2 < S.FB_BYTES // 5 and strip.buf is data
    meter = booted_meter()
    display = FrameDisplay()
    texts = ui_round(meter, display)
    assert display.bands == [(y, y + STRIP_LINES) for y in range(0, S.HEIGHT, STRIP_LINES)]
    assert len(texts) == len(display.bands) and texts == [texts[0]] * len(texts)
    assert not meter.dirty  # one state throughout: nothing to redraw
    full = bytearray(S.FB_BYTES)
    assert meter.render(_fb(full), 0) == texts[0] and "SIN CREDITO" in texts[0]  # no credit yet
    assert display.frame == full


def test_a_change_during_the_refresh_draws_the_screen_again():
    meter = booted_meter()
    display = FrameDisplay()
    clock = meter.hal.clock
    sent = []

    def key_after_the_second_strip():
        sent.append(len(display.bands))
        if len(sent) == 2:
            meter.key("*", clock.now_s(), clock.ticks_ms())  # token entry from now on

    texts = ui_round(meter, display, key_after_the_second_strip)
    assert texts[1] != texts[2] and HINT_TOKEN in texts[-1]
    assert meter.dirty and meter.needs_redraw(clock.ticks_ms())  # the panel shows two screens
    texts = ui_round(meter, display)
    assert texts == [texts[0]] * len(texts) and HINT_TOKEN in texts[0] and not meter.dirty
    full = bytearray(S.FB_BYTES)
    meter.render(_fb(full), 0)
    assert display.frame == full
