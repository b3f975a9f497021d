"""Declarative layouts of the 64-bit STS data block (before encryption), with construct.

The meter extracts the same fields with shifts on bytes (protocol/sts_decoder.py);
these independent declarations build tokens on the host and cross-check the meter.
"""

from construct import BitsInteger, BitStruct, Flag, Nibble

# Class 0 (credit) and class 2 value tokens: RND | TID | value.
TID_BLOCK = BitStruct("subclass" / Nibble, "random" / Nibble, "tid" / BitsInteger(24),
                      "value" / BitsInteger(16), "crc" / BitsInteger(16))
# Key change token 1: KENHO | KRN | RO | RES (3KCT) | KT | NKHO.
KCT1_BLOCK = BitStruct("subclass" / Nibble, "kenho" / Nibble, "krn" / Nibble, "ro" / Flag,
                       "res" / Flag, "kt" / BitsInteger(2), "nkho" / BitsInteger(32),
                       "crc" / BitsInteger(16))
# Key change token 2: KENLO | TI | NKLO.
KCT2_BLOCK = BitStruct("subclass" / Nibble, "kenlo" / Nibble, "ti" / BitsInteger(8),
                       "nklo" / BitsInteger(32), "crc" / BitsInteger(16))
# Key change tokens 3 and 4 (128-bit keys): half of the SGC | 32 key bits.
KCT34_BLOCK = BitStruct("subclass" / Nibble, "sgc_half" / BitsInteger(12),
                        "key_bits" / BitsInteger(32), "crc" / BitsInteger(16))
# Class 1 test/display: control bits, then a 2-digit (subclass 0) or 4-digit (subclass 1)
# manufacturer code.
TEST0_BLOCK = BitStruct("subclass" / Nibble, "control" / BitsInteger(36),
                        "mfr" / BitsInteger(8), "crc" / BitsInteger(16))
TEST1_BLOCK = BitStruct("subclass" / Nibble, "control" / BitsInteger(28),
                        "mfr" / BitsInteger(16), "crc" / BitsInteger(16))

KEY_CHANGE_SUBCLASSES = {3: KCT1_BLOCK, 4: KCT2_BLOCK, 8: KCT34_BLOCK, 9: KCT34_BLOCK}


def layout_for(token_class: int, subclass: int):
    """The layout of a class/subclass; ValueError for what we do not issue."""
    if token_class == 1 and subclass in (0, 1):
        return TEST0_BLOCK if subclass == 0 else TEST1_BLOCK
    if token_class == 2 and subclass in KEY_CHANGE_SUBCLASSES:
        return KEY_CHANGE_SUBCLASSES[subclass]
    if token_class in (0, 2) and 0 <= subclass <= 15:
        return TID_BLOCK
    raise ValueError("class/subclass: no layout for class %d subclass %d" % (token_class, subclass))
