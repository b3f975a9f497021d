"""Reading a meter over DLMS/COSEM from the host: TCP wrapper, HDLC over TCP, HDLC on a serial port.

The association and every APDU come from protocol/cosem_client.py (the same codecs the
meter serves with); this module only moves bytes, with a deadline on every read so a
silent meter costs a timeout, never a hang.
"""

import socket

from protocol import axdr, hdlc, wrapper
from protocol import registers as M
from protocol.cosem_client import CosemClient, CosemError
from protocol.cosem_server import Keys


class TransportError(CosemError):
    """The link failed: timeout, closed connection, or frames we cannot use."""


class _Stream:
    """A byte stream with a deadline per read: a TCP socket or a pyserial port."""

    def __init__(self, read, write, close):
        self.read, self.write, self.close = read, write, close

    @classmethod
    def tcp(cls, host: str, port: int, timeout: float) -> "_Stream":
        try:
            sock = socket.create_connection((host, port), timeout=timeout)
        except OSError as exc:
            raise TransportError("cannot connect to %s:%d: %s" % (host, port, exc)) from None

        def read() -> bytes:
            try:
                data = sock.recv(4096)
            except socket.timeout:
                raise TransportError("no answer within %.1f s" % timeout) from None
            except OSError as exc:
                raise TransportError("connection lost: %s" % exc) from None
            if not data:
                raise TransportError("the meter closed the connection")
            return data
        return cls(read, sock.sendall, sock.close)

    @classmethod
    def serial(cls, device: str, baudrate: int, timeout: float) -> "_Stream":
        import serial  # pyserial

        port = serial.Serial(device, baudrate, timeout=timeout)

        def read() -> bytes:
            data = port.read(max(1, port.in_waiting))
            if not data:
                raise TransportError("no answer within %.1f s on %s" % (timeout, device))
            return data
        return cls(read, port.write, port.close)


class WrapperLink:
    """IEC 62056-47: one APDU per wrapper frame on a TCP connection."""

    def __init__(self, stream: _Stream, client_sap: int):
        self.stream = stream
        self.client_sap = client_sap
        self.reader = wrapper.WrapperReader(max_length=65535)

    def exchange(self, apdu: bytes) -> bytes:
        self.stream.write(wrapper.wrap(self.client_sap, 1, apdu))
        while True:
            try:
                frames = self.reader.feed(self.stream.read())
            except wrapper.WrapperError as exc:
                raise TransportError(str(exc)) from None
            for _, _, reply in frames:
                return reply

    def close(self) -> None:
        self.stream.close()


def mode_e(stream: _Stream) -> None:
    """IEC 62056-21 opening on an optical port: "/?!", the identification, then ACK 2 Z 2 to switch to HDLC."""
    stream.write(b"/?!\r\n")
    ident = b""
    while not ident.endswith(b"\r\n"):
        ident += stream.read()
        if len(ident) > 64:
            raise TransportError("no IEC 62056-21 identification from the meter")
    if not ident.startswith(b"/") or b"\\2" not in ident:
        raise TransportError("the meter does not offer mode E (HDLC): %r" % ident.strip())
    stream.write(b"\x062" + ident[4:5] + b"2\r\n")


class HdlcLink:
    """IEC 62056-46: SNRM/UA, then segmented I-frames, DISC at the end."""

    def __init__(self, stream: _Stream, client_sap: int, physical: int = -1):
        self.stream = stream
        self.link = hdlc.ClientLink(client_sap, 1, physical, max_info_tx=1024, max_info_rx=1024)
        self._until_idle(self.link.snrm())
        if not self.link.connected:
            raise TransportError("the meter did not accept the HDLC connection")

    def _until_idle(self, data: bytes):
        while data:
            self.stream.write(data)
            try:
                data, apdu = self.link.receive(self.stream.read())
            except hdlc.HdlcError as exc:
                raise TransportError("HDLC: %s" % exc) from None
            if apdu is not None:
                return apdu
        return None

    def exchange(self, apdu: bytes) -> bytes:
        data = self.link.send(apdu)
        while True:
            self.stream.write(data)
            try:
                data, reply = self.link.receive(self.stream.read())
            except hdlc.HdlcError as exc:
                raise TransportError("HDLC: %s" % exc) from None
            if reply is not None:
                return reply

    def close(self) -> None:
        try:
            if self.link.connected:
                self._until_idle(self.link.disc())
        except TransportError:
            pass  # the link is going anyway
        finally:
            self.stream.close()


def open_session(host: str = "127.0.0.1", port: int = 4059, framing: str = "wrapper", client_sap: int = 16,
                 password: bytes = b"", keys: Keys | None = None, system_title: bytes = b"HES00001",
                 invocation_counter: int = 0, timeout: float = 10.0, serial: str = "", baudrate: int = 9600,
                 optical: bool = False):
    """(link, associated CosemClient). framing: wrapper, hdlc (over TCP) or hdlc with serial=DEVICE;
    optical: open the serial port in IEC 62056-21 mode E first (an optical probe)."""
    if serial:
        stream = _Stream.serial(serial, baudrate, timeout)
        if optical:
            mode_e(stream)
        link: WrapperLink | HdlcLink = HdlcLink(stream, client_sap)
    elif framing == "hdlc":
        link = HdlcLink(_Stream.tcp(host, port, timeout), client_sap)
    elif framing == "wrapper":
        link = WrapperLink(_Stream.tcp(host, port, timeout), client_sap)
    else:
        raise ValueError("framing: must be wrapper or hdlc, got %r" % framing)
    client = CosemClient(link.exchange, client_sap, password, keys, system_title, invocation_counter)
    try:
        client.associate()
    except Exception:
        link.close()
        raise
    return link, client


def clock_seconds(raw: bytes) -> int:
    """Seconds since 2000 UTC of the meter's clock attribute (its deviation is always given)."""
    return axdr.date_time_seconds(raw, 0)


def read_registers(client: CosemClient) -> dict:
    """Every register of the map, scaled: OBIS -> number (or text); and the clock in seconds since 2000 UTC."""
    values: dict = {}
    for row in M.REGISTERS:
        value = client.get(row[1], row[0], 2)
        if isinstance(value, bytes):
            value = value.decode("ascii", "replace")
        elif not isinstance(value, bool) and row[4]:
            value = value * 10 ** row[4] if row[4] > 0 else value / 10 ** -row[4]
        values[row[0]] = value
    values[M.CLOCK_OBIS] = clock_seconds(client.get(M.CLOCK, M.CLOCK_OBIS, 2))
    return values


def read_profile(client: CosemClient, obis: str, selection: bytes = b"") -> list:
    """Rows of a profile as (seconds since 2000 UTC, values...)."""
    rows = client.get(M.PROFILE_GENERIC, obis, 2, selection)
    return [(clock_seconds(row[0]),) + tuple(row[1:]) for row in rows]

