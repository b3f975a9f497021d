"""The whole meter on the virtual board: recharge by keypad, consumption, cut, restore, reboot.

Runs under MicroPython and CPython with the same code; time is virtual.
"""

import binascii

from protocol import sts_decoder as sts

import loadprofile
import password
from boards import sim
from meter import Meter
from token_profiles import StsProfile

from shadow import RingRecordStore

from tests.firmware.fakeflash import FakeBlockDevice
from tests.firmware.seekflash import SeekFlash as FakeFlash  # reads at a position (load profiles)

_KEY = binascii.unhexlify("f94b6ed353c3bfdb113e2d3a7ea3c41d")
CODE_25_6_KWH = "63638916334124550935"
CODE_1638_4_KWH = "45798100519745983712"


def _meter(flash, clock=None, shadow=None):
    hal = sim.make_hal("/m", clock or sim.SimClock(), opener=flash.open, shadow=shadow)
    meter = Meter(hal, StsProfile(sts.StsState(_KEY, ea=11, base_year=1993)))
    meter.boot(hal.clock.now_s(), hal.clock.ticks_ms())
    return meter


def screen_text(meter):
    """Every text on the meter's screen, drawn strip by strip as the app does (no full frame in the heap)."""
    from strip import Strip

    strip, shown = Strip(320, 20), []
    for y in range(0, 240, 20):
        strip.move(y)
        shown += meter.render(strip, meter.hal.clock.ticks_ms())
    return shown


def _run(meter, minutes):
    """Minutes of virtual time, one burst per minute held for the minute."""
    clock = meter.hal.clock
    for _ in range(minutes):
        clock.advance_ms(60000)
        meter.measure()
        meter.second(clock.now_s(), clock.ticks_ms())
        meter.tick(clock.ticks_ms())


def _type(meter, keys):
    clock = meter.hal.clock
    for k in keys:
        clock.advance_ms(300)
        meter.key(k, clock.now_s(), clock.ticks_ms())


def test_recharge_consume_cut_and_restore():
    flash = FakeFlash()
    meter = _meter(flash)
    relay = meter.hal.relay
    assert not relay.closed and meter.available_wh() == 0  # no credit at first boot
    _type(meter, "*" + CODE_25_6_KWH + "*")
    assert meter.result.ok and meter.ledger.purchased_wh == 25600
    _run(meter, 2)  # the relay waits out the minimum time between switchings
    assert relay.closed
    meter.hal.ac.load(2000)
    _run(meter, 60)
    assert 1990 <= meter.energy.import_wh <= 2010
    assert meter.ledger.purchased_wh == 25600 - meter.energy.import_wh
    _run(meter, 12 * 60)  # 25.6 kWh at 2 kW lasts 12.8 h
    assert not relay.closed and meter.available_wh() == 0
    assert relay.switchings[-2:] == [True, False]
    _type(meter, "*" + CODE_1638_4_KWH + "*")
    _run(meter, 2)
    assert relay.closed
    kinds = [e[2] for e in meter.log.events()]
    assert kinds.count(3) == 2  # two recharges logged
    # A reboot finds what was saved: credit and energy together, within one save step.
    energy = meter.energy.import_wh
    credit = meter.available_wh()
    again = _meter(flash, meter.hal.clock)
    assert energy - 50 <= again.energy.import_wh <= energy
    assert again.available_wh() - credit == energy - again.energy.import_wh
    assert again.hal.relay.closed


def test_wrong_codes_lock_the_keypad():
    meter = _meter(FakeFlash())
    for _ in range(4):
        _type(meter, "*" + "1" * 20 + "*")
    assert meter.result.reason == "CRC" and meter.recharger.lockout.remaining(meter.clock.run_s) > 0
    _type(meter, "*" + CODE_25_6_KWH + "*")
    assert meter.result.reason == "LOCKED" and meter.ledger.purchased_wh == 0


def test_admin_sets_subsidy_and_emergency_credit():
    flash = FakeFlash()
    meter = _meter(flash)
    _type(meter, "#0000#")             # factory password: must be changed first
    _type(meter, "4321#4321#")
    _type(meter, "BBBB#")              # CREDITO
    _type(meter, "50#")                # 5.0 kWh advanced
    _type(meter, "B#300#")             # SUBSIDIO 30.0 kWh a month
    _type(meter, "*#")                 # SALIR: save and leave
    assert meter.settings.get("credito_wh") == 5000 and meter.settings.get("subsidio_wh") == 30000
    meter.ledger.subsidy_month = 0     # the next reading starts a month: subsidy granted
    _run(meter, 2)
    assert meter.ledger.subsidy_wh == 30000 and meter.available_wh() == 35000
    assert meter.hal.relay.closed
    rebooted = _meter(flash, meter.hal.clock)
    assert rebooted.settings.get("subsidio_wh") == 30000
    assert password.unpack_password(rebooted.fsm.record).verify("4321")


def test_credit_survives_a_reformatted_file_system_through_the_shadow():
    flash, bdev = FakeFlash(), FakeBlockDevice(8, 512)
    meter = _meter(flash, shadow=RingRecordStore(bdev, 0, 8))
    _type(meter, "*" + CODE_25_6_KWH + "*")
    assert meter.ledger.purchased_wh == 25600
    flash.files.clear()  # rp2 reformats a file system that fails to mount
    again = _meter(flash, meter.hal.clock, RingRecordStore(bdev, 0, 8))
    assert again.ledger.purchased_wh == 25600
    _type(again, "*" + CODE_25_6_KWH + "*")
    assert again.result.reason == "USED"  # the TID memory came back too


def test_a_watchdog_reset_is_logged_as_such():
    flash = FakeFlash()
    _meter(flash)
    hal = sim.make_hal("/m", sim.SimClock(), reset_cause=3, opener=flash.open)
    meter = Meter(hal, StsProfile(sts.StsState(_KEY, ea=11, base_year=1993)))
    meter.boot(hal.clock.now_s(), hal.clock.ticks_ms())
    codes = [e[2] for e in meter.log.events()]
    assert codes[0] == 1 and 2 in codes  # power up first, then the watchdog reset


def test_main_screen_warns_of_low_credit_in_words():
    from strip import Strip

    meter = _meter(FakeFlash())
    _type(meter, "*" + CODE_25_6_KWH + "*")
    meter.set_setting("low_credit_wh", 30000)  # 25.6 kWh is now low
    _run(meter, 2)
    shown = meter.render(Strip(320, 40), meter.hal.clock.ticks_ms())
    assert "Credito bajo: recargue pronto" in shown


def test_battery_chemistry_sets_the_charge_table():
    flash = FakeFlash()
    meter = _meter(flash)
    meter.hal.battery.mv = 25600
    lead = meter.battery.soc_percent()
    meter.set_setting("battery", "lifepo4")
    again = _meter(flash, meter.hal.clock)
    assert lead == 100 and again.battery.soc_percent() == 70  # 25.6 V: full lead-acid, 70 % LiFePO4


def test_a_day_fills_the_load_profiles_once_per_boundary():
    flash = FakeFlash()
    meter = _meter(flash)  # 2027-01-01 00:00; readings once a simulated minute, as the simulator does
    _type(meter, "*" + CODE_25_6_KWH + "*")
    meter.hal.ac.load(500)  # 12 kWh in the day: the credit lasts
    _run(meter, 24 * 60)
    quarter, hourly = meter.profiles
    start = 852076800
    for profile, period, rows in ((quarter, 900, 96), (hourly, 3600, 24)):
        assert profile.entries == rows
        table = [profile.row(i) for i in range(rows)]
        assert [r[0] for r in table] == [start + period * (i + 1) for i in range(rows)]
        imports = [r[1 + profile.columns.index("import_wh")] for r in table]
        assert all(b > a for a, b in zip(imports, imports[1:])), imports
    assert 110 <= quarter.row(1)[1] - quarter.row(0)[1] <= 140  # 500 W for 15 minutes
    assert all(abs(quarter.row(i)[3] - meter.hal.ac.vrms_mv) < 3000 for i in range(96))  # the inverter's mV
    snapshot = meter.snapshot()  # the last second() captured both: the columns hold what snapshot() names
    assert quarter.row(95)[1:] == tuple(snapshot[name] for name in loadprofile.QUARTER_COLUMNS)
    assert hourly.row(23)[1:] == tuple(snapshot[name] for name in loadprofile.HOURLY_COLUMNS)
    credits = [hourly.row(i)[5] for i in range(24)]
    assert all(b < a for a, b in zip(credits, credits[1:])) and hourly.row(0)[4] > 20000  # credit; battery mV
    again = _meter(flash, meter.hal.clock)  # a reboot finds them, and the next boundary comes once
    assert [p.entries for p in again.profiles] == [96, 24]
    assert again.profiles[0].row(95) == quarter.row(95)
    _run(again, 15)
    assert [p.entries for p in again.profiles] == [97, 24]


def _admin_menu(meter):
    _type(meter, "#0000#4321#4321#")   # factory password, changed at the first login: the menu


def _open(meter, label):
    """From the admin menu, down with B to the item labelled `label`, and open it."""
    while meter.fsm.view().items[meter.fsm.view().selected] != label:
        _type(meter, "B")
    _type(meter, "#")


def test_salir_logs_each_setting_by_its_own_code_whatever_the_menu_order():
    import sys

    from protocol import events

    from tests.firmware.test_keypad_fsm import with_the_menu

    def session():
        meter = _meter(FakeFlash())
        _admin_menu(meter)
        for label, typed in (("UID", "900123456#"), ("DID", "1098765432#"), ("FECHA", "20260301#"),
                             ("CREDITO", "50#"), ("SUBSIDIO", "300#")):
            _open(meter, label)
            _type(meter, typed)
        assert "+5.0 kWh" in screen_text(meter) and "30.0 kWh" in screen_text(meter)
        _type(meter, "*#")                  # SALIR, wherever it is: one record write
        assert "admin_fields" not in sys.modules
        _type(meter, "#4321#")              # the menu shows what was saved, and the advance owed
        shown = screen_text(meter)
        assert "900123456" in shown and "2026-03-01" in shown and "5.0 kWh" in shown
        s = meter.settings
        return ((s.get("uid"), s.get("did"), s.get("fecha"), s.get("subsidio_wh"), s.get("credito_wh")),
                sorted([(e[2], e[3]) for e in meter.log.events() if e[2] in (events.ADMIN, events.ADVANCE)]))

    assert with_the_menu(False, session) == with_the_menu(True, session) == (
        ("900123456", "1098765432", 20260301, 30000, 5000),
        [(events.ADMIN, 0), (events.ADMIN, 1), (events.ADMIN, 2), (events.ADMIN, 4),
         (events.ADMIN, 6), (events.ADVANCE, 5000)])  # 6: the new password
    assert [events.ADMIN_SETTINGS[key] for key in ("uid", "did", "fecha", "subsidio_wh")] == [0, 1, 2, 4]


def test_calibration_points_at_one_voltage_are_refused_and_the_meter_runs_on():
    meter = _meter(FakeFlash())
    _type(meter, "*" + CODE_25_6_KWH + "*")
    _run(meter, 2)
    before = meter.power.calibration.v_gain_uv
    _admin_menu(meter)
    _type(meter, "BBBBBB#")            # CALIBRACION
    _type(meter, "600#")               # the low point at 120 V: the technician forgot to change the source
    _type(meter, "1200#")              # the high point at the same 120 V
    assert meter.power.calibration.v_gain_uv == before
    assert "CALIBRACION: puntos muy cercanos" in screen_text(meter)
    meter.hal.ac.load(500)
    _run(meter, 60)                    # still metering and charging
    assert 490 <= meter.energy.import_wh <= 510 and meter.ledger.purchased_wh < 25600
    assert meter.fsm.view().mode == "MAIN"  # the admin session timed out meanwhile
    _type(meter, "#4321#BBBBBB#")      # a new attempt at two voltages works
    meter.hal.ac.vrms_mv = 60000
    _run(meter, 1)
    _type(meter, "605#")
    meter.hal.ac.vrms_mv = 120000
    _run(meter, 1)
    _type(meter, "1210#")
    assert meter.power.calibration.v_gain_uv != before
    _run(meter, 1)
    assert abs(meter.reading.vrms_mv - 121000) < 300
