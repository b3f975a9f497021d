"""DLMS security suite 0 against the Green Book examples, plus framing, tamper and replay (runs on MicroPython too).

Vectors: DLMS UA 1000-2 (Green Book) Ed. 8, Table 40 (a glo-get-request under the three
protections) and Table 43 (HLS mechanism 5).
"""

from binascii import hexlify, unhexlify

from protocol import dlms_security as S
from protocol.gcm import AuthenticationError
from tests.asserts import flipped, raises

SERVER_TITLE = unhexlify("4D4D4D0000BC614E")
CLIENT_TITLE = unhexlify("4D4D4D0000000001")
EK = unhexlify("000102030405060708090A0B0C0D0E0F")
AK = unhexlify("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
IC = 0x01234567
GET_CLOCK_TIME = unhexlify("C0010000080000010000FF0200")  # get-request-normal, 0.0.1.0.0.255 attribute 2

# SC -> the whole glo-get-request of Table 40.
TABLE_40 = (
    (0x10, "C81E1001234567C0010000080000010000FF020006725D910F9221D263877516"),
    (0x20, "C8122001234567411312FF935A47566827C467BC"),
    (0x30, "C81E3001234567411312FF935A47566827C467BC7D825C3BE4A77C3FCC056B6B"),
)
STOC = b"P6wRJ21F"
CTOS = b"K56iVagY"
F_STOC = unhexlify("10000000011A52FE7DD3E72748973C1E28")  # the client's reply, its title, IC 1
F_CTOS = unhexlify("1001234567FE1466AFB3DBCD4F9389E2B7")  # the server's reply, its title, IC 0x01234567


def test_green_book_table_40_protect():
    for sc, expected in TABLE_40:
        protected = S.protect(GET_CLOCK_TIME, sc, SERVER_TITLE, IC, EK, AK)
        assert hexlify(S.glo_wrap(S.GLO_TAG[0xC0], protected)).upper() == expected.encode()


def test_green_book_table_40_unprotect():
    for sc, expected in TABLE_40:
        form, tag, title, protected = S.unwrap(unhexlify(expected))
        assert (form, tag, title) == (S.FORM_GLO, 0xC8, None)
        assert S.PLAIN_TAG[tag] == 0xC0
        assert S.unprotect(protected, SERVER_TITLE, EK, AK) == (sc, IC, GET_CLOCK_TIME)


def test_green_book_table_43_hls_gmac():
    assert S.hls_gmac(STOC, CLIENT_TITLE, 1, EK, AK) == F_STOC
    assert S.hls_gmac(CTOS, SERVER_TITLE, IC, EK, AK) == F_CTOS


def test_hls_verify():
    assert S.hls_verify(F_STOC, STOC, CLIENT_TITLE, EK, AK) == 1
    assert S.hls_verify(F_CTOS, CTOS, SERVER_TITLE, EK, AK) == IC


def test_hls_verify_refuses():
    for i in range(len(F_STOC)):
        if i == 0:
            continue  # the SC byte: a ValueError, below
        assert raises(AuthenticationError, S.hls_verify, flipped(F_STOC, i, 0x80), STOC, CLIENT_TITLE, EK, AK)
    assert raises(AuthenticationError, S.hls_verify, F_STOC, CTOS, CLIENT_TITLE, EK, AK)  # other challenge
    assert raises(AuthenticationError, S.hls_verify, F_STOC, STOC, SERVER_TITLE, EK, AK)  # other title
    assert raises(AuthenticationError, S.hls_verify, F_STOC, STOC, CLIENT_TITLE, AK, EK)  # keys swapped
    assert raises(ValueError, S.hls_verify, b"\x30" + F_STOC[1:], STOC, CLIENT_TITLE, EK, AK)
    assert raises(ValueError, S.hls_verify, F_STOC[:-1], STOC, CLIENT_TITLE, EK, AK)
    assert raises(ValueError, S.hls_verify, F_STOC + b"\x00", STOC, CLIENT_TITLE, EK, AK)


def test_round_trips_all_protections_and_sizes():
    for sc in (0x10, 0x20, 0x30, 0x50, 0x70):  # 0x40: broadcast key, the caller's choice of EK
        for n in (0, 1, 15, 16, 17, 100, 300):
            apdu = bytes((i * 7) & 0xFF for i in range(n))
            protected = S.protect(apdu, sc, CLIENT_TITLE, 0xFFFFFFFF, EK, AK)
            tag_len = 0 if sc & 0x30 == 0x20 else 12
            assert len(protected) == 5 + n + tag_len
            assert S.unprotect(protected, CLIENT_TITLE, EK, AK) == (sc, 0xFFFFFFFF, apdu)


def test_authentication_only_sends_the_apdu_in_clear():
    protected = S.protect(GET_CLOCK_TIME, S.SC_AUTH, SERVER_TITLE, IC, EK, AK)
    assert protected[5:-12] == GET_CLOCK_TIME


def test_every_altered_byte_is_refused():
    for sc in (0x10, 0x30):
        protected = S.protect(GET_CLOCK_TIME, sc, SERVER_TITLE, IC, EK, AK)
        for i in range(1, len(protected)):  # byte 0, the SC, is checked below
            assert raises(AuthenticationError, S.unprotect, flipped(protected, i, 0x80), SERVER_TITLE, EK, AK)
        # The SC is authenticated too: another valid SC (key set, encryption bit) fails the tag.
        for other in (sc ^ 0x40, sc ^ 0x20):
            altered = bytes((other,)) + protected[1:]
            assert raises(AuthenticationError, S.unprotect, altered, SERVER_TITLE, EK, AK)


def test_wrong_keys_or_title_are_refused():
    protected = S.protect(GET_CLOCK_TIME, 0x30, SERVER_TITLE, IC, EK, AK)
    assert raises(AuthenticationError, S.unprotect, protected, CLIENT_TITLE, EK, AK)
    assert raises(AuthenticationError, S.unprotect, protected, SERVER_TITLE, AK, EK)
    assert raises(AuthenticationError, S.unprotect, protected, SERVER_TITLE, EK, EK)


def test_malformed_content_is_a_value_error():
    assert raises(ValueError, S.unprotect, b"\x30\x00\x00\x00", SERVER_TITLE, EK, AK)
    assert raises(ValueError, S.unprotect, b"\x30\x00\x00\x00\x01" + bytes(11), SERVER_TITLE, EK, AK)
    assert raises(ValueError, S.unprotect, b"\x31\x00\x00\x00\x01" + bytes(12), SERVER_TITLE, EK, AK)  # suite 1
    assert raises(ValueError, S.unprotect, b"\xb0\x00\x00\x00\x01" + bytes(12), SERVER_TITLE, EK, AK)  # compressed
    assert raises(ValueError, S.unprotect, b"\x00\x00\x00\x00\x01" + bytes(12), SERVER_TITLE, EK, AK)
    assert raises(ValueError, S.unprotect, b"\x30\x00\x00\x00\x01" + bytes(12), SERVER_TITLE[:7], EK, AK)


def test_protect_refuses_bad_parameters():
    for sc in (0x00, 0x40, 0x31, 0x90, 0x130):
        assert raises(ValueError, S.protect, GET_CLOCK_TIME, sc, SERVER_TITLE, IC, EK, AK)
    assert raises(ValueError, S.protect, GET_CLOCK_TIME, 0x30, SERVER_TITLE, 1 << 32, EK, AK)
    assert raises(ValueError, S.protect, GET_CLOCK_TIME, 0x30, SERVER_TITLE, -1, EK, AK)
    assert raises(ValueError, S.protect, GET_CLOCK_TIME, 0x30, SERVER_TITLE + b"\x00", IC, EK, AK)
    assert raises(ValueError, S.protect, GET_CLOCK_TIME, 0x30, SERVER_TITLE, IC, EK, AK[:15])
    assert raises(ValueError, S.protect, GET_CLOCK_TIME, 0x30, SERVER_TITLE, IC, EK[:15], AK)
    assert raises(ValueError, S.hls_gmac, STOC, CLIENT_TITLE, 1, AK[:8], EK)


def test_glo_length_forms():
    for n, header in ((0, "cc00"), (127, "cc7f"), (128, "cc8180"), (255, "cc81ff"), (256, "cc820100"),
                      (4097, "cc821001")):
        content = bytes(n)
        wrapped = S.glo_wrap(0xCC, content)
        assert hexlify(wrapped[:len(header) // 2]) == header.encode()
        assert S.unwrap(wrapped) == (S.FORM_GLO, 0xCC, None, content)


def test_glo_wrap_takes_glo_tags_only():
    for plain, glo in S.GLO_TAG.items():
        assert S.unwrap(S.glo_wrap(glo, b"\x30"))[1] == glo
        assert raises(ValueError, S.glo_wrap, plain, b"\x30")
    assert S.GLO_TAG[0x01] == 0x21 and S.GLO_TAG[0x08] == 0x28
    assert (S.GLO_TAG[0xC3], S.GLO_TAG[0xC4], S.GLO_TAG[0xC5], S.GLO_TAG[0xC7]) == (0xCB, 0xCC, 0xCD, 0xCF)


def test_general_glo_ciphering():
    protected = S.protect(GET_CLOCK_TIME, 0x30, CLIENT_TITLE, IC, EK, AK)
    wrapped = S.general_glo_wrap(CLIENT_TITLE, protected)
    assert wrapped[:11] == b"\xdb\x08" + CLIENT_TITLE + bytes((len(protected),))
    form, tag, title, content = S.unwrap(wrapped)
    assert (form, tag, title, content) == (S.FORM_GENERAL_GLO, None, CLIENT_TITLE, protected)
    assert S.unprotect(content, title, EK, AK) == (0x30, IC, GET_CLOCK_TIME)
    long_content = bytes(200)
    assert S.unwrap(S.general_glo_wrap(CLIENT_TITLE, long_content))[3] == long_content
    assert S.unwrap(b"\xdb\x00\x01\x30") == (S.FORM_GENERAL_GLO, None, b"", b"\x30")  # title left out


def test_unwrap_refuses_malformed():
    good = unhexlify(TABLE_40[2][1])
    for bad in (b"", good + b"\x00", good[:-1], b"\xc0\x01\x00", b"\xc8", b"\xc8\x83\x00\x00\x01\x00",
                b"\xc8\x82\x01", b"\xdb", b"\xdb\x08" + CLIENT_TITLE[:4], b"\xdb\x08" + CLIENT_TITLE,
                b"\xdb\x08" + CLIENT_TITLE + b"\x02\x30"):
        assert raises(ValueError, S.unwrap, bad), bad


def test_replay_guard():
    guard = S.ReplayGuard()
    assert guard.last(CLIENT_TITLE) == -1
    guard.accept(CLIENT_TITLE, 0)
    guard.accept(CLIENT_TITLE, 5)
    assert guard.last(bytearray(CLIENT_TITLE)) == 5
    assert raises(S.ReplayError, guard.accept, CLIENT_TITLE, 5)
    assert raises(S.ReplayError, guard.accept, CLIENT_TITLE, 4)
    assert raises(S.ReplayError, guard.check, CLIENT_TITLE, 0)
    guard.check(CLIENT_TITLE, 6)
    assert guard.last(CLIENT_TITLE) == 5  # check alone remembers nothing
    guard.accept(SERVER_TITLE, 1)  # every sender has its own counter
    guard.accept(CLIENT_TITLE, 0xFFFFFFFF)
    assert raises(S.ReplayError, guard.accept, CLIENT_TITLE, 0xFFFFFFFF)
    guard.forget(CLIENT_TITLE)
    guard.accept(CLIENT_TITLE, 0)
    assert guard.last(SERVER_TITLE) == 1


def test_replayed_apdu_is_refused_after_it_authenticated():
    guard = S.ReplayGuard()
    first = S.protect(GET_CLOCK_TIME, 0x30, CLIENT_TITLE, 7, EK, AK)
    sc, ic, apdu = S.unprotect(first, CLIENT_TITLE, EK, AK)
    guard.accept(CLIENT_TITLE, ic)
    sc, ic, apdu = S.unprotect(first, CLIENT_TITLE, EK, AK)
    assert raises(S.ReplayError, guard.accept, CLIENT_TITLE, ic)
