"""SipHash-2-4 (Aumasson and Bernstein, 2012) on 16-bit limbs.

On 32-bit MicroPython ports every int above 2**30 lives on the heap, so each 64-bit
word is kept as four limbs of 16 bits, least significant first, and no intermediate
value ever exceeds 2**29. Hashing allocates nothing: the state, the message word
and the output are lists created once per key.
"""

# "somepseudorandomlygeneratedbytes" as limbs: v0, v1, v2, v3 (key-independent part).
_IV = (0x6575, 0x7073, 0x6D65, 0x736F, 0x6F6D, 0x6E64, 0x7261, 0x646F,
       0x7261, 0x6E65, 0x6765, 0x6C79, 0x6573, 0x7974, 0x6462, 0x7465)


def _rounds(v: list, n: int) -> None:
    """n SipRounds on v = limbs of v0, v1, v2, v3 (a, b, c, d below)."""
    a0 = v[0]; a1 = v[1]; a2 = v[2]; a3 = v[3]
    b0 = v[4]; b1 = v[5]; b2 = v[6]; b3 = v[7]
    c0 = v[8]; c1 = v[9]; c2 = v[10]; c3 = v[11]
    d0 = v[12]; d1 = v[13]; d2 = v[14]; d3 = v[15]
    for _ in range(n):
        # v0 += v1; v1 <<<= 13; v1 ^= v0; v0 <<<= 32
        t = a0 + b0; a0 = t & 0xFFFF
        t = a1 + b1 + (t >> 16); a1 = t & 0xFFFF
        t = a2 + b2 + (t >> 16); a2 = t & 0xFFFF
        a3 = (a3 + b3 + (t >> 16)) & 0xFFFF
        t = b3
        b3 = ((b3 << 13) | (b2 >> 3)) & 0xFFFF
        b2 = ((b2 << 13) | (b1 >> 3)) & 0xFFFF
        b1 = ((b1 << 13) | (b0 >> 3)) & 0xFFFF
        b0 = ((b0 << 13) | (t >> 3)) & 0xFFFF
        b0 ^= a0; b1 ^= a1; b2 ^= a2; b3 ^= a3
        a0, a2 = a2, a0
        a1, a3 = a3, a1
        # v2 += v3; v3 <<<= 16; v3 ^= v2
        t = c0 + d0; c0 = t & 0xFFFF
        t = c1 + d1 + (t >> 16); c1 = t & 0xFFFF
        t = c2 + d2 + (t >> 16); c2 = t & 0xFFFF
        c3 = (c3 + d3 + (t >> 16)) & 0xFFFF
        t = d3; d3 = d2; d2 = d1; d1 = d0; d0 = t
        d0 ^= c0; d1 ^= c1; d2 ^= c2; d3 ^= c3
        # v0 += v3; v3 <<<= 21 (a limb shift of 16, then 5); v3 ^= v0
        t = a0 + d0; a0 = t & 0xFFFF
        t = a1 + d1 + (t >> 16); a1 = t & 0xFFFF
        t = a2 + d2 + (t >> 16); a2 = t & 0xFFFF
        a3 = (a3 + d3 + (t >> 16)) & 0xFFFF
        t = d3; u = d2
        d3 = ((d2 << 5) | (d1 >> 11)) & 0xFFFF
        d2 = ((d1 << 5) | (d0 >> 11)) & 0xFFFF
        d1 = ((d0 << 5) | (t >> 11)) & 0xFFFF
        d0 = ((t << 5) | (u >> 11)) & 0xFFFF
        d0 ^= a0; d1 ^= a1; d2 ^= a2; d3 ^= a3
        # v2 += v1; v1 <<<= 17 (16, then 1); v1 ^= v2; v2 <<<= 32
        t = c0 + b0; c0 = t & 0xFFFF
        t = c1 + b1 + (t >> 16); c1 = t & 0xFFFF
        t = c2 + b2 + (t >> 16); c2 = t & 0xFFFF
        c3 = (c3 + b3 + (t >> 16)) & 0xFFFF
        t = b3; u = b2
        b3 = ((b2 << 1) | (b1 >> 15)) & 0xFFFF
        b2 = ((b1 << 1) | (b0 >> 15)) & 0xFFFF
        b1 = ((b0 << 1) | (t >> 15)) & 0xFFFF
        b0 = ((t << 1) | (u >> 15)) & 0xFFFF
        b0 ^= c0; b1 ^= c1; b2 ^= c2; b3 ^= c3
        c0, c2 = c2, c0
        c1, c3 = c3, c1
    v[0] = a0; v[1] = a1; v[2] = a2; v[3] = a3
    v[4] = b0; v[5] = b1; v[6] = b2; v[7] = b3
    v[8] = c0; v[9] = c1; v[10] = c2; v[11] = c3
    v[12] = d0; v[13] = d1; v[14] = d2; v[15] = d3


class SipHash24:
    """SipHash-2-4 under one 16-byte key.

    `hash_word(m)` is the device path: one 8-byte message given as four limbs
    (the message bytes read little-endian, least significant limb first); the result
    is left in `out` (four limbs, reused by every call). `digest(data)` hashes any
    bytes and returns the 8 output bytes, little-endian as in the reference code.
    """

    def __init__(self, key):
        if len(key) != 16:
            raise ValueError("key: SipHash needs 16 bytes, got %d" % len(key))
        # v0 = k0 ^ IV0, v1 = k1 ^ IV1, v2 = k0 ^ IV2, v3 = k1 ^ IV3, k0/k1 little-endian.
        self._init = [0] * 16
        for i in range(16):
            j = (i & 4) * 2 + (i & 3) * 2    # k0 for v0 and v2, k1 for v1 and v3
            self._init[i] = _IV[i] ^ key[j] ^ (key[j + 1] << 8)
        self._v = [0] * 16
        self._m = [0] * 4
        self.out = [0] * 4

    def _start(self) -> None:
        v = self._v
        s = self._init
        for i in range(16):
            v[i] = s[i]

    def _absorb(self, m: list) -> None:
        v = self._v
        v[12] ^= m[0]; v[13] ^= m[1]; v[14] ^= m[2]; v[15] ^= m[3]
        _rounds(v, 2)
        v[0] ^= m[0]; v[1] ^= m[1]; v[2] ^= m[2]; v[3] ^= m[3]

    def _finish(self) -> list:
        v = self._v
        v[8] ^= 0xFF
        _rounds(v, 4)
        o = self.out
        for i in range(4):
            o[i] = v[i] ^ v[i + 4] ^ v[i + 8] ^ v[i + 12]
        return o

    def hash_word(self, m: list) -> list:
        """Hash of one 8-byte message (limbs m); returns self.out."""
        self._start()
        self._absorb(m)
        t = self._m
        t[0] = 0; t[1] = 0; t[2] = 0; t[3] = 0x0800   # final block: length 8 in the top byte
        self._absorb(t)
        return self._finish()

    def digest(self, data) -> bytes:
        """SipHash-2-4 of data, 8 bytes little-endian."""
        self._start()
        m = self._m
        n = len(data)
        end = n - (n & 7)
        for i in range(0, end, 8):
            for j in range(4):
                m[j] = data[i + 2 * j] | (data[i + 2 * j + 1] << 8)
            self._absorb(m)
        m[0] = 0; m[1] = 0; m[2] = 0; m[3] = (n & 0xFF) << 8
        for j in range(n - end):
            m[j >> 1] |= data[end + j] << ((j & 1) * 8)
        self._absorb(m)
        o = self._finish()
        out = bytearray(8)
        for i in range(4):
            out[2 * i] = o[i] & 0xFF
            out[2 * i + 1] = o[i] >> 8
        return bytes(out)
