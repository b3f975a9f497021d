"""Power-safe records: two slots (A/B) with a sequence number and a CRC-32.

`save` always overwrites the slot that does not hold the newest good record, so
a power cut or an exception at any point leaves either the old or the new
record readable, never a mixture. `opener` is the file open function (the
built-in by default); tests pass one that fails or tears writes.
"""

import binascii

_MAGIC = b"OR"
_HEADER = 8  # magic (2) + sequence (4) + payload length (2)


def _encode(seq: int, payload) -> bytes:
    body = _MAGIC + seq.to_bytes(4, "big") + len(payload).to_bytes(2, "big") + bytes(payload)
    return body + (binascii.crc32(body) & 0xFFFFFFFF).to_bytes(4, "big")


def _decode(data):
    """(seq, payload) of a good record, or None."""
    if len(data) < _HEADER + 4 or data[0:2] != _MAGIC:
        return None
    size = int.from_bytes(data[6:8], "big")
    if len(data) != _HEADER + size + 4:
        return None
    if (binascii.crc32(data[:-4]) & 0xFFFFFFFF) != int.from_bytes(data[-4:], "big"):
        return None
    return int.from_bytes(data[2:6], "big"), data[_HEADER:-4]


class _Slots:
    """Records in numbered slots: load() finds the newest good one; subclasses read a slot."""

    def __init__(self, count: int):
        self._count = count
        self.seq = -1
        self._slot = count - 1  # slot holding the newest record; the first save goes to slot 0

    def _read(self, slot: int):
        raise NotImplementedError

    def load(self):
        """Payload of the newest good record, or None if there is none."""
        best = None
        for slot in range(self._count):
            record = self._read(slot)
            if record and (best is None or record[0] > best[0]):
                best = record
                self._slot = slot
        if best is None:
            return None
        self.seq = best[0]
        return bytes(best[1])


class RecordStore(_Slots):
    def __init__(self, path_prefix: str, opener=open):
        super().__init__(2)
        self._paths = (path_prefix + ".a", path_prefix + ".b")
        self._open = opener

    def _read(self, slot: int):
        try:
            with self._open(self._paths[slot], "rb") as f:
                return _decode(f.read())
        except OSError:
            return None

    def save(self, payload) -> None:
        slot = 1 - self._slot
        data = _encode(self.seq + 1, payload)
        with self._open(self._paths[slot], "wb") as f:
            f.write(data)
        self.seq += 1
        self._slot = slot


class RingRecordStore(_Slots):
    """The same records on raw flash blocks outside any file system (rp2.Flash, esp32.Partition).

    Each save erases and writes the next block of a ring, so wear spreads over
    `count` blocks; load picks the good record with the highest sequence. This is
    the shadow copy of credit that survives a port reformatting its file system.
    """

    def __init__(self, bdev, first_block: int, count: int):
        if count < 2:
            raise ValueError("count: a ring needs at least 2 blocks")
        super().__init__(count)
        self._bdev = bdev
        self._first = first_block
        self._head = bytearray(_HEADER)

    def _read(self, slot):
        block = self._first + slot
        head = self._head
        self._bdev.readblocks(block, head, 0)
        if head[0:2] != _MAGIC:
            return None
        data = bytearray(_HEADER + int.from_bytes(head[6:8], "big") + 4)
        self._bdev.readblocks(block, data, 0)
        return _decode(data)

    def save(self, payload) -> None:
        slot = (self._slot + 1) % self._count
        block = self._first + slot
        self._bdev.ioctl(6, block)
        self._bdev.writeblocks(block, _encode(self.seq + 1, payload), 0)
        self.seq += 1
        self._slot = slot


class MirroredStore:
    """A file-system store with a shadow copy elsewhere (RingRecordStore on raw flash).

    load() falls back to the shadow when the file system lost the record (rp2
    reformats a file system that fails to mount); save() writes both.
    """

    def __init__(self, primary, shadow):
        self.primary = primary
        self.shadow = shadow

    def load(self):
        data = self.primary.load()
        shadow = self.shadow.load()
        if shadow is not None and (data is None or self.shadow.seq > self.primary.seq):
            self.primary.seq = max(self.primary.seq, self.shadow.seq)
            return shadow
        return data

    def save(self, payload) -> None:
        self.primary.save(payload)
        self.shadow.save(payload)
