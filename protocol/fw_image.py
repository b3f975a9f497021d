"""The signed firmware image: a manifest, its HMAC-SHA-256 tag, then the payload (docs/firmware-update.md).

The meter checks an image as it arrives, block by block, holding only the 122-byte head and
a running SHA-256: the head (manifest and tag) is checked as soon as it is complete, so an
image for another board, an older or the same version, or under another key is refused at the
first block, before 150 KB cross the link; the payload's hash is compared at the end.

Signature: HMAC-SHA-256 under the meter's own firmware key, which `opsm fw sign` derives from
the entity's firmware master key and the meter's serial (host/fwimage.py). Not a public-key
scheme: Ed25519 needs SHA-512, which the boards' hashlib lacks, and ECDSA P-256 would be curve code
of our own in the meter's most critical place, costing 1.6 MB of big-integer churn per verify and an
estimated 0.3-1 s on an ESP32 (docs/firmware-update.md has the measure), while an HMAC is two
SHA-256 runs that hashlib does in C. The price: an image is signed per meter. Only the manifest
is signed (it carries the payload's SHA-256), so a fleet's images share one payload and differ by
122 bytes each, and signing a thousand meters is a thousand HMACs over 90 bytes.

The payload is an archive of (path, bytes) entries, the tree `opsm fw build` writes: it unpacks
into a folder on any board's file system (a ROMFS image would need a board with a ROMFS
partition, and boot.py and main.py live on the file system anyway); the manifest's payload kind
leaves room for a ROMFS payload later. Unpacker splits a payload into its files as it arrives.
"""

import hashlib

from . import consttime

MAGIC = b"OPFW"
FORMAT = 1
KIND_ARCHIVE = 1
MANIFEST_SIZE = 90
HEADER_SIZE = 122       # the manifest and its tag (32 bytes)
MAX_PAYLOAD = 1 << 21   # 2 MiB: more than any board's application flash holds for us

# Refusals: a code for the event log and DLMS, and its name. What each means is told on the host
# (host/fwimage.MESSAGES): the meter only logs the code, and would hold the sentences in its heap.
BAD_FORMAT = 1
TRUNCATED = 2
TOO_LONG = 3
WRONG_BOARD = 4
OLDER = 5
SAME_VERSION = 6
BAD_PAYLOAD = 7
BAD_SIGNATURE = 8
NAMES = ("", "BAD_FORMAT", "TRUNCATED", "TOO_LONG", "WRONG_BOARD", "OLDER", "SAME_VERSION", "BAD_PAYLOAD",
         "BAD_SIGNATURE")


class ImageError(ValueError):
    """A refused image: `reason` is one of the codes above, `detail` what was found, if anything
    (host/fwimage.explain adds what the code means). Details are kept within 10 characters where
    they are constants: a longer string constant is an object in the meter's heap from import on."""

    def __init__(self, reason: int, detail: str = ""):
        self.reason = reason
        self.detail = detail
        super().__init__(NAMES[reason] + ": " + detail if detail else NAMES[reason])


def version_text(version) -> str:
    return "%d.%d.%d" % tuple(version)


def hmac_sha256(key, message) -> bytes:
    """RFC 2104 over hashlib's SHA-256 (MicroPython has no hmac module)."""
    if len(key) > 64:
        key = hashlib.sha256(key).digest()
    pad = bytearray(64)  # the key, zero-padded, xor ipad, then xor opad: loops, as generators cost heap at import
    pad[0:len(key)] = key
    for i in range(64):
        pad[i] ^= 0x36
    inner = hashlib.sha256(pad)
    inner.update(message)
    for i in range(64):
        pad[i] ^= 0x36 ^ 0x5C
    outer = hashlib.sha256(pad)
    outer.update(inner.digest())
    return outer.digest()


def _text(field, what: str) -> str:
    name = bytes(field).rstrip(b"\0")
    for b in name:
        if not 0x21 <= b <= 0x7E:
            raise ImageError(BAD_FORMAT, "%s %r" % (what, name))
    return name.decode()


class Manifest:
    """What an image says about itself; version is (major 0-255, minor 0-255, patch 0-65535). Only the host
    packs one (protocol/fw_manifest.py): the meter reads them."""

    def __init__(self, board: str, version, payload_size: int, payload_sha256: bytes, built_s: int, key_id: str,
                 kind: int = KIND_ARCHIVE):
        self.board = board
        self.version = tuple(version)
        self.payload_size = payload_size
        self.payload_sha256 = payload_sha256
        self.built_s = built_s   # seconds since 2000-01-01 UTC, the meter's epoch
        self.key_id = key_id
        self.kind = kind
        self.tag = b""           # once check_header verified it: the manifest's HMAC (image_to_activate_info)


def unpack_manifest(data, key=None) -> Manifest:
    """The manifest at the start of `data`: not authenticated, or with the meter's firmware key once the
    tag that follows it verifies (checked before any field is read: nothing unauthenticated decides more
    than the refusal)."""
    if key is not None and len(data) < HEADER_SIZE:
        raise ImageError(TRUNCATED)
    if len(data) < 5 or bytes(data[0:4]) != MAGIC or data[4] != FORMAT:
        raise ImageError(TRUNCATED if len(data) < 5 and bytes(data) == MAGIC[0:len(data)] else BAD_FORMAT)
    if len(data) < MANIFEST_SIZE:
        raise ImageError(TRUNCATED)
    if key is not None and not consttime.equal(hmac_sha256(key, data[0:MANIFEST_SIZE]),
                                               data[MANIFEST_SIZE:HEADER_SIZE]):
        raise ImageError(BAD_SIGNATURE)
    if data[5] != KIND_ARCHIVE:
        raise ImageError(BAD_FORMAT, "kind %d" % data[5])
    size = int.from_bytes(bytes(data[26:30]), "big")
    if size > MAX_PAYLOAD:
        raise ImageError(BAD_FORMAT, "%d bytes" % size)
    return Manifest(_text(data[6:22], "board"), (data[22], data[23], (data[24] << 8) | data[25]), size,
                    bytes(data[30:62]), int.from_bytes(bytes(data[62:66]), "big"), _text(data[66:90], "key id"),
                    data[5])


def check_header(header, key, board: str, running, allow_older: bool = False) -> Manifest:
    """The manifest of an image's first HEADER_SIZE bytes, once its tag verifies and it suits this meter.

    running: the running firmware's version; allow_older: the activation request asks for a downgrade."""
    manifest = unpack_manifest(header, key)
    manifest.tag = bytes(header[MANIFEST_SIZE:HEADER_SIZE])
    if manifest.board != board:
        raise ImageError(WRONG_BOARD, "%s, not %s" % (manifest.board, board))
    running = tuple(running)
    if manifest.version == running:
        raise ImageError(SAME_VERSION, version_text(running))
    if manifest.version < running and not allow_older:
        raise ImageError(OLDER, "%s < %s" % (version_text(manifest.version), version_text(running)))
    return manifest


class Verifier:
    """An image fed in order, in blocks of any size; `finish()` returns its Manifest or raises ImageError.

    The header is checked as soon as its bytes are in (feed raises there), the payload hashed as it
    passes. Once it has raised, the verifier raises that refusal again on any use."""

    def __init__(self, key, board: str, running, allow_older: bool = False):
        self._check = (key, board, running, allow_older)  # check_header's arguments: one attribute, not four
        self._head = bytearray(HEADER_SIZE)
        self._seen = 0
        self._hash = hashlib.sha256()
        self._refused = 0
        self.manifest: Manifest | None = None

    def feed(self, block) -> None:
        """The image's next bytes; a payload block is hashed as it is, without allocating."""
        if self._refused:
            raise self._refusal(self._refused)
        used = 0
        manifest = self.manifest
        if manifest is None:
            used = min(HEADER_SIZE - self._seen, len(block))
            self._head[self._seen:self._seen + used] = memoryview(block)[0:used]
            self._seen += used
            if self._seen < HEADER_SIZE:
                return
            try:
                manifest = check_header(self._head, *self._check)
            except ImageError as e:
                self._refused = e.reason
                raise
            self.manifest = manifest
        rest = len(block) - used
        if rest:
            if self._seen + rest > HEADER_SIZE + manifest.payload_size:
                raise self._refusal(TOO_LONG)
            self._hash.update(memoryview(block)[used:] if used else block)
            self._seen += rest

    def finish(self) -> Manifest:
        if self._refused:
            raise self._refusal(self._refused)
        manifest = self.manifest
        if manifest is None or self._seen < HEADER_SIZE + manifest.payload_size:
            raise self._refusal(TRUNCATED)
        if self._hash.digest() != manifest.payload_sha256:  # public values: no timing to hide
            raise self._refusal(BAD_PAYLOAD)
        return manifest

    def _refusal(self, reason: int) -> ImageError:
        self._refused = reason
        return ImageError(reason)


class Unpacker:
    """Splits an archive payload fed in blocks into its files, for `sink`:
    sink.begin(path, size), sink.write(chunk) (a memoryview, valid during the call), sink.end().

    Entry: path length (1 byte), path (ASCII, '/' between parts, no '.' or '..' part, not
    absolute), data length (4 bytes, big-endian), data. Feed only a verified payload's bytes."""

    def __init__(self, sink):
        self._sink = sink
        self._head = bytearray()
        self._left = -1  # data bytes still due for the current entry; -1: reading an entry's head

    def feed(self, block) -> None:
        block = memoryview(block)
        i = 0
        while True:
            if not self._left:  # the entry's data all given (an empty entry's as soon as its head is read)
                self._left = -1
                self._sink.end()
            if i == len(block):
                return
            if self._left > 0:
                n = min(self._left, len(block) - i)
                self._sink.write(block[i:i + n])
                i += n
                self._left -= n
                continue
            head = self._head  # an entry's head: its path length, path and data length
            due = (5 + head[0] if head else 1) - len(head)
            take = min(due, len(block) - i)
            head.extend(block[i:i + take])
            i += take
            if take == due and len(head) > 1:
                path = _text(head[1:-4], "path")
                parts = path.split("/")
                if len(head) == 5 or path[0] == "/" or "" in parts or "." in parts or ".." in parts:
                    raise ImageError(BAD_FORMAT, "path %r" % path)
                self._left = int.from_bytes(bytes(head[-4:]), "big")
                self._head = bytearray()
                self._sink.begin(path, self._left)

    def finish(self) -> None:
        if self._head or self._left >= 0:
            raise ImageError(TRUNCATED, "last entry")
