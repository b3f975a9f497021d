"""The Modbus register block derived from the register map (MicroPython and CPython)."""

from protocol import axdr, modbus_map
from protocol.modbus_map import SIZE, int32_words, reference, registers, table, text_words
from protocol.registers import REGISTERS

SNAPSHOT = {"serial": "OPS00000042", "import_wh": 33581, "export_wh": 0, "import_varh": 70000, "export_varh": 5,
            "power_w": -347, "voltage_mv": 119850, "current_ma": 2894, "freq_mhz": 59981, "pf_milli": -998,
            "battery_mv": 25460, "credit_wh": -1200, "relay": 1}


def _decode(words, row):
    address = row.address
    if row.key in modbus_map.TEXT_KEYS:
        data = b"".join(bytes((w >> 8, w & 0xFF)) for w in words[address:address + row.count])
        return data.rstrip(b"\x00").decode()
    value = words[address] << 16 | words[address + 1]
    return value - (1 << 32) if row.signed and value >= 1 << 31 else value


def test_every_modbus_row_of_the_map_at_its_address_from_address_zero():
    rows = table()
    assert sorted((r.modbus, r.key) for r in REGISTERS if r.modbus is not None) == [(row.address, row.key)
                                                                                  for row in rows]
    assert rows[0].address == 0
    by_key = {row.key: row for row in rows}
    for register in REGISTERS:
        if register.modbus is not None and register.key not in modbus_map.TEXT_KEYS:
            row = by_key[register.key]
            assert row.count == 2 and row.scaler == register.scaler and row.obis == register.obis
            assert row.signed == (register.type in (axdr.DOUBLE_LONG, axdr.LONG, axdr.INTEGER, axdr.LONG64))
            assert row.description == register.name_en
    assert by_key["serial"].count == modbus_map.SERIAL_WORDS and by_key["serial"].obis == "0.0.96.1.0.255"


def test_layout_is_the_published_one():
    # Clients hard-code these addresses: moving one is a breaking change (docs/modbus.md).
    assert [(row.address, row.key) for row in table()] == [
        (0, "import_wh"), (2, "export_wh"), (4, "import_varh"), (6, "export_varh"), (8, "power_w"),
        (10, "voltage_mv"), (12, "current_ma"), (14, "freq_mhz"), (16, "pf_milli"), (18, "battery_mv"),
        (20, "credit_wh"), (22, "relay"), (24, "serial")]


def test_rows_are_contiguous_without_overlaps():
    address = 0
    for row in table():
        assert row.address == address, row
        assert row.count in (2, modbus_map.SERIAL_WORDS)
        address += row.count
    assert address == SIZE and SIZE <= 125  # one read (function 3 or 4) takes the whole block


def test_units_and_signedness_follow_the_map():
    by_key = {row.key: (row.signed, row.scaler, row.unit) for row in table()}
    assert by_key["import_wh"] == (False, 0, "Wh")
    assert by_key["voltage_mv"] == (False, -3, "V")
    assert by_key["power_w"] == (True, 0, "W")
    assert by_key["pf_milli"] == (True, -3, "")
    assert by_key["credit_wh"][0] is True and by_key["relay"][0] is False
    assert all(row.description for row in table())


def test_int32_encoding_high_word_first():
    assert int32_words(0x12345678, False) == (0x1234, 0x5678)
    assert int32_words(-1, True) == (0xFFFF, 0xFFFF)
    assert int32_words(-998, True) == (0xFFFF, 0x10000 - 998)
    assert int32_words(0x80000000, False) == (0x8000, 0)
    assert int32_words(0x7FFFFFFF, True) == (0x7FFF, 0xFFFF)
    assert int32_words(-0x80000000, True) == (0x8000, 0)


def test_out_of_range_values_saturate():
    assert int32_words(1 << 40, False) == (0xFFFF, 0xFFFF)
    assert int32_words(-5, False) == (0, 0)
    assert int32_words(1 << 31, True) == (0x7FFF, 0xFFFF)
    assert int32_words(-(1 << 40), True) == (0x8000, 0)


def test_text_is_ascii_two_characters_a_register_nul_padded():
    assert text_words("OPS1", 3) == [0x4F50, 0x5331, 0]
    assert text_words("ABC", 2) == [0x4142, 0x4300]
    assert text_words("X" * 30, 2) == [0x5858, 0x5858]


def test_block_holds_the_snapshot():
    words = registers(SNAPSHOT)
    assert len(words) == SIZE and all(0 <= w <= 0xFFFF for w in words)
    for row in table():
        assert _decode(words, row) == SNAPSHOT[row.key], row
    assert words[0:2] == [0, 33581] and words[4:6] == [1, 70000 - 65536]


def test_references_and_markdown():
    assert reference(0) == 40001 and reference(0, 4) == 30001 and reference(24) == 40025
    md = modbus_map.markdown()
    lines = md.strip().split("\n")
    assert len(lines) == 2 + len(table())
    assert "| 10 (0x000A) | 40011 | 30011 | 2 | uint32 | n × 10^-3 V | `voltage_mv` | 1.0.32.7.0.255 |" in md
    assert "| int32 | n W | `power_w` |" in md


def test_decode_is_the_inverse_of_registers():
    snapshot = {"serial": "OPS00000042", "import_wh": 33581, "export_wh": 0, "import_varh": 1200, "export_varh": 5,
                "power_w": -347, "voltage_mv": 119850, "current_ma": 2894, "freq_mhz": 59981, "pf_milli": -998,
                "battery_mv": 25460, "credit_wh": -12, "relay": 1}
    assert modbus_map.decode(modbus_map.registers(snapshot)) == snapshot
