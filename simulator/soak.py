"""24 hours of the whole firmware on the virtual board, in virtual time (`make soak`).

Runs the real asyncio app (measure, keypad, ui, supervisor tasks) under the
MicroPython unix port with a board-sized heap: a recharge at 01:00, a 2 kW load
that exhausts the credit in the afternoon (the relay cuts), a firmware update at
03:00 (a signed image transferred block by block into the image transfer object,
verified and activated into the spare slot, between the app's tasks), a second
recharge at 20:00 (the relay restores). Prints peak_heap_bytes=N (live heap after a
collection, sampled every virtual minute and after every block); exits 1 if anything is off.

host/soak.py builds a ROMFS image of the firmware, the virtual board and this module, mounts it
at /rom (the board's path) with its BOOTSTRAP and calls run(STATE_DIR, held, FIRMWARE_IMAGE): the code
runs from the image as a board runs it from its ROMFS partition, bytecode in place, so the heap
holds data only; `held` (the image's bytes and what mounting took) is not counted in
peak_heap_bytes. STATE_DIR holds provision.json with the firmware key the update is signed under.
"""

import gc

from app import frame_buffer  # noqa: E402

FRAME = frame_buffer()  # the screen strip, first, while the heap is whole, as app.run() does on a board

import asyncio  # noqa: E402

from app import App  # noqa: E402

from boards import sim  # noqa: E402
from meter import Meter  # noqa: E402
from hal import release  # noqa: E402
from token_profiles import StsProfile  # noqa: E402

KEY = bytes.fromhex("f94b6ed353c3bfdb113e2d3a7ea3c41d")  # published test vector key (base 1993)
CODE_25_6_KWH = "63638916334124550935"
CODE_1638_4_KWH = "45798100519745983712"
HOUR_MS = 3600000


class Soak:
    def __init__(self, root, firmware=None):
        self.firmware = firmware  # the signed image of the 03:00 update, or None
        self.fb, self.fb_bytes = FRAME
        self.clock = sim.SimClock()
        self.hal = sim.make_hal(root, self.clock)
        self.meter = Meter(self.hal, self.profile())
        self.meter.boot(self.clock.now_s(), self.clock.ticks_ms())
        # Simulator cadence: one burst a minute held for the minute, keys scanned every 0.2 s.
        self.app = App(self.hal, self.meter, self.fb, self.fb_bytes, self.clock.sleep_ms, bursts_per_reading=1,
                       burst_gap_ms=60000, scan_ms=200, ui_ms=1000, heartbeat_ms=120000)
        self.peak = 0
        self.blocks = 0
        self.refused = 0  # the result codes of the update's calls, or-ed: 0 when all succeeded
        self.status = 0

    @staticmethod
    def profile():
        """The meter's token profile, as provision.py makes it (no reference to the decoder's modules kept:
        the update at 03:00 takes their room, as on a board)."""
        from protocol import sts_decoder as sts

        return StsProfile(sts.StsState(KEY, ea=11, base_year=1993))

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
            if hour == 3 and self.firmware is not None:
                await self.update(self.firmware)
            for _ in range(60):
                await self.clock.sleep_ms(60000)
                self.sample()
        self.app.running = False

    def sample(self):
        gc.collect()  # what stays alive between tasks' steps: the heap the board needs
        used = gc.mem_alloc()
        if used > self.peak:
            self.peak = used

    async def update(self, path):
        """What the meter's DLMS server does for a head-end's firmware push, minus the link: the image
        transfer object (made at first use, as cosem_meter does) takes the blocks, verifies, activates."""
        self.meter.recharger.release()
        import fw_update

        clock = self.clock
        transfer = fw_update.image_transfer(self.meter, lambda: (clock.now_s(), clock.ticks_ms()))
        with open(path, "rb") as f:
            size = f.seek(0, 2)
            f.seek(0)
            self.refused = transfer.action(1, [b"soak-update", size])
            block = transfer.block_size
            for n in range((size + block - 1) // block):
                self.refused |= transfer.action(2, [n, f.read(block)])
                self.blocks += 1
                await clock.sleep_ms(200)  # a block a fifth of a second, as an optical link at 9600 Bd
                self.sample()
        self.refused |= transfer.action(3, 0)
        self.sample()
        self.refused |= transfer.action(4, 0)
        self.sample()
        self.status = transfer.status
        # A board restarts now, into a heap without the update's code; the soak's board runs on (the day is
        # what it measures) and lets that code go as the restart would.
        self.hal.restart_requested = False
        release(fw_update.MODULES)

    async def main(self):
        await asyncio.gather(self.app.main(), self.story())


def run(root, held: int = 0, firmware=None) -> int:
    """The day; held: heap bytes in use before the firmware was imported (the mounted image), not counted."""
    soak = Soak(root, firmware)
    asyncio.run(soak.main())
    meter, relay = soak.meter, soak.hal.relay
    events = meter.log.events()
    checks = (
        ("relay closed, opened for credit, closed again", relay.switchings[-3:] == [True, False, True]),
        ("two recharges logged", [e[2] for e in events].count(3) == 2),
        ("energy ~ 2 kW x 22 h minus the cut", 20000 < meter.energy.import_wh < 40000),
        ("watchdog fed", soak.hal.wdt.feeds > 80000),
        ("screen drawn", soak.hal.display.frames > 10),
        ("firmware transferred, verified and activated", firmware is None or (
            not soak.refused and soak.blocks > 100 and soak.status == 6)),
    )
    failed = [name for name, ok in checks if not ok]
    print("virtual_hours=24 energy_wh=%d credit_wh=%d relay_switchings=%d events=%d frames=%d wdt_feeds=%d"
          % (meter.energy.import_wh, meter.available_wh(), len(relay.switchings), len(events),
             soak.hal.display.frames, soak.hal.wdt.feeds))
    if firmware is not None:
        print("firmware_blocks=%d firmware_status=%d" % (soak.blocks, soak.status))
    print("peak_heap_bytes=%d" % (soak.peak - held))
    for name in failed:
        print("FAILED:", name)
    return 1 if failed else 0

