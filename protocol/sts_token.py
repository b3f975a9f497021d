"""STS 20-digit token framing (IEC 62055-41 public layout), on bytes.

A token is 66 bits: 2-bit class then a 64-bit block, with the class bits
exchanged with bits 28 and 27 of the block, written as 20 decimal digits.
The block, before encryption, is subclass (4) | payload (44) | CRC field (16).
Everything works on a 9-byte big-endian buffer so a 32-bit board never needs
an integer above 2**30.
"""

from .crc16 import CRC16_INIT, crc16_modbus, crc16_update

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

_TOKEN_DIGITS = const(20)
# (byte index, mask) in the 9-byte buffer of bits 65, 64 (class) and 28, 27.
_CLASS_HI = const((0, 0x02))
_CLASS_LO = const((0, 0x01))
_SWAP_HI = const((5, 0x10))
_SWAP_LO = const((5, 0x08))


def _swap_bit(buf, a, b) -> None:
    bit_a = buf[a[0]] & a[1]
    bit_b = buf[b[0]] & b[1]
    if (not bit_a) != (not bit_b):
        buf[a[0]] ^= a[1]
        buf[b[0]] ^= b[1]


def transpose(buf) -> None:
    """Exchange the class bits with bits 28 and 27 (its own inverse), in place."""
    _swap_bit(buf, _CLASS_HI, _SWAP_HI)
    _swap_bit(buf, _CLASS_LO, _SWAP_LO)


def digits_to_buffer(code: str, buf) -> bool:
    """Parse 20 decimal digits into the 9-byte buffer as the 66-bit number.

    Returns False (buffer content undefined) for a FORMAT error: wrong length,
    a non-digit, or a number of 2**66 or more.
    """
    if len(code) != _TOKEN_DIGITS:
        return False
    for i in range(9):
        buf[i] = 0
    for ch in code:
        digit = ord(ch) - 48
        if digit < 0 or digit > 9:
            return False
        carry = digit
        for i in range(8, -1, -1):  # buf = buf * 10 + digit
            carry += buf[i] * 10
            buf[i] = carry & 0xFF
            carry >>= 8
    return buf[0] < 4


def buffer_to_digits(buf) -> str:
    """The 9-byte buffer as 20 zero-padded decimal digits (host side)."""
    return "%020d" % int.from_bytes(bytes(buf), "big")


def _block_crc(token_class: int, block) -> int:
    return crc16_modbus(block, 0, 6, crc16_update(CRC16_INIT, token_class))


def crc_matches(token_class: int, block) -> bool:
    """Check the CRC field of a plain block (8 bytes).

    The CRC covers class | subclass | payload, right-aligned in 7 bytes, which is
    exactly [class] + block[0:6]; the field stores the CRC low byte first.
    """
    crc = _block_crc(token_class, block)
    return block[6] == crc & 0xFF and block[7] == crc >> 8


def seal(token_class: int, block) -> None:
    """Write the CRC field of a plain block (host side: building tokens)."""
    crc = _block_crc(token_class, block)
    block[6] = crc & 0xFF
    block[7] = crc >> 8
