"""Third-party DLMS clients (test-only: gurux-dlms GPL-2.0, dlms-cosem BSL-1.1) driving our meter over sockets.

Nothing here is imported by the product. Each peer reads with its own decoder and gives
plain Python values, so tests compare them with the meter's snapshot and with each other.
"""

import asyncio
import datetime
import os
import socket
import tempfile
import threading

from dlms_cosem import cosem, enumerations, utils
from dlms_cosem.client import DlmsClient
from dlms_cosem.cosem.selective_access import CaptureObject, EntryDescriptor, RangeDescriptor
from dlms_cosem.io import BlockingTcpIO, HdlcTransport, TcpTransport
from dlms_cosem.security import (HighLevelSecurityGmacAuthentication, LowLevelSecurityAuthentication,
                                 NoSecurityAuthentication)
from gurux_dlms import GXByteBuffer, GXDLMSClient, GXReplyData
from gurux_dlms.enums import Authentication, InterfaceType, Security
from gurux_dlms.secure import GXDLMSSecureClient

import logging

import structlog

from opsm.simulator import board
from opsm.simulator.serve import DEMO_METER, DEMO_SYSTEM, MeterPorts

Run = board.module("simulator.scenario_run").Run

EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
CLIENT_TITLE = b"HES00001"
PASSWORD = b"OPSM-SP-230"
_counter = [0]
# dlms-cosem logs every frame through structlog at debug level: keep test output readable
structlog.configure(wrapper_class=structlog.make_filtering_bound_logger(logging.WARNING))


def next_invocation_counter() -> int:
    """A head-end keeps its invocation counter across sessions: the meter refuses one it has seen."""
    _counter[0] += 1000
    return _counter[0]


def meter_with_a_day(folder=None):
    """A meter recharged over its keypad that ran a day on the solar home model: profiles hold rows."""
    folder = folder or tempfile.mkdtemp()
    os.makedirs(folder, exist_ok=True)
    run = Run({"name": "interop", "meter": dict(DEMO_METER), "system": dict(DEMO_SYSTEM)}, folder)
    run.meter.set_setting("serial", "OPS00000042")
    run.type("*63638916334124550935*")
    run.advance(24 * 3600 * 1000)
    return run


def serve_in_thread(runs, protocols=("dlms", "hdlc"), **options):
    """MeterPorts on free loopback ports in a daemon thread; returns {protocol: [ports]}."""
    started = threading.Event()
    ports = {}

    def main():
        async def go():
            await MeterPorts(runs, speed=0, **options).serve({p: 0 for p in protocols},
                                                             started=lambda p: (ports.update(p), started.set()))
        asyncio.run(go())

    threading.Thread(target=main, daemon=True).start()
    if not started.wait(10):
        raise RuntimeError("the meter's ports did not start")
    return ports


def keys_file(folder):
    path = "%s/keys.txt" % folder
    with open(path, "w") as f:
        f.write("ek = %s\nak = %s\n" % (EK.hex(), AK.hex()))
    return path


# --- Gurux ---------------------------------------------------------------------------------

class Gurux:
    """gurux-dlms's GXDLMSClient over a plain socket (wrapper or HDLC framing)."""

    def __init__(self, port, hdlc=False, client=16, password=None, hls=False, timeout=10, invocation_counter=None):
        interface = InterfaceType.HDLC if hdlc else InterfaceType.WRAPPER
        if hls:
            self.c = GXDLMSSecureClient(True, 1, 1, Authentication.HIGH_GMAC, None, interface)
            cipher = self.c.ciphering
            cipher.security = Security.AUTHENTICATION_ENCRYPTION
            cipher.systemTitle = bytearray(CLIENT_TITLE)
            cipher.blockCipherKey = bytearray(EK)
            cipher.authenticationKey = bytearray(AK)
            cipher.invocationCounter = invocation_counter or next_invocation_counter()
        elif password is not None:
            self.c = GXDLMSClient(True, client, 1, Authentication.LOW, password, interface)
        else:
            self.c = GXDLMSClient(True, client, 1, Authentication.NONE, None, interface)
        self.hdlc = hdlc
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)

    def request(self, frames):
        if isinstance(frames, (bytes, bytearray)):
            frames = [frames]
        reply = None
        for frame in frames:
            reply = GXReplyData()
            self.sock.sendall(bytes(frame))
            buffer = GXByteBuffer()
            while True:
                while not self.c.getData(buffer, reply, None):
                    data = self.sock.recv(4096)
                    if not data:
                        raise ConnectionError("meter closed the connection")
                    buffer.set(data)
                if not reply.isMoreData():
                    break
                self.sock.sendall(bytes(self.c.receiverReady(reply)))
                buffer = GXByteBuffer()
        return reply

    def connect(self):
        if self.hdlc:
            self.c.parseUAResponse(self.request(self.c.snrmRequest()).data)
        self.c.parseAareResponse(self.request(self.c.aarqRequest()).data)
        if self.c.authentication == Authentication.HIGH_GMAC:
            self.c.parseApplicationAssociationResponse(self.request(self.c.getApplicationAssociationRequest()).data)
        return self

    def objects(self):
        return self.c.parseObjects(self.request(self.c.getObjectsRequest()).data, True)

    def read(self, obj, attribute):
        reply = self.request(self.c.read(obj, attribute))
        if reply.error:
            raise RuntimeError("%s attribute %d: error %d" % (obj.logicalName, attribute, reply.error))
        return self.c.updateValue(obj, attribute, reply.value)

    def rows_by_range(self, profile, start, end):
        reply = self.request(self.c.readRowsByRange(profile, start, end))
        self.c.updateValue(profile, 2, reply.value)
        return profile.buffer

    def rows_by_entry(self, profile, index, count):
        reply = self.request(self.c.readRowsByEntry(profile, index, count))
        self.c.updateValue(profile, 2, reply.value)
        return profile.buffer

    def close(self):
        try:
            self.request(self.c.releaseRequest())
            if self.hdlc:
                self.request(self.c.disconnectRequest())
        finally:
            self.sock.close()


# --- dlms-cosem -----------------------------------------------------------------------------

def dlms_cosem(port, hdlc=False, client=16, password=None, hls=False, invocation_counter=None):
    io = BlockingTcpIO(host="127.0.0.1", port=port, timeout=10)
    address = 1 if hls else client
    if hdlc:
        transport = HdlcTransport(io=io, client_logical_address=address, server_logical_address=1)
    else:
        transport = TcpTransport(io=io, client_logical_address=address, server_logical_address=1)
    if hls:
        return DlmsClient(transport=transport, authentication=HighLevelSecurityGmacAuthentication(challenge_length=16),
                          encryption_key=EK, authentication_key=AK, client_system_title=CLIENT_TITLE,
                          client_initial_invocation_counter=invocation_counter or next_invocation_counter())
    if password is not None:
        return DlmsClient(transport=transport, authentication=LowLevelSecurityAuthentication(secret=password))
    return DlmsClient(transport=transport, authentication=NoSecurityAuthentication())


def attribute(interface, obis, number):
    return cosem.CosemAttribute(interface=interface, instance=cosem.Obis.from_string(obis), attribute=number)


def cosem_get(client, class_id, obis, number, access=None):
    return utils.parse_as_dlms_data(client.get(attribute(enumerations.CosemInterface(class_id), obis, number),
                                               access_descriptor=access))


def clock_range(start: datetime.datetime, end: datetime.datetime):
    clock = attribute(enumerations.CosemInterface.CLOCK, "0.0.1.0.0.255", 2)
    return RangeDescriptor(restricting_object=CaptureObject(cosem_attribute=clock, data_index=0),
                           from_value=start, to_value=end)


class Entries(EntryDescriptor):
    """Selector 2: dlms-cosem 25.1 cannot encode it (to_bytes raises), so the test encodes it."""

    def to_bytes(self) -> bytes:
        return (b"\x02\x02\x04\x06" + self.from_entry.to_bytes(4, "big") + b"\x06" + self.to_entry.to_bytes(4, "big")
                + b"\x12" + self.from_selected_value.to_bytes(2, "big") + b"\x12"
                + self.to_selected_value.to_bytes(2, "big"))
