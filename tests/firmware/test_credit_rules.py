"""The product sheet's credit rules and what the meter says about them (MicroPython and CPython).

CREDITO is an advance until the next recharge, deducted from it at once (seed
opsm-sp-230-meter-and-vending.es.txt); SALIR saves every field or none; every refusal and
every ended session says why on the screen, in Spanish, inside the screen; the field settings
(entity, friendly hours, thresholds, UTC offset) are set over a management association.
"""

from protocol import axdr, events
from protocol import cosem_client as C
from protocol import registers as M
from protocol import token_result as R

import keypad_fsm as kf
import screens
from strip import Strip

from tests.firmware.seekflash import SeekFlash as FakeFlash
from tests.firmware.test_meter import CODE_1638_4_KWH, CODE_25_6_KWH, _meter, _run, _type, screen_text
from tests.firmware.test_meter_trust import _manager, _power_cut_at_every_write

ADMIN = "#0000#4321#4321#"          # factory password, changed at first login
GRANT_5_KWH = "BBBB#50#*#"          # CREDITO 5.0 kWh, SALIR (from the menu's first item)


def _wait(meter, ms):
    meter.hal.clock.advance_ms(ms)
    meter.tick(meter.hal.clock.ticks_ms())


def _logged(meter, code):
    return [e for e in meter.log.events() if e[2] == code]


def test_credito_is_an_advance_now_deducted_in_full_from_the_next_recharge():
    meter = _meter(FakeFlash())
    assert meter.available_wh() == 0
    _type(meter, ADMIN + GRANT_5_KWH)
    assert meter.available_wh() == 5000 and meter.ledger.owed_wh == 5000  # at once, no recharge needed
    assert _logged(meter, events.ADVANCE)[-1][3:] == (5000, 50)
    _run(meter, 2)
    assert meter.hal.relay.closed
    meter.hal.ac.load(1000)
    _run(meter, 60)                                                    # ~1 kWh of the advance used
    used = meter.energy.import_wh
    assert meter.available_wh() == 5000 - used
    _type(meter, "*" + CODE_25_6_KWH + "*")
    assert meter.result.ok and meter.result.repaid_wh == 5000         # the whole advance, used or not
    assert meter.available_wh() == 5000 - used + 25600 - 5000 and meter.ledger.owed_wh == 0
    shown = screen_text(meter)
    assert "+25.60" in shown and "Descontado del anticipo: -5.00 kWh" in shown
    assert _logged(meter, events.RECHARGE)[-1][3:] == (25600, 50)     # gross and deducted (0.1 kWh)
    _type(meter, "D*" + CODE_1638_4_KWH + "*")                         # any key clears the result
    assert meter.result.repaid_wh == 0                                 # one-shot: until granted again
    assert "Descontado" not in " ".join(screen_text(meter))


def test_the_menu_shows_the_advance_owed_and_confirming_it_grants_nothing_more():
    meter = _meter(FakeFlash())
    _type(meter, ADMIN + GRANT_5_KWH)
    _type(meter, "#4321#BBBB")                                         # back in, on CREDITO
    assert "5.0 kWh" in screen_text(meter)                             # what is owed
    _type(meter, "##")                                                 # open it and confirm at once
    assert meter.fsm.view().message == "CREDITO: kWh en decimas (125 = 12.5)"
    _type(meter, "*" + "*#")                                           # leave the field, SALIR
    assert meter.available_wh() == 5000 and len(_logged(meter, events.ADVANCE)) == 1


def test_a_smaller_recharge_repays_what_it_can_and_the_rest_waits():
    meter = _meter(FakeFlash())
    _type(meter, ADMIN + "BBBB#3000#*#")                               # 300.0 kWh advanced
    _type(meter, "*" + CODE_25_6_KWH + "*")
    assert meter.result.repaid_wh == 25600 and meter.ledger.owed_wh == 300000 - 25600
    assert meter.available_wh() == 300000                              # the code went to the debt
    _type(meter, "D*" + CODE_1638_4_KWH + "*")
    assert meter.result.repaid_wh == 300000 - 25600 and meter.ledger.owed_wh == 0


def test_an_advance_survives_a_reboot_and_is_never_granted_twice():
    flash = FakeFlash()
    meter = _meter(flash)
    _type(meter, ADMIN + GRANT_5_KWH)
    for _ in range(3):
        meter = _meter(flash, meter.hal.clock)
    assert meter.available_wh() == 5000 and meter.ledger.owed_wh == 5000
    assert len(_logged(meter, events.ADVANCE)) == 1


def test_friendly_hours_keep_the_supply_and_what_is_used_without_credit_is_owed():
    from boards import sim
    from protocol import civil

    # 19:00 local (UTC-5): inside friendly hours 18-6
    meter = _meter(FakeFlash(), sim.SimClock(civil.seconds(2027, 3, 10, 19, 0) + 5 * 3600))
    meter.set_setting("friendly_start_h", 18)
    meter.set_setting("friendly_end_h", 6)
    _type(meter, ADMIN + "BBBB#5#*#")                                  # 0.5 kWh advanced
    _run(meter, 2)
    meter.hal.ac.load(1000)
    _run(meter, 60)                                                    # ~1 kWh: 0.5 of it without credit
    assert meter.hal.relay.closed and meter.available_wh() == 0
    assert "Sin credito: sin corte hasta las 6 h" in screen_text(meter)
    owed = meter.ledger.owed_wh
    assert owed >= 500 + 450                                           # the advance and the night's use
    _run(meter, 11 * 60)                                               # 06:00: the friendly hours end
    assert not meter.hal.relay.closed
    _type(meter, "*" + CODE_25_6_KWH + "*")
    assert meter.result.repaid_wh == meter.energy.import_wh            # every Wh used is paid for
    assert meter.available_wh() == 25600 - meter.energy.import_wh      # the advance and the night: all paid


def test_salir_is_all_or_nothing_at_a_power_cut_on_any_write():
    def salir(meter, model):
        _type(meter, ADMIN + "#900123456#BBBB#50#B#300#*#")            # UID, CREDITO 5.0, SUBSIDIO 30.0

    def check(state, after, cut):
        _, purchased, _ = state
        saved = (after.settings.get("uid"), after.settings.get("subsidio_wh"), after.ledger.owed_wh)
        assert saved in (("", 0, 0), ("900123456", 30000, 5000)), saved
        assert after.ledger.purchased_wh == purchased + saved[2]       # the advance once, or not at all
        if not cut:
            assert saved[0] == "900123456"

    assert _power_cut_at_every_write(salir, check) >= 3


def test_every_rejection_says_its_own_reason():
    meter = _meter(FakeFlash())
    _type(meter, "*" + CODE_25_6_KWH + "*D*" + CODE_25_6_KWH + "*")
    shown = screen_text(meter)
    assert R.MESSAGES[R.USED] in " ".join(shown) and "Pida un codigo nuevo a su vendedor" in shown
    assert "Revise el codigo e intente otra vez" not in shown
    _type(meter, "D*" + "1" * 20 + "*")
    shown = screen_text(meter)
    assert R.MESSAGES[R.CRC] in " ".join(shown) and "Revise el codigo e intente otra vez" in shown


def test_cancelled_timed_out_and_locked_sessions_say_so_on_the_main_screen():
    meter = _meter(FakeFlash())
    _type(meter, "*12#")
    assert "Cancelado" in screen_text(meter)
    _type(meter, "*12")
    _wait(meter, 60000)                                                # the code entry timeout
    assert "Tiempo agotado" in screen_text(meter)
    _wait(meter, 8000)
    assert "Tiempo agotado" not in screen_text(meter)                  # then the usual hint again
    for _ in range(5):
        _type(meter, "#9999#")                                         # wrong admin passwords
    _type(meter, "#")
    assert any(line.startswith("Bloqueado: espere") for line in screen_text(meter))
    assert meter.fsm.view().mode == kf.MAIN


def test_the_admin_screens_show_whole_titles_and_values_not_hints():
    meter = _meter(FakeFlash())
    _type(meter, "#")
    assert "Clave de administrador" in screen_text(meter)              # was cut to "Clave de administra"
    _type(meter, "0000#4321#4321#")
    _type(meter, "#12")                                                # editing UID
    shown = screen_text(meter)
    assert not [line for line in shown if "volver" in line and line != "# aceptar   * volver   D borrar"], shown


def _strings_fit(shown):
    """Every text a screen function drew fits the width in the font it was drawn in."""
    for line in shown:
        assert len(line) <= screens.WIDTH // 8, line


def test_every_message_the_meter_can_show_fits_whole_and_is_spanish():
    strip = Strip(320, 20)
    messages = list(R.MESSAGES.values()) + ["HORA: rechazada (atras max 5 min, 1 vez al dia)",
                                            "CLAVE: debe ser distinta de la actual", "Bloqueado: espere 86400 s"]
    for text in messages:
        for y in range(0, 240, 20):
            strip.move(y)
            shown = screens.draw_main(strip, "OPSM-SP-230", 0, 25000, 50, 120000, 1000, True, "", text)
            assert " ".join(shown[-2:]).endswith(text) or shown[-1] == text, (text, shown)
            _strings_fit(shown)
            shown = screens.draw_token_rejected(strip, text, "Consulte a su vendedor")
            assert " ".join(shown[1:-2]) == text, (text, shown)
    for word in ("must", "the ", "code", "wrong", "Tim"):
        assert not [m for m in messages if word in m], word


def _put_setting(client, obis, class_id, attribute, tag, value):
    data = bytearray()
    axdr.put(data, tag, value)
    client.set(class_id, obis, attribute, bytes(data))


def _refusal(fn, *args) -> int:
    """The data-access-result of a refused SET."""
    try:
        fn(*args)
    except C.CosemError as exc:
        return exc.code
    raise AssertionError("accepted")


def test_field_settings_over_a_management_association():
    flash = FakeFlash()
    meter = _meter(flash)
    meter.dlms_access().change_lls(b"s3cret-42", 1)
    _, client = _manager(meter, b"s3cret-42")
    client.associate()
    _put_setting(client, "0.0.128.0.0.255", M.DATA, 2, axdr.VISIBLE_STRING, "Cooperativa Rio Claro")
    _put_setting(client, "0.0.128.0.1.255", M.DATA, 2, axdr.INTEGER, 18)
    _put_setting(client, "0.0.128.0.2.255", M.DATA, 2, axdr.INTEGER, 6)
    _put_setting(client, "0.0.128.0.4.255", M.DATA, 2, axdr.LONG_UNSIGNED, 26000)
    _put_setting(client, "0.0.128.0.3.255", M.DATA, 2, axdr.LONG_UNSIGNED, 24000)
    _put_setting(client, "0.0.19.10.0.255", M.CREDIT, 5, axdr.DOUBLE_LONG, 3000)
    _put_setting(client, M.CLOCK_OBIS, M.CLOCK, 3, axdr.LONG, 360)      # DLMS: minutes from local to UTC
    assert client.get(M.DATA, "0.0.128.0.0.255", 2) == "Cooperativa Rio Claro"
    assert client.get(M.CLOCK, M.CLOCK_OBIS, 3) == 360
    for obis, class_id, attribute, tag, value, code in (
            ("0.0.128.0.1.255", M.DATA, 2, axdr.INTEGER, 24, 250),              # hour 0-23 (or -1)
            ("0.0.128.0.3.255", M.DATA, 2, axdr.LONG_UNSIGNED, 26000, 250),     # cut at restore: no hysteresis
            ("0.0.128.0.0.255", M.DATA, 2, axdr.VISIBLE_STRING, "E" * 25, 250),  # 24 characters at most
            ("0.0.128.0.0.255", M.DATA, 2, axdr.OCTET_STRING, b"Entidad", 12),  # the type is visible-string
            (M.CLOCK_OBIS, M.CLOCK, 3, axdr.LONG, 900, 250)):                    # UTC-15: no such zone
        assert _refusal(_put_setting, client, obis, class_id, attribute, tag, value) == code, (obis, value)
    client.release()
    rebooted = _meter(flash, meter.hal.clock)
    s = rebooted.settings
    assert (s.get("entity"), s.get("friendly_start_h"), s.get("friendly_end_h"), s.get("battery_cut_mv"),
            s.get("battery_restore_mv"), s.get("low_credit_wh"), s.get("utc_offset_min")) == (
        "Cooperativa Rio Claro", 18, 6, 24000, 26000, 3000, -360)
    assert rebooted.relay.settings.friendly_start_h == 18 and rebooted.relay.settings.battery_cut_mv == 24000
    _type(rebooted, "*" + CODE_25_6_KWH + "*D")
    assert "Cooperativa Rio Claro" in screen_text(rebooted)
    assert [e[4] for e in _logged(rebooted, events.ADMIN) if e[3] == 12] == [0, 1, 2, 4, 3, 5, 6]


def test_the_public_client_reads_field_settings_and_cannot_write_them():
    from protocol import cosem_server as S
    from tests.firmware.test_meter_trust import _model

    meter = _meter(FakeFlash())
    model = _model(meter)
    association = S.CosemServer(model, model, None, guard=model).association()
    client = C.CosemClient(lambda apdu: association.handle(16, apdu), 16, b"")
    client.associate()
    assert client.get(M.DATA, "0.0.128.0.0.255", 2) == "OPSM-SP-230"
    assert _refusal(_put_setting, client, "0.0.128.0.0.255", M.DATA, 2, axdr.VISIBLE_STRING, "X") == 3
    assert meter.settings.get("entity") == "OPSM-SP-230"
