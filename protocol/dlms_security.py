"""DLMS/COSEM security suite 0 (AES-GCM-128): ciphered APDUs and HLS-GMAC, sans-IO.

What the Green Book (DLMS UA 1000-2, IEC 62056-5-3) fixes and this module follows:
- the security control byte SC: bit 4 authentication, bit 5 encryption, bit 6 broadcast
  key (the caller picks the key), bit 7 compression (refused), low nibble the suite (0);
- IV = system title of the sender (8 bytes) || invocation counter (4 bytes, big-endian);
- AAD = SC || AK for authenticated encryption, SC || AK || APDU for authentication only
  (the APDU travels in clear), none for encryption only (which has no tag);
- the tag is 12 bytes; the protected content is SC || IC || payload || tag;
- it travels in a service-specific glo-* APDU (tag, length, content) or in
  general-glo-ciphering (0xDB, system title, length, content); a server must take both.
- HLS mechanism 5: f(challenge) = SC(0x10) || IC || GMAC(SC || AK || challenge), keyed
  with EK and the IV of the party that answers.

Check an invocation counter with `ReplayGuard` only after the APDU authenticated, or a
forged message could move the counter on.
"""

from . import gcm
from .axdr import AxdrError, get_length, put_length
from .gcm import AuthenticationError

SC_AUTH = 0x10
SC_ENC = 0x20
SC_AUTH_ENC = 0x30
_SC_BROADCAST = 0x40
_SC_COMPRESSED = 0x80
TAG_LEN = 12
_HEADER_LEN = 5  # SC and the invocation counter

# Plain xDLMS APDU tag -> its service-specific global-ciphering tag.
GLO_TAG = {
    0x01: 0x21,  # initiate-request
    0x08: 0x28,  # initiate-response
    0x0E: 0x2E,  # confirmed-service-error
    0xC0: 0xC8,  # get-request
    0xC1: 0xC9,  # set-request
    0xC2: 0xCA,  # event-notification-request
    0xC3: 0xCB,  # action-request
    0xC4: 0xCC,  # get-response
    0xC5: 0xCD,  # set-response
    0xC7: 0xCF,  # action-response
}
PLAIN_TAG = {glo: plain for plain, glo in GLO_TAG.items()}  # glo tag -> plain tag

GENERAL_GLO_CIPHERING = 0xDB
FORM_GLO = "glo"
FORM_GENERAL_GLO = "general-glo"


class Keys:
    """Security suite 0 keys, the master key that wraps new ones, and the meter's system title (none on a
    client, which learns it from the meter's AARE): what the meter and its clients both hold."""

    def __init__(self, ek: bytes, ak: bytes, system_title: bytes, kek: bytes = b""):
        if len(ek) != 16 or len(ak) != 16 or len(system_title) not in (0, 8) or len(kek) not in (0, 16):
            raise ValueError("keys: EK, AK (and a KEK) must be 16 bytes, the system title 8 (none on a client)")
        self.ek = ek
        self.ak = ak
        self.kek = kek
        self.system_title = system_title

    @classmethod
    def parse(cls, text: str, system_title: bytes) -> "Keys":
        """Keys from a key file's text: `ek = HEX`, `ak = HEX` and optionally `kek = HEX` lines, '#' comments."""
        values = {}
        for number, line in enumerate(text.split("\n"), 1):
            line = line.split("#")[0].strip()
            if not line:
                continue
            name, _, value = line.partition("=")
            try:
                values[name.strip()] = bytes.fromhex(value.strip())
            except ValueError:
                raise ValueError("keys line %d: %s must be hexadecimal" % (number, name.strip())) from None
        for name in ("ek", "ak"):
            if len(values.get(name, b"")) != 16:
                raise ValueError("keys: %s must be 16 bytes (32 hex digits)" % name)
        if len(values.get("kek", bytes(16))) != 16:
            raise ValueError("keys: kek must be 16 bytes (32 hex digits)")
        return cls(values["ek"], values["ak"], system_title, values.get("kek", b""))


class ReplayError(Exception):
    """An invocation counter not above the last one accepted from that system title."""


def _check_sc(sc: int) -> None:
    if not 0 <= sc <= 0xFF:
        raise ValueError("security control byte out of range: %r" % sc)
    if sc & 0x0F:
        raise ValueError("security suite %d not supported (suite 0, AES-GCM-128, only)" % (sc & 0x0F))
    if sc & _SC_COMPRESSED:
        raise ValueError("SC 0x%02X asks for compression, which is not supported" % sc)
    if not sc & SC_AUTH_ENC:
        raise ValueError("SC 0x%02X applies neither authentication nor encryption" % sc)


def _iv(system_title, invocation_counter: int) -> bytes:
    if len(system_title) != 8:
        raise ValueError("system title must be 8 bytes, got %d" % len(system_title))
    if not 0 <= invocation_counter <= 0xFFFFFFFF:
        raise ValueError("invocation counter must fit in 4 bytes: %r" % invocation_counter)
    return bytes(system_title) + invocation_counter.to_bytes(4, "big")


def _check_ak(ak) -> None:
    if len(ak) != 16:
        raise ValueError("authentication key must be 16 bytes, got %d" % len(ak))


def protect(apdu, sc: int, system_title, invocation_counter: int, ek, ak) -> bytes:
    """SC || IC || payload || tag for a plain xDLMS APDU (no tag for encryption only)."""
    _check_sc(sc)
    iv = _iv(system_title, invocation_counter)
    head = bytes((sc,)) + iv[8:]
    if sc & SC_AUTH:
        _check_ak(ak)
    if sc & SC_AUTH_ENC == SC_AUTH:
        return head + bytes(apdu) + gcm.gmac(ek, iv, head[:1] + bytes(ak) + bytes(apdu), TAG_LEN)
    if sc & SC_AUTH_ENC == SC_ENC:
        return head + gcm.ctr(ek, iv, apdu)
    ciphertext, tag = gcm.encrypt(ek, iv, apdu, head[:1] + bytes(ak), TAG_LEN)
    return head + ciphertext + tag


def unprotect(data, system_title, ek, ak):
    """(sc, invocation_counter, apdu) from SC || IC || payload || tag.

    Raises ValueError for a malformed or unsupported header, AuthenticationError when
    the tag does not verify. `system_title` is the sender's.
    """
    if len(data) < _HEADER_LEN:
        raise ValueError("ciphered content too short: %d bytes, need SC and a 4-byte invocation counter"
                         % len(data))
    sc = data[0]
    _check_sc(sc)
    ic = int.from_bytes(bytes(data[1:_HEADER_LEN]), "big")
    iv = _iv(system_title, ic)
    body = bytes(data[_HEADER_LEN:])
    if sc & SC_AUTH_ENC == SC_ENC:
        return sc, ic, gcm.ctr(ek, iv, body)
    _check_ak(ak)
    if len(body) < TAG_LEN:
        raise ValueError("authenticated content too short for its %d-byte tag: %d bytes"
                         % (TAG_LEN, len(body)))
    payload = body[:-TAG_LEN]
    tag = body[-TAG_LEN:]
    aad = bytes((sc,)) + bytes(ak)
    try:
        if sc & SC_ENC:
            return sc, ic, gcm.decrypt(ek, iv, payload, aad, tag)
        gcm.decrypt(ek, iv, b"", aad + payload, tag)
    except AuthenticationError:
        raise AuthenticationError("DLMS tag mismatch (SC 0x%02X, IC %d): wrong EK/AK or system title, "
                                  "or an altered APDU" % (sc, ic)) from None
    return sc, ic, payload


def glo_wrap(tag: int, protected) -> bytes:
    """Service-specific global ciphering: glo tag, A-XDR length, ciphered content."""
    if tag not in PLAIN_TAG:
        raise ValueError("0x%02X is not a glo-* APDU tag (map a plain tag with GLO_TAG)" % tag)
    out = bytearray((tag,))
    put_length(out, len(protected))
    out.extend(protected)
    return bytes(out)


def general_glo_wrap(system_title, protected) -> bytes:
    """general-glo-ciphering: 0xDB, system title as a length-prefixed octet string, length, content."""
    out = bytearray((GENERAL_GLO_CIPHERING,))
    put_length(out, len(system_title))
    out.extend(system_title)
    put_length(out, len(protected))
    out.extend(protected)
    return bytes(out)


def unwrap(apdu):
    """(form, glo tag or None, system title or None, ciphered content) of a ciphered APDU.

    form is FORM_GLO or FORM_GENERAL_GLO. Trailing bytes are refused. The system title
    of general-glo-ciphering is returned as sent (some clients send it empty).
    """
    if not apdu:
        raise ValueError("empty APDU")
    tag = apdu[0]
    if tag == GENERAL_GLO_CIPHERING:
        title_len, pos = _length(apdu, 1)
        if pos + title_len > len(apdu):
            raise ValueError("general-glo-ciphering ends inside its system title")
        title = bytes(apdu[pos:pos + title_len])
        form, glo, pos = FORM_GENERAL_GLO, None, pos + title_len
    elif tag in PLAIN_TAG:
        form, glo, title, pos = FORM_GLO, tag, None, 1
    else:
        raise ValueError("0x%02X is not a ciphered APDU tag" % tag)
    n, pos = _length(apdu, pos)
    if pos + n != len(apdu):
        raise ValueError("ciphered content length %d does not match the %d bytes present"
                         % (n, len(apdu) - pos))
    return form, glo, title, bytes(apdu[pos:])


def hls_gmac(challenge, system_title, invocation_counter: int, ek, ak) -> bytes:
    """HLS mechanism 5 reply to `challenge`: SC(0x10) || IC || GMAC(SC || AK || challenge).

    `system_title` and `invocation_counter` are those of the party that replies.
    """
    _check_ak(ak)
    iv = _iv(system_title, invocation_counter)
    head = bytes((SC_AUTH,)) + iv[8:]
    return head + gcm.gmac(ek, iv, head[:1] + bytes(ak) + bytes(challenge), TAG_LEN)


def hls_verify(reply, challenge, system_title, ek, ak) -> int:
    """Check the peer's HLS mechanism 5 reply to our `challenge`; return its invocation counter.

    `system_title` is the peer's. Raises ValueError when malformed, AuthenticationError
    when the GMAC does not verify.
    """
    if len(reply) != _HEADER_LEN + TAG_LEN:
        raise ValueError("HLS-GMAC reply must be %d bytes (SC, IC, tag), got %d"
                         % (_HEADER_LEN + TAG_LEN, len(reply)))
    if reply[0] != SC_AUTH:
        raise ValueError("HLS-GMAC reply has SC 0x%02X, expected 0x10" % reply[0])
    _check_ak(ak)
    ic = int.from_bytes(bytes(reply[1:_HEADER_LEN]), "big")
    iv = _iv(system_title, ic)
    try:
        gcm.decrypt(ek, iv, b"", bytes((SC_AUTH,)) + bytes(ak) + bytes(challenge), bytes(reply[_HEADER_LEN:]))
    except AuthenticationError:
        raise AuthenticationError("HLS-GMAC reply does not verify (IC %d): wrong EK/AK, system title "
                                  "or challenge" % ic) from None
    return ic


class ReplayGuard:
    """The last invocation counter accepted per sender system title; refuses any not above it."""

    def __init__(self):
        self._last: dict = {}  # system title -> last accepted invocation counter

    def last(self, system_title) -> int:
        """The last accepted counter, or -1 when none was."""
        return self._last.get(bytes(system_title), -1)

    def check(self, system_title, invocation_counter: int) -> None:
        last = self.last(system_title)
        if invocation_counter <= last:
            raise ReplayError("invocation counter %d from %s not above the last accepted %d"
                              % (invocation_counter, _hex(system_title), last))

    def accept(self, system_title, invocation_counter: int) -> None:
        """Check, then remember; call after the APDU authenticated."""
        self.check(system_title, invocation_counter)
        self._last[bytes(system_title)] = invocation_counter

    def forget(self, system_title) -> None:
        """Start afresh for this sender, as after a key change."""
        self._last.pop(bytes(system_title), None)


def _hex(data) -> str:
    return "".join("%02X" % b for b in data)


def _length(data, pos: int):
    """An A-XDR length, with a message that says where the APDU ended."""
    try:
        return get_length(data, pos)
    except AxdrError:
        raise ValueError("APDU ends inside or before a length field (offset %d)" % pos) from None
