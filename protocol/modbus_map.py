"""The meter's Modbus view: one block of registers derived from protocol/registers.py.

Every REGISTERS row marked for Modbus gets two registers, in map order from address 0:
the snapshot value as a 32-bit integer (signed when its A-XDR type is), high word first,
each word big-endian, so the physical value is the integer * 10**scaler unit, the same
integer the DLMS Register carries. After the values, an identification block holds the
serial number as ASCII. The block reads the same by function 3 and 4 (holding and input
registers); nothing in it is writable. Runs on MicroPython: firmware may serve it one day.
"""

from protocol import axdr, registers as regmap

SERIAL_WORDS = 12  # the serial setting holds at most 24 characters (firmware/lib/settings.py)
TEXT_KEYS = ("serial",)  # rows held as ASCII, 2 characters a register, NUL padded
_SIGNED = (axdr.INTEGER, axdr.LONG, axdr.DOUBLE_LONG, axdr.LONG64)

UNIT_NAMES = {regmap.UNIT_SECOND: "s", regmap.UNIT_CURRENCY: "currency", regmap.UNIT_W: "W",
              regmap.UNIT_VA: "VA", regmap.UNIT_VAR: "var", regmap.UNIT_WH: "Wh", regmap.UNIT_VARH: "varh",
              regmap.UNIT_A: "A", regmap.UNIT_V: "V", regmap.UNIT_HZ: "Hz", regmap.UNIT_NONE: ""}

DESCRIPTIONS = {
    "import_wh": "Active energy import (+A)",
    "export_wh": "Active energy export (-A)",
    "import_varh": "Reactive energy import (+R)",
    "export_varh": "Reactive energy export (-R)",
    "power_w": "Active power, instantaneous (import positive)",
    "voltage_mv": "Voltage, inverter output",
    "current_ma": "Current, load",
    "freq_mhz": "Frequency",
    "pf_milli": "Power factor",
    "battery_mv": "Battery bank voltage",
    "credit_wh": "Credit available",
    "relay": "Relay: 1 closed (supply on), 0 open",
    "serial": "Serial number, ASCII, high byte first, NUL padded",
}


def _build() -> tuple:
    rows = []
    address = 0
    for obis, _cls, key, tag, scaler, unit, _iec_unit, _decimals, modbus in regmap.REGISTERS:
        if modbus:
            rows.append((address, 2, key, tag in _SIGNED, scaler, UNIT_NAMES.get(unit, "?"), obis,
                         DESCRIPTIONS.get(key, key)))
            address += 2
    for key in TEXT_KEYS:
        obis = regmap.register(key)[0]
        rows.append((address, SERIAL_WORDS, key, False, 0, "", obis, DESCRIPTIONS.get(key, key)))
        address += SERIAL_WORDS
    return tuple(rows)


_TABLE = _build()
SIZE = _TABLE[-1][0] + _TABLE[-1][1]  # registers in the block, addresses 0 .. SIZE - 1


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
    for address, count, key, signed, _scaler, _unit, _obis, _description in _TABLE:
        if key in TEXT_KEYS:
            words.extend(text_words(snapshot[key], count))
        else:
            words.extend(int32_words(snapshot[key], signed))
    return words


def decode(words) -> dict:
    """The reader's side: snapshot key -> integer (or text) from the whole block of words."""
    out: dict = {}
    for address, count, key, signed, _scaler, _unit, _obis, _description in _TABLE:
        if key in TEXT_KEYS:
            data = bytearray()
            for word in words[address:address + count]:
                data.append(word >> 8)
                data.append(word & 0xFF)
            out[key] = bytes(data).rstrip(b"\x00").decode()
        else:
            value = words[address] << 16 | words[address + 1]
            out[key] = value - (1 << 32) if signed and value & 0x80000000 else value
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
    for address, count, key, signed, scaler, unit, obis, description in _TABLE:
        kind = "ASCII[%d]" % (2 * count) if key in TEXT_KEYS else "int32" if signed else "uint32"
        lines.append("| %d (0x%04X) | %d | %d | %d | %s | %s | `%s` | %s | %s |" % (
            address, address, reference(address, 3), reference(address, 4), count, kind,
            _value(scaler, unit, key), key, obis, description))
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    print(markdown(), end="")
