"""Random and mutated input never crashes or hangs the meter's DLMS server, and a valid client works afterwards."""

import socket
import tempfile
import time

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsm.protocol import acse, hdlc, wrapper
from opsm.protocol import cosem_client as C
from opsm.protocol import cosem_server as S
from opsm.protocol import registers as M
from opsm.protocol.dlms_security import Keys
from tests.host import dlms_peers as P
from tests.protocol.cosem_fake import FakeMeter

EK, AK = P.EK, P.AK
TITLE = b"OPS00042"

# Valid requests to mutate: every service the server knows, as a client sends them.
_GET = b"\xC0\x01\xC1" + C.descriptor(M.REGISTER, "1.0.1.8.0.255", 2) + b"\x00"
_RANGE = b"\xC0\x01\xC1" + C.descriptor(M.PROFILE_GENERIC, "1.0.99.1.0.255", 2) + b"\x01" + C.range_selection(
    b"\x07\xea\x0c\x07\xff\x10\x00\x00\x00\x80\x00\x00", b"\x07\xea\x0c\x07\xff\x12\x00\x00\x00\x80\x00\x00")
_ENTRY = b"\xC0\x01\xC1" + C.descriptor(M.PROFILE_GENERIC, "1.0.99.1.0.255", 2) + b"\x01" + C.entry_selection(2, 5)
_LIST = b"\xC0\x03\xC1\x02" + C.descriptor(3, "1.0.1.8.0.255", 2) + b"\x00" + C.descriptor(1, "0.0.96.1.0.255", 2) + b"\x00"
_SET = b"\xC1\x01\xC1" + C.descriptor(M.CLOCK, M.CLOCK_OBIS, 2) + b"\x00\x09\x0c" + bytes(12)
_ACTION = b"\xC3\x01\xC1" + C.descriptor(M.TOKEN_GATEWAY, "0.0.19.40.0.255", 1) + b"\x01\x09\x14" + b"1" * 20
_AARQ_LLS = acse.aarq(1, acse.MECHANISM_LLS, acse.initiate_request(0xFFFF, 512), b"secret")
_AARQ = acse.aarq(1, acse.MECHANISM_NONE, acse.initiate_request(0xFFFF, 512))
# The image transfer object (IC 18): its bitmap, initiate, a block, verify, and image_transfer_enabled.
_IMAGE = "0.0.44.0.0.255"
_IC18 = [b"\xC0\x01\xC1" + C.descriptor(18, _IMAGE, 3) + b"\x00",
         b"\xC3\x01\xC1" + C.descriptor(18, _IMAGE, 1) + b"\x01\x02\x02\x09\x04abcd\x06\x00\x00\x01\x00",
         b"\xC3\x01\xC1" + C.descriptor(18, _IMAGE, 2) + b"\x01\x02\x02\x06\x00\x00\x00\x00\x09\x04OPFW",
         b"\xC3\x01\xC1" + C.descriptor(18, _IMAGE, 3) + b"\x01\x0F\x00",
         b"\xC1\x01\xC1" + C.descriptor(18, _IMAGE, 5) + b"\x00\x03\x00"]
SEEDS = [_GET, _RANGE, _ENTRY, _LIST, _SET, _ACTION, _AARQ_LLS, _AARQ, acse.rlrq(),
         b"\xC0\x02\xC1\x00\x00\x00\x01"] + _IC18


def _server():
    return S.CosemServer(FakeMeter(96), b"secret", Keys(EK, AK, TITLE))


def _still_works(server):
    association = server.association()
    client = C.CosemClient(lambda apdu: association.handle(17, apdu), 17, b"secret")
    client.associate()
    assert client.get(M.REGISTER, "1.0.1.8.0.255", 2) == 33581
    assert len(client.get(M.PROFILE_GENERIC, "1.0.99.1.0.255", 2)) == 96
    assert client.get(18, _IMAGE, 2) == 192  # the image transfer object answers, whatever it was sent
    assert not server.model.activated  # and nothing unsigned was ever activated
    client.release()


@st.composite
def _mutated(draw):
    data = bytearray(draw(st.sampled_from(SEEDS)))
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.integers(0, 3))
        pos = draw(st.integers(0, len(data)))
        if kind == 0 and pos < len(data):
            data[pos] ^= 1 << draw(st.integers(0, 7))
        elif kind == 1:
            data = data[:pos]
        elif kind == 2:
            data[pos:pos] = draw(st.binary(min_size=1, max_size=8))
        elif pos < len(data):
            data[pos] = draw(st.sampled_from((0x00, 0x7F, 0x80, 0x81, 0x82, 0xFF)))
    return bytes(data)


def test_the_image_transfer_seeds_reach_the_object():
    """Unmutated, the IC 18 seeds are requests the object judges (so their mutations probe it, not the parser)."""
    server = _server()
    association = server.association()
    association.handle(17, _AARQ_LLS)
    get, initiate, block, verify, disable = (association.handle(17, apdu) for apdu in _IC18)
    assert get[:4] == b"\xC4\x01\xC1\x00"  # data: the bitmap, empty
    assert initiate == b"\xC7\x01\xC1\x00\x00" and server.model.transfer.status == 1  # initiated
    assert block == b"\xC7\x01\xC1\xFA\x00"  # other-reason: 4 bytes is not a block of 192
    assert verify == b"\xC7\x01\xC1\x02\x00"  # temporary-failure: blocks missing
    assert disable == b"\xC5\x01\xC1\x00" and server.model.transfer.enabled is False


@given(st.lists(st.one_of(st.binary(max_size=300), _mutated()), min_size=1, max_size=12),
       st.sampled_from((16, 17, 1, 99)))
@settings(max_examples=400, deadline=500, suppress_health_check=[HealthCheck.too_slow])
def test_apdus_never_crash_the_server(requests, client_sap):
    server = _server()
    association = server.association()
    association.handle(17, _AARQ_LLS)  # some inputs reach an established association
    for apdu in requests:
        start = time.perf_counter()
        reply = association.handle(client_sap if apdu[:1] != b"\x60" else 17, apdu)
        assert isinstance(reply, bytes)
        assert time.perf_counter() - start < 0.5
    _still_works(server)


@given(st.lists(st.one_of(st.binary(max_size=200), _mutated()), min_size=1, max_size=6))
@settings(max_examples=200, deadline=None)
def test_ciphered_garbage_is_refused_and_hls_still_works(requests):
    server = _server()
    association = server.association()
    for apdu in requests:
        for tag in (0xC8, 0xDB, 0x21):
            assert isinstance(association.handle(1, bytes((tag,)) + apdu), bytes)
    association = server.association()
    client = C.CosemClient(lambda apdu: association.handle(1, apdu), 1, keys=Keys(EK, AK, TITLE),
                           system_title=b"HES00001", invocation_counter=server.replay.last(b"HES00001") + 1)
    client.associate()
    assert client.get(M.REGISTER, "0.0.96.6.3.255", 2) == 25460


# --- over the sockets of the simulated meter ------------------------------------------------

_ports = {}


def _meter_ports():
    if not _ports:
        run = P.meter_with_a_day(tempfile.mkdtemp())
        _ports.update(P.serve_in_thread([run], ("dlms", "hdlc"), lls_password=P.PASSWORD))
    return _ports["dlms"][0], _ports["hdlc"][0]


def _blast(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(data)
        sock.settimeout(0.2)
        try:
            while sock.recv(4096):
                pass
        except (socket.timeout, ConnectionError):
            pass


@given(st.lists(st.one_of(st.binary(min_size=1, max_size=200),
                          _mutated().map(lambda apdu: wrapper.wrap(16, 1, apdu))), min_size=1, max_size=4))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_wrapper_port_survives_garbage(chunks):
    port, _ = _meter_ports()
    _blast(port, wrapper.wrap(16, 1, _AARQ) + b"".join(chunks))
    gurux = P.Gurux(port).connect()
    try:
        register = [o for o in gurux.objects() if str(o.logicalName) == "1.0.1.8.0.255"][0]
        assert gurux.read(register, 2) is not None or register.value is not None
    finally:
        gurux.close()


@given(st.lists(st.one_of(st.binary(min_size=1, max_size=200),
                          _mutated().map(lambda apdu: hdlc.frame(b"\x03", b"\x21", 0x10, hdlc.LLC_REQUEST + apdu))),
                min_size=1, max_size=4))
@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.too_slow])
def test_hdlc_port_survives_garbage(chunks):
    _, port = _meter_ports()
    snrm = hdlc.frame(b"\x03", b"\x21", hdlc.SNRM | hdlc.PF)
    _blast(port, snrm + b"".join(chunks))
    client = P.dlms_cosem(port, hdlc=True)
    client.connect()
    client.associate()
    try:
        assert P.cosem_get(client, M.REGISTER, "0.0.96.6.3.255", 3)[1] == M.UNIT_V
    finally:
        client.release_association()
        client.disconnect()
