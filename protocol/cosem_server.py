"""The meter's DLMS/COSEM server, sans-IO: one `Association.handle(client_sap, apdu) -> reply`.

LN referencing, one logical device. Three clients (IEC 62056-5-3 / notes/dlms.md 3.2):
    16  public: no security, reads only
    17  management: LLS password; reads, SET clock and field settings (push destination included), ACTION
        relay, token gateway and push (a test notification); SET and ACTION the firmware image transfer
     1  HLS-GMAC with security suite 0 (AES-GCM-128), in the ciphered context only; every
        APDU ciphered after the AARQ, in service-specific glo-* or general-glo form, answered
        in the form it came in; also changes the LLS secret (SET association attribute 7)
        and its own keys (security setup key_transfer, wrapped under the master key)
Wrong secrets (LLS, or an HLS exchange that fails) go to a `guard` that locks further
attempts for a growing time (the meter persists it across reboots); a locked server
refuses every association with a secret without looking at it.
Services: GET normal / next block / with list, selective access by range (the clock
column; an unspecified deviation means the meter's local time) and by entry, SET,
ACTION, RLRQ, exception-response for anything undecodable. A reply longer than the
client's PDU goes in blocks. The transport (HDLC, TCP wrapper) keeps one Association per
link and calls reset() when the link goes.
"""

from . import acse, axdr, consttime, dlms_security, keywrap
from . import cosem_objects as O
from . import registers as M
from .dlms_security import Keys
from .push import InvocationCounter, meter_keys, system_title  # noqa: F401 - the meter's, pushes included

GET_REQUEST = 0xC0
SET_REQUEST = 0xC1
ACTION_REQUEST = 0xC3
GET_RESPONSE = 0xC4
SET_RESPONSE = 0xC5
ACTION_RESPONSE = 0xC7
EXCEPTION_RESPONSE = 0xD8

PUBLIC_CLIENT = 16
MANAGEMENT_CLIENT = 17
HLS_CLIENT = 1

# exception-response: state-error, service-error
_NOT_ALLOWED = bytes((EXCEPTION_RESPONSE, 1, 1))         # service not allowed, operation not possible
_UNKNOWN = bytes((EXCEPTION_RESPONSE, 2, 2))             # service unknown, service not supported
_UNDECODABLE = bytes((EXCEPTION_RESPONSE, 2, 3))         # other reason
_DECIPHERING = bytes((EXCEPTION_RESPONSE, 1, 5))         # deciphering error

_PUBLIC_CONFORMANCE = acse.GET | acse.SELECTIVE_ACCESS | acse.BLOCK_TRANSFER_GET | acse.MULTIPLE_REFERENCES
_FULL_CONFORMANCE = _PUBLIC_CONFORMANCE | acse.SET | acse.ACTION
_CIPHER_OVERHEAD = 24  # glo tag, length, SC, IC and tag: room kept in a block for ciphering
_MIN_PDU = 64


class NoGuard:
    """No lock-out (protocol tests, a fake meter): every attempt is looked at."""

    def access_wait(self) -> int:
        return 0

    def access_result(self, ok: bool) -> None:
        pass


class PlainSecret:
    """An LLS secret held as it is (tests, the simulator's command line); empty: LLS off.
    The meter keeps a digest instead (firmware/lib/credentials.py), with the same verify()."""

    def __init__(self, secret):
        self.secret = bytes(secret)

    def verify(self, secret) -> bool:
        return bool(self.secret) and consttime.equal(bytes(secret), self.secret)


class CosemServer:
    """One meter's logical device: its objects, secrets and the state shared by connections.

    lls: the LLS secret's verifier (anything with verify(bytes)), or the secret as bytes.
    guard: what counts wrong secrets, with access_wait() -> seconds and access_result(ok);
    None: no lock-out (NoGuard). The model persists secret and key changes:
    change_lls_secret(secret) and change_hls_keys(ek, ak, kek) -> bool."""

    def __init__(self, model, lls=b"", keys: Keys | None = None, max_pdu: int = 1024,
                 challenge=None, setups: tuple = (), guard=None):
        self.model = model
        self.lls = PlainSecret(lls) if isinstance(lls, (bytes, bytearray)) else lls
        self.keys = keys
        self.guard = guard or NoGuard()
        self.max_pdu = max_pdu
        # Ours, for every ciphered reply, persisted by the model a block ahead (shared with the meter's pushes)
        self.counter = InvocationCounter(model)
        self.replay = dlms_security.ReplayGuard()     # the clients' counters
        self.objects = O.build_objects(setups)  # setups: the ports served (cosem_objects.hdlc_setup, ...)
        if challenge is None:
            import os

            challenge = lambda: os.urandom(16)  # noqa: E731
        self.challenge = challenge

    def describe_ports(self, setups: tuple) -> None:
        """The ports the device serves, once they are known, as setup objects (cosem_objects.hdlc_setup, ...)."""
        self.objects = O.build_objects(setups)

    @property
    def invocation_counter(self) -> int:
        return self.counter.value

    def next_counter(self) -> int:
        return self.counter.next()

    def association(self) -> "Association":
        return Association(self)


class Association:
    """The state of one link: at most one association at a time."""

    def __init__(self, server: CosemServer):
        self.server = server
        self.model = server.model
        self.errors = 0  # requests answered with an exception-response
        self.new_keys: Keys | None = None  # transferred in this association, in force after it
        self.reset()

    def reset(self) -> None:
        if self.new_keys is not None:  # keys transferred in the association now ending: they serve the next ones
            self.server.keys = self.new_keys
            self.new_keys = None
        self.client = 0                 # client SAP of the association, 0: none
        self.level = 0                  # 0 none, 1 public, 2 authenticated
        self.pending_hls = b""          # StoC while HLS pass 3/4 is outstanding
        self.ciphered = False
        self.client_title = b""
        self.conformance = 0
        self.client_pdu = 0
        self.rows: O.RowStream | None = None  # profile rows still to encode for the reply being built
        self._block_data = bytearray()  # a long reply being sent in blocks: encoded, not yet sent
        self._block_rows: O.RowStream | None = None  # and the rows still to encode after it
        self._block = 0

    def snapshot(self) -> dict:
        return self.model.snapshot()

    @property
    def invocation_counter(self) -> int:
        return self.server.invocation_counter

    # --- entry point ---------------------------------------------------------------

    def handle(self, client_sap: int, apdu) -> bytes:
        """A request APDU from the transport -> the reply APDU (b"": none)."""
        if not apdu:
            return b""
        try:
            return self._dispatch(client_sap, bytes(apdu))
        except (axdr.AxdrError, acse.AcseError, IndexError, ValueError, KeyError, TypeError):
            self.errors += 1
            return _UNDECODABLE

    def _dispatch(self, client_sap: int, apdu: bytes) -> bytes:
        tag = apdu[0]
        if tag == acse.AARQ:
            return self._associate(client_sap, apdu)
        if tag == acse.RLRQ:
            return self._release(apdu)
        if not self.client or client_sap != self.client:
            self.errors += 1
            return _NOT_ALLOWED
        if tag in dlms_security.PLAIN_TAG or tag == dlms_security.GENERAL_GLO_CIPHERING:
            return self._ciphered(apdu)
        if self.ciphered:  # a ciphered association takes ciphered APDUs only
            self.errors += 1
            return _NOT_ALLOWED
        return self._service(apdu)

    def _service(self, apdu: bytes) -> bytes:
        tag = apdu[0]
        if self.pending_hls and not (tag == ACTION_REQUEST and apdu[3:11] == b"\x00\x0f" + M.obis_bytes(
                O.ASSOCIATION_OBIS)):
            self.errors += 1
            return _NOT_ALLOWED  # only the HLS pass 3 until it is done
        if tag == GET_REQUEST:
            return self._get(apdu)
        if tag == SET_REQUEST:
            return self._set(apdu)
        if tag == ACTION_REQUEST:
            return self._action(apdu)
        self.errors += 1
        return _UNKNOWN

    # --- association ---------------------------------------------------------------

    def _associate(self, client_sap: int, apdu: bytes) -> bytes:
        self.reset()
        request = acse.parse_aarq(apdu)
        server = self.server
        keys = server.keys
        wanted = {PUBLIC_CLIENT: acse.MECHANISM_NONE, MANAGEMENT_CLIENT: acse.MECHANISM_LLS,
                  HLS_CLIENT: acse.MECHANISM_HLS_GMAC}.get(client_sap)
        if wanted is None or (wanted == acse.MECHANISM_HLS_GMAC and keys is None):
            return self._reject(request.context, acse.DIAG_NO_REASON)
        ciphered = request.context == acse.CONTEXT_LN_CIPHERED
        # The HLS client is served in the ciphered context only: accepting it in the plain one would let
        # whoever sits on the path reuse its authentication for plain requests (a downgrade).
        if request.context not in (acse.CONTEXT_LN, acse.CONTEXT_LN_CIPHERED) or (ciphered and keys is None) or (
                wanted == acse.MECHANISM_HLS_GMAC and not ciphered):
            return self._reject(acse.CONTEXT_LN, acse.DIAG_CONTEXT_NOT_SUPPORTED)
        if request.mechanism != wanted:
            diagnostic = acse.DIAG_MECHANISM_NOT_RECOGNISED if request.mechanism not in (
                acse.MECHANISM_NONE, acse.MECHANISM_LLS, acse.MECHANISM_HLS_GMAC) else acse.DIAG_AUTHENTICATION_REQUIRED
            return self._reject(request.context, diagnostic)
        guard = server.guard
        if wanted != acse.MECHANISM_NONE and guard.access_wait():
            return self._reject(request.context, acse.DIAG_AUTHENTICATION_FAILURE)  # locked: not even looked at
        if wanted == acse.MECHANISM_LLS:
            ok = server.lls.verify(request.authentication)
            guard.access_result(ok)
            if not ok:
                return self._reject(request.context, acse.DIAG_AUTHENTICATION_FAILURE)
        if wanted == acse.MECHANISM_HLS_GMAC and (len(request.calling_title) != 8 or not request.authentication):
            return self._reject(request.context, acse.DIAG_AUTHENTICATION_FAILURE)
        initiate = request.user_information
        if ciphered:
            if not initiate or initiate[0] != dlms_security.GLO_TAG[acse.INITIATE_REQUEST]:
                return self._reject(request.context, acse.DIAG_NO_REASON)
            try:
                initiate = self._decipher(initiate, request.calling_title)[1]
            except Exception:
                guard.access_result(False)  # not our keys: a wrong secret like any other
                return self._reject(request.context, acse.DIAG_NO_REASON)
        version, proposed, client_pdu = acse.parse_initiate_request(initiate)
        offered = _FULL_CONFORMANCE if wanted != acse.MECHANISM_NONE else _PUBLIC_CONFORMANCE
        conformance = proposed & offered
        error = 1 if version < acse.DLMS_VERSION else (2 if not conformance else (3 if 0 < client_pdu < _MIN_PDU else 0))
        if error:
            return acse.aare(request.context, acse.REJECTED_PERMANENT, acse.DIAG_NO_REASON, acse.initiate_error(error))
        response = acse.initiate_response(conformance, server.max_pdu)
        self.client_title = request.calling_title
        if ciphered:
            response = self._encipher(dlms_security.GLO_TAG[acse.INITIATE_RESPONSE], None, dlms_security.SC_AUTH_ENC,
                                      response)
        self.client = client_sap
        self.ciphered = ciphered
        self.conformance = conformance
        self.client_pdu = client_pdu or 0xFFFF
        if wanted == acse.MECHANISM_HLS_GMAC:
            self.pending_hls = server.challenge()
            self.client_challenge = request.authentication
            return acse.aare(request.context, acse.ACCEPTED, acse.DIAG_AUTHENTICATION_REQUIRED, response,
                             acse.MECHANISM_HLS_GMAC, keys.system_title, self.pending_hls)  # type: ignore[union-attr]
        self.level = 1 if wanted == acse.MECHANISM_NONE else 2
        return acse.aare(request.context, acse.ACCEPTED, acse.DIAG_NONE, response,
                         responding_title=keys.system_title if ciphered else b"")  # type: ignore[union-attr]

    def _reject(self, context: int, diagnostic: int) -> bytes:
        return acse.aare(context, acse.REJECTED_PERMANENT, diagnostic, b"")

    def _release(self, apdu: bytes) -> bytes:
        user_information = b""
        if self.ciphered:
            inner = acse.parse_rlrq_user_information(apdu)
            if inner:
                try:
                    self._decipher(inner, self.client_title)
                    user_information = self._encipher(dlms_security.GLO_TAG[acse.INITIATE_RESPONSE], None,
                                                      dlms_security.SC_AUTH_ENC,
                                                      acse.initiate_response(self.conformance, self.server.max_pdu))
                except Exception:
                    user_information = b""
        self.reset()
        return acse.rlre(user_information)

    # --- ciphering ---------------------------------------------------------------------

    def _decipher(self, apdu: bytes, title: bytes):
        """(form, plain APDU) of a ciphered APDU; the client's counter must move on."""
        keys = self.server.keys
        form, _, sent_title, content = dlms_security.unwrap(apdu)
        if sent_title:
            title = sent_title
        sc, ic, plain = dlms_security.unprotect(content, title, keys.ek, keys.ak)  # type: ignore[union-attr]
        if not sc & dlms_security.SC_AUTH:
            raise ValueError("unauthenticated APDU")
        self.server.replay.accept(title, ic)
        return form, plain, sc

    def _encipher(self, glo_tag, form, sc: int, plain: bytes) -> bytes:
        server = self.server
        keys = server.keys
        protected = dlms_security.protect(plain, sc, keys.system_title, server.next_counter(),  # type: ignore
                                          keys.ek, keys.ak)  # type: ignore[union-attr]
        if form == dlms_security.FORM_GENERAL_GLO:
            return dlms_security.general_glo_wrap(keys.system_title, protected)  # type: ignore[union-attr]
        return dlms_security.glo_wrap(glo_tag, protected)

    def _ciphered(self, apdu: bytes) -> bytes:
        if not self.ciphered or self.server.keys is None:
            self.errors += 1
            return _NOT_ALLOWED
        try:
            form, plain, sc = self._decipher(apdu, self.client_title)
        except Exception:
            self.errors += 1
            return _DECIPHERING
        reply = self._service(plain)
        glo = dlms_security.GLO_TAG.get(reply[0])
        if glo is None:  # exception-response goes in clear
            return reply
        return self._encipher(glo, form, sc & 0x30, reply)

    # --- GET ---------------------------------------------------------------------------

    def _descriptor(self, apdu: bytes, pos: int):
        """(object or None, attribute or method id, position after)."""
        class_id = (apdu[pos] << 8) | apdu[pos + 1]
        ln = apdu[pos + 2:pos + 8]
        if len(ln) != 6 or pos + 8 >= len(apdu):
            raise IndexError("truncated descriptor")
        return O.find(self.server.objects, class_id, ln), apdu[pos + 8], pos + 9

    def _read(self, apdu: bytes, pos: int, buf: bytearray):
        """Encode one attribute (with its access selection) into buf; (data-access-result, position after).

        A profile buffer leaves its rows in self.rows, to be encoded as the reply goes out.
        """
        self.rows = None
        obj, attribute, pos = self._descriptor(apdu, pos)
        selector = 0
        parameters = None
        if apdu[pos]:
            selector = apdu[pos + 1]
            _, parameters, pos = axdr.get(apdu, pos + 2)
        else:
            pos += 1
        if obj is None:
            return O.OBJECT_UNDEFINED, pos
        if selector:
            if obj[0] != M.PROFILE_GENERIC or attribute != 2 or selector not in (1, 2):
                return O.OTHER_REASON, pos
            return self._select(obj[3], selector, parameters, buf), pos
        return O.get_attribute(self, obj, attribute, buf), pos

    def _get(self, apdu: bytes) -> bytes:
        kind, invoke = apdu[1], apdu[2]
        if kind == 1:
            buf = bytearray((GET_RESPONSE, 1, invoke, 0))
            result, pos = self._read(apdu, 3, buf)
            if result:
                return bytes((GET_RESPONSE, 1, invoke, 1, result))
            return self._send(invoke, buf, 4)
        if kind == 2:
            return self._next_block(invoke, axdr.get_uint(apdu, 3, 4))
        if kind == 3:
            if not self.conformance & acse.MULTIPLE_REFERENCES:
                return _NOT_ALLOWED
            count, pos = axdr.get_length(apdu, 3)
            buf = bytearray((GET_RESPONSE, 3, invoke))
            axdr.put_length(buf, count)
            for _ in range(count):
                item = bytearray(1)  # 0: data follows
                result, pos = self._read(apdu, pos, item)
                if result:
                    buf.extend((1, result))
                    continue
                if self.rows is not None:
                    self.rows.put(item, 0x7FFFFFFF)
                    self.rows = None
                buf.extend(item)
            return self._send(invoke, buf, 3)
        return _UNKNOWN

    def _limit(self) -> int:
        limit = min(self.client_pdu, self.server.max_pdu)
        return limit - _CIPHER_OVERHEAD if self.ciphered else limit

    def _send(self, invoke: int, buf: bytearray, header: int) -> bytes:
        """The whole reply, or its first block when longer than the client takes."""
        rows = self.rows
        self.rows = None
        self._block_data = bytearray()
        limit = self._limit()
        if rows is not None:
            rows.put(buf, limit + 1)
        if len(buf) <= limit and (rows is None or rows.done()):
            return bytes(buf)
        if not self.conformance & acse.BLOCK_TRANSFER_GET:
            return bytes((GET_RESPONSE, 1, invoke, 1, O.OTHER_REASON))
        self._block_data = buf[header:]
        self._block_rows = rows
        self._block = 0
        return self._next_block(invoke, 0)

    def _next_block(self, invoke: int, acknowledged: int) -> bytes:
        data = self._block_data
        if not data:
            return bytes((GET_RESPONSE, 2, invoke, 1, 0, 0, 0, 0, 0, 1, O.NO_LONG_GET_IN_PROGRESS))
        if acknowledged != self._block:
            self._block_data = bytearray()
            return bytes((GET_RESPONSE, 2, invoke, 1, 0, 0, 0, 0, 0, 1, O.DATA_BLOCK_NUMBER_INVALID))
        size = self._limit() - 14  # room for the block header with a 3-byte length
        rows = self._block_rows
        if rows is not None:
            rows.put(data, size + 1)
        chunk = data[:size]
        data = self._block_data = data[size:]
        last = not data and (rows is None or rows.done())
        self._block += 1
        out = bytearray((GET_RESPONSE, 2, invoke, 1 if last else 0))
        axdr.put_uint(out, self._block, 4)
        out.append(0)
        axdr.put_length(out, len(chunk))
        out.extend(chunk)
        if last:
            self._block_rows = None
        return bytes(out)

    def _select(self, row, selector: int, parameters, buf: bytearray) -> int:
        """Profile rows by range (selector 1) or by entry (selector 2)."""
        model = self.model
        source = model.profile(M.PROFILES.index(row))
        columns = O.profile_columns(row)
        offset = model.clock()[1]
        if not isinstance(parameters, list) or len(parameters) < 4:
            return O.OTHER_REASON
        if selector == 1:
            restricting, start, end, chosen = parameters[0], parameters[1], parameters[2], parameters[3]
            if not isinstance(restricting, list) or len(restricting) < 3 or restricting[0] != M.CLOCK:
                return O.OTHER_REASON
            first, count = source.range_index(axdr.date_time_seconds(start, offset),
                                              axdr.date_time_seconds(end, offset))
            selected = list(range(len(columns)))
            if chosen:
                selected = []
                for item in chosen:
                    index = _column(columns, item)
                    if index < 0:
                        return O.OTHER_REASON
                    selected.append(index)
        else:
            from_entry, to_entry, from_value, to_value = parameters[0], parameters[1], parameters[2], parameters[3]
            entries = source.entries
            last = entries if to_entry == 0 or to_entry > entries else to_entry
            first = max(from_entry, 1) - 1
            count = max(0, last - first)
            last_column = len(columns) if to_value == 0 or to_value > len(columns) else to_value
            selected = list(range(max(from_value, 1) - 1, last_column))
        self.rows = O.put_profile_rows(buf, source, first, count, columns, selected, offset)
        return O.SUCCESS

    # --- SET and ACTION ------------------------------------------------------------------

    def _set(self, apdu: bytes) -> bytes:
        kind, invoke = apdu[1], apdu[2]
        if kind != 1 or not self.conformance & acse.SET:
            return bytes((SET_RESPONSE, 1, invoke, O.READ_WRITE_DENIED)) if kind == 1 else _UNKNOWN
        obj, attribute, pos = self._descriptor(apdu, 3)
        pos += 1 if apdu[pos] == 0 else 0
        tag, value, _ = axdr.get(apdu, pos)
        if obj is None:
            return bytes((SET_RESPONSE, 1, invoke, O.OBJECT_UNDEFINED))
        setting = M.setting_at(obj[2], attribute)
        if setting >= 0:  # a field setting: the meter's own rule decides (settings.py)
            row = M.SETTINGS[setting]
            if tag == row[3] == axdr.STRUCTURE:  # the push destination: its text, judged by the meter's rule
                value = O.push_destination(value)
            if tag != row[3] or value is None:
                return bytes((SET_RESPONSE, 1, invoke, O.TYPE_UNMATCHED))
            done = self.model.set_setting(setting, -value if row[1] == M.CLOCK else value)
            return bytes((SET_RESPONSE, 1, invoke, O.SUCCESS if done else O.OTHER_REASON))
        if (obj[0], attribute) not in O.WRITABLE or ((obj[0], attribute) in O.HLS_ONLY and not self.ciphered):
            return bytes((SET_RESPONSE, 1, invoke, O.READ_WRITE_DENIED))
        if obj[0] == O.IMAGE_TRANSFER:  # image_transfer_enabled: the object judges the value
            return bytes((SET_RESPONSE, 1, invoke, self.model.image_transfer().set_attribute(attribute, value)))
        if tag != axdr.OCTET_STRING:
            return bytes((SET_RESPONSE, 1, invoke, O.TYPE_UNMATCHED))
        if obj[0] == M.ASSOCIATION_LN:  # the LLS secret
            done = self.model.change_lls_secret(value)
        elif len(value) != 12:
            return bytes((SET_RESPONSE, 1, invoke, O.TYPE_UNMATCHED))
        else:  # the clock: the meter may refuse a step back (its rules, its event log)
            done = self.model.set_clock(axdr.date_time_seconds(value, self.model.clock()[1]))
        return bytes((SET_RESPONSE, 1, invoke, O.SUCCESS if done else O.OTHER_REASON))

    def _action(self, apdu: bytes) -> bytes:
        kind, invoke = apdu[1], apdu[2]
        if kind != 1:
            return _UNKNOWN
        obj, method, pos = self._descriptor(apdu, 3)
        parameter = None
        if pos < len(apdu) and apdu[pos]:
            _, parameter, pos = axdr.get(apdu, pos + 1)
        if obj is None:
            return bytes((ACTION_RESPONSE, 1, invoke, O.OBJECT_UNDEFINED, 0))
        class_id = obj[0]
        if (class_id, method) not in O.METHODS or (class_id != M.ASSOCIATION_LN and (
                self.level < 2 or not self.conformance & acse.ACTION)) or (
                (class_id, method) in O.HLS_ONLY and not self.ciphered):
            return bytes((ACTION_RESPONSE, 1, invoke, O.READ_WRITE_DENIED, 0))
        if class_id == M.ASSOCIATION_LN:
            return self._hls_pass_3(invoke, parameter)
        if class_id == M.SECURITY_SETUP:
            return bytes((ACTION_RESPONSE, 1, invoke, self._key_transfer(parameter), 0))
        if class_id == M.DISCONNECT_CONTROL:
            done = self.model.disconnect(method == 2)
            return bytes((ACTION_RESPONSE, 1, invoke, O.SUCCESS if done else O.TEMPORARY_FAILURE, 0))
        if class_id == O.IMAGE_TRANSFER:  # its result codes are action-results: a bad parameter is one of them
            return bytes((ACTION_RESPONSE, 1, invoke, self.model.image_transfer().action(method, parameter), 0))
        if class_id == M.PUSH_SETUP:  # a test push: refused while push is off
            return bytes((ACTION_RESPONSE, 1, invoke, O.SUCCESS if self.model.push() else O.TEMPORARY_FAILURE, 0))
        if not isinstance(parameter, bytes):
            return bytes((ACTION_RESPONSE, 1, invoke, O.TYPE_UNMATCHED, 0))
        accepted = self.model.enter_token(parameter)
        return bytes((ACTION_RESPONSE, 1, invoke, O.SUCCESS if accepted else O.OTHER_REASON, 0))

    def _hls_pass_3(self, invoke: int, reply) -> bytes:
        keys = self.server.keys
        if not self.pending_hls or keys is None or not isinstance(reply, bytes):
            return bytes((ACTION_RESPONSE, 1, invoke, O.READ_WRITE_DENIED, 0))
        guard = self.server.guard
        try:
            dlms_security.hls_verify(reply, self.pending_hls, self.client_title, keys.ek, keys.ak)
        except Exception:
            guard.access_result(False)
            self.reset()  # one try per association: a wrong pass 3 ends it
            return bytes((ACTION_RESPONSE, 1, invoke, O.OTHER_REASON, 0))
        guard.access_result(True)
        self.pending_hls = b""
        self.level = 2
        answer = dlms_security.hls_gmac(self.client_challenge, keys.system_title, self.server.next_counter(),
                                        keys.ek, keys.ak)
        out = bytearray((ACTION_RESPONSE, 1, invoke, O.SUCCESS, 1, 0))
        axdr.put(out, axdr.OCTET_STRING, answer)
        return bytes(out)

    def _key_transfer(self, parameter) -> int:
        """Security setup key_transfer: array of {key_id, key wrapped under the current KEK}.
        0 unicast encryption key, 2 authentication key, 3 master key. All or nothing; the new
        keys serve from the next association on."""
        keys = self.server.keys
        if keys is None or not keys.kek:
            return O.READ_WRITE_DENIED
        if not isinstance(parameter, list) or not parameter:
            return O.TYPE_UNMATCHED
        new = {0: keys.ek, 2: keys.ak, 3: keys.kek}
        for item in parameter:
            if not isinstance(item, list) or len(item) != 2 or item[0] not in new or not isinstance(item[1], bytes):
                return O.TYPE_UNMATCHED
            try:
                key = keywrap.unwrap(keys.kek, item[1])
            except ValueError:
                return O.OTHER_REASON
            if len(key) != 16:
                return O.TYPE_UNMATCHED
            new[item[0]] = key
        if not self.model.change_hls_keys(new[0], new[2], new[3]):
            return O.TEMPORARY_FAILURE
        self.new_keys = Keys(new[0], new[2], keys.system_title, new[3])
        return O.SUCCESS

    # --- the association's own attributes ------------------------------------------------

    def association_attribute(self, attribute: int, buf: bytearray) -> int:
        if attribute == 2:
            O.put_object_list(buf, self.server.objects, self.level >= 2, self.ciphered)
        elif attribute == 3:
            axdr.put_header(buf, axdr.STRUCTURE, 2)
            axdr.put(buf, axdr.INTEGER, self.client)
            axdr.put(buf, axdr.LONG_UNSIGNED, 1)
        elif attribute in (4, 6):
            mechanism = {PUBLIC_CLIENT: 0, MANAGEMENT_CLIENT: 1, HLS_CLIENT: 5}.get(self.client, 0)
            tail = (1, 3 if self.ciphered else 1) if attribute == 4 else (2, mechanism)
            axdr.put(buf, axdr.OCTET_STRING, b"\x60\x85\x74\x05\x08" + bytes(tail))
        elif attribute == 5:
            axdr.put_header(buf, axdr.STRUCTURE, 6)
            c = self.conformance
            axdr.put(buf, axdr.BIT_STRING, (24, bytes((c >> 16, (c >> 8) & 0xFF, c & 0xFF))))
            axdr.put(buf, axdr.LONG_UNSIGNED, self.server.max_pdu)
            axdr.put(buf, axdr.LONG_UNSIGNED, self.client_pdu)
            axdr.put(buf, axdr.UNSIGNED, acse.DLMS_VERSION)
            axdr.put(buf, axdr.INTEGER, 0)
            axdr.put(buf, axdr.OCTET_STRING, b"")
        elif attribute == 8:
            axdr.put(buf, axdr.ENUM, 1 if self.pending_hls else 2)
        else:
            axdr.put(buf, axdr.OCTET_STRING, M.obis_bytes(O.SECURITY_SETUP_OBIS))
        return O.SUCCESS

    def security_attribute(self, attribute: int, buf: bytearray) -> int:
        keys = self.server.keys
        if attribute == 2:
            axdr.put(buf, axdr.ENUM, 3 if keys else 0)  # authenticated and encrypted
        elif attribute == 3:
            axdr.put(buf, axdr.ENUM, 0)
        else:
            title = self.client_title if attribute == 4 else (keys.system_title if keys else b"")
            axdr.put(buf, axdr.OCTET_STRING, title)
        return O.SUCCESS


def _column(columns: list, item) -> int:
    """Index of a capture object definition among the profile's columns, -1 if absent."""
    if not isinstance(item, list) or len(item) < 3:
        return -1
    for i, column in enumerate(columns):
        if item[0] == column[0] and bytes(item[1]) == M.obis_bytes(column[1]) and item[2] == column[2]:
            return i
    return -1
