"""AES-GCM against the McGrew-Viega / NIST test cases for AES-128, 96-bit IV (runs on MicroPython too)."""

import binascii

from protocol import aes, gcm
from tests.asserts import flipped, raises

_K3 = "feffe9928665731c6d6a8f9467308308"
_IV3 = "cafebabefacedbaddecaf888"
_P3 = ("d9313225f88406e5a55909c5aff5269a86a7a9531534f7da2e4c303d8a318a72"
       "1c3c0c95956809532fcf0e2449a6b525b16aedf5aa0de657ba637b391aafd255")
_C3 = ("42831ec2217774244b7221b784d0d49ce3aa212f2c02a4e035c17e2329aca12e"
       "21d514b25466931c7d8f6a5aac84aa051ba30b396a0aac973d58e091473f5985")

# (key, iv, plaintext, aad, ciphertext, 16-byte tag), hex: "The Galois/Counter Mode of
# Operation (GCM)", McGrew and Viega, test cases 1-4.
_CASES = (
    ("00000000000000000000000000000000", "000000000000000000000000", "", "", "",
     "58e2fccefa7e3061367f1d57a4e7455a"),
    ("00000000000000000000000000000000", "000000000000000000000000", "00000000000000000000000000000000", "",
     "0388dace60b6a392f328c2b971b2fe78", "ab6e47d42cec13bdf53a67b21257bddf"),
    (_K3, _IV3, _P3, "", _C3, "4d5c2af327cd64a62cf35abd2ba6fab4"),
    (_K3, _IV3, _P3[:120], "feedfacedeadbeeffeedfacedeadbeefabaddad2", _C3[:120],
     "5bc94fbc3221a5db94fae95ae7121a47"),
)


def _cases():
    return [[binascii.unhexlify(h) for h in case] for case in _CASES]


def test_aes_block_known_answer():
    # FIPS 197 appendix C.1, and AES-128 of the zero block under the zero key (GCM's H in case 1).
    block = aes.new(binascii.unhexlify("000102030405060708090a0b0c0d0e0f"))
    assert block.encrypt_block(binascii.unhexlify("00112233445566778899aabbccddeeff")) == \
        binascii.unhexlify("69c4e0d86a7b0430d8cdb78070b4c55a")
    assert aes.new(bytes(16)).encrypt_block(bytes(16)) == binascii.unhexlify("66e94bd4ef8a2c3b884cfa59ca342b2e")


def test_aes_rejects_wrong_sizes():
    assert raises(ValueError, aes.new, bytes(15))
    assert raises(ValueError, aes.new(bytes(16)).encrypt_block, bytes(15))


def test_encrypt_known_answer():
    for key, iv, plaintext, aad, ciphertext, tag in _cases():
        assert gcm.encrypt(key, iv, plaintext, aad, 16) == (ciphertext, tag)


def test_decrypt_known_answer():
    for key, iv, plaintext, aad, ciphertext, tag in _cases():
        assert gcm.decrypt(key, iv, ciphertext, aad, tag) == plaintext


def test_truncated_tags_are_prefixes():
    key, iv, plaintext, aad, ciphertext, tag = _cases()[3]
    for tag_len in gcm.TAG_LENGTHS:
        assert gcm.encrypt(key, iv, plaintext, aad, tag_len) == (ciphertext, tag[:tag_len])
        assert gcm.decrypt(key, iv, ciphertext, aad, tag[:tag_len]) == plaintext


def test_default_tag_is_twelve_bytes():
    key, iv, plaintext, aad, ciphertext, tag = _cases()[3]
    assert gcm.encrypt(key, iv, plaintext, aad)[1] == tag[:12]


def test_gmac_is_encrypt_of_nothing():
    key, iv, plaintext, aad, ciphertext, tag = _cases()[3]
    assert gcm.gmac(key, iv, aad + plaintext, 16) == gcm.encrypt(key, iv, b"", aad + plaintext, 16)[1]
    assert gcm.gmac(key, iv, b"", 16) == gcm.encrypt(key, iv, b"", b"", 16)[1]


def test_ctr_is_the_ciphertext_and_its_own_inverse():
    for key, iv, plaintext, aad, ciphertext, tag in _cases():
        assert gcm.ctr(key, iv, plaintext) == ciphertext
        assert gcm.ctr(key, iv, ciphertext) == plaintext


def test_tamper_is_refused():
    key, iv, plaintext, aad, ciphertext, tag = _cases()[3]
    tag = tag[:12]
    for i in (0, 31, len(ciphertext) - 1):
        assert raises(gcm.AuthenticationError, gcm.decrypt, key, iv, flipped(ciphertext, i), aad, tag)
    for i in (0, len(aad) - 1):
        assert raises(gcm.AuthenticationError, gcm.decrypt, key, iv, ciphertext, flipped(aad, i), tag)
    for i in (0, 11):
        assert raises(gcm.AuthenticationError, gcm.decrypt, key, iv, ciphertext, aad, flipped(tag, i))
    assert raises(gcm.AuthenticationError, gcm.decrypt, key, flipped(iv, 11), ciphertext, aad, tag)
    assert raises(gcm.AuthenticationError, gcm.decrypt, flipped(key, 0), iv, ciphertext, aad, tag)
    assert raises(gcm.AuthenticationError, gcm.decrypt, key, iv, ciphertext[:-1], aad, tag)


def test_objects_and_functions_agree_across_keys():
    # The functions cache the last key's context: alternating keys must not mix them up.
    cases = _cases()
    for _ in range(2):
        for key, iv, plaintext, aad, ciphertext, tag in cases:
            assert gcm.encrypt(key, iv, plaintext, aad, 16)[1] == tag
            assert gcm.Gcm(key).encrypt(iv, plaintext, aad, 16) == (ciphertext, tag)


def test_bad_parameters_are_value_errors():
    key, iv = bytes(16), bytes(12)
    assert raises(ValueError, gcm.encrypt, key, bytes(16), b"", b"")
    assert raises(ValueError, gcm.encrypt, key, iv, b"", b"", 11)
    assert raises(ValueError, gcm.encrypt, key, iv, b"", b"", 17)
    assert raises(ValueError, gcm.decrypt, key, iv, b"", b"", bytes(3))
    assert raises(ValueError, gcm.ctr, key, bytes(8), b"x")
    assert raises(ValueError, gcm.encrypt, bytes(24), iv, b"", b"")


def test_accepts_bytearray_and_memoryview():
    key, iv, plaintext, aad, ciphertext, tag = _cases()[3]
    result = gcm.encrypt(bytearray(key), bytearray(iv), memoryview(plaintext), bytearray(aad), 16)
    assert result == (ciphertext, tag)
