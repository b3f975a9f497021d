"""The recharge pipeline under MicroPython and CPython: published codes, faults, lock-out."""

import binascii
import json

from protocol import sts_decoder as sts
from protocol import token_result as R

from ledger import CREDIT_MAX_WH
from recharge import Recharger
from records import RecordStore
from token_profiles import StsProfile

from tests.firmware.fakeflash import FakeFlash, InjectedFault

_DIR = __file__.rsplit("/", 1)[0]
_KEY = "f94b6ed353c3bfdb113e2d3a7ea3c41d"


def _credit_vectors():
    with open(_DIR + "/../vectors/sts_ea11_dkga04.json") as f:
        vectors = json.load(f)["vectors"]
    return [(v["token"], v["amount_tenths"]) for v in vectors
            if v.get("decoder_key_hex") == _KEY and v["token_class"] == 0 and v["token_subclass"] == 0]


def _boot(flash):
    state = sts.StsState(binascii.unhexlify(_KEY), ea=11, base_year=1993)
    return Recharger(RecordStore("/m/recharge", flash.open), StsProfile(state))


def test_published_codes_credit_once_and_survive_reboot():
    flash = FakeFlash()
    meter = _boot(flash)
    total = 0
    for code, tenths in _credit_vectors():
        out = meter.enter(code, 0)
        if tenths * 100 + total > CREDIT_MAX_WH:
            assert out.reason == R.OVERFLOW
            continue
        assert out.ok and out.credit_wh >= tenths * 100
        total += out.credit_wh
        assert meter.enter(code, 0).reason == R.USED
    assert total > 0
    again = _boot(flash)
    assert again.ledger.purchased_wh == total
    for code, _ in _credit_vectors():
        assert again.enter(code, 10).reason in (R.USED, R.OVERFLOW, R.LOCKED)


def test_fault_at_the_write_keeps_credit_exact():
    code, tenths = _credit_vectors()[1]
    for tear in (False, True):
        flash = FakeFlash()
        meter = _boot(flash)
        flash.arm(1, tear)
        try:
            meter.enter(code, 0)
            raise AssertionError("the fault did not reach the pipeline")
        except InjectedFault:
            pass
        assert meter.ledger.purchased_wh == 0
        meter = _boot(flash)
        assert meter.ledger.purchased_wh == 0
        out = meter.enter(code, 0)
        assert out.ok
        assert _boot(flash).ledger.purchased_wh == out.credit_wh
        assert _boot(flash).enter(code, 0).reason == R.USED


def test_lockout_survives_reboot():
    flash = FakeFlash()
    meter = _boot(flash)
    for _ in range(5):
        meter.enter("12345678901234567890", 100)
    assert meter.lockout.remaining(100) > 0
    rebooted = _boot(flash)
    assert rebooted.lockout.failures == 4  # the fifth entry met the lock, not the decoder
    assert rebooted.enter(_credit_vectors()[0][0], 101).reason == R.LOCKED


def test_a_forgeable_test_token_does_not_reset_the_lockout():
    with open(_DIR + "/../vectors/sts_ea11_dkga04.json") as f:
        test_code = [v["token"] for v in json.load(f)["vectors"] if v["token_class"] == 1][0]
    meter = _boot(FakeFlash())
    for _ in range(3):
        meter.enter("12345678901234567890", 100)
    assert meter.enter(test_code, 100).ok
    assert meter.lockout.failures == 3
    assert meter.enter("12345678901234567890", 100).lock_s == 60


class _NoRoom(StsProfile):
    """STS, but while `full` the decoder's modules find no room in the heap (a firmware transfer took it)."""

    full = False

    def decoder(self, state_bytes=None):
        if self.full:
            raise MemoryError("memory allocation failed")
        return StsProfile.decoder(self, state_bytes)


def test_a_code_with_no_room_to_decode_is_refused_busy_and_changes_nothing():
    flash = FakeFlash()
    profile = _NoRoom(sts.StsState(binascii.unhexlify(_KEY), ea=11, base_year=1993))
    meter = Recharger(RecordStore("/m/recharge", flash.open), profile)
    code = _credit_vectors()[0][0]
    profile.full = True
    before = bytes(meter.pack())
    for _ in range(6):  # more than the lock-out lets fail: not the customer's fault, so not counted
        out = meter.enter(code, 0)
        assert (out.ok, out.reason, out.message()) == (False, R.BUSY, R.MESSAGES[R.BUSY])
    assert bytes(meter.pack()) == before and meter.lockout.failures == 0
    profile.full = False
    assert meter.enter(code, 0).ok  # the same code, once there is room: it was never taken
    assert _boot(flash).enter(code, 1).reason == R.USED


def test_a_code_with_no_room_takes_it_from_what_can_wait_once():
    """An idle firmware transfer holds the heap (cosem_meter registers make_room): the code comes first."""
    profile = _NoRoom(sts.StsState(binascii.unhexlify(_KEY), ea=11, base_year=1993))
    meter = Recharger(RecordStore("/m/recharge", FakeFlash().open), profile)
    given_up = []

    def make_room():
        given_up.append(True)
        profile.full = False

    meter.make_room = make_room
    profile.full = True
    code = _credit_vectors()[0][0]
    assert meter.enter(code, 0).ok and given_up == [True] and meter.make_room is None
    profile.full = True  # full again, and nothing left to give up: refused, not lost
    assert meter.enter(_credit_vectors()[1][0], 0).reason == R.BUSY and given_up == [True]
