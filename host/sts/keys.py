"""Decoder key derivation at the vending side: DKGA-02 (DES) and DKGA-04 (HMAC-SHA-256).

The meter never derives keys; it receives them through key change tokens.
"""

import hashlib
import hmac

from opsm.host.sts.ciphers import des_encrypt

BASE_DATE_CODES = {1993: "93", 2014: "14", 2035: "35"}


def luhn_digit(digits: str) -> int:
    """Luhn (mod 10) check digit for a string of digits."""
    total = 0
    for i, ch in enumerate(reversed(digits)):
        d = int(ch) * (2 if i % 2 == 0 else 1)
        total += d - 9 if d > 9 else d
    return (10 - total % 10) % 10


def check_pan(pan: str) -> str:
    """Validate an 18-digit meter PAN (IIN + DRN + Luhn check digit)."""
    if len(pan) != 18 or not pan.isdigit():
        raise ValueError("pan: must be 18 digits (IIN + DRN + check digit), got %r" % pan)
    if luhn_digit(pan[:17]) != int(pan[17]):
        raise ValueError("pan: check digit %s is wrong (Luhn gives %d)" % (pan[17], luhn_digit(pan[:17])))
    return pan


def check_key_params(sgc: str, ti: int, krn: int, kt: int) -> None:
    if len(sgc) != 6 or not sgc.isdigit():
        raise ValueError("sgc: supply group code must be 6 digits, got %r" % sgc)
    if not 0 <= ti <= 99:
        raise ValueError("ti: tariff index must be 0..99, got %d" % ti)
    if not 1 <= krn <= 9:
        raise ValueError("krn: key revision number must be 1..9, got %d" % krn)
    if not 0 <= kt <= 3:
        raise ValueError("kt: key type must be 0..3, got %d" % kt)


def dkga02(vending_key: bytes, pan: str, sgc: str, ti: int, krn: int, kt: int) -> bytes:
    """DKGA-02: DK = DES_VK(PANblock ^ CB) ^ (PANblock ^ CB) ^ VK, 8 bytes."""
    if len(vending_key) != 8:
        raise ValueError("vending-key: DKGA-02 needs an 8-byte DES key, got %d bytes" % len(vending_key))
    check_pan(pan)
    check_key_params(sgc, ti, krn, kt)
    # The PAN block drops the IIN's first digit and the check digit; a common key
    # (KT 3) is not tied to one meter, so its DRN part is zeros.
    pan_block = pan[1:6] + ("0" * 11 if kt == 3 else pan[6:17])
    control = "%x%s%02d%xffffff" % (kt, sgc, ti, krn)
    x = bytes(a ^ b for a, b in zip(bytes.fromhex(pan_block), bytes.fromhex(control)))
    return bytes(a ^ b ^ c for a, b, c in zip(des_encrypt(vending_key, x), x, vending_key))


def _lv(text: str) -> bytes:
    raw = text.encode()
    return bytes((len(raw),)) + raw


def dkga04(vending_key: bytes, pan: str, sgc: str, ti: int, krn: int, kt: int,
           base_year: int = 1993, ea: int = 11) -> bytes:
    """DKGA-04: one-block SP 800-108-style KDF with HMAC-SHA-256 over the key parameters.

    EA07 keys derive too (the derivation is public), though no STA cipher is shipped.
    """
    check_pan(pan)
    check_key_params(sgc, ti, krn, kt)
    if base_year not in BASE_DATE_CODES:
        raise ValueError("base-date: must be 1993, 2014 or 2035, got %d" % base_year)
    if ea not in (7, 9, 11):
        raise ValueError("ea: must be 07 (STA), 09 (DES) or 11 (MISTY1), got %d" % ea)
    if len(vending_key) < 16:
        raise ValueError("vending-key: DKGA-04 needs at least 16 bytes, got %d" % len(vending_key))
    bits = 128 if ea == 11 else 64
    message = (b"\x04" + _lv("04") + _lv(BASE_DATE_CODES[base_year]) + _lv("%02d" % ea)
               + _lv("%02d" % ti) + b"\x00" + b"\x04" + _lv(sgc) + _lv("%X" % kt)
               + _lv("%X" % krn) + _lv(pan) + bits.to_bytes(4, "big"))
    return hmac.new(vending_key, message, hashlib.sha256).digest()[:bits // 8]
