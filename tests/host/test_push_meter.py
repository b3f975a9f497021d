"""DLMS push end to end (issue 18): a simulated meter on loopback sends its events' DataNotifications to a
plain asyncio server, which gurux-dlms (test-only) also parses."""

import asyncio
import queue
import tempfile
import threading

from click.testing import CliRunner
from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, Security
from gurux_dlms.secure import GXDLMSSecureClient

from opsm.host import dlms as D
from opsm.host.cli import cli as opsm
from opsm.protocol import axdr, dlms_security, events, push, wrapper
from opsm.protocol import registers as M
from opsm.simulator.serve import DEMO_METER, DEMO_SYSTEM
from tests.host import dlms_peers as P

SERIAL = "OPS00000007"


class Receiver:
    """A head-end's push port: each connection is read to its end (the meter closes it) and kept whole."""

    def __init__(self):
        self.connections: queue.Queue = queue.Queue()
        started = threading.Event()

        async def serve():
            server = await asyncio.start_server(self._connection, "127.0.0.1", 0)
            self.port = server.sockets[0].getsockname()[1]
            started.set()
            await server.serve_forever()

        threading.Thread(target=lambda: asyncio.run(serve()), daemon=True).start()
        assert started.wait(10)

    async def _connection(self, reader, writer):
        self.connections.put(await reader.read())
        writer.close()

    @property
    def destination(self) -> str:
        return "127.0.0.1:%d" % self.port

    def apdu(self) -> bytes:
        """The next notification's APDU: one wrapper frame, wPort 1 to 102, per connection."""
        ((src, dst, apdu),) = wrapper.WrapperReader().feed(self.connections.get(timeout=10))
        assert (src, dst) == (1, 102)
        return apdu


def _meter(folder, **options):
    run = P.Run({"name": "push", "meter": dict(DEMO_METER), "system": dict(DEMO_SYSTEM)}, folder)
    run.meter.set_setting("serial", SERIAL)
    return P.serve_in_thread([run], ("dlms",), **options)["dlms"][0]


def _body(apdu: bytes):
    """(long-invoke-id-and-priority, sending time s, body values) of a plain DataNotification."""
    assert apdu[0] == 0x0F and apdu[5] == 12
    _, body, end = axdr.get(apdu, 18)
    assert end == len(apdu)
    return axdr.get_uint(apdu, 1, 4), D.clock_seconds(apdu[6:18]), body


def test_a_clock_set_over_dlms_reaches_the_push_destination():
    receiver = Receiver()
    port = _meter(tempfile.mkdtemp(), lls_password=b"s3cret-42", push_to=receiver.destination)
    link, client = D.open_session("127.0.0.1", port, "wrapper", 17, b"s3cret-42")
    try:
        now = D.clock_seconds(client.get(M.CLOCK, M.CLOCK_OBIS, 2))
        D.set_clock(client, now + 3600)
        credit = client.get(M.CREDIT, M.CREDIT_OBIS, 2)
        client.release()
    finally:
        link.close()
    apdu = receiver.apdu()
    head, sent_s, body = _body(apdu)
    assert head >> 31 == 0 and sent_s == now + 3600
    assert body[:2] == [SERIAL, events.CLOCK_SET] and D.clock_seconds(body[2]) == now + 3600
    assert body[3:] == [60, 2, credit, False]  # 60 minutes, by DLMS; no credit yet: relay open
    assert receiver.connections.empty()
    parsed = _gurux(apdu)  # a third party's decoder agrees
    assert parsed.command == 0x0F and parsed.invokeId == head and list(parsed.value)[:2] == [SERIAL, events.CLOCK_SET]


def test_an_hls_meter_pushes_ciphered_to_where_opsm_dlms_push_setup_sends_it():
    folder = tempfile.mkdtemp()
    keys = P.keys_file(folder)
    port = _meter(folder, keys_file=keys)
    receiver = Receiver()
    cli = CliRunner()
    out = cli.invoke(opsm, ["dlms", "push-setup", "--port", str(port), "--client", "16",
                            "--destination", receiver.destination])
    assert out.exit_code != 0 and "set refused" in out.output  # the public client only reads
    out = cli.invoke(opsm, ["dlms", "push-setup", "--port", str(port), "--hls-keys", keys, "--destination",
                            "no host:1"])
    assert out.exit_code != 0 and "--destination" in out.output  # refused before the meter sees it
    out = cli.invoke(opsm, ["dlms", "push-setup", "--port", str(port), "--hls-keys", keys, "--destination",
                            receiver.destination, "--retries", "1", "--delay", "5", "--test"])
    assert out.exit_code == 0, out.output
    assert out.output.strip().endswith('{"destination": "%s", "retries": 1, "delay_s": 5, "test": true}'
                                       % receiver.destination)
    sealed = receiver.apdu()
    title = push.system_title(SERIAL)
    assert sealed[:10] == b"\xDB\x08" + title and sealed[11] == 0x30
    _, _, sent_title, content = dlms_security.unwrap(sealed)
    _, counter, plain = dlms_security.unprotect(content, sent_title, P.EK, P.AK)
    head, _, body = _body(plain)
    assert body[1] == 0 and body[0] == SERIAL  # the test push
    assert counter > 0
    parsed = _gurux(sealed, ciphered=True)
    assert parsed.command == 0x0F and parsed.invokeId == head and list(parsed.value)[0] == SERIAL


def _gurux(apdu: bytes, ciphered: bool = False):
    """gurux-dlms's reading of a notification frame (GXDLMSClient.getData on a push message)."""
    if ciphered:
        client = GXDLMSSecureClient(True, 1, 1, Authentication.NONE, None, InterfaceType.WRAPPER)
        client.ciphering.security = Security.AUTHENTICATION_ENCRYPTION
        client.ciphering.blockCipherKey = GXByteBuffer.hexToBytes(P.EK.hex())
        client.ciphering.authenticationKey = GXByteBuffer.hexToBytes(P.AK.hex())
        client.ciphering.systemTitle = GXByteBuffer.hexToBytes(P.CLIENT_TITLE.hex())
    else:
        client = GXDLMSClient(True, 1, 1, interfaceType=InterfaceType.WRAPPER)
    reply, notify = GXReplyData(), GXReplyData()
    client.getData(GXByteBuffer(push.frame(apdu)), reply, notify)
    assert notify.isComplete()
    return notify
