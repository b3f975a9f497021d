"""Load profiles: register values captured at every period boundary, power-safe in flash.

A row is (time_s, c1..cN): time_s the boundary it was captured at (seconds since
2000-01-01 on the meter clock, a multiple of period_s), the columns signed 32-bit
integers (a value outside that range is stored saturated). Rows are kept oldest to
newest, strictly increasing in time, at most `capacity` of them; DLMS class 7
(profile generic) buffers are served from them (row, range_index, entries, capacity).

Record, fixed size 10 + 4N bytes, big-endian: sequence (4) | time s (4) |
N columns (4 each) | CRC-16/MODBUS of the rest (2).

Storage, the event log's approach: K segment files written in turn, each of up to
S = ceil(capacity / (K - 1)) rows, so the K - 1 segments besides the one being
filled hold `capacity` rows. A capture is one write: an append ('ab') to the
current segment, or, when that one is full, the oldest segment truncated and
written afresh ('wb') by the same write. Not one ring file written in place: the
firmware's file use (and the flash doubles of the tests and the simulator, which
cut power at a write) knows truncate and append only, and littlefs commits an
append atomically. S is as large as fits one 4 KB littlefs block (ESP32, RP2040).

Power safety: only an append can be torn, and it is always its segment's last
record. load() reads each segment's last record and steps back over a torn one,
rather than checking every CRC (a bitwise CRC over the 37 KB of the meter's
profiles would take seconds on a board). A segment ending in a torn record gets no
more appends: the next capture starts the next segment, so until that segment's
turn comes again the profile may hold up to S - 1 rows fewer than capacity. row()
checks its record's CRC and gives None for a record damaged after it was written.
Reading takes one record at a time into the profile's 22-30 byte buffer; only the
rows per segment are kept in RAM.

The meter's two profiles (LAYOUTS, the register map's; meter_profiles()):
  15-minute: 3 columns, 22-byte records, 672 rows (7 days) in 5 files of 168 rows
             = 18 480 bytes (5 littlefs blocks); 96 appends of 22 bytes a day.
  hourly:    5 columns, 30-byte records, 840 rows (35 days) in 8 files of 120 rows
             = 28 800 bytes (8 blocks); 24 appends of 30 bytes a day.
  Together 47 280 bytes in 13 files and 120 writes a day; on littlefs an append
  rewrites at most the file's last block (copy-on-write) and commits its metadata.
Heap (64-bit unix port, code in ROMFS): ~1.4 KB for the module, ~0.45 KB a profile.

A clock set back pauses capturing until it passes the newest row (rows stay in time
order); clear() empties the profile. The layout (prefix, columns, capacity) must
not change under the same files.
"""

from protocol.crc16 import crc16_modbus

# The meter's load profiles as the register map lays them out (protocol/registers.PROFILES, in its
# order): file, capture period s, columns (register keys, as Meter.value() and snapshot() name them)
# and capacity. Written here, not imported: the map and axdr cost ~13 KB of heap at boot (64-bit
# unix port), which only the optical port needs; tests/host/test_register_map.py fails on a drift.
QUARTER_COLUMNS = ("import_wh", "export_wh", "voltage_mv")
HOURLY_COLUMNS = ("import_wh", "import_varh", "export_varh", "battery_mv", "credit_wh")
LAYOUTS = (("lp15", 900, QUARTER_COLUMNS, 96 * 7),    # 1.0.99.1.0.255: 7 days
           ("lp60", 3600, HOURLY_COLUMNS, 24 * 35))   # 1.0.99.2.0.255: 35 days


class LoadProfile:
    # Few methods and attributes on purpose: each costs heap on a board, even with the code in ROM.

    def __init__(self, path_prefix: str, period_s: int, columns, capacity: int, opener=open,
                 segment_rows: int = 0):
        """segment_rows: rows per segment file (at most 255); by default as many as fit in a
        4 KB littlefs block, spread evenly over the segments that hold `capacity`."""
        if period_s <= 0 or capacity <= 0 or not columns or segment_rows < 0:
            raise ValueError("capacity")  # messages that are names already: no string in RAM
        self.period_s = period_s
        self.columns = columns
        self.capacity = capacity
        self._buf = bytearray(10 + 4 * len(columns))  # the one record being written or read
        full = -(-capacity // min(segment_rows or 4096 // len(self._buf), 255))
        # Good rows in each of K segments. The files are written in turn, so the one after
        # the current (round) is the oldest; each holds up to ceil(capacity / (K - 1)) rows.
        self._counts = bytearray(full + 1)
        self._prefix = path_prefix + "."  # segment s is the file path_prefix.s
        self._open = opener
        self._segment = 0      # the segment written last
        self._closed = True    # it takes no more appends (full, torn or none yet)
        self.entries = 0       # rows in use: the newest min(all, capacity)
        self.seq = 0           # sequence number of the next row
        self._last = -1        # time of the newest row, or the boundary due() started from

    def _read(self, slot: int, segment: int = -1) -> bool:
        """Record `slot` of a segment into the buffer, or without a segment row `slot` (0 the
        oldest in use); True if it is whole and its CRC good."""
        counts = self._counts
        if segment < 0:
            for n in counts:
                slot += n
            slot -= self.entries  # rows in flash beyond capacity come first
            segment = self._segment
            for _ in counts:      # oldest first: the segment after the current, round
                segment = segment + 1 if segment + 1 < len(counts) else 0
                if slot < counts[segment]:
                    break
                slot -= counts[segment]
        buf = self._buf
        end = len(buf) - 2
        with self._open(self._prefix + str(segment), "rb") as f:
            f.seek(slot * len(buf))
            if f.readinto(buf) != len(buf):
                return False
        crc = crc16_modbus(buf, 0, end)
        return buf[end] == crc >> 8 and buf[end + 1] == crc & 0xFF

    def load(self) -> None:
        """Find the rows in flash (at boot): one record read per segment unless one is torn."""
        size = len(self._buf)
        counts = self._counts
        rows = -(-self.capacity // (len(counts) - 1))
        total, newest, torn, self._segment, self._last = 0, -1, False, 0, -1
        for segment in range(len(counts)):
            try:
                with self._open(self._prefix + str(segment), "rb") as f:
                    end = f.seek(0, 2)
            except OSError:
                end = 0
            n = min(end // size, rows)  # (more only if written with another layout)
            while n and not self._read(n - 1, segment):  # back over a torn tail
                n -= 1
            counts[segment] = n
            total += n
            seq = int.from_bytes(self._buf[0:4], "big") if n else -1
            if seq > newest:
                newest, torn, self._segment, self._last = seq, end != n * size, segment, int.from_bytes(self._buf[4:8], "big")
        self.seq = newest + 1
        n = counts[self._segment]
        self._closed = torn or n == 0 or n >= rows
        self.entries = min(total, self.capacity)

    def due(self, now_s: int) -> int:
        """The latest boundary to capture at if one was crossed since the newest row, else 0.

        After a gap of several periods this is only the latest boundary (no filling in).
        A profile without rows starts counting at its first call.
        """
        boundary = now_s - now_s % self.period_s
        if self._last < 0:
            self._last = boundary
            return 0
        return boundary if boundary > self._last else 0

    def capture(self, time_s: int, values) -> None:
        """Append the row (time_s, *values): one write; allocates only the file's path."""
        if len(values) != len(self.columns):
            raise ValueError("columns")
        if time_s % self.period_s or time_s <= self._last:
            raise ValueError("time_s")  # not a boundary after the newest row
        buf = self._buf
        pos = 0
        for k in range(len(buf) // 4):  # sequence, time, columns: 4 bytes each, big-endian
            if k == 0:
                value = self.seq
            elif k == 1:
                value = time_s
            else:
                value = values[k - 2]
                value = 0x7FFFFFFF if value > 0x7FFFFFFF else -0x80000000 if value < -0x80000000 else value
            buf[pos] = (value >> 24) & 0xFF
            buf[pos + 1] = (value >> 16) & 0xFF
            buf[pos + 2] = (value >> 8) & 0xFF
            buf[pos + 3] = value & 0xFF
            pos += 4
        crc = crc16_modbus(buf, 0, pos)
        buf[pos] = crc >> 8
        buf[pos + 1] = crc & 0xFF
        counts = self._counts
        segment = self._segment
        mode = "ab"
        if self._closed:
            mode = "wb"  # start a segment: truncated and written by the one write
            if counts[segment]:  # the next one round is the oldest: its rows make room
                segment = self._segment = segment + 1 if segment + 1 < len(counts) else 0
                counts[segment] = 0
        self._closed = True  # a write that fails leaves a torn tail: never append after it
        with self._open(self._prefix + str(segment), mode) as f:
            f.write(buf)
        counts[segment] += 1
        total = 0
        for n in counts:
            total += n
        self.entries = min(total, self.capacity)
        self._closed = counts[segment] >= -(-self.capacity // (len(counts) - 1))
        self.seq += 1
        self._last = time_s

    def clear(self) -> None:
        """Forget every row (the sequence numbers go on)."""
        for segment in range(len(self._counts)):
            with self._open(self._prefix + str(segment), "wb"):
                pass
            self._counts[segment] = 0
        self.entries = 0
        self._last = -1
        self._closed = True

    def row(self, i: int):
        """Row i (0 the oldest) as (time_s, c1..cN); None if flash damaged its record."""
        if i < 0 or i >= self.entries:
            raise IndexError("row")
        if not self._read(i):
            return None
        buf = self._buf
        out = [int.from_bytes(buf[4:8], "big")]
        for pos in range(8, len(buf) - 2, 4):
            value = int.from_bytes(buf[pos:pos + 4], "big")
            out.append(value - (value >> 31 << 32))  # two's complement
        return tuple(out)

    def range_index(self, from_s: int, to_s: int):
        """(first, count) of the rows with from_s <= time_s <= to_s (DLMS range selection)."""
        first = end = 0
        for limit in (from_s - 1, to_s):  # binary search for the first row after the limit
            low, high = 0, self.entries
            while low < high:
                mid = (low + high) // 2
                self._read(mid)  # a damaged time only misplaces the bound; row() checks the CRC
                if int.from_bytes(self._buf[4:8], "big") > limit:
                    high = mid
                else:
                    low = mid + 1
            first, end = end, low
        return first, (end - first if to_s >= from_s else 0)


def meter_profiles(root: str, opener=open) -> tuple:
    """The meter's load profiles (LAYOUTS), files under `root`; load() finds their rows."""
    return tuple(LoadProfile(root + name, period_s, columns, capacity, opener)
                 for name, period_s, columns, capacity in LAYOUTS)
