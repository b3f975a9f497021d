"""AES-128 single blocks: encryption for GCM, decryption for unwrapping keys (keywrap.py).

On MicroPython (boards and the unix port) this is the built-in `cryptolib`, C code
that is far faster than any AES written in Python; on CPython it is `cryptography`.
The choice is made once, at import time.

Usage: ``new(key).encrypt_block(block16)`` returns the 16-byte ciphertext.
"""

try:
    import cryptolib

    def _ecb(key: bytes, decrypt: bool = False):
        cipher = cryptolib.aes(key, 1)  # mode 1: ECB (a cryptolib object does one direction)
        return cipher.decrypt if decrypt else cipher.encrypt

except ImportError:  # CPython
    from cryptography.hazmat.primitives.ciphers import (  # type: ignore[import-not-found]
        Cipher, algorithms, modes)

    def _ecb(key: bytes, decrypt: bool = False):
        # ECB keeps no state between blocks, so one encryptor serves every call.
        cipher = Cipher(algorithms.AES(bytes(key)), modes.ECB())
        return (cipher.decryptor() if decrypt else cipher.encryptor()).update


class Aes:
    """One AES-128 key, ready to encrypt blocks (or, made with decrypt=True, to decrypt them)."""

    def __init__(self, key: bytes, decrypt: bool = False):
        if len(key) != 16:
            raise ValueError("AES-128 key must be 16 bytes, got %d" % len(key))
        self._run = _ecb(key, decrypt)
        self.decrypts = decrypt

    def _block(self, block, decrypt: bool) -> bytes:
        if decrypt != self.decrypts:
            raise ValueError("AES: this key was made to %scrypt" % ("de" if self.decrypts else "en"))
        if len(block) != 16:
            raise ValueError("AES block must be 16 bytes, got %d" % len(block))
        return self._run(block)

    def encrypt_block(self, block) -> bytes:
        return self._block(block, False)

    def decrypt_block(self, block) -> bytes:
        return self._block(block, True)


def new(key: bytes) -> Aes:
    return Aes(key)
