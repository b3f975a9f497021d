"""IEC 62056-46 HDLC link layer for DLMS/COSEM, sans-IO: bytes in, bytes out.

The meter's serial port (and HDLC over TCP) needs it: head-ends connect with SNRM,
exchange I-frames carrying APDUs, cut long ones into segments and end with DISC.
ServerLink is the meter's side, ClientLink the head-end's (our host client, tests).

Frame format type 3, no byte stuffing (the length field finds the end):
  7E | A0|S<<3|len>>8, len | dest | src | control | [HCS | info] | FCS | 7E
len counts the format field to the FCS; HCS and FCS are CRC-16/X.25, low byte first;
S marks a segment that more segments follow. A client address is one byte SAP<<1|1;
a server address is 1 byte (logical), 2 bytes (logical, physical) or 4 bytes (two
7-bit halves each), the extension bit (LSB) set on its last byte only. The meter
answers with the address bytes the client sent, so the reply has the client's form.
Window size is always 1.
"""

from .ticks import ticks_diff

FLAG = 0x7E
PF = 0x10  # poll/final bit of the control field
SNRM = 0x83
DISC = 0x43
UA = 0x63
DM = 0x0F
FRMR = 0x87
UI = 0x03
RR = 0x01
RNR = 0x05
LLC_REQUEST = b"\xe6\xe6\x00"
LLC_REPLY = b"\xe6\xe7\x00"
DEFAULT_INFO = 128  # max info field length when SNRM carries no parameters
MAX_INFO = 2030     # HDLC setup class (23) upper bound: fits the 11-bit length field
LINK_MAX_INFO = 1024          # what a ServerLink offers by default, and its HDLC setup object says
LINK_TIMEOUT_MS = 120000      # inactivity time-out
OCTET_TIMEOUT_MS = 1000       # inter-octet time-out

# FRMR reasons (third info byte, ISO/IEC 13239): W control, X info not allowed,
# Y info too long, Z N(R), V N(S).
_W = 0x01
_X = 0x02
_Y = 0x04
_Z = 0x08
_V = 0x10

_DISCONNECTED = 0
_CONNECTED = 1
_REJECTED = 2  # frame-reject condition: only SNRM or DISC end it


def _nibble_table():
    table = []
    for value in range(16):
        for _ in range(4):
            value = (value >> 1) ^ 0x8408 if value & 1 else value >> 1
        table.append(value)
    return tuple(table)


_FCS_TABLE = _nibble_table()


def fcs16(data, start: int = 0, end: int = -1, crc: int = 0xFFFF) -> int:
    """CRC-16/X.25 of data[start:end] (end -1: to the end), without slicing.

    crc is the running register: to continue a CRC, pass a previous result ^ 0xFFFF.
    Four bits per table step: 16 entries instead of 256 keep it small on a board.
    """
    if end < 0:
        end = len(data)
    table = _FCS_TABLE
    for i in range(start, end):
        crc ^= data[i]
        crc = (crc >> 4) ^ table[crc & 15]
        crc = (crc >> 4) ^ table[crc & 15]
    return crc ^ 0xFFFF


def client_address(sap: int) -> bytes:
    if not 0 <= sap < 0x80:
        raise ValueError("client SAP out of range")
    return bytes((sap << 1 | 1,))


def server_address(logical: int, physical: int = -1, size: int = 0) -> bytes:
    """Address bytes of a server; physical -1: none (1-byte form); size 0: smallest form."""
    if physical < 0:
        if size not in (0, 1) or not 0 <= logical < 0x80:
            raise ValueError("server address out of range")
        return bytes((logical << 1 | 1,))
    if size == 0:
        size = 2 if logical < 0x80 and physical < 0x80 else 4
    limit = 0x80 if size == 2 else 0x4000
    if size not in (2, 4) or not (0 <= logical < limit and 0 <= physical < limit):
        raise ValueError("server address out of range")
    if size == 2:
        return bytes((logical << 1, physical << 1 | 1))
    return bytes((logical >> 7 << 1, (logical & 0x7F) << 1, physical >> 7 << 1, (physical & 0x7F) << 1 | 1))


def address_parts(raw) -> tuple:
    """(upper, lower) of address bytes; lower is -1 in the 1-byte form."""
    if len(raw) == 1:
        return raw[0] >> 1, -1
    if len(raw) == 2:
        return raw[0] >> 1, raw[1] >> 1
    return (raw[0] >> 1) << 7 | raw[1] >> 1, (raw[2] >> 1) << 7 | raw[3] >> 1


def _put_crc(out: bytearray) -> None:
    crc = fcs16(out, 1)
    out.append(crc & 0xFF)
    out.append(crc >> 8)


def frame(dest, src, control: int, info=b"", segmented: bool = False) -> bytes:
    """One complete frame, flags included."""
    length = 2 + len(dest) + len(src) + 1 + 2 + (len(info) + 2 if info else 0)
    if length > 0x7FF:
        raise ValueError("HDLC frame too long")
    out = bytearray()
    out.append(FLAG)
    out.append(0xA0 | (0x08 if segmented else 0) | length >> 8)
    out.append(length & 0xFF)
    out += dest
    out += src
    out.append(control)
    if info:
        _put_crc(out)  # HCS
        out += info
    _put_crc(out)      # FCS
    out.append(FLAG)
    return bytes(out)


def hdlc_parameters(max_info_tx: int, max_info_rx: int, window_tx: int = 1, window_rx: int = 1) -> bytes:
    """The SNRM/UA information field: format 81, group 80, then parameters 05..08."""
    body = bytearray()
    for pid, value, size in ((5, max_info_tx, 0), (6, max_info_rx, 0), (7, window_tx, 4), (8, window_rx, 4)):
        size = size or (1 if value < 0x100 else 2)
        body.append(pid)
        body.append(size)
        body += value.to_bytes(size, "big")
    return b"\x81\x80" + bytes((len(body),)) + bytes(body)


def parse_parameters(info):
    """(max info tx, max info rx, window tx, window rx) of a SNRM/UA information field,
    defaults (128, 128, 1, 1) for what is absent; None when malformed."""
    values = [DEFAULT_INFO, DEFAULT_INFO, 1, 1]
    n = len(info)
    if n:
        if n < 3 or info[0] != 0x81 or info[1] != 0x80 or info[2] != n - 3:
            return None
        pos = 3
        while pos < n:
            if pos + 2 > n:
                return None
            pid = info[pos]
            size = info[pos + 1]
            pos += 2
            if not 1 <= size <= 4 or pos + size > n:
                return None
            value = 0
            for i in range(pos, pos + size):
                value = value << 8 | info[i]
            pos += size
            if 5 <= pid <= 8:
                values[pid - 5] = value  # other parameters: not ours to refuse
    if min(values) < 1:
        return None
    return tuple(values)


class Frame:
    """A received frame; addresses stay raw bytes so a reply can mirror them."""

    def __init__(self, dest: bytes, src: bytes, control: int, info: bytes, segmented: bool):
        self.dest = dest
        self.src = src
        self.control = control
        self.info = info
        self.segmented = segmented


def _address_end(buf, pos: int, limit: int) -> int:
    """Index after the address starting at pos; -1 when it is not 1, 2 or 4 bytes."""
    for k in range(4):
        if pos + k >= limit:
            return -1
        if buf[pos + k] & 1:
            return -1 if k == 2 else pos + k + 1
    return -1


def _parse(buf, start: int, end: int):
    """The frame whose format field is at start and closing flag at end, or None."""
    if fcs16(buf, start, end - 2) != buf[end - 2] | buf[end - 1] << 8:
        return None
    src = _address_end(buf, start + 2, end)
    control = _address_end(buf, src, end) if src > 0 else -1
    if control < 0 or control + 3 > end:
        return None
    rest = end - 2 - (control + 1)  # bytes between control and FCS
    info = b""
    if rest:
        hcs = control + 1
        if rest < 2 or fcs16(buf, start, hcs) != buf[hcs] | buf[hcs + 1] << 8:
            return None
        info = bytes(buf[hcs + 2:end - 2])
    return Frame(bytes(buf[start + 2:src]), bytes(buf[src:control]), buf[control],
                 info, bool(buf[start] & 0x08))


class FrameReader:
    """Cuts a byte stream into frames: input may come split or coalesced; garbage and
    extra flags are skipped; frames failing HCS/FCS or address checks are dropped and
    counted in `dropped`. A closing flag may also open the next frame."""

    def __init__(self):
        self._buf = bytearray()
        self.dropped = 0

    def reset(self) -> None:
        """Forget a partial frame (inter-octet timeout)."""
        if len(self._buf) > 1:  # more than a kept closing flag
            self.dropped += 1
        self._buf = bytearray()

    def feed(self, data) -> list:
        buf = self._buf
        buf += data
        n = len(buf)
        frames = []
        i = 0
        while True:
            while i < n and buf[i] != FLAG:
                i += 1
            while i + 1 < n and buf[i + 1] == FLAG:
                i += 1
            if i + 3 > n:
                break
            length = (buf[i + 1] & 0x07) << 8 | buf[i + 2]
            if buf[i + 1] & 0xF0 != 0xA0 or length < 7:
                i += 1  # not a frame start
                continue
            end = i + 1 + length
            if end >= n:
                break  # wait for the rest
            parsed = _parse(buf, i + 1, end) if buf[end] == FLAG else None
            if parsed is None:
                self.dropped += 1
                i += 1  # resynchronise on the next flag
                continue
            frames.append(parsed)
            i = end
        if i:
            self._buf = buf[i:]
        return frames


_TWO_FLAGS = b"\x7e\x7e"


def _cut_at_flags(info) -> bool:
    """Whether a frame carrying `info` holds two 0x7E bytes in a row (in the info, or an FCS ending in
    0x7E before the closing flag): once the HCS is in, the FCS depends on the info field alone, so
    any header tells."""
    return _TWO_FLAGS in frame(b"\x03", b"\x03", 0, info)


class ServerLink:
    """The meter's end of the link.

    handle(client_sap, apdu) -> reply APDU (b"": none) is the COSEM server;
    on_reset() is called when a link is torn down (DISC, new SNRM, inactivity), so the
    association ends with it. receive() never raises on any input bytes. A partial frame
    older than octet_timeout_ms is dropped, so line noise cannot stall the reader;
    max_apdu bounds a reassembled request (memory).

    A repeated I-frame, or an RR still at the N(R) of our last I-frame, gets our last
    frame again (the client lost it). Any other sequence or control error sends FRMR and
    enters the frame-reject condition: every frame but SNRM and DISC gets that FRMR again.
    Frames of other clients while one is connected get DM; UI frames are ignored.
    """

    def __init__(self, handle, on_reset, logical: int = 1, max_info_tx: int = LINK_MAX_INFO,
                 max_info_rx: int = LINK_MAX_INFO, timeout_ms: int = LINK_TIMEOUT_MS, max_apdu: int = 4096,
                 octet_timeout_ms: int = OCTET_TIMEOUT_MS):
        if not (1 <= max_info_tx <= MAX_INFO and 1 <= max_info_rx <= MAX_INFO):
            raise ValueError("max info field out of range")
        self.handle = handle
        self.on_reset = on_reset
        self.logical = logical
        self.max_info_tx = max_info_tx
        self.max_info_rx = max_info_rx
        self.timeout_ms = timeout_ms
        self.max_apdu = max_apdu
        self.octet_timeout_ms = octet_timeout_ms
        self.reader = FrameReader()
        self.tx_size = DEFAULT_INFO  # negotiated max info field we send
        self.rx_size = DEFAULT_INFO  # and accept
        self.client_sap = -1
        self._state = _DISCONNECTED
        self._client = b""  # the connected client's address byte
        self._server = b""  # our address, as that client writes it
        self._vs = 0
        self._vr = 0
        self._rx = bytearray()  # request segments so far
        self._tx = b""          # LLC + reply still to send from _tx_pos
        self._tx_pos = 0
        self._last = b""        # last frame sent on the link, for a repeat
        self._last_i = False    # ... and whether it was an unacknowledged I-frame
        self._seen = 0          # ticks of the last frame from the client
        self._heard = 0         # ticks of the last bytes received

    @property
    def connected(self) -> bool:
        return self._state != _DISCONNECTED

    def receive(self, data, now_ms: int) -> bytes:
        """Bytes from the line -> bytes to send back (often none)."""
        self.expired(now_ms)
        if self.octet_timeout_ms > 0 and ticks_diff(now_ms, self._heard) > self.octet_timeout_ms:
            self.reader.reset()
        self._heard = now_ms
        out = b""
        for f in self.reader.feed(data):
            out += self._frame(f, now_ms)
        return out

    def expired(self, now_ms: int) -> bool:
        """Tear the link down when the client has been silent too long; True if it was."""
        if self._state == _DISCONNECTED or self.timeout_ms <= 0:
            return False
        if ticks_diff(now_ms, self._seen) < self.timeout_ms:
            return False
        self._teardown()
        return True

    def _teardown(self) -> None:
        self._state = _DISCONNECTED
        self._rx = bytearray()
        self._tx = b""
        self._last = b""
        self.on_reset()

    def _frame(self, f: Frame, now_ms: int) -> bytes:
        if len(f.src) != 1 or address_parts(f.dest)[0] != self.logical:
            return b""  # not from a client, or for another logical device
        c = f.control
        u = c & ~PF
        if u == SNRM:
            return self._snrm(f, now_ms)
        if u in (UI, UA, DM, FRMR):
            return b""  # responses and unnumbered information: nothing to answer
        if self._state == _DISCONNECTED or f.src != self._client:
            return frame(f.src, f.dest, DM | PF)
        self._seen = now_ms
        self._server = f.dest
        if u == DISC:
            if f.info:
                return self._reject(f, _X)
            self._teardown()
            return frame(f.src, f.dest, UA | PF)
        if self._state == _REJECTED:
            return self._last
        if c & 1 == 0:
            return self._information(f)
        if c & 3 == 1:
            return self._supervisory(f)
        return self._reject(f, _W)

    def _snrm(self, f: Frame, now_ms: int) -> bytes:
        params = parse_parameters(f.info)
        if params is None:
            return self._reject(f, _W)
        if self._state != _DISCONNECTED:
            self._teardown()
        self._state = _CONNECTED
        self._client = f.src
        self._server = f.dest
        self.client_sap = f.src[0] >> 1
        self._vs = 0
        self._vr = 0
        self._rx = bytearray()
        self._tx = b""
        self._last = b""
        self._last_i = False
        self._seen = now_ms
        self.tx_size = min(params[1], self.max_info_tx)  # the client's receive limit
        self.rx_size = min(params[0], self.max_info_rx)  # the client's transmit limit
        return frame(f.src, f.dest, UA | PF, hdlc_parameters(self.tx_size, self.rx_size))

    def _information(self, f: Frame) -> bytes:
        ns = f.control >> 1 & 7
        nr = f.control >> 5
        if ns != self._vr or nr != self._vs:
            acked = (self._vs - 1) & 7 if self._last_i else self._vs
            if self._last and ns == (self._vr - 1) & 7 and nr == acked:
                return self._last  # a repeat: our answer was lost
            return self._reject(f, _Z if nr != self._vs else _V)
        if len(f.info) > self.rx_size or len(self._rx) + len(f.info) > self.max_apdu + 3:
            return self._reject(f, _Y)
        self._vr = (self._vr + 1) & 7
        self._tx = b""  # a new request ends any unfinished reply
        self._rx += f.info
        if f.segmented:
            return self._send_rr()
        request = self._rx
        self._rx = bytearray()
        if len(request) < 3 or request[0] != 0xE6 or request[1] != 0xE6 or request[2] != 0:
            return self._send_rr()  # no LLC: not a DLMS request, acknowledged and ignored
        reply = self.handle(self.client_sap, bytes(memoryview(request)[3:]))
        if not reply:
            return self._send_rr()
        self._tx = LLC_REPLY + reply
        self._tx_pos = 0
        return self._send_segment()

    def _supervisory(self, f: Frame) -> bytes:
        kind = f.control & 0x0F
        nr = f.control >> 5
        if kind != RR and kind != RNR:
            return self._reject(f, _W)  # REJ, SREJ: not with window 1
        if f.info:
            return self._reject(f, _X)
        if nr == self._vs:
            if self._tx and kind == RR:
                return self._send_segment()
            return self._send_rr()
        if self._last_i and nr == (self._vs - 1) & 7:
            return self._last  # the client missed our last I-frame
        return self._reject(f, _Z)

    def _send_segment(self) -> bytes:
        start = self._tx_pos
        tx = self._tx
        control = self._vr << 5 | PF | self._vs << 1
        size = min(self.tx_size, len(tx) - start)
        out = b""
        # Two 0x7E bytes in a row inside a frame (a ciphered APDU holds any bytes; an FCS may end in
        # 0x7E) stall readers that cut frames at flags and read the line again before looking at
        # what they already hold (dlms-cosem 25.1 then times out): cut the segment shorter, between
        # them, but never below one byte and never leaving a last byte that would need the same (an
        # info field of one byte cannot be shortened). Should no cut avoid it, the frame goes as it
        # is: it is conformant.
        for n in range(size, 0, -1):
            end = start + n
            candidate = frame(self._client, self._server, control, tx[start:end], end < len(tx))
            if _TWO_FLAGS not in candidate and not (len(tx) - end == 1 and _cut_at_flags(tx[end:])):
                out, size = candidate, n
                break
        if not out:
            out = frame(self._client, self._server, control, tx[start:start + size], start + size < len(tx))
        self._tx_pos = start + size
        if self._tx_pos >= len(tx):
            self._tx = b""
        self._vs = (self._vs + 1) & 7
        self._last = out
        self._last_i = True
        return self._last

    def _send_rr(self) -> bytes:
        self._last = frame(self._client, self._server, self._vr << 5 | PF | RR)
        self._last_i = False
        return self._last

    def _reject(self, f: Frame, why: int) -> bytes:
        out = frame(f.src, f.dest, FRMR | PF, bytes((f.control, self._vr << 5 | self._vs << 1, why)))
        if self._state != _DISCONNECTED and f.src == self._client:
            self._state = _REJECTED
            self._rx = bytearray()
            self._tx = b""
            self._last = out
        return out


class HdlcError(ValueError):
    """The server refused the link (DM, FRMR) or broke the protocol."""


class ClientLink:
    """The head-end's end of the link, for our host DLMS client and the tests.

    snrm()/disc()/send() return the frame to write; receive() returns
    (bytes to write, reply APDU or None) and raises HdlcError on DM, FRMR or a sequence
    error. resend() repeats the last frame after a response timeout.
    """

    def __init__(self, client_sap: int = 16, logical: int = 1, physical: int = -1,
                 address_size: int = 0, max_info_tx: int = DEFAULT_INFO, max_info_rx: int = DEFAULT_INFO):
        self.address = client_address(client_sap)
        self.server = server_address(logical, physical, address_size)
        self.max_info_tx = max_info_tx
        self.max_info_rx = max_info_rx
        self.reader = FrameReader()
        self.connected = False
        self.tx_size = DEFAULT_INFO
        self.rx_size = DEFAULT_INFO
        self._vs = 0
        self._vr = 0
        self._tx = b""
        self._tx_pos = 0
        self._rx = bytearray()
        self._last = b""
        self._asked = 0  # SNRM or DISC awaiting its UA, else 0
        self._proposal = (DEFAULT_INFO, DEFAULT_INFO)

    def snrm(self, parameters: bool = True) -> bytes:
        """SNRM proposing our sizes, or none (the defaults, like dlms-cosem)."""
        self._asked = SNRM
        self._proposal = (self.max_info_tx, self.max_info_rx) if parameters else (DEFAULT_INFO, DEFAULT_INFO)
        info = hdlc_parameters(self.max_info_tx, self.max_info_rx) if parameters else b""
        return self._remember(frame(self.server, self.address, SNRM | PF, info))

    def disc(self) -> bytes:
        self._asked = DISC
        return self._remember(frame(self.server, self.address, DISC | PF))

    def send(self, apdu) -> bytes:
        """The first frame of a request; RRs from the server pull the next segments."""
        if not self.connected:
            raise HdlcError("HDLC link not connected")
        self._tx = LLC_REQUEST + apdu
        self._tx_pos = 0
        self._rx = bytearray()
        return self._segment()

    def resend(self) -> bytes:
        return self._last

    def receive(self, data) -> tuple:
        out = b""
        apdu = None
        for f in self.reader.feed(data):
            if f.dest != self.address or f.src != self.server:
                continue
            sent, got = self._frame(f)
            out += sent
            if got is not None:
                apdu = got
        return out, apdu

    def _frame(self, f: Frame) -> tuple:
        c = f.control
        u = c & ~PF
        if u == UA and self._asked:
            self.connected = self._asked == SNRM
            if self.connected:
                params = parse_parameters(f.info)
                if params is None:
                    raise HdlcError("malformed UA parameters")
                self.tx_size = min(params[1], self._proposal[0])  # the server's receive limit
                self.rx_size = min(params[0], self._proposal[1])
                self._vs = 0
                self._vr = 0
            self._asked = 0
            return b"", None
        if u == DM:
            self.connected = False
            if self._asked == DISC:
                self._asked = 0
                return b"", None
            raise HdlcError("DM: the server has no link")
        if u == FRMR:
            self.connected = False
            raise HdlcError("FRMR " + "".join("%02x" % b for b in f.info))
        if c & 1 == 0:
            if c >> 1 & 7 != self._vr or c >> 5 != self._vs:
                raise HdlcError("I-frame out of sequence")
            if len(f.info) > self.rx_size:
                raise HdlcError("information field over the negotiated size")
            self._vr = (self._vr + 1) & 7
            self._rx += f.info
            if f.segmented:
                return self._remember(frame(self.server, self.address, self._vr << 5 | PF | RR)), None
            reply = self._rx
            self._rx = bytearray()
            if reply[:3] != LLC_REPLY:
                raise HdlcError("reply without LLC")
            return b"", bytes(memoryview(reply)[3:])
        if c & 0x0F == RR and c >> 5 == self._vs and self._tx:
            return self._segment(), None
        return b"", None

    def _segment(self) -> bytes:
        start = self._tx_pos
        end = start + self.tx_size
        more = end < len(self._tx)
        self._tx_pos = end
        control = self._vr << 5 | PF | self._vs << 1
        self._vs = (self._vs + 1) & 7
        out = frame(self.server, self.address, control, self._tx[start:end], more)
        if not more:
            self._tx = b""
        return self._remember(out)

    def _remember(self, out: bytes) -> bytes:
        self._last = out
        return out
