"""Keypad state machine: code entry, admin login with lock-out, menu fields, calibration,
password change and timeouts, including the tick wrap (2**30 on the boards)."""

from protocol.lockout import Lockout, unpack_lockout

import keypad_fsm as K
import password as P
from ticks import PERIOD

_WRAP = PERIOD  # the runtime's tick period: 2**30 on a board
_SALT = b"testsalt"


class Meter:
    """Drives the fsm the way the app does: a wrapping ms tick and a wall clock in s."""

    def __init__(self, fsm, ms=0, s=1700000000):
        self.fsm = fsm
        self.ms = ms
        self.s0 = s
        self.s = s
        self.elapsed = 0

    def _advance(self, ms):
        self.elapsed += ms
        self.ms = (self.ms + ms) % _WRAP
        self.s = self.s0 + self.elapsed // 1000

    def wait(self, ms):
        self._advance(ms)
        return self.fsm.tick(self.ms)

    def keys(self, seq, gap_ms=300):
        out = []
        for k in seq:
            self._advance(gap_ms)
            out += list(self.fsm.key(k, self.ms, self.s))
        return out

    def view(self):
        return self.fsm.view()


def _meter(pw="4711", must_change=False, lockout=None, ms=0, **kw):
    record = P.new_record(pw, must_change, _SALT, 3).pack()  # the FSM keeps it packed
    return Meter(K.KeypadFsm(record, lockout or Lockout(), **kw), ms)


def _admin(settings=None, **kw):
    m = _meter(settings=settings, **kw)
    assert m.keys("#4711#") == []
    assert m.view().mode == K.MENU
    return m


def _select(m, item):
    """From the menu, move to the item labelled `item` with B and open it."""
    while m.view().items[m.view().selected] != item:
        m.keys("B")
    return m.keys("#")


# --- tick helper ----------------------------------------------------------------

def test_ticks_wrap_at_2_pow_30():
    assert K.ticks_diff(5, _WRAP - 5) == 10
    assert K.ticks_diff(_WRAP - 5, 5) == -10
    assert K.ticks_diff(1000, 400) == 600
    assert K.ticks_add(_WRAP - 1, 2) == 1
    # The unix port's 2**62 counter gives the same differences.
    if _WRAP > 1 << 41:  # a 64-bit port's counter
        assert K.ticks_diff((1 << 40) + 7, (1 << 40) - 3) == 10


# --- recharge code entry ----------------------------------------------------------

def test_token_entry_with_deletes_and_confirm():
    m = _meter()
    assert m.keys("*1234567") == []
    v = m.view()
    assert (v.mode, v.entry, v.lines[0]) == (K.TOKEN, "12345 67", "7 de 20 digitos")
    assert m.keys("9DDD") == []
    assert m.view().entry == "12345"
    assert m.keys("D6") == []
    assert m.view().entry == "12346"
    out = m.keys("D5678901234567890*")
    assert out == [("token", "12345678901234567890")]
    assert m.view().mode == K.MAIN


def test_token_digit_past_the_longest_length_refused():
    m = _meter()
    m.keys("*" + "1" * 20)
    assert m.keys("2") == []
    v = m.view()
    assert v.entry == "11111 11111 11111 11111" and v.flag == "full"
    assert m.keys("*") == [("token", "1" * 20)]


def test_wrong_length_refused_and_entry_kept():
    m = _meter()
    assert m.keys("*" + "9" * 19 + "*") == []
    v = m.view()
    assert (v.mode, v.flag, v.message) == (K.TOKEN, "incomplete", "Incompleto: 20 digitos")
    assert v.entry == "99999 99999 99999 9999"
    assert m.keys("0*") == [("token", "9" * 19 + "0")]


def test_profile_lengths_openpaygo():
    m = _meter(code_lengths=(9, 12))
    assert m.keys("*123456789*") == [("token", "123456789")]
    assert m.keys("*1234567890*") == []
    assert m.view().message == "Incompleto: 9 o 12 digitos"
    assert m.view().lines[0] == "10 de 9/12 digitos"
    assert m.keys("123") == []
    assert m.view().flag == "full"
    assert m.keys("*") == [("token", "123456789012")]


def test_letters_do_nothing_in_token_entry():
    m = _meter()
    m.keys("*12ABC3")
    assert m.view().entry == "123"


def test_cancel_forgets_the_code():
    m = _meter()
    assert m.keys("*12345#") == []
    v = m.view()
    assert (v.mode, v.flag) == (K.MAIN, "cancelled")
    m.keys("*")
    assert m.view().entry == ""


def test_token_timeout_is_retriggered_by_each_key():
    m = _meter()
    m.keys("*12")
    assert m.wait(59000) == ()
    m.keys("3", gap_ms=0)                # the deadline moves 60 s from this key
    assert m.wait(59999) == ()
    assert m.wait(1) == (("timeout", "TOKEN"),)
    v = m.view()
    assert (v.mode, v.flag, v.message) == (K.MAIN, "timeout", "Tiempo agotado")
    assert m.wait(7999) == ()                   # the main screen says so for a while
    assert m.wait(1) == (("message",),)         # then redraws without it
    assert m.view().message == "" and m.wait(100000) == ()


def test_key_after_the_deadline_only_ends_the_session():
    m = _meter()
    m.keys("*" + "1" * 19)
    assert m.keys("1", gap_ms=60000) == [("timeout", "TOKEN")]
    assert m.view().mode == K.MAIN
    assert m.keys("*") == []
    assert m.view().entry == ""


def test_token_timeout_across_tick_wrap():
    m = _meter(ms=_WRAP - 20000)
    m.keys("*1", gap_ms=0)               # started 20 s before the counter wraps
    assert m.wait(30000) == ()           # now past the wrap: 30 s elapsed
    assert m.ms < 20000
    assert m.keys("2", gap_ms=0) == []
    assert m.wait(59999) == ()
    assert m.wait(1) == (("timeout", "TOKEN"),)


# --- admin login and lock-out -----------------------------------------------------

def test_login_digits_masked_and_cancel():
    m = _meter()
    m.keys("#47D1")
    v = m.view()
    assert (v.mode, v.entry) == (K.LOGIN, "**")
    assert m.keys("*") == []
    assert m.view().mode == K.MAIN


def test_wrong_password_twice_then_right():
    m = _meter()
    assert m.keys("#1111#") == [("lockout", 0)]
    v = m.view()
    assert (v.mode, v.flag, v.entry) == (K.LOGIN, "wrong", "")
    assert m.keys("2222#") == [("lockout", 0)]
    assert m.fsm.lockout.failures == 2
    assert m.keys("4711#") == [("lockout", 0)]   # the reset is to be persisted
    assert m.view().mode == K.MENU
    assert m.fsm.lockout.failures == 0
    assert m.keys("B") == []


def test_lockout_grows_blocks_and_survives_reboot():
    m = _meter()
    m.keys("#")                                  # protocol.lockout: 3 free failures
    assert [m.keys("9999#") for _ in range(4)] == [[("lockout", 0)]] * 3 + [[("lockout", 60)]]
    v = m.view()
    assert (v.mode, v.flag, v.message) == (K.MAIN, "locked", "Bloqueado: espere 60 s")
    m.wait(30000)
    assert m.keys("#", gap_ms=0) == [("lockout", 30)]
    assert m.view().mode == K.MAIN                # nothing else while locked
    assert m.keys("4711#", gap_ms=0) == [("lockout", 30)]
    assert m.view().mode == K.MAIN
    m.wait(31000)
    assert m.keys("#9999#") == [("lockout", 120)]  # the next lock is twice as long
    # Reboot: the app restores the persisted lock-out; ticks restart at 0.
    saved = m.fsm.lockout.pack()
    m2 = Meter(K.KeypadFsm(m.fsm.record, unpack_lockout(saved)), 0, m.s + 10)
    assert m2.keys("#", gap_ms=0) == [("lockout", 110)]
    m2.wait(110000)
    assert m2.keys("#4711#") == [("lockout", 0)]
    assert m2.view().mode == K.MENU
    assert m2.fsm.lockout.failures == 0


# --- menu -------------------------------------------------------------------------

def test_menu_navigation_wraps_and_star_goes_to_salir():
    m = _admin()
    v = m.view()
    assert len(v.lines) == len(v.items) and v.lines[0] == "" and v.lines[-1] == "" and v.selected == 0
    m.keys("A")
    assert m.view().selected == len(v.items) - 1
    m.keys("BB")
    assert m.view().selected == 1
    m.keys("*")
    v = m.view()
    assert v.items[v.selected] == "SALIR" and v.mode == K.MENU and "SALIR" in v.message
    assert m.keys("#") == [("admin_exit",)]
    assert m.view().mode == K.MAIN


def _edit(m, item, typed):
    _select(m, item)
    assert m.view().mode == K.EDIT
    return m.keys(typed)


def test_uid_and_did_digit_rules():
    settings = {"uid": "", "did": "77777"}
    m = _admin(settings)
    assert _edit(m, "UID", "12345#") == []
    v = m.view()
    assert (v.mode, v.flag, v.message) == (K.EDIT, "invalid", "UID: 6-10 digitos")
    m.keys("678901")
    assert m.view().flag == "full"               # 11th digit refused
    assert m.keys("#") == []
    assert m.view().lines[0] == "1234567890"
    assert _edit(m, "DID", "12#") == []
    assert m.view().message == "DID: 3-10 digitos"
    assert m.keys("3#") == []
    assert m.view().mode == K.MENU
    out = _select(m, "SALIR")
    assert out == [("settings", (("uid", "1234567890"), ("did", "123"))), ("admin_exit",)]  # one save
    assert settings == {"uid": "", "did": "77777"}  # the meter saves them: the fsm only reads settings
    assert m.view().flag == "saved"


def test_fecha_must_be_a_real_date():
    m = _admin()
    _select(m, "FECHA")
    for typed, message in (("2024011", "FECHA: 8 digitos AAAAMMDD"),
                           ("19991231", "FECHA: ano 2000-2099"),
                           ("20241301", "FECHA: mes 01-12"),
                           ("20230229", "FECHA: dia 01-28 en ese mes"),
                           ("20240431", "FECHA: dia 01-30 en ese mes"),
                           ("20240100", "FECHA: dia 01-31 en ese mes")):
        m.keys("DDDDDDDD" + typed + "#")
        v = m.view()
        assert (v.mode, v.message) == (K.EDIT, message), typed
    m.keys("DDDDDDDD2024022")
    assert m.view().entry == "2024-02-2"
    m.keys("9#")
    assert m.view().lines[2] == "2024-02-29"
    assert _select(m, "SALIR") == [("settings", (("fecha", 20240229),)), ("admin_exit",)]  # AAAAMMDD, as saved


def test_credit_and_subsidy_typed_in_tenths_of_a_kwh_and_saved_in_wh():
    m = _admin(settings={"credito_wh": 20000, "subsidio_wh": 130000})
    m.fsm.live["credito_wh"] = 5000               # the meter reports the advance still owed
    at = m.view().items.index("CREDITO")
    assert m.view().lines[at] == "5.0 kWh" and m.view().lines[at + 1] == "130.0 kWh"
    _select(m, "CREDITO")
    assert m.view().entry == ""                  # a new grant: # alone never grants the owed again
    m.keys("#")
    assert m.view().message == "CREDITO: kWh en decimas (125 = 12.5)"
    m.keys("0#")
    assert m.view().message == "CREDITO: 0.1-999.9 kWh"  # an advance of nothing
    m.keys("D75000")
    assert m.view().entry == "7500.0 kWh"
    m.keys("#")
    v = m.view()
    assert (v.mode, v.message) == (K.EDIT, "CREDITO: 0.1-999.9 kWh")
    m.keys("DDDDD9999#")
    assert m.view().lines[at] == "+999.9 kWh"    # to grant at SALIR
    _select(m, "SUBSIDIO")
    m.keys("D")                                   # D edits the saved value: 130.0 -> 13.0
    assert m.view().entry == "13.0 kWh"
    m.keys("5#")
    assert _select(m, "SALIR") == [("settings", (("credito_wh", 999900), ("subsidio_wh", 130500))),
                                   ("admin_exit",)]


def test_star_in_editor_keeps_the_old_value():
    m = _admin(settings={"uid": "900123456"})
    _edit(m, "UID", "111111*")
    v = m.view()
    assert (v.mode, v.lines[0], v.message) == (K.MENU, "900123456", "UID sin cambios")
    assert _select(m, "SALIR") == [("admin_exit",)]


def test_admin_timeout_drops_unsaved_edits():
    m = _admin(settings={"did": "555"}, ms=_WRAP - 60000)
    _edit(m, "DID", "12345678#")
    assert m.view().lines[1] == "12345678"
    assert m.wait(119999) == ()                    # across the tick wrap
    assert m.wait(1) == (("timeout", "ADMIN"),)
    assert m.view().mode == K.MAIN
    assert m.fsm.settings["did"] == "555"
    m.keys("#4711#")
    assert m.view().lines[1] == "555"


def test_calibration_two_points():
    m = _admin()
    assert _select(m, "CALIBRACION") == []
    v = m.view()
    assert (v.mode, v.title) == (K.CALIBRATE, "CALIBRACION baja (~60 V)")
    assert m.keys("5#") == []
    assert m.view().message == "CALIBRACION: 1.0-140.0 V"
    m.keys("D605")
    assert m.view().entry == "60.5 V"
    assert m.keys("#") == [("calibrate", "low", 605)]
    assert m.view().title == "CALIBRACION alta (~120 V)"
    assert m.keys("700#") == []
    assert m.view().message == "CALIBRACION: alta >= baja + 20.0 V"
    assert m.keys("DDD14001") == []
    assert m.view().entry == "140.0 V"            # 4 digits at most
    assert m.keys("DD01#") == []
    assert m.view().message == "CALIBRACION: 1.0-140.0 V"
    assert m.keys("DDDD1201#") == [("calibrate", "high", 1201)]
    v = m.view()
    assert (v.mode, v.message) == (K.MENU, "Calibracion hecha")


def test_calibration_cancel():
    m = _admin()
    _select(m, "CALIBRACION")
    assert m.keys("600#") == [("calibrate", "low", 600)]
    assert m.keys("*") == []
    v = m.view()
    assert (v.mode, v.message) == (K.MENU, "Calibracion cancelada")
    _select(m, "CALIBRACION")                      # starts again at the low point
    assert m.keys("610#") == [("calibrate", "low", 610)]


def test_password_change_rules_and_mismatch():
    m = _admin()
    _select(m, "CLAVE")
    v = m.view()
    assert (v.mode, v.title) == (K.NEW_PASSWORD, "Clave nueva")
    assert m.keys("123#") == []
    assert m.view().message == "CLAVE: 4-8 digitos"
    assert m.keys("4711#") == []
    assert m.view().message == "CLAVE: debe ser distinta de la actual"
    m.keys("123456789")
    assert m.view().entry == "********"            # 8 digits at most
    assert m.keys("D#") == []
    assert m.view().title == "Repita la clave nueva"
    assert m.keys("1234568#") == []
    v = m.view()
    assert (v.title, v.message, v.flag) == ("Clave nueva", "CLAVE: las dos no coinciden",
                                            "invalid")
    assert m.keys("1234567#") == []
    out = m.keys("1234567#")
    assert len(out) == 1 and out[0][0] == "password"
    rec = P.unpack_password(out[0][1])
    assert rec.verify("1234567") and not rec.must_change
    assert (m.view().mode, m.view().message) == (K.MENU, "Clave cambiada")
    _select(m, "SALIR")
    assert m.keys("#4711#") == [("lockout", 0)]   # the old one no longer opens
    assert m.keys("1234567#") == [("lockout", 0)]
    assert m.view().mode == K.MENU


def test_password_change_star_goes_back_to_menu():
    m = _admin()
    _select(m, "CLAVE")
    assert m.keys("2468#*") == []
    assert m.view().mode == K.MENU
    assert P.unpack_password(m.fsm.record).verify("4711")


def test_factory_password_must_be_changed_first():
    record = P.factory_record(_SALT).pack()
    m = Meter(K.KeypadFsm(record, Lockout()))
    assert m.keys("#0000#") == []
    v = m.view()
    assert (v.mode, v.message) == (K.NEW_PASSWORD, "Cambie la clave de fabrica")
    assert m.keys("*") == [("admin_exit",)]        # no menu without a new password
    assert m.view().mode == K.MAIN
    m.keys("#0000#")
    assert m.keys("0000#") == []
    assert m.view().message == "CLAVE: debe ser distinta de la actual"
    out = m.keys("2468#2468#")
    assert out[0][0] == "password" and P.unpack_password(out[0][1]).verify("2468")
    v = m.view()
    assert (v.mode, v.selected) == (K.MENU, 0)
    assert not P.unpack_password(m.fsm.record).must_change and m.fsm.record == out[0][1]


def test_no_code_lengths_refused():
    try:
        K.KeypadFsm(P.new_record("4711", False, _SALT, 3).pack(), Lockout(), ())
        raised = False
    except ValueError:
        raised = True
    assert raised


def test_the_admin_menu_is_loaded_only_while_an_admin_is_at_the_keypad():
    import sys

    admin = ("admin_menu", "admin_fields")
    for name in admin:
        sys.modules.pop(name, None)
    m = _meter()
    m.keys("*123#")                               # code entry and its cancel need none of it
    assert m.view().message == "Cancelado" and not [n for n in admin if n in sys.modules]
    m.keys("#4711#")                              # the session loads it
    _edit(m, "FECHA", "20260230#")
    assert all(n in sys.modules for n in admin) and m.view().message == "FECHA: dia 01-28 en ese mes"
    m.keys("*")
    _select(m, "SALIR")
    assert not [n for n in admin if n in sys.modules]  # and it leaves with the admin
    m.keys("#4711#")
    assert m.wait(120000) == (("timeout", "ADMIN"),)
    assert not [n for n in admin if n in sys.modules]  # a session that times out too


# --- one vocabulary: the menu's table, setting keys and Wh ------------------------------

def test_every_action_names_a_setting_key_or_an_action_and_carries_the_settings_unit():
    from settings import Settings

    saved = Settings({"uid": "900123456", "fecha": 20260301, "subsidio_wh": 30000})
    m = _admin(saved)                              # the meter's own settings: the fsm only reads them
    m.fsm.live.update({"clock": "202701011030", "lls_secret": False, "credito_wh": 0})
    v = m.view()
    shown = dict(zip(v.items, v.lines))
    assert (shown["UID"], shown["FECHA"], shown["SUBSIDIO"], shown["HORA"], shown["DLMS"], shown["CREDITO"]) == (
        "900123456", "2026-03-01", "30.0 kWh", "2027-01-01 1030", "sin clave", "0.0 kWh")
    _select(m, "HORA")
    assert m.view().entry == "2027-01-01 1030"     # the clock as it is: # alone sets it again
    assert m.keys("DDDD1200#") == [("clock", "202701011200")]
    assert _edit(m, "DLMS", "12345678#") == [("lls_secret", "12345678")]
    _edit(m, "DID", "1098765432#")
    _edit(m, "FECHA", "DDDDDDDD20260402#")
    _edit(m, "CREDITO", "125#")
    _edit(m, "SUBSIDIO", "D#")                      # 30.0 -> 3.0 kWh
    out = _select(m, "SALIR")
    changes = (("did", "1098765432"), ("fecha", 20260402), ("credito_wh", 12500), ("subsidio_wh", 3000))
    assert out == [("settings", changes), ("admin_exit",)]
    for key, value in changes:                     # what the meter saves, as it comes
        saved.set(key, value)


def _rows(F):
    return [F.row(i) for i in range(len(F.ITEMS) // F.ROW)]


def with_the_menu(reverse, run):
    """run() with the admin modules loaded afresh and, if reverse, the menu's items in the
    opposite order; the next session loads the real table again."""
    import sys

    names = ("admin_menu", "admin_fields")
    for name in names:
        sys.modules.pop(name, None)
    try:
        import admin_fields

        if reverse:  # admin_menu, loaded by the session, reads this one
            admin_fields.ITEMS = tuple([x for row in reversed(_rows(admin_fields)) for x in row])
        return run()
    finally:
        for name in names:
            sys.modules.pop(name, None)


def test_the_menu_is_one_table_of_labels_keys_kinds_rules_and_when_applied():
    import admin_fields as F
    import admin_menu
    import meter
    from protocol import events
    from settings import Settings

    kinds = (F.DIGITS, F.DATE, F.CLOCK, F.WH, F.ADVANCE, F.SECRET, F.CALIBRATION, F.PASSWORD, F.EXIT)
    actions = ("clock", "lls_secret", "calibrate", "password", "settings")  # what an AT_ONCE item returns
    assert len(F.ITEMS) % F.ROW == 0
    labels = [row[0] for row in _rows(F)]
    keys = [row[1] for row in _rows(F)]
    assert len(set(labels)) == len(labels) == len(set(keys)) and labels[-1] == "SALIR"
    for label, key, kind, low, high, applied in _rows(F):
        assert kind in kinds and 0 <= low <= high, label
        if applied == F.AT_SALIR:             # a setting: saved as it is, logged by its own code
            settings = Settings()
            settings.get(key)
            if kind in (F.WH, F.ADVANCE):
                settings.set(key, low)
                settings.set(key, high)
            assert key in events.ADMIN_SETTINGS, label
        else:
            assert applied == F.AT_ONCE and key in actions, label
    assert admin_menu.labels() == tuple(labels)
    # Nothing else lists the items: no table of labels beside this one, no label -> setting map, and
    # the always-loaded modules no list of the menu's keys.
    for module in (K, meter, admin_menu):
        for name in dir(module):
            if name.startswith("__"):
                continue
            value = getattr(module, name)
            if isinstance(value, dict):
                value = list(value.keys()) + list(value.values())
            if isinstance(value, (tuple, list)) and value is not F.ITEMS:
                listed = [x for x in value if x in labels or module is not admin_menu and x in keys]
                assert not listed, (module, name, listed)


def test_reordering_the_menu_changes_no_action():
    def session():
        m = _admin({"subsidio_wh": 130000})
        out = _edit(m, "UID", "900123456#") + _edit(m, "SUBSIDIO", "5#") + _edit(m, "CREDITO", "50#")
        out += _edit(m, "FECHA", "20260301#") + _edit(m, "HORA", "202701011030#") + _select(m, "SALIR")
        return m.view().flag, out[0], dict(out[1][1])

    assert with_the_menu(True, lambda: _admin().view().items[0]) == "SALIR"
    assert with_the_menu(False, session) == with_the_menu(True, session) == (
        "saved", ("clock", "202701011030"), {"uid": "900123456", "subsidio_wh": 500, "credito_wh": 5000,
                                             "fecha": 20260301})
