"""OpenPAYGO Token decoder against the reference vectors (runs on MicroPython too)."""

import binascii
import json

from protocol import token_result as R
from protocol.openpaygo import (ADD_TIME, COUNTER_SYNC, DISABLE_PAYG, MAX_JUMP, MAX_JUMP_SYNC,
                                SET_TIME, OpenPaygoDecoder, OpenPaygoState, kind_of, unpack_state)
from protocol.siphash import SipHash24

_DIR = __file__.rsplit("/", 1)[0]
KEY = binascii.unhexlify("a29ab82edc5fbbc41ec9530f6dac86b1")
START = 123456789


def _vectors():
    with open(_DIR + "/../vectors/openpaygo_reference.json") as f:
        return json.load(f)


def _device(vectors, number):
    device = vectors["devices"][number]
    start = None if device["starting_code_from_key"] else device["starting_code"]
    return binascii.unhexlify(device["key"]), start


def _token(decoder, value, count):
    """The full-digit token carrying value at count (what the vending side computes)."""
    chain = decoder.chain
    base = chain.base(decoder.starting_code, value)
    code = [0, 0]
    chain.start(decoder.starting_code, base, code)
    chain.advance(code, count)
    return ("%06d%06d" if chain.extended else "%06d%03d") % (code[0], base)


def _enter(decoder, code):
    """Decode and, when accepted, commit: what the meter does."""
    result = decoder.decode(code)
    if result.ok:
        decoder.commit(result)
    return result


def test_siphash_paper_vector():
    # SipHash paper, appendix A: key 00..0f, message 00..0e -> 0xa129ca6149be45e5,
    # whose bytes little-endian are the reference implementation's output.
    digest = SipHash24(bytes(range(16))).digest(bytes(range(15)))
    assert digest == binascii.unhexlify("e545be4961ca29a1")


def test_siphash_package_values():
    for key, message, expected in _vectors()["siphash"]:
        digest = SipHash24(binascii.unhexlify(key)).digest(binascii.unhexlify(message))
        assert binascii.hexlify(bytes(reversed(digest))).decode() == expected


def test_default_starting_code():
    for device in _vectors()["devices"]:
        if device["starting_code_from_key"]:
            key = binascii.unhexlify(device["key"])
            assert OpenPaygoDecoder(key).starting_code == device["starting_code"]


def _decoder(vectors, device, extended, restricted, last):
    """A meter of the vector's device whose count is `last`."""
    key, start = _device(vectors, device)
    return OpenPaygoDecoder(key, start, extended, restricted, state=OpenPaygoState(last))


def test_reference_vectors_decode():
    vectors = _vectors()
    for device, extended, restricted, kind, value, last, count, token, _ in vectors["tokens"]:
        decoder = _decoder(vectors, device, extended, restricted, last)
        result = decoder.decode(token)
        assert result.ok, (token, result)
        assert (result.kind, result.value, result.count) == (kind, value, count), (token, result)


def test_replay_is_used():
    vectors = _vectors()
    for device, extended, restricted, kind, _, last, _, token, _ in vectors["tokens"]:
        decoder = _decoder(vectors, device, extended, restricted, last)
        assert _enter(decoder, token).ok
        again = decoder.decode(token)
        if kind == COUNTER_SYNC:   # reference rule: a sync is accepted down to max_count - 63
            assert again.ok and again.kind == COUNTER_SYNC
        else:
            assert again.reason == R.USED, (token, again)


def test_invalid_extended_token_is_invalid():
    vectors = _vectors()
    for case in vectors["reference_failures"]:
        if case["case"] == "invalid_extended_token":
            key, start = _device(vectors, case["device"])
            decoder = OpenPaygoDecoder(key, start, True, state=OpenPaygoState(case["last_count"]))
            assert decoder.decode(case["token"]).reason == R.INVALID


def test_replay_detected_from_fresh_state():
    vectors = _vectors()
    for case in vectors["reference_failures"]:
        if case["case"] == "replay_from_fresh_state":
            key, start = _device(vectors, case["device"])
            decoder = OpenPaygoDecoder(key, start)
            assert _enter(decoder, case["token"]).ok
            assert decoder.decode(case["token"]).reason == R.USED


def test_extended_disable_and_sync_are_what_they_are():
    vectors = _vectors()
    seen = 0
    for device, extended, restricted, kind, value, last, count, token, ref in vectors["tokens"]:
        if extended and kind in (DISABLE_PAYG, COUNTER_SYNC):
            assert ref[0] == SET_TIME   # the reference's reading (upstream issue #24)
            decoder = _decoder(vectors, device, True, restricted, last)
            assert decoder.decode(token).kind == kind
            seen += 1
    assert seen == 12   # 2 devices x 2 digit sets x (1 DISABLE_PAYG + 2 COUNTER_SYNC)


def test_format_errors():
    cases = ((False, False, ("", "12345678", "1234567890", "12345678a", "+12345678", "1234 5678",
                             "1_2345678", None, 123456789)),
             (True, False, ("12345678901", "1234567890123", "12345678901x")),
             (False, True, ("12341234123412", "123412341234125", "123412341234120")),
             (True, True, ("1234123412341234123", "12341234123412341235")))
    for extended, restricted, codes in cases:
        decoder = OpenPaygoDecoder(KEY, START, extended, restricted)
        for code in codes:
            assert decoder.decode(code).reason == R.FORMAT, (extended, restricted, code)
    # 15 keys 1-4 carry 30 bits: above 999 999 999 is no standard code.
    assert OpenPaygoDecoder(KEY, START, restricted=True).decode("4" * 15).reason == R.FORMAT


def test_kinds_follow_parity_and_value():
    assert kind_of(4, 998) == ADD_TIME
    assert kind_of(5, 998) == DISABLE_PAYG
    assert kind_of(5, 999) == COUNTER_SYNC
    assert kind_of(5, 7) == SET_TIME


def test_window_limits():
    decoder = OpenPaygoDecoder(KEY, START)
    decoder.state = OpenPaygoState(100)
    assert decoder.decode(_token(decoder, 5, 100 + MAX_JUMP)).ok
    assert decoder.decode(_token(decoder, 5, 100 + MAX_JUMP + 2)).reason == R.INVALID
    assert decoder.decode(_token(decoder, 999, 100 + MAX_JUMP_SYNC - 1)).ok
    assert decoder.decode(_token(decoder, 999, 100 + MAX_JUMP_SYNC + 1)).reason == R.INVALID
    assert decoder.decode(_token(decoder, 999, 100 - 63)).kind == COUNTER_SYNC
    assert decoder.decode(_token(decoder, 999, 100 - 65)).reason == R.INVALID


def test_older_add_time_accepted_once_and_set_time_closes_the_window():
    decoder = OpenPaygoDecoder(KEY, START)
    t2, t4, t6 = _token(decoder, 1, 2), _token(decoder, 1, 4), _token(decoder, 3, 6)
    assert _enter(decoder, t6).count == 6
    assert _enter(decoder, t2).count == 2
    assert decoder.decode(t2).reason == R.USED
    assert decoder.state.max_count == 6
    assert decoder.decode(_token(decoder, 1, 0)).reason == R.USED   # count 0 never counts
    assert _enter(decoder, _token(decoder, 7, 9)).kind == SET_TIME
    assert decoder.decode(t4).reason == R.USED
    t26 = _token(decoder, 1, 26)
    assert _enter(decoder, _token(decoder, 1, 28)).ok
    assert decoder.decode(t26).ok
    assert decoder.decode(_token(decoder, 1, 12)).reason == R.USED   # more than 15 back


def test_cache_gives_the_same_answers_as_a_cold_decode():
    warm = OpenPaygoDecoder(KEY, START, preferred_values=(7, 30), cache_size=6)
    # Ten values through a cache of 6 (4 pinned), jumps moving the anchor, replays.
    plan = ((7, 2), (1, 4), (30, 6), (2, 8), (3, 70), (4, 1), (5, 72), (6, 139), (6, 130),
            (7, 131), (8, 190), (1, 192), (9, 180), (30, 250), (999, 249), (998, 253), (7, 252),
            (7, 254))
    for value, count in plan:
        token = _token(warm, value, count)
        state = warm.state
        cold = OpenPaygoDecoder(KEY, START, state=OpenPaygoState(state.max_count, state.used))
        a = warm.decode(token)
        b = cold.decode(token)
        assert (a.ok, a.reason, a.kind, a.value, a.count) == (b.ok, b.reason, b.kind, b.value,
                                                              b.count), (value, count, a, b)
        if a.ok:
            warm.commit(a)
    assert warm.state.bases[:4] == [warm.chain.base(START, v) for v in (998, 999, 7, 30)]
    assert len(warm.state.bases) == 6


def test_decode_is_read_only_and_stale_results_are_refused():
    decoder = OpenPaygoDecoder(KEY, START)
    token = _token(decoder, 3, 2)
    before = decoder.state.pack()
    first = decoder.decode(token)
    second = decoder.decode(token)
    assert decoder.state.pack() == before
    decoder.commit(first)
    try:
        decoder.commit(second)
        raise AssertionError("a stale result was committed")
    except ValueError:
        pass
    try:
        decoder.commit(decoder.decode(token))
        raise AssertionError("a rejection was committed")
    except ValueError:
        pass


def test_pack_unpack_round_trip():
    for extended in (False, True):
        decoder = OpenPaygoDecoder(KEY, START, extended, preferred_values=(30,))
        for value, count in ((30, 2), (5, 60), (6, 61), (30, 120)):
            assert _enter(decoder, _token(decoder, value, count)).ok
        blob = decoder.state.pack()
        state = unpack_state(blob)
        assert state.pack() == blob
        assert (state.max_count, state.used, state.pinned) == (120, decoder.state.used, 3)
        assert state.bases == decoder.state.bases and state.anchors == decoder.state.anchors
        assert state.heads == decoder.state.heads
        restored = OpenPaygoDecoder(KEY, START, extended, state=state)
        assert restored.decode(_token(restored, 5, 122)).count == 122
        assert restored.decode(_token(restored, 6, 61)).reason == R.USED
        for bad in (b"", blob[:-1], b"\x02" + blob[1:], blob + b"\x00"):
            try:
                unpack_state(bad)
                raise AssertionError("bad state unpacked")
            except ValueError:
                pass
