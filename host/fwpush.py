"""`opsm fw push`: a signed image to one meter over DLMS image transfer (IC 18, docs/firmware-update.md).

Initiate with an identifier of the image (its board, version and tag: another image restarts the
transfer), send only the blocks the meter's attribute 3 reports missing (so a broken link or a power cut
costs nothing already stored: pushing again resumes), verify, then activate. The meter judges the image
(its head at block 0, the payload's hash at verification); its refusal code stays in the meter, so a
refusal here names the status and what can cause it.
"""

from opsm.protocol import axdr
from opsm.protocol import cosem_objects as O
from opsm.protocol import fw_image as F
from opsm.protocol import image_transfer as T
from opsm.protocol.cosem_client import CosemError

STATUS = ("not initiated", "initiated", "verifying", "verified", "verification failed", "activating", "activated",
          "activation failed")
_REFUSED = ("the meter refused the image: at block 0 its head (another meter's image or another entity's key, "
            "another board, or not newer than its firmware), at verify its payload (not what was signed)")


def identifier(image: bytes) -> bytes:
    """The image_identifier: board, version and the tag's first bytes (two signings never share it)."""
    manifest = F.unpack_manifest(image)
    return ("%s-%s-%s" % (manifest.board, F.version_text(manifest.version),
                          image[F.MANIFEST_SIZE:F.MANIFEST_SIZE + 4].hex())).encode()


def missing(bits: bytes, count: int) -> list:
    """The numbers of the `count` blocks that attribute 3's bit-string (its bytes) leaves clear."""
    return [n for n in range(count) if not bits[n >> 3] & (0x80 >> (n & 7))]


def _get(client, attribute: int):
    return client.get(O.IMAGE_TRANSFER, O.IMAGE_TRANSFER_OBIS, attribute)


def _structure(*fields) -> tuple:
    """A method's parameter: a structure of (tag, value) fields, as _call encodes it."""
    return axdr.STRUCTURE, fields


def _call(client, method: int, parameter: tuple, what: str) -> None:
    tag, value = parameter
    data = bytearray()
    if tag == axdr.STRUCTURE:
        axdr.put_header(data, axdr.STRUCTURE, len(value))
        for field_tag, field in value:
            axdr.put(data, field_tag, field)
    else:
        axdr.put(data, tag, value)
    try:
        client.action(O.IMAGE_TRANSFER, O.IMAGE_TRANSFER_OBIS, method, bytes(data))
    except CosemError as exc:
        raise CosemError("%s: %s%s" % (what, exc, _why(client, exc.code)), exc.code) from None


def _why(client, code: int) -> str:
    if code == T.READ_WRITE_DENIED:
        return " (access denied: a management association, --password or --hls-keys, transfers images)"
    if code == T.OBJECT_UNAVAILABLE:
        return " (image transfer disabled on the meter: attribute 5)"
    try:
        failed = code == T.OTHER_REASON and _get(client, 6) == T.VERIFY_FAILED
    except CosemError:
        return ""  # the refusal's own message says enough
    return " (verification failed: %s)" % _REFUSED if failed else ""


def push(client, image: bytes, progress=None) -> dict:
    """Transfer, verify and activate `image` over an associated CosemClient; progress(sent, to_send) after
    each block. Returns a summary; a refusal is a CosemError that says why."""
    name = identifier(image)  # not an image at all: refused here (ImageError), before the link is used
    block_size = _get(client, 2)
    _call(client, 1, _structure((axdr.OCTET_STRING, name), (axdr.DOUBLE_LONG_UNSIGNED, len(image))), "initiate")
    blocks = -(-len(image) // block_size)
    todo = missing(_get(client, 3), blocks)
    for sent, number in enumerate(todo, 1):
        block = image[number * block_size:(number + 1) * block_size]
        _call(client, 2, _structure((axdr.DOUBLE_LONG_UNSIGNED, number), (axdr.OCTET_STRING, block)),
              "block %d" % number)
        if progress is not None:
            progress(sent, len(todo))
    _call(client, 3, (axdr.INTEGER, 0), "verify")
    _call(client, 4, (axdr.INTEGER, 0), "activate")
    return {"identifier": name.decode(), "bytes": len(image), "blocks": blocks, "sent": len(todo),
            "status": STATUS[_get(client, 6)]}
