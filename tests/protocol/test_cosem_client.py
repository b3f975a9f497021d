"""Our client against our server, in-process (MicroPython and CPython)."""

from protocol import axdr
from protocol import cosem_client as C
from protocol import cosem_server as S
from protocol.dlms_security import Keys
from protocol import registers as M
from tests.asserts import raises
from tests.protocol.cosem_fake import FakeMeter
from tests.protocol.test_cosem_server import AK, EK, METER_TITLE


def _pair(client_sap=16, password=b"", keys=None, pdu=1024):
    server = S.CosemServer(FakeMeter(200), b"secret", Keys(EK, AK, METER_TITLE), max_pdu=pdu)
    association = server.association()
    client = C.CosemClient(lambda apdu: association.handle(client_sap, apdu), client_sap, password, keys,
                           b"HOST0001", max_pdu=pdu)
    return server, client


def test_public_read_of_registers_and_profile_in_blocks():
    server, client = _pair(pdu=200)
    client.associate()
    assert client.get(M.REGISTER, "1.0.1.8.0.255", 2) == 33581
    rows = client.get(M.PROFILE_GENERIC, "1.0.99.2.0.255", 2)
    assert len(rows) == 200 and rows[-1][1] == 199000
    last3 = client.get(M.PROFILE_GENERIC, "1.0.99.1.0.255", 2, C.entry_selection(198))
    assert [r[1] for r in last3] == [197000, 198000, 199000]
    clock = client.get(M.CLOCK, M.CLOCK_OBIS, 2)
    window = client.get(M.PROFILE_GENERIC, "1.0.99.1.0.255", 2, C.range_selection(
        axdr.date_time(axdr.date_time_seconds(clock, 0) - 6 * 3600 - 3600), clock))
    assert len(window) == 4  # the last hour, in local time without a deviation
    client.release()


def test_lls_token_and_a_refused_password():
    server, client = _pair(17, b"secret")
    client.associate()
    client.enter_token("12345678901234567890")
    raised = False
    try:
        client.enter_token("12345678901234567891")
    except C.CosemError as exc:
        raised = exc.code == 250
    assert raised and server.model.tokens[-1] == b"12345678901234567891"
    _, wrong = _pair(17, b"guess")
    try:
        wrong.associate()
        refused = -1
    except C.CosemError as exc:
        refused = exc.code
    assert refused == 13


def test_hls_gmac_session():
    server, client = _pair(1, keys=Keys(EK, AK, METER_TITLE))
    client.associate()
    assert client.get(M.REGISTER, "0.0.96.6.3.255", 2) == 25460
    counter = server.invocation_counter
    assert client.get(M.DATA, "0.0.43.1.1.255", 2) == counter  # read before the reply was ciphered
    client.release()


def test_the_same_steps_run_with_an_async_exchange():
    import asyncio

    server = S.CosemServer(FakeMeter(200), b"secret", Keys(EK, AK, METER_TITLE), max_pdu=200)
    association = server.association()

    async def exchange(apdu):
        await asyncio.sleep(0)
        return association.handle(1, apdu)

    async def read():
        client = C.CosemClient(None, 1, keys=Keys(EK, AK, METER_TITLE), system_title=b"HOST0001")
        await C.arun(client.associate_steps(), exchange)
        rows = await C.arun(client.get_steps(M.PROFILE_GENERIC, "1.0.99.1.0.255", 2), exchange)
        await C.arun(client.release_steps(), exchange)
        return rows

    rows = asyncio.run(read())
    assert len(rows) == 200 and rows[0][1] == 0  # ciphered, in blocks of 200 bytes


def _downgraded(aarq):
    """What an on-path attacker makes of the head-end's ciphered AARQ: the plain LN context with a plain
    InitiateRequest, the client's challenge and title kept, so the HLS exchange itself still works."""
    from protocol import acse

    request = acse.parse_aarq(aarq)
    return acse.aarq(acse.CONTEXT_LN, acse.MECHANISM_HLS_GMAC, acse.initiate_request(0xFFFF, 1024),
                     request.authentication, request.calling_title)


def test_hls_cannot_be_downgraded_to_the_plain_context():
    from protocol import acse

    server, client = _pair(1, keys=Keys(EK, AK, METER_TITLE))
    association = server.association()
    sent = []

    def on_path(apdu):
        if apdu[0] == acse.AARQ:
            apdu = _downgraded(apdu)
        sent.append(apdu)
        return association.handle(1, apdu)

    client.exchange = on_path
    assert raises(C.CosemError, client.associate)  # the head-end sees the association refused
    assert acse.parse_aare(association.handle(1, sent[0]))["result"] == acse.REJECTED_PERMANENT
    # the attacker's plain SET of the clock and relay command find no association
    set_clock = b"\xC1\x01\xC1" + C.descriptor(M.CLOCK, M.CLOCK_OBIS, 2) + b"\x00\x09\x0c" + bytes(12)
    disconnect = b"\xC3\x01\xC1" + C.descriptor(M.DISCONNECT_CONTROL, "0.0.96.3.10.255", 1) + b"\x01\x0f\x00"
    for apdu in (set_clock, disconnect):
        assert association.handle(1, apdu)[0] == S.EXCEPTION_RESPONSE
    assert server.model.now == 850000000 and server.model.relay


def test_the_client_refuses_an_aare_that_is_not_ciphered():
    # A server (or attacker) answering an HLS association in the plain context is not the meter we know.
    from protocol import acse

    server, client = _pair(1, keys=Keys(EK, AK, METER_TITLE))

    def plain(apdu):
        return acse.aare(acse.CONTEXT_LN, acse.ACCEPTED, acse.DIAG_AUTHENTICATION_REQUIRED,
                         acse.initiate_response(0x1019, 1024), acse.MECHANISM_HLS_GMAC, METER_TITLE, b"x" * 16)

    client.exchange = plain
    assert raises(C.CosemError, client.associate)


def test_the_client_draws_a_fresh_challenge_for_every_association():
    from protocol import acse

    server, client = _pair(1, keys=Keys(EK, AK, METER_TITLE))
    association = server.association()
    challenges = []

    def exchange(apdu):
        if apdu[0] == acse.AARQ:
            challenges.append(acse.parse_aarq(apdu).authentication)
        return association.handle(1, apdu)

    client.exchange = exchange
    for _ in range(3):
        client.associate()
        client.release()
    assert len(set(challenges)) == 3 and all(len(c) == 16 for c in challenges)
