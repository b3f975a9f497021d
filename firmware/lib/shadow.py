"""The shadow copy of the credit record, on raw flash outside any file system.

Only boards with such a region load this (rp2 reformats a file system that fails to
mount; esp32 can give it a partition): the rest never pay its RAM.
"""

from records import HEADER, MAGIC, SlotStore, decode_record, encode_record


class RingRecordStore(SlotStore):
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
        self._head = bytearray(HEADER)

    def _read(self, slot):
        block = self._first + slot
        head = self._head
        self._bdev.readblocks(block, head, 0)
        if head[0:2] != MAGIC:
            return None
        data = bytearray(HEADER + int.from_bytes(head[6:8], "big") + 4)
        self._bdev.readblocks(block, data, 0)
        return decode_record(data)

    def save(self, payload) -> None:
        slot = (self._slot + 1) % self._count
        block = self._first + slot
        self._bdev.ioctl(6, block)
        self._bdev.writeblocks(block, encode_record(self.seq + 1, payload), 0)
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
