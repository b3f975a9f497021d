"""The admin half of the keypad state machine (keypad_fsm): login, the menu, editing its items,
calibration and the password change, and what their screens show.

Loaded when an admin session starts and dropped from the heap when it ends (keypad_fsm
imports it for its admin modes and forgets it in _leave): a meter nobody configures keeps
only the recharge code entry in its heap. Functions act on the KeypadFsm's own state. The
items are admin_fields.ITEMS (row(i)); their values stay in their settings' units (Wh,
AAAAMMDD) and become text only here, for the screen (view().lines).
"""

import admin_fields as F
import password
from admin_fields import tenths
from keypad_fsm import CALIBRATE, EDIT, LOGIN, MENU, NEW_PASSWORD, View, is_digit

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

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


def shown(kind: int, value) -> str:
    """A value in its key's unit as the menu shows it ("" for none)."""
    if value is None:
        return ""
    if kind in (F.WH, F.ADVANCE):
        return tenths(value // 100) + " kWh"
    if kind == F.SECRET:
        return "fijada" if value else "sin clave"
    if kind == F.DATE:
        return typed(kind, str(value)) if value else ""
    return typed(kind, value) if kind == F.CLOCK else value


def typed(kind: int, entry: str) -> str:
    """The digits being typed as the editor shows them: kWh from tenths, dates with dashes
    (and HORA's time after them: 2027-01-01 1030, 15 characters fit)."""
    if kind in (F.WH, F.ADVANCE):
        return tenths(int(entry)) + " kWh" if entry else ""
    if kind in (F.DATE, F.CLOCK):
        date = "-".join([x for x in (entry[:4], entry[4:6], entry[6:8]) if x])
        return date + " " + entry[8:] if len(entry) > 8 else date
    return entry


def current(fsm, row):
    """An item's value in its key's unit: confirmed in this session, else what the meter reports
    (the clock, an advance, a secret) or has saved; None for none."""
    key, kind = row[1], row[2]
    if key in fsm._pending:
        return fsm._pending[key]
    if kind in (F.CLOCK, F.ADVANCE, F.SECRET):
        return fsm.live.get(key)
    return fsm.settings.get(key) if row[5] == F.AT_SALIR else None


def _record(fsm) -> password.PasswordRecord:
    """The admin password record, kept packed by the FSM (password.py is in the heap with the menu only)."""
    return password.unpack_password(fsm.record)


def login(fsm, k, run_s):
    if k == "*":
        fsm._leave("Cancelado", "cancelled")
    elif k != "#":
        fsm._type(k, password.MAX_LEN)
    elif _record(fsm).verify(fsm._entry):
        had_failures = fsm.lockout.failures
        fsm.lockout.success()
        fsm._entry = ""
        if _record(fsm).must_change:
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
    count = len(F.ITEMS) // F.ROW
    if k == "A":
        fsm._selected = (fsm._selected - 1) % count
    elif k == "B":
        fsm._selected = (fsm._selected + 1) % count
    elif k == "*":
        fsm._selected = [F.row(i)[2] for i in range(count)].index(F.EXIT)
        fsm._say("# en SALIR guarda y sale", "")
    elif k == "#":
        row = F.row(fsm._selected)
        kind = row[2]
        if kind == F.CALIBRATION:
            fsm._low_dv = -1
            fsm._entry = ""
            fsm.mode = CALIBRATE
        elif kind == F.PASSWORD:
            fsm._forced = False
            open_new_password(fsm, "")
        elif kind == F.EXIT:
            return save_and_exit(fsm)
        else:
            fsm._entry = _digits(kind, current(fsm, row))
            fsm._fresh = True
            fsm.mode = EDIT
    return _NONE


def _digits(kind: int, now) -> str:
    """What the editor starts from: the value shown, as typed (kWh in tenths); an advance or a
    secret from empty, since what is typed there is a new one, never the one shown."""
    if now is None or kind in (F.ADVANCE, F.SECRET) or kind == F.DATE and not now:
        return ""
    return str(now // 100) if kind == F.WH else str(now)


def edit(fsm, k):
    row = F.row(fsm._selected)
    name, key = row[0], row[1]
    if k == "*":
        open_menu(fsm, fsm._selected, "%s sin cambios" % name)
    elif k == "#":
        try:
            new = F.parse(row, fsm._entry)
        except ValueError as e:
            fsm._say(str(e), "invalid")
            return _NONE
        if row[5] == F.AT_ONCE:
            open_menu(fsm, fsm._selected, "%s fijada" % name)
            return ((key, new),)
        fsm._pending[key] = new
        open_menu(fsm, fsm._selected, "%s listo: SALIR guarda" % name)
    else:
        if is_digit(k) or k == "D":
            if fsm._fresh and k != "D":
                fsm._entry = ""
            fsm._fresh = False
        fsm._type(k, F.max_len(row))
    return _NONE


def calibrate(fsm, k):
    row = F.row(fsm._selected)
    if k == "*":
        open_menu(fsm, fsm._selected, "Calibracion cancelada")
    elif k == "#":
        try:
            dv = F.calibration_point(row, fsm._entry, fsm._low_dv)
        except ValueError as e:
            fsm._say(str(e), "invalid")
            return _NONE
        if fsm._low_dv < 0:
            fsm._low_dv = dv
            fsm._entry = ""
            return ((row[1], "low", dv),)
        open_menu(fsm, fsm._selected, "Calibracion hecha")
        return ((row[1], "high", dv),)
    else:
        fsm._type(k, F.max_len(row))
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
            if _record(fsm).verify(fsm._entry):
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
        fsm.record = password.new_record(fsm._entry).pack()
        fsm._first = ""
        forced = fsm._forced
        fsm._forced = False
        open_menu(fsm, 0 if forced else fsm._selected, "Clave cambiada")
        return (("password", fsm.record),)
    return _NONE


def save_and_exit(fsm):
    """SALIR: every value confirmed in the session, in one action (the meter saves them in one
    record write and applies them; its settings then show them)."""
    pending = fsm._pending
    keys = [F.ITEMS[at + 1] for at in range(0, len(F.ITEMS), F.ROW)]
    changes = tuple([(key, pending[key]) for key in keys if key in pending])
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
    """What the menu shows beside each item ("" for none): saved or reported, or confirmed in this
    session and not yet saved (an advance to grant shows with its sign)."""
    out = []
    for i in range(len(F.ITEMS) // F.ROW):
        row = F.row(i)
        text = shown(row[2], current(fsm, row))
        out.append("+" + text if row[2] == F.ADVANCE and row[1] in fsm._pending else text)
    return tuple(out)


def labels() -> tuple:
    return tuple([F.ITEMS[at] for at in range(0, len(F.ITEMS), F.ROW)])


def view(fsm) -> View:
    mode, entry = fsm.mode, fsm._entry
    msg, flag = fsm._message, fsm._flag
    if mode == LOGIN:
        return View(mode, "Clave de administrador", "*" * len(entry),
                    ("# OK  * cancelar",), -1, msg, flag)
    if mode == MENU:
        return View(mode, "Administracion", "", values(fsm), fsm._selected, msg, flag, labels())
    if mode == EDIT:
        row = F.row(fsm._selected)
        return View(mode, row[0], typed(row[2], entry), values(fsm), fsm._selected, msg, flag, labels())
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
