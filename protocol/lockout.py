"""Lock-out after repeated rejected entries (codes, admin passwords, DLMS secrets), growing with each failure.

A random 20-digit string passes the STS 16-bit CRC about once in 65 536 tries:
after FREE_FAILURES typos each further failure doubles the wait, up to a day,
so guessing a code takes years. Times are whole seconds of the meter's running
time (meterclock), so no clock change shortens a lock; the state packs to bytes so it
survives a reboot.
"""

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

FREE_FAILURES = 3
_FIRST_LOCK_S = const(60)
_MAX_LOCK_S = const(86400)


class Lockout:
    """Failures and the time the lock ends, in the caller's seconds: the meter's running time,
    which no clock change moves."""

    def __init__(self, failures: int = 0, until: int = 0):
        self.failures = failures
        self.until = until

    def remaining(self, now: int) -> int:
        """Seconds the entry stays locked (0: entries accepted); never more than a day,
        whatever a record says."""
        if self.until - now > _MAX_LOCK_S:
            self.until = now + _MAX_LOCK_S
        return self.until - now if self.until > now else 0

    def failure(self, now: int) -> int:
        """Count a rejected entry; returns the wait it starts (seconds)."""
        self.failures = min(self.failures + 1, 0xFFFF)
        extra = self.failures - FREE_FAILURES
        if extra <= 0:
            return 0
        lock = _MAX_LOCK_S if extra > 11 else min(_FIRST_LOCK_S << (extra - 1), _MAX_LOCK_S)
        self.until = now + lock
        return lock

    def success(self) -> None:
        self.failures = 0
        self.until = 0

    def pack(self) -> bytes:
        return self.failures.to_bytes(2, "big") + self.until.to_bytes(5, "big")


def unpack_lockout(data) -> Lockout:
    if len(data) != 7:
        raise ValueError("lockout: record must be 7 bytes")
    return Lockout(int.from_bytes(data[0:2], "big"), int.from_bytes(data[2:7], "big"))
