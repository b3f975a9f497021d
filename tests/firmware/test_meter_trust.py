"""No clock change, power cut or wrong secret gives credit or lifts a lock (MicroPython and CPython).

Each test replays a finding of the attack on the meter as shipped (issue 13): the clock set back
and forth across a month over a management association, a clock moved forward to lift a lock-out,
an RTC that lost power, unlimited wrong DLMS secrets, a shared factory secret, HLS keys no one
can change.
"""

import binascii

from protocol import acse, civil, event_names, events
from protocol import cosem_client as C
from protocol import cosem_server as S
from protocol import registers as M
from protocol import sts_decoder as sts

import credentials
from boards import sim
from cosem_meter import CosemMeter
from meter import Meter
from meterclock import MAX_BACK_S
import password
from token_profiles import StsProfile

from tests.asserts import raises
from tests.firmware.seekflash import SeekFlash as FakeFlash
from tests.firmware.test_meter import _run, _type, screen_text

_KEY = binascii.unhexlify("f94b6ed353c3bfdb113e2d3a7ea3c41d")
CODE_25_6_KWH = "63638916334124550935"
SECRET = b"meter-0042-lls"
EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
KEK = binascii.unhexlify("000102030405060708090A0B0C0D0E0F")
JAN_31_2358 = civil.seconds(2027, 1, 31, 23, 58) + 300 * 60  # local 23:58 in UTC-5 (the default offset)


def _provisioned():
    creds = credentials.Credentials(None, EK, AK, KEK)
    creds.set_lls(SECRET)
    return creds


def _meter(flash, clock=None, reset_cause=1):
    hal = sim.make_hal("/m", clock or sim.SimClock(JAN_31_2358), opener=flash.open, reset_cause=reset_cause)
    meter = Meter(hal, StsProfile(sts.StsState(_KEY, ea=11, base_year=1993)), provisioned=_provisioned())
    meter.boot(hal.clock.now_s(), hal.clock.ticks_ms())
    return meter


def _model(meter):
    clock = meter.hal.clock
    return CosemMeter(meter, lambda: (clock.now_s(), clock.ticks_ms()))


def _logged(meter, code):
    return [e for e in meter.log.events() if e[2] == code]


def _manager(meter, secret=SECRET):
    """An LLS association on the meter's own server, as its optical port makes it."""
    model = _model(meter)
    server = S.CosemServer(model, model, S.meter_keys(meter.dlms_access().credentials, "42"), guard=model)
    association = server.association()
    client = C.CosemClient(lambda apdu: association.handle(17, apdu), 17, secret)
    return server, client


def _set_clock(client, seconds):
    data = bytearray()
    from protocol import axdr

    axdr.put(data, axdr.OCTET_STRING, axdr.date_time(seconds, 0))
    try:
        client.set(M.CLOCK, M.CLOCK_OBIS, 2, bytes(data))
        return True
    except C.CosemError:
        return False


def test_clock_rocked_across_a_month_boundary_grants_the_subsidy_once():
    flash = FakeFlash()
    meter = _meter(flash)
    meter.set_setting("subsidio_wh", 30000)
    meter.ledger.subsidy_month = 0
    _run(meter, 1)                          # January's 30 kWh
    meter.hal.ac.load(2000)
    _, client = _manager(meter)
    client.associate()
    granted = len(_logged(meter, events.MONTH))
    used_before = meter.energy.import_wh
    crossed = 0
    for _ in range(6):                      # forward past midnight, use the subsidy, back, forward...
        assert _set_clock(client, meter.hal.clock.now_s() + 120)
        _run(meter, 2)
        crossed += _set_clock(client, meter.hal.clock.now_s() - 240)
    client.release()
    assert crossed == 1                     # back into January once (a small step), then refused
    months = _logged(meter, events.MONTH)
    assert len(months) == granted + 1       # February once, January never again
    delivered = meter.energy.import_wh - used_before
    assert 350 <= delivered <= 450          # 2 kW for 6 x 2 minutes
    assert 30000 - meter.ledger.subsidy_wh == delivered  # all of it from February's one allowance
    assert meter.ledger.purchased_wh == 0
    refused = _logged(meter, events.CLOCK_REFUSED)
    assert refused and all(event_names.CLOCK_REFUSALS[e[3]].startswith("back again") for e in refused)


def test_a_step_back_larger_than_the_bound_is_refused_and_logged():
    meter = _meter(FakeFlash())
    _, client = _manager(meter)
    client.associate()
    now = meter.hal.clock.now_s()
    assert not _set_clock(client, now - MAX_BACK_S - 60)
    assert meter.hal.clock.now_s() == now
    assert event_names.CLOCK_REFUSALS[_logged(meter, events.CLOCK_REFUSED)[-1][3]] == "too far back"
    assert _set_clock(client, now - 120)            # a small correction is fine, once
    assert not _set_clock(client, now - 240)        # and not again the same day of running time
    assert _set_clock(client, now + 86400 * 30)     # forward: a clock that stopped, set right
    assert not _set_clock(client, civil.seconds(2024, 6, 1))  # before the firmware existed
    client.release()


def test_moving_the_clock_forward_does_not_lift_the_token_lockout():
    meter = _meter(FakeFlash())
    for _ in range(4):
        _type(meter, "*" + "1" * 20 + "*")
    assert meter.result.lock_s == 60
    _, client = _manager(meter)
    client.associate()
    assert _set_clock(client, meter.hal.clock.now_s() + 7 * 86400)  # a week later, by the clock
    client.release()
    _type(meter, "*" + CODE_25_6_KWH + "*")
    assert meter.result.reason == "LOCKED" and meter.ledger.purchased_wh == 0
    _run(meter, 1)                                   # a minute of running time
    _type(meter, "*" + CODE_25_6_KWH + "*")
    assert meter.result.ok and meter.ledger.purchased_wh == 25600


def test_an_rtc_that_lost_power_resumes_from_the_persisted_time():
    flash = FakeFlash()
    meter = _meter(flash)
    meter.set_setting("subsidio_wh", 30000)
    meter.ledger.subsidy_month = 0
    _run(meter, 20)                                  # into February: its subsidy
    meter.hal.ac.load(1000)
    _run(meter, 30)
    subsidy = meter.ledger.subsidy_wh
    for _ in range(4):
        _type(meter, "*" + "1" * 20 + "*")           # locked for 60 s of running time
    when = meter.hal.clock.now_s()
    meter.save(meter.hal.clock.ticks_ms())
    clock = meter.hal.clock
    clock.lose_power()                               # a Pico: the RTC restarts at 2021-01-01
    again = _meter(flash, clock)
    assert when - 60 <= again.hal.clock.now_s() <= when  # never earlier than what was persisted
    assert len(_logged(again, events.MONTH)) == len(_logged(meter, events.MONTH))
    assert again.ledger.subsidy_wh == subsidy and _logged(again, events.CLOCK_RESUMED)
    assert 0 < again.recharger.lockout.remaining(again.clock.run_s) <= 60


def test_the_admin_menu_sets_the_clock_and_refuses_a_far_step_back():
    meter = _meter(FakeFlash())
    _type(meter, "#0000#4321#4321#")               # the factory password is changed first
    _type(meter, "BBB#")                             # HORA
    _type(meter, "202703151030#")                    # local time, UTC-5
    assert meter.hal.clock.now_s() // 60 == civil.seconds(2027, 3, 15, 15, 30) // 60
    assert event_names.BY[_logged(meter, events.CLOCK_SET)[-1][4]] == "keypad"
    _type(meter, "#202701011030#")                   # months back: refused, and the screen says why
    assert meter.fsm.view().message.startswith("HORA: rechazada")
    assert meter.hal.clock.now_s() // 60 == civil.seconds(2027, 3, 15, 15, 30) // 60


def test_wrong_dlms_secrets_lock_the_meter_out_for_a_growing_time_across_reboots():
    flash = FakeFlash()
    meter = _meter(flash)
    server, _ = _manager(meter)
    refused = 0
    for _ in range(1000):                            # a guessing run: only the first four are looked at
        association = server.association()
        aare = acse.parse_aare(association.handle(17, acse.aarq(1, acse.MECHANISM_LLS,
                                                                  acse.initiate_request(0x1019, 512), b"guess-123")))
        refused += aare["result"] == acse.REJECTED_PERMANENT
    assert refused == 1000 and meter.dlms_access().lockout.failures == 4
    assert _logged(meter, events.ACCESS_LOCKOUT)[-1][3] == 60
    _, right = _manager(meter)
    try:
        right.associate()
        assert False, "the right secret during a lock-out"
    except C.CosemError as exc:
        assert exc.code == acse.DIAG_AUTHENTICATION_FAILURE
    again = _meter(flash, meter.hal.clock)           # a reboot keeps the lock
    assert again.dlms_access().wait() > 0
    _run(again, 2)
    _, right = _manager(again)
    right.associate()
    right.release()
    assert again.dlms_access().lockout.failures == 0


def test_each_meter_has_its_own_secret_and_none_by_default():
    flash = FakeFlash()
    hal = sim.make_hal("/m", sim.SimClock(JAN_31_2358), opener=flash.open)
    bare = Meter(hal, StsProfile(sts.StsState(_KEY, ea=11, base_year=1993)))
    bare.boot(hal.clock.now_s(), hal.clock.ticks_ms())
    assert bare.dlms_access().credentials.lls is None and not bare.dlms_access().credentials.hls
    for secret in (b"OPSM-SP-230", b"", b"00000000"):  # no factory default opens a management association
        _, client = _manager(bare, secret)
        assert raises(C.CosemError, client.associate)
    assert SECRET not in flash.files.get("/m/dlms.a", b"") + flash.files.get("/m/dlms.b", b"")


def test_the_lls_secret_changes_from_the_admin_menu():
    meter = _meter(FakeFlash())
    _type(meter, "#0000#4321#4321#")
    _type(meter, "BBBBBBBB#")                        # DLMS
    _type(meter, "1234#")
    assert meter.fsm.view().message == "DLMS: 8-16 digitos"
    _type(meter, "5678901#")
    assert meter.dlms_access().verify(b"12345678901") and not meter.dlms_access().verify(SECRET)
    change = _logged(meter, events.ADMIN)[-1]
    assert (event_names.ADMIN_CHANGES[change[3]], event_names.BY[change[4]]) == ("LLS secret (b: who)", "keypad")


def test_a_metering_fault_opens_the_relay_until_a_reading_goes_through():
    meter = _meter(FakeFlash())
    _type(meter, "*" + CODE_25_6_KWH + "*")
    _run(meter, 2)
    assert meter.hal.relay.closed
    meter.metering_failed(meter.hal.clock.now_s())
    assert not meter.hal.relay.closed                # at once, whatever the anti-chatter time
    assert "FALLA MEDIDOR" in screen_text(meter)
    _run(meter, 2)
    assert meter.hal.relay.closed and not meter.relay.fault


def _power_cut_at_every_write(operation, check):
    """Run `operation(meter, model)` on a meter that loses power at its 1st, 2nd... flash write (torn),
    boot it again from that flash and `check(state, after, cut)`, state being what the meter held
    before; also once without a cut. Returns how many cuts were tried."""
    base = FakeFlash()
    meter = _meter(base)
    _type(meter, "*" + CODE_25_6_KWH + "*")
    _run(meter, 2)
    meter.save(meter.hal.clock.ticks_ms())
    image, start = dict(base.files), meter.hal.clock.now_s()
    cuts = 0
    for k in range(1, 30):
        flash = FakeFlash()
        flash.files = dict(image)
        clock = sim.SimClock(start)
        before = _meter(flash, clock)
        state = (before.hal.clock.now_s(), before.ledger.purchased_wh, before.dlms_access().lockout.failures)
        flash.arm(k, tear=True)
        cut = False
        try:
            operation(before, _model(before))
        except OSError:  # the fault injected at write k: the power went
            cut = True
        flash.fail_at = 0
        check(state, _meter(flash, clock), cut)
        if not cut:
            return cuts
        cuts += 1
    raise AssertionError("the operation never ended")


def test_a_power_cut_at_any_write_of_a_clock_secret_or_key_change_loses_nothing_and_grants_nothing():
    new_keys = (bytes(16), bytes(range(16, 32)), bytes(range(32, 48)))

    def change(meter, model):
        model.set_clock(meter.hal.clock.now_s() + 86400)
        model.change_lls_secret(b"new-secret-0042")
        model.change_hls_keys(*new_keys)
        model.access_result(False)
        meter.enter_code("1" * 20, meter.hal.clock.now_s(), meter.hal.clock.ticks_ms())

    def check(state, after, cut):
        was_s, purchased, failures = state
        assert after.hal.clock.now_s() >= was_s                       # never earlier than before
        assert after.ledger.purchased_wh == purchased                 # no credit made or lost
        access = after.dlms_access()
        assert access.verify(SECRET) or access.verify(b"new-secret-0042")  # one secret, never none
        assert access.credentials.ek in (EK, new_keys[0]) and access.lockout.failures >= failures
        if not cut:
            assert access.verify(b"new-secret-0042") and access.credentials.kek == new_keys[2]
            assert access.lockout.failures == failures + 1 and after.recharger.lockout.failures == 1

    assert _power_cut_at_every_write(change, check) >= 6


def test_records_written_before_running_time_keep_their_failures_and_lose_their_wall_clock_locks():
    flash = FakeFlash()
    meter = _meter(flash)
    for _ in range(4):
        _type(meter, "*" + "1" * 20 + "*")   # the 4th locks
    _type(meter, "#1111#")
    # what a meter of the previous firmware wrote: the state record version 3 (no clock part, the
    # lock-out in wall-clock seconds) and the admin record as lock-out + password, no magic
    state = meter.recharger.pack()
    parts, pos = [], 2
    while pos < len(state):
        size = int.from_bytes(state[pos:pos + 2], "big")
        parts.append(bytes(state[pos + 2:pos + 2 + size]))
        pos += 2 + size
    parts[2] = parts[2][:2] + (meter.hal.clock.now_s() + 3600).to_bytes(5, "big")  # locked an hour, by the clock
    old = bytearray((3, state[1]))
    for part in parts[:5]:
        old += len(part).to_bytes(2, "big") + part
    meter.recharger.store.save(old)
    admin = meter.fsm.lockout
    admin.until = meter.hal.clock.now_s() + 3600
    meter.record("admin", True).save(admin.pack() + meter.fsm.record)
    again = _meter(flash, meter.hal.clock)
    assert again.recharger.lockout.failures == 4 and again.recharger.lockout.remaining(again.clock.run_s) == 0
    assert again.fsm.lockout.failures == 1 and again.fsm.lockout.remaining(again.clock.run_s) == 0
    assert again.energy.import_wh == meter.energy.import_wh and password.unpack_password(again.fsm.record).verify("0000")
    _type(again, "*" + "1" * 20 + "*")   # one more failure locks at once: the count was kept
    assert again.result.lock_s > 0
