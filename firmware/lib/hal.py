"""The hardware layer the firmware sees: everything a board provides, nothing else.

boards/<name>.py builds a Hal with real drivers (machine pins, SPI, ADC, WDT) or,
for boards/sim.py, virtual ones. The firmware logic never imports machine.
"""

import sys

RESET_POWER_ON = 1
RESET_WATCHDOG = 3  # machine.WDT_RESET on esp32 and rp2

# The analogue front end every board shares (its design target, refined per unit by the
# two-point calibration): 130 V rms (184 V peak) spans 1800 counts either side of
# mid-scale, and so does 30 A peak (2.5 kW at 120 V).
FRONT_END_V_GAIN_UV = 102100
FRONT_END_I_GAIN_UA = 16667


class Hal:
    def __init__(self, ac, battery, relay, keypad, display, wdt, storage_root: str, clock,
                 reset_cause: int = RESET_POWER_ON, calibration=None, keymap: str = "123A456B789C*0#D",
                 opener=open, shadow=None, battery_divider_milli: int = 16000, adc_ref_mv: int = 3100,
                 optical=None, push=None, restart=None):
        self.ac = ac                  # .burst(vbuf, ibuf, n, period_us): raw 12-bit v and i samples
        self.battery = battery        # .read() -> raw 12-bit count of the battery divider
        self.relay = relay            # relay(closed: bool)
        self.keypad = keypad          # .scan() -> key character on a press, else None
        self.display = display        # .show(fb_bytes, palette, y0, y1)
        self.wdt = wdt                # .feed()
        self.storage_root = storage_root
        self.clock = clock            # .now_s(): seconds since 2000-01-01 UTC; .set_s(now_s); .ticks_ms()
        self.reset_cause = reset_cause
        self.calibration = calibration  # the board's default calibration record
        self.keymap = keymap
        self.opener = opener          # file open for storage_root (tests pass an in-memory flash)
        self.shadow = shadow          # shadow.RingRecordStore outside the file system, or None
        self.battery_divider_milli = battery_divider_milli  # (R_top + R_bottom) / R_bottom x 1000
        self.adc_ref_mv = adc_ref_mv  # ADC pin millivolts at 4096 counts
        self.optical = optical        # the optical port's UART: .read() -> bytes or None (never waits), .write()
        self.push = push              # await .send("host:port", frame) -> True when sent (raises or False when
                                      # not): DLMS push notifications; None: the board cannot push
        self.restart = restart        # restart() resets the board (machine.reset); None: the watchdog does it
        self.restart_requested = False  # set by request_restart(); the app restarts once its replies are out

    def request_restart(self) -> None:
        """Restart soon, not now: whatever asked (a firmware activation over DLMS) still has a reply to send."""
        self.restart_requested = True


def release(names) -> None:
    """Give the heap back from modules the meter needs only now and then (the admin menu, the token decoder,
    the firmware update): out of sys.modules, and out of their package, which keeps each submodule it
    imported. Their code stays in flash; the heap goes once nothing else refers to them."""
    for name in names:
        if sys.modules.pop(name, None) is not None:
            parts = name.split(".")
            package = sys.modules.get(parts[0]) if len(parts) == 2 else None
            if package is not None and hasattr(package, parts[1]):
                delattr(package, parts[1])


class NoWatchdog:
    """Development boards: a soft reset must not end in a watchdog reset."""

    def feed(self) -> None:
        pass
