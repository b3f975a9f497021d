"""A DataNotification a meter pushes on an event (issue 18), declared with construct: the TCP wrapper header, the
plain APDU, its general-glo-ciphering envelope; decode() turns an APDU into a Notification or says what is wrong.

The meter's encoder (protocol/push.py) is written with the project's own A-XDR and GCM code. This decoder is
written apart from it, from the fixed wire format, with construct and `cryptography`'s AES-GCM, so the two check
each other (tests/host/test_headend_listen.py).

    wrapper    version 1 | source wPort 1 | destination wPort 102 | length | APDU     (u16 big-endian each)
    plain      0x0F | long-invoke-id-and-priority (u32: bit 31 priority, bits 0-23 the event's sequence)
               | 0x0C + COSEM date-time of sending, or 0x00 | structure of 7: serial visible-string, code
               unsigned, event time octet-string(12), payload a double-long-unsigned, payload b long-unsigned,
               credit Wh double-long, relay closed boolean
    ciphered   0xDB | 0x08 + system title | A-XDR length | SC 0x30 | invocation counter (u32)
               | AES-128-GCM(EK) of the plain APDU | 12-byte tag;  IV = system title + counter, AAD = SC + AK
"""

import dataclasses
import datetime

from construct import (BitsInteger, BitStruct, Bytes, Const, Construct, ConstructError, Flag, If, Int8ub, Int16sb,
                       Int16ub, Int32sb, Int32ub, OneOf, PascalString, Rebuild, Struct, Terminated, this)
from construct.core import stream_read, stream_write
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

WRAPPER_VERSION = 1
SOURCE_WPORT = 1          # the meter's management logical device
DESTINATION_WPORT = 102   # the head-end's notification receiver
DATA_NOTIFICATION = 0x0F
GENERAL_GLO_CIPHERING = 0xDB
SECURITY_CONTROL = 0x30   # authenticated and encrypted, security suite 0
TAG_LEN = 12
_HEADER_LEN = 5           # the security control byte and the invocation counter


class NotificationError(ValueError):
    """A frame the head-end refuses; the message names what is wrong."""


class FramingError(NotificationError):
    """A wrapper header the stream cannot be followed past: the connection ends with it."""


class AxdrLength(Construct):
    """An A-XDR length: one byte under 0x80, else 0x81 or 0x82 and that many big-endian bytes (a wrapper frame
    holds at most 65535)."""

    def _parse(self, stream, context, path):
        first = stream_read(stream, 1, path)[0]
        if first < 0x80:
            return first
        if first not in (0x81, 0x82):
            raise ConstructError("A-XDR length byte 0x%02X: not 0x00-0x7F, 0x81 or 0x82" % first, path=path)
        return int.from_bytes(stream_read(stream, first & 0x7F, path), "big")

    def _build(self, obj, stream, context, path):
        if obj < 0x80:
            data = bytes((obj,))
        else:
            size = 1 if obj <= 0xFF else 2
            data = bytes((0x80 | size,)) + obj.to_bytes(size, "big")
        stream_write(stream, data, len(data), path)
        return obj


WrapperHeader = Struct(
    "version" / Int16ub,
    "source" / Int16ub,
    "destination" / Int16ub,
    "length" / Int16ub,
)
WRAPPER_HEADER_SIZE = WrapperHeader.sizeof()

# deviation: minutes, -0x8000 (0x8000) when not specified; the time is then UTC, as the format fixes
DateTime = Struct(
    "year" / Int16ub,
    "month" / Int8ub,
    "day" / Int8ub,
    "weekday" / Int8ub,
    "hour" / Int8ub,
    "minute" / Int8ub,
    "second" / Int8ub,
    "hundredths" / Int8ub,
    "deviation" / Int16sb,
    "status" / Int8ub,
)

Body = Struct(
    "structure" / Const(b"\x02\x07"),
    "serial_type" / Const(0x0A, Int8ub),
    "serial" / PascalString(AxdrLength(), "ascii"),
    "code_type" / Const(0x11, Int8ub),
    "code" / Int8ub,
    "event_time_type" / Const(b"\x09\x0c"),
    "event_time" / DateTime,
    "payload_a_type" / Const(0x06, Int8ub),
    "payload_a" / Int32ub,
    "payload_b_type" / Const(0x12, Int8ub),
    "payload_b" / Int16ub,
    "credit_type" / Const(0x05, Int8ub),
    "credit_wh" / Int32sb,
    "relay_type" / Const(0x03, Int8ub),
    "relay_closed" / Flag,
)

DataNotification = Struct(
    "apdu_tag" / Const(DATA_NOTIFICATION, Int8ub),
    "invoke" / BitStruct("priority" / Flag, "flags" / BitsInteger(7), "invoke_id" / BitsInteger(24)),
    "sent_length" / Rebuild(OneOf(Int8ub, (0, 12)), lambda ctx: 0 if ctx.sent is None else 12),
    "sent" / If(this.sent_length == 12, DateTime),
    "body" / Body,
    Terminated,
)

GeneralGloCiphering = Struct(
    "apdu_tag" / Const(GENERAL_GLO_CIPHERING, Int8ub),
    "title_length" / Const(8, Int8ub),
    "system_title" / Bytes(8),
    "length" / Rebuild(AxdrLength(), lambda ctx: _HEADER_LEN + len(ctx.ciphertext) + TAG_LEN),
    "security_control" / Const(SECURITY_CONTROL, Int8ub),
    "invocation_counter" / Int32ub,
    "ciphertext" / Bytes(this.length - _HEADER_LEN - TAG_LEN),
    "tag" / Bytes(TAG_LEN),
    Terminated,
)


@dataclasses.dataclass(frozen=True)
class Notification:
    """One pushed event; times in seconds since 1970 UTC."""

    serial: str
    system_title: bytes | None       # None: sent plain
    invocation_counter: int | None   # None: sent plain
    invoke_id: int                   # the event's sequence number in the meter's log
    priority: bool
    sent_at: int | None              # None: the meter did not say
    code: int                        # protocol/events.py
    occurred_at: int
    payload_a: int
    payload_b: int
    credit_wh: int
    relay_closed: bool


def frame_header(data: bytes, max_apdu: int):
    """The wrapper header's fields (version, source, destination, length); FramingError for a version or a length
    after which the stream cannot be trusted."""
    header = WrapperHeader.parse(data)
    if header.version != WRAPPER_VERSION:
        raise FramingError("wrapper version %d, not %d: not a DLMS wrapper frame" % (header.version,
                                                                                      WRAPPER_VERSION))
    if header.length > max_apdu:
        raise FramingError("wrapper length %d over the %d bytes a notification may take" % (header.length, max_apdu))
    return header


def check_ports(header) -> None:
    if (header.source, header.destination) != (SOURCE_WPORT, DESTINATION_WPORT):
        raise NotificationError("wrapper ports %d -> %d, not %d -> %d" % (header.source, header.destination,
                                                                          SOURCE_WPORT, DESTINATION_WPORT))


def system_title(apdu: bytes) -> bytes | None:
    """The sender's system title of a ciphered notification, None for a plain one (decode says if it is one)."""
    if apdu[:1] != bytes((GENERAL_GLO_CIPHERING,)):
        return None
    return _parse(GeneralGloCiphering, apdu, "general-glo-ciphering").system_title


def decode(apdu: bytes, ek: bytes | None = None, ak: bytes | None = None) -> Notification:
    """A plain or ciphered DataNotification; a ciphered one needs its meter's EK and AK. NotificationError says
    what is wrong: a field, a tag that does not verify, a time that is no time."""
    if not apdu:
        raise NotificationError("empty APDU")
    if apdu[0] not in (DATA_NOTIFICATION, GENERAL_GLO_CIPHERING):
        raise NotificationError("APDU tag 0x%02X: neither data-notification (0x0F) nor general-glo-ciphering "
                                "(0xDB)" % apdu[0])
    title = counter = None
    if apdu[0] == GENERAL_GLO_CIPHERING:
        if ek is None or ak is None:
            raise NotificationError("a ciphered notification, and no keys to open it")
        envelope = _parse(GeneralGloCiphering, apdu, "general-glo-ciphering")
        title, counter = envelope.system_title, envelope.invocation_counter
        apdu = _decipher(envelope, ek, ak)
    plain = _parse(DataNotification, apdu, "data-notification")
    body = plain.body
    return Notification(
        serial=body.serial, system_title=title, invocation_counter=counter, invoke_id=plain.invoke.invoke_id,
        priority=plain.invoke.priority, sent_at=None if plain.sent is None else _utc(plain.sent, "date-time"),
        code=body.code, occurred_at=_utc(body.event_time, "event time"), payload_a=body.payload_a,
        payload_b=body.payload_b, credit_wh=body.credit_wh, relay_closed=body.relay_closed)


def _decipher(envelope, ek: bytes, ak: bytes) -> bytes:
    iv = envelope.system_title + envelope.invocation_counter.to_bytes(4, "big")
    decryptor = Cipher(algorithms.AES(ek), modes.GCM(iv, envelope.tag, min_tag_length=TAG_LEN)).decryptor()
    decryptor.authenticate_additional_data(bytes((SECURITY_CONTROL,)) + ak)
    try:
        return decryptor.update(envelope.ciphertext) + decryptor.finalize()
    except InvalidTag:
        raise NotificationError("GCM tag does not verify (invocation counter %d): altered on the way, or not this "
                                "meter's keys" % envelope.invocation_counter) from None


def _parse(layout, data: bytes, what: str):
    try:
        return layout.parse(data)
    except ConstructError as exc:
        path = (getattr(exc, "path", None) or "").replace("(parsing)", "").strip(" ->").replace(" -> ", ".")
        message = str(exc).splitlines()[-1].replace("parsing ", "", 1)
        raise NotificationError("%s%s: %s" % (what, " " + path if path else "", message)) from None


def _utc(moment, what: str) -> int:
    """Seconds since 1970 of a COSEM date-time: UTC when its deviation is not specified, else local time and
    the deviation read as protocol/axdr.py reads it (UTC = local + deviation)."""
    deviation = 0 if moment.deviation == -0x8000 else moment.deviation
    if not -720 <= deviation <= 720:
        raise NotificationError("%s: deviation %d minutes, beyond 12 hours" % (what, deviation))
    try:
        local = datetime.datetime(moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second,
                                  tzinfo=datetime.timezone.utc)
    except ValueError:
        raise NotificationError("%s: %d-%d-%d %d:%d:%d is not a definite date and time" % (
            what, moment.year, moment.month, moment.day, moment.hour, moment.minute, moment.second)) from None
    return int(local.timestamp()) + deviation * 60
