"""DLMS push: the meter's events a head-end hears of at once, as DataNotification frames (protocol/push.py).

Loaded only on a meter with a push destination (settings "push_to"), so a meter that does not push
holds none of this. The event log calls event() after each append; the events that matter are queued
in RAM (QUEUE entries; when full the oldest goes and `dropped` counts it) with the credit and relay of
that moment. deliver() hands each frame to the board's sender (hal.push), oldest first; a failed send
is tried again push_retries times, push_delay_s apart, then dropped. The event itself stays in the
log for the harvest whatever happens to its push.
"""

from protocol import events
from protocol.push import InvocationCounter, ciphered, data_notification, frame, meter_keys

from relay_policy import CAUSE_CREDIT_OUT
from ticks import ticks_add, ticks_diff

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

QUEUE = const(8)
_PUSHED = (events.LOW_CREDIT, events.RELAY, events.POWER_UP, events.WATCHDOG_RESET, events.ACCESS_LOCKOUT,
           events.ADMIN_LOCKOUT, events.CLOCK_SET)
_HIGH = (events.ACCESS_LOCKOUT, events.ADMIN_LOCKOUT)  # tamper; a relay opened for want of credit is high too


class Notifier:
    def __init__(self, meter):
        self.meter = meter
        self.queue: list = []  # (seq, high, time s, code, a, b, credit Wh, relay closed), oldest first
        self.dropped = 0       # notifications lost: the queue was full, or every try failed
        self.sent = 0
        self._frame = None     # the head's frame, built at its first try and sent again as it is
        self._tries = 0
        self._retry_ms = 0
        self._waiting = False  # the head failed: not before _retry_ms
        self._busy = False     # a deliver() is sending
        self._counter = None   # protocol.push.InvocationCounter, with the first ciphered frame
        # When the power went, for a power-up's push: the last wall time the meter persisted (a notifier
        # is made at boot before the clock resumes from it; 0: unknown)
        self.down_s = meter.clock.floor_s

    def event(self, seq: int, time_s: int, code: int, a: int, b: int) -> None:
        """An event the log just wrote (EventLog.listener)."""
        if code not in _PUSHED or (code == events.RELAY and not a and b != CAUSE_CREDIT_OUT):
            return
        meter = self.meter
        if code == events.POWER_UP or code == events.WATCHDOG_RESET:
            a = self.down_s
        relay = getattr(meter, "relay", None)  # none yet at the power-up event
        self._add((seq, code in _HIGH or (code == events.RELAY and not a), time_s, code, a, b, meter.available_wh(),
                   relay is not None and relay.closed))

    def test(self, now_s: int) -> None:
        """A test push now: event code PUSH_TEST, the sequence number of the newest event, no payload."""
        relay = self.meter.relay
        self._add(((self.meter.log.seq - 1) & 0xFFFFFF, False, now_s, events.PUSH_TEST, 0, 0, self.meter.available_wh(),
                   relay.closed))

    def _add(self, item: tuple) -> None:
        queue = self.queue
        if len(queue) >= QUEUE:
            queue.pop(0)
            self.dropped += 1
            self._next()
        queue.append(item)

    def _next(self) -> None:
        """The head is done with (sent, dropped): the next starts afresh."""
        self._frame = None
        self._tries = 0
        self._waiting = False

    def _build(self, item: tuple) -> bytes:
        seq, high, time_s, code, a, b, credit_wh, closed = item
        meter = self.meter
        serial = meter.settings.get("serial") or "0"
        apdu = data_notification(seq, high, meter.hal.clock.now_s(), serial, code, time_s, a, b, credit_wh, closed)
        keys = meter_keys(meter.dlms_access().credentials, serial)
        if keys is not None:  # the management association is ciphered: so are its pushes
            if self._counter is None:
                self._counter = InvocationCounter(self)
            apdu = ciphered(apdu, keys, self._counter.next())
        return frame(apdu)

    # The InvocationCounter's store: the mark the COSEM server's counter keeps too (cosem_meter.py), so
    # the two never hand out the same counter.
    def counter_reserved(self) -> int:
        return self.meter.settings.get("dlms_counter")

    def reserve_counter(self, upto: int) -> None:
        self.meter.set_setting("dlms_counter", upto)

    async def deliver(self, sender, ticks_ms) -> None:
        """Send what is due, oldest first, with sender.send(destination, frame) (awaitable, True when sent);
        ticks_ms() is the meter's tick clock. Returns when the queue is empty or its head must wait to be
        tried again. Never raises: a failed send is a try used, nothing more."""
        if self._busy:
            return
        self._busy = True
        try:
            while self.queue:
                now_ms = ticks_ms()
                if self._waiting and ticks_diff(self._retry_ms, now_ms) > 0:
                    return
                head = self.queue[0]
                try:
                    if self._frame is None:
                        self._frame = self._build(head)
                    ok = await sender.send(self.meter.settings.get("push_to"), self._frame)
                except Exception:  # noqa: BLE001 - no network, a refused connection, a time-out: try later
                    ok = False
                if not self.queue or self.queue[0] is not head:
                    continue  # dropped while it was being sent (the queue filled up)
                settings = self.meter.settings
                self._tries += 1
                if ok or self._tries > settings.get("push_retries"):
                    self.queue.pop(0)
                    if ok:
                        self.sent += 1
                    else:
                        self.dropped += 1
                    self._next()
                else:
                    self._waiting = True
                    self._retry_ms = ticks_add(now_ms, settings.get("push_delay_s") * 1000)
        finally:
            self._busy = False
