"""What the 4x4 keypad means: `*` recharge code entry and the `#` admin menu.

Pure logic, so every screen and rule is tested without a board: the app feeds
key(k, now_ms, run_s) for each debounced press and tick(now_ms) regularly, and
carries out the actions returned (a tuple of tuples, empty when nothing to do):

  ("token", digits)               a code typed and confirmed with `*`
  ("settings", ((key, value)...)) SALIR saves every edited setting at once (all or none),
                                  by its settings.py key in its unit: "uid", "did" (str),
                                  "fecha" (int AAAAMMDD), "subsidio_wh" (Wh), "credito_wh"
                                  (Wh: an advance to grant, not a standing value)
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
  ("message",)                    a message on the main screen (cancelled, locked, timed
                                  out) has been shown long enough: redraw without it

now_ms is a millisecond tick counter compared with ticks_diff (wraps like the
boards' ticks_ms every 2**30 ms); run_s is the meter's running time in seconds
(meterclock), used only by the admin lock-out, because that one must survive a
reboot and no clock change may shorten it. A key that arrives after its session
timed out only ends that session.
view() returns what the screen shows, without pixels. The admin's modes (login, menu,
editing, calibration, password) live in admin_menu.py and the menu itself, once, in
admin_fields.ITEMS: both are in the heap only during a session.
"""

from protocol.lockout import Lockout

from hal import release
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

_TOKEN_TIMEOUT_MS = const(60000)
_ADMIN_TIMEOUT_MS = const(120000)
_MESSAGE_MS = const(8000)  # how long the main screen shows why a session ended
_NONE = const(())


class View:
    """One screenful: mode, title, the entry as shown, other lines, menu cursor, message; in MENU
    and EDIT, items are the menu's labels and lines the value beside each (admin_menu.values()).

    flag is a short machine-readable status for the app (beep, colour): "" or one
    of "incomplete", "full", "invalid", "wrong", "locked", "cancelled", "timeout",
    "saved".
    """

    def __init__(self, mode: str, title: str = "", entry: str = "", lines=(),
                 selected: int = -1, message: str = "", flag: str = "", items=()):
        self.mode = mode
        self.items = items
        self.title = title
        self.entry = entry
        self.lines = lines
        self.selected = selected
        self.message = message
        self.flag = flag


def is_digit(k: str) -> bool:
    return len(k) == 1 and "0" <= k <= "9"


def group(digits: str, size: int = 5) -> str:
    """'12345678' -> '12345 678': codes are read back in groups of five."""
    return " ".join([digits[i:i + size] for i in range(0, len(digits), size)])


class KeypadFsm:
    def __init__(self, record: bytes, lockout: Lockout,
                 code_lengths=(20,), settings=None,
                 token_timeout_ms: int = _TOKEN_TIMEOUT_MS,
                 admin_timeout_ms: int = _ADMIN_TIMEOUT_MS):
        """record and lockout as restored from flash; code_lengths: what the token
        profile accepts, e.g. (20,) STS, (9, 12) OpenPAYGO; settings: the saved settings the
        menu shows, read by key with settings.get(key) and never written (the meter's
        settings.Settings, or a dict: missing ones show empty)."""
        if not code_lengths:
            raise ValueError("code_lengths: at least one length")
        self.record = record
        self.lockout = lockout
        self.code_lengths = tuple(code_lengths)
        self._max_code = max(self.code_lengths)
        self.settings = settings if settings is not None else {}
        # What the menu shows that is no saved setting, by key, kept current by the meter while
        # the menu is open: "clock" (local AAAAMMDDhhmm), "lls_secret" (True: a secret is set),
        # "credito_wh" (the advance still owed, Wh).
        self.live: dict = {}
        self._token_timeout_ms = token_timeout_ms
        self._admin_timeout_ms = admin_timeout_ms
        self.mode = MAIN
        self._deadline = 0
        self._entry = ""
        self._fresh = False        # the editor shows the saved value: a digit replaces it
        self._selected = 0         # menu row; in EDIT, the row being edited
        self._pending: dict = {}   # setting key -> value confirmed in this session, saved by SALIR
        self._first = ""           # new password, first entry
        self._low_dv = -1          # calibration low point sent, -1 before it
        self._forced = False       # password change forced by must_change
        self._message = ""
        self._flag = ""

    # --- input -----------------------------------------------------------------

    def tick(self, now_ms: int) -> tuple:
        """Timeout check: call regularly (e.g. every second)."""
        if ticks_diff(now_ms, self._deadline) < 0:
            return _NONE
        if self.mode == MAIN:
            if not self._message:
                return _NONE
            self._say("", "")
            return (("message",),)
        which = "TOKEN" if self.mode == TOKEN else "ADMIN"
        self._leave("Tiempo agotado", "timeout")
        self._deadline = ticks_add(now_ms, _MESSAGE_MS)
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
            actions = self._main(k, now_ms, run_s)
        elif mode == TOKEN:
            actions = self._token(k)
        else:  # the admin's modes: their code is in the heap only while an admin is at the keypad
            import admin_menu

            actions = admin_menu.key(self, k, run_s)
        if self.mode == MAIN and self._message:  # shown on the main screen for a while
            self._deadline = ticks_add(now_ms, _MESSAGE_MS)
        return actions

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

    def report(self, message: str, flag: str) -> None:
        """What the meter decided about the last action (e.g. a calibration it refused)."""
        self._say(message, flag)

    # --- helpers ---------------------------------------------------------------

    def _type(self, k, limit):
        """Digits append up to `limit`, D deletes; other keys do nothing here."""
        if k == "D":
            self._entry = self._entry[:-1]
        elif is_digit(k):
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
        self.live.clear()
        self._say(message, flag)
        release(("admin_menu", "admin_fields", "password"))  # the admin's code leaves the heap with the admin

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
        if mode != MAIN:
            import admin_menu

            return admin_menu.view(self)
        return View(MAIN, "", "", (), -1, msg, flag)
