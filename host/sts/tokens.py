"""Build and parse 20-digit STS tokens on the host."""

from opsm.protocol.sts_amount import decode_amount, encode_amount
from opsm.protocol.sts_token import buffer_to_digits, crc_matches, digits_to_buffer, seal, transpose

from opsm.host.sts.ciphers import decrypt_block, encrypt_block
from opsm.host.sts.layout import TID_BLOCK, layout_for

TID_MAX = (1 << 24) - 1
# Class/subclass pairs whose value field is an amount (0.1 kWh, or W for limits).
AMOUNT_FIELDS = {(0, 0), (0, 1), (0, 2), (2, 0), (2, 6)}
NAMES = {
    (0, 0): "credit electricity", (0, 1): "credit water", (0, 2): "credit gas",
    (0, 3): "credit time", (1, 0): "test/display (2-digit manufacturer)",
    (1, 1): "test/display (4-digit manufacturer)", (2, 0): "set max power limit",
    (2, 1): "clear credit", (2, 2): "set tariff rate", (2, 3): "key change 1",
    (2, 4): "key change 2", (2, 5): "clear tamper", (2, 6): "set phase unbalance limit",
    (2, 8): "key change 3", (2, 9): "key change 4",
}


def build(token_class: int, fields: dict, ea: int = 11, key: bytes = b"") -> str:
    """Lay out, seal, encrypt (not class 1) and transpose one token."""
    if token_class not in (0, 1, 2):
        raise ValueError("class: must be 0, 1 or 2, got %d" % token_class)
    layout = layout_for(token_class, fields["subclass"])
    try:
        block = bytearray(layout.build(dict(fields, crc=0)))
    except Exception as exc:  # construct names the field that does not fit
        raise ValueError("token field out of range: %s" % exc) from None
    seal(token_class, block)
    cipher_block = bytes(block) if token_class == 1 else encrypt_block(ea, key, bytes(block))
    buf = bytearray((token_class,)) + cipher_block
    transpose(buf)
    return buffer_to_digits(buf)


def tid_token(token_class: int, subclass: int, tid: int, value_field: int, random: int,
              ea: int, key: bytes) -> str:
    if not 0 <= tid <= TID_MAX:
        raise ValueError("tid: must be 0..%d minutes, got %d" % (TID_MAX, tid))
    if not 0 <= value_field <= 0xFFFF:
        raise ValueError("value-field: must be 16 bits (0000..FFFF)")
    if not 0 <= random <= 15:
        raise ValueError("random: must be 0..15, got %d" % random)
    fields = dict(subclass=subclass, random=random, tid=tid, value=value_field)
    return build(token_class, fields, ea, key)


def amount_token(token_class: int, subclass: int, tid: int, tenths: int, random: int,
                 ea: int, key: bytes) -> str:
    """A token whose value is an amount, rounded up to what the field can carry."""
    return tid_token(token_class, subclass, tid, encode_amount(tenths), random, ea, key)


def meter_test_token(subclass: int, mfr: int, control: int) -> str:
    """Class 1 test/display token (not encrypted)."""
    return build(1, dict(subclass=subclass, mfr=mfr, control=control))


def key_change_set(ea: int, old_key: bytes, new_key: bytes, krn: int, kt: int, ti: int,
                   ken: int = 255, rollover: bool = False, sgc: int = 0) -> list:
    """The key change tokens that install new_key, all encrypted with old_key.

    A 64-bit key needs sections 1 and 2; a 128-bit MISTY1 key also 3 and 4
    (key order NKHO | NKMO2 | NKMO1 | NKLO, supply group code split in 12-bit halves).
    """
    if len(new_key) != len(old_key):
        raise ValueError("new-key: must be %d bytes like the current key" % len(old_key))
    if not 1 <= kt <= 3:
        raise ValueError("kt: a key change installs key type 1, 2 or 3, got %d" % kt)
    if not 0 <= ken <= 255:
        raise ValueError("ken: key expiry number must be 0..255, got %d" % ken)
    if not 0 <= krn <= 15:
        raise ValueError("krn: key revision number must be 0..15, got %d" % krn)
    if not 0 <= ti <= 255:
        raise ValueError("ti: tariff index must be 0..255, got %d" % ti)
    words = [int.from_bytes(new_key[i:i + 4], "big") for i in range(0, len(new_key), 4)]
    sections = [
        (3, dict(kenho=ken >> 4, krn=krn, ro=rollover, res=False, kt=kt, nkho=words[0])),
        (4, dict(kenlo=ken & 0x0F, ti=ti, nklo=words[-1])),
    ]
    if len(words) == 4:
        if not 0 <= sgc < 1 << 24:
            raise ValueError("sgc: must fit 24 bits, got %d" % sgc)
        sections.append((8, dict(sgc_half=sgc & 0xFFF, key_bits=words[1])))
        sections.append((9, dict(sgc_half=sgc >> 12, key_bits=words[2])))
    return [build(2, dict(fields, subclass=sub), ea, old_key) for sub, fields in sections]


def parse(token: str, ea: int = 11, key: bytes = b"") -> dict:
    """Decode a token's fields; crc_ok says whether key and digits agree."""
    buf = bytearray(9)
    if not digits_to_buffer(token, buf):
        raise ValueError("token: must be 20 digits below 2^66, got %r" % token)
    transpose(buf)
    token_class = buf[0]
    if token_class == 3:
        raise ValueError("token: class 3 is reserved")
    block = bytes(buf[1:9])
    if token_class != 1:
        if not key:
            raise ValueError("decoder-key: needed to parse a class %d token" % token_class)
        block = decrypt_block(ea, key, block)
    subclass = block[0] >> 4
    out = {"class": token_class, "subclass": subclass,
           "type": NAMES.get((token_class, subclass), "unknown"),
           "crc_ok": crc_matches(token_class, block)}
    try:
        fields = layout_for(token_class, subclass).parse(block)
    except ValueError:
        fields = TID_BLOCK.parse(block)
    for name, value in fields.items():
        if name.startswith("_") or name in ("subclass", "crc"):
            continue
        out[name] = value
    if "value" in out:
        out["value_field"] = "%04x" % out.pop("value")
        if (token_class, subclass) in AMOUNT_FIELDS:
            tenths = decode_amount(int(out["value_field"], 16))
            out["amount_tenths"] = tenths
            if (token_class, subclass) == (0, 0):
                out["kwh"] = tenths / 10
    if "control" in out:
        out["control"] = "%x" % out["control"]
    for name in ("nkho", "nklo", "key_bits"):
        if name in out:
            out[name] = "%08x" % out[name]
    return out
