"""When the supply relay opens and closes: credit, friendly hours, battery, anti-chatter.

Pure logic: the app feeds it the meter's running time (seconds no clock change
moves), the local hour, the credit left and the battery voltage, and drives the relay
pin with the answer. Battery protection wins over friendly
hours (it protects the hardware); friendly hours only delay a cut for credit.
"""

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

# Causes, also written to the event log (the private ones no other module names).
_CAUSE_BOOT = const(1)
CAUSE_CREDIT_OUT = 2
CAUSE_CREDIT_BACK = 3
CAUSE_BATTERY_LOW = 4
CAUSE_BATTERY_OK = 5
CAUSE_REMOTE = 6
_CAUSE_FAULT = const(7)   # metering or the ledger failed: no supply that is not metered


class RelaySettings:
    def __init__(self, battery_cut_mv: int = 22800, battery_restore_mv: int = 24800,
                 min_switch_s: int = 60, friendly_start_h: int = -1, friendly_end_h: int = -1,
                 low_credit_wh: int = 2000):
        self.battery_cut_mv = battery_cut_mv
        self.battery_restore_mv = battery_restore_mv
        self.min_switch_s = min_switch_s
        self.friendly_start_h = friendly_start_h   # -1: no friendly hours
        self.friendly_end_h = friendly_end_h
        self.low_credit_wh = low_credit_wh

    def friendly(self, hour: int) -> bool:
        start, end = self.friendly_start_h, self.friendly_end_h
        if start < 0 or start == end:
            return False
        if start < end:
            return start <= hour < end
        return hour >= start or hour < end  # across midnight, e.g. 18 -> 6


class RelayPolicy:
    def __init__(self, settings: RelaySettings):
        self.settings = settings
        self.closed = False        # a reset leaves the relay open until boot() decides
        self.open_cause = _CAUSE_BOOT
        self.battery_ok = True
        self.remote_open = False   # opened by the head-end (DLMS disconnect control)
        self.fault = False         # metering failed: open at once, whatever else holds
        self.last_switch_s = -1

    def low_credit(self, available_wh: int, unlimited: int) -> bool:
        return not unlimited and available_wh < self.settings.low_credit_wh

    def _battery(self, battery_mv: int) -> None:
        s = self.settings
        if self.battery_ok and battery_mv < s.battery_cut_mv:
            self.battery_ok = False
        elif not self.battery_ok and battery_mv >= s.battery_restore_mv:
            self.battery_ok = True

    def _open_cause(self, hour: int, available_wh: int, unlimited: int) -> int:
        """Why the relay must be open now, or 0 if it may be closed."""
        if self.fault:
            return _CAUSE_FAULT
        if not self.battery_ok:
            return CAUSE_BATTERY_LOW
        if self.remote_open:
            return CAUSE_REMOTE
        if unlimited or available_wh > 0:
            return 0
        if self.closed and self.settings.friendly(hour):
            return 0  # no cut at night: wait for the friendly hours to end
        return CAUSE_CREDIT_OUT

    def boot(self, now_s: int, hour: int, available_wh: int, unlimited: int, battery_mv: int) -> bool:
        """The safe state at power-up, decided at once from the persisted credit."""
        self.battery_ok = battery_mv >= self.settings.battery_cut_mv
        cause = self._open_cause(hour, available_wh, unlimited)
        self.closed = not cause
        self.open_cause = cause
        self.last_switch_s = now_s
        return self.closed

    def update(self, now_s: int, hour: int, available_wh: int, unlimited: int, battery_mv: int) -> int:
        """Re-decide; returns the cause when the relay must switch now, else 0."""
        self._battery(battery_mv)
        cause = self._open_cause(hour, available_wh, unlimited)
        if (not cause) == self.closed:
            return 0
        if cause != _CAUSE_FAULT and now_s - self.last_switch_s < self.settings.min_switch_s:
            return 0  # never chatter: wait for the minimum time between switchings
        self.last_switch_s = now_s
        if cause:
            self.closed = False
            self.open_cause = cause
            return cause
        self.closed = True
        cause = self.open_cause  # what the closing ends, without building a table for it each time
        if cause == CAUSE_BATTERY_LOW:
            return CAUSE_BATTERY_OK
        return cause if cause == CAUSE_REMOTE or cause == _CAUSE_FAULT else CAUSE_CREDIT_BACK
