"""AES key unwrap (RFC 3394, NIST SP 800-38F KW) for 128-bit keys under a 128-bit key.

The DLMS security setup's key_transfer carries new keys wrapped under the master key
(KEK): the meter unwraps them and checks the integrity value before it keeps them.
Bytes only (no 64-bit integers: they would live on the heap of a 32-bit board). The
host wraps with `cryptography`'s aes_key_wrap.
"""

from . import aes, consttime

_IV = b"\xa6" * 8


def unwrap(kek: bytes, wrapped) -> bytes:
    """The key inside `wrapped`; ValueError when it is malformed or fails the integrity check."""
    n = len(wrapped) // 8 - 1
    if len(wrapped) % 8 or n < 2:
        raise ValueError("key wrap: must be 24 bytes or more, a multiple of 8")
    cipher = aes.Aes(kek, decrypt=True)
    a = bytearray(wrapped[0:8])
    r = [bytearray(wrapped[8 * i:8 * i + 8]) for i in range(1, n + 1)]
    block = bytearray(16)
    for j in range(5, -1, -1):
        for i in range(n, 0, -1):
            t = n * j + i
            for k in range(8):  # A ^= t, as a 64-bit big-endian number
                a[7 - k] ^= (t >> (8 * k)) & 0xFF
            block[0:8] = a
            block[8:16] = r[i - 1]
            out = cipher.decrypt_block(block)
            a[:] = out[0:8]
            r[i - 1][:] = out[8:16]
    if not consttime.equal(bytes(a), _IV):
        raise ValueError("key wrap: integrity check failed (wrong master key or damaged key)")
    return b"".join([bytes(x) for x in r])
