"""Block encryption at the vending side: DES from `cryptography`, MISTY1 from protocol/.

No permissive MISTY1 exists for Python, so the vending side uses the same code as
the meter (tested against RFC 2994); DES comes from the library made for it.
"""

try:  # cryptography >= 43 keeps DES-family ciphers in the "decrepit" module
    from cryptography.hazmat.decrepit.ciphers.algorithms import TripleDES
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.algorithms import TripleDES  # type: ignore
from cryptography.hazmat.primitives.ciphers import Cipher, modes

from opsm.protocol.misty1 import Misty1
from opsm.protocol.sts_decoder import cipher_for

EA_DES = 9
EA_MISTY1 = 11


def des_encrypt(key: bytes, block: bytes) -> bytes:
    """Single DES: TripleDES with K1 = K2 = K3."""
    encryptor = Cipher(TripleDES(key * 3), modes.ECB()).encryptor()
    return encryptor.update(block) + encryptor.finalize()


def encrypt_block(ea: int, key: bytes, block: bytes) -> bytes:
    if ea == EA_MISTY1:
        if len(key) != 16:
            raise ValueError("decoder-key: EA11 (MISTY1) needs 16 bytes, got %d" % len(key))
        return Misty1(key).encrypt(block)
    if ea == EA_DES:
        if len(key) != 8:
            raise ValueError("decoder-key: EA09 (DES) needs 8 bytes, got %d" % len(key))
        return des_encrypt(key, block)
    raise ValueError("ea: must be 09 (DES) or 11 (MISTY1); EA07 (STA) is not supported")


def decrypt_block(ea: int, key: bytes, block: bytes) -> bytes:
    """Decrypt with the meter's own code path (protocol/), for parsing on the host."""
    if len(key) != (16 if ea == EA_MISTY1 else 8):
        raise ValueError("decoder-key: EA%02d needs a %d-byte key" % (ea, 16 if ea == EA_MISTY1 else 8))
    return cipher_for(ea, key).decrypt(block)
