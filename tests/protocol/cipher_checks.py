"""Checks every 64-bit block cipher of the meter must pass (MicroPython and CPython)."""


from tests.asserts import raises_value_error
from tests.nogc import without_allocation


def in_place_calls_match_the_copying_ones(cipher_class, vectors):
    for key, plaintext, ciphertext in vectors:
        cipher = cipher_class(key)
        buf = bytearray(plaintext)
        cipher.encrypt_into(buf)
        assert buf == ciphertext
        cipher.decrypt_into(buf)
        assert buf == plaintext


def decrypt_into_does_not_allocate(cipher_class, vector):
    key, plaintext, ciphertext = vector
    cipher = cipher_class(key)
    buf = bytearray(ciphertext)
    without_allocation(lambda: cipher.decrypt_into(buf))
    assert buf == plaintext


def round_trip_over_a_chain(cipher_class, key, block):
    """The cipher's own output serves as varied keys and blocks, no PRNG needed."""
    for _ in range(8):
        cipher = cipher_class(key)
        chain = [block]
        for _ in range(16):
            chain.append(cipher.encrypt(chain[-1]))
        for i in range(16, 0, -1):
            assert cipher.decrypt(chain[i]) == chain[i - 1]
        key = (chain[-1] + chain[-2])[:len(key)]
        block = chain[-3]


def rejects_wrong_lengths(cipher_class, key_size):
    assert raises_value_error(cipher_class, bytes(key_size - 1))
    assert raises_value_error(cipher_class, bytes(key_size + 1))
    cipher = cipher_class(bytes(key_size))
    assert raises_value_error(cipher.decrypt_into, bytearray(7))
    assert raises_value_error(cipher.encrypt, bytes(9))
