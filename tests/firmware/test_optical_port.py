"""The optical port: mode C readout, then mode E into DLMS over HDLC (MicroPython and CPython)."""

from protocol import cosem_client, cosem_server, hdlc
from protocol import registers as M
from tests.protocol.cosem_fake import FakeMeter

from optical_port import OpticalPort


def _port():
    model = FakeMeter(8)
    return OpticalPort("OPSM-SP-230", model, lambda: cosem_server.CosemServer(model, b"secret"))


def test_mode_c_readout_offers_mode_e():
    port = _port()
    assert port.feed(b"/?!\r\n", 0) == b"/OPS5\\2OPSM-SP-230\r\n"
    block = port.feed(b"\x06050\r\n", 0)
    assert b"1.8.0(33.581*kWh)" in block and not port.in_hdlc


def test_mode_e_switch_then_a_dlms_session_then_back_to_mode_c():
    port = _port()
    port.feed(b"/?!\r\n", 0)
    link = hdlc.ClientLink(17, 1)
    # the option select message and the SNRM may arrive in one read
    ua = port.feed(b"\x06252\r\n" + link.snrm(), 0)
    assert link.receive(ua) == (b"", None) and link.connected and port.in_hdlc

    def exchange(apdu):
        data = link.send(apdu)
        while True:
            data, reply = link.receive(port.feed(data, 10))
            if reply is not None:
                return reply

    client = cosem_client.CosemClient(exchange, 17, b"secret")
    client.associate()
    assert client.get(M.REGISTER, "0.0.96.6.3.255", 2) == 25460
    client.release()
    link.receive(port.feed(link.disc(), 20))
    assert not port.in_hdlc
    assert port.feed(b"/?!\r\n", 30).startswith(b"/OPS5")


def test_a_silent_probe_loses_the_link():
    port = _port()
    port.feed(b"/?!\r\n", 0)
    link = hdlc.ClientLink(16, 1)
    port.feed(b"\x06252\r\n", 0)
    link.receive(port.feed(link.snrm(), 0))
    port.poll(119000)
    assert port.in_hdlc
    port.poll(121000)
    assert not port.in_hdlc and port.feed(b"/?!\r\n", 122000).startswith(b"/OPS5")
