"""What the 64-bit block ciphers share: copying calls around the in-place ones."""


class BlockCipher:
    """Subclasses provide encrypt_into / decrypt_into on an 8-byte bytearray."""

    def encrypt_into(self, buf: bytearray) -> None:
        raise NotImplementedError

    def decrypt_into(self, buf: bytearray) -> None:
        raise NotImplementedError

    def encrypt(self, block: bytes) -> bytes:
        buf = bytearray(block)
        self.encrypt_into(buf)
        return bytes(buf)

    def decrypt(self, block: bytes) -> bytes:
        buf = bytearray(block)
        self.decrypt_into(buf)
        return bytes(buf)
