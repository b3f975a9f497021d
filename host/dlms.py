"""Reading a meter over DLMS/COSEM from the host: TCP wrapper, HDLC over TCP, HDLC on a serial port.

The association and every APDU come from protocol/cosem_client.py (the same codecs the
meter serves with); this module only moves bytes, with a deadline on every read so a
silent meter costs a timeout, never a hang.
"""

import socket
import time

from opsm.protocol import axdr, civil, hdlc, wrapper
from opsm.protocol import registers as M
from opsm.protocol.cosem_objects import ASSOCIATION_OBIS, SECURITY_SETUP_OBIS
from opsm.protocol.cosem_client import CosemClient, CosemError
from opsm.protocol.dlms_security import Keys


class TransportError(CosemError):
    """The link failed: timeout, closed connection, or frames we cannot use."""


class Stream:
    """A byte stream with a deadline per read: a TCP socket or a pyserial port."""

    def __init__(self, read, write, close):
        self.read, self.write, self.close = read, write, close

    @classmethod
    def tcp(cls, host: str, port: int, timeout: float) -> "Stream":
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
    def serial(cls, device: str, baudrate: int, timeout: float) -> "Stream":
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

    def __init__(self, stream: Stream, client_sap: int):
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


def identification(stream: Stream) -> bytes:
    """IEC 62056-21 request "/?!" and the meter's identification line "/XXXZ..." (Z: its baud rate)."""
    stream.write(b"/?!\r\n")
    ident = b""
    while not ident.endswith(b"\r\n"):
        ident += stream.read()
        if len(ident) > 64:
            raise TransportError("no IEC 62056-21 identification from the meter")
    if not ident.startswith(b"/") or len(ident) < 7:
        raise TransportError("not an IEC 62056-21 identification: %r" % ident.strip())
    return ident


def mode_e(stream: Stream) -> None:
    """IEC 62056-21 opening on an optical port: the identification, then ACK 2 Z 2 to switch to HDLC."""
    ident = identification(stream)
    if b"\\2" not in ident:
        raise TransportError("the meter does not offer mode E (HDLC): %r" % ident.strip())
    stream.write(b"\x062" + ident[4:5] + b"2\r\n")


class HdlcLink:
    """IEC 62056-46: SNRM/UA, then segmented I-frames, DISC at the end."""

    def __init__(self, stream: Stream, client_sap: int, physical: int = -1):
        self.stream = stream
        self.link = hdlc.ClientLink(client_sap, 1, physical, max_info_tx=1024, max_info_rx=1024)
        self._until(self.link.snrm(), True)

    def _until(self, frame: bytes, connected: bool) -> None:
        """Send SNRM or DISC and read (frames may come in pieces) until the link is in that state."""
        self.stream.write(frame)
        while self.link.connected != connected:
            try:
                out, _ = self.link.receive(self.stream.read())
            except hdlc.HdlcError as exc:
                raise TransportError("HDLC: %s" % exc) from None
            if out:
                self.stream.write(out)

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
                self._until(self.link.disc(), False)
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
        stream = Stream.serial(serial, baudrate, timeout)
        if optical:
            mode_e(stream)
        link: WrapperLink | HdlcLink = HdlcLink(stream, client_sap)
    elif framing == "hdlc":
        link = HdlcLink(Stream.tcp(host, port, timeout), client_sap)
    elif framing == "wrapper":
        link = WrapperLink(Stream.tcp(host, port, timeout), client_sap)
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


def scaled(register, value):
    """A register's value in its unit (value x 10^scaler of its registers.Register row); text for octet strings."""
    if isinstance(value, (bytes, str)):
        return value.decode("ascii", "replace") if isinstance(value, bytes) else value
    if isinstance(value, bool):
        return value
    return value * 10 ** register.scaler if register.scaler >= 0 else value / 10 ** -register.scaler


def growing_counter() -> int:
    """A head-end's suite 0 invocation counter must only grow, session after session: tenths of a second
    since 2000 do, with room for 16 APDUs between two starts."""
    return int((time.time() - civil.UNIX_2000) * 10) & 0xFFFFFFF0


def read_registers(client: CosemClient) -> dict:
    """Every register of the map, scaled: OBIS -> number (or text); and the clock in seconds since 2000 UTC."""
    values: dict = {}
    for row in M.REGISTERS:
        values[row.obis] = scaled(row, client.get(row.class_id, row.obis, row.attribute))
    values[M.CLOCK_OBIS] = clock_seconds(client.get(M.CLOCK, M.CLOCK_OBIS, 2))
    return values


def set_clock(client: CosemClient, seconds: int) -> None:
    """SET the meter's clock (management association); the meter refuses a step back of more than
    5 minutes, or a second one within a day of its running time (CosemError)."""
    data = bytearray()
    axdr.put(data, axdr.OCTET_STRING, axdr.date_time(seconds, 0))
    client.set(M.CLOCK, M.CLOCK_OBIS, 2, bytes(data))


def set_lls_secret(client: CosemClient, secret: bytes) -> None:
    """The management client's new LLS secret (association attribute 7; an HLS association only)."""
    data = bytearray()
    axdr.put(data, axdr.OCTET_STRING, secret)
    client.set(M.ASSOCIATION_LN, ASSOCIATION_OBIS, 7, bytes(data))


def transfer_keys(client: CosemClient, kek: bytes, new: dict) -> None:
    """Security setup key_transfer: the new keys ({"ek", "ak", "kek"}: bytes) wrapped under the meter's
    current master key (RFC 3394), in one request; they serve from the meter's next association on."""
    from cryptography.hazmat.primitives.keywrap import aes_key_wrap

    data = bytearray()
    ids = {"ek": 0, "ak": 2, "kek": 3}
    axdr.put_header(data, axdr.ARRAY, len(new))
    for name, key in new.items():
        axdr.put_header(data, axdr.STRUCTURE, 2)
        axdr.put(data, axdr.ENUM, ids[name])
        axdr.put(data, axdr.OCTET_STRING, aes_key_wrap(kek, key))
    client.action(M.SECURITY_SETUP, SECURITY_SETUP_OBIS, 2, bytes(data))


def read_profile(client: CosemClient, obis: str, selection: bytes = b"") -> list:
    """Rows of a profile as (seconds since 2000 UTC, values...)."""
    rows = client.get(M.PROFILE_GENERIC, obis, 2, selection)
    return [(clock_seconds(row[0]),) + tuple(row[1:]) for row in rows]



def _setup_markdown(class_id: int, values: tuple) -> str:
    """A communication setup object's values (attributes 2.. in order) for docs/dlms.md."""
    from opsm.protocol import cosem_objects as O

    if class_id == M.IEC_HDLC_SETUP:
        _speed, _window_tx, _window_rx, max_info, _max_info_rx, inter_octet_ms, inactivity_s, address = values
        return ("the HDLC port: comm_speed 5 (9600 Bd, the optical UART), windows 1, max info %d, "
                "inter-octet %d ms, inactivity %d s, address %d" % (max_info, inter_octet_ms, inactivity_s, address))
    _port, _ip_reference, mss, connections, inactivity_s = values
    return ("the TCP wrapper's port (the simulator's; a board has no IP), IP reference %s, MSS %d, "
            "%d connection(s), inactivity %d s" % (O.IPV4_SETUP_OBIS, mss, connections, inactivity_s))


def objects_markdown() -> str:
    """The meter's COSEM objects as a Markdown table (docs/dlms.md): generated from the register map."""
    from opsm.protocol import cosem_objects as O

    names = {M.DATA: "Data", M.REGISTER: "Register", M.PROFILE_GENERIC: "Profile generic", M.CLOCK: "Clock",
             M.ASSOCIATION_LN: "Association LN", M.SECURITY_SETUP: "Security setup",
             M.DISCONNECT_CONTROL: "Disconnect control", M.ACCOUNT: "Account", M.CREDIT: "Credit",
             M.CHARGE: "Charge", M.TOKEN_GATEWAY: "Token gateway", M.IEC_HDLC_SETUP: "IEC HDLC setup",
             M.TCP_UDP_SETUP: "TCP-UDP setup", M.PUSH_SETUP: "Push setup", O.IMAGE_TRANSFER: "Image transfer"}
    types = {axdr.OCTET_STRING: "octet-string", axdr.DOUBLE_LONG_UNSIGNED: "double-long-unsigned",
             axdr.DOUBLE_LONG: "double-long", axdr.LONG: "long", axdr.BOOLEAN: "boolean",
             axdr.VISIBLE_STRING: "visible-string", axdr.INTEGER: "integer", axdr.LONG_UNSIGNED: "long-unsigned"}
    lines = ["| OBIS | class (version) | attributes | written by 17 and 1 | methods for 17 and 1 | value |",
             "|------|-----------------|-----------:|---------------------|----------------------|-------|"]
    # the setup objects as a meter with an optical port served as TCP wrapper on 4059 shows them
    for class_id, version, ln, row in O.build_objects((O.hdlc_setup(9600), O.tcp_udp_setup(4059, 120))):
        _, attributes, methods = O.CLASSES[class_id]
        written = ", ".join(sorted({str(a) for c, a in O.WRITABLE if c == class_id} | {
            str(setting.attribute) for setting in M.SETTINGS if M.obis_bytes(setting.obis) == ln})) or "-"
        called = ", ".join(str(m) for c, m in O.METHODS if c == class_id) or "-"
        if class_id in O.SETUP_TYPES:  # row: the setup's attribute values 2..
            value = _setup_markdown(class_id, row)
        elif isinstance(row, M.Profile):
            value = "clock, %s; every %s, the newest %d kept" % (
                ", ".join(row.columns), "%d s" % row.period_s if row.period_s else "event", row.capacity)
        elif isinstance(row, M.Setting):
            value = "field setting `%s`, %s" % (row.key, types[row.type])
        elif isinstance(row, M.Register):
            value = "%s — `%s`, %s" % (row.name_en, row.key, types[row.type])
            if class_id == M.REGISTER:
                value += ", scaler %d, unit %d" % (row.scaler, row.unit)
        else:
            value = {O.LDN_OBIS: "logical device name, octet-string(16): OPS + serial",
                     O.FIRMWARE_OBIS: "firmware identifier, octet-string",
                     M.CLOCK_OBIS: "local time, deviation = minutes from local time to UTC",
                     O.INVOCATION_COUNTER_OBIS: "the meter's suite 0 invocation counter, double-long-unsigned",
                     O.ACCOUNT_OBIS: "available credit (attr 5) in Wh; currency kWh, scale -3",
                     O.CHARGE_OBIS: "1 Wh of credit per Wh of +A",
                     O.TOKEN_GATEWAY_OBIS: "enter(token): the 20 digits as an octet-string",
                     O.ASSOCIATION_OBIS: "the current association; method 1: HLS pass 3; attribute 7, the LLS "
                                         "secret: written by client 1 only",
                     O.SECURITY_SETUP_OBIS: "suite 0, system titles; method 2 key_transfer (keys wrapped under the "
                                            "KEK): client 1 only",
                     M.PUSH_SETUP_OBIS: "DataNotifications on the meter's events (see Push); method 1: a test "
                                        "push",
                     O.IMAGE_TRANSFER_OBIS: "a signed firmware image in 192-byte blocks, resumable; methods initiate, "
                                            "block, verify, activate (firmware-update.md, `opsm fw push`)"}.get(".".join(str(b) for b in ln), "")
        for setting in M.SETTINGS:  # attributes of standard objects that hold a field setting
            if setting.class_id != M.DATA and M.obis_bytes(setting.obis) == ln:
                value += "; attribute %d sets field setting `%s`%s" % (
                    setting.attribute, setting.key, " (negated: minutes from local time to UTC)" if class_id == M.CLOCK
                    else "")
        lines.append("| %s | %d %s (%d) | %d | %s | %s | %s |" % (".".join(str(b) for b in ln), class_id,
                                                               names[class_id], version, attributes, written,
                                                               called, value))
    return "\n".join(lines) + "\n"



# --- asyncio links, for the harvester's many meters at once -----------------------------------

MAX_REPLY_BYTES = 1 << 20  # one reply (and, in the harvester, one read's blocks): 1 MB; a full profile is ~35 KB
MAX_SEGMENTS = 256         # HDLC segments in one reply (the harvester: GET blocks in one read); a profile takes ~35


class LimitError(TransportError):
    """The meter's reply broke a bound the head-end sets (bytes, HDLC segments, GET blocks): retrying
    will not change it."""


def size_text(n: int) -> str:
    """1048576 -> "1 MB", 2048 -> "2 KB", 1000 -> "1000 bytes"."""
    for unit, size in (("MB", 1 << 20), ("KB", 1 << 10)):
        if n >= size and n % size == 0:
            return "%d %s" % (n // size, unit)
    return "%d bytes" % n


class AsyncLink:
    """A DLMS link on an asyncio stream: TCP wrapper or HDLC over TCP; a deadline on every read, and bounds
    on one reply: max_reply_bytes received for it, max_segments HDLC segments (LimitError). The deadline of
    a whole session is the caller's (asyncio.timeout around it); abort() then drops the connection at once."""

    def __init__(self, reader, writer, framing: str, client_sap: int, timeout: float,
                 max_reply_bytes: int = MAX_REPLY_BYTES, max_segments: int = MAX_SEGMENTS):
        self.reader, self.writer = reader, writer
        self.framing = framing
        self.client_sap = client_sap
        self.timeout = timeout
        self.max_reply_bytes = max_reply_bytes
        self.max_segments = max_segments
        self.frames = wrapper.WrapperReader(max_length=65535)
        self.link = hdlc.ClientLink(client_sap, 1, max_info_tx=1024, max_info_rx=1024)
        self._received = 0  # bytes received for the reply being read

    @classmethod
    async def open(cls, host: str, port: int, framing: str, client_sap: int, timeout: float,
                   max_reply_bytes: int = MAX_REPLY_BYTES, max_segments: int = MAX_SEGMENTS) -> "AsyncLink":
        import asyncio

        try:
            reader, writer = await asyncio.wait_for(asyncio.open_connection(host, port), timeout)
        except (OSError, asyncio.TimeoutError) as exc:
            raise TransportError("cannot connect to %s:%d: %s" % (host, port, exc or "time-out")) from None
        self = cls(reader, writer, framing, client_sap, timeout, max_reply_bytes, max_segments)
        if framing == "hdlc":
            try:
                await self._until(self.link.snrm(), True)
            except BaseException:  # a refusal, or the caller's deadline (cancelled): the socket goes with it
                self.abort()
                raise
        return self

    async def _read(self) -> bytes:
        import asyncio

        try:
            data = await asyncio.wait_for(self.reader.read(4096), self.timeout)
        except asyncio.TimeoutError:
            raise TransportError("no answer within %.1f s" % self.timeout) from None
        except OSError as exc:
            raise TransportError("connection lost: %s" % exc) from None
        if not data:
            raise TransportError("the meter closed the connection")
        self._received += len(data)
        if self._received > self.max_reply_bytes:
            raise LimitError("reply over %s" % size_text(self.max_reply_bytes))
        return data

    async def _until(self, frame: bytes, connected: bool) -> None:
        self.writer.write(frame)
        self._received = 0
        while self.link.connected != connected:
            try:
                out, _ = self.link.receive(await self._read())
            except hdlc.HdlcError as exc:
                raise TransportError("HDLC: %s" % exc) from None
            if out:
                self.writer.write(out)

    async def exchange(self, apdu: bytes) -> bytes:
        self._received = 0
        if self.framing == "wrapper":
            self.writer.write(wrapper.wrap(self.client_sap, 1, apdu))
            while True:
                try:
                    frames = self.frames.feed(await self._read())
                except wrapper.WrapperError as exc:
                    raise TransportError(str(exc)) from None
                for _, _, reply in frames:
                    return reply
        data = self.link.send(apdu)
        segments = 0
        while True:
            if data:
                self.writer.write(data)
            try:
                data, reply = self.link.receive(await self._read())
            except hdlc.HdlcError as exc:
                raise TransportError("HDLC: %s" % exc) from None
            if reply is not None:
                return reply
            if data:  # an RR for the next segment of the reply (or of a long request)
                segments += 1
                if segments >= self.max_segments:
                    raise LimitError("more than %d HDLC segments" % self.max_segments)

    async def close(self) -> None:
        """DISC (HDLC) and close: the end of a session that went well."""
        try:
            if self.framing == "hdlc" and self.link.connected:
                await self._until(self.link.disc(), False)
        except TransportError:
            pass  # going anyway
        finally:
            self.writer.close()

    def abort(self) -> None:
        """Drop the connection now, nothing sent or waited for: a session that failed or ran out of time."""
        self.writer.transport.abort()


if __name__ == "__main__":
    print(objects_markdown(), end="")
