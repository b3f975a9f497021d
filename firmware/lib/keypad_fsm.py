"""What the 4x4 keypad means: `*` recharge code entry and the `#` admin menu.

Pure logic, so every screen and rule is tested without a board: the app feeds
key(k, now_ms, run_s) for each debounced press and tick(now_ms) regularly, and
carries out the actions returned (a tuple of tuples, empty when nothing to do):

  ("token", digits)               a code typed and confirmed with `*`
  ("setting", name, value)        SALIR saves an edited field: UID, DID, FECHA (str),
                                  CREDITO, SUBSIDIO (int, tenths of a kWh)
  ("clock", digits)               HORA confirmed: the local date and time AAAAMMDDhhmm,
                                  set at once (the meter may refuse: report())
  ("lls_secret", digits)          DLMS confirmed: the management client's new secret
  ("calibrate", point, value_dv)  point "low" then "high": the true RMS voltage the
                                  technician reads now, tenths of a volt; the app
                                  applies a calibration on "high" only, with the
                                  "low" sent just before it
  ("password", packed_record)     a new admin password: persist it
  ("lockout", seconds)            the admin lock-out changed or is in force: persist
                                  `fsm.lockout.pack()` (seconds 0: a failure still free,
                                  or the count reset by a right password)
  ("admin_exit",)                 the admin session ended by a key (after SALIR's
                                  settings, or on leaving the forced password change)
  ("timeout", "TOKEN"/"ADMIN")    no key for the timeout: back to MAIN, unsaved edits lost

now_ms is a millisecond tick counter compared with ticks_diff (wraps like the
boards' ticks_ms every 2**30 ms); run_s is the meter's running time in seconds
(meterclock), used only by the admin lock-out, because that one must survive a
reboot and no clock change may shorten it. A key that arrives after its session
timed out only ends that session.
view() returns what the screen shows, without pixels.
"""

import sys

from protocol.lockout import Lockout

import password
from ticks import ticks_add, ticks_diff

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x


# Modes, as view().mode names them.
MAIN = "MAIN"
TOKEN = "TOKEN"
LOGIN = "LOGIN"
MENU = "MENU"
EDIT = "EDIT"
CALIBRATE = "CALIBRATE"
NEW_PASSWORD = "CLAVE"

# Admin menu, in screen order.
UID = "UID"
DID = "DID"
FECHA = "FECHA"
CREDITO = "CREDITO"
SUBSIDIO = "SUBSIDIO"
CALIBRACION = "CALIBRACION"
CLAVE = "CLAVE"
HORA = "HORA"
DLMS = "DLMS"
SALIR = "SALIR"
ITEMS = (UID, DID, FECHA, HORA, CREDITO, SUBSIDIO, CALIBRACION, CLAVE, DLMS, SALIR)
FIELDS = (UID, DID, FECHA, CREDITO, SUBSIDIO)  # edited as text, saved by SALIR
NOW = (HORA, DLMS)                             # edited as text, applied when confirmed
_TENTHS = (CREDITO, SUBSIDIO)
# Longest text each field takes (one digit more than the rule where that helps to
# report the rule instead of silently refusing the key).
_FIELD_LEN = {UID: 10, DID: 10, FECHA: 8, CREDITO: 5, SUBSIDIO: 5, HORA: 12, DLMS: 16}
_CAL_LEN = const(4)

_TOKEN_TIMEOUT_MS = const(60000)
_ADMIN_TIMEOUT_MS = const(120000)
_NONE = const(())


class View:
    """One screenful: mode, title, the entry as shown, other lines, menu cursor, message.

    flag is a short machine-readable status for the app (beep, colour): "" or one
    of "incomplete", "full", "invalid", "wrong", "locked", "cancelled", "timeout",
    "saved".
    """

    def __init__(self, mode: str, title: str = "", entry: str = "", lines=(),
                 selected: int = -1, message: str = "", flag: str = ""):
        self.mode = mode
        self.title = title
        self.entry = entry
        self.lines = lines
        self.selected = selected
        self.message = message
        self.flag = flag


def _is_digit(k: str) -> bool:
    return len(k) == 1 and "0" <= k <= "9"


def group(digits: str, size: int = 5) -> str:
    """'12345678' -> '12345 678': codes are read back in groups of five."""
    return " ".join([digits[i:i + size] for i in range(0, len(digits), size)])


def _tenths(value: int) -> str:
    return "%d.%d" % (value // 10, value % 10)


def _shown(name: str, value) -> str:
    """A field's value as the menu and the editor show it."""
    if name in _TENTHS:
        return "" if value == "" else _tenths(int(value)) + " kWh"
    if name in (FECHA, HORA) and value:  # 2027-03-01, and HORA's time as 1030 (15 characters fit)
        date = "-".join([x for x in (value[:4], value[4:6], value[6:8]) if x])
        return date + " " + value[8:] if len(value) > 8 else date
    return value


class KeypadFsm:
    def __init__(self, record: password.PasswordRecord, lockout: Lockout,
                 code_lengths=(20,), settings=None,
                 token_timeout_ms: int = _TOKEN_TIMEOUT_MS,
                 admin_timeout_ms: int = _ADMIN_TIMEOUT_MS):
        """record and lockout as restored from flash; code_lengths: what the token
        profile accepts, e.g. (20,) STS, (9, 12) OpenPAYGO; settings: the saved
        admin fields (missing ones start empty / 0)."""
        if not code_lengths:
            raise ValueError("code_lengths: at least one length")
        self.record = record
        self.lockout = lockout
        self.code_lengths = tuple(code_lengths)
        self._max_code = max(self.code_lengths)
        # HORA shows the clock and DLMS whether a secret is set: the meter keeps them current
        self.settings = {UID: "", DID: "", FECHA: "", CREDITO: 0, SUBSIDIO: 0, HORA: "", DLMS: ""}
        for name in FIELDS + NOW:
            if settings and name in settings:
                self.settings[name] = settings[name]
        self._token_timeout_ms = token_timeout_ms
        self._admin_timeout_ms = admin_timeout_ms
        self.mode = MAIN
        self._deadline = 0
        self._entry = ""
        self._fresh = False        # the editor shows the saved value: a digit replaces it
        self._selected = 0
        self._field = ""           # field being edited
        self._pending: dict = {}   # edits confirmed in this session, saved by SALIR
        self._first = ""           # new password, first entry
        self._low_dv = -1          # calibration low point sent, -1 before it
        self._forced = False       # password change forced by must_change
        self._message = ""
        self._flag = ""

    # --- input -----------------------------------------------------------------

    def tick(self, now_ms: int) -> tuple:
        """Timeout check: call regularly (e.g. every second)."""
        if self.mode == MAIN or ticks_diff(now_ms, self._deadline) < 0:
            return _NONE
        which = "TOKEN" if self.mode == TOKEN else "ADMIN"
        self._leave("Tiempo agotado", "timeout")
        return (("timeout", which),)

    def key(self, k: str, now_ms: int, run_s: int) -> tuple:
        """One debounced key press: '0'-'9', 'A'-'D', '*' or '#'."""
        expired = self.tick(now_ms)
        if expired:
            return expired
        self._message = ""
        self._flag = ""
        mode = self.mode
        if mode != MAIN:
            self._deadline = ticks_add(now_ms, self._timeout(mode))
        if mode == MAIN:
            return self._main(k, now_ms, run_s)
        if mode == TOKEN:
            return self._token(k)
        if mode == LOGIN:
            return self._login(k, run_s)
        if mode == MENU:
            return self._menu(k)
        if mode == EDIT:
            return self._edit(k)
        if mode == CALIBRATE:
            return self._calibrate(k)
        return self._new_password(k)

    # --- modes -----------------------------------------------------------------

    def _main(self, k, now_ms, run_s):
        if k == "*":
            self._start(TOKEN, now_ms)
        elif k == "#":
            locked = self.lockout.remaining(run_s)
            if locked:
                self._say("Bloqueado: espere %d s" % locked, "locked")
                return (("lockout", locked),)
            self._start(LOGIN, now_ms)
        return _NONE

    def _token(self, k):
        if k == "*":
            if len(self._entry) in self.code_lengths:
                code = self._entry
                self._leave("", "")
                return (("token", code),)
            need = " o ".join([str(n) for n in self.code_lengths])
            self._say("Incompleto: %s digitos" % need, "incomplete")
        elif k == "#":
            self._leave("Cancelado", "cancelled")
        else:
            self._type(k, self._max_code)
        return _NONE

    def _login(self, k, run_s):
        if k == "*":
            self._leave("Cancelado", "cancelled")
        elif k != "#":
            self._type(k, password.MAX_LEN)
        elif self.record.verify(self._entry):
            had_failures = self.lockout.failures
            self.lockout.success()
            self._entry = ""
            if self.record.must_change:
                self._forced = True
                self._open_new_password("Cambie la clave de fabrica")
            else:
                self._open_menu(0, "")
            return (("lockout", 0),) if had_failures else _NONE
        else:
            lock_s = self.lockout.failure(run_s)
            if lock_s:
                self._leave("Bloqueado: espere %d s" % lock_s, "locked")
            else:
                self._entry = ""
                self._say("Clave incorrecta", "wrong")
            return (("lockout", lock_s),)
        return _NONE

    def _menu(self, k):
        count = len(ITEMS)
        if k == "A":
            self._selected = (self._selected - 1) % count
        elif k == "B":
            self._selected = (self._selected + 1) % count
        elif k == "*":
            self._selected = count - 1
            self._say("# en SALIR guarda y sale", "")
        elif k == "#":
            item = ITEMS[self._selected]
            if item in FIELDS or item in NOW:
                self._field = item
                value = self._pending.get(item, self.settings[item]) if item != DLMS else ""
                self._entry = str(value)
                self._fresh = True
                self.mode = EDIT
            elif item == CALIBRACION:
                self._low_dv = -1
                self._entry = ""
                self.mode = CALIBRATE
            elif item == CLAVE:
                self._forced = False
                self._open_new_password("")
            else:
                return self._save_and_exit()
        return _NONE

    def _edit(self, k):
        import admin_fields  # only while an admin edits: the rules stay out of the heap otherwise

        name = self._field
        if k == "*":
            self._open_menu(self._selected, "%s sin cambios" % name)
        elif k == "#":
            try:
                value = admin_fields.parse_field(name, self._entry)
            except ValueError as e:
                self._say(str(e), "invalid")
                return _NONE
            if name in NOW:
                self._open_menu(self._selected, "%s fijada" % name)
                return (("clock" if name == HORA else "lls_secret", value),)
            self._pending[name] = value
            self._open_menu(self._selected, "%s listo: SALIR guarda" % name)
        else:
            if _is_digit(k) or k == "D":
                if self._fresh and k != "D":
                    self._entry = ""
                self._fresh = False
            self._type(k, _FIELD_LEN[name])
        return _NONE

    def _calibrate(self, k):
        import admin_fields

        if k == "*":
            self._open_menu(self._selected, "Calibracion cancelada")
        elif k == "#":
            try:
                value = admin_fields.calibration_point(self._entry, self._low_dv)
            except ValueError as e:
                self._say(str(e), "invalid")
                return _NONE
            if self._low_dv < 0:
                self._low_dv = value
                self._entry = ""
                return (("calibrate", "low", value),)
            self._open_menu(self._selected, "Calibracion hecha")
            return (("calibrate", "high", value),)
        else:
            self._type(k, _CAL_LEN)
        return _NONE

    def _new_password(self, k):
        if k == "*":
            if self._forced:
                self._leave("Clave sin cambios", "cancelled")
                return (("admin_exit",),)
            self._open_menu(self._selected, "Clave sin cambios")
        elif k != "#":
            self._type(k, password.MAX_LEN)
        elif not self._first:
            try:
                password.check_new(self._entry)
                if self.record.verify(self._entry):
                    raise ValueError("CLAVE: must differ from the current one")
            except ValueError as e:
                self._entry = ""
                self._say(str(e), "invalid")
                return _NONE
            self._first = self._entry
            self._entry = ""
        elif self._entry != self._first:
            self._open_new_password("CLAVE: las dos no coinciden")
            self._flag = "invalid"
        else:
            self.record = password.new_record(self._entry)
            self._first = ""
            forced = self._forced
            self._forced = False
            self._open_menu(0 if forced else self._selected, "Clave cambiada")
            return (("password", self.record.pack()),)
        return _NONE

    def report(self, message: str, flag: str) -> None:
        """What the meter decided about the last action (e.g. a calibration it refused)."""
        self._say(message, flag)

    # --- helpers ---------------------------------------------------------------

    def _save_and_exit(self):
        out: list = []
        for name in FIELDS:
            if name in self._pending:
                self.settings[name] = self._pending[name]
                out.append(("setting", name, self._pending[name]))
        out.append(("admin_exit",))
        self._leave("Guardado" if self._pending else "", "saved" if self._pending else "")
        return tuple(out)

    def _type(self, k, limit):
        """Digits append up to `limit`, D deletes; other keys do nothing here."""
        if k == "D":
            self._entry = self._entry[:-1]
        elif _is_digit(k):
            if len(self._entry) < limit:
                self._entry += k
            else:
                self._say("Maximo %d digitos" % limit, "full")

    def _timeout(self, mode):
        """One retriggerable deadline: token entry or the whole admin session."""
        return self._token_timeout_ms if mode == TOKEN else self._admin_timeout_ms

    def _start(self, mode, now_ms):
        self.mode = mode
        self._entry = ""
        self._deadline = ticks_add(now_ms, self._timeout(mode))

    def _leave(self, message, flag):
        """Back to MAIN, forgetting everything typed and not saved."""
        self.mode = MAIN
        self._entry = ""
        self._first = ""
        self._pending = {}
        self._forced = False
        self._say(message, flag)
        sys.modules.pop("admin_fields", None)  # the admin's rules leave the heap with the admin

    def _open_menu(self, selected, message):
        self.mode = MENU
        self._selected = selected
        self._entry = ""
        self._say(message, "")

    def _open_new_password(self, message):
        self.mode = NEW_PASSWORD
        self._entry = ""
        self._first = ""
        self._say(message, "")

    def _say(self, message, flag):
        self._message = message
        self._flag = flag

    # --- screen ----------------------------------------------------------------

    def view(self) -> View:
        mode, entry = self.mode, self._entry
        msg, flag = self._message, self._flag
        if mode == TOKEN:
            need = "/".join([str(n) for n in self.code_lengths])
            return View(mode, "Codigo de recarga", group(entry),
                        ("%d de %s digitos" % (len(entry), need), "D borrar  * OK  # cancelar"),
                        -1, msg, flag)
        if mode == LOGIN:
            return View(mode, "Clave de administrador", "*" * len(entry),
                        ("# OK  * cancelar",), -1, msg, flag)
        if mode == MENU:
            lines = []
            for name in ITEMS:
                if name in FIELDS or name in NOW:
                    shown = _shown(name, self._pending.get(name, self.settings[name]))
                    lines.append(name + " " + shown if shown else name)
                else:
                    lines.append(name)
            return View(mode, "Administracion", "", tuple(lines), self._selected, msg, flag)
        if mode == EDIT:
            name = self._field
            return View(mode, name, _shown(name, entry), ("# OK  * volver  D borrar",),
                        self._selected, msg, flag)
        if mode == CALIBRATE:
            point = "baja (~60 V)" if self._low_dv < 0 else "alta (~120 V)"
            shown = _tenths(int(entry)) + " V" if entry else ""
            return View(mode, "CALIBRACION " + point, shown,
                        ("Voltios RMS del patron", "en decimas: 1200 = 120.0 V"),
                        self._selected, msg, flag)
        if mode == NEW_PASSWORD:
            title = "Repita la clave nueva" if self._first else "Clave nueva"
            return View(mode, title, "*" * len(entry),
                        ("%d-%d digitos" % (password.MIN_LEN, password.MAX_LEN),),
                        self._selected, msg, flag)
        return View(MAIN, "", "", (), -1, msg, flag)
