"""IEC 62056-47 TCP wrapper for DLMS/COSEM, sans-IO: the framing of port 4059.

Each APDU travels behind an 8-byte header: version 1, source wPort, destination wPort
and APDU length, all u16 big-endian. A client sends its SAP as source and the logical
device as destination; the reply swaps them. There is no segmentation at this layer,
but TCP may split or coalesce packets, so the reader counts bytes. A wrong version or
an oversized length means the peer is not speaking DLMS (or is hostile): the reader
raises WrapperError and the server closes the connection.
"""

VERSION = 1
HEADER_SIZE = 8


class WrapperError(ValueError):
    """A header the reader refuses; the message names the field."""


def _u16(buf, pos: int) -> int:
    return buf[pos] << 8 | buf[pos + 1]


def wrap(src: int, dst: int, apdu) -> bytes:
    if not (0 <= src <= 0xFFFF and 0 <= dst <= 0xFFFF):
        raise WrapperError("wrapper port out of range")
    if len(apdu) > 0xFFFF:
        raise WrapperError("wrapper length %d over 65535" % len(apdu))
    header = bytearray(HEADER_SIZE)
    for pos, value in ((0, VERSION), (2, src), (4, dst), (6, len(apdu))):
        header[pos] = value >> 8
        header[pos + 1] = value & 0xFF
    return bytes(header) + bytes(apdu)


class WrapperReader:
    """Accumulates stream bytes; feed() returns the complete (src, dst, apdu) tuples."""

    def __init__(self, max_length: int = 4096):
        self.max_length = max_length
        self._buf = bytearray()

    def feed(self, data) -> list:
        buf = self._buf
        buf += data
        out = []
        pos = 0
        n = len(buf)
        while n - pos >= 2:
            version = _u16(buf, pos)
            if version != VERSION:
                raise WrapperError("wrapper version %d (expected %d)" % (version, VERSION))
            if n - pos < HEADER_SIZE:
                break
            length = _u16(buf, pos + 6)
            if length > self.max_length:
                raise WrapperError("wrapper length %d over max %d" % (length, self.max_length))
            end = pos + HEADER_SIZE + length
            if end > n:
                break
            out.append((_u16(buf, pos + 2), _u16(buf, pos + 4), bytes(buf[pos + HEADER_SIZE:end])))
            pos = end
        if pos:
            self._buf = buf[pos:]
        return out
