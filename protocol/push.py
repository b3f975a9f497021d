"""DLMS push (issue 18): the DataNotification APDU a meter sends on its events, sans-IO.

The wire format, fixed with the head-end's receiver:
  plain     0x0F data-notification | long-invoke-id-and-priority, 4 bytes big-endian (bit 31: high
            priority; bits 0-23: the event's sequence number in the meter's log, mod 2**24) |
            date-time: 0x0C + the 12-byte COSEM date-time of sending (UTC, deviation 0) |
            notification-body: a structure of 7: serial (visible-string), event code (unsigned),
            event time (octet-string, 12-byte date-time, UTC), payload a (double-long-unsigned),
            payload b (long-unsigned), available credit Wh (double-long), relay closed (boolean)
  ciphered  general-glo-ciphering of the plain APDU: 0xDB | system title | SC 0x30 | IC | ciphertext | tag
  transport one TCP wrapper frame from wPort 1 (management logical device) to wPort 102; the sender
            connects, writes and closes (a DataNotification is not answered)
Also the meter's identity in suite 0, which its COSEM server shares: its system title, its keys and
the invocation counter of everything it ciphers.
"""

from . import axdr, wrapper

DATA_NOTIFICATION = 0x0F
SOURCE_WPORT = 1
DESTINATION_WPORT = 102
HIGH_PRIORITY = 0x80000000
MAX_DESTINATION = 64    # characters of "host:port"
COUNTER_BLOCK = 1024    # invocation counters reserved (persisted) at a time


def system_title(serial: str) -> bytes:
    """The meter's system title: OPS + the low 5 bytes of its serial's digits, 8 bytes, unique per meter."""
    digits = int("".join([c for c in serial if "0" <= c <= "9"]) or "0")
    return b"OPS" + (digits % (1 << 40)).to_bytes(5, "big")


def meter_keys(credentials, serial: str):
    """The meter's Keys from its credentials (anything with ek, ak, kek), or None without HLS."""
    if not credentials.ek:
        return None
    from .dlms_security import Keys  # with the keys only: a meter without them never loads GCM

    return Keys(credentials.ek, credentials.ak, system_title(serial), credentials.kek)


def data_notification(seq: int, high: bool, sent_s: int, serial: str, code: int, event_s: int, a: int, b: int,
                      credit_wh: int, closed: bool) -> bytes:
    """The plain APDU; times in seconds since 2000 UTC."""
    buf = bytearray((DATA_NOTIFICATION,))
    axdr.put_uint(buf, (HIGH_PRIORITY if high else 0) | (seq & 0xFFFFFF), 4)
    axdr.put_length(buf, 12)
    buf.extend(axdr.date_time(sent_s, 0))
    axdr.put_header(buf, axdr.STRUCTURE, 7)
    axdr.put(buf, axdr.VISIBLE_STRING, serial)
    axdr.put(buf, axdr.UNSIGNED, code)
    axdr.put(buf, axdr.OCTET_STRING, axdr.date_time(event_s, 0))
    axdr.put(buf, axdr.DOUBLE_LONG_UNSIGNED, a)
    axdr.put(buf, axdr.LONG_UNSIGNED, b)
    axdr.put(buf, axdr.DOUBLE_LONG, credit_wh)
    axdr.put(buf, axdr.BOOLEAN, closed)
    return bytes(buf)


def ciphered(apdu: bytes, keys, counter: int) -> bytes:
    """general-glo-ciphering of the APDU under the meter's keys (dlms_security.Keys), authenticated and
    encrypted with invocation counter `counter` (from the meter's InvocationCounter)."""
    from .dlms_security import SC_AUTH_ENC, general_glo_wrap, protect

    title = keys.system_title
    return general_glo_wrap(title, protect(apdu, SC_AUTH_ENC, title, counter, keys.ek, keys.ak))


def frame(apdu: bytes) -> bytes:
    """The TCP wrapper frame that carries one notification."""
    return wrapper.wrap(SOURCE_WPORT, DESTINATION_WPORT, apdu)


def parse_destination(text) -> tuple:
    """(host, port) of "host:port" (a name or an IPv4 address); ValueError saying why it is refused."""
    if not isinstance(text, str) or not 3 <= len(text) <= MAX_DESTINATION:
        raise ValueError("must be host:port, at most %d characters" % MAX_DESTINATION)
    host, _, port = text.rpartition(":")
    for c in host:
        if not ("a" <= c <= "z" or "A" <= c <= "Z" or "0" <= c <= "9" or c in ".-_"):
            raise ValueError("the host takes letters, digits, '.', '-' and '_' only")
    if not host or not port.isdigit() or not 1 <= int(port) <= 65535:
        raise ValueError("must be host:port with a port 1-65535")
    return host, int(port)


class InvocationCounter:
    """The meter's own suite 0 invocation counter, for everything it ciphers: association replies and pushes.

    GCM must never see a counter twice under one key, reboots included: `store` (counter_reserved() -> int,
    reserve_counter(upto)) persists a mark a block ahead, and a counter starts from it. Several counters over
    one store (the COSEM server's, the pushes') each take whole blocks: a new block starts at the persisted
    mark when another counter moved it past this one's."""

    def __init__(self, store):
        self.store = store
        self.value = store.counter_reserved()  # the last used, or the mark nothing below was used above
        self._reserved = self.value

    def next(self) -> int:
        value = self.value + 1
        if value >= self._reserved:
            value = max(value, self.store.counter_reserved())
            self._reserved = value + COUNTER_BLOCK
            self.store.reserve_counter(self._reserved)
        self.value = value
        return value
