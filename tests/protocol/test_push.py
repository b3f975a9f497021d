"""DLMS push (protocol/push.py): the DataNotification's bytes, its ciphered form, the meter's counter.

MicroPython and CPython.
"""

import binascii

from protocol import dlms_security, push, wrapper
from protocol.dlms_security import Keys

SERIAL = "OPS00000001"
EK = binascii.unhexlify("000102030405060708090A0B0C0D0E0F")
AK = binascii.unhexlify("D0D1D2D3D4D5D6D7D8D9DADBDCDDDEDF")
EVENT_S = 852076800  # 2027-01-01 00:00:00 UTC, a Friday
SENT_S = EVENT_S + 5

# A low-credit event (code 8) worked out by hand from the format in push.py's docstring.
LOW_CREDIT = bytes(
    [0x0F, 0x00, 0x23, 0x45, 0x67]  # data-notification; normal priority, sequence 0x1234567 mod 2**24
    + [0x0C, 0x07, 0xEB, 1, 1, 5, 0, 0, 5, 0, 0x00, 0x00, 0x00]  # sent 2027-01-01 (Fri) 00:00:05, UTC
    + [0x02, 0x07]  # structure of 7
    + [0x0A, 0x0B] + list(b"OPS00000001")  # serial, visible-string
    + [0x11, 0x08]  # event code, unsigned
    + [0x09, 0x0C, 0x07, 0xEB, 1, 1, 5, 0, 0, 0, 0, 0x00, 0x00, 0x00]  # event time, octet-string
    + [0x06, 0x00, 0x00, 0x07, 0xCF]  # payload a: 1999, double-long-unsigned
    + [0x12, 0x00, 0x00]  # payload b, long-unsigned
    + [0x05, 0xFF, 0xFF, 0xFF, 0x9C]  # credit -100 Wh, double-long
    + [0x03, 0x01])  # relay closed


def _low_credit() -> bytes:
    return push.data_notification(0x1234567, False, SENT_S, SERIAL, 8, EVENT_S, 1999, 0, -100, True)


def test_a_data_notification_byte_for_byte():
    assert _low_credit() == LOW_CREDIT
    high = push.data_notification(41, True, SENT_S, SERIAL, 5, EVENT_S, 0, 2, 0, False)
    assert high[1:5] == b"\x80\x00\x00\x29"  # bit 31: high priority; the sequence number below
    assert high[-2:] == b"\x03\x00"


def test_the_frame_is_one_wrapper_frame_from_wport_1_to_102():
    framed = push.frame(LOW_CREDIT)
    assert framed[:8] == bytes((0, 1, 0, 1, 0, 102, 0, len(LOW_CREDIT)))
    assert wrapper.WrapperReader().feed(framed) == [(1, 102, LOW_CREDIT)]


def test_the_ciphered_form_deciphers_to_the_plain_apdu():
    keys = Keys(EK, AK, push.system_title(SERIAL))
    assert keys.system_title == b"OPS\x00\x00\x00\x00\x01"
    sealed = push.ciphered(LOW_CREDIT, keys, 7)
    assert sealed[:10] == b"\xDB\x08" + keys.system_title
    assert sealed[10] == 1 + 4 + len(LOW_CREDIT) + 12 and sealed[11:16] == b"\x30\x00\x00\x00\x07"
    form, _, title, content = dlms_security.unwrap(sealed)
    assert form == dlms_security.FORM_GENERAL_GLO and title == keys.system_title
    assert dlms_security.unprotect(content, title, EK, AK) == (0x30, 7, LOW_CREDIT)
    assert LOW_CREDIT[20:] not in sealed  # encrypted, not only authenticated
    tampered = bytearray(content)
    tampered[8] ^= 1
    try:
        dlms_security.unprotect(bytes(tampered), title, EK, AK)
        raise AssertionError("a changed byte went through")
    except dlms_security.AuthenticationError:
        pass


class _Store:
    """The persisted mark, as the meter's settings record keeps it."""

    def __init__(self):
        self.mark = 0
        self.writes = 0

    def counter_reserved(self):
        return self.mark

    def reserve_counter(self, upto):
        self.mark = upto
        self.writes += 1


def test_the_counter_never_repeats_between_users_and_across_restarts():
    store = _Store()
    used = []
    for _ in range(3):  # three boots; each time a server and the pushes count over the one mark
        server, pushes = push.InvocationCounter(store), push.InvocationCounter(store)
        for n in range(2500):  # interleaved, and past the end of the blocks both reserved
            used.append(server.next() if n % 3 else pushes.next())
    assert len(set(used)) == len(used)
    assert min(used) > 0 and store.mark > max(used)
    assert store.writes < len(used) // 100  # blocks, not a flash write per counter


def test_destinations():
    assert push.parse_destination("127.0.0.1:4060") == ("127.0.0.1", 4060)
    assert push.parse_destination("head-end.example.org:65535") == ("head-end.example.org", 65535)
    for bad in ("", "host", "host:", ":4060", "host:0", "host:65536", "host:40a", "bad host:1", "h\xe9:1",
                "a" * 60 + ".org:1", 4060, None):
        try:
            push.parse_destination(bad)
            raise AssertionError("accepted %r" % (bad,))
        except ValueError:
            pass


def test_the_documented_ciphered_example():
    """docs/dlms.md's example, for the head-end's receiver: relay opened for want of credit, counter 1025."""
    apdu = push.data_notification(41, True, SENT_S, SERIAL, 5, EVENT_S, 0, 2, 0, False)
    sealed = push.frame(push.ciphered(apdu, Keys(EK, AK, push.system_title(SERIAL)), 1025))
    assert sealed == binascii.unhexlify(
        "00010001" "0066" "005C"  # wrapper: version 1, wPort 1 to 102, 92 bytes
        "DB" "08" "4F50530000000001" "51" "30" "00000401"  # general-glo, system title, length, SC, IC 1025
        "55341CA63A3C1F80F176A3BACF205F4DED0AEB8C4A2261D57177D21EE43DAC810447F45F38547777AC66035BDD79B3B541634DC9"
        "74C4A9C323F22C6F3CC8AC22"  # the 64 bytes of ciphertext
        "A1E2F671791D6696C683AEC8")  # the tag
