"""STS framing primitives against the published vectors (runs on MicroPython too)."""

import binascii
import json

from protocol.crc16 import crc16_modbus
from protocol.sts_amount import MAX_TENTHS, decode_amount, encode_amount
from protocol.sts_token import buffer_to_digits, crc_matches, digits_to_buffer, seal, transpose

_DIR = __file__.rsplit("/", 1)[0]


def _primitives():
    with open(_DIR + "/../vectors/sts_primitives.json") as f:
        return json.load(f)


def test_crc16_vector_and_stored_byte_order():
    for case in _primitives()["crc16"]:
        data = binascii.unhexlify(case["input_7_bytes"])
        crc = crc16_modbus(data)
        assert "%04x" % crc == case["crc16_modbus"]
        assert "%02x%02x" % (crc & 0xFF, crc >> 8) == case["stored_field"]


def test_crc_of_stsa_public_example():
    ex = _primitives()["crc16_stsa_public_example"]
    tid = ex["tid_minutes"]
    block = bytearray(8)
    block[0] = (ex["subclass"] << 4) | ex["rnd"]
    block[1], block[2], block[3] = tid >> 16, (tid >> 8) & 0xFF, tid & 0xFF
    amount = int(ex["amount_field_hex"], 16)
    block[4], block[5] = amount >> 8, amount & 0xFF
    seal(ex["class"], block)
    assert "%02x%02x" % (block[6], block[7]) == ex["crc_field_hex"]
    assert crc_matches(ex["class"], block)
    block[3] ^= 1
    assert not crc_matches(ex["class"], block)


def test_amount_round_up_table():
    for case in _primitives()["amount_encoding_roundup"]:
        field = encode_amount(case["tenths"])
        assert "%04x" % field == case["field"], case
        assert decode_amount(field) == case["decodes_to"]
        assert decode_amount(field) >= case["tenths"]


def test_amount_band_boundaries_round_trip():
    for tenths in (0, 1, 16383, 16384, 16385, 180214, 180215, 180223, 180224, 180225,
                   1818523, 1818524, 1818525, 1818623, 1818624, 1818625, MAX_TENTHS - 1, MAX_TENTHS):
        field = encode_amount(tenths)
        value = decode_amount(field)
        assert value >= tenths
        # Exact where the band's step allows it; never more than one step above.
        step = (1, 10, 100, 1000)[field >> 14]
        assert value - tenths < step


def test_amount_out_of_range_raises():
    for bad in (-1, MAX_TENTHS + 1):
        try:
            encode_amount(bad)
        except ValueError as exc:
            assert "amount" in str(exc)
        else:
            raise AssertionError("no error for %d" % bad)


def test_digits_round_trip_and_transposition():
    buf = bytearray(9)
    for code in ("00000000000000000000", "73786976294838206463", "12345678901234567890",
                 "00383912203740575049"):
        assert digits_to_buffer(code, buf)
        assert buffer_to_digits(buf) == code
        before = bytes(buf)
        transpose(buf)
        transpose(buf)
        assert bytes(buf) == before


def test_format_errors():
    buf = bytearray(9)
    for bad in ("", "1234", "0000000000000000000", "000000000000000000000",
                "0000000000000000000a", "73786976294838206464", "99999999999999999999",
                "1234567890123456789 ", "-1234567890123456789"):
        assert not digits_to_buffer(bad, buf), bad


def test_class1_vectors_unencrypted():
    with open(_DIR + "/../vectors/sts_ea11_dkga04.json") as f:
        vectors = json.load(f)["vectors"]
    buf = bytearray(9)
    seen = 0
    for v in vectors:
        if v["token_class"] != 1:
            continue
        assert digits_to_buffer(v["token"], buf)
        transpose(buf)
        assert buf[0] == 1
        block = buf[1:9]
        assert block[0] >> 4 == v["token_subclass"]
        assert crc_matches(1, block)
        seen += 1
    assert seen == 18
