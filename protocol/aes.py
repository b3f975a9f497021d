"""AES-128 single-block encryption: the one primitive GCM needs.

On MicroPython (boards and the unix port) this is the built-in `cryptolib`, C code
that is far faster than any AES written in Python; on CPython it is `cryptography`.
The choice is made once, at import time.

Usage: ``new(key).encrypt_block(block16)`` returns the 16-byte ciphertext.
"""

try:
    import cryptolib

    def _ecb(key: bytes):
        return cryptolib.aes(key, 1).encrypt  # mode 1: ECB

except ImportError:  # CPython
    from cryptography.hazmat.primitives.ciphers import (  # type: ignore[import-not-found]
        Cipher, algorithms, modes)

    def _ecb(key: bytes):
        # ECB keeps no state between blocks, so one encryptor serves every call.
        return Cipher(algorithms.AES(bytes(key)), modes.ECB()).encryptor().update


class Aes:
    """One AES-128 key, ready to encrypt blocks (encryption only: GCM never decrypts a block)."""

    def __init__(self, key: bytes):
        if len(key) != 16:
            raise ValueError("AES-128 key must be 16 bytes, got %d" % len(key))
        self._encrypt = _ecb(key)

    def encrypt_block(self, block: bytes | bytearray) -> bytes:
        if len(block) != 16:
            raise ValueError("AES block must be 16 bytes, got %d" % len(block))
        return self._encrypt(block)


def new(key: bytes) -> Aes:
    return Aes(key)
