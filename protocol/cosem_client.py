"""The client side of a DLMS/COSEM LN association, on the same codecs as the meter's server.

Sans-IO: every operation is a generator of steps that yields a request APDU and is sent
the reply APDU; `run(steps, exchange)` drives it with a blocking exchange (a socket, an
HDLC link, a server object in-process), `await arun(steps, exchange)` with an async one
(the harvester's thousands of meters). The methods without `_steps` are the blocking
forms over the exchange given to the constructor. Security: none, LLS, or HLS-GMAC with
security suite 0 (every APDU ciphered with service-specific glo-*).
"""

import os

from . import acse, axdr, dlms_security
from . import registers as M

_CONFORMANCE = (acse.GET | acse.SET | acse.ACTION | acse.SELECTIVE_ACCESS | acse.BLOCK_TRANSFER_GET
                | acse.MULTIPLE_REFERENCES)
_INVOKE = 0xC1  # invoke id 1, confirmed, high priority


class CosemError(Exception):
    """The meter refused: `code` is the AARE diagnostic, data-access-result or action-result."""

    def __init__(self, message: str, code: int = -1):
        super().__init__(message)
        self.code = code


def descriptor(class_id: int, obis: str, attribute: int) -> bytes:
    return bytes((class_id >> 8, class_id & 0xFF)) + M.obis_bytes(obis) + bytes((attribute,))


def range_selection(from_raw: bytes, to_raw: bytes) -> bytes:
    """Selector 1 on the clock column, every column, between two date-time octet strings."""
    out = bytearray((1, axdr.STRUCTURE, 4, axdr.STRUCTURE, 4))
    axdr.put(out, axdr.LONG_UNSIGNED, M.CLOCK)
    axdr.put(out, axdr.OCTET_STRING, M.obis_bytes(M.CLOCK_OBIS))
    axdr.put(out, axdr.INTEGER, 2)
    axdr.put(out, axdr.LONG_UNSIGNED, 0)
    axdr.put(out, axdr.OCTET_STRING, from_raw)
    axdr.put(out, axdr.OCTET_STRING, to_raw)
    axdr.put_header(out, axdr.ARRAY, 0)
    return bytes(out)


def entry_selection(first: int, last: int = 0) -> bytes:
    """Selector 2: entries first..last (1-based, 0: the newest), every column."""
    out = bytearray((2, axdr.STRUCTURE, 4))
    axdr.put(out, axdr.DOUBLE_LONG_UNSIGNED, first)
    axdr.put(out, axdr.DOUBLE_LONG_UNSIGNED, last)
    axdr.put(out, axdr.LONG_UNSIGNED, 1)
    axdr.put(out, axdr.LONG_UNSIGNED, 0)
    return bytes(out)


def run(steps, exchange):
    """Drive an operation's steps with a blocking exchange(apdu) -> reply; its result."""
    try:
        request = next(steps)
        while True:
            request = steps.send(exchange(request))
    except StopIteration as stop:
        return stop.value


async def arun(steps, exchange):
    """Drive an operation's steps with an async exchange(apdu) -> reply; its result."""
    try:
        request = next(steps)
        while True:
            request = steps.send(await exchange(request))
    except StopIteration as stop:
        return stop.value


class CosemClient:
    def __init__(self, exchange=None, client_sap: int = 16, password: bytes = b"", keys=None,
                 system_title: bytes = b"", invocation_counter: int = 0, max_pdu: int = 1024,
                 challenge: bytes = b""):
        self.exchange = exchange              # for the blocking forms; None when driven with arun()
        self.client_sap = client_sap
        self.password = password
        self.keys = keys                      # protocol.dlms_security.Keys of the meter (EK, AK), or None
        self.system_title = system_title      # ours, for HLS
        self.invocation_counter = invocation_counter
        self.max_pdu = max_pdu
        self.challenge = challenge            # HLS CtoS; empty: 16 random bytes drawn for each association
        self.meter_title = b""

    # --- blocking forms ---------------------------------------------------------------

    def associate(self) -> None:
        run(self.associate_steps(), self.exchange)

    def release(self) -> None:
        run(self.release_steps(), self.exchange)

    def get(self, class_id: int, obis: str, attribute: int, selection: bytes = b""):
        return run(self.get_steps(class_id, obis, attribute, selection), self.exchange)

    def set(self, class_id: int, obis: str, attribute: int, data: bytes) -> None:
        run(self.set_steps(class_id, obis, attribute, data), self.exchange)

    def action(self, class_id: int, obis: str, method: int, data: bytes = b""):
        return run(self.action_steps(class_id, obis, method, data), self.exchange)

    def enter_token(self, digits: str) -> None:
        run(self.enter_token_steps(digits), self.exchange)

    # --- association ------------------------------------------------------------------

    def associate_steps(self):
        initiate = acse.initiate_request(_CONFORMANCE, self.max_pdu)
        challenge = self.challenge or os.urandom(16)
        if self.keys is not None:
            self.invocation_counter += 1
            protected = dlms_security.protect(initiate, dlms_security.SC_AUTH_ENC, self.system_title,
                                              self.invocation_counter, self.keys.ek, self.keys.ak)
            request = acse.aarq(acse.CONTEXT_LN_CIPHERED, acse.MECHANISM_HLS_GMAC,
                                dlms_security.glo_wrap(0x21, protected), challenge, self.system_title)
        elif self.password:
            request = acse.aarq(acse.CONTEXT_LN, acse.MECHANISM_LLS, initiate, self.password)
        else:
            request = acse.aarq(acse.CONTEXT_LN, acse.MECHANISM_NONE, initiate)
        aare = acse.parse_aare((yield request))
        if aare["result"] != acse.ACCEPTED:
            raise CosemError("association refused: diagnostic %d" % aare["diagnostic"], aare["diagnostic"])
        if self.keys is not None:
            self._check_ciphered_aare(aare)
            self.invocation_counter += 1
            reply = dlms_security.hls_gmac(aare["challenge"], self.system_title, self.invocation_counter,
                                           self.keys.ek, self.keys.ak)
            data = bytearray()
            axdr.put(data, axdr.OCTET_STRING, reply)
            answer = yield from self.action_steps(M.ASSOCIATION_LN, "0.0.40.0.0.255", 1, bytes(data))
            if not isinstance(answer, bytes):
                raise CosemError("HLS: the meter gave no reply to check")
            dlms_security.hls_verify(answer, challenge, self.meter_title, self.keys.ek, self.keys.ak)

    def _check_ciphered_aare(self, aare: dict) -> None:
        """An HLS association is the meter's only in the ciphered context, with its InitiateResponse
        ciphered under our keys: anything else is a downgrade or another device."""
        if aare["context"] != acse.CONTEXT_LN_CIPHERED or len(aare["title"]) != 8 or not aare["challenge"]:
            raise CosemError("HLS: the meter answered outside the ciphered context")
        self.meter_title = aare["title"]
        inner = aare["user_information"]
        try:
            if not inner or inner[0] != dlms_security.GLO_TAG[acse.INITIATE_RESPONSE]:
                raise ValueError("not a glo-initiate-response")
            plain = dlms_security.unprotect(dlms_security.unwrap(inner)[3], self.meter_title, self.keys.ek,
                                            self.keys.ak)[2]
            acse.parse_initiate_response(plain)
        except Exception as exc:  # noqa: BLE001 - ValueError, AuthenticationError: the reason is in the text
            raise CosemError("HLS: the meter's InitiateResponse does not decipher: %s" % exc) from None

    def release_steps(self):
        reply = yield acse.rlrq()
        if not reply or reply[0] != acse.RLRE:
            raise CosemError("release refused")

    # --- services ------------------------------------------------------------------------

    def _request_steps(self, apdu: bytes):
        if self.keys is None:
            return (yield apdu)
        self.invocation_counter += 1
        protected = dlms_security.protect(apdu, dlms_security.SC_AUTH_ENC, self.system_title,
                                          self.invocation_counter, self.keys.ek, self.keys.ak)
        reply = yield dlms_security.glo_wrap(dlms_security.GLO_TAG[apdu[0]], protected)
        if reply and reply[0] == 0xD8:
            return reply
        content = dlms_security.unwrap(reply)[3]
        return dlms_security.unprotect(content, self.meter_title, self.keys.ek, self.keys.ak)[2]

    def get_raw_steps(self, class_id: int, obis: str, attribute: int, selection: bytes = b""):
        """The encoded Data of one attribute, blocks reassembled."""
        reply = yield from self._request_steps(b"\xC0\x01" + bytes((_INVOKE,)) + descriptor(class_id, obis, attribute)
                                               + (selection and b"\x01" + selection or b"\x00"))
        data = bytearray()
        while True:
            if len(reply) < 5 or reply[0] != 0xC4:
                raise CosemError("unexpected reply %s" % bytes(reply[:8]).hex())
            if reply[1] == 1:
                if reply[3]:
                    raise CosemError("data-access-result %d" % reply[4], reply[4])
                return reply[4:]
            if reply[8] == 1:
                raise CosemError("data-access-result %d in block" % reply[9], reply[9])
            n, pos = axdr.get_length(reply, 9)
            data.extend(reply[pos:pos + n])
            if reply[3]:
                return bytes(data)
            reply = yield from self._request_steps(b"\xC0\x02" + bytes((_INVOKE,)) + reply[4:8])

    def get_steps(self, class_id: int, obis: str, attribute: int, selection: bytes = b""):
        raw = yield from self.get_raw_steps(class_id, obis, attribute, selection)
        _, value, end = axdr.get(raw, 0)
        if end != len(raw):
            raise CosemError("%d bytes trail the value" % (len(raw) - end))
        return value

    def set_steps(self, class_id: int, obis: str, attribute: int, data: bytes):
        reply = yield from self._request_steps(b"\xC1\x01" + bytes((_INVOKE,)) + descriptor(class_id, obis, attribute)
                                               + b"\x00" + data)
        if len(reply) < 4 or reply[0] != 0xC5 or reply[3]:
            raise CosemError("set refused", reply[3] if len(reply) > 3 else -1)

    def action_steps(self, class_id: int, obis: str, method: int, data: bytes = b""):
        """Invoke a method; returns its return value, or None."""
        reply = yield from self._request_steps(b"\xC3\x01" + bytes((_INVOKE,)) + descriptor(class_id, obis, method)
                                               + (b"\x01" + data if data else b"\x00"))
        if len(reply) < 5 or reply[0] != 0xC7:
            raise CosemError("unexpected reply %s" % bytes(reply[:8]).hex())
        if reply[3]:
            raise CosemError("action-result %d" % reply[3], reply[3])
        if reply[4] and len(reply) > 6 and reply[5] == 0:
            return axdr.get(reply, 6)[1]
        return None

    def enter_token_steps(self, digits: str):
        """Token gateway enter(token): the meter applies it as if typed on its keypad."""
        data = bytearray()
        axdr.put(data, axdr.OCTET_STRING, digits.encode())
        yield from self.action_steps(M.TOKEN_GATEWAY, "0.0.19.40.0.255", 1, bytes(data))
