"""MISTY1 against the RFC 2994 vectors, plus round trips (runs on MicroPython too)."""

import binascii
import json
import sys

from protocol.misty1 import _S7, _S9, Misty1

_DIR = __file__.rsplit("/", 1)[0]


def _vectors():
    with open(_DIR + "/../vectors/sts_primitives.json") as f:
        cases = json.load(f)["misty1_rfc2994"]
    return [[binascii.unhexlify(c[n]) for n in ("key", "plaintext", "ciphertext")] for c in cases]


def _raises_value_error(fn, arg):
    try:
        fn(arg)
    except ValueError:
        return True
    return False


def test_rfc2994_encrypt():
    for key, plaintext, ciphertext in _vectors():
        assert Misty1(key).encrypt(plaintext) == ciphertext


def test_rfc2994_decrypt():
    for key, plaintext, ciphertext in _vectors():
        assert Misty1(key).decrypt(ciphertext) == plaintext


def test_in_place_calls_match_the_copying_ones():
    for key, plaintext, ciphertext in _vectors():
        cipher = Misty1(key)
        buf = bytearray(plaintext)
        cipher.encrypt_into(buf)
        assert buf == ciphertext
        cipher.decrypt_into(buf)
        assert buf == plaintext


def test_decrypt_into_does_not_allocate():
    key, plaintext, ciphertext = _vectors()[0]
    cipher = Misty1(key)
    buf = bytearray(ciphertext)
    if sys.implementation.name == "micropython":
        import micropython

        micropython.heap_lock()
        try:
            cipher.decrypt_into(buf)
        finally:
            micropython.heap_unlock()
    else:
        cipher.decrypt_into(buf)
    assert buf == plaintext


def test_round_trip_over_a_chain_of_keys_and_blocks():
    # The cipher's own output serves as varied keys and blocks, no PRNG needed.
    key, block, _ = _vectors()[0]
    for _ in range(8):
        cipher = Misty1(key)
        chain = [block]
        for _ in range(16):
            chain.append(cipher.encrypt(chain[-1]))
        for i in range(16, 0, -1):
            assert cipher.decrypt(chain[i]) == chain[i - 1]
        key = chain[-1] + chain[-2]
        block = chain[-3]


def test_s_boxes_are_permutations():
    # Any typo in the transcribed RFC tables would break this.
    assert sorted(_S7) == list(range(128))
    assert sorted(_S9) == list(range(512))


def test_rejects_wrong_key_length():
    assert _raises_value_error(Misty1, bytes(15))
    assert _raises_value_error(Misty1, bytes(17))


def test_rejects_wrong_block_length():
    cipher = Misty1(bytes(16))
    assert _raises_value_error(cipher.decrypt_into, bytearray(7))
    assert _raises_value_error(cipher.encrypt, bytes(9))
