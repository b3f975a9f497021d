"""IEC 62056-46 HDLC link layer (MicroPython and CPython)."""

from protocol import hdlc
from protocol.hdlc import PF, RR
from protocol.ticks import PERIOD
from tests.asserts import raises_value_error

SNRM_16_TO_1 = bytes.fromhex("7E A0 07 03 21 93 0F 01 7E")  # the classic example frame
DISC_16_TO_1 = bytes.fromhex("7E A0 07 03 21 53 03 C7 7E")
C16 = b"\x21"
S1 = b"\x03"

# A public session log of a real meter (client 48, server 1), byte for byte:
# SNRM with 2-byte parameters, its UA, an AARQ I-frame and the AARE, an ACTION and its reply.
CAPTURED = [
    ("7ea0200361931b9f81801405020080060200800704000000010804000000" "01ce6a7e",
     "7ea01e610373b57c818012050180060180070400000001080400000001533b7e"),
    ("7ea07c036110aa6be6e600606ea109060760857405080103a60a04084c54434c49454e548a0207808b0760"
     "857405080202ac12801030654537456363633938356635344342be340432213030003ce83bbbf09a779d"
     "1a0bb2321b568112bd077230d19b46d21d43c1c612893f62f25cd6c7e27d9e88336f048006dd3e067e",
     "7ea077610330ad6ce6e7006169a109060760857405080103a203020100a305a10302010ea40a04084c4e54"
     "303131383088020780890760857405080202aa1280106162636465666768696a6b6c6d6e6f70be230421"
     "281f30000094338ee4f25904c8f470d8f333b73efc7a0dda3417d0712a7c8ccfc7cdbb7e"),
    ("7ea03e0361327b46e6e600cb3030003ce83cceaeb5f37a0e1737b302d201c7b3bec70058594b943fee50"
     "14894eddecd9ccce0ae09a05ae979b5f3112be284d7e",
     "7ea0376103520e3ae6e700cf293000009434d33c4a83adea4a82889056a14865c67759630b91a60e2768"
     "d0a41718c05b63dc8082efd3a9d27e"),
]


class _Echo:
    def __init__(self):
        self.requests = []
        self.resets = 0

    def handle(self, sap, apdu):
        self.requests.append((sap, apdu))
        return apdu

    def reset(self):
        self.resets += 1


def _server(**kw):
    echo = _Echo()
    return hdlc.ServerLink(echo.handle, echo.reset, **kw), echo


def _one(data):
    frames = hdlc.FrameReader().feed(data)
    assert len(frames) == 1, frames
    return frames[0]


def _i(ns, nr):
    return nr << 5 | PF | ns << 1


def _request(ns, nr, apdu, dest=S1, src=C16):
    return hdlc.frame(dest, src, _i(ns, nr), hdlc.LLC_REQUEST + apdu)


def _connected(**kw):
    link, echo = _server(**kw)
    assert _one(link.receive(SNRM_16_TO_1, 0)).control == hdlc.UA | PF
    return link, echo


def _pump(client, server, data, chunk=0, now=0):
    """Carry bytes both ways until both sides are quiet; the reply APDU."""
    apdu = None
    while data:
        reply = b""
        step = chunk or len(data)
        for pos in range(0, len(data), step):
            reply += server.receive(data[pos:pos + step], now)
        data, got = client.receive(reply)
        if got is not None:
            apdu = got
    return apdu


def test_fcs16_check_value_and_ranges():
    assert hdlc.fcs16(b"123456789") == 0x906E  # CRC-16/X.25 check value
    assert hdlc.fcs16(b"xx123456789yy", 2, 11) == 0x906E
    assert hdlc.fcs16(b"6789", crc=hdlc.fcs16(b"12345") ^ 0xFFFF) == 0x906E
    assert hdlc.fcs16(SNRM_16_TO_1, 1, 6) == 0x010F  # FCS bytes 0F 01, low byte first


def test_known_frames_build_and_parse():
    assert hdlc.frame(S1, C16, hdlc.SNRM | PF) == SNRM_16_TO_1
    assert hdlc.frame(S1, C16, hdlc.DISC | PF) == DISC_16_TO_1
    f = _one(SNRM_16_TO_1)
    assert (f.dest, f.src, f.control, f.info, f.segmented) == (S1, C16, 0x93, b"", False)
    for request, reply in CAPTURED:
        for data in (request, reply):
            f = _one(bytes.fromhex(data))
            assert hdlc.frame(f.dest, f.src, f.control, f.info, f.segmented) == bytes.fromhex(data)


def test_ua_matches_a_real_meter():
    link, _ = _server()
    ua = link.receive(SNRM_16_TO_1, 0)  # no parameters: 128/128/1/1
    assert ua == bytes.fromhex("7ea01e210373c37a818012050180060180070400000001080400000001533b7e")
    assert (link.tx_size, link.rx_size, link.client_sap) == (128, 128, 16)


def test_replays_a_captured_session_byte_for_byte():
    replies = {}
    for request, reply in CAPTURED[1:]:
        replies[_one(bytes.fromhex(request)).info[3:]] = _one(bytes.fromhex(reply)).info[3:]
    link = hdlc.ServerLink(lambda sap, apdu: replies[apdu], lambda: None)
    for request, reply in CAPTURED:
        assert link.receive(bytes.fromhex(request), 0) == bytes.fromhex(reply)
    assert link.client_sap == 48


def test_address_forms():
    assert hdlc.client_address(16) == C16
    assert hdlc.server_address(1) == S1
    assert hdlc.server_address(1, 17) == b"\x02\x23"
    assert hdlc.server_address(1, 17, 4) == b"\x00\x02\x00\x23"
    assert hdlc.server_address(0x3FFF, 0x1234) == b"\xfe\xfe\x48\x69"
    assert hdlc.address_parts(b"\x03") == (1, -1)
    assert hdlc.address_parts(b"\x02\x23") == (1, 17)
    assert hdlc.address_parts(b"\xfe\xfe\x48\x69") == (0x3FFF, 0x1234)
    assert raises_value_error(hdlc.server_address, 0x80)
    assert raises_value_error(hdlc.server_address, 1, 0x80, 2)
    assert raises_value_error(hdlc.server_address, 1, 5, 3)
    assert raises_value_error(hdlc.client_address, 128)
    for dest in (S1, b"\x02\x23", b"\x00\x02\x00\x23", hdlc.server_address(1, 9999)):
        link, _ = _server()  # any physical address; the reply mirrors the client's form
        ua = _one(link.receive(hdlc.frame(dest, C16, hdlc.SNRM | PF), 0))
        assert (ua.dest, ua.src, ua.control) == (C16, dest, hdlc.UA | PF)
        reply = _one(link.receive(_request(0, 0, b"\x01\x02", dest), 0))
        assert (reply.src, reply.info) == (dest, hdlc.LLC_REPLY + b"\x01\x02")


def test_reader_split_coalesced_flags_and_garbage():
    one = _request(0, 0, b"abc")
    two = _request(1, 1, b"\x7e\xa0\x7e")  # flags inside the information field
    shared = one + two[1:]                  # the closing flag opens the next frame
    for stream in (one + two, shared, b"\x7e\x7e" + one + b"\x7e\x7e" + two,
                   b"noise\x7e\x00\x7e\xa0\x05\x7e\xa0\x08\x01\x02\x03\x04\x05\x06\x07" + one + b"\x13\x37" + two):
        reader = hdlc.FrameReader()
        frames = []
        for byte in stream:
            frames += reader.feed(bytes((byte,)))
        assert [f.info for f in frames] == [b"\xe6\xe6\x00abc", b"\xe6\xe6\x00\x7e\xa0\x7e"], stream
        reader = hdlc.FrameReader()
        assert len(reader.feed(stream)) == 2
        assert len(reader.feed(stream[:5])) == 0 and len(reader.feed(stream[5:])) == 2


def test_bad_fcs_and_hcs_dropped_and_counted():
    good = _request(0, 0, b"hello")
    bad_fcs = bytearray(good)
    bad_fcs[-3] ^= 1
    bad_info = bytearray(good)
    bad_info[12] ^= 0x40
    bad_hcs = bytearray(good)  # wrong HCS under a correct FCS
    bad_hcs[6] ^= 1
    crc = hdlc.fcs16(bad_hcs, 1, len(bad_hcs) - 3)
    bad_hcs[-3] = crc & 0xFF
    bad_hcs[-2] = crc >> 8
    reader = hdlc.FrameReader()
    frames = reader.feed(bytes(bad_fcs) + bytes(bad_info) + bytes(bad_hcs) + good)
    assert len(frames) == 1 and frames[0].info == hdlc.LLC_REQUEST + b"hello"
    assert reader.dropped == 3
    link, _ = _connected()
    assert link.receive(bytes(bad_fcs), 0) == b""
    assert link.reader.dropped == 1


def test_snrm_with_parameters_negotiates():
    link, _ = _server()
    info = hdlc.hdlc_parameters(256, 512, 7, 7)
    ua = _one(link.receive(hdlc.frame(S1, C16, hdlc.SNRM | PF, info), 0))
    assert hdlc.parse_parameters(ua.info) == (512, 256, 1, 1)  # ours to send, ours to receive
    assert (link.tx_size, link.rx_size) == (512, 256)
    link, _ = _server(max_info_tx=200, max_info_rx=100)
    ua = _one(link.receive(hdlc.frame(S1, C16, hdlc.SNRM | PF, info), 0))
    assert ua.info == bytes.fromhex("81 80 12 05 01 c8 06 01 64 07 04 00 00 00 01 08 04 00 00 00 01")
    # 4-byte values, a parameter missing (its default stays), an unknown one ignored
    info = bytes.fromhex("81 80 0b 06 04 00 00 00 40 09 03 01 02 03")
    assert hdlc.parse_parameters(info) == (128, 64, 1, 1)
    ua = _one(link.receive(hdlc.frame(S1, C16, hdlc.SNRM | PF, info), 0))
    assert hdlc.parse_parameters(ua.info) == (64, 100, 1, 1)


def test_snrm_without_parameters_gives_defaults():
    link, _ = _server(max_info_tx=2030, max_info_rx=2030)
    ua = _one(link.receive(SNRM_16_TO_1, 0))
    assert hdlc.parse_parameters(ua.info) == (128, 128, 1, 1)
    assert hdlc.parse_parameters(b"\x81\x80\x00") == (128, 128, 1, 1)


def test_malformed_snrm_rejected():
    for info in (b"\x81\x80\x05\x05\x01", b"\x81\x81\x00", b"\x81\x80\x03\x05\x00\x40",
                 b"\x81\x80\x03\x05\x01\x00", b"\x81\x80\x07\x05\x05\x00\x00\x00\x00\x80"):
        link, echo = _server()
        f = _one(link.receive(hdlc.frame(S1, C16, hdlc.SNRM | PF, info), 0))
        assert f.control == hdlc.FRMR | PF and f.info[0] == hdlc.SNRM | PF
        assert not link.connected
        assert _one(link.receive(_request(0, 0, b"x"), 0)).control == hdlc.DM | PF


def test_segmented_reply_pulled_by_rr():
    link, echo = _server()
    link.receive(hdlc.frame(S1, C16, hdlc.SNRM | PF, hdlc.hdlc_parameters(128, 16)), 0)
    apdu = bytes(range(40))  # 43 bytes with the LLC: 16 + 16 + 11
    first = _one(link.receive(_request(0, 0, apdu), 0))
    assert (first.control, first.segmented, first.info) == (_i(0, 1), True, (hdlc.LLC_REPLY + apdu)[:16])
    second = _one(link.receive(hdlc.frame(S1, C16, 1 << 5 | PF | RR), 0))
    assert (second.control, second.segmented, second.info) == (_i(1, 1), True, apdu[13:29])
    last = _one(link.receive(hdlc.frame(S1, C16, 2 << 5 | PF | RR), 0))
    assert (last.control, last.segmented, last.info) == (_i(2, 1), False, apdu[29:])
    nothing = _one(link.receive(hdlc.frame(S1, C16, 3 << 5 | PF | RR), 0))
    assert nothing.control == 1 << 5 | PF | RR  # nothing left: RR answered with RR
    assert _one(link.receive(_request(1, 3, b"\x05"), 0)).control == _i(3, 2)
    assert len(echo.requests) == 2


def test_segmented_request_acknowledged_by_rr():
    link, echo = _server()
    link.receive(hdlc.frame(S1, C16, hdlc.SNRM | PF, hdlc.hdlc_parameters(8, 1024)), 0)
    assert link.rx_size == 8
    data = hdlc.LLC_REQUEST + b"0123456789abcdefXYZ"
    for ns, pos in enumerate(range(0, 16, 8)):
        segment = hdlc.frame(S1, C16, _i(ns, 0), data[pos:pos + 8], True)
        assert _one(link.receive(segment, 0)).control == (ns + 1) << 5 | PF | RR
    assert echo.requests == []
    reply = _one(link.receive(hdlc.frame(S1, C16, _i(2, 0), data[16:]), 0))
    assert echo.requests == [(16, b"0123456789abcdefXYZ")]
    assert reply.control == _i(0, 3) and reply.info[:3] == hdlc.LLC_REPLY and not reply.segmented
    too_long = hdlc.frame(S1, C16, _i(3, 1), b"123456789")
    f = _one(link.receive(too_long, 0))
    assert f.control == hdlc.FRMR | PF and f.info[2] == 0x04


def test_request_without_llc_is_acknowledged_not_handled():
    link, echo = _connected()
    assert _one(link.receive(hdlc.frame(S1, C16, _i(0, 0), b"\xc0\x01"), 0)).control == 1 << 5 | PF | RR
    assert echo.requests == []


def test_disc_dm_and_disconnected_frames():
    link, echo = _server()
    for data in (DISC_16_TO_1, _request(0, 0, b"x"), hdlc.frame(S1, C16, PF | RR)):
        f = _one(link.receive(data, 0))
        assert (f.dest, f.src, f.control) == (C16, S1, hdlc.DM | PF)
    assert link.receive(hdlc.frame(S1, C16, hdlc.UI | PF, b"x"), 0) == b""
    link.receive(SNRM_16_TO_1, 0)
    assert link.connected
    assert _one(link.receive(hdlc.frame(S1, b"\x23", hdlc.DISC | PF), 0)).control == hdlc.DM | PF  # client 17
    assert link.connected
    assert _one(link.receive(DISC_16_TO_1, 0)).control == hdlc.UA | PF
    assert not link.connected and echo.resets == 1
    assert _one(link.receive(_request(0, 0, b"x"), 0)).control == hdlc.DM | PF


def test_frmr_condition_until_snrm_or_disc():
    link, echo = _connected()
    link.receive(_request(0, 0, b"a"), 0)
    bad = _request(3, 1, b"b")  # N(S) 3, expected 1
    frmr = _one(link.receive(bad, 0))
    assert frmr.control == hdlc.FRMR | PF
    assert frmr.info == bytes((bad[5], 1 << 5 | 1 << 1, 0x10))
    assert link.receive(_request(1, 1, b"c"), 0) == link.receive(bad, 0) == hdlc.frame(C16, S1, hdlc.FRMR | PF, frmr.info)
    assert _one(link.receive(DISC_16_TO_1, 0)).control == hdlc.UA | PF
    assert echo.resets == 1 and echo.requests == [(16, b"a")]
    for control, why in ((0x27, 0x01), (1 << 5 | PF | 0x09, 0x01), (_i(0, 5), 0x08)):
        link, _ = _connected()  # unknown U-frame, REJ, N(R) ahead of ours
        f = _one(link.receive(hdlc.frame(S1, C16, control, b"x" if control & 1 == 0 else b""), 0))
        assert f.control == hdlc.FRMR | PF and f.info[0] == control and f.info[2] == why
    link, _ = _connected()
    f = _one(link.receive(hdlc.frame(S1, C16, PF | RR, b"x"), 0))
    assert f.info[2] == 0x02  # information where none is allowed
    link.receive(SNRM_16_TO_1, 0)
    assert _one(link.receive(_request(0, 0, b"ok"), 0)).info == hdlc.LLC_REPLY + b"ok"


def test_other_logical_device_and_non_client_sources_ignored():
    link, echo = _server()
    assert link.receive(hdlc.frame(b"\x05", C16, hdlc.SNRM | PF), 0) == b""
    assert link.receive(hdlc.frame(b"\x04\x23", C16, hdlc.SNRM | PF), 0) == b""
    assert link.receive(hdlc.frame(S1, b"\x02\x23", hdlc.SNRM | PF), 0) == b""
    assert not link.connected
    link, _ = _server(logical=2)
    assert _one(link.receive(hdlc.frame(b"\x04\x23", C16, hdlc.SNRM | PF), 0)).src == b"\x04\x23"


def test_inactivity_timeout_drops_the_link():
    link, echo = _server(timeout_ms=1000)
    link.receive(SNRM_16_TO_1, 0)
    link.receive(_request(0, 0, b"a"), 500)
    assert not link.expired(1499) and echo.resets == 0
    assert link.expired(1500) and echo.resets == 1 and not link.connected
    assert not link.expired(9999) and echo.resets == 1
    assert _one(link.receive(_request(1, 1, b"b"), 9999)).control == hdlc.DM | PF
    wrap = PERIOD  # ticks_ms wraps (every 12.4 days on a board): the link must survive it
    link.receive(SNRM_16_TO_1, wrap - 300)
    assert _one(link.receive(_request(0, 0, b"c"), 200)).info == hdlc.LLC_REPLY + b"c"
    assert not link.expired(1199) and link.expired(1200)
    link.receive(SNRM_16_TO_1, 0)  # a late frame finds the link gone
    assert _one(link.receive(_request(0, 0, b"d"), 5000)).control == hdlc.DM | PF
    assert echo.resets == 3


def test_lost_frames_are_repeated():
    link, echo = _connected()
    request = _request(0, 0, b"ask")
    reply = link.receive(request, 0)
    assert link.receive(request, 0) == reply  # the client repeats: our reply was lost
    assert link.receive(hdlc.frame(S1, C16, PF | RR), 0) == reply  # RR still at N(R) 0
    assert len(echo.requests) == 1
    link, _ = _server()
    link.receive(hdlc.frame(S1, C16, hdlc.SNRM | PF, hdlc.hdlc_parameters(4, 8)), 0)
    segment = hdlc.frame(S1, C16, _i(0, 0), b"\xe6\xe6\x00\x01", True)
    rr = link.receive(segment, 0)
    assert link.receive(segment, 0) == rr


def test_new_snrm_resets_the_link():
    link, echo = _connected()
    link.receive(_request(0, 0, b"a"), 0)
    link.receive(_request(1, 1, b"b"), 0)
    assert _one(link.receive(SNRM_16_TO_1, 0)).control == hdlc.UA | PF and echo.resets == 1
    assert _one(link.receive(_request(0, 0, b"c"), 0)).control == _i(0, 1)


def test_octet_timeout_clears_a_stalled_partial_frame():
    link, _ = _server()
    assert link.receive(b"\x7e\xa7\xff\x03", 0) == b""  # claims 2047 bytes
    assert link.receive(SNRM_16_TO_1, 10) == b""         # swallowed: still inside that "frame"
    assert _one(link.receive(SNRM_16_TO_1, 2000)).control == hdlc.UA | PF
    assert link.reader.dropped == 1


def test_coalesced_requests_get_coalesced_replies():
    link, echo = _connected()
    out = link.receive(_request(0, 0, b"a") + _request(1, 1, b"b"), 0)
    assert [f.info for f in hdlc.FrameReader().feed(out)] == [hdlc.LLC_REPLY + b"a", hdlc.LLC_REPLY + b"b"]


def test_client_and_server_echo_with_segmentation():
    for size in (1, 200, 5000):
        apdu = bytes((i * 7) & 0xFF for i in range(size))
        for client_tx, client_rx, server_tx, server_rx, chunk in ((128, 128, 1024, 1024, 0), (24, 40, 32, 16, 7),
                                                                  (1024, 1024, 64, 48, 0), (5, 3, 1024, 1024, 1)):
            if chunk == 1 and size > 200:
                continue  # byte by byte through 3-byte segments: slow on a board, nothing new
            link, echo = _server(max_info_tx=server_tx, max_info_rx=server_rx, max_apdu=8192)
            client = hdlc.ClientLink(16, 1, 17, max_info_tx=client_tx, max_info_rx=client_rx)
            assert _pump(client, link, client.snrm()) is None and client.connected
            assert client.tx_size == min(client_tx, server_rx) and link.tx_size == min(client_rx, server_tx)
            assert _pump(client, link, client.send(apdu), chunk) == apdu
            assert _pump(client, link, client.send(apdu[:3]), chunk) == apdu[:3]
            assert echo.requests == [(16, apdu), (16, apdu[:3])]
            _pump(client, link, client.disc())
            assert not client.connected and not link.connected and echo.resets == 1


def test_client_without_parameters_and_errors():
    link, _ = _server()
    client = hdlc.ClientLink()
    try:
        client.send(b"x")
        assert False, "send before SNRM"
    except hdlc.HdlcError:
        pass
    _pump(client, link, client.snrm(parameters=False))
    assert client.connected and client.tx_size == 128 and link.tx_size == 128
    assert _pump(client, link, client.send(b"\x01" * 300)) == b"\x01" * 300
    link.receive(DISC_16_TO_1, 0)  # the server forgets the link behind the client's back
    try:
        _pump(client, link, client.send(b"x"))
        assert False, "DM expected"
    except hdlc.HdlcError:
        assert not client.connected
    _pump(client, link, client.disc())  # DM to DISC: fine


def test_client_resend_after_a_lost_reply():
    link, _ = _server()
    client = hdlc.ClientLink()
    _pump(client, link, client.snrm())
    link.receive(client.send(b"lost"), 0)  # the reply never arrives
    assert _pump(client, link, client.resend()) == b"lost"


def _noise(seed, n):
    out = bytearray()
    for _ in range(n):
        seed = (seed * 1103515245 + 12345) & 0x7FFFFFFF
        out.append(seed >> 16 & 0xFF)
    return seed, bytes(out)


def test_noise_never_raises_and_the_link_recovers():
    link, echo = _server(max_info_tx=32, max_info_rx=32)
    frames = [SNRM_16_TO_1, _request(0, 0, b"hi"), hdlc.frame(S1, C16, PF | RR), DISC_16_TO_1,
              hdlc.frame(S1, C16, hdlc.SNRM | PF, hdlc.hdlc_parameters(64, 16))]
    seed = 1
    now = 0
    for round_ in range(200):
        seed, junk = _noise(seed, 40)
        good = frames[round_ % len(frames)]
        mutated = bytearray(good)
        mutated[junk[0] % len(mutated)] ^= junk[1] | 1
        for data in (junk, bytes(mutated), good, junk[:5] + good + junk[5:], good[:junk[2] % len(good)]):
            link.receive(data, now)
            link.expired(now)
            now += junk[3]
    client = hdlc.ClientLink(max_info_tx=20, max_info_rx=20)
    now += 5000
    data = client.snrm()
    while data:
        data, _ = client.receive(link.receive(data, now))
    assert client.connected
    apdu = bytes(range(100))
    reply = None
    data = client.send(apdu)
    while data:
        data, reply = client.receive(link.receive(data, now))
    assert reply == apdu


def test_no_frame_ends_its_fcs_with_a_flag_byte():
    # readers that cut frames at 0x7E (dlms-cosem 25.1) lose sync on a frame whose FCS ends in 0x7E
    n = 0
    while hdlc.frame(C16, S1, 0x30, hdlc.LLC_REPLY + bytes((0xC4, n >> 8, n & 0xFF)))[-2] != hdlc.FLAG:
        n += 1  # the first reply after SNRM: N(R) 1, N(S) 0
    apdu = bytes((0xC4, n >> 8, n & 0xFF))
    link, echo = _connected()
    reply = link.receive(_request(0, 0, apdu), 0)
    frames = hdlc.FrameReader().feed(reply)
    assert len(frames) == 1 and frames[0].segmented and reply[-2] != hdlc.FLAG
    rest = link.receive(hdlc.frame(S1, C16, 1 << 5 | PF | RR), 0)
    assert rest[-2] != hdlc.FLAG
    assert frames[0].info + _one(rest).info == hdlc.LLC_REPLY + apdu


def test_no_frame_holds_two_flag_bytes_in_a_row():
    # a ciphered reply may hold 7E 7E anywhere: dlms-cosem 25.1 then stalls reading the line for the
    # rest of a frame it already holds. The segment is cut between them; the reply arrives whole.
    link, echo = _server()
    client = hdlc.ClientLink()
    _pump(client, link, client.snrm())
    for at in (0, 1, 60, 124, 125, 126, 127, 200):
        apdu = bytearray(bytes(range(256)) * 2)
        apdu[at:at + 2] = b"\x7e\x7e"
        data = client.send(bytes(apdu))
        reply = None
        while data:
            out = link.receive(data, 0)  # one frame
            assert b"\x7e\x7e" not in out, (at, out.hex())
            data, reply = client.receive(out)
            if reply is not None:
                break
        assert reply == bytes(apdu), at


def _pull(link, client, data, limit):
    """Reply segments until the client has the reply; fails past `limit` (a server stuck on one segment)."""
    frames = 0
    while data:
        out = link.receive(data, 0)
        frames += len([f for f in hdlc.FrameReader().feed(out) if f.control & 1 == 0])  # I-frames
        assert frames <= limit, "the reply needs more than %d frames" % limit
        data, reply = client.receive(out)
        if reply is not None:
            return reply, frames
    return None, frames


def test_a_last_segment_of_one_flag_ending_byte_still_completes():
    # 0x6D alone is the info field whose FCS ends in 0x7E whatever the header (the FCS of a frame
    # depends only on its info once the HCS is in): it cannot be shortened, it must never be left alone.
    assert hdlc.frame(C16, S1, 0x30, b"\x6d")[-2] == hdlc.FLAG
    link, echo = _server()
    client = hdlc.ClientLink()
    _pump(client, link, client.snrm())
    apdu = bytes(125) + b"\x6d"    # LLC + 126 bytes: 128, then the single byte 0x6D alone
    reply, frames = _pull(link, client, client.send(apdu), 4)
    assert reply == apdu and frames == 2


def test_every_reply_completes_in_a_bounded_number_of_frames():
    seed = 7
    for size in (1, 2, 3, 4, 5, 8, 30, 127, 128, 129):
        link, echo = _server(max_info_tx=size)
        client = hdlc.ClientLink(max_info_rx=size)
        _pump(client, link, client.snrm())
        for round_ in range(40):
            seed, noise = _noise(seed, 3 * size + 2)
            tails = (noise, noise[:-1] + b"\x6d", noise[:size] + b"\x6d" * (round_ % 4 + 1), b"\x6d" * (round_ + 1))
            apdu = tails[round_ % 4]
            segments = (len(apdu) + 3 + size - 1) // size
            reply, frames = _pull(link, client, client.send(apdu), 2 * segments + 2)
            assert reply == apdu
