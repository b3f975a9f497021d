"""The COSEM server core, byte for byte (MicroPython and CPython)."""

from protocol import acse, axdr, dlms_security
from protocol import cosem_objects as O
from protocol import cosem_server as S
from protocol import registers as M
from tests.protocol.cosem_fake import START, FakeMeter

EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
METER_TITLE = b"OPS\x00\x00\x00\x00\x01"
CLIENT_TITLE = b"CLI\x00\x00\x00\x00\x07"


def _server(rows=96, pdu=1024):
    return S.CosemServer(FakeMeter(rows), b"secret", dlms_security.Keys(EK, AK, METER_TITLE), max_pdu=pdu,
                         challenge=lambda: b"S" * 16)


def _associate(server, client=16, secret=b"", pdu=0xFFFF, conformance=0xFFFFFF):
    a = server.association()
    mechanism = acse.MECHANISM_LLS if client == 17 else acse.MECHANISM_NONE
    reply = acse.parse_aare(a.handle(client, acse.aarq(1, mechanism, acse.initiate_request(conformance, pdu), secret)))
    return a, reply


def _get(a, client, class_id, obis, attribute, selection=b""):
    request = bytes((0xC0, 1, 0xC1, class_id >> 8, class_id & 0xFF)) + M.obis_bytes(obis) + bytes((attribute,))
    return a.handle(client, request + (bytes((1,)) + selection if selection else b"\x00"))


def _blocks(a, client, reply):
    """The data of a GET reply sent in blocks, as a normal reply would carry it."""
    data = bytearray(b"\xC4\x01\xC1\x00")
    block = 0
    while True:
        assert reply[:3] == b"\xC4\x02\xC1"
        block += 1
        assert axdr.get_uint(reply, 4, 4) == block and reply[8] == 0
        n, pos = axdr.get_length(reply, 9)
        assert pos + n == len(reply)
        data.extend(reply[pos:])
        if reply[3]:
            return bytes(data)
        reply = a.handle(client, b"\xC0\x02\xC1" + bytes((0, 0, block >> 8, block & 0xFF)))


def _value(reply):
    assert reply[:4] == b"\xC4\x01\xC1\x00", reply
    tag, value, end = axdr.get(reply, 4)
    assert end == len(reply)  # nothing trails the value (a strict client hangs on that)
    return tag, value


def test_public_association_and_registers():
    a, aare = _associate(_server())
    assert aare["result"] == acse.ACCEPTED and aare["diagnostic"] == 0
    conformance, pdu = acse.parse_initiate_response(aare["user_information"])
    assert conformance & acse.GET and conformance & acse.SELECTIVE_ACCESS and not conformance & acse.SET
    assert pdu == 1024
    assert _value(_get(a, 16, M.REGISTER, "1.0.1.8.0.255", 2)) == (axdr.DOUBLE_LONG_UNSIGNED, 33581)
    assert _value(_get(a, 16, M.REGISTER, "1.0.32.7.0.255", 3)) == (axdr.STRUCTURE, [-3, M.UNIT_V])
    assert _value(_get(a, 16, M.REGISTER, "1.0.13.7.0.255", 2)) == (axdr.LONG, -998)
    assert _value(_get(a, 16, M.DATA, "0.0.42.0.0.255", 2)) == (axdr.OCTET_STRING, b"OPS0000000000001")
    assert _value(_get(a, 16, M.REGISTER, "1.0.1.8.0.255", 1)) == (axdr.OCTET_STRING, M.obis_bytes("1.0.1.8.0.255"))
    assert _value(_get(a, 16, M.DATA, O.INVOCATION_COUNTER_OBIS, 2)) == (axdr.DOUBLE_LONG_UNSIGNED, 0)


def test_clock_is_local_time_with_the_dlms_deviation():
    a, _ = _associate(_server())
    _, raw = _value(_get(a, 16, M.CLOCK, M.CLOCK_OBIS, 2))
    # 23:06:40 UTC on 2026-12-07 is 17:06:40 in Guatemala (UTC-6), deviation +360 minutes to UTC
    assert raw == bytes((0x07, 0xEA, 12, 7, 1, 17, 6, 40, 0, 0x01, 0x68, 0))
    assert axdr.date_time_seconds(raw, 0) == START
    assert _value(_get(a, 16, M.CLOCK, M.CLOCK_OBIS, 3)) == (axdr.LONG, 360)


def test_errors_are_data_access_results_and_the_association_survives():
    a, _ = _associate(_server())
    assert _get(a, 16, M.REGISTER, "1.0.99.99.0.255", 2) == bytes((0xC4, 1, 0xC1, 1, O.OBJECT_UNDEFINED))
    assert _get(a, 16, M.DATA, "1.0.1.8.0.255", 2) == bytes((0xC4, 1, 0xC1, 1, O.OBJECT_UNDEFINED))  # wrong class
    assert _get(a, 16, M.REGISTER, "1.0.1.8.0.255", 9) == bytes((0xC4, 1, 0xC1, 1, O.OBJECT_UNDEFINED))
    assert _get(a, 16, M.ASSOCIATION_LN, O.ASSOCIATION_OBIS, 7) == bytes((0xC4, 1, 0xC1, 1, O.READ_WRITE_DENIED))
    assert a.handle(16, b"\xC0\x01\xC1\x00") == b"\xD8\x02\x03"  # truncated: exception-response
    assert a.handle(16, b"\x99\x00") == b"\xD8\x02\x02"          # unknown service
    assert _value(_get(a, 16, M.REGISTER, "1.0.1.8.0.255", 2))[1] == 33581


def test_requests_before_an_association_or_from_another_client_are_refused():
    server = _server()
    a = server.association()
    assert _get(a, 16, M.REGISTER, "1.0.1.8.0.255", 2) == b"\xD8\x01\x01"
    a, _ = _associate(server)
    assert _get(a, 17, M.REGISTER, "1.0.1.8.0.255", 2) == b"\xD8\x01\x01"


def test_lls_password_and_aare_diagnostics():
    server = _server()
    assert _associate(server, 17, b"secret")[1]["result"] == acse.ACCEPTED
    wrong = _associate(server, 17, b"guess")[1]
    assert (wrong["result"], wrong["diagnostic"]) == (acse.REJECTED_PERMANENT, acse.DIAG_AUTHENTICATION_FAILURE)
    a = server.association()
    no_password = acse.parse_aare(a.handle(17, acse.aarq(1, acse.MECHANISM_NONE, acse.initiate_request(0xFFFF, 512))))
    assert (no_password["result"], no_password["diagnostic"]) == (acse.REJECTED_PERMANENT,
                                                                   acse.DIAG_AUTHENTICATION_REQUIRED)
    a = server.association()
    unknown = acse.parse_aare(a.handle(17, acse.aarq(1, 7, acse.initiate_request(0xFFFF, 512), b"x")))
    assert unknown["diagnostic"] == acse.DIAG_MECHANISM_NOT_RECOGNISED
    old = acse.parse_aare(a.handle(16, acse.aarq(1, -1, acse.initiate_request(0xFFFF, 512)[:4] + b"\x05" +
                                                acse.initiate_request(0xFFFF, 512)[5:])))
    assert old["result"] == acse.REJECTED_PERMANENT and old["user_information"] == b"\x0E\x01\x06\x01"


def test_long_replies_go_in_blocks_and_reassemble():
    server = _server(rows=300)
    a, _ = _associate(server, pdu=256)
    first = _get(a, 16, M.PROFILE_GENERIC, "1.0.99.1.0.255", 2)
    assert 240 < len(first) <= 256  # the client said 256 bytes at most
    _, rows = _value(_blocks(a, 16, first))
    assert len(rows) == 300 and rows[-1][1:] == [299000, 299001, 299002]
    # a next-block request with nothing in progress, or out of order, is an error, not a crash
    assert a.handle(16, b"\xC0\x02\xC1\x00\x00\x00\x01")[-1] == O.NO_LONG_GET_IN_PROGRESS


def test_get_with_list_mixes_values_and_errors():
    a, _ = _associate(_server())
    request = bytearray(b"\xC0\x03\xC1\x03")
    for class_id, obis in ((M.REGISTER, "1.0.1.8.0.255"), (M.REGISTER, "9.9.9.9.9.9"), (M.DATA, "0.0.96.1.0.255")):
        request += bytes((0, class_id)) + M.obis_bytes(obis) + b"\x02\x00"
    reply = a.handle(16, bytes(request))
    assert reply[:4] == b"\xC4\x03\xC1\x03"
    assert reply[4:10] == b"\x00\x06\x00\x00\x83\x2D" and reply[10:12] == bytes((1, O.OBJECT_UNDEFINED))
    assert axdr.get(reply, 13)[1] == b"OPS00000001" and reply[12] == 0


def _range(obis_from, obis_to, columns=()):
    sel = bytearray(b"\x01\x02\x04\x02\x04\x12\x00\x08\x09\x06") + M.obis_bytes(M.CLOCK_OBIS) + b"\x0F\x02\x12\x00\x00"
    axdr.put(sel, axdr.OCTET_STRING, obis_from)
    axdr.put(sel, axdr.OCTET_STRING, obis_to)
    axdr.put_header(sel, axdr.ARRAY, len(columns))
    for class_id, obis in columns:
        sel += b"\x02\x04\x12\x00" + bytes((class_id,)) + b"\x09\x06" + M.obis_bytes(obis) + b"\x0F\x02\x12\x00\x00"
    return bytes(sel)


def test_selective_access_by_range_local_time_and_columns():
    a, _ = _associate(_server())
    unspecified = b"\x80\x00\x00"
    # rows are stamped at xx:06:40 local; 16:00-18:00 local (no deviation) holds the last four
    start = b"\x07\xEA\x0C\x07\xFF\x10\x00\x00\x00" + unspecified
    end = b"\x07\xEA\x0C\x07\xFF\x12\x00\x00\x00" + unspecified
    _, rows = _value(_get(a, 16, M.PROFILE_GENERIC, "1.0.99.1.0.255", 2, _range(start, end)))
    assert [r[1] for r in rows] == [92000, 93000, 94000, 95000]
    # the same window in UTC (deviation 0) is six hours earlier: 10:06:40 .. 11:51:40 local
    utc = _value(_get(a, 16, M.PROFILE_GENERIC, "1.0.99.1.0.255", 2, _range(
        start[:9] + b"\x00\x00\x00", end[:9] + b"\x00\x00\x00")))[1]
    assert [r[1] for r in utc] == [68000, 69000, 70000, 71000, 72000, 73000, 74000, 75000]
    only = _value(_get(a, 16, M.PROFILE_GENERIC, "1.0.99.1.0.255", 2, _range(
        start, end, ((M.CLOCK, M.CLOCK_OBIS), (M.REGISTER, "1.0.32.7.0.255")))))[1]
    assert len(only[0]) == 2 and only[0][1] == 92002
    empty = _value(_get(a, 16, M.PROFILE_GENERIC, "1.0.99.1.0.255", 2, _range(end, end)))[1]
    assert empty == []


def test_selective_access_by_entry():
    a, _ = _associate(_server())
    selection = b"\x02\x02\x04\x06\x00\x00\x00\x02\x06\x00\x00\x00\x04\x12\x00\x02\x12\x00\x00"
    _, rows = _value(_get(a, 16, M.PROFILE_GENERIC, "1.0.99.1.0.255", 2, selection))
    assert [r for r in rows] == [[1000, 1001, 1002], [2000, 2001, 2002], [3000, 3001, 3002]]
    beyond = b"\x02\x02\x04\x06\x00\x00\x01\x00\x06\x00\x00\x00\x00\x12\x00\x00\x12\x00\x00"
    assert _value(_get(a, 16, M.PROFILE_GENERIC, "1.0.99.1.0.255", 2, beyond))[1] == []


def test_set_and_action_need_the_management_association():
    server = _server()
    public, _ = _associate(server)
    clock = b"\xC1\x01\xC1\x00\x08" + M.obis_bytes(M.CLOCK_OBIS) + b"\x02\x00\x09\x0C" + axdr.date_time(0, 0)
    assert public.handle(16, clock) == bytes((0xC5, 1, 0xC1, O.READ_WRITE_DENIED))
    disconnect = b"\xC3\x01\xC1\x00\x46" + M.obis_bytes("0.0.96.3.10.255") + b"\x01\x01\x0F\x00"
    assert public.handle(16, disconnect)[3] == O.READ_WRITE_DENIED and server.model.relay
    manager, _ = _associate(server, 17, b"secret")
    assert manager.handle(17, clock) == bytes((0xC5, 1, 0xC1, O.SUCCESS)) and server.model.now == 0
    assert manager.handle(17, disconnect) == bytes((0xC7, 1, 0xC1, O.SUCCESS, 0)) and not server.model.relay
    token = b"\xC3\x01\xC1\x00\x73" + M.obis_bytes(O.TOKEN_GATEWAY_OBIS) + b"\x01\x01\x09\x14" + b"12345678901234567890"
    assert manager.handle(17, token) == bytes((0xC7, 1, 0xC1, O.SUCCESS, 0))
    assert manager.handle(17, token[:-1] + b"1")[3] == O.OTHER_REASON
    assert server.model.tokens == [b"12345678901234567890", b"12345678901234567891"]


class _Transfer:
    """The image transfer object as the server sees it: what reaches it, and a result of its own."""

    def __init__(self):
        self.calls = []

    def get_attribute(self, attribute, buf):
        axdr.put(buf, axdr.ENUM, attribute)
        return O.SUCCESS

    def set_attribute(self, attribute, value):
        self.calls.append(("set", attribute, value))
        return O.TYPE_UNMATCHED if value is None else O.SUCCESS

    def action(self, method, parameter):
        self.calls.append(("action", method, parameter))
        return O.OTHER_REASON


def test_image_transfer_is_routed_to_the_model_s_object_for_management_clients_only():
    server = _server()
    transfer = _Transfer()
    server.model.image_transfer = lambda: transfer
    ln = M.obis_bytes(O.IMAGE_TRANSFER_OBIS)
    enable = b"\xC1\x01\xC1\x00\x12" + ln + b"\x05\x00\x03\x00"
    block = b"\xC3\x01\xC1\x00\x12" + ln + b"\x02\x01\x02\x02\x06\x00\x00\x00\x01\x09\x02ab"
    public, _ = _associate(server)
    assert _value(_get(public, 16, O.IMAGE_TRANSFER, O.IMAGE_TRANSFER_OBIS, 6)) == (axdr.ENUM, 6)
    assert public.handle(16, enable) == bytes((0xC5, 1, 0xC1, O.READ_WRITE_DENIED))
    assert public.handle(16, block) == bytes((0xC7, 1, 0xC1, O.READ_WRITE_DENIED, 0)) and transfer.calls == []
    _, objects = _value(_blocks(public, 16, _get(public, 16, M.ASSOCIATION_LN, O.ASSOCIATION_OBIS, 2)))
    (listed,) = [o for o in objects if o[2] == ln]
    assert listed[:2] == [O.IMAGE_TRANSFER, 0] and [m[1] for m in listed[3][1]] == [0, 0, 0, 0]
    manager, _ = _associate(server, 17, b"secret")
    assert manager.handle(17, enable) == bytes((0xC5, 1, 0xC1, O.SUCCESS))
    assert manager.handle(17, enable[:-2] + b"\x00") == bytes((0xC5, 1, 0xC1, O.TYPE_UNMATCHED))  # null
    assert manager.handle(17, block) == bytes((0xC7, 1, 0xC1, O.OTHER_REASON, 0))
    verify = b"\xC3\x01\xC1\x00\x12" + ln + b"\x03\x01\x0F\x00"
    assert manager.handle(17, verify) == bytes((0xC7, 1, 0xC1, O.OTHER_REASON, 0))
    assert transfer.calls == [("set", 5, False), ("set", 5, None), ("action", 2, [1, b"ab"]), ("action", 3, 0)]
    _, managed = _value(_blocks(manager, 17, _get(manager, 17, M.ASSOCIATION_LN, O.ASSOCIATION_OBIS, 2)))
    (listed,) = [o for o in managed if o[2] == ln]
    assert [a[1] for a in listed[3][0]] == [1, 1, 1, 1, 3, 1, 1] and [m[1] for m in listed[3][1]] == [1, 1, 1, 1]


def test_release_ends_the_association():
    a, _ = _associate(_server())
    assert a.handle(16, acse.rlrq()) == b"\x63\x03\x80\x01\x00"
    assert _get(a, 16, M.REGISTER, "1.0.1.8.0.255", 2) == b"\xD8\x01\x01"


def _hls_associate(server, form, title=CLIENT_TITLE, counter=1):
    a = server.association()
    initiate = acse.initiate_request(0xFFFFFF, 1024)
    protected = dlms_security.protect(initiate, 0x30, title, counter, EK, AK)
    aarq = acse.aarq(3, acse.MECHANISM_HLS_GMAC, dlms_security.glo_wrap(0x21, protected), b"C" * 16, title)
    aare = acse.parse_aare(a.handle(1, aarq))
    assert (aare["result"], aare["diagnostic"]) == (acse.ACCEPTED, acse.DIAG_AUTHENTICATION_REQUIRED)
    assert aare["title"] == METER_TITLE and aare["challenge"] == b"S" * 16
    inner = dlms_security.unprotect(dlms_security.unwrap(aare["user_information"])[3], METER_TITLE, EK, AK)[2]
    assert acse.parse_initiate_response(inner)[1] == 1024
    return a


def _ciphered(a, form, plain, counter, title=CLIENT_TITLE):
    protected = dlms_security.protect(plain, 0x30, title, counter, EK, AK)
    if form == "glo":
        request = dlms_security.glo_wrap(dlms_security.GLO_TAG[plain[0]], protected)
    else:
        request = dlms_security.general_glo_wrap(title, protected)
    reply = a.handle(1, request)
    got_form, tag, sent_title, content = dlms_security.unwrap(reply)
    assert got_form == form
    return dlms_security.unprotect(content, METER_TITLE, EK, AK)[2]


def test_hls_gmac_both_cipher_forms_and_replays():
    for form in ("glo", "general-glo"):
        server = _server()
        a = _hls_associate(server, form)
        get = b"\xC0\x01\xC1\x00\x03" + M.obis_bytes("1.0.1.8.0.255") + b"\x02\x00"
        plain = bytes((0xC0, 1, 0xC1, 0, 3)) + M.obis_bytes("1.0.1.8.0.255") + b"\x02\x00"
        # before pass 3/4 nothing but the HLS reply is served
        assert a.handle(1, dlms_security.glo_wrap(0xC8, dlms_security.protect(get, 0x30, CLIENT_TITLE, 2, EK, AK))) \
            == b"\xD8\x01\x01"
        f_stoc = dlms_security.hls_gmac(b"S" * 16, CLIENT_TITLE, 3, EK, AK)
        action = b"\xC3\x01\xC1\x00\x0F" + M.obis_bytes(O.ASSOCIATION_OBIS) + b"\x01\x01\x09\x11" + f_stoc
        reply = _ciphered(a, form, action, 4)
        assert reply[:6] == b"\xC7\x01\xC1\x00\x01\x00"
        f_ctos = axdr.get(reply, 6)[1]
        assert dlms_security.hls_verify(f_ctos, b"C" * 16, METER_TITLE, EK, AK) == server.invocation_counter - 1
        assert _value(_ciphered(a, form, plain, 5))[1] == 33581
        replayed = dlms_security.glo_wrap(0xC8, dlms_security.protect(plain, 0x30, CLIENT_TITLE, 5, EK, AK))
        assert a.handle(1, replayed) == b"\xD8\x01\x05"
        assert a.handle(1, plain) == b"\xD8\x01\x01"  # clear text on a ciphered association


def test_wrong_hls_reply_is_refused():
    server = _server()
    a = _hls_associate(server, "glo")
    wrong = dlms_security.hls_gmac(b"X" * 16, CLIENT_TITLE, 3, EK, AK)
    action = b"\xC3\x01\xC1\x00\x0F" + M.obis_bytes(O.ASSOCIATION_OBIS) + b"\x01\x01\x09\x11" + wrong
    assert _ciphered(a, "glo", action, 4)[3] == O.OTHER_REASON
    assert not a.pending_hls and a.level == 0 and not a.client  # one try: a wrong pass 3 ends the association
    again = dlms_security.glo_wrap(dlms_security.GLO_TAG[0xC3], dlms_security.protect(action, 0x30, CLIENT_TITLE, 5, EK, AK))
    assert a.handle(1, again)[0] == S.EXCEPTION_RESPONSE


def test_object_list_gives_access_rights_per_association():
    server = _server()
    public, _ = _associate(server)
    manager, _ = _associate(server, 17, b"secret")
    _, objects = _value(_blocks(public, 16, _get(public, 16, M.ASSOCIATION_LN, O.ASSOCIATION_OBIS, 2)))
    _, managed = _value(_blocks(manager, 17, _get(manager, 17, M.ASSOCIATION_LN, O.ASSOCIATION_OBIS, 2)))
    field_settings = [row for row in M.SETTINGS if row.class_id == M.DATA]
    assert len(objects) == len(server.objects) == len(M.REGISTERS) + len(M.PROFILES) + len(field_settings) + 11
    clock = [o for o in objects if o[2] == M.obis_bytes(M.CLOCK_OBIS)][0]
    clock_managed = [o for o in managed if o[2] == M.obis_bytes(M.CLOCK_OBIS)][0]
    assert clock[3][0][1] == [2, 1, None] and clock_managed[3][0][1] == [2, 3, None]
    assert clock[3][0][2] == [3, 1, None] and clock_managed[3][0][2] == [3, 3, None]  # time_zone: a setting
    entity = [o for o in objects if o[2] == M.obis_bytes(field_settings[0][0])][0]
    entity_managed = [o for o in managed if o[2] == M.obis_bytes(field_settings[0][0])][0]
    assert entity[3][0][1] == [2, 1, None] and entity_managed[3][0][1] == [2, 3, None]
    profile = [o for o in objects if o[2] == M.obis_bytes("1.0.99.1.0.255")][0]
    assert profile[3][0][1] == [2, 1, [1, 2]]


def test_the_invocation_counter_never_repeats_across_restarts():
    model = FakeMeter(8)
    keys = dlms_security.Keys(EK, AK, METER_TITLE)
    first = S.CosemServer(model, b"", keys)
    used = [first.next_counter() for _ in range(3)]
    assert used == [1, 2, 3] and model.reserved >= 3  # reserved in the model (flash) before use
    second = S.CosemServer(model, b"", keys)  # a reboot: counting resumes above the reservation
    assert second.next_counter() > max(used)


def test_setup_objects_say_what_the_ports_do():
    server = _server()
    a, _ = _associate(server)
    assert _get(a, 16, M.IEC_HDLC_SETUP, O.HDLC_SETUP_OBIS, 2)[3] == 1  # not served yet: an error result
    server.describe_ports((O.hdlc_setup(9600, 60), O.tcp_udp_setup(4059, 120)))
    hdlc = [_value(_get(a, 16, M.IEC_HDLC_SETUP, O.HDLC_SETUP_OBIS, n)) for n in range(2, 10)]
    assert hdlc == [(axdr.ENUM, 5), (axdr.UNSIGNED, 1), (axdr.UNSIGNED, 1), (axdr.LONG_UNSIGNED, 1024),
                    (axdr.LONG_UNSIGNED, 1024), (axdr.LONG_UNSIGNED, 1000), (axdr.LONG_UNSIGNED, 60),
                    (axdr.LONG_UNSIGNED, 1)]
    tcp = [_value(_get(a, 16, M.TCP_UDP_SETUP, O.TCP_UDP_SETUP_OBIS, n)) for n in range(2, 7)]
    assert tcp == [(axdr.LONG_UNSIGNED, 4059), (axdr.OCTET_STRING, bytes((0, 0, 25, 1, 0, 255))),
                   (axdr.LONG_UNSIGNED, 1460), (axdr.UNSIGNED, 1), (axdr.LONG_UNSIGNED, 120)]
    assert _get(a, 16, M.TCP_UDP_SETUP, O.TCP_UDP_SETUP_OBIS, 7)[3] == 1
