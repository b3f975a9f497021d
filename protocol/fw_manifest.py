"""Packing a firmware image's manifest (protocol/fw_image.py has the layout): for the signer on the host
(host/fwimage.py) and for the protocol tests, which run on MicroPython too and cannot import the host.
The meter only reads manifests and never imports this module, so its code and messages cost the
meter's heap nothing."""

from .fw_image import FORMAT, MAGIC, MAX_PAYLOAD

NAME_SIZE = 16          # board name field
KEY_ID_SIZE = 24        # whose key signed the manifest: the meter's serial


def _padded(text: str, size: int, what: str) -> bytes:
    data = text.encode()
    if not 0 < len(data) <= size:
        raise ValueError("%s: 1 to %d characters, got %r" % (what, size, text))
    return data + bytes(size - len(data))


def pack(manifest) -> bytes:
    """The MANIFEST_SIZE bytes of a fw_image.Manifest; ValueError names a field that does not fit."""
    major, minor, patch = manifest.version
    if not (0 <= major < 256 and 0 <= minor < 256 and 0 <= patch < 65536):
        raise ValueError("version: major and minor 0-255, patch 0-65535, got %r" % (manifest.version,))
    if not 0 <= manifest.payload_size <= MAX_PAYLOAD or len(manifest.payload_sha256) != 32:
        raise ValueError("payload: at most %d bytes with its 32-byte SHA-256" % MAX_PAYLOAD)
    return (MAGIC + bytes((FORMAT, manifest.kind)) + _padded(manifest.board, NAME_SIZE, "board")
            + bytes((major, minor, patch >> 8, patch & 0xFF)) + manifest.payload_size.to_bytes(4, "big")
            + bytes(manifest.payload_sha256) + manifest.built_s.to_bytes(4, "big")
            + _padded(manifest.key_id, KEY_ID_SIZE, "key id"))
