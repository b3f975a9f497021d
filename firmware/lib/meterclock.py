"""The meter's two times: the wall clock it trusts, and running time no clock change can touch.

Wall time (seconds since 2000-01-01 UTC) comes from the board's RTC; it dates events and
profiles and decides months and friendly hours. An RTC that lost power restarts from its
own epoch (the Pico from 2021, an ESP32 without backup from 2000): at boot the clock
resumes from the last wall time persisted, never earlier. Later changes (admin menu, a
port) may move it forward freely but back only by a bounded step, at most once a day of
running time: a clock rocked back and forth across a month cannot refill a subsidy (the
ledger grants a month only once it moves past the last one granted), and a slow RTC can
still be corrected.

Running time counts the seconds the meter has been powered over its life, from the tick
counter, persisted with the state record. Lock-outs and the relay's anti-chatter run on
it, so no clock change shortens them; time without power does not count (a lock-out
waits for the meter, not for the calendar).
"""

from ticks import ticks_diff

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

MAX_BACK_S = const(300)         # the largest step back a change may make
_BACK_EVERY_S = const(86400)    # running seconds between two steps back
_EARLIEST_S = const(789004800)  # 2025-01-01: a clock set before this is wrong, not slow
_RECORD = const(12)

# Why a change was refused (the CLOCK_REFUSED event's payload; protocol/event_names.CLOCK_REFUSALS)
_REFUSED_EARLY = const(1)
_REFUSED_BACK = const(2)
_REFUSED_BACK_AGAIN = const(3)


class MeterClock:
    def __init__(self, rtc, run_s: int = 0, floor_s: int = 0, back_run_s: int = -_BACK_EVERY_S):
        self.rtc = rtc                  # hal.clock: now_s(), set_s(now_s), ticks_ms()
        self.run_s = run_s              # whole running seconds, over the meter's life
        self.floor_s = floor_s          # the latest wall time known: the clock never resumes earlier
        self.back_run_s = back_run_s    # running time of the last step back
        self._ms = 0                    # running milliseconds not yet a whole second
        self._last_ms = rtc.ticks_ms()

    def pack(self) -> bytes:
        return (self.run_s.to_bytes(4, "big") + self.floor_s.to_bytes(4, "big")
                + (self.back_run_s & 0xFFFFFFFF).to_bytes(4, "big"))

    def restore(self, data) -> None:
        """Take the persisted times (the state record's clock part)."""
        if len(data) != _RECORD:
            raise ValueError("clock: record must be %d bytes" % _RECORD)
        self.run_s = int.from_bytes(data[0:4], "big")
        self.floor_s = int.from_bytes(data[4:8], "big")
        back = int.from_bytes(data[8:12], "big")
        self.back_run_s = back - (1 << 32) if back & 0x80000000 else back

    def resume(self) -> int:
        """At boot: an RTC behind the last persisted time is set to it. Returns the seconds it was behind."""
        now = self.rtc.now_s()
        if now >= self.floor_s:
            self.floor_s = now
            return 0
        self.rtc.set_s(self.floor_s)
        return self.floor_s - now

    def tick(self, now_ms: int) -> int:
        """Count the running time since the last call (call at least every few days); running seconds."""
        dt = ticks_diff(now_ms, self._last_ms)
        self._last_ms = now_ms
        if dt > 0:
            self._ms += dt
            self.run_s += self._ms // 1000
            self._ms %= 1000
        now = self.rtc.now_s()
        if now > self.floor_s:
            self.floor_s = now
        return self.run_s

    def set(self, new_s: int) -> int:
        """A change of the wall clock; 0 when made, else why it was refused (_REFUSED_*)."""
        now = self.rtc.now_s()
        if new_s < _EARLIEST_S:
            return _REFUSED_EARLY
        if new_s < now:
            if now - new_s > MAX_BACK_S:
                return _REFUSED_BACK
            if self.run_s - self.back_run_s < _BACK_EVERY_S:
                return _REFUSED_BACK_AGAIN
            self.back_run_s = self.run_s
        self.rtc.set_s(new_s)
        self.floor_s = new_s
        return 0
