"""The admin menu, listed once (ITEMS), and the rules for what a technician types in it: identifiers,
dates, the clock, kWh in tenths, the DLMS secret and calibration voltages. Loaded with admin_menu,
only while an admin is at the keypad, so the table, its rules and messages stay out of the heap of
a meter nobody is configuring.
"""

import password

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

# Kinds: a value's unit in the settings and the actions, how it is typed, checked and shown, with
# what low-high means for it.
DIGITS = const(1)       # str of digits; low-high digits
DATE = const(2)         # int AAAAMMDD (0: none), typed as a real date of 2000-2099; high digits
CLOCK = const(3)        # str AAAAMMDDhhmm, local time; shows the meter's clock (fsm.live); high digits
WH = const(4)           # int Wh, typed in tenths of a kWh (125 = 12.5 kWh); low-high Wh
ADVANCE = const(5)      # Wh as WH, an advance to grant: shows what is still owed (fsm.live) and is
                        # typed from empty, so # alone never grants the owed again
SECRET = const(6)       # str of digits; shows whether one is set (fsm.live), typed from empty; low-high digits
CALIBRATION = const(7)  # opens the two-point voltage calibration; low-high tenths of a volt
PASSWORD = const(8)     # opens the password change; low-high digits
EXIT = const(9)         # SALIR: saves the AT_SALIR values confirmed, all or none, and leaves
# When an item applies.
AT_SALIR = const(0)     # confirmed values wait for SALIR's one ("settings", ((key, value), ...))
AT_ONCE = const(1)      # the item's action when confirmed, named by its key: (key, value...)

# The menu in screen order, ROW values an item (row(i)): one flat tuple, where a tuple per item and
# per rule would be 20 more objects in the heap of a session. key: the settings.py key an AT_SALIR
# item saves (an ADMIN event names it by protocol/events.ADMIN_SETTINGS, never by its place here),
# or the action an AT_ONCE item returns.
ROW = const(6)
ITEMS = (
    # label        key            kind         low                high               applied
    "UID",         "uid",         DIGITS,      6,                 10,                AT_SALIR,  # NIT or CC
    "DID",         "did",         DIGITS,      3,                 10,                AT_SALIR,  # cedula
    "FECHA",       "fecha",       DATE,        8,                 8,                 AT_SALIR,  # in service
    "HORA",        "clock",       CLOCK,       12,                12,                AT_ONCE,
    "CREDITO",     "credito_wh",  ADVANCE,     100,               999900,            AT_SALIR,
    "SUBSIDIO",    "subsidio_wh", WH,          0,                 999900,            AT_SALIR,  # a month
    "CALIBRACION", "calibrate",   CALIBRATION, 10,                1400,              AT_ONCE,   # 1-140 V
    "CLAVE",       "password",    PASSWORD,    password.MIN_LEN,  password.MAX_LEN,  AT_ONCE,
    "DLMS",        "lls_secret",  SECRET,      8,                 16,                AT_ONCE,
    "SALIR",       "settings",    EXIT,        0,                 0,                 AT_ONCE,
)


_CAL_SPAN_DV = const(200)  # calibration: high at least 20.0 V above low


def row(i: int) -> tuple:
    """Item i of the menu: (label, key, kind, low, high, applied)."""
    return ITEMS[i * ROW:i * ROW + ROW]


def tenths(value: int) -> str:
    """125 -> '12.5': what the menu types in tenths (kWh, volts)."""
    return "%d.%d" % (value // 10, value % 10)


def max_len(item) -> int:
    """Longest entry the item takes: one digit more than a kWh rule, to report the rule rather
    than silently refuse the key."""
    kind, high = item[2], item[4]
    if kind in (WH, ADVANCE):
        return len(str(high // 100)) + 1
    if kind == CALIBRATION:
        return len(str(high))
    return high


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _check_date(name: str, text: str) -> None:
    """AAAAMMDD at the start of text: a real date of 2000-2099."""
    year, month, day = int(text[:4]), int(text[4:6]), int(text[6:8])
    if not 2000 <= year <= 2099:
        raise ValueError("%s: ano 2000-2099" % name)
    if not 1 <= month <= 12:
        raise ValueError("%s: mes 01-12" % name)
    if not 1 <= day <= _days_in_month(year, month):
        raise ValueError("%s: dia 01-%02d en ese mes" % (name, _days_in_month(year, month)))


def parse(item, text: str):
    """The value an item's digits stand for, in its key's unit; ValueError names the rule."""
    name, _, kind, low, high, _ = item
    if kind in (WH, ADVANCE):
        if not text:
            raise ValueError("%s: kWh en decimas (125 = 12.5)" % name)
        value = int(text) * 100
        if not low <= value <= high:
            raise ValueError("%s: %s-%s kWh" % (name, tenths(low // 100), tenths(high // 100)))
        return value
    if not low <= len(text) <= high:
        if kind == DATE or kind == CLOCK:
            raise ValueError("%s: %d digitos AAAAMMDD%s" % (name, high, "hhmm" if kind == CLOCK else ""))
        raise ValueError("%s: %d-%d digitos" % (name, low, high))
    if kind == DATE or kind == CLOCK:
        _check_date(name, text)
        if kind == DATE:
            return int(text)
        if int(text[8:10]) > 23 or int(text[10:12]) > 59:
            raise ValueError("%s: hora 00-23, minutos 00-59" % name)
    return text


def calibration_point(item, text: str, low_dv: int) -> int:
    name, low, high = item[0], item[3], item[4]
    value = int(text) if text else 0
    if not low <= value <= high:
        raise ValueError("%s: %s-%s V" % (name, tenths(low), tenths(high)))
    if low_dv >= 0 and value < low_dv + _CAL_SPAN_DV:
        raise ValueError("%s: alta >= baja + %s V" % (name, tenths(_CAL_SPAN_DV)))
    return value
