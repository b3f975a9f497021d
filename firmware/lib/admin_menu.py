"""The admin half of the keypad state machine (keypad_fsm): login, the menu, field editing,
calibration and the password change, and what their screens show.

Loaded when an admin session starts and dropped from the heap when it ends (keypad_fsm
imports it for its admin modes and forgets it in _leave): a meter nobody configures keeps
only the recharge code entry in its heap. Functions act on the KeypadFsm's own state.
"""

import admin_fields
import password
from admin_fields import tenths
from keypad_fsm import (CALIBRACION, CALIBRATE, CLAVE, CREDITO, DID, DLMS, EDIT, FECHA, FIELDS, HORA, ITEMS, LOGIN,
                        MENU, NEW_PASSWORD, NOW, SUBSIDIO, TENTHS, UID, View, is_digit)

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

# Edited from empty: the menu shows what is (the advance still owed, whether a secret is
# set), and what is typed is a new grant or secret, never the value shown confirmed again.
_FROM_EMPTY = (CREDITO, DLMS)
# Longest text each field takes (one digit more than the rule where that helps to
# report the rule instead of silently refusing the key).
_FIELD_LEN = {UID: 10, DID: 10, FECHA: 8, CREDITO: 5, SUBSIDIO: 5, HORA: 12, DLMS: 16}
_CAL_LEN = const(4)
_NONE = const(())


def key(fsm, k: str, run_s: int) -> tuple:
    """One key in an admin mode (the deadline and message are already reset by KeypadFsm.key)."""
    mode = fsm.mode
    if mode == LOGIN:
        return login(fsm, k, run_s)
    if mode == MENU:
        return menu(fsm, k)
    if mode == EDIT:
        return edit(fsm, k)
    if mode == CALIBRATE:
        return calibrate(fsm, k)
    return new_password(fsm, k)


def shown(name: str, value) -> str:
    """A field's value as the menu and the editor show it."""
    if name in TENTHS:
        return "" if value == "" else tenths(int(value)) + " kWh"
    if name in (FECHA, HORA) and value:  # 2027-03-01, and HORA's time as 1030 (15 characters fit)
        date = "-".join([x for x in (value[:4], value[4:6], value[6:8]) if x])
        return date + " " + value[8:] if len(value) > 8 else date
    return value


def login(fsm, k, run_s):
    if k == "*":
        fsm._leave("Cancelado", "cancelled")
    elif k != "#":
        fsm._type(k, password.MAX_LEN)
    elif fsm.record.verify(fsm._entry):
        had_failures = fsm.lockout.failures
        fsm.lockout.success()
        fsm._entry = ""
        if fsm.record.must_change:
            fsm._forced = True
            open_new_password(fsm, "Cambie la clave de fabrica")
        else:
            open_menu(fsm, 0, "")
        return (("lockout", 0),) if had_failures else _NONE
    else:
        lock_s = fsm.lockout.failure(run_s)
        if lock_s:
            fsm._leave("Bloqueado: espere %d s" % lock_s, "locked")
        else:
            fsm._entry = ""
            fsm._say("Clave incorrecta", "wrong")
        return (("lockout", lock_s),)
    return _NONE


def menu(fsm, k):
    count = len(ITEMS)
    if k == "A":
        fsm._selected = (fsm._selected - 1) % count
    elif k == "B":
        fsm._selected = (fsm._selected + 1) % count
    elif k == "*":
        fsm._selected = count - 1
        fsm._say("# en SALIR guarda y sale", "")
    elif k == "#":
        item = ITEMS[fsm._selected]
        if item in FIELDS or item in NOW:
            fsm._field = item
            value = fsm._pending.get(item, fsm.settings[item]) if item not in _FROM_EMPTY else ""
            fsm._entry = str(value)
            fsm._fresh = True
            fsm.mode = EDIT
        elif item == CALIBRACION:
            fsm._low_dv = -1
            fsm._entry = ""
            fsm.mode = CALIBRATE
        elif item == CLAVE:
            fsm._forced = False
            open_new_password(fsm, "")
        else:
            return save_and_exit(fsm)
    return _NONE


def edit(fsm, k):
    name = fsm._field
    if k == "*":
        open_menu(fsm, fsm._selected, "%s sin cambios" % name)
    elif k == "#":
        try:
            value = admin_fields.parse_field(name, fsm._entry)
        except ValueError as e:
            fsm._say(str(e), "invalid")
            return _NONE
        if name in NOW:
            open_menu(fsm, fsm._selected, "%s fijada" % name)
            return (("clock" if name == HORA else "lls_secret", value),)
        fsm._pending[name] = value
        open_menu(fsm, fsm._selected, "%s listo: SALIR guarda" % name)
    else:
        if is_digit(k) or k == "D":
            if fsm._fresh and k != "D":
                fsm._entry = ""
            fsm._fresh = False
        fsm._type(k, _FIELD_LEN[name])
    return _NONE


def calibrate(fsm, k):
    if k == "*":
        open_menu(fsm, fsm._selected, "Calibracion cancelada")
    elif k == "#":
        try:
            value = admin_fields.calibration_point(fsm._entry, fsm._low_dv)
        except ValueError as e:
            fsm._say(str(e), "invalid")
            return _NONE
        if fsm._low_dv < 0:
            fsm._low_dv = value
            fsm._entry = ""
            return (("calibrate", "low", value),)
        open_menu(fsm, fsm._selected, "Calibracion hecha")
        return (("calibrate", "high", value),)
    else:
        fsm._type(k, _CAL_LEN)
    return _NONE


def new_password(fsm, k):
    if k == "*":
        if fsm._forced:
            fsm._leave("Clave sin cambios", "cancelled")
            return (("admin_exit",),)
        open_menu(fsm, fsm._selected, "Clave sin cambios")
    elif k != "#":
        fsm._type(k, password.MAX_LEN)
    elif not fsm._first:
        try:
            password.check_new(fsm._entry)
            if fsm.record.verify(fsm._entry):
                raise ValueError("CLAVE: debe ser distinta de la actual")
        except ValueError as e:
            fsm._entry = ""
            fsm._say(str(e), "invalid")
            return _NONE
        fsm._first = fsm._entry
        fsm._entry = ""
    elif fsm._entry != fsm._first:
        open_new_password(fsm, "CLAVE: las dos no coinciden")
        fsm._flag = "invalid"
    else:
        fsm.record = password.new_record(fsm._entry)
        fsm._first = ""
        forced = fsm._forced
        fsm._forced = False
        open_menu(fsm, 0 if forced else fsm._selected, "Clave cambiada")
        return (("password", fsm.record.pack()),)
    return _NONE


def save_and_exit(fsm):
    changes = tuple([(name, fsm._pending[name]) for name in FIELDS if name in fsm._pending])
    for name, value in changes:
        if name != CREDITO:  # the menu shows what is owed: the meter updates it
            fsm.settings[name] = value
    fsm._leave("Guardado" if changes else "", "saved" if changes else "")
    return (("settings", changes), ("admin_exit",)) if changes else (("admin_exit",),)


def open_menu(fsm, selected, message):
    fsm.mode = MENU
    fsm._selected = selected
    fsm._entry = ""
    fsm._say(message, "")


def open_new_password(fsm, message):
    fsm.mode = NEW_PASSWORD
    fsm._entry = ""
    fsm._first = ""
    fsm._say(message, "")


def values(fsm) -> tuple:
    """What the menu shows beside each of ITEMS ("" for none): saved, or edited and not yet
    saved (a CREDITO to grant shows with its sign)."""
    out = []
    for name in ITEMS:
        if name in FIELDS or name in NOW:
            if name in fsm._pending:
                text = shown(name, fsm._pending[name])
                out.append("+" + text if name == CREDITO else text)
            else:
                out.append(shown(name, fsm.settings[name]))
        else:
            out.append("")
    return tuple(out)


def view(fsm) -> View:
    mode, entry = fsm.mode, fsm._entry
    msg, flag = fsm._message, fsm._flag
    if mode == LOGIN:
        return View(mode, "Clave de administrador", "*" * len(entry),
                    ("# OK  * cancelar",), -1, msg, flag)
    if mode == MENU:
        return View(mode, "Administracion", "", values(fsm), fsm._selected, msg, flag)
    if mode == EDIT:
        name = fsm._field
        return View(mode, name, shown(name, entry), values(fsm), fsm._selected, msg, flag)
    if mode == CALIBRATE:
        point = "baja (~60 V)" if fsm._low_dv < 0 else "alta (~120 V)"
        volts = tenths(int(entry)) + " V" if entry else ""
        return View(mode, "CALIBRACION " + point, volts,
                    ("Voltios RMS del patron", "en decimas: 1200 = 120.0 V"),
                    fsm._selected, msg, flag)
    if mode == NEW_PASSWORD:
        title = "Repita la clave nueva" if fsm._first else "Clave nueva"
        return View(mode, title, "*" * len(entry),
                    ("%d-%d digitos" % (password.MIN_LEN, password.MAX_LEN),),
                    fsm._selected, msg, flag)
    raise ValueError("admin_menu: no admin mode " + mode)
