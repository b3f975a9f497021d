"""The firmware on asyncio: tasks that feed the meter core, a supervisor that feeds the watchdog.

measure: bursts of v/i samples, a reading each second; keypad: scan and timeouts;
ui: redraw on events and every 30 minutes, drawn and sent strip by strip (no board
holds a whole frame), yielding between strips; optical: the IEC 62056-21 / DLMS port
on the UART, polled with the keypad's period; supervisor: feed the watchdog only
while every task shows a recent heartbeat, so a hung task ends in a watchdog reset
instead of a meter that looks alive and meters nothing.
`sleep_ms` is asyncio's on a board and the virtual clock's in the soak test.
"""

import asyncio
import gc
from asyncio import gather  # loads asyncio's lazy submodule at start-up, not into a fragmented heap

import screens
from strip import Strip
from ticks import ticks_diff

STRIP_LINES = 10     # divides the 240 lines: 24 strips of 320x10 at 4 bits, 1 600 B
HEARTBEAT_MS = 5000  # a task silent for longer is hung


class App:
    def __init__(self, hal, meter, fb, fb_bytes, sleep_ms=None, bursts_per_reading: int = 30,
                 burst_gap_ms: int = 33, scan_ms: int = 20, ui_ms: int = 100, heartbeat_ms: int = HEARTBEAT_MS,
                 optical_port=None):
        self.hal = hal
        self.meter = meter
        self.optical_port = optical_port  # optical_port.OpticalPort on hal.optical, or None
        self.fb = fb
        self.fb_bytes = fb_bytes
        self.sleep_ms = sleep_ms or asyncio.sleep_ms  # type: ignore[attr-defined]
        self.bursts_per_reading = bursts_per_reading
        self.burst_gap_ms = burst_gap_ms
        self.scan_ms = scan_ms
        self.ui_ms = ui_ms
        self.heartbeat_ms = heartbeat_ms
        now = hal.clock.ticks_ms()
        self.beats = [now, now, now]  # measure, keypad, ui
        self.running = True

    async def measure_task(self):
        hal, meter = self.hal, self.meter
        while self.running:
            for _ in range(self.bursts_per_reading):
                meter.measure()
                await self.sleep_ms(self.burst_gap_ms)
            meter.second(hal.clock.now_s(), hal.clock.ticks_ms())
            self.beats[0] = hal.clock.ticks_ms()

    async def keypad_task(self):
        hal, meter = self.hal, self.meter
        while self.running:
            k = hal.keypad.scan()
            now_ms = hal.clock.ticks_ms()
            if k is not None:
                meter.key(k, hal.clock.now_s(), now_ms)
            meter.tick(now_ms)
            self.beats[1] = now_ms
            await self.sleep_ms(self.scan_ms)

    async def ui_task(self):
        # The screen is drawn once per strip (self.fb is a strip.Strip, self.fb_bytes its
        # buffer) and each strip is sent as soon as it is drawn; other tasks run between
        # strips. Should the meter change meanwhile (dirty again, or other text drawn),
        # the strips on the panel may show two states: the next round redraws them all.
        hal, meter, strip = self.hal, self.meter, self.fb
        lines = strip.lines
        while self.running:
            now_ms = hal.clock.ticks_ms()
            if meter.needs_redraw(now_ms):
                mixed = False
                shown = None
                for y in range(0, screens.HEIGHT, lines):
                    changed = meter.dirty  # since the previous strip was drawn
                    strip.move(y)
                    text = meter.render(strip, now_ms)
                    if shown is None:
                        shown = text
                    elif changed or text != shown:
                        mixed = True
                    hal.display.show(self.fb_bytes, screens.PALETTE, y, y + lines)
                    await self.sleep_ms(0)
                if mixed:
                    meter.dirty = True
            self.beats[2] = hal.clock.ticks_ms()
            await self.sleep_ms(self.ui_ms)

    async def optical_task(self):
        hal, port = self.hal, self.optical_port
        while self.running:
            data = hal.optical.read()
            now_ms = hal.clock.ticks_ms()
            if data:
                reply = port.feed(data, now_ms)
                if reply:
                    hal.optical.write(reply)
            port.poll(now_ms)
            await self.sleep_ms(self.scan_ms)

    def healthy(self, now_ms: int) -> bool:
        for beat in self.beats:
            if ticks_diff(now_ms, beat) > self.heartbeat_ms:
                return False
        return True

    async def supervisor_task(self):
        hal = self.hal
        while self.running:
            if self.healthy(hal.clock.ticks_ms()):
                hal.wdt.feed()
            await self.sleep_ms(1000)

    async def main(self):
        tasks = [self.measure_task(), self.keypad_task(), self.ui_task(), self.supervisor_task()]
        if self.optical_port is not None:
            tasks.append(self.optical_task())
        await gather(*tasks)


def frame_buffer():
    """What the screens are drawn into: a strip.Strip of STRIP_LINES lines and its
    bytes (1 600 B, not a 38 400 B frame); allocate it first, while the heap is whole."""
    gc.collect()
    strip = Strip(screens.WIDTH, STRIP_LINES)
    return strip, strip.buf


def run() -> None:
    """Entry point on a board (main.py)."""
    fb, data = frame_buffer()
    import board  # type: ignore[import-not-found]  # boards/<name>.py, installed as board.py
    import provision
    from meter import Meter

    hal = board.make_hal()
    profile, code_lengths = provision.load_profile(hal.storage_root)
    meter = Meter(hal, profile, code_lengths)
    meter.boot(hal.clock.now_s(), hal.clock.ticks_ms())
    gc.collect()
    asyncio.run(App(hal, meter, fb, data, optical_port=optical_port(hal, meter)).main())


def optical_port(hal, meter):
    """The optical port over the meter, its DLMS server (LLS password from the settings) made on demand."""
    if hal.optical is None:
        return None
    from cosem_meter import CosemMeter
    from optical_port import OpticalPort

    clock = hal.clock
    model = CosemMeter(meter, lambda: (clock.now_s(), clock.ticks_ms()))

    def open_server():
        from protocol.cosem_objects import hdlc_setup
        from protocol.cosem_server import CosemServer

        # 9600 Bd: the optical UART's speed (drivers/board_kit.py); mode E keeps it
        return CosemServer(model, meter.settings.get("lls_password").encode(), setups=(hdlc_setup(9600),))
    return OpticalPort(meter.settings.get("entity"), model, open_server)
