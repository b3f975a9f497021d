"""Vending keys at rest: one file, 0600, AES-256-GCM under a scrypt-derived passphrase key.

The file is JSON around the ciphertext so a damaged file is told apart from a
wrong passphrase. Writes go to a temporary file that replaces the old one, so a
crash never leaves half a key file.

What the file must be before it is used:
- private: no permission beyond 0600 (owner read/write; 0400 is fine), else refused with the
  chmod to run (POSIX only; Windows has no such bits);
- its scrypt parameters (header scrypt_n, scrypt_r, scrypt_p; files written before r and p were
  recorded used 8 and 1) within bounds, checked before any key is derived, so a tampered or
  damaged header neither hangs the program nor exhausts memory: n a power of two from 2**14 to
  2**20, r 1..32, p 1..16, at most 256 MiB (128*n*r bytes), at most 2**22 of n*r*p (16 times the
  default's work, about a second), and n < 2**(16*r) as scrypt requires.
A new file, or a new passphrase for one (change_passphrase), needs a passphrase of at least
MIN_PASSPHRASE characters (spaces at either end not counted). A file made under an earlier,
shorter passphrase still opens with it (its keys are not locked away): `weak_passphrase` says
so, and change_passphrase moves it to a longer one.
"""

import base64
import binascii
import json
import os
import secrets
import stat
import tempfile

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.scrypt import Scrypt

_FORMAT = "opsm-vending-keys/1"
MIN_PASSPHRASE = 12
SCRYPT = {"n": 2 ** 15, "r": 8, "p": 1}  # what a file is written with
LEGACY = {"r": 8, "p": 1}                 # what a file without scrypt_r / scrypt_p was written with
N_RANGE = (2 ** 14, 2 ** 20)
R_RANGE = (1, 32)
P_RANGE = (1, 16)
MAX_MEMORY = 256 * 2 ** 20                # bytes: scrypt needs 128 * n * r
MAX_WORK = 2 ** 22                        # n * r * p
SALT_BYTES = (16, 64)
NONCE_BYTES = 12


class KeyStoreError(ValueError):
    """A key file that cannot be opened; the message names the cause."""


def check_new_passphrase(passphrase: str, source: str = "passphrase") -> None:
    """Refuse a passphrase too short for a new key file (or a new passphrase of one)."""
    if len(passphrase.strip()) < MIN_PASSPHRASE:
        raise KeyStoreError("%s: a new key file needs at least %d characters (not counting spaces at either end), "
                            "got %d" % (source, MIN_PASSPHRASE, len(passphrase.strip())))


def _integer(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_scrypt(n, r, p) -> None:
    """KeyStoreError (without the file's name) unless n, r, p are within the bounds in the module's docstring."""
    if not (_integer(n) and N_RANGE[0] <= n <= N_RANGE[1] and n & (n - 1) == 0):
        raise KeyStoreError("scrypt_n: must be a power of two from 2**14 to 2**20, got %s" % _shown(n))
    if not (_integer(r) and R_RANGE[0] <= r <= R_RANGE[1]):
        raise KeyStoreError("scrypt_r: must be an integer from %d to %d, got %s" % (R_RANGE + (_shown(r),)))
    if not (_integer(p) and P_RANGE[0] <= p <= P_RANGE[1]):
        raise KeyStoreError("scrypt_p: must be an integer from %d to %d, got %s" % (P_RANGE + (_shown(p),)))
    if n >= 2 ** (16 * r):
        raise KeyStoreError("scrypt: n=%d needs r of at least %d (scrypt requires n < 2**(16*r))"
                            % (n, (n.bit_length() - 1) // 16 + 1))
    if 128 * n * r > MAX_MEMORY:
        raise KeyStoreError("scrypt: n=%d, r=%d need %d MiB of memory, more than the %d MiB allowed"
                            % (n, r, 128 * n * r // 2 ** 20, MAX_MEMORY // 2 ** 20))
    if n * r * p > MAX_WORK:
        raise KeyStoreError("scrypt: n*r*p=%d is more work than the %d allowed (n=%d, r=%d, p=%d)"
                            % (n * r * p, MAX_WORK, n, r, p))


def _shown(value) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def _derive(passphrase: str, salt: bytes, n: int, r: int, p: int) -> bytes:
    if not passphrase:
        raise KeyStoreError("passphrase: must not be empty")
    check_scrypt(n, r, p)
    try:
        return Scrypt(salt=salt, length=32, n=n, r=r, p=p).derive(passphrase.encode())
    except MemoryError:
        raise KeyStoreError("scrypt: this computer cannot give the %d MiB that n=%d, r=%d need"
                            % (128 * n * r // 2 ** 20, n, r)) from None


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _unb64(doc: dict, field: str) -> bytes:
    value = doc[field]
    if not isinstance(value, str):
        raise KeyStoreError("%s: must be base64 text, got %s" % (field, _shown(value)))
    try:
        return base64.b64decode(value, validate=True)
    except binascii.Error:
        raise KeyStoreError("%s: must be base64 text" % field) from None


def _private(path: str, fd: int) -> None:
    """Refuse a key file with any permission beyond 0600 (POSIX)."""
    if os.name == "nt":
        return
    mode = stat.S_IMODE(os.fstat(fd).st_mode)
    if mode & ~0o600:
        raise KeyStoreError("keyfile: %s has mode 0%o: others could read the vending keys; allow its owner only "
                            "with: chmod 600 %s" % (path, mode, path))


def _header(path: str, doc) -> tuple:
    """(salt, nonce, ciphertext, n, r, p) of the file's JSON, every field checked."""
    try:
        if not isinstance(doc, dict):
            raise KeyStoreError("must be a JSON object")
        if doc["format"] != _FORMAT:
            raise KeyStoreError("has unknown format %s" % _shown(doc["format"]))
        n, r, p = doc["scrypt_n"], doc.get("scrypt_r", LEGACY["r"]), doc.get("scrypt_p", LEGACY["p"])
        check_scrypt(n, r, p)
        salt, nonce, ciphertext = _unb64(doc, "salt"), _unb64(doc, "nonce"), _unb64(doc, "ciphertext")
        if not SALT_BYTES[0] <= len(salt) <= SALT_BYTES[1]:
            raise KeyStoreError("salt: must be %d to %d bytes, got %d" % (SALT_BYTES + (len(salt),)))
        if len(nonce) != NONCE_BYTES:
            raise KeyStoreError("nonce: must be %d bytes, got %d" % (NONCE_BYTES, len(nonce)))
    except KeyError as exc:
        raise KeyStoreError("keyfile: %s is corrupt (missing field %s)" % (path, exc)) from None
    except KeyStoreError as exc:
        raise KeyStoreError("keyfile: %s: %s" % (path, exc)) from None
    return salt, nonce, ciphertext, n, r, p


class KeyStore:
    """Named vending keys (bytes), loaded and saved whole."""

    def __init__(self, path: str, passphrase: str, keys: dict | None = None):
        self.path = path
        self._passphrase = passphrase
        self.keys = keys if keys is not None else {}

    @property
    def weak_passphrase(self) -> bool:
        """The file's passphrase is shorter than a new file may have (made before the rule)."""
        return len(self._passphrase.strip()) < MIN_PASSPHRASE

    @classmethod
    def create(cls, path: str, passphrase: str) -> "KeyStore":
        check_new_passphrase(passphrase)
        if os.path.exists(path):
            raise KeyStoreError("keyfile: %s already exists" % path)
        store = cls(path, passphrase)
        store.save()
        return store

    @classmethod
    def open(cls, path: str, passphrase: str) -> "KeyStore":
        try:
            fd = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            raise KeyStoreError("keyfile: %s does not exist (run 'opsm keys init')" % path) from None
        except OSError as exc:
            raise KeyStoreError("keyfile: cannot open %s: %s" % (path, exc.strerror)) from None
        try:
            _private(path, fd)
            with os.fdopen(fd, encoding="utf-8") as f:
                fd = None
                doc = json.load(f)
        except (OSError, ValueError) as exc:
            if isinstance(exc, KeyStoreError):
                raise
            raise KeyStoreError("keyfile: %s is corrupt (%s)" % (path, exc)) from None
        finally:
            if fd is not None:
                os.close(fd)
        salt, nonce, ciphertext, n, r, p = _header(path, doc)
        try:
            plain = AESGCM(_derive(passphrase, salt, n, r, p)).decrypt(nonce, ciphertext, _FORMAT.encode())
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

    def change_passphrase(self, passphrase: str) -> None:
        """Save the keys under a new passphrase (it must be long enough for a new file)."""
        check_new_passphrase(passphrase)
        self._passphrase = passphrase
        self.save()

    def save(self) -> None:
        salt = secrets.token_bytes(16)
        nonce = secrets.token_bytes(NONCE_BYTES)
        plain = json.dumps({k: v.hex() for k, v in sorted(self.keys.items())}).encode()
        n, r, p = SCRYPT["n"], SCRYPT["r"], SCRYPT["p"]
        ciphertext = AESGCM(_derive(self._passphrase, salt, n, r, p)).encrypt(nonce, plain, _FORMAT.encode())
        doc = {"format": _FORMAT, "scrypt_n": n, "scrypt_r": r, "scrypt_p": p, "salt": _b64(salt),
               "nonce": _b64(nonce), "ciphertext": _b64(ciphertext)}
        folder = os.path.dirname(os.path.abspath(self.path))
        os.makedirs(folder, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(self.path), suffix=".tmp", dir=folder)
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
