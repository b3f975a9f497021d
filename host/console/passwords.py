"""Passwords at rest: scrypt (RFC 7914) with a salt per user, in a self-describing string.

"scrypt$n$r$p$salt$hash" lets the cost rise later without breaking stored hashes. The
cost (n = 2^14, r = 8: 16 MB and ~50 ms) is what OWASP suggests as a minimum for scrypt.
Both functions take that long on purpose: the console calls them in a worker thread.
"""

import functools
import hashlib
import hmac
import secrets

from opsm.host.console.i18n import Problem

_N, _R, _P = 1 << 14, 8, 1
MIN_LENGTH = 10


def check_strength(password: str) -> None:
    if len(password) < MIN_LENGTH:
        raise Problem("rule.password", MIN_LENGTH)


def hashed(password: str) -> str:
    salt = secrets.token_bytes(16)
    digest = hashlib.scrypt(password.encode(), salt=salt, n=_N, r=_R, p=_P, dklen=32)
    return "scrypt$%d$%d$%d$%s$%s" % (_N, _R, _P, salt.hex(), digest.hex())


def matches(password: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        actual = hashlib.scrypt(password.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p),
                                dklen=len(digest) // 2)
    except ValueError:
        return False
    return hmac.compare_digest(actual.hex(), digest)


@functools.cache
def decoy() -> str:
    """A stored hash no password matches: checking against it takes as long as against a user's."""
    return hashed(secrets.token_hex(16))
