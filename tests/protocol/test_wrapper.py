"""IEC 62056-47 TCP wrapper (MicroPython and CPython)."""

from protocol import wrapper
from protocol.wrapper import WrapperError, WrapperReader, wrap
from tests.asserts import raises_value_error

AARQ = bytes.fromhex("601da109060760857405080101be10040e01000000065f1f0400001e1dffff")


def _error(reader, data):
    try:
        reader.feed(data)
    except WrapperError as exc:
        return str(exc)
    return ""


def test_header_layout():
    assert wrap(16, 1, AARQ) == bytes.fromhex("0001 0010 0001 001f") + AARQ
    assert wrap(0x0102, 0xFFFF, b"") == b"\x00\x01\x01\x02\xff\xff\x00\x00"
    assert raises_value_error(wrap, 0x10000, 1, b"x")
    assert raises_value_error(wrap, 1, -1, b"x")
    assert raises_value_error(wrap, 1, 1, bytes(0x10000))


def test_split_and_coalesced_stream():
    stream = wrap(16, 1, AARQ) + wrap(17, 1, b"\xc0\x01") + wrap(1, 16, b"")
    expected = [(16, 1, AARQ), (17, 1, b"\xc0\x01"), (1, 16, b"")]
    assert WrapperReader().feed(stream) == expected
    reader = WrapperReader()
    got = []
    for byte in stream:
        got += reader.feed(bytes((byte,)))
    assert got == expected
    reader = WrapperReader()
    assert reader.feed(stream[:9]) == [] and reader.feed(stream[9:40]) == [(16, 1, AARQ)]
    assert reader.feed(stream[40:]) == expected[1:]


def test_wrong_version_rejected_naming_the_field():
    message = _error(WrapperReader(), b"\x00\x02")  # two bytes are enough to tell
    assert "version" in message and "2" in message
    message = _error(WrapperReader(), b"GET / HTTP/1.1\r\n")
    assert "version" in message
    reader = WrapperReader()
    reader.feed(wrap(16, 1, b"ok")[:5])
    assert _error(reader, b"\x00\x01\x00\x02") == ""
    assert isinstance(WrapperError("x"), ValueError)


def test_length_over_max_rejected_naming_the_field():
    reader = WrapperReader(max_length=100)
    assert reader.feed(wrap(16, 1, bytes(100))) == [(16, 1, bytes(100))]
    message = _error(reader, wrap(16, 1, bytes(101))[:8])  # refused before the body arrives
    assert "length" in message and "101" in message and "100" in message
    assert "length" in _error(WrapperReader(), b"\x00\x01\x00\x10\x00\x01\xff\xff")
    assert wrapper.HEADER_SIZE == 8
