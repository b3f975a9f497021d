"""Signed firmware images on the host: `opsm fw sign` and `opsm fw inspect` (docs/firmware-update.md).

The layout and the meter's checks are protocol/fw_image.py's, the manifest's packing protocol/fw_manifest.py's;
what each refusal means is told here (MESSAGES, explain: the meter logs only the code). Here the tree
`opsm fw build` writes is packed into the payload, and each meter's manifest is signed with HMAC-SHA-256
(cryptography's) under that meter's firmware key: HMAC-SHA-256(entity firmware master key, "opsm-fw-key/1"
00 serial). The master key is a named key of the vending key file (`opsm keys add firmware --generate 32`);
the meter is to hold its derived key from provisioning on, and the signer needs nothing per meter but the
serial.
"""

import datetime
import hashlib
import os
import tempfile

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import hmac as crypto_hmac

from opsm.host import fwbuild, inventory, rowfile
from opsm.host.outfile import replacing, staged
from opsm.protocol import fw_image as F
from opsm.protocol import fw_manifest
from opsm.simulator.board import ROOT

KEY_LABEL = b"opsm-fw-key/1\x00"
MIN_MASTER_KEY = 16
EPOCH_2000 = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc)
PAYLOAD_FILE = "payload.bin"
HEAD_SUFFIX = ".head"
# What each of fw_image's refusal codes means (F.NAMES by code), for people.
MESSAGES = ("",
            "not a firmware image, or a manifest format this meter does not know",
            "the image ends before the size its manifest gives",
            "the image goes on past the size its manifest gives",
            "built for another board",
            "older than the running firmware (a downgrade must be asked for)",
            "the same version as the running firmware",
            "the payload does not match the manifest's SHA-256",
            "the signature does not verify under this meter's firmware key")


def explain(exc: F.ImageError) -> str:
    """A refusal as a person reads it: its name, what it means, and what was found."""
    return "%s: %s%s" % (F.NAMES[exc.reason], MESSAGES[exc.reason], " (%s)" % exc.detail if exc.detail else "")


def _hmac(key: bytes, message: bytes) -> bytes:
    mac = crypto_hmac.HMAC(key, hashes.SHA256())
    mac.update(message)
    return mac.finalize()


def derive_key(master: bytes, serial: str) -> bytes:
    """The meter's firmware key: what provisioning gives the meter and what its images are signed under."""
    if len(master) < MIN_MASTER_KEY:
        raise ValueError("fw-key: the firmware master key must have at least %d bytes, got %d "
                         "(opsm keys add firmware --generate 32)" % (MIN_MASTER_KEY, len(master)))
    _key_id(serial)
    return _hmac(master, KEY_LABEL + serial.encode())


def _key_id(serial: str) -> str:
    if not serial or len(serial) > fw_manifest.KEY_ID_SIZE or not all("!" <= c <= "~" for c in serial):
        raise ValueError("serial: 1 to %d printable ASCII characters, got %r" % (fw_manifest.KEY_ID_SIZE, serial))
    return serial


def parse_version(text: str) -> tuple:
    """MAJOR.MINOR.PATCH (0-255, 0-255, 0-65535); 0.0.0 is reserved for a meter that knows no version."""
    parts = text.split(".")
    if len(parts) != 3 or not all(p.isdigit() for p in parts):
        raise ValueError("version: write MAJOR.MINOR.PATCH, e.g. 1.4.0, got %r" % text)
    version = tuple(int(p) for p in parts)
    if version[0] > 255 or version[1] > 255 or version[2] > 65535 or version == (0, 0, 0):
        raise ValueError("version: major and minor 0-255, patch 0-65535, above 0.0.0; got %r" % text)
    return version


def pack_tree(tree: str) -> tuple:
    """(payload, build time in seconds since 2000) of a built tree: every file, sorted by path
    (the same tree gives the same bytes); the build time is its newest file's."""
    if not os.path.isfile(os.path.join(tree, "main.py")):
        raise ValueError("tree: %s holds no built firmware (opsm fw build)" % tree)
    files = []
    for folder, _, names in os.walk(tree):
        for name in names:
            path = os.path.join(folder, name)
            files.append((os.path.relpath(path, tree).replace(os.sep, "/"), path))
    out = bytearray()
    newest = 0.0
    for relative, path in sorted(files):
        with open(path, "rb") as f:
            data = f.read()
        name = relative.encode()
        if len(name) > 255:
            raise ValueError("tree: path %s is longer than 255 bytes" % relative)
        out += bytes((len(name),)) + name + len(data).to_bytes(4, "big") + data
        newest = max(newest, os.path.getmtime(path))
    if len(out) > F.MAX_PAYLOAD:
        raise ValueError("tree: %d bytes, more than an image holds (%d)" % (len(out), F.MAX_PAYLOAD))
    built = datetime.datetime.fromtimestamp(newest, datetime.timezone.utc)
    return bytes(out), max(0, int((built - EPOCH_2000).total_seconds()))


def check_tree_board(tree: str, board: str) -> None:
    """Refuse a tree built for another board: its lib/board.mpy is not what boards/BOARD.py compiles to."""
    with tempfile.TemporaryDirectory() as work:
        fwbuild.compile_tree([(os.path.join(ROOT, "boards", board + ".py"), "board.py")], work)
        with open(os.path.join(work, "board.mpy"), "rb") as f:
            expected = f.read()
    try:
        with open(os.path.join(tree, "lib", "board.mpy"), "rb") as f:
            if f.read() == expected:
                return
    except OSError:
        pass
    raise ValueError("tree: %s was not built for board %s (opsm fw build --board %s)" % (tree, board, board))


def header(size: int, sha256: bytes, board: str, version: tuple, built_s: int, master: bytes, serial: str) -> bytes:
    """Manifest and tag for one meter: the first HEADER_SIZE bytes of its image (the payload hashed once
    for a whole fleet: size and sha256)."""
    manifest = fw_manifest.pack(F.Manifest(board, version, size, sha256, built_s, _key_id(serial)))
    return manifest + _hmac(derive_key(master, serial), manifest)


def inventory_serials(path: str) -> list:
    """The serials of a meter inventory (host/inventory.py's file; only its serial column is used)."""
    def check(row, bad):
        serial = row.get("serial", "")
        try:
            _key_id(serial)
        except ValueError:
            bad("serial", "must be 1 to %d printable ASCII characters" % fw_manifest.KEY_ID_SIZE)
        return serial

    try:
        serials, problems = rowfile.checked(path, inventory.METERS.kind, ("serial",), check, "serial",
                                            lambda serial: serial)
    except rowfile.RowFileError as exc:
        raise inventory.InventoryError(exc.problems) from None
    if problems:
        raise inventory.InventoryError(problems)
    return serials


def sign(board: str, version_text: str, master: bytes, out: str, tree: str | None = None, serial: str | None = None,
         serials: list | None = None) -> dict:
    """Sign the tree (built now, production, when `tree` is None) for one meter (serial: the image file
    `out`) or many (serials: the folder `out` with payload.bin and SERIAL.head each; a meter's image is
    its head followed by the payload). Returns a summary."""
    fwbuild.check_board(board)
    version = parse_version(version_text)
    if (serial is None) == (serials is None):
        raise ValueError("serial: give one meter's serial or an inventory")
    with tempfile.TemporaryDirectory() as work:
        if tree is None:
            tree = fwbuild.build(board, os.path.join(work, board))
        else:
            check_tree_board(tree, board)
        payload, built_s = pack_tree(tree)
    sha256 = hashlib.sha256(payload).digest()
    heads = [(s, header(len(payload), sha256, board, version, built_s, master, s)) for s in (serials or [serial])]
    if serial is not None:
        with replacing(out) as tmp, open(tmp, "wb") as f:
            f.write(heads[0][1] + payload)
    else:
        with staged(out) as staging:
            with open(staging.file(PAYLOAD_FILE), "wb") as f:
                f.write(payload)
            for s, head in heads:
                with open(staging.file(s + HEAD_SUFFIX), "wb") as f:
                    f.write(head)
    return {"board": board, "version": F.version_text(version), "payload_bytes": len(payload),
            "payload_sha256": sha256.hex(), "meters": len(heads), "out": out}


def _blocks(path: str, payload: str | None):
    """The image's bytes in blocks, as a meter would receive them: the file, or a head and a payload."""
    for name in ([path] if payload is None else [path, payload]):
        with open(name, "rb") as f:
            while True:
                block = f.read(4096)
                if not block:
                    break
                yield block


class _Listing:
    def __init__(self):
        self.files: list = []

    def begin(self, path, size):
        self.files.append((path, size))

    def write(self, chunk):
        pass

    def end(self):
        pass


def inspect(path: str, payload: str | None = None, master: bytes | None = None, board: str | None = None,
            running: str | None = None, allow_older: bool = False) -> dict:
    """The manifest of an image (or of a head, with its payload) and its files; with the master key,
    the meter's own checks (protocol/fw_image.Verifier) for `board` (default: the manifest's) running
    `running` (default 0.0.0: any version is newer). An ImageError names the refusal (explain says it)."""
    try:
        with open(path, "rb") as f:
            head = f.read(F.HEADER_SIZE)
    except OSError as exc:
        raise ValueError("image: cannot read %s: %s" % (path, exc.strerror)) from None
    manifest = F.unpack_manifest(head)
    if master is not None:  # first, so that a damaged payload is told as such, not as a bad archive
        verifier = F.Verifier(derive_key(master, manifest.key_id), board or manifest.board,
                              parse_version(running) if running else (0, 0, 0), allow_older)
        for block in _blocks(path, payload):
            verifier.feed(block)
        verifier.finish()
    listing = _Listing()
    unpacker = F.Unpacker(listing)
    end = F.HEADER_SIZE + manifest.payload_size
    offset = 0
    for block in _blocks(path, payload):
        start, stop = max(0, F.HEADER_SIZE - offset), min(len(block), end - offset)
        if stop > start:
            unpacker.feed(block[start:stop])
        offset += len(block)
    if offset != end:
        raise F.ImageError(F.TRUNCATED if offset < end else F.TOO_LONG)
    unpacker.finish()
    built = EPOCH_2000 + datetime.timedelta(seconds=manifest.built_s)
    return {"format": F.FORMAT, "board": manifest.board, "version": F.version_text(manifest.version),
            "payload_bytes": manifest.payload_size, "payload_sha256": manifest.payload_sha256.hex(),
            "built": built.isoformat().replace("+00:00", "Z"), "key_id": manifest.key_id,
            "files": len(listing.files), "verified": master is not None}
