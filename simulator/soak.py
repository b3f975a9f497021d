"""24 hours of the whole firmware on the virtual board, in virtual time (`make soak`).

Runs the real asyncio app (measure, keypad, ui, supervisor tasks) under the
MicroPython unix port with a board-sized heap: a recharge at 01:00, a 2 kW load
that exhausts the credit in the afternoon (the relay cuts), a second recharge at
20:00 (the relay restores). Prints peak_heap_bytes=N (live heap after a collection,
sampled every virtual minute); exits 1 if anything is off.

    MICROPYPATH=/rom:.frozen micropython soak.py STATE_DIR ROMFS_IMAGE
The code runs from the image as a board runs it from its ROMFS partition (/rom on the
path, as a board's): the image stands for flash, so its bytes are not counted in
peak_heap_bytes. Without an image, MICROPYPATH gives the board's path (simulator/unix_port.py).
"""

import gc
import sys

ROM_BYTES = 0
if len(sys.argv) > 2:
    import vfs

    with open(sys.argv[2], "rb") as _f:
        _IMAGE = _f.read()
    vfs.mount(vfs.VfsRom(_IMAGE), "/rom")
    gc.collect()
    ROM_BYTES = gc.mem_alloc()  # the image and what mounting it took

from app import frame_buffer  # noqa: E402

FRAME = frame_buffer()  # the screen strip, first, while the heap is whole, as app.run() does on a board

import asyncio  # noqa: E402

from app import App  # noqa: E402
from protocol import sts_decoder as sts  # noqa: E402

from boards import sim  # noqa: E402
from meter import Meter  # noqa: E402
from token_profiles import StsProfile  # noqa: E402

KEY = bytes.fromhex("f94b6ed353c3bfdb113e2d3a7ea3c41d")  # published test vector key (base 1993)
CODE_25_6_KWH = "63638916334124550935"
CODE_1638_4_KWH = "45798100519745983712"
HOUR_MS = 3600000


class Soak:
    def __init__(self, root):
        self.fb, self.fb_bytes = FRAME
        self.clock = sim.SimClock()
        self.hal = sim.make_hal(root, self.clock)
        self.meter = Meter(self.hal, StsProfile(sts.StsState(KEY, ea=11, base_year=1993)))
        self.meter.boot(self.clock.now_s(), self.clock.ticks_ms())
        # Simulator cadence: one burst a minute held for the minute, keys scanned every 0.2 s.
        self.app = App(self.hal, self.meter, self.fb, self.fb_bytes, self.clock.sleep_ms, bursts_per_reading=1,
                       burst_gap_ms=60000, scan_ms=200, ui_ms=1000, heartbeat_ms=120000)
        self.peak = 0

    async def story(self):
        hal = self.hal
        gc.collect()
        await self.clock.sleep_ms(HOUR_MS)
        hal.keypad.type("*" + CODE_25_6_KWH + "*")
        await self.clock.sleep_ms(HOUR_MS)
        hal.ac.load(2000)
        for hour in range(2, 24):
            if hour == 20:
                hal.keypad.type("*" + CODE_1638_4_KWH + "*")
            for _ in range(60):
                await self.clock.sleep_ms(60000)
                gc.collect()  # what stays alive between tasks' steps: the heap the board needs
                used = gc.mem_alloc()
                if used > self.peak:
                    self.peak = used
        self.app.running = False

    async def main(self):
        await asyncio.gather(self.app.main(), self.story())


def run(root) -> int:
    soak = Soak(root)
    asyncio.run(soak.main())
    meter, relay = soak.meter, soak.hal.relay
    events = meter.log.events()
    checks = (
        ("relay closed, opened for credit, closed again", relay.switchings[-3:] == [True, False, True]),
        ("two recharges logged", [e[2] for e in events].count(3) == 2),
        ("energy ~ 2 kW x 22 h minus the cut", 20000 < meter.energy.import_wh < 40000),
        ("watchdog fed", soak.hal.wdt.feeds > 80000),
        ("screen drawn", soak.hal.display.frames > 10),
    )
    failed = [name for name, ok in checks if not ok]
    print("virtual_hours=24 energy_wh=%d credit_wh=%d relay_switchings=%d events=%d frames=%d wdt_feeds=%d"
          % (meter.energy.import_wh, meter.available_wh(), len(relay.switchings), len(events),
             soak.hal.display.frames, soak.hal.wdt.feeds))
    print("peak_heap_bytes=%d" % (soak.peak - ROM_BYTES))
    for name in failed:
        print("FAILED:", name)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(run(sys.argv[1] if len(sys.argv) > 1 else "/tmp/opsm-soak"))
