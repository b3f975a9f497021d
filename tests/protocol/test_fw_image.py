"""The signed firmware image, meter side: HMAC known answers, the streaming verifier and each of its
refusals, the archive unpacker (runs on MicroPython too)."""

import binascii
import hashlib

from protocol import fw_image as F
from protocol import fw_manifest
from tests.asserts import flipped

KEY = bytes(range(32))
PAYLOAD = bytes((i * 7) & 0xFF for i in range(3000))


def _reason(fn, *args):
    try:
        fn(*args)
    except F.ImageError as e:
        return F.NAMES[e.reason]
    return None


def _image(board="esp32", version=(1, 2, 0), payload=PAYLOAD, key=KEY, kind=F.KIND_ARCHIVE):
    manifest = fw_manifest.pack(F.Manifest(board, version, len(payload), hashlib.sha256(payload).digest(), 900000000,
                                           "600727000000000009", kind))
    return manifest + F.hmac_sha256(key, manifest) + payload


def _verify(image, block=512, key=KEY, running=(1, 1, 0), allow_older=False):
    verifier = F.Verifier(key, "esp32", running, allow_older)
    for i in range(0, len(image), block):
        verifier.feed(image[i:i + block])
    return verifier.finish()


def test_hmac_sha256_rfc4231_known_answers():
    cases = ((b"\x0b" * 20, b"Hi There", "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7"),
             (b"Jefe", b"what do ya want for nothing?",
              "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"),
             (b"\xaa" * 131, b"Test Using Larger Than Block-Size Key - Hash Key First",
              "60e431591ee0b67f0d8a26aacbf5b77f8e0bc6213728c5140546040f0ee37f54"))
    for key, message, mac in cases:
        assert F.hmac_sha256(key, message) == binascii.unhexlify(mac)


def test_the_layout_is_the_documented_one():
    image = _image()
    assert len(image) == F.HEADER_SIZE + len(PAYLOAD) and F.HEADER_SIZE == 122
    assert image[0:6] == b"OPFW\x01\x01" and image[6:22] == b"esp32" + bytes(11)
    assert image[22:26] == b"\x01\x02\x00\x00" and image[26:30] == len(PAYLOAD).to_bytes(4, "big")
    assert image[30:62] == hashlib.sha256(PAYLOAD).digest() and image[62:66] == (900000000).to_bytes(4, "big")
    assert image[66:90] == b"600727000000000009" + bytes(6)
    manifest = F.unpack_manifest(image)
    assert (manifest.board, manifest.version, manifest.key_id) == ("esp32", (1, 2, 0), "600727000000000009")
    assert F.version_text(F.Manifest("pico", (2, 0, 300), 0, bytes(32), 0, "x").version) == "2.0.300"


def test_an_image_verifies_in_blocks_of_any_size():
    image = _image()
    for block in (1, 7, F.HEADER_SIZE, 1000, len(image)):
        manifest = _verify(image, block)
        assert manifest.version == (1, 2, 0) and manifest.payload_size == len(PAYLOAD)


def test_the_header_is_judged_at_once_before_the_payload_arrives():
    verifier = F.Verifier(KEY, "pico", (1, 1, 0))
    image = _image()
    verifier.feed(image[:F.HEADER_SIZE - 1])
    assert _reason(verifier.feed, image[F.HEADER_SIZE - 1:F.HEADER_SIZE]) == "WRONG_BOARD"  # the last tag byte
    assert _reason(verifier.feed, PAYLOAD) == "WRONG_BOARD"  # refused for good
    assert _reason(verifier.finish) == "WRONG_BOARD"


def test_each_refusal_has_its_reason():
    image = _image()
    assert _reason(_verify, _image(board="pico")) == "WRONG_BOARD"
    assert _reason(_verify, _image(version=(1, 0, 9))) == "OLDER"
    assert _verify(_image(version=(1, 0, 9)), allow_older=True).version == (1, 0, 9)
    assert _reason(_verify, _image(version=(1, 1, 0))) == "SAME_VERSION"
    assert _reason(_verify, _image(version=(1, 1, 0)), 512, KEY, (1, 1, 0), True) == "SAME_VERSION"
    assert _reason(_verify, flipped(image, len(image) - 1)) == "BAD_PAYLOAD"
    assert _reason(_verify, flipped(image, 24)) == "BAD_SIGNATURE"  # the version, in the manifest
    assert _reason(_verify, flipped(image, F.MANIFEST_SIZE + 5)) == "BAD_SIGNATURE"
    assert _reason(_verify, image, 512, bytes(32)) == "BAD_SIGNATURE"
    assert _reason(_verify, image[:-1]) == "TRUNCATED"
    assert _reason(_verify, image[:100]) == "TRUNCATED"
    assert _reason(_verify, image + b"\0") == "TOO_LONG"
    assert _reason(_verify, flipped(image, 0)) == "BAD_FORMAT"
    assert _reason(_verify, flipped(image, 4, 0x03)) == "BAD_FORMAT"  # format 2
    assert _reason(_verify, _image(kind=2)) == "BAD_FORMAT"
    assert len(set(F.NAMES)) == len(F.NAMES) == F.BAD_SIGNATURE + 1


def test_a_signed_manifest_with_impossible_fields_is_bad_format():
    manifest = bytearray(_image()[:F.MANIFEST_SIZE])
    manifest[26:30] = (F.MAX_PAYLOAD + 1).to_bytes(4, "big")
    assert _reason(F.check_header, bytes(manifest) + F.hmac_sha256(KEY, manifest), KEY, "esp32",
                   (1, 0, 0)) == "BAD_FORMAT"
    manifest = bytearray(_image()[:F.MANIFEST_SIZE])
    manifest[6] = 0x80
    assert _reason(F.check_header, bytes(manifest) + F.hmac_sha256(KEY, manifest), KEY, "esp32",
                   (1, 0, 0)) == "BAD_FORMAT"
    try:
        fw_manifest.pack(F.Manifest("esp32", (256, 0, 0), 0, bytes(32), 0, "x"))
        assert False
    except ValueError as e:
        assert "version" in str(e)


class _Files:
    def __init__(self):
        self.files = {}
        self.open = None

    def begin(self, path, size):
        assert self.open is None
        self.open = path
        self.files[path] = bytearray()

    def write(self, chunk):
        self.files[self.open].extend(chunk)

    def end(self):
        self.open = None


def _archive(entries):
    out = b""
    for path, data in entries:
        out += bytes((len(path),)) + path.encode() + len(data).to_bytes(4, "big") + data
    return out


def test_the_unpacker_gives_back_the_files_whatever_the_blocks():
    entries = (("boot.py", b"import gc\n"), ("lib/empty.mpy", b""), ("lib/protocol/aes.mpy", PAYLOAD[:700]))
    payload = _archive(entries)
    for block in (1, 3, 64, len(payload)):
        files = _Files()
        unpacker = F.Unpacker(files)
        for i in range(0, len(payload), block):
            unpacker.feed(payload[i:i + block])
        unpacker.finish()
        assert files.files == dict((path, bytearray(data)) for path, data in entries) and files.open is None


def test_the_unpacker_refuses_paths_outside_the_tree_and_a_cut_entry():
    for path in ("/boot.py", "../main.py", "lib//a.mpy", "lib/./a.mpy", ""):
        assert _reason(F.Unpacker(_Files()).feed, _archive(((path, b"x"),))) == "BAD_FORMAT", path
    unpacker = F.Unpacker(_Files())
    unpacker.feed(_archive((("main.py", b"abc"),))[:-1])
    assert _reason(unpacker.finish) == "TRUNCATED"
