"""Load profiles: register values captured at every period boundary, power-safe in flash.

A row is (time_s, c1..cN): time_s the boundary it was captured at (seconds since
2000-01-01 on the meter clock, a multiple of period_s), the columns signed 32-bit
integers (a value outside that range is stored saturated). Rows are kept oldest to
newest, strictly increasing in time, at most `capacity` of them; DLMS class 7
(profile generic) buffers are served from them.

Record, fixed size 10 + 4N bytes, big-endian: sequence (4) | time s (4) |
N columns (4 each) | CRC-16/MODBUS of the rest (2).

Storage, the event log's approach: segment files taking turns, here K of them
holding S rows each, K - 1 segments holding at least `capacity` rows. A capture is
one append to the newest segment; when that one is full the oldest segment is
truncated and written afresh by the same single write, so K - 1 full segments
(>= capacity rows) always remain. Not one ring file overwritten in place because
the file API the firmware relies on only truncates ('wb') or appends ('ab'), and
the flash doubles (tests' FakeFlash, the simulator's power-cutting SimFlash) model
exactly those; an append is also what littlefs commits atomically. S is chosen so
that a segment fits one 4 KB littlefs block (ESP32 and RP2040 ports).

Power safety: only an append can be torn, and it is always its segment's last
record. load() reads from the end of each segment back to its last good record,
1 record per segment unless one is torn, instead of checking every CRC (a bitwise
CRC over the 37 KB of the meter's profiles takes seconds on a board). A segment
ending in a torn record is never appended to again: the next capture starts the
next segment (until that torn segment is recycled the profile may hold up to S - 1
rows fewer than capacity). row() checks its record's CRC, and gives None for a
record damaged after it was written. Reading takes one record at a time into a
preallocated buffer; only the segments' row counts are cached.

The meter's two profiles (Meter.boot):
  15-minute: 3 columns, 22-byte records, 672 rows (7 days) in 5 files of 168 rows
             = 18 480 bytes (5 littlefs blocks); 96 appends of 22 bytes a day.
  hourly:    5 columns, 30-byte records, 840 rows (35 days) in 8 files of 120 rows
             = 28 800 bytes (8 blocks); 24 appends of 30 bytes a day.
  Together 47 280 bytes in 13 files and 120 appends a day; on littlefs an append
  rewrites at most the segment's last block (copy-on-write) and commits metadata.

A clock set back pauses capturing until it passes the newest row (rows stay in time
order); clear() empties the profile.
"""

from protocol.crc16 import crc16_modbus

# The meter's profiles; column names are keys of Meter.snapshot().
QUARTER_S = 900
QUARTER_ROWS = 96 * 7
QUARTER_COLUMNS = ("import_wh", "export_wh", "voltage_mv")
HOUR_S = 3600
HOURLY_ROWS = 24 * 35
HOURLY_COLUMNS = ("import_wh", "import_varh", "export_varh", "battery_mv", "credit_wh")


def _get(buf, pos: int, signed: bool = False) -> int:
    """Four bytes big-endian (two's complement if signed)."""
    top = buf[pos]
    if signed and top > 127:
        top -= 256
    return (top << 24) | (buf[pos + 1] << 16) | (buf[pos + 2] << 8) | buf[pos + 3]


class LoadProfile:
    # Few methods and attributes on purpose: each costs heap on a board, code in ROM or not.

    def __init__(self, path_prefix: str, period_s: int, columns, capacity: int, opener=open,
                 segment_rows: int = 0):
        if period_s <= 0 or capacity <= 0 or not columns or segment_rows < 0:
            raise ValueError("load profile: period, capacity and columns must be positive")
        self.period_s = period_s
        self.columns = columns
        self.capacity = capacity
        self._buf = bytearray(10 + 4 * len(columns))  # the one record being written or read
        if segment_rows:
            full = -(-capacity // segment_rows)
        else:  # as few segments holding capacity as fit in a 4 KB littlefs block each
            full = -(-capacity * len(self._buf) // 4096)
            segment_rows = -(-capacity // full)
        self.segment_rows = segment_rows
        self._prefix = path_prefix + "."  # segment s is the file path_prefix.s
        self._open = opener
        self._counts = [0] * (full + 1)           # good rows in each segment
        self._order = bytearray(range(full + 1))  # segments oldest first, empty ones before
        self.entries = 0                          # rows in use: the newest min(all, capacity)
        self.seq = 0                              # sequence number of the next row
        self.last_s = -1                          # time of the newest row, -1: none
        self._ref = -1                            # due() counts boundaries after this one
        self._closed = True                       # the newest segment takes no more appends

    def _read(self, slot: int, segment: int = -1) -> bool:
        """Record `slot` of a segment into the buffer, or without a segment row `slot` (0 the
        oldest in use); True if it is whole and its CRC good."""
        if segment < 0:
            slot += sum(self._counts) - self.entries
            for segment in self._order:
                if slot < self._counts[segment]:
                    break
                slot -= self._counts[segment]
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
        counts, order = self._counts, self._order
        lasts = []
        newest, torn, self.last_s = -1, False, -1
        for segment in range(len(counts)):
            try:
                with self._open(self._prefix + str(segment), "rb") as f:
                    end = f.seek(0, 2)
            except OSError:
                end = 0
            n = end // size
            while n and not self._read(n - 1, segment):  # back over a torn tail
                n -= 1
            counts[segment] = n
            lasts.append(_get(self._buf, 0) if n else -1)
            if n and lasts[-1] > newest:
                newest, torn, self.last_s = lasts[-1], end != n * size, _get(self._buf, 4)
        for k in range(len(order)):  # insertion sort by newest sequence number
            order[k] = j = k
            while j and lasts[order[j - 1]] > lasts[order[j]]:
                order[j - 1], order[j] = order[j], order[j - 1]
                j -= 1
        self.seq = newest + 1
        self._ref = self.last_s
        rows = counts[order[-1]]
        self._closed = torn or rows == 0 or rows >= self.segment_rows
        self.entries = min(sum(counts), self.capacity)

    def due(self, now_s: int) -> int:
        """The latest boundary to capture at if one was crossed since the newest row, else 0.

        After a gap of several periods this is only the latest boundary (no filling in).
        A profile without rows starts counting at its first call.
        """
        boundary = now_s - now_s % self.period_s
        if self._ref < 0:
            self._ref = boundary
            return 0
        return boundary if boundary > self._ref else 0

    def capture(self, time_s: int, values) -> None:
        """Append the row (time_s, *values): one write to flash, nothing allocated but the path."""
        if len(values) != len(self.columns):
            raise ValueError("capture: %d values for %d columns" % (len(values), len(self.columns)))
        if time_s % self.period_s or time_s <= self.last_s:
            raise ValueError("capture: %d is not a boundary after the newest row" % time_s)
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
        order, counts = self._order, self._counts
        segment = order[-1]
        mode = "ab"
        if self._closed:
            mode = "wb"  # start a segment: truncated and written by the one write
            if counts[segment]:
                segment = order[0]  # the oldest (or an empty one): its rows make room
                counts[segment] = 0
                for k in range(len(order) - 1):
                    order[k] = order[k + 1]
                order[-1] = segment
        self._closed = True  # a write that fails leaves a torn tail: never append after it
        with self._open(self._prefix + str(segment), mode) as f:
            f.write(buf)
        counts[segment] += 1
        self.entries = min(sum(counts), self.capacity)
        self._closed = counts[segment] >= self.segment_rows
        self.seq += 1
        self.last_s = time_s
        if time_s > self._ref:
            self._ref = time_s

    def clear(self) -> None:
        """Forget every row (the sequence numbers go on)."""
        for segment in range(len(self._counts)):
            with self._open(self._prefix + str(segment), "wb"):
                pass
            self._counts[segment] = 0
        self.entries = 0
        self.last_s = self._ref = -1
        self._closed = True

    def row(self, i: int):
        """Row i (0 the oldest) as (time_s, c1..cN); None if flash damaged its record."""
        if i < 0 or i >= self.entries:
            raise IndexError("load profile row %d of %d" % (i, self.entries))
        if not self._read(i):
            return None
        buf = self._buf
        return tuple([_get(buf, 4)] + [_get(buf, pos, True) for pos in range(8, len(buf) - 2, 4)])

    def range_index(self, from_s: int, to_s: int):
        """(first, count) of the rows with from_s <= time_s <= to_s (DLMS range selection)."""
        first = end = 0
        for limit in (from_s - 1, to_s):  # binary search: the first row after the limit
            low, high = 0, self.entries
            while low < high:
                mid = (low + high) // 2
                self._read(mid)  # a damaged time only misplaces the bound; row() checks the CRC
                if _get(self._buf, 4) > limit:
                    high = mid
                else:
                    low = mid + 1
            first, end = end, low
        return first, (end - first if to_s >= from_s else 0)
