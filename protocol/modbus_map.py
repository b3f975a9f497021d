"""The meter's Modbus view: one block of registers derived from protocol/registers.py.

Every REGISTERS row with a Modbus address holds its snapshot value there: a number as a
32-bit integer in two registers (signed when its A-XDR type is), high word first, each word
big-endian, so the physical value is the integer * 10**scaler unit, the same integer the DLMS
Register carries; the serial number (an octet string) as ASCII in an identification block
after the values. The block reads the same by function 3 and 4 (holding and input registers);
nothing in it is writable. Runs on MicroPython: firmware may serve it one day.
"""

from collections import namedtuple

from . import axdr, registers as regmap

SERIAL_WORDS = 12  # the serial setting holds at most 24 characters (firmware/lib/settings.py)
_TEXT_TYPES = (axdr.OCTET_STRING, axdr.VISIBLE_STRING)  # held as ASCII, 2 characters a register, NUL padded
_SIGNED = (axdr.INTEGER, axdr.LONG, axdr.DOUBLE_LONG, axdr.LONG64)

UNIT_NAMES = {regmap.UNIT_SECOND: "s", regmap.UNIT_CURRENCY: "currency", regmap.UNIT_W: "W",
              regmap.UNIT_VA: "VA", regmap.UNIT_VAR: "var", regmap.UNIT_WH: "Wh", regmap.UNIT_VARH: "varh",
              regmap.UNIT_A: "A", regmap.UNIT_V: "V", regmap.UNIT_HZ: "Hz", regmap.UNIT_NONE: ""}
_TEXT_NOTE = ", ASCII, high byte first, NUL padded"

# One value of the block: `count` registers from `address`, the map's register `key`.
Row = namedtuple("Row", "address count key signed scaler unit obis description")


def _build() -> tuple:
    rows = []
    for r in regmap.REGISTERS:
        if r.modbus is not None:
            text = r.key in TEXT_KEYS
            rows.append(Row(r.modbus, SERIAL_WORDS if text else 2, r.key, r.type in _SIGNED, r.scaler,
                            "" if text else UNIT_NAMES.get(r.unit, "?"), r.obis,
                            r.name_en + _TEXT_NOTE if text else r.name_en))
    rows.sort(key=lambda row: row.address)
    end = 0
    for row in rows:
        if row.address < end:
            raise ValueError("modbus: %s overlaps the register before it" % row.key)
        end = row.address + row.count
    return tuple(rows)


TEXT_KEYS = tuple(r.key for r in regmap.REGISTERS if r.modbus is not None and r.type in _TEXT_TYPES)
_TABLE = _build()
SIZE = _TABLE[-1].address + _TABLE[-1].count  # registers in the block, addresses 0 .. SIZE - 1


def table() -> list:
    """Rows (address, count, key, signed, scaler, unit name, OBIS, description), address order."""
    return list(_TABLE)


def reference(address: int, function: int = 3) -> int:
    """The 1-based "4xxxx" (function 3) or "3xxxx" (function 4) reference of a 0-based address."""
    return (40001 if function == 3 else 30001) + address


def int32_words(value: int, signed: bool) -> tuple:
    """Two registers, high word first; a value outside the 32-bit range saturates at its end."""
    low, high = (-0x80000000, 0x7FFFFFFF) if signed else (0, 0xFFFFFFFF)
    value = low if value < low else high if value > high else int(value)
    value &= 0xFFFFFFFF
    return value >> 16, value & 0xFFFF


def text_words(value, count: int) -> list:
    data = str(value).encode()[:2 * count]
    data += bytes(2 * count - len(data))
    return [data[i] << 8 | data[i + 1] for i in range(0, 2 * count, 2)]


def registers(snapshot: dict) -> list:
    """The whole block (SIZE 16-bit words, address 0 first) for Meter.snapshot()."""
    words = []
    for row in _TABLE:
        if row.key in TEXT_KEYS:
            words.extend(text_words(snapshot[row.key], row.count))
        else:
            words.extend(int32_words(snapshot[row.key], row.signed))
    return words


def decode(words) -> dict:
    """The reader's side: snapshot key -> integer (or text) from the whole block of words."""
    out: dict = {}
    for row in _TABLE:
        address = row.address
        if row.key in TEXT_KEYS:
            data = bytearray()
            for word in words[address:address + row.count]:
                data.append(word >> 8)
                data.append(word & 0xFF)
            out[row.key] = bytes(data).rstrip(b"\x00").decode()
        else:
            value = words[address] << 16 | words[address + 1]
            out[row.key] = value - (1 << 32) if row.signed and value & 0x80000000 else value
    return out


def _value(scaler: int, unit: str, key: str) -> str:
    if key in TEXT_KEYS:
        return "-"
    text = "n" if scaler == 0 else "n × 10^%d" % scaler
    return text + " " + unit if unit else text


def markdown() -> str:
    """The documentation table (docs/modbus.md holds it verbatim)."""
    lines = ["| Address | Ref. FC 3 | Ref. FC 4 | Registers | Type | Value | Key | OBIS | Quantity |",
             "|--------:|----------:|----------:|----------:|------|-------|-----|------|----------|"]
    for row in _TABLE:
        address = row.address
        kind = "ASCII[%d]" % (2 * row.count) if row.key in TEXT_KEYS else "int32" if row.signed else "uint32"
        lines.append("| %d (0x%04X) | %d | %d | %d | %s | %s | `%s` | %s | %s |" % (
            address, address, reference(address, 3), reference(address, 4), row.count, kind,
            _value(row.scaler, row.unit, row.key), row.key, row.obis, row.description))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
