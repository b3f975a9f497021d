"""Vending keys at rest: one file, 0600, AES-256-GCM under a scrypt-derived passphrase key.

The file is JSON around the ciphertext so a damaged file is told apart from a
wrong passphrase. Writes go to a temporary file that replaces the old one, so a
crash never leaves half a key file.
"""

import base64
import json
import os
import secrets

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

_FORMAT = "opsm-vending-keys/1"
_SCRYPT_N = 2 ** 15


class KeyStoreError(ValueError):
    """A key file that cannot be opened; the message names the cause."""


def _derive(passphrase: str, salt: bytes, n: int) -> bytes:
    if not passphrase:
        raise KeyStoreError("passphrase: must not be empty")
    return Scrypt(salt=salt, length=32, n=n, r=8, p=1).derive(passphrase.encode())


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class KeyStore:
    """Named vending keys (bytes), loaded and saved whole."""

    def __init__(self, path: str, passphrase: str, keys: dict | None = None):
        self.path = path
        self._passphrase = passphrase
        self.keys = keys if keys is not None else {}

    @classmethod
    def create(cls, path: str, passphrase: str) -> "KeyStore":
        if os.path.exists(path):
            raise KeyStoreError("keyfile: %s already exists" % path)
        store = cls(path, passphrase)
        store.save()
        return store

    @classmethod
    def open(cls, path: str, passphrase: str) -> "KeyStore":
        try:
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
        except FileNotFoundError:
            raise KeyStoreError("keyfile: %s does not exist (run 'opsm keys init')" % path) from None
        except (OSError, ValueError) as exc:
            raise KeyStoreError("keyfile: %s is corrupt (%s)" % (path, exc)) from None
        try:
            if doc["format"] != _FORMAT:
                raise KeyStoreError("keyfile: %s has unknown format %r" % (path, doc["format"]))
            salt = base64.b64decode(doc["salt"])
            nonce = base64.b64decode(doc["nonce"])
            ciphertext = base64.b64decode(doc["ciphertext"])
            n = int(doc["scrypt_n"])
        except (KeyError, TypeError, ValueError) as exc:
            if isinstance(exc, KeyStoreError):
                raise
            raise KeyStoreError("keyfile: %s is corrupt (missing or bad field %s)" % (path, exc)) from None
        try:
            plain = AESGCM(_derive(passphrase, salt, n)).decrypt(nonce, ciphertext, _FORMAT.encode())
        except InvalidTag:
            raise KeyStoreError("passphrase: wrong passphrase, or the key file %s was altered" % path) from None
        keys = {name: bytes.fromhex(value) for name, value in json.loads(plain).items()}
        return cls(path, passphrase, keys)

    def add(self, name: str, key: bytes) -> None:
        if not name or not name.replace("-", "").replace("_", "").isalnum():
            raise KeyStoreError("name: use letters, digits, '-' or '_', got %r" % name)
        if name in self.keys:
            raise KeyStoreError("name: vending key %r already exists" % name)
        if len(key) not in (8, 16, 20, 24, 32):
            raise KeyStoreError("key: vending keys are 8 (DES) or 16-32 bytes, got %d" % len(key))
        self.keys[name] = key

    def get(self, name: str) -> bytes:
        try:
            return self.keys[name]
        except KeyError:
            raise KeyStoreError("vending-key: no key named %r in %s" % (name, self.path)) from None

    def save(self) -> None:
        salt = secrets.token_bytes(16)
        nonce = secrets.token_bytes(12)
        plain = json.dumps({k: v.hex() for k, v in sorted(self.keys.items())}).encode()
        ciphertext = AESGCM(_derive(self._passphrase, salt, _SCRYPT_N)).encrypt(nonce, plain, _FORMAT.encode())
        doc = {"format": _FORMAT, "scrypt_n": _SCRYPT_N, "salt": _b64(salt), "nonce": _b64(nonce),
               "ciphertext": _b64(ciphertext)}
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        tmp = self.path + ".tmp"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            with os.fdopen(fd, "w", encoding="utf-8") as f:
                json.dump(doc, f)
                f.flush()
                os.fsync(f.fileno())
            os.chmod(tmp, 0o600)
            os.replace(tmp, self.path)
        except BaseException:
            if os.path.exists(tmp):
                os.unlink(tmp)
            raise
