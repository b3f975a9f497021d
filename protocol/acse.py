"""ACSE for DLMS/COSEM: AARQ/AARE and RLRQ/RLRE (BER) and the xDLMS initiate PDUs.

Both sides live here so the meter's server and the host's client build and parse the
same bytes. Only what LN referencing uses: the application context, the mechanism
name, the calling/responding titles and authentication values, and user-information
holding the (possibly ciphered) InitiateRequest/InitiateResponse.
"""

AARQ = 0x60
AARE = 0x61
RLRQ = 0x62
RLRE = 0x63

# application context names and mechanism names: 60 85 74 05 08 (joint-iso-ccitt 2.16.756.5.8) + two bytes
_OID_PREFIX = b"\x60\x85\x74\x05\x08"
CONTEXT_LN = 1
CONTEXT_LN_CIPHERED = 3
MECHANISM_NONE = -1
MECHANISM_LLS = 1
MECHANISM_HLS_GMAC = 5

# AARE result and acse-service-user diagnostics
ACCEPTED = 0
REJECTED_PERMANENT = 1
DIAG_NONE = 0
DIAG_NO_REASON = 1
DIAG_CONTEXT_NOT_SUPPORTED = 2
DIAG_MECHANISM_NOT_RECOGNISED = 11
DIAG_MECHANISM_REQUIRED = 12
DIAG_AUTHENTICATION_FAILURE = 13
DIAG_AUTHENTICATION_REQUIRED = 14

INITIATE_REQUEST = 0x01
INITIATE_RESPONSE = 0x08
CONFIRMED_SERVICE_ERROR = 0x0E
DLMS_VERSION = 6
VAA_NAME_LN = 0x0007

# conformance block bits: bit n of the standard's BIT STRING is 0x800000 >> n
GENERAL_PROTECTION = 0x400000      # bit 1
BLOCK_TRANSFER_GET = 0x001000      # bit 11
MULTIPLE_REFERENCES = 0x000200     # bit 14
GET = 0x000010                     # bit 19
SET = 0x000008                     # bit 20
SELECTIVE_ACCESS = 0x000004        # bit 21
ACTION = 0x000001                  # bit 23


class AcseError(ValueError):
    pass


LLS_MIN = 8   # characters of the meter's LLS secrets (IEC 62056-5-3 allows shorter: 8 is our floor)
LLS_MAX = 32


def check_lls_secret(secret) -> None:
    """Rule for a new LLS secret (the meter, its keypad, the head-end): 8-32 printable ASCII
    characters, no spaces. Raises ValueError naming it."""
    if not LLS_MIN <= len(secret) <= LLS_MAX or any(c < 0x21 or c > 0x7E for c in bytes(secret)):
        raise ValueError("lls_password: %d-%d printable ASCII characters, no spaces" % (LLS_MIN, LLS_MAX))


def _tlv(tag: int, body) -> bytes:
    out = bytearray((tag,))
    _ber_length(out, len(body))
    return bytes(out) + bytes(body)


def _ber_length(out: bytearray, n: int) -> None:
    if n < 0x80:
        out.append(n)
    elif n < 0x100:
        out.extend((0x81, n))
    else:
        out.extend((0x82, n >> 8, n & 0xFF))


def _items(data, pos: int, end: int):
    """(tag, start, stop) of each BER element in data[pos:end]."""
    while pos < end:
        tag = data[pos]
        if pos + 1 >= end:
            raise AcseError("truncated element")
        n = data[pos + 1]
        pos += 2
        if n & 0x80:
            size = n & 0x7F
            if size == 0 or size > 2 or pos + size > end:
                raise AcseError("bad length")
            n = 0
            for i in range(size):
                n = (n << 8) | data[pos + i]
            pos += size
        if pos + n > end:
            raise AcseError("element longer than its APDU")
        yield tag, pos, pos + n
        pos += n


def _outer(data, tag: int):
    if len(data) < 2 or data[0] != tag:
        raise AcseError("not the expected APDU")
    for _, start, stop in _items(data, 0, len(data)):
        return start, stop
    raise AcseError("empty APDU")


def _oid_tail(data, start: int, stop: int) -> int:
    """The last byte of a DLMS UA OID, from `A1 len 06 07 60 85 74 05 08 xx yy`."""
    if stop - start != 9 or data[start] != 0x06 or data[start + 2:start + 7] != _OID_PREFIX:
        raise AcseError("unknown object identifier")
    return data[start + 8]


def _context(context: int) -> bytes:
    return _tlv(0xA1, _tlv(0x06, _OID_PREFIX + bytes((1, context))))


# --- xDLMS initiate ---------------------------------------------------------------------

def initiate_request(conformance: int, max_pdu: int) -> bytes:
    return bytes((INITIATE_REQUEST, 0, 0, 0, DLMS_VERSION, 0x5F, 0x1F, 4, 0, conformance >> 16,
                  (conformance >> 8) & 0xFF, conformance & 0xFF, max_pdu >> 8, max_pdu & 0xFF))


def parse_initiate_request(data) -> tuple:
    """(dlms version, proposed conformance, client max receive PDU size)."""
    if len(data) < 2 or data[0] != INITIATE_REQUEST:
        raise AcseError("not an InitiateRequest")
    pos = 1
    if data[pos]:  # dedicated key present: not supported, skip it
        n = data[pos + 1]
        pos += 2 + n
    else:
        pos += 1
    pos += 2 if data[pos] else 1  # response-allowed
    pos += 2 if data[pos] else 1  # proposed quality of service
    if pos + 10 > len(data) or data[pos + 1:pos + 4] != b"\x5F\x1F\x04":
        raise AcseError("bad InitiateRequest")
    version = data[pos]
    conformance = (data[pos + 5] << 16) | (data[pos + 6] << 8) | data[pos + 7]
    max_pdu = (data[pos + 8] << 8) | data[pos + 9]
    return version, conformance, max_pdu


def initiate_response(conformance: int, max_pdu: int) -> bytes:
    return bytes((INITIATE_RESPONSE, 0, DLMS_VERSION, 0x5F, 0x1F, 4, 0, conformance >> 16, (conformance >> 8) & 0xFF,
                  conformance & 0xFF, max_pdu >> 8, max_pdu & 0xFF, VAA_NAME_LN >> 8, VAA_NAME_LN & 0xFF))


def parse_initiate_response(data) -> tuple:
    """(negotiated conformance, server max receive PDU size)."""
    if len(data) < 14 or data[0] != INITIATE_RESPONSE:
        raise AcseError("not an InitiateResponse")
    pos = 2 if data[1] == 0 else 3
    if data[pos + 1:pos + 4] != b"\x5F\x1F\x04":
        raise AcseError("bad InitiateResponse")
    return (data[pos + 5] << 16) | (data[pos + 6] << 8) | data[pos + 7], (data[pos + 8] << 8) | data[pos + 9]


def initiate_error(error: int) -> bytes:
    """confirmed-service-error: initiateError, service-error initiate (1 dlms-version-too-low, 2 incompatible-conformance,
    3 pdu-size-too-short)."""
    return bytes((CONFIRMED_SERVICE_ERROR, 1, 6, error))


# --- AARQ / AARE --------------------------------------------------------------------------

class Aarq:
    """The fields of an AARQ the server decides on."""

    def __init__(self):
        self.context = 0
        self.mechanism = MECHANISM_NONE
        self.calling_title = b""
        self.authentication = b""
        self.user_information = b""


def parse_aarq(data) -> Aarq:
    start, stop = _outer(data, AARQ)
    aarq = Aarq()
    for tag, s, e in _items(data, start, stop):
        if tag == 0xA1:
            aarq.context = _oid_tail(data, s, e)
        elif tag == 0xA6:  # calling-AP-title: octet string
            for _, s2, e2 in _items(data, s, e):
                aarq.calling_title = bytes(data[s2:e2])
        elif tag == 0x8B:  # mechanism-name, implicit OID
            if e - s != 7 or data[s:s + 5] != _OID_PREFIX:
                raise AcseError("unknown mechanism")
            aarq.mechanism = data[s + 6]
        elif tag == 0xAC:  # calling-authentication-value: [0] GraphicString / charstring
            for _, s2, e2 in _items(data, s, e):
                aarq.authentication = bytes(data[s2:e2])
        elif tag == 0xBE:  # user-information: OCTET STRING holding the xDLMS APDU
            for _, s2, e2 in _items(data, s, e):
                aarq.user_information = bytes(data[s2:e2])
    if not aarq.context:
        raise AcseError("AARQ without application context")
    return aarq


def aarq(context: int, mechanism: int, user_information: bytes, secret: bytes = b"", calling_title: bytes = b"") -> bytes:
    body = bytearray(_context(context))
    if calling_title:
        body += _tlv(0xA6, _tlv(0x04, calling_title))
    if mechanism != MECHANISM_NONE:
        body += b"\x8A\x02\x07\x80"  # sender-acse-requirements: authentication
        body += _tlv(0x8B, _OID_PREFIX + bytes((2, mechanism)))
        body += _tlv(0xAC, _tlv(0x80, secret))
    body += _tlv(0xBE, _tlv(0x04, user_information))
    return _tlv(AARQ, body)


def aare(context: int, result: int, diagnostic: int, user_information: bytes, mechanism: int = MECHANISM_NONE,
         responding_title: bytes = b"", challenge: bytes = b"") -> bytes:
    body = bytearray(_context(context))
    body += bytes((0xA2, 3, 2, 1, result, 0xA3, 5, 0xA1, 3, 2, 1, diagnostic))
    if responding_title:
        body += _tlv(0xA4, _tlv(0x04, responding_title))
    if mechanism != MECHANISM_NONE and challenge:
        body += b"\x88\x02\x07\x80"  # responder-acse-requirements: authentication
        body += _tlv(0x89, _OID_PREFIX + bytes((2, mechanism)))
        body += _tlv(0xAA, _tlv(0x80, challenge))
    if user_information:
        body += _tlv(0xBE, _tlv(0x04, user_information))
    return _tlv(AARE, body)


def parse_aare(data) -> dict:
    """context, result, diagnostic, responding title, challenge, user information of an AARE."""
    start, stop = _outer(data, AARE)
    out = {"context": 0, "result": -1, "diagnostic": -1, "title": b"", "challenge": b"", "user_information": b""}
    for tag, s, e in _items(data, start, stop):
        if tag == 0xA1:
            out["context"] = _oid_tail(data, s, e)
        elif tag == 0xA2:
            out["result"] = data[e - 1]
        elif tag == 0xA3:
            out["diagnostic"] = data[e - 1]
        elif tag in (0xA4, 0xAA, 0xBE):
            for _, s2, e2 in _items(data, s, e):
                out[{0xA4: "title", 0xAA: "challenge", 0xBE: "user_information"}[tag]] = bytes(data[s2:e2])
    return out


def rlre(user_information: bytes = b"") -> bytes:
    body = b"\x80\x01\x00"  # reason: normal
    if user_information:
        body += _tlv(0xBE, _tlv(0x04, user_information))
    return _tlv(RLRE, body)


def rlrq() -> bytes:
    return _tlv(RLRQ, b"\x80\x01\x00")


def parse_rlrq_user_information(data) -> bytes:
    start, stop = _outer(data, RLRQ)
    for tag, s, e in _items(data, start, stop):
        if tag == 0xBE:
            for _, s2, e2 in _items(data, s, e):
                return bytes(data[s2:e2])
    return b""

