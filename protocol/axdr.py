"""A-XDR, the data encoding of DLMS/COSEM (IEC 62056-6-2 / -5-3), both directions.

Values are tagged on the wire; in Python they are plain: None, bool, int, bytes
(octet-string, bit-string bytes), str (visible-string), list (array, structure).
The encoder is told the tag because the wire type of an attribute must never change
between reads (clients cache it). The decoder refuses truncated input, unknown tags
and deep nesting with AxdrError, so a hostile frame costs a bounded amount of work.
Runs on MicroPython: the meter's COSEM server uses it.
"""

from . import civil

NULL = 0
ARRAY = 1
STRUCTURE = 2
BOOLEAN = 3
BIT_STRING = 4
DOUBLE_LONG = 5
DOUBLE_LONG_UNSIGNED = 6
OCTET_STRING = 9
VISIBLE_STRING = 10
UTF8_STRING = 12
INTEGER = 15
LONG = 16
UNSIGNED = 17
LONG_UNSIGNED = 18
LONG64 = 20
LONG64_UNSIGNED = 21
ENUM = 22

# tag: (bytes, signed)
_FIXED = {BOOLEAN: (1, False), DOUBLE_LONG: (4, True), DOUBLE_LONG_UNSIGNED: (4, False), INTEGER: (1, True),
          LONG: (2, True), UNSIGNED: (1, False), LONG_UNSIGNED: (2, False), LONG64: (8, True),
          LONG64_UNSIGNED: (8, False), ENUM: (1, False)}
_STRINGS = (OCTET_STRING, VISIBLE_STRING, UTF8_STRING)
MAX_DEPTH = 8
NOT_SPECIFIED = 0x8000  # date-time deviation "not specified"


class AxdrError(ValueError):
    pass


# --- encoding -------------------------------------------------------------------

def put_length(buf: bytearray, n: int) -> None:
    if n < 0x80:
        buf.append(n)
    elif n < 0x100:
        buf.append(0x81)
        buf.append(n)
    elif n <= 0xFFFF:
        buf.append(0x82)
        buf.append(n >> 8)
        buf.append(n & 0xFF)
    else:
        raise AxdrError("length %d does not fit two bytes" % n)


def put_uint(buf: bytearray, value: int, size: int) -> None:
    """Big-endian unsigned integer without a tag (headers, descriptors)."""
    for shift in range(8 * (size - 1), -1, -8):
        buf.append((value >> shift) & 0xFF)


def put(buf: bytearray, tag: int, value) -> None:
    """One tagged value. Arrays and structures: put_header() then their elements."""
    buf.append(tag)
    if tag == NULL:
        return
    fixed = _FIXED.get(tag)
    if fixed is not None:
        size, signed = fixed
        value = int(value)
        low = -(1 << (8 * size - 1)) if signed else 0
        high = (1 << (8 * size - 1)) - 1 if signed else (1 << (8 * size)) - 1
        if not low <= value <= high:
            raise AxdrError("value %d does not fit type %d" % (value, tag))
        put_uint(buf, value & ((1 << (8 * size)) - 1), size)
    elif tag in _STRINGS:
        data = value.encode() if isinstance(value, str) else value
        put_length(buf, len(data))
        buf.extend(data)
    elif tag == BIT_STRING:  # value: (number of bits, bytes)
        put_length(buf, value[0])
        buf.extend(value[1])
    else:
        raise AxdrError("cannot encode type %d" % tag)


def put_header(buf: bytearray, tag: int, count: int) -> None:
    """The start of an array or a structure of `count` elements."""
    buf.append(tag)
    put_length(buf, count)


# --- decoding -------------------------------------------------------------------

def get_length(data, pos: int):
    """(length, position after it)."""
    if pos >= len(data):
        raise AxdrError("truncated length")
    first = data[pos]
    if first < 0x80:
        return first, pos + 1
    n = first & 0x7F
    if n == 0 or n > 2 or pos + 1 + n > len(data):
        raise AxdrError("bad length encoding")
    value = 0
    for i in range(n):
        value = (value << 8) | data[pos + 1 + i]
    return value, pos + 1 + n


def get_uint(data, pos: int, size: int) -> int:
    if pos + size > len(data):
        raise AxdrError("truncated integer")
    value = 0
    for i in range(size):
        value = (value << 8) | data[pos + i]
    return value


def get(data, pos: int = 0, depth: int = 0):
    """(tag, value, position after it) of the tagged value at pos."""
    if pos >= len(data):
        raise AxdrError("truncated data")
    tag = data[pos]
    pos += 1
    if tag == NULL:
        return tag, None, pos
    fixed = _FIXED.get(tag)
    if fixed is not None:
        size, signed = fixed
        value = get_uint(data, pos, size)
        if signed and value >= 1 << (8 * size - 1):
            value -= 1 << (8 * size)
        return tag, (value != 0 if tag == BOOLEAN else value), pos + size
    if tag in _STRINGS or tag == BIT_STRING:
        n, pos = get_length(data, pos)
        size = (n + 7) // 8 if tag == BIT_STRING else n
        if pos + size > len(data):
            raise AxdrError("truncated string")
        raw = bytes(data[pos:pos + size])
        if tag == VISIBLE_STRING:
            return tag, raw.decode(), pos + size
        return tag, raw, pos + size
    if tag == ARRAY or tag == STRUCTURE:
        if depth >= MAX_DEPTH:
            raise AxdrError("nesting too deep")
        n, pos = get_length(data, pos)
        if n > len(data) - pos:  # every element takes at least one byte
            raise AxdrError("truncated array")
        items = []
        for _ in range(n):
            _, item, pos = get(data, pos, depth + 1)
            items.append(item)
        return tag, items, pos
    raise AxdrError("unknown data type %d" % tag)


# --- date-time (an octet-string of 12 bytes) ----------------------------------------

def date_time(local_s: int, deviation: int = NOT_SPECIFIED, status: int = 0) -> bytes:
    """The 12 bytes of a local time in seconds since 2000; deviation = minutes from local time to UTC."""
    year, month, day, hour = civil.date(local_s)
    return bytes((year >> 8, year & 0xFF, month, day, civil.weekday(local_s), hour, local_s % 3600 // 60,
                  local_s % 60, 0, (deviation >> 8) & 0xFF, deviation & 0xFF, status))


def date_time_seconds(raw, utc_offset_min: int) -> int:
    """Seconds since 2000 UTC of a date-time; an unspecified deviation means the meter's local time.

    Unspecified time fields count as their lowest value; an unspecified date is an error.
    """
    if len(raw) != 12:
        raise AxdrError("date-time must be 12 bytes")
    year = (raw[0] << 8) | raw[1]
    month, day = raw[2], raw[3]
    if year == 0xFFFF or not 1 <= month <= 12 or not 1 <= day <= 31:
        raise AxdrError("date-time without a definite date")
    fields = [0 if raw[i] == 0xFF else raw[i] for i in (5, 6, 7)]
    local = civil.seconds(year, month, day, fields[0], fields[1], fields[2])
    deviation = (raw[9] << 8) | raw[10]
    if deviation == NOT_SPECIFIED:
        return local - utc_offset_min * 60
    if deviation >= 0x8000:
        deviation -= 0x10000
    return local + deviation * 60
