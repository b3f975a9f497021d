"""AES-128 (ECB) in Python, standing in for the boards' C `cryptolib` on the WebAssembly
port, which is built without it. Only for the 32-bit test run: slow, and the GCM and key
wrap vectors of the protocol tests check it like they check the boards' module."""


def _xtime(a):
    a <<= 1
    return (a ^ 0x11B) if a & 0x100 else a


def _sbox():
    # multiplicative inverse in GF(2^8) followed by the affine map of FIPS-197 5.1.1
    exp, log = [0] * 256, [0] * 256
    x = 1
    for i in range(255):
        exp[i] = x
        log[x] = i
        x ^= _xtime(x)  # multiply by the generator 3
    box = bytearray(256)
    for a in range(256):
        b = exp[(255 - log[a]) % 255] if a else 0
        s = b
        for _ in range(4):
            b = ((b << 1) | (b >> 7)) & 0xFF
            s ^= b
        box[a] = s ^ 0x63
    return bytes(box)


_SBOX = _sbox()
_INV = bytearray(256)
for _i in range(256):
    _INV[_SBOX[_i]] = _i


def _mul(a, b):
    out = 0
    while b:
        if b & 1:
            out ^= a
        a = _xtime(a)
        b >>= 1
    return out


def _expand(key):
    words = bytearray(key)
    rcon = 1
    while len(words) < 176:
        t = bytearray(words[-4:])
        if len(words) % 16 == 0:
            t = bytearray((_SBOX[t[1]] ^ rcon, _SBOX[t[2]], _SBOX[t[3]], _SBOX[t[0]]))
            rcon = _xtime(rcon)
        for i in range(4):
            words.append(words[len(words) - 16] ^ t[i])
    return bytes(words)


class aes:
    def __init__(self, key, mode, iv=None):
        if mode != 1 or len(key) != 16:
            raise ValueError("mode")
        self._keys = _expand(bytes(key))

    def encrypt(self, data):
        out = bytearray()
        for pos in range(0, len(data), 16):
            out += self._block(data[pos:pos + 16])
        return bytes(out)

    def decrypt(self, data):
        out = bytearray()
        for pos in range(0, len(data), 16):
            out += self._inverse(data[pos:pos + 16])
        return bytes(out)

    def _inverse(self, block):
        keys = self._keys
        s = bytearray(16)
        for i in range(16):
            s[i] = block[i] ^ keys[160 + i]
        for r in range(9, -1, -1):
            t = bytearray(16)
            for c in range(4):  # InvShiftRows and InvSubBytes: row i moves right by i columns
                for i in range(4):
                    t[4 * ((c + i) % 4) + i] = _INV[s[4 * c + i]]
            for i in range(16):
                t[i] ^= keys[16 * r + i]
            if r > 0:  # InvMixColumns
                for c in range(4):
                    a0, a1, a2, a3 = t[4 * c], t[4 * c + 1], t[4 * c + 2], t[4 * c + 3]
                    t[4 * c] = _mul(a0, 14) ^ _mul(a1, 11) ^ _mul(a2, 13) ^ _mul(a3, 9)
                    t[4 * c + 1] = _mul(a0, 9) ^ _mul(a1, 14) ^ _mul(a2, 11) ^ _mul(a3, 13)
                    t[4 * c + 2] = _mul(a0, 13) ^ _mul(a1, 9) ^ _mul(a2, 14) ^ _mul(a3, 11)
                    t[4 * c + 3] = _mul(a0, 11) ^ _mul(a1, 13) ^ _mul(a2, 9) ^ _mul(a3, 14)
            s = t
        return bytes(s)

    def _block(self, block):
        keys, box = self._keys, _SBOX
        s = bytearray(16)
        for i in range(16):
            s[i] = block[i] ^ keys[i]
        for r in range(1, 11):
            t = bytearray(16)
            for c in range(4):  # SubBytes and ShiftRows: row i moves left by i columns
                for i in range(4):
                    t[4 * c + i] = box[s[4 * ((c + i) % 4) + i]]
            if r < 10:  # MixColumns
                for c in range(4):
                    a0, a1, a2, a3 = t[4 * c], t[4 * c + 1], t[4 * c + 2], t[4 * c + 3]
                    x = a0 ^ a1 ^ a2 ^ a3
                    t[4 * c] = a0 ^ x ^ _xtime(a0 ^ a1)
                    t[4 * c + 1] = a1 ^ x ^ _xtime(a1 ^ a2)
                    t[4 * c + 2] = a2 ^ x ^ _xtime(a2 ^ a3)
                    t[4 * c + 3] = a3 ^ x ^ _xtime(a3 ^ a0)
            for i in range(16):
                s[i] = t[i] ^ keys[16 * r + i]
        return bytes(s)
