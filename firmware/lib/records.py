"""Power-safe records: two slots (A/B) with a sequence number and a CRC-32.

`save` always overwrites the slot that does not hold the newest good record, so
a power cut or an exception at any point leaves either the old or the new
record readable, never a mixture. `opener` is the file open function (the
built-in by default); tests pass one that fails or tears writes.
"""

import binascii

MAGIC = b"OR"
HEADER = 8  # magic (2) + sequence (4) + payload length (2)


def encode_record(seq: int, payload) -> bytearray:
    out = bytearray(MAGIC)  # one buffer, no intermediate copies of the payload
    out += seq.to_bytes(4, "big")
    out += len(payload).to_bytes(2, "big")
    out += payload
    out += (binascii.crc32(out) & 0xFFFFFFFF).to_bytes(4, "big")
    return out


def decode_record(data):
    """(seq, payload) of a good record, or None."""
    if len(data) < HEADER + 4 or data[0:2] != MAGIC:
        return None
    size = int.from_bytes(data[6:8], "big")
    if len(data) != HEADER + size + 4:
        return None
    if (binascii.crc32(data[:-4]) & 0xFFFFFFFF) != int.from_bytes(data[-4:], "big"):
        return None
    return int.from_bytes(data[2:6], "big"), data[HEADER:-4]


class SlotStore:
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


class RecordStore(SlotStore):
    def __init__(self, path_prefix: str, opener=open):
        super().__init__(2)
        self._paths = (path_prefix + ".a", path_prefix + ".b")
        self._open = opener

    def _read(self, slot: int):
        try:
            with self._open(self._paths[slot], "rb") as f:
                return decode_record(f.read())
        except OSError:
            return None

    def save(self, payload) -> None:
        slot = 1 - self._slot
        data = encode_record(self.seq + 1, payload)
        with self._open(self._paths[slot], "wb") as f:
            f.write(data)
        self.seq += 1
        self._slot = slot
