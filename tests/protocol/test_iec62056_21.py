"""IEC 62056-21 mode C readout, meter side (MicroPython and CPython)."""

from protocol import iec62056_21 as iec
from protocol.registers import iec21_data_sets, formatted

SNAPSHOT = {"serial": "12345", "import_wh": 33581, "export_wh": 0, "import_varh": 1200, "export_varh": 5,
            "power_w": 347, "voltage_mv": 119850, "current_ma": 2894, "freq_mhz": 59981, "pf_milli": -998,
            "battery_mv": 25460, "credit_wh": 1630438, "relay": 1}


def _session(address=""):
    return iec.Session("OPSM-SP-230", lambda: iec21_data_sets(SNAPSHOT), address)


def test_request_identification_ack_readout():
    s = _session()
    assert s.feed(b"/?!\r\n") == b"/OPS5OPSM-SP-230\r\n"
    block = s.feed(b"\x06050\r\n")
    assert block[0] == iec.STX and block[-2] == iec.ETX
    assert block[-1] == iec.bcc(block[1:-1])
    lines = block[1:-2].decode().split("\r\n")
    assert "1.8.0(33.581*kWh)" in lines and "32.7.0(119.850*V)" in lines and "96.1.0(12345)" in lines
    assert "13.7.0(-0.998)" in lines and "19.10.0(1630.438*kWh)" in lines and lines[-2] == "!"


def test_addressing_split_input_and_garbage():
    s = _session("42")
    assert s.feed(b"/?17!\r\n") == b""            # another meter on the bus
    assert s.feed(b"/?4") == b""                   # bytes may come in pieces
    assert s.feed(b"2!\r\n").startswith(b"/OPS5")
    assert s.feed(b"\x06051\r\n") == b""           # programming mode is not offered
    assert s.feed(b"\x06050\r\n") == b""           # an ACK without a request first
    assert s.feed(b"x" * 100) == b""               # an endless line resets the session
    assert s.feed(b"/?42!\r\n\x06050\r\n")[:1] == b"/"


def test_formatting():
    assert formatted(5, 3) == "0.005" and formatted(-1500, 3) == "-1.500" and formatted(7, 0) == "7"


def test_the_reader_parses_the_block_the_meter_sends():
    block = iec.data_block(iec21_data_sets(SNAPSHOT))
    sets = iec.parse_data_block(block)
    assert ("1.8.0", "33.581", "kWh") in sets and ("96.1.0", "12345", "") in sets and len(sets) == len(SNAPSHOT)
    damaged = bytearray(block)
    damaged[5] ^= 1
    raised = False
    try:
        iec.parse_data_block(bytes(damaged))
    except ValueError:
        raised = True
    assert raised


def test_bytes_that_are_not_text_get_no_answer_and_no_exception():
    # A request line with a byte that is not UTF-8 (or ASCII) once ended the firmware app.
    s = _session("42")
    for line in (b"/?\xff!\r\n", b"/?4\x802!\r\n", b"/?\xc3!\r\n", b"\x06\xff\xfe\xfd\r\n", b"/?!\x00\xff\r\n"):
        assert s.feed(line) == b""
    assert s.feed(b"/?42!\r\n").startswith(b"/OPS5")  # the session still serves a good reader


def test_every_byte_value_in_a_request_is_answered_or_ignored():
    for value in range(256):
        s = _session()
        out = s.feed(b"/?" + bytes((value,)) + b"!\r\n")
        assert out == b"" or out.startswith(b"/OPS5")
        assert s.feed(b"/?!\r\n").startswith(b"/OPS5")
