"""The STS decoder and the recharge pipeline as a meter runs them: properties and faults.

Tokens are built by the vending side (host/sts), decoded by the meter code
(protocol/, firmware/lib) under CPython; test_mp_agreement.py checks that
MicroPython decodes the same way.
"""

import random

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsm.host.sts import tokens
from opsm.protocol import sts_decoder as sts
from opsm.protocol import token_result as R
from opsm.protocol.lockout import FREE_FAILURES, Lockout
from opsm.protocol.sts_amount import MAX_TENTHS, decode_amount, encode_amount

from ledger import CREDIT_MAX_WH  # firmware/lib, on the path through tests/conftest.py
from recharge import Recharger
from records import RecordStore
from token_profiles import StsProfile

from tests.firmware.fakeflash import FakeFlash, InjectedFault

KEY16 = bytes(range(16))
KEY8 = bytes.fromhex("e653341f9d5bf36f")
NEW16 = bytes(range(100, 116))
EAS = [(11, KEY16), (9, KEY8)]
FAST = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])


def meter(ea=11, key=KEY16, **kw):
    return sts.StsDecoder(sts.StsState(key, ea=ea, **kw))


def credit(tid, tenths=100, ea=11, key=KEY16, rnd=0):
    return tokens.amount_token(0, 0, tid, tenths, rnd, ea, key)


@pytest.mark.parametrize("ea,key", EAS)
@given(tid=st.integers(0, 2**24 - 1), tenths=st.integers(0, MAX_TENTHS), rnd=st.integers(0, 15))
@FAST
def test_credit_round_trip(ea, key, tid, tenths, rnd):
    result = meter(ea, key).decode(credit(tid, tenths, ea, key, rnd))
    assert result.ok and result.kind == sts.CREDIT and result.tid == tid
    assert result.amount == decode_amount(encode_amount(tenths)) >= tenths


@pytest.mark.parametrize("ea,key", EAS)
@given(subclass=st.sampled_from([0, 1, 2, 5, 6]), tid=st.integers(0, 2**24 - 1),
       value=st.integers(0, 0xFFFF))
@FAST
def test_management_round_trip(ea, key, subclass, tid, value):
    result = meter(ea, key).decode(tokens.tid_token(2, subclass, tid, value, 3, ea, key))
    assert result.ok and result.tid == tid and result.value == value
    assert result.kind == {0: sts.MAX_POWER, 1: sts.CLEAR_CREDIT, 2: sts.TARIFF, 5: sts.CLEAR_TAMPER,
                           6: sts.PHASE_UNBALANCE}[subclass]


@given(subclass=st.sampled_from([0, 1]), control=st.integers(0, 2**28 - 1))
@FAST
def test_test_tokens_round_trip(subclass, control):
    code = tokens.meter_test_token(subclass, 0, control)
    assert tokens.parse(code)["control"] == "%x" % control
    result = meter().decode(code)
    assert result.ok and result.kind == sts.TEST


@given(code=st.text(alphabet="0123456789", min_size=20, max_size=20))
@settings(max_examples=400, deadline=None)
def test_random_codes_never_crash(code):
    result = meter().decode(code)
    assert result.ok or result.reason in R.REASONS


@given(code=st.text(max_size=30))
@settings(max_examples=200, deadline=None)
def test_garbage_is_a_format_error(code):
    result = meter().decode(code)
    assert result.ok or result.reason in R.REASONS
    if len(code) != 20 or not all("0" <= c <= "9" for c in code):
        assert result.reason == R.FORMAT


def test_tid_rules_used_old_expired_ddtk():
    d = meter()
    first = d.decode(credit(1000))
    d.commit(first)
    assert d.decode(credit(1000, rnd=7)).reason == R.USED  # another code, same TID
    for tid in range(2000, 2000 + sts.TID_MEMORY):
        d.commit(d.decode(credit(tid)))
    assert len(d.state.tids) == sts.TID_MEMORY and d.state.tids[0] == 2000
    assert d.decode(credit(999)).reason == R.OLD  # older than all of a full memory
    assert d.decode(credit(1999)).reason == R.OLD
    assert d.decode(credit(2000 + sts.TID_MEMORY)).ok
    young = meter()
    for tid in (5000, 6000):
        young.commit(young.decode(credit(tid)))
    assert young.decode(credit(10)).ok  # memory not full: an older code bought earlier still works
    expired = meter(ken=3)
    assert expired.decode(credit((3 << 16) + 5)).ok
    assert expired.decode(credit((4 << 16) + 5)).reason == R.KEY_EXPIRED
    assert meter(kt=sts.KT_DEFAULT).decode(credit(5)).reason == R.DDTK
    assert meter(kt=sts.KT_DEFAULT).decode(tokens.tid_token(2, 0, 5, 1, 0, 11, KEY16)).ok


def test_wrong_key_and_unsupported_types():
    assert meter(key=NEW16).decode(credit(10)).reason == R.CRC
    assert meter().decode(tokens.tid_token(2, 7, 10, 1, 0, 11, KEY16)).reason == R.FUNCTION
    assert meter().decode(tokens.tid_token(0, 3, 10, 1, 0, 11, KEY16)).reason == R.FUNCTION
    assert meter().decode(tokens.meter_test_token(0, 42, 1)).reason == R.RANGE  # another maker's test token


@given(st.data())
@settings(max_examples=40, deadline=None)
def test_replaying_any_accepted_token_is_used(data):
    d = meter()
    accepted = []
    for _ in range(data.draw(st.integers(1, 12))):
        code = credit(data.draw(st.integers(0, 5000)), data.draw(st.integers(1, 5000)),
                      rnd=data.draw(st.integers(0, 15)))
        result = d.decode(code)
        if result.ok:
            d.commit(result)
            accepted.append(code)
        else:
            assert result.reason in (R.USED, R.OLD)
    for code in accepted:
        assert d.decode(code).reason == R.USED


@pytest.mark.parametrize("ea,old,new", [(11, KEY16, NEW16), (9, KEY8, bytes(range(8)))])
@given(order=st.permutations([0, 1, 2, 3]), ken=st.integers(0, 255), krn=st.integers(1, 9),
       ti=st.integers(0, 99), kt=st.integers(1, 3))
@FAST
def test_key_change_installs_only_when_complete(ea, old, new, order, ken, krn, ti, kt):
    d = meter(ea, old)
    d.commit(d.decode(credit(50, ea=ea, key=old)))
    kcts = tokens.key_change_set(ea, old, new, krn, kt, ti, ken, False, 123457)
    sequence = [kcts[i] for i in order if i < len(kcts)]
    for n, code in enumerate(sequence, 1):
        result = d.decode(code)
        assert result.ok
        d.commit(result)
        if n < len(sequence):
            assert result.kind == sts.KEY_SECTION and d.state.key == old
            assert d.decode(credit(60, ea=ea, key=new)).reason == R.CRC
    state = d.state
    assert result.kind == sts.KEY_CHANGE
    assert (state.key, state.krn, state.kt, state.ti, state.ken) == (new, krn, kt, ti, ken)
    if ea == 11:
        assert state.sgc == 123457
    assert state.tids == [50] and not state.pending
    assert d.decode(credit(70, ea=ea, key=old)).reason == R.CRC
    expected = R.DDTK if kt == sts.KT_DEFAULT else R.USED  # a default key takes no credit
    assert d.decode(credit(50, ea=ea, key=new)).reason == expected


def test_key_change_rollover_and_key_type():
    d = meter(base_year=1993)
    d.commit(d.decode(credit(2**24 - 10)))
    for code in tokens.key_change_set(11, KEY16, NEW16, 2, 2, 1, 255, True, 0):
        d.commit(d.decode(code))
    assert d.state.base_year == 2014 and d.state.tids == []
    assert d.decode(credit(5, key=NEW16)).ok
    with pytest.raises(ValueError, match="kt"):
        tokens.key_change_set(11, KEY16, NEW16, 2, 0, 1)
    # A KT 0 section built by hand is refused by the meter.
    kct1 = tokens.build(2, dict(subclass=3, kenho=15, krn=2, ro=False, res=False, kt=0, nkho=1), 11, KEY16)
    assert meter().decode(kct1).reason == R.KEY_TYPE


def test_state_pack_round_trip():
    d = meter(ken=200, base_year=2014, sgc=123457, krn=4, ti=7)
    for tid in random.Random(1).sample(range(100000), 80):
        result = d.decode(credit(tid))
        if result.ok:
            d.commit(result)
    d.commit(d.decode(tokens.key_change_set(11, KEY16, NEW16, 5, 2, 1)[1]))
    data = d.state.pack()
    again = sts.unpack_state(data)
    assert again.pack() == data
    assert again.tids == d.state.tids and again.pending == d.state.pending
    with pytest.raises(ValueError):
        sts.unpack_state(data[:-1])


# --- lock-out and persistence through the firmware recharge pipeline -----------------


def new_recharger(flash):
    store = RecordStore("/state/recharge", flash.open)
    return Recharger(store, StsProfile(sts.StsState(KEY16, ea=11)))


def test_lockout_after_a_run_of_wrong_entries_survives_reboot():
    flash = FakeFlash()
    r = new_recharger(flash)
    rng = random.Random(7)
    now = 1000
    locks = []
    for _ in range(FREE_FAILURES + 3):
        out = r.enter("".join(rng.choice("0123456789") for _ in range(20)), now)
        assert not out.ok
        locks.append(out.lock_s)
        now += out.lock_s
    assert locks[:FREE_FAILURES] == [0] * FREE_FAILURES
    assert locks[FREE_FAILURES:] == [60, 120, 240]  # grows with each failure
    r.enter("12345", now)  # starts another, longer lock
    rebooted = new_recharger(flash)
    assert rebooted.lockout.remaining(now + 1) > 0
    assert rebooted.enter(credit(10), now + 1).reason == R.LOCKED
    later = now + rebooted.lockout.remaining(now) + 1
    out = rebooted.enter(credit(10), later)
    assert out.ok and out.credit_wh == 10000 and rebooted.lockout.failures == 0


def test_lockout_caps_at_a_day():
    lock = Lockout()
    for _ in range(60):
        lock.failure(0)
    assert lock.remaining(0) == 86400


def test_overflow_leaves_credit_unchanged():
    flash = FakeFlash()
    r = new_recharger(flash)
    assert r.enter(credit(1, MAX_TENTHS), 0).reason == R.OVERFLOW
    assert r.ledger.purchased_wh == 0
    big = CREDIT_MAX_WH // 100 // 2
    assert r.enter(credit(2, big), 0).ok
    assert r.enter(credit(3, big + 1000), 0).reason == R.OVERFLOW
    assert r.enter(credit(3, 10), 0).ok


@pytest.mark.parametrize("tear", [False, True])
@pytest.mark.parametrize("first_save", [False, True])
def test_fault_at_every_write_of_a_credit_token(tear, first_save):
    code = credit(500, 123)
    flash = FakeFlash()
    r = new_recharger(flash)
    if not first_save:
        assert r.enter(credit(400, 50), 0).ok
    before = r.ledger.purchased_wh
    flash.arm(1, tear)
    with pytest.raises(InjectedFault):
        r.enter(code, 0)
    assert r.ledger.purchased_wh == before  # in memory: what reached flash
    rebooted = new_recharger(flash)
    assert rebooted.ledger.purchased_wh == before
    assert rebooted.enter(code, 0).ok  # not lost: the customer can enter it again
    assert rebooted.ledger.purchased_wh == before + 12300
    assert rebooted.enter(code, 0).reason == R.USED  # and not doubled
    assert new_recharger(flash).ledger.purchased_wh == before + 12300


@pytest.mark.parametrize("tear", [False, True])
def test_fault_at_every_write_of_a_key_change(tear):
    kcts = tokens.key_change_set(11, KEY16, NEW16, 2, 2, 1, 255, False, 7)
    for failing in range(len(kcts)):
        flash = FakeFlash()
        r = new_recharger(flash)
        assert r.enter(credit(10), 0).ok
        for i, code in enumerate(kcts):
            if i == failing:
                flash.arm(1, tear)
                with pytest.raises(InjectedFault):
                    r.enter(code, 0)
                r = new_recharger(flash)
                assert sts.unpack_state(r.state).key == KEY16  # never half a key
                assert r.enter(code, 0).ok
            else:
                assert r.enter(code, 0).ok
            key = sts.unpack_state(new_recharger(flash).state).key
            assert key == (NEW16 if i == len(kcts) - 1 else KEY16)
        assert r.ledger.purchased_wh == 10000
        assert r.enter(credit(20, key=NEW16), 0).ok
