"""DES block cipher (FIPS 46-3): 64-bit block, 56-bit key, 16 rounds.

STS uses DES for EA09 tokens and DKGA02 key derivation: the meter's token
decoder decrypts with it, the host side uses `encrypt` to vend.
Written for MicroPython on 32-bit boards: the block is held as four 16-bit
words, so no int ever becomes a heap-allocated bignum. The key schedule is
expanded once per key; a block is then worked in place in a preallocated
buffer, and the per-block functions keep their frames within MicroPython's
11-word limit so that the VM does not put a frame on the heap either.

Usage: ``Des(key).decrypt_into(block)`` with an 8-byte bytearray.
"""

from array import array

from .block_cipher import BlockCipher

# FIPS 46-3 tables in hex, one printed row per line; bit numbers are 1-based
# from the most significant bit. Bytes literals, not bytes((...)): a tuple
# constant would stay alive beside the table, 4 bytes per entry.
_IP = (
    b"\x3a\x32\x2a\x22\x1a\x12\x0a\x02"
    b"\x3c\x34\x2c\x24\x1c\x14\x0c\x04"
    b"\x3e\x36\x2e\x26\x1e\x16\x0e\x06"
    b"\x40\x38\x30\x28\x20\x18\x10\x08"
    b"\x39\x31\x29\x21\x19\x11\x09\x01"
    b"\x3b\x33\x2b\x23\x1b\x13\x0b\x03"
    b"\x3d\x35\x2d\x25\x1d\x15\x0d\x05"
    b"\x3f\x37\x2f\x27\x1f\x17\x0f\x07"
)

_FP = (
    b"\x28\x08\x30\x10\x38\x18\x40\x20"
    b"\x27\x07\x2f\x0f\x37\x17\x3f\x1f"
    b"\x26\x06\x2e\x0e\x36\x16\x3e\x1e"
    b"\x25\x05\x2d\x0d\x35\x15\x3d\x1d"
    b"\x24\x04\x2c\x0c\x34\x14\x3c\x1c"
    b"\x23\x03\x2b\x0b\x33\x13\x3b\x1b"
    b"\x22\x02\x2a\x0a\x32\x12\x3a\x1a"
    b"\x21\x01\x29\x09\x31\x11\x39\x19"
)

_P = (
    b"\x10\x07\x14\x15"
    b"\x1d\x0c\x1c\x11"
    b"\x01\x0f\x17\x1a"
    b"\x05\x12\x1f\x0a"
    b"\x02\x08\x18\x0e"
    b"\x20\x1b\x03\x09"
    b"\x13\x0d\x1e\x06"
    b"\x16\x0b\x04\x19"
)

_PC1 = (
    b"\x39\x31\x29\x21\x19\x11\x09"
    b"\x01\x3a\x32\x2a\x22\x1a\x12"
    b"\x0a\x02\x3b\x33\x2b\x23\x1b"
    b"\x13\x0b\x03\x3c\x34\x2c\x24"
    b"\x3f\x37\x2f\x27\x1f\x17\x0f"
    b"\x07\x3e\x36\x2e\x26\x1e\x16"
    b"\x0e\x06\x3d\x35\x2d\x25\x1d"
    b"\x15\x0d\x05\x1c\x14\x0c\x04"
)

_PC2 = (
    b"\x0e\x11\x0b\x18\x01\x05"
    b"\x03\x1c\x0f\x06\x15\x0a"
    b"\x17\x13\x0c\x04\x1a\x08"
    b"\x10\x07\x1b\x14\x0d\x02"
    b"\x29\x34\x1f\x25\x2f\x37"
    b"\x1e\x28\x33\x2d\x21\x30"
    b"\x2c\x31\x27\x38\x22\x35"
    b"\x2e\x2a\x32\x24\x1d\x20"
)

# Left rotations of C and D before each round's subkey.
_SHIFTS = b"\x01\x01\x02\x02\x02\x02\x02\x02\x01\x02\x02\x02\x02\x02\x02\x01"

# S1..S8, each as its 4 printed rows of 16.
_S = (
    b"\x0e\x04\x0d\x01\x02\x0f\x0b\x08\x03\x0a\x06\x0c\x05\x09\x00\x07"
    b"\x00\x0f\x07\x04\x0e\x02\x0d\x01\x0a\x06\x0c\x0b\x09\x05\x03\x08"
    b"\x04\x01\x0e\x08\x0d\x06\x02\x0b\x0f\x0c\x09\x07\x03\x0a\x05\x00"
    b"\x0f\x0c\x08\x02\x04\x09\x01\x07\x05\x0b\x03\x0e\x0a\x00\x06\x0d"

    b"\x0f\x01\x08\x0e\x06\x0b\x03\x04\x09\x07\x02\x0d\x0c\x00\x05\x0a"
    b"\x03\x0d\x04\x07\x0f\x02\x08\x0e\x0c\x00\x01\x0a\x06\x09\x0b\x05"
    b"\x00\x0e\x07\x0b\x0a\x04\x0d\x01\x05\x08\x0c\x06\x09\x03\x02\x0f"
    b"\x0d\x08\x0a\x01\x03\x0f\x04\x02\x0b\x06\x07\x0c\x00\x05\x0e\x09"

    b"\x0a\x00\x09\x0e\x06\x03\x0f\x05\x01\x0d\x0c\x07\x0b\x04\x02\x08"
    b"\x0d\x07\x00\x09\x03\x04\x06\x0a\x02\x08\x05\x0e\x0c\x0b\x0f\x01"
    b"\x0d\x06\x04\x09\x08\x0f\x03\x00\x0b\x01\x02\x0c\x05\x0a\x0e\x07"
    b"\x01\x0a\x0d\x00\x06\x09\x08\x07\x04\x0f\x0e\x03\x0b\x05\x02\x0c"

    b"\x07\x0d\x0e\x03\x00\x06\x09\x0a\x01\x02\x08\x05\x0b\x0c\x04\x0f"
    b"\x0d\x08\x0b\x05\x06\x0f\x00\x03\x04\x07\x02\x0c\x01\x0a\x0e\x09"
    b"\x0a\x06\x09\x00\x0c\x0b\x07\x0d\x0f\x01\x03\x0e\x05\x02\x08\x04"
    b"\x03\x0f\x00\x06\x0a\x01\x0d\x08\x09\x04\x05\x0b\x0c\x07\x02\x0e"

    b"\x02\x0c\x04\x01\x07\x0a\x0b\x06\x08\x05\x03\x0f\x0d\x00\x0e\x09"
    b"\x0e\x0b\x02\x0c\x04\x07\x0d\x01\x05\x00\x0f\x0a\x03\x09\x08\x06"
    b"\x04\x02\x01\x0b\x0a\x0d\x07\x08\x0f\x09\x0c\x05\x06\x03\x00\x0e"
    b"\x0b\x08\x0c\x07\x01\x0e\x02\x0d\x06\x0f\x00\x09\x0a\x04\x05\x03"

    b"\x0c\x01\x0a\x0f\x09\x02\x06\x08\x00\x0d\x03\x04\x0e\x07\x05\x0b"
    b"\x0a\x0f\x04\x02\x07\x0c\x09\x05\x06\x01\x0d\x0e\x00\x0b\x03\x08"
    b"\x09\x0e\x0f\x05\x02\x08\x0c\x03\x07\x00\x04\x0a\x01\x0d\x0b\x06"
    b"\x04\x03\x02\x0c\x09\x05\x0f\x0a\x0b\x0e\x01\x07\x06\x00\x08\x0d"

    b"\x04\x0b\x02\x0e\x0f\x00\x08\x0d\x03\x0c\x09\x07\x05\x0a\x06\x01"
    b"\x0d\x00\x0b\x07\x04\x09\x01\x0a\x0e\x03\x05\x0c\x02\x0f\x08\x06"
    b"\x01\x04\x0b\x0d\x0c\x03\x07\x0e\x0a\x0f\x06\x08\x00\x05\x09\x02"
    b"\x06\x0b\x0d\x08\x01\x04\x0a\x07\x09\x05\x00\x0f\x0e\x02\x03\x0c"

    b"\x0d\x02\x08\x04\x06\x0f\x0b\x01\x0a\x09\x03\x0e\x05\x00\x0c\x07"
    b"\x01\x0f\x0d\x08\x0a\x03\x07\x04\x0c\x05\x06\x0b\x00\x0e\x09\x02"
    b"\x07\x0b\x04\x01\x09\x0c\x0e\x02\x00\x06\x0a\x0d\x0f\x03\x05\x08"
    b"\x02\x01\x0e\x07\x04\x0a\x08\x0d\x0f\x0c\x09\x00\x03\x05\x06\x0b"
)


def _sp_tables():
    """P(S-box output) for every S-box and 6-bit input, as high and low 16-bit words.

    Entry 64 * box + input; merging P into the lookup leaves each round with
    eight lookups and XORs instead of a 32-bit bit permutation.
    """
    hi = array("H", [0] * 512)
    lo = array("H", [0] * 512)
    for k in range(32):
        src = _P[k] - 1  # output bit k of P is bit src of the S-box outputs
        box = src >> 2
        shift = 3 - (src & 3)
        table = hi if k < 16 else lo
        mask = 1 << (15 - (k & 15))
        for g in range(64):
            row = ((g >> 4) & 2) | (g & 1)
            col = (g >> 1) & 15
            if (_S[64 * box + 16 * row + col] >> shift) & 1:
                table[64 * box + g] |= mask
    return hi, lo


_SP_HI, _SP_LO = _sp_tables()


def _ip(src, s):
    """IP of the 8 bytes src into the four 16-bit words s."""
    v = 0
    for i in range(64):
        p = _IP[i] - 1
        p = (src[p >> 3] >> (7 - (p & 7))) & 1
        v = (v << 1) | p
        if i & 15 == 15:
            s[i >> 4] = v
            v = 0


def _fp(s, dst):
    """FP of R16 L16 into the 8 bytes dst; s holds L16 then R16, hence `^ 2`."""
    v = 0
    for i in range(64):
        p = _FP[i] - 1
        p = (s[(p >> 4) ^ 2] >> (15 - (p & 15))) & 1
        v = (v << 1) | p
        if i & 7 == 7:
            dst[i >> 3] = v
            v = 0


def _round(s, k, o):
    """L ^= f(R, subkey k[o:o+8]), then swap L = s[0:2] and R = s[2:4].

    E picks eight 6-bit groups of R, each overlapping its neighbours by one
    bit (cyclically); the subkey words also carry the S-box number (see Des).
    """
    rh = s[2]
    rl = s[3]
    x = (((rl & 1) << 5) | (rh >> 11)) ^ k[o]
    s[0] ^= _SP_HI[x]
    s[1] ^= _SP_LO[x]
    x = ((rh >> 7) & 0x3F) ^ k[o + 1]
    s[0] ^= _SP_HI[x]
    s[1] ^= _SP_LO[x]
    x = ((rh >> 3) & 0x3F) ^ k[o + 2]
    s[0] ^= _SP_HI[x]
    s[1] ^= _SP_LO[x]
    x = (((rh & 0x1F) << 1) | (rl >> 15)) ^ k[o + 3]
    s[0] ^= _SP_HI[x]
    s[1] ^= _SP_LO[x]
    x = (((rh & 1) << 5) | (rl >> 11)) ^ k[o + 4]
    s[0] ^= _SP_HI[x]
    s[1] ^= _SP_LO[x]
    x = ((rl >> 7) & 0x3F) ^ k[o + 5]
    s[0] ^= _SP_HI[x]
    s[1] ^= _SP_LO[x]
    x = ((rl >> 3) & 0x3F) ^ k[o + 6]
    s[0] ^= _SP_HI[x]
    s[1] ^= _SP_LO[x]
    x = (((rl & 0x1F) << 1) | (rh >> 15)) ^ k[o + 7]
    s[0] ^= _SP_HI[x]
    s[1] ^= _SP_LO[x]
    s[2] = s[0]
    s[3] = s[1]
    s[0] = rh
    s[1] = rl


class Des(BlockCipher):
    """Single DES with a fixed 8-byte key (parity bits ignored); 8-byte blocks."""

    def __init__(self, key: bytes) -> None:
        if len(key) != 8:
            raise ValueError("DES key must be 8 bytes, got %d" % len(key))
        bits = [(key[i >> 3] >> (7 - (i & 7))) & 1 for i in range(64)]
        cd = [bits[p - 1] for p in _PC1]
        enc = []
        for shift in _SHIFTS:
            for _ in range(shift):
                cd = cd[1:28] + cd[:1] + cd[29:] + cd[28:29]
            for box in range(8):
                v = 0
                for p in _PC2[6 * box:6 * box + 6]:
                    v = (v << 1) | cd[p - 1]
                # XOR with a 6-bit E group then yields the index 64 * box + input
                # into _SP_HI/_SP_LO directly.
                enc.append(v | box << 6)
        dec = []
        for r in range(15, -1, -1):
            dec += enc[8 * r:8 * r + 8]
        self._enc = array("H", enc)
        self._dec = array("H", dec)
        self._s = array("H", bytes(8))

    def _crypt(self, buf: bytearray, k: array) -> None:
        if len(buf) != 8:
            raise ValueError("DES block must be 8 bytes, got %d" % len(buf))
        s = self._s
        _ip(buf, s)
        for o in range(0, 128, 8):
            _round(s, k, o)
        _fp(s, buf)

    def encrypt_into(self, buf: bytearray) -> None:
        """Encrypt the 8-byte `buf` in place; allocates nothing."""
        self._crypt(buf, self._enc)

    def decrypt_into(self, buf: bytearray) -> None:
        """Decrypt the 8-byte `buf` in place; allocates nothing."""
        self._crypt(buf, self._dec)
