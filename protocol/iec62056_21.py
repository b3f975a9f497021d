"""IEC 62056-21 mode C data readout, meter side, sans-IO: bytes in, bytes out.

The optical-probe dialogue: the reader sends a request "/?[address]!CR LF", the meter
answers its identification "/XXXZ<ident>CR LF" (Z: the baud rate it proposes), the
reader acknowledges "ACK 0 Z Y CR LF" (Y = 0: data readout), and the meter sends the
data block STX <data lines> ! CR LF ETX BCC, where every line is OBIS(value*unit)
and BCC is the XOR of every byte after STX up to and including ETX. A request for
another device address, or any other mode, ends the session silently (mode C
programming is not offered). Runs on MicroPython: the firmware serves it on its UART.

Mode E (with `mode_e`): the identification carries the escape "\\2" (HDLC offered);
a reader that answers "ACK 2 Z 2 CR LF" switches the port to DLMS over HDLC. The
session then sets `switched` and keeps the bytes that followed in `leftover`.
"""

STX = 0x02
ETX = 0x03
ACK = 0x06
MANUFACTURER = "OPS"
BAUD_CHAR = "5"          # 9600 Bd proposed (mode C); over TCP the switch is a no-op
MAX_LINE = 64            # longer input without CR LF is garbage: the session resets


def bcc(data) -> int:
    value = 0
    for byte in data:
        value ^= byte
    return value


def data_block(data_sets) -> bytes:
    """The readout block for (address, value, unit) triples; unit may be ''."""
    body = bytearray()
    for address, value, unit in data_sets:
        body += ("%s(%s*%s)\r\n" % (address, value, unit) if unit else "%s(%s)\r\n" % (address, value)).encode()
    body += b"!\r\n"
    body.append(ETX)
    return bytes((STX,)) + bytes(body) + bytes((bcc(body),))


class Session:
    """One reader's dialogue; `readout()` gives the data sets at the moment they are sent."""

    def __init__(self, identification: str, readout, address: str = "", mode_e: bool = False):
        self.identification = identification
        self.readout = readout
        self.address = address.encode()  # compared as bytes: a reader's line need not be text
        self.mode_e = mode_e
        self.switched = False
        self.leftover = b""
        self._line = bytearray()
        self._state = 0  # 0: waiting for a request, 1: identified, waiting for the ACK

    def feed(self, data) -> bytes:
        """Bytes from the reader -> bytes to send back (often none)."""
        out = b""
        for i, byte in enumerate(data):
            if self.switched:
                self.leftover = bytes(data[i:])
                break
            if byte == 0x2F or byte == ACK:  # "/" and ACK begin every reader message
                self._line = bytearray()
            self._line.append(byte)
            if len(self._line) > MAX_LINE:
                self._line = bytearray()
                self._state = 0
            elif byte == 0x0A:
                out += self._answer(bytes(self._line))
                self._line = bytearray()
        return out

    def _answer(self, line: bytes) -> bytes:
        if line.startswith(b"/?") and line.endswith(b"!\r\n"):
            address = line[2:-3]
            if address and address != self.address:
                self._state = 0  # addressed to another meter on the bus
                return b""
            self._state = 1
            escape = "\\2" if self.mode_e else ""
            return ("/%s%s%s%s\r\n" % (MANUFACTURER, BAUD_CHAR, escape, self.identification)).encode()
        if self._state == 1 and self.mode_e and len(line) == 6 and line[0] == ACK and line[1:2] == b"2" \
                and line[3:4] == b"2":
            self._state = 0
            self.switched = True  # mode E: HDLC from the next byte, at the baud rate proposed
            return b""
        if self._state == 1 and len(line) == 6 and line[0] == ACK and line[1:2] == b"0" and line[3:4] == b"0":
            self._state = 0
            return data_block(self.readout())
        self._state = 0
        return b""


# --- the reader's side (the host's optical probe) ---------------------------------------------

def parse_data_block(block) -> list:
    """(address, value, unit) of each data set of a readout block STX ... ! CR LF ETX BCC."""
    if len(block) < 4 or block[0] != STX or block[-2] != ETX:
        raise ValueError("readout: not a data block (STX ... ETX BCC)")
    if bcc(block[1:-1]) != block[-1]:
        raise ValueError("readout: BCC mismatch")
    out = []
    for line in bytes(block[1:-2]).decode().split("\r\n"):
        if not line or line == "!":
            continue
        address, _, rest = line.partition("(")
        value, _, unit = rest.rstrip(")").partition("*")
        out.append((address, value, unit))
    return out
