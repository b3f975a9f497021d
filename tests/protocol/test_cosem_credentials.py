"""The meter's DLMS secrets change only inside a ciphered HLS association; wrong ones go to the guard
(MicroPython and CPython). Key wrap vector: RFC 3394 section 4.1."""

from binascii import unhexlify

from protocol import acse, axdr, keywrap
from protocol import cosem_client as C
from protocol import cosem_objects as O
from protocol import cosem_server as S
from protocol.dlms_security import Keys
from protocol import registers as M
from tests.asserts import flipped, raises
from tests.protocol.cosem_fake import FakeMeter
from tests.protocol.test_cosem_server import AK, EK, METER_TITLE

KEK = unhexlify("000102030405060708090A0B0C0D0E0F")
NEW_EK = unhexlify("00112233445566778899AABBCCDDEEFF")
NEW_EK_WRAPPED = unhexlify("1FA68B0A8112B447AEF34BD8FB5A7B829D3E862371D2CFE5")


def _refusal(attempt):
    """The code of the CosemError an attempt ends in (None: it went through)."""
    try:
        attempt()
    except C.CosemError as exc:
        return exc.code
    return None


class Guard:
    def __init__(self):
        self.results = []
        self.wait = 0

    def access_wait(self):
        return self.wait

    def access_result(self, ok):
        self.results.append(ok)


def _server(model=None, guard=None):
    model = model or FakeMeter(8)
    return S.CosemServer(model, model, Keys(EK, AK, METER_TITLE, KEK), guard=guard), model


def _hls(server, keys=None, counter=0):
    association = server.association()
    client = C.CosemClient(lambda apdu: association.handle(1, apdu), 1, keys=keys or server.keys,
                           system_title=b"HES00001", invocation_counter=counter)
    return association, client


def test_key_unwrap_matches_rfc_3394():
    assert keywrap.unwrap(KEK, NEW_EK_WRAPPED) == NEW_EK
    for bad in (NEW_EK_WRAPPED[:-1], NEW_EK_WRAPPED[:16], bytes(24), flipped(NEW_EK_WRAPPED, 10)):
        assert raises(ValueError, keywrap.unwrap, KEK, bad), bad


def _transfer(key_id, wrapped):
    data = bytearray()
    axdr.put_header(data, axdr.ARRAY, 1)
    axdr.put_header(data, axdr.STRUCTURE, 2)
    axdr.put(data, axdr.ENUM, key_id)
    axdr.put(data, axdr.OCTET_STRING, wrapped)
    return bytes(data)


def test_key_transfer_over_hls_changes_the_key_for_the_next_association():
    server, model = _server()
    association, client = _hls(server)
    client.associate()
    client.action(M.SECURITY_SETUP, O.SECURITY_SETUP_OBIS, 2, _transfer(0, NEW_EK_WRAPPED))
    assert model.keys == (NEW_EK, AK, KEK)                 # persisted by the meter at once
    assert client.get(M.REGISTER, "1.0.1.8.0.255", 2) == 33581  # this association keeps its keys
    client.release()
    _, old = _hls(server, Keys(EK, AK, METER_TITLE, KEK), counter=client.invocation_counter)
    assert raises((C.CosemError, ValueError), old.associate)  # the old key opens nothing
    _, new = _hls(server, Keys(NEW_EK, AK, METER_TITLE, KEK), counter=client.invocation_counter + 10)
    new.associate()
    assert new.get(M.REGISTER, "1.0.1.8.0.255", 2) == 33581
    new.release()


def test_a_key_that_fails_its_integrity_check_changes_nothing():
    server, model = _server()
    _, client = _hls(server)
    client.associate()
    for bad in (_transfer(0, flipped(NEW_EK_WRAPPED, 3, 0x40)), _transfer(1, NEW_EK_WRAPPED),
                _transfer(0, b"short"), b"\x09\x03abc"):  # damaged, the broadcast key, junk
        assert raises(C.CosemError, client.action, M.SECURITY_SETUP, O.SECURITY_SETUP_OBIS, 2, bad), bad
    client.release()
    assert model.keys is None and server.keys.ek == EK


def test_secrets_and_keys_change_only_in_the_ciphered_hls_association():
    server, model = _server()
    association = server.association()
    lls = C.CosemClient(lambda apdu: association.handle(17, apdu), 17, b"secret")
    lls.associate()
    data = bytearray()
    axdr.put(data, axdr.OCTET_STRING, b"new-secret-123")
    for attempt in (lambda: lls.set(M.ASSOCIATION_LN, O.ASSOCIATION_OBIS, 7, bytes(data)),
                    lambda: lls.action(M.SECURITY_SETUP, O.SECURITY_SETUP_OBIS, 2, _transfer(0, NEW_EK_WRAPPED))):
        assert _refusal(attempt) == O.READ_WRITE_DENIED  # an LLS association changes no secret
    lls.release()
    assert model.secret == b"secret" and model.keys is None
    _, hls = _hls(server)
    hls.associate()
    hls.set(M.ASSOCIATION_LN, O.ASSOCIATION_OBIS, 7, bytes(data))
    hls.release()
    assert model.secret == b"new-secret-123"
    association = server.association()
    lls = C.CosemClient(lambda apdu: association.handle(17, apdu), 17, b"new-secret-123")
    lls.associate()  # the meter's verifier is the model: the new secret opens, the old one no more
    lls.release()


def test_wrong_secrets_go_to_the_guard_and_a_locked_guard_refuses_without_looking():
    guard = Guard()
    server, model = _server(guard=guard)

    def lls(secret):
        a = server.association()
        return acse.parse_aare(a.handle(17, acse.aarq(1, acse.MECHANISM_LLS, acse.initiate_request(0x1019, 512),
                                                        secret)))

    assert lls(b"guess")["result"] == acse.REJECTED_PERMANENT and guard.results == [False]
    assert lls(b"secret")["result"] == acse.ACCEPTED and guard.results == [False, True]
    guard.wait = 60
    checked = []
    model.verify = lambda secret: checked.append(secret) or True
    assert lls(b"secret")["diagnostic"] == acse.DIAG_AUTHENTICATION_FAILURE and not checked
    guard.wait = 0
    _, wrong = _hls(server, Keys(AK, EK, METER_TITLE))  # keys swapped: its ciphered AARQ does not decipher
    assert raises((C.CosemError, ValueError), wrong.associate)
    assert guard.results[-1] is False
    public = server.association()  # the public client needs no secret and is never locked out
    guard.wait = 60
    reply = acse.parse_aare(public.handle(16, acse.aarq(1, acse.MECHANISM_NONE, acse.initiate_request(0x1019, 512))))
    assert reply["result"] == acse.ACCEPTED
