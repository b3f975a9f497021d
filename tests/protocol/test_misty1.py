"""MISTY1 against the RFC 2994 vectors, plus round trips (runs on MicroPython too)."""

import binascii
import json

from tests.protocol import cipher_checks as checks
from protocol.misty1 import _S7, Misty1, _s9

_DIR = __file__.rsplit("/", 1)[0]


def _vectors():
    with open(_DIR + "/../vectors/sts_primitives.json") as f:
        cases = json.load(f)["misty1_rfc2994"]
    return [[binascii.unhexlify(c[n]) for n in ("key", "plaintext", "ciphertext")] for c in cases]


def test_rfc2994_encrypt():
    for key, plaintext, ciphertext in _vectors():
        assert Misty1(key).encrypt(plaintext) == ciphertext


def test_rfc2994_decrypt():
    for key, plaintext, ciphertext in _vectors():
        assert Misty1(key).decrypt(ciphertext) == plaintext


def test_s_boxes_are_permutations():
    # Any typo in the transcribed RFC tables would break this.
    assert sorted(_S7) == list(range(128))
    assert sorted([_s9(x) for x in range(512)]) == list(range(512))


def test_in_place_calls_match_the_copying_ones():
    checks.in_place_calls_match_the_copying_ones(Misty1, _vectors())


def test_decrypt_into_does_not_allocate():
    checks.decrypt_into_does_not_allocate(Misty1, _vectors()[0])


def test_round_trip_over_a_chain_of_keys_and_blocks():
    checks.round_trip_over_a_chain(Misty1, _vectors()[0][0], _vectors()[0][1])


def test_rejects_wrong_key_and_block_lengths():
    checks.rejects_wrong_lengths(Misty1, 16)
