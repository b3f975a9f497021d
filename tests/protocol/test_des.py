"""DES against published known-answer vectors, plus its algebraic properties (runs on MicroPython too)."""

import binascii

from tests.protocol import cipher_checks as checks
from protocol.des import Des

# (key, plaintext, ciphertext), hex.
_VECTORS = (
    # J. Orlin Grabbe's widely reproduced worked example, "The DES Algorithm Illustrated".
    ("133457799BBCDFF1", "0123456789ABCDEF", "85E813540F0AB405"),
    # FIPS 81 appendix B, ECB mode, first block of "Now is the time for all ".
    ("0123456789ABCDEF", "4E6F772069732074", "3FA40E8A984D4815"),
    # NBS SP 500-20 variable-plaintext test, first entries (weak key 01..01).
    ("0101010101010101", "8000000000000000", "95F8A5E5DD31D900"),
    ("0101010101010101", "4000000000000000", "DD7F121CA5015619"),
    ("0101010101010101", "2000000000000000", "2E8653104F3834EA"),
    # NBS SP 500-20 variable-key test, first entries.
    ("8001010101010101", "0000000000000000", "95A8D72813DAA94D"),
    ("4001010101010101", "0000000000000000", "0EEC1487DD8C26D5"),
    # All-zero and all-one key and block.
    ("0000000000000000", "0000000000000000", "8CA64DE9C1B123A7"),
    ("FFFFFFFFFFFFFFFF", "FFFFFFFFFFFFFFFF", "7359B2163E4EDC58"),
)

_WEAK_KEYS = ("0101010101010101", "FEFEFEFEFEFEFEFE", "E0E0E0E0F1F1F1F1", "1F1F1F1F0E0E0E0E")


def _vectors():
    return [[binascii.unhexlify(h) for h in case] for case in _VECTORS]


def _complement(data):
    return bytes(b ^ 0xFF for b in data)


def test_known_answer_encrypt():
    for key, plaintext, ciphertext in _vectors():
        assert Des(key).encrypt(plaintext) == ciphertext


def test_known_answer_decrypt():
    for key, plaintext, ciphertext in _vectors():
        assert Des(key).decrypt(ciphertext) == plaintext


def test_parity_bits_are_ignored():
    for key, plaintext, ciphertext in _vectors():
        flipped = bytes(b ^ 1 for b in key)
        assert Des(flipped).encrypt(plaintext) == ciphertext


def test_complementation_property():
    # A structural property of DES: E(~k, ~p) == ~E(k, p).
    for key, plaintext, ciphertext in _vectors():
        assert Des(_complement(key)).encrypt(_complement(plaintext)) == _complement(ciphertext)


def test_weak_keys_encrypt_twice_to_identity():
    block = binascii.unhexlify("0123456789ABCDEF")
    for key in _WEAK_KEYS:
        cipher = Des(binascii.unhexlify(key))
        assert cipher.encrypt(cipher.encrypt(block)) == block
        assert cipher.decrypt(block) == cipher.encrypt(block)


def test_in_place_calls_match_the_copying_ones():
    checks.in_place_calls_match_the_copying_ones(Des, _vectors())


def test_decrypt_into_does_not_allocate():
    checks.decrypt_into_does_not_allocate(Des, _vectors()[0])


def test_round_trip_over_a_chain_of_keys_and_blocks():
    checks.round_trip_over_a_chain(Des, _vectors()[0][0], _vectors()[0][1])


def test_rejects_wrong_key_and_block_lengths():
    checks.rejects_wrong_lengths(Des, 8)
