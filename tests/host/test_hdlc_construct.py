"""HDLC and the TCP wrapper against independent descriptions: construct declarations,
a bitwise CRC, the dlms-cosem and Gurux clients; plus fuzzing of ServerLink."""

from construct import (BitsInteger, BitStruct, Bytes, Checksum, Computed, Const, Flag, If,
                       Int8ub, Int16ub, Int16ul, Nibble, RawCopy, Rebuild, RepeatUntil, Struct, len_, this)
from hypothesis import given, settings
from hypothesis import strategies as st

from opsm.protocol import hdlc, wrapper


def x25(data) -> int:
    """CRC-16/X.25 bit by bit: the reference our nibble-table fcs16 is checked against."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0x8408 if crc & 1 else crc >> 1
    return crc ^ 0xFFFF


# IEC 62056-46 frame format type 3, declared. An address runs to the byte with the LSB set;
# the length field counts format field to FCS; HCS and information exist together or not at all.
Address = RepeatUntil(lambda byte, lst, ctx: byte & 1, Int8ub)
Header = Struct(
    "format" / BitStruct(
        "type" / Const(0xA, Nibble),
        "segmented" / Flag,
        "length" / Rebuild(BitsInteger(11), lambda ctx: 5 + len(ctx._.dest) + len(ctx._.src)
                           + (len(ctx._._.info) + 2 if ctx._._.info else 0))),
    "dest" / Address,
    "src" / Address,
    "control" / Int8ub,
)
Content = Struct(
    "header" / RawCopy(Header),
    "rest" / Computed(lambda ctx: ctx.header.value.format.length - len(ctx.header.data) - 2),
    "hcs" / If(this.rest > 0, Checksum(Int16ul, x25, this.header.data)),
    "info" / If(this.rest > 0, Bytes(this.rest - 2)),
)
HdlcFrame = Struct(
    Const(b"\x7e"),
    "content" / RawCopy(Content),
    "fcs" / Checksum(Int16ul, x25, this.content.data),
    Const(b"\x7e"),
)
WrapperPdu = Struct(
    "version" / Const(1, Int16ub),
    "src" / Int16ub,
    "dst" / Int16ub,
    "length" / Rebuild(Int16ub, len_(this.apdu)),
    "apdu" / Bytes(this.length),
)

server_addresses = st.one_of(
    st.integers(0, 0x7F).map(hdlc.server_address),
    st.tuples(st.integers(0, 0x7F), st.integers(0, 0x7F)).map(lambda a: hdlc.server_address(a[0], a[1], 2)),
    st.tuples(st.integers(0, 0x3FFF), st.integers(0, 0x3FFF)).map(lambda a: hdlc.server_address(a[0], a[1], 4)),
)
client_addresses = st.integers(0, 0x7F).map(hdlc.client_address)
infos = st.binary(max_size=300)


def _construct_frame(dest, src, control, info, segmented) -> bytes:
    header = {"format": {"segmented": segmented}, "dest": list(dest), "src": list(src), "control": control}
    return HdlcFrame.build({"content": {"value": {"header": {"value": header}, "info": info or None}}})


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_fcs16_matches_bitwise_reference(data):
    assert hdlc.fcs16(data) == x25(data)
    assert x25(b"123456789") == 0x906E


@settings(max_examples=300, deadline=None)
@given(st.one_of(server_addresses, client_addresses), st.one_of(server_addresses, client_addresses),
       st.integers(0, 255), infos, st.booleans())
def test_frames_agree_both_ways(dest, src, control, info, segmented):
    ours = hdlc.frame(dest, src, control, info, segmented)
    theirs = _construct_frame(dest, src, control, info, segmented)
    assert ours == theirs
    parsed = HdlcFrame.parse(ours).content.value
    assert bytes(parsed.header.value.dest) == dest and bytes(parsed.header.value.src) == src
    assert parsed.header.value.control == control and (parsed.info or b"") == info
    assert parsed.header.value.format.segmented == segmented
    (f,) = hdlc.FrameReader().feed(theirs)
    assert (f.dest, f.src, f.control, f.info, f.segmented) == (dest, src, control, info, segmented)


def test_known_snrm_parses_with_construct():
    parsed = HdlcFrame.parse(bytes.fromhex("7E A0 07 03 21 93 0F 01 7E"))
    assert parsed.fcs == 0x010F and parsed.content.value.header.value.control == 0x93


@settings(max_examples=200, deadline=None)
@given(st.integers(0, 0xFFFF), st.integers(0, 0xFFFF), st.binary(max_size=600), st.integers(1, 50))
def test_wrapper_agrees_with_construct(src, dst, apdu, chunk):
    ours = wrapper.wrap(src, dst, apdu)
    assert ours == WrapperPdu.build({"src": src, "dst": dst, "apdu": apdu})
    parsed = WrapperPdu.parse(ours)
    assert (parsed.src, parsed.dst, parsed.apdu) == (src, dst, apdu)
    reader = wrapper.WrapperReader(max_length=600)
    stream = ours * 2
    got = []
    for pos in range(0, len(stream), chunk):
        got += reader.feed(stream[pos:pos + chunk])
    assert got == [(src, dst, apdu)] * 2


def _echo_link(**kw):
    resets = []
    link = hdlc.ServerLink(lambda sap, apdu: apdu, lambda: resets.append(1), **kw)
    return link, resets


def _session_works(link, now):
    """A fresh client connects, echoes a segmented APDU and disconnects."""
    client = hdlc.ClientLink(max_info_tx=48, max_info_rx=40)
    data = client.snrm()
    for apdu in (None, bytes(range(256)) * 2):
        if apdu is not None:
            data = client.send(apdu)
        reply = None
        while data:
            data, reply = client.receive(link.receive(data, now))
        assert reply == apdu and client.connected


def _valid_session_frames():
    link, _ = _echo_link()
    client = hdlc.ClientLink(max_info_tx=32, max_info_rx=32)
    sent = []
    data = client.snrm()
    for apdu in (None, bytes(100)):
        if apdu is not None:
            data = client.send(apdu)
        while data:
            sent.append(data)
            data, _ = client.receive(link.receive(data, 0))
    return sent + [client.disc()]


VALID = _valid_session_frames()
mutations = st.tuples(st.sampled_from(VALID), st.integers(0, 300), st.integers(1, 255), st.sampled_from("xdti"))
checked_frames = st.builds(lambda dest, control, info, seg: hdlc.frame(dest, b"\x21", control, info, seg),
                           st.sampled_from([b"\x03", b"\x02\x23", b"\x00\x02\x00\x23"]),
                           st.integers(0, 255), st.binary(max_size=40), st.booleans())
chunks = st.one_of(st.binary(max_size=80), checked_frames, st.sampled_from(VALID), mutations)


def _mutate(chunk):
    if not isinstance(chunk, tuple):
        return chunk
    frame, pos, value, how = chunk
    pos %= len(frame)
    if how == "x":
        return frame[:pos] + bytes((frame[pos] ^ value,)) + frame[pos + 1:]
    if how == "d":
        return frame[:pos] + frame[pos + 1:]
    if how == "t":
        return frame[:pos]
    return frame[:pos] + bytes((value,)) + frame[pos:]


@settings(max_examples=400, deadline=None)
@given(st.lists(st.tuples(chunks, st.integers(0, 3000)), max_size=30))
def test_server_link_survives_anything(steps):
    link, _ = _echo_link(max_info_tx=64, max_info_rx=64, timeout_ms=5000)
    now = 0
    for chunk, delay in steps:
        now += delay
        out = link.receive(_mutate(chunk), now)
        assert isinstance(out, bytes)
        link.expired(now)
    _session_works(link, now + 2000)  # past the inter-octet timeout: a stalled partial frame is gone


class _LoopbackIO:
    """dlms-cosem's IO interface, wired to a ServerLink."""

    def __init__(self, link):
        self.link = link
        self.pending = bytearray()

    def connect(self):
        pass

    def disconnect(self):
        pass

    def send(self, data):
        self.pending += self.link.receive(bytes(data), 0)

    def recv(self, amount=1):
        out, self.pending = bytes(self.pending[:amount]), self.pending[amount:]
        return out

    def recv_until(self, end):
        cut = self.pending.index(end) + len(end)
        out, self.pending = bytes(self.pending[:cut]), self.pending[cut:]
        return out


def test_dlms_cosem_client_talks_to_server_link():
    from dlms_cosem.io import HdlcTransport

    for physical in (None, 17):
        link, resets = _echo_link(max_info_tx=100, max_apdu=8192)
        transport = HdlcTransport(client_logical_address=16, server_logical_address=1,
                                  server_physical_address=physical, io=_LoopbackIO(link))
        transport.connect()  # SNRM without parameters: 128/128
        assert link.tx_size == 100 and link.rx_size == 128
        for size in (1, 200, 5000):
            apdu = bytes((i * 13) & 0xFF for i in range(size))
            assert bytes(transport.send_request(apdu)) == apdu
        transport.disconnect()
        assert resets == [1] and not link.connected


def test_gurux_client_talks_to_server_link():
    from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
    from gurux_dlms.enums import Authentication, InterfaceType
    from gurux_dlms.objects import GXDLMSData

    value = bytes(range(256)) * 12  # an octet-string in a GET response, cut into segments
    response = b"\xc4\x01\xc1\x00\x09\x82" + len(value).to_bytes(2, "big") + value
    link, _ = _echo_link(max_info_tx=1024, max_info_rx=1024, max_apdu=8192)
    link.handle = lambda sap, apdu: response
    client = GXDLMSClient(True, 16, 1, Authentication.NONE, None, InterfaceType.HDLC)
    client.hdlcSettings.maxInfoRX = 200
    client.hdlcSettings.maxInfoTX = 64

    def exchange(data):
        reply = GXReplyData()
        incoming = GXByteBuffer(link.receive(bytes(data), 0))
        client.getData(incoming, reply, None)
        while reply.isMoreData():
            incoming = GXByteBuffer(link.receive(bytes(client.receiverReady(reply)), 0))
            client.getData(incoming, reply, None)
        return reply

    ua = exchange(client.snrmRequest())
    client.parseUAResponse(ua.data)
    assert (link.tx_size, link.rx_size) == (200, 64)
    assert (client.hdlcSettings.maxInfoTX, client.hdlcSettings.maxInfoRX) == (64, 200)
    obj = GXDLMSData("0.0.96.1.0.255")
    (request,) = client.read(obj, 2)
    reply = exchange(request)
    assert bytes(reply.value) == value
    exchange(client.disconnectRequest())
    assert not link.connected
