"""Screenshots of every screen: golden hashes, the real framebuf agrees, the driver sends the frame.

The golden file holds the SHA-256 of each screen's GS4_HMSB frame buffer (and the palette),
so any change to a screen's pixels shows up here. The board never holds that frame: it draws
and sends the screen strip by strip (strip.Strip); the strips, put together, must hash the
same, under MicroPython's framebuf and under the stand-in. After an intended change, regenerate:
    .venv/bin/python -m tests.host.test_screenshots --write
and look at the PNGs it writes (to a temporary folder it names, or --out DIR).
"""

import hashlib
import json
import pathlib
import subprocess
import sys
import tempfile

import pytest
from PIL import Image

if __name__ == "__main__":  # run as a script (--write): the board's path pyproject's pythonpath gives pytest
    sys.path[1:1] = ["firmware/lib", "firmware/drivers"]

from opsm.simulator import unix_port  # noqa: E402
from opsm.simulator.screenshot import decode_spi_capture, palette_pixels, rgb565_to_rgb, save_png  # noqa: E402
from tests.firmware.test_ili9341 import FakeBus  # noqa: E402
from tests.firmware.test_screens import booted_meter, ui_round  # noqa: E402

import admin_menu  # noqa: E402
import screens  # noqa: E402
from app import STRIP_LINES  # noqa: E402
from framebuf_host import GS4_HMSB, FrameBuffer  # noqa: E402
from ili9341 import ILI9341  # noqa: E402
from strip import Strip  # noqa: E402

GOLDEN = pathlib.Path(__file__).with_name("screens_golden.json")
ENTITY = "Cooperativa Solar del Cauca"
MENU_ITEMS = list(admin_menu.labels())
MENU_VALUES = ["900123456", "1098765432", "2026-03-01", "2027-01-01 1030", "5.0 kWh", "30.0 kWh"]

# name -> (draw function, arguments after the frame buffer): plain data, so the same
# list runs under MicroPython with the real framebuf.
SCREENS = {
    "main": ("draw_main", [ENTITY, 347, 25460, 78, 119850, 123456, True, ""]),
    "main_credit_out": ("draw_main", [ENTITY, 0, 24100, 55, 0, 0, False, "Sin credito: servicio cortado"]),
    "main_battery_low": ("draw_main", [ENTITY, 12, 21800, 8, 118200, 9870, False,
                                       "Bateria baja: servicio cortado"]),
    "token_entry": ("draw_token_entry", ["1234567890123"]),
    "token_entry_openpaygo": ("draw_token_entry", ["1234", 9, "Incompleto: faltan 5"]),
    "main_locked": ("draw_main", [ENTITY, 347, 25460, 78, 119850, 123456, True, "", "Bloqueado: espere 240 s"]),
    "token_accepted": ("draw_token_accepted", [12500, 135990]),
    "token_accepted_repaid": ("draw_token_accepted", [25600, 20600, 5000]),
    "token_rejected": ("draw_token_rejected", ["Codigo no es de este medidor", "Revise el codigo e intente otra vez"]),
    "token_rejected_used": ("draw_token_rejected", ["Codigo ya usado", "Pida un codigo nuevo a su vendedor"]),
    "admin_menu": ("draw_admin_menu", [MENU_ITEMS, 4, MENU_VALUES]),
    "admin_menu_end": ("draw_admin_menu", [MENU_ITEMS, 9, MENU_VALUES]),
    "admin_edit": ("draw_admin_menu", [MENU_ITEMS, 0, MENU_VALUES, "90012", "UID: 10 digitos"]),
    "admin_password": ("draw_prompt", ["CLAVE", "Digite la clave de administrador", "****"]),
    "admin_login": ("draw_prompt", ["Clave de administrador", "# OK  * cancelar", "**"]),
    "alarm_low_credit": ("draw_alarm", ["LOW_CREDIT", 1250, 0]),
    "alarm_credit_out": ("draw_alarm", ["CREDIT_OUT", 0, 0]),
    "alarm_battery_low": ("draw_alarm", ["BATTERY_LOW", 0, 21800, "", 24800]),
    "alarm_meter_fault": ("draw_alarm", ["METER_FAULT", 0, 24100]),
}

# Raw framebuf calls that stress the font and clipping beyond what the screens do.
RAW = [
    ("text", ["".join(chr(c) for c in range(32, 128)), -4, 0, 1]),
    ("text", ["\x01\x1f\x80 clip", 300, 236, 7]),
    ("text", ["edge", -20, -3, 15]),
    ("fill_rect", [-5, 10, 12, 3, 9]),
    ("fill_rect", [311, 100, 20, 5, 3]),
    ("rect", [1, 20, 7, 9, 4]),
    ("rect", [2, 40, 5, 5, 6, True]),
    ("hline", [-3, 60, 400, 2]),
    ("vline", [319, -5, 300, 11]),
    ("pixel", [7, 70, 13]),
]

_MP_SCRIPT = """
import sys, json, hashlib, binascii, framebuf
import screens
from strip import Strip
LINES = %d

def draw(fb, calls):
    shown = None
    for target, args in calls:
        if target.startswith("screens."):
            shown = getattr(screens, target[8:])(fb, *args)
        else:
            getattr(fb, target)(*args)
    return shown

def digest(buf):
    return binascii.hexlify(hashlib.sha256(buf).digest()).decode()

jobs = json.loads(sys.stdin.read())
for name, calls in jobs:
    buf = bytearray(screens.FB_BYTES)
    shown = draw(framebuf.FrameBuffer(buf, screens.WIDTH, screens.HEIGHT, framebuf.GS4_HMSB), calls)
    strip = Strip(screens.WIDTH, LINES)
    assembled = bytearray(screens.FB_BYTES)
    for top in range(0, screens.HEIGHT, LINES):
        strip.move(top)
        strip.fill(0)  # black, as a new frame is: the raw calls do not paint every pixel
        draw(strip, calls)
        assembled[top * screens.WIDTH // 2:(top + LINES) * screens.WIDTH // 2] = strip.buf
    print(json.dumps([name, digest(buf), shown, digest(assembled)]))
""" % STRIP_LINES


def _jobs():
    jobs = [(name, [("screens." + fn, args)]) for name, (fn, args) in SCREENS.items()]
    jobs.append(("raw_calls", RAW))
    return jobs


def _draw(fb, calls):
    shown = None
    for target, args in calls:
        if target.startswith("screens."):
            shown = getattr(screens, target[len("screens."):])(fb, *args)
        else:
            getattr(fb, target)(*args)
    return shown


def _render(calls):
    """The whole frame the calls draw (the stand-in FrameBuffer), and the last screen's text."""
    buf = bytearray(screens.FB_BYTES)
    return buf, _draw(FrameBuffer(buf, screens.WIDTH, screens.HEIGHT, GS4_HMSB), calls)


def _render_in_strips(calls, lines=STRIP_LINES):
    """The same frame put together from strips of `lines` lines, each drawn on its own, as on a board."""
    buf = bytearray(screens.FB_BYTES)
    strip = Strip(screens.WIDTH, lines)
    row = screens.WIDTH // 2
    for top in range(0, screens.HEIGHT, lines):
        strip.move(top)
        strip.fill(0)  # black, as a new frame is: the raw calls do not paint every pixel
        _draw(strip, calls)
        buf[top * row:(top + lines) * row] = strip.buf[:(screens.HEIGHT - top) * row]
    return buf


def _digest(buf) -> str:
    return hashlib.sha256(bytes(buf)).hexdigest()


def _golden_doc() -> dict:
    return {
        "about": "SHA-256 of each screen's GS4_HMSB frame buffer (320x240, 38400 bytes); "
                 "regenerate: .venv/bin/python -m tests.host.test_screenshots --write",
        "palette": ["0x%04x" % c for c in screens.PALETTE],
        "screens": {name: _digest(_render([("screens." + fn, args)])[0]) for name, (fn, args) in SCREENS.items()},
    }


@pytest.fixture(scope="module")
def micropython_renders() -> dict:
    """Every job rendered by the real framebuf on the MicroPython unix port."""
    proc = subprocess.run(unix_port.micropython_command() + ["-X", "heapsize=256K", "-c", _MP_SCRIPT],
                          input=json.dumps(_jobs()), capture_output=True, text=True, env=unix_port.micropython_env(),
                          timeout=120)
    assert proc.returncode == 0, proc.stderr
    rows = [json.loads(line) for line in proc.stdout.splitlines()]
    return {name: (digest, shown, in_strips) for name, digest, shown, in_strips in rows}


def test_golden_hashes_match_every_screen():
    golden = json.loads(GOLDEN.read_text())
    now = _golden_doc()
    assert now["palette"] == golden["palette"]
    assert sorted(golden["screens"]) == sorted(SCREENS)
    changed = [name for name in SCREENS if now["screens"][name] != golden["screens"][name]]
    assert not changed, "screens changed (regenerate if intended, see the module docstring): %s" % changed


def test_golden_hashes_hold_when_the_screens_are_drawn_strip_by_strip():
    golden = json.loads(GOLDEN.read_text())["screens"]
    for lines in (STRIP_LINES, 48, 11):  # the board's strips, and others (11 does not divide 240)
        changed = [name for name, (fn, args) in SCREENS.items()
                   if _digest(_render_in_strips([("screens." + fn, args)], lines)) != golden[name]]
        assert not changed, (lines, changed)


@pytest.mark.parametrize("name", [name for name, _ in _jobs()])
def test_stand_in_draws_what_the_real_framebuf_draws(name, micropython_renders):
    calls = dict(_jobs())[name]
    buf, shown = _render(calls)
    digest = _digest(buf)
    assert micropython_renders[name] == (digest, shown, digest)  # strip by strip too
    assert _digest(_render_in_strips(calls)) == digest


def test_png_holds_the_palette_colours_of_the_frame(tmp_path):
    fn, args = SCREENS["main"]
    buf, _ = _render([("screens." + fn, args)])
    path = tmp_path / "main.png"
    save_png(buf, screens.PALETTE, path)
    image = Image.open(path)
    assert image.size == (320, 240) and image.mode == "RGB"
    expected = bytearray()
    for colour in palette_pixels(buf, screens.PALETTE):
        expected += bytes(rgb565_to_rgb(colour))
    assert image.tobytes() == bytes(expected)
    assert rgb565_to_rgb(0xFFFF) == (255, 255, 255) and rgb565_to_rgb(0xF800) == (255, 0, 0)


def test_driver_sends_exactly_the_frame_in_strips():
    calls = [("screens." + SCREENS["main_credit_out"][0], SCREENS["main_credit_out"][1])]
    buf, _ = _render(calls)
    bus = FakeBus(keep_writes=True)
    tft = ILI9341(bus, bus.cs, bus.dc, bus.rst, sleep_ms=bus.sleep_ms)
    strip = Strip(screens.WIDTH, STRIP_LINES)
    for y in range(0, 240, STRIP_LINES):  # each strip drawn, then sent from the strip's own buffer
        strip.move(y)
        _draw(strip, calls)
        tft.show(strip.buf, screens.PALETTE, y, y + STRIP_LINES)
    width, height, pixels = decode_spi_capture(bus.writes)
    assert (width, height) == (320, 240)
    assert pixels == palette_pixels(buf, screens.PALETTE)


def test_the_apps_refresh_on_the_panel_decodes_to_the_full_frame():
    meter = booted_meter()
    clock = meter.hal.clock
    for k in "*1234567890123":  # token entry: large digits across the strips' edges
        meter.key(k, clock.now_s(), clock.ticks_ms())
    bus = FakeBus(keep_writes=True)
    texts = ui_round(meter, ILI9341(bus, bus.cs, bus.dc, bus.rst, sleep_ms=bus.sleep_ms))
    assert len(texts) == 240 // STRIP_LINES and texts == [texts[0]] * len(texts) and "12345 67890" in texts[0]
    assert [c.size for c in bus.commands if c.code == 0x2C] == [320 * STRIP_LINES * 2] * (240 // STRIP_LINES)
    buf = bytearray(screens.FB_BYTES)
    assert meter.render(FrameBuffer(buf, screens.WIDTH, screens.HEIGHT, GS4_HMSB), 0) == texts[0]
    assert decode_spi_capture(bus.writes)[2] == palette_pixels(buf, screens.PALETTE)


def test_a_strip_changes_only_its_band():
    fn, args = SCREENS["alarm_credit_out"]
    buf, _ = _render([("screens." + fn, args)])
    bus = FakeBus(keep_writes=True)
    tft = ILI9341(bus, bus.cs, bus.dc, bus.rst, sleep_ms=bus.sleep_ms)
    tft.show(buf, screens.PALETTE, 80, 120)
    _, _, pixels = decode_spi_capture(bus.writes)
    frame = palette_pixels(buf, screens.PALETTE)
    assert pixels[80 * 320:120 * 320] == frame[80 * 320:120 * 320]
    assert set(pixels[:80 * 320] + pixels[120 * 320:]) == {0}
    assert set(frame[120 * 320:]) != {0}


def test_decoder_refuses_a_capture_that_does_not_fit_the_panel():
    with pytest.raises(ValueError):
        decode_spi_capture([(0, b"\x2b"), (1, b"\x00\x00\x01\x00"), (0, b"\x2c"), (1, b"\x00\x00")])
    with pytest.raises(ValueError):
        decode_spi_capture([(0, b"\x2a"), (1, b"\x00\x00\x00\x00"), (0, b"\x2b"), (1, b"\x00\x00\x00\x00"),
                            (0, b"\x2c"), (1, b"\x00\x00\x00\x00")])


def main(argv) -> int:
    """--write: store the golden hashes; writes every screen's PNG (--out DIR, or a temp folder)."""
    out = pathlib.Path(argv[argv.index("--out") + 1]) if "--out" in argv else pathlib.Path(tempfile.mkdtemp())
    out.mkdir(parents=True, exist_ok=True)
    for name, (fn, args) in SCREENS.items():
        save_png(_render([("screens." + fn, args)])[0], screens.PALETTE, out / (name + ".png"))
    print("PNGs in", out)
    if "--write" in argv:
        GOLDEN.write_text(json.dumps(_golden_doc(), indent=1, sort_keys=True) + "\n")
        print("wrote", GOLDEN)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
