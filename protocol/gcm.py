"""AES-GCM (NIST SP 800-38D) with a 96-bit IV, as DLMS/COSEM security suite 0 uses it.

The block cipher comes from `protocol.aes` (C code on every runtime); GHASH is pure
Python on integers, which MicroPython keeps at arbitrary precision. GHASH multiplies by
the hash key H four bits at a time (Shoup's method): sixteen multiples of H are built
once per key, on first use, so a 16-byte block costs 32 shift/xor steps instead of 128.
Neither the table lookups nor the big-integer arithmetic are constant-time; the tag
comparison is.

Bit order is GCM's: a block read as a big-endian integer holds the coefficient of x^0
in its most significant bit, so multiplying by x is a right shift.

Usage: ``encrypt(key, iv, plaintext, aad) -> (ciphertext, tag)``,
``decrypt(key, iv, ciphertext, aad, tag) -> plaintext`` (raises AuthenticationError),
``gmac(key, iv, aad) -> tag``, ``ctr(key, iv, data)`` (GCM's keystream, no tag).
A `Gcm(key)` object keeps the key schedule and the GHASH table between messages; the
functions keep one such object for the last key they saw.
"""

from . import aes, consttime

_R = 0xE1 << 120  # x^128 = x^7 + x^2 + x + 1, in GCM's reflected bit order
TAG_LENGTHS = (4, 8, 12, 13, 14, 15, 16)  # bytes, as SP 800-38D allows


class AuthenticationError(Exception):
    """The tag does not match: wrong key, IV or AAD, or an altered message."""


def _mul_x(v: int) -> int:
    return (v >> 1) ^ _R if v & 1 else v >> 1


def _reduction_table() -> tuple:
    # Multiplying by x^4 shifts four bits out at the low end; entry b is what those
    # four bits (value b) fold back in as.
    table = []
    for b in range(16):
        v = b
        for _ in range(4):
            v = _mul_x(v)
        table.append(v)
    return tuple(table)


_R4 = _reduction_table()


def _check_iv(iv) -> None:
    if len(iv) != 12:
        raise ValueError("GCM IV must be 12 bytes (96 bits), got %d" % len(iv))


def _check_tag_len(tag_len: int) -> None:
    if tag_len not in TAG_LENGTHS:
        raise ValueError("GCM tag length must be one of %r bytes, got %d" % (TAG_LENGTHS, tag_len))


class Gcm:
    """AES-GCM under one key."""

    def __init__(self, key: bytes):
        self._aes = aes.new(key)
        self._h: tuple | None = None  # multiples of H by nibble (GCM bit order), built on first GHASH

    def _table(self) -> tuple:
        table = self._h
        if table is None:
            h = int.from_bytes(self._aes.encrypt_block(bytes(16)), "big")
            # Nibble bit 8 is x^0, 4 is x^1, 2 is x^2, 1 is x^3.
            hx = _mul_x(h)
            hx2 = _mul_x(hx)
            hx3 = _mul_x(hx2)
            m = [0] * 16
            for n in range(1, 16):
                v = 0
                if n & 8:
                    v ^= h
                if n & 4:
                    v ^= hx
                if n & 2:
                    v ^= hx2
                if n & 1:
                    v ^= hx3
                m[n] = v
            table = self._h = tuple(m)
        return table

    def _ghash(self, aad, ciphertext) -> int:
        m = self._table()
        y = _absorb(0, m, aad)
        y = _absorb(y, m, ciphertext)
        return _times_h(y ^ ((len(aad) * 8) << 64 | len(ciphertext) * 8), m)

    def _keystream_xor(self, iv, data, counter: int) -> bytes:
        n = len(data)
        out = bytearray(n)
        block = bytearray(16)
        block[:12] = iv
        encrypt = self._aes.encrypt_block
        for off in range(0, n, 16):
            block[12] = counter >> 24
            block[13] = (counter >> 16) & 0xFF
            block[14] = (counter >> 8) & 0xFF
            block[15] = counter & 0xFF
            stream = encrypt(block)
            for i in range(min(16, n - off)):
                out[off + i] = data[off + i] ^ stream[i]
            counter = (counter + 1) & 0xFFFFFFFF  # inc32
        return bytes(out)

    def _tag(self, iv, aad, ciphertext, tag_len: int) -> bytes:
        s = self._ghash(aad, ciphertext).to_bytes(16, "big")
        return self._keystream_xor(iv, s, 1)[:tag_len]  # E(K, J0) xor S, J0 = IV || 1

    def ctr(self, iv, data) -> bytes:
        """GCM's encryption without the tag (encryption is its own inverse)."""
        _check_iv(iv)
        return self._keystream_xor(iv, data, 2)

    def encrypt(self, iv, plaintext, aad=b"", tag_len: int = 12):
        _check_iv(iv)
        _check_tag_len(tag_len)
        ciphertext = self._keystream_xor(iv, plaintext, 2)
        return ciphertext, self._tag(iv, aad, ciphertext, tag_len)

    def decrypt(self, iv, ciphertext, aad, tag) -> bytes:
        _check_iv(iv)
        _check_tag_len(len(tag))
        if not consttime.equal(self._tag(iv, aad, ciphertext, len(tag)), tag):
            raise AuthenticationError("GCM tag mismatch: wrong key, IV or AAD, or altered data")
        return self._keystream_xor(iv, ciphertext, 2)

    def gmac(self, iv, aad, tag_len: int = 12) -> bytes:
        _check_iv(iv)
        _check_tag_len(tag_len)
        return self._tag(iv, aad, b"", tag_len)


def _times_h(x: int, m: tuple) -> int:
    """x * H in GF(2^128): Horner over the nibbles of x, highest power of x first."""
    xb = x.to_bytes(16, "big")
    r = _R4
    z = 0
    for i in range(15, -1, -1):
        b = xb[i]
        z = (z >> 4) ^ r[z & 15] ^ m[b & 15]
        z = (z >> 4) ^ r[z & 15] ^ m[b >> 4]
    return z


def _absorb(y: int, m: tuple, data) -> int:
    """Fold `data` into the GHASH state y, zero-padding the last block."""
    n = len(data)
    whole = n - n % 16
    view = memoryview(data)
    for off in range(0, whole, 16):
        y = _times_h(y ^ int.from_bytes(view[off:off + 16], "big"), m)
    if whole < n:
        y = _times_h(y ^ int.from_bytes(view[whole:], "big") << 8 * (16 - n + whole), m)
    return y


_last: list = [b"", None]  # the last key the module functions saw, and its Gcm


def _context(key) -> Gcm:
    key = bytes(key)
    if _last[1] is None or _last[0] != key:
        _last[1] = Gcm(key)
        _last[0] = key
    return _last[1]


def encrypt(key, iv, plaintext, aad=b"", tag_len: int = 12):
    """Return (ciphertext, tag); the tag is the first tag_len bytes of GCM's."""
    return _context(key).encrypt(iv, plaintext, aad, tag_len)


def decrypt(key, iv, ciphertext, aad, tag) -> bytes:
    """Return the plaintext, or raise AuthenticationError; the tag length is len(tag)."""
    return _context(key).decrypt(iv, ciphertext, aad, tag)


def gmac(key, iv, aad, tag_len: int = 12) -> bytes:
    """GMAC: GCM over an empty plaintext, authenticating aad only."""
    return _context(key).gmac(iv, aad, tag_len)


def ctr(key, iv, data) -> bytes:
    """GCM's ciphertext without a tag (DLMS 'encryption only'); also decrypts."""
    return _context(key).ctr(iv, data)
