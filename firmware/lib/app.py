"""The firmware on asyncio: tasks that feed the meter core, a supervisor that feeds the watchdog.

measure: bursts of v/i samples, a reading each second; keypad: scan and timeouts;
ui: redraw on events and every 30 minutes, drawn and sent strip by strip (no board
holds a whole frame), yielding between strips; optical: the IEC 62056-21 / DLMS port
on the UART, polled with the keypad's period; push: the meter's DLMS push notifications, on a
board that can send them; supervisor: feed the watchdog only while every task shows a recent
heartbeat, so a hung task ends in a watchdog reset instead of a meter that looks alive and
meters nothing.
No exception ends the app: a task that raises is logged (event TASK_FAILED with the task
and the kind of error) and started again; metering and the ledger go on in their own
task. Should the measure task itself fail, the relay opens at once (no supply that is not
metered) and the screen says so, until a reading goes through again; a measure task that
keeps failing stops its heartbeat, and the watchdog restarts the board.
`sleep_ms` is asyncio's on a board and the virtual clock's in the soak test.
"""

import asyncio
import gc
from asyncio import gather  # loads asyncio's lazy submodule at start-up, not into a fragmented heap

from protocol import events

from hal import release
import screens
from strip import Strip
from ticks import ticks_diff

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

STRIP_LINES = 10     # divides the 240 lines: 24 strips of 320x10 at 4 bits, 1 600 B
HEARTBEAT_MS = 5000  # a task silent for longer is hung
RESTART_MS = 1000    # a failed task starts again after this
_PUSH_MS = const(1000)  # how often the push task looks for notifications to send
CONFIRM_READINGS = const(60)  # firmware on trial: a minute of readings without a task failing confirms it
TRIAL_MS = const(600000)      # ... within ten minutes, or the board restarts (bootslot counts the boot)
_RESTART_GRACE_MS = const(2000)  # a requested restart waits this long: the reply that caused it leaves first
# The tasks and the kinds of error a TASK_FAILED event names (protocol/event_names.TASKS, FAULTS)
_TASK_MEASURE = const(1)
_TASK_KEYPAD = const(2)
_TASK_UI = const(3)
_TASK_OPTICAL = const(4)
_FAULT_MEMORY = const(1)
_FAULT_VALUE = const(2)
_FAULT_OS = const(3)
_FAULT_OTHER = const(9)
_ADMIN_CONFIRMED = const(14)    # ADMIN events (event_names.ADMIN_CHANGES): firmware on trial confirmed (b: version)
_ADMIN_ROLLED_BACK = const(15)  # ... a trial given up, the previous firmware back (b: boots it took)


class App:
    def __init__(self, hal, meter, fb, fb_bytes, sleep_ms=None, bursts_per_reading: int = 30,
                 burst_gap_ms: int = 33, scan_ms: int = 20, ui_ms: int = 100, heartbeat_ms: int = HEARTBEAT_MS,
                 optical_port=None, confirm=None):
        self.hal = hal
        self.meter = meter
        # optical_port.OpticalPort on hal.optical, or a function making one when a probe first speaks
        # (app.optical_port: its code stays out of the heap until then), or None
        self.optical_port = optical_port
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
        self._fails = [0] * 5         # tasks that raised, per task (_TASK_*), since start-up
        self.running = True
        self.confirm = confirm        # firmware on trial (bootslot.py): confirm() once it runs healthy; else None
        self.readings = 0
        self._started_ms = now
        self._restart_ms = -1         # when a requested restart was first seen; -1: not yet

    async def measure_task(self):
        hal, meter = self.hal, self.meter
        while self.running:
            try:
                for _ in range(self.bursts_per_reading):
                    meter.measure()
                    await self.sleep_ms(self.burst_gap_ms)
                meter.second(hal.clock.now_s(), hal.clock.ticks_ms())
                self.beats[0] = hal.clock.ticks_ms()
                self.readings += 1
            except Exception as e:  # noqa: BLE001 - whatever it was, the meter must go on
                await self.recover(_TASK_MEASURE, e)

    async def keypad_task(self):
        hal, meter = self.hal, self.meter
        while self.running:
            try:
                k = hal.keypad.scan()
                now_ms = hal.clock.ticks_ms()
                if k is not None:
                    meter.key(k, hal.clock.now_s(), now_ms)
                meter.tick(now_ms)
                self.beats[1] = now_ms
                await self.sleep_ms(self.scan_ms)
            except Exception as e:  # noqa: BLE001
                await self.recover(_TASK_KEYPAD, e)

    async def ui_task(self):
        # The screen is drawn once per strip (self.fb is a strip.Strip, self.fb_bytes its
        # buffer) and each strip is sent as soon as it is drawn; other tasks run between
        # strips. Should the meter change meanwhile (dirty again, or other text drawn),
        # the strips on the panel may show two states: the next round redraws them all.
        hal, meter, strip = self.hal, self.meter, self.fb
        lines = strip.lines
        while self.running:
            try:
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
            except Exception as e:  # noqa: BLE001
                await self.recover(_TASK_UI, e)

    async def optical_task(self):
        hal = self.hal
        while self.running:
            try:
                data = hal.optical.read()
                now_ms = hal.clock.ticks_ms()
                port = self.optical_port
                if data:
                    if callable(port):
                        port = self.optical_port = port()
                    reply = port.feed(data, now_ms)
                    if reply:
                        hal.optical.write(reply)
                if not callable(port):
                    port.poll(now_ms)
                await self.sleep_ms(self.scan_ms)
            except Exception as e:  # noqa: BLE001
                await self.recover(_TASK_OPTICAL, e)

    async def push_task(self):
        # The meter's push notifications (notifier.py), on a board that can send them. deliver() never
        # raises (a network that fails costs tries, never the task); no heartbeat: a slow head-end must
        # not restart the board.
        # Nor may anything else end it (and the app with it, through gather): out of memory before deliver()
        # even starts, say, and the notification waits for the next round.
        hal, meter = self.hal, self.meter
        while self.running:
            try:
                notifier = meter.log.listener  # notifier.Notifier while the meter pushes
                if notifier is not None:
                    await notifier.deliver(hal.push, hal.clock.ticks_ms)
            except Exception:  # noqa: BLE001 - a push is never worth the meter
                pass
            await self.sleep_ms(_PUSH_MS)

    async def recover(self, task: int, error) -> None:
        """A task raised: make the meter safe, log why, and let the task go on after a pause.

        A keypad, screen or port that keeps failing keeps its heartbeat (the meter still meters:
        no reason to restart the board); a measure task that keeps failing does not, so the
        watchdog restarts the board. Nothing here may raise: out of memory again, or a flash
        that is itself what failed, still leaves the relay open when metering stopped."""
        self._fails[task] += 1
        count = self._fails[task]
        meter = self.meter
        try:
            now_s = self.hal.clock.now_s()
            if task == _TASK_MEASURE:
                meter.metering_failed(now_s)
            elif task == _TASK_OPTICAL and self.optical_port is not None and not callable(self.optical_port):
                self.optical_port.reset()
            meter.dirty = True
            if count & (count - 1) == 0:  # logged at the 1st, 2nd, 4th, 8th...: no flash worn out
                fault = _FAULT_MEMORY if isinstance(error, MemoryError) else _FAULT_VALUE if isinstance(
                    error, ValueError) else _FAULT_OS if isinstance(error, OSError) else _FAULT_OTHER
                meter.log.append(now_s, events.TASK_FAILED, task, fault)
        except Exception:  # noqa: BLE001
            if task == _TASK_MEASURE:
                self.hal.relay(False)
        if task == _TASK_KEYPAD or task == _TASK_UI:  # beats[1], beats[2]
            self.beats[task - 1] = self.hal.clock.ticks_ms()
        await self.sleep_ms(RESTART_MS)

    @property
    def failures(self) -> int:
        """Tasks that raised, since start-up."""
        return sum(self._fails)

    def healthy(self, now_ms: int) -> bool:
        for beat in self.beats:
            if ticks_diff(now_ms, beat) > self.heartbeat_ms:
                return False
        return True

    async def supervisor_task(self):
        hal = self.hal
        while self.running:
            now = hal.clock.ticks_ms()
            if self.healthy(now) and not self.restart_due(now):
                hal.wdt.feed()
            await self.sleep_ms(1000)

    def restart_due(self, now_ms: int) -> bool:
        """A restart asked for (a firmware activation) or a trial that did not confirm itself in time: restart
        the board, or stop feeding the watchdog where the board cannot (it then restarts it)."""
        if self.confirm is not None:
            if self.readings >= CONFIRM_READINGS and not self.failures:
                try:
                    self.confirm()
                    self.confirm = None
                except Exception:  # noqa: BLE001 - the flash said no: again next second, until the deadline
                    pass
            elif ticks_diff(now_ms, self._started_ms) > TRIAL_MS:
                self.hal.request_restart()
        if not self.hal.restart_requested:
            return False
        if self._restart_ms < 0:
            self._restart_ms = now_ms
        if ticks_diff(now_ms, self._restart_ms) < _RESTART_GRACE_MS:
            return False
        if self.hal.restart is not None:
            self.hal.restart()
        return True

    async def main(self):
        tasks = [self.measure_task(), self.keypad_task(), self.ui_task(), self.supervisor_task()]
        if self.optical_port is not None:
            tasks.append(self.optical_task())
        if self.hal.push is not None:
            tasks.append(self.push_task())
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
    try:
        profile, code_lengths, credentials, settings = provision.load(hal.storage_root)
    except ValueError as e:
        provision.halt(hal, fb, data, str(e))
        return
    meter = Meter(hal, profile, code_lengths, provisioned=credentials, settings=settings)
    meter.boot(hal.clock.now_s(), hal.clock.ticks_ms())
    confirm = firmware_trial(hal.storage_root, meter, hal.clock.now_s)
    gc.collect()
    asyncio.run(App(hal, meter, fb, data, optical_port=optical_port(hal, meter), confirm=confirm).main())


def firmware_trial(root: str, meter, now_s):
    """Log a trial that boot.py gave up (the previous firmware runs again); if this firmware is on trial,
    the function that confirms it (App calls it once it runs healthy), else None."""
    import bootslot

    root = root.rstrip("/") + "/"
    gone = bootslot.take_rollback(root)
    if gone is not None:
        meter.log.append(now_s(), events.ADMIN, _ADMIN_ROLLED_BACK, gone[1])
    if bootslot.trial(root) is None:
        release(("bootslot",))  # boot.py let it go too: a transfer imports it again
        return None

    def confirm():
        bootslot.confirm(root)
        major, minor, _ = bootslot.version(root)
        meter.log.append(now_s(), events.ADMIN, _ADMIN_CONFIRMED, (major << 8) | minor)
    return confirm


def optical_port(hal, meter):
    """What makes the optical port over the meter when a probe first speaks (App calls it then): the
    mode C readout from the meter's snapshot, its DLMS server (the COSEM model, the meter's own secrets
    from credentials.py and its association lock-out) made when a probe first asks for mode E, so an
    idle port holds none of it in the heap."""
    if hal.optical is None:
        return None
    clock = hal.clock

    def open_server():
        from cosem_meter import CosemMeter
        from protocol.cosem_objects import hdlc_setup
        from protocol.cosem_server import CosemServer, meter_keys

        model = CosemMeter(meter, lambda: (clock.now_s(), clock.ticks_ms()))
        # 9600 Bd: the optical UART's speed (drivers/board_kit.py); mode E keeps it
        return CosemServer(model, model, meter_keys(meter.dlms_access().credentials, meter.settings.get("serial")),
                           setups=(hdlc_setup(9600),), guard=model)
    def make():
        from optical_port import OpticalPort

        # The meter's type, not the entity's name: IEC 62056-21 allows 16 printable ASCII characters
        return OpticalPort("OPSM-SP-230", meter, open_server)
    return make
