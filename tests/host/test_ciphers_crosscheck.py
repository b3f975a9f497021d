"""The meter-side ciphers on CPython: DES against `cryptography`, MISTY1 round trips."""

import binascii
import json
import pathlib

from cryptography.hazmat.primitives.ciphers import Cipher, modes
from hypothesis import given, settings
from hypothesis import strategies as st

try:
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # cryptography < 43
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES

from opsm.protocol.des import Des
from opsm.protocol.misty1 import Misty1

VECTORS = pathlib.Path(__file__).resolve().parents[1] / "vectors" / "sts_primitives.json"

blocks = st.binary(min_size=8, max_size=8)
des_keys = st.binary(min_size=8, max_size=8)
misty1_keys = st.binary(min_size=16, max_size=16)


def _reference_des(key: bytes) -> Cipher:
    # Three equal keys make 3DES single DES; cryptography deprecates bare 8-byte keys.
    return Cipher(TripleDES(key * 3), modes.ECB())


@settings(max_examples=500, deadline=None)
@given(des_keys, blocks)
def test_des_encrypt_matches_cryptography(key, block):
    reference = _reference_des(key).encryptor()
    assert Des(key).encrypt(block) == reference.update(block) + reference.finalize()


@settings(max_examples=500, deadline=None)
@given(des_keys, blocks)
def test_des_decrypts_cryptography_ciphertext(key, block):
    reference = _reference_des(key).encryptor()
    buf = bytearray(reference.update(block) + reference.finalize())
    Des(key).decrypt_into(buf)
    assert buf == block


@settings(max_examples=500, deadline=None)
@given(des_keys, blocks)
def test_des_decrypt_matches_cryptography(key, block):
    reference = _reference_des(key).decryptor()
    assert Des(key).decrypt(block) == reference.update(block) + reference.finalize()


@settings(max_examples=500, deadline=None)
@given(misty1_keys, blocks)
def test_misty1_round_trip(key, block):
    cipher = Misty1(key)
    assert cipher.decrypt(cipher.encrypt(block)) == block
    assert cipher.encrypt(cipher.decrypt(block)) == block


def test_misty1_rfc2994_vectors():
    cases = json.loads(VECTORS.read_text())["misty1_rfc2994"]
    assert cases
    for case in cases:
        key, plaintext, ciphertext = (binascii.unhexlify(case[n]) for n in ("key", "plaintext", "ciphertext"))
        assert Misty1(key).encrypt(plaintext) == ciphertext
        assert Misty1(key).decrypt(ciphertext) == plaintext
