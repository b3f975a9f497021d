"""Append-only event log with sequence numbers, power-safe, bounded in flash.

Fixed 16-byte records: sequence (4) | time s (4) | code (1) | a (3) | b (2) | CRC-16 (2).
The codes are protocol/events.py's.
Two segment files take turns: when the current one is full the other is emptied
and written, so the log keeps between one and two segments of history and flash
use stays bounded. A record torn by a power cut fails its CRC and ends the
segment; the next append rewrites that segment without it.
"""

from protocol.crc16 import crc16_modbus

RECORD = 16


class EventLog:
    def __init__(self, path_prefix: str, segment_records: int = 128, opener=open, listener=None):
        self._paths = (path_prefix + ".0", path_prefix + ".1")
        self._open = opener
        self.segment_records = segment_records
        self._buf = bytearray(RECORD)
        self.seq = 0          # sequence number of the next event
        self._segment = 0
        self._count = 0       # good records in the current segment
        self._dirty = False   # the current segment ends with a torn record
        self.listener = listener  # .event(seq, time s, code, a, b) after each append (the meter's pushes), or None

    def _read(self, segment: int):
        """The segment's bytes and how many records at its start are good."""
        try:
            with self._open(self._paths[segment], "rb") as f:
                data = f.read()
        except OSError:
            return b"", 0
        good = 0
        for pos in range(0, len(data) - RECORD + 1, RECORD):
            crc = crc16_modbus(data, pos, pos + 14)
            if data[pos + 14] != crc >> 8 or data[pos + 15] != crc & 0xFF:
                break
            good += 1
        return data, good

    def _records(self, segment: int) -> list:
        """(seq, time, code, a, b) of the good records of a segment, in order (for reading out)."""
        data, good = self._read(segment)
        out = []
        for pos in range(0, good * RECORD, RECORD):
            out.append((int.from_bytes(data[pos:pos + 4], "big"), int.from_bytes(data[pos + 4:pos + 8], "big"),
                        data[pos + 8], int.from_bytes(data[pos + 9:pos + 12], "big"),
                        int.from_bytes(data[pos + 12:pos + 14], "big")))
        return out

    def load(self) -> None:
        """Find where the log ends (at boot), without building the records."""
        best = -1
        for segment in (0, 1):
            data, good = self._read(segment)
            last = int.from_bytes(data[(good - 1) * RECORD:(good - 1) * RECORD + 4], "big") if good else -1
            if segment == 0 or last > best:
                best = last
                self._segment = segment
                self._count = good
                self._dirty = good * RECORD != len(data)  # a torn tail to drop before appending
        self.seq = best + 1

    def append(self, now_s: int, code: int, a: int = 0, b: int = 0) -> int:
        """Write one event; returns its sequence number."""
        if self._count >= self.segment_records:
            self._segment ^= 1
            self._count = 0
            self._dirty = False
            with self._open(self._paths[self._segment], "wb"):
                pass  # empty the older segment before reusing it
        if self._dirty:
            self._rewrite()
        buf = self._buf
        seq = self.seq
        buf[0:4] = seq.to_bytes(4, "big")
        buf[4:8] = (now_s & 0xFFFFFFFF).to_bytes(4, "big")
        buf[8] = code
        buf[9:12] = (a & 0xFFFFFF).to_bytes(3, "big")
        buf[12:14] = (b & 0xFFFF).to_bytes(2, "big")
        crc = crc16_modbus(buf, 0, 14)
        buf[14] = crc >> 8
        buf[15] = crc & 0xFF
        with self._open(self._paths[self._segment], "ab") as f:
            f.write(buf)
        self.seq = seq + 1
        self._count += 1
        if self.listener is not None:
            self.listener.event(seq, now_s, code, a, b)
        return seq

    def _rewrite(self) -> None:
        data, good = self._read(self._segment)
        with self._open(self._paths[self._segment], "wb") as f:
            f.write(data[:good * RECORD])
        self._dirty = False

    def events(self) -> list:
        """Every event still in flash, oldest first."""
        other = self._records(self._segment ^ 1)
        current = self._records(self._segment)
        return [e for e in other if not current or e[0] < current[0][0]] + current
