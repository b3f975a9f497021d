"""The admin password, kept only as a salted, iterated SHA-256 digest.

Whoever reads the flash learns neither the password nor, thanks to the random
salt, whether two meters share one. The keypad allows only 4-8 digits, so the
iteration count cannot stop an offline search on its own: it slows each guess,
and the keypad lock-out (protocol.lockout) is what stops guessing at the meter.

ITERATIONS: 1000 rounds take ~1.3 ms on the MicroPython unix port here (x86-64)
and so ~130 ms on an ESP32-class core assuming ~100x slower, well under 0.5 s
for one check. The count is stored in the record, so it can change later.

A meter leaves the factory with DEFAULT_PASSWORD flagged must_change: the first
admin login with it goes straight to choosing a new password (keypad_fsm).
"""

import hashlib
import os

from protocol import consttime

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

DEFAULT_PASSWORD = "0000"
MIN_LEN = 4
MAX_LEN = 8
ITERATIONS = 1000
SALT_LEN = 12           # any 8..16 bytes is accepted when unpacking
_SALT_MIN = const(8)
_SALT_MAX = const(16)
_DIGEST_LEN = const(32)
_VERSION = const(1)
_MUST_CHANGE = const(0x01)  # flags bit


def check_new(password: str) -> None:
    """Rule for a new password: 4-8 digits. Raises ValueError naming the rule."""
    if not MIN_LEN <= len(password) <= MAX_LEN or not password.isdigit():
        raise ValueError("CLAVE: %d-%d digitos" % (MIN_LEN, MAX_LEN))


def _digest(salt: bytes, password, iterations: int) -> bytes:
    """password: text (the keypad's digits) or bytes (a DLMS secret as it came)."""
    h = hashlib.sha256(salt + (password.encode() if isinstance(password, str) else bytes(password))).digest()
    for _ in range(iterations - 1):
        h = hashlib.sha256(h + salt).digest()
    return h


class PasswordRecord:
    def __init__(self, salt: bytes, digest: bytes, iterations: int = ITERATIONS,
                 must_change: bool = False):
        self.salt = salt
        self.digest = digest
        self.iterations = iterations
        self.must_change = must_change

    def verify(self, password) -> bool:
        return consttime.equal(_digest(self.salt, password, self.iterations), self.digest)

    def pack(self) -> bytes:
        """version | flags | iterations (2, big-endian) | salt length | salt | digest (32)."""
        head = bytes((_VERSION, _MUST_CHANGE if self.must_change else 0))
        return (head + self.iterations.to_bytes(2, "big") + bytes((len(self.salt),))
                + self.salt + self.digest)


def unpack_password(data) -> PasswordRecord:
    if len(data) < 5 or data[0] != _VERSION:
        raise ValueError("password: unknown record version")
    iterations = int.from_bytes(data[2:4], "big")
    salt_len = data[4]
    if iterations < 1:
        raise ValueError("password: iterations must be >= 1")
    if not _SALT_MIN <= salt_len <= _SALT_MAX:
        raise ValueError("password: salt must be %d-%d bytes" % (_SALT_MIN, _SALT_MAX))
    if len(data) != 5 + salt_len + _DIGEST_LEN:
        raise ValueError("password: record must be %d bytes" % (5 + salt_len + _DIGEST_LEN))
    return PasswordRecord(bytes(data[5:5 + salt_len]), bytes(data[5 + salt_len:]), iterations,
                          bool(data[1] & _MUST_CHANGE))


def new_record(password, must_change: bool = False, salt=None,
               iterations: int = ITERATIONS) -> PasswordRecord:
    """Record for `password` with a fresh random salt (tests may pass their own)."""
    if salt is None:
        salt = os.urandom(SALT_LEN)
    if not _SALT_MIN <= len(salt) <= _SALT_MAX:
        raise ValueError("password: salt must be %d-%d bytes" % (_SALT_MIN, _SALT_MAX))
    if not 1 <= iterations <= 0xFFFF:
        raise ValueError("password: iterations must be 1-65535")
    return PasswordRecord(bytes(salt), _digest(bytes(salt), password, iterations), iterations,
                          must_change)


def factory_record(salt=None) -> PasswordRecord:
    """What a new meter holds: DEFAULT_PASSWORD, to be changed at the first login."""
    return new_record(DEFAULT_PASSWORD, True, salt)
