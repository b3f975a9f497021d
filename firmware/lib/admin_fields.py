"""The admin menu's rules for what a technician types: identifiers, dates, the clock, kWh in tenths,
the DLMS secret and calibration voltages. Loaded with admin_menu, only while an admin is at the
keypad, so its rules and messages stay out of the heap of a meter nobody is configuring.
"""

from keypad_fsm import CREDITO, DID, DLMS, FECHA, HORA, TENTHS, UID

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

_LLS_DIGITS = (8, 16)                        # the DLMS management secret typed on the keypad
_ID_DIGITS = {UID: (6, 10), DID: (3, 10)}  # NIT (9 + check digit) or CC; cedula
_TENTHS_MAX = const(9999)                    # 999.9 kWh
_CAL_MIN_DV = const(10)                      # 1.0 V
_CAL_MAX_DV = const(1400)                    # 140.0 V: above the 130 V range
_CAL_SPAN_DV = const(200)                    # high at least 20.0 V above low


def tenths(value: int) -> str:
    """125 -> '12.5': what the menu types in tenths (kWh, volts)."""
    return "%d.%d" % (value // 10, value % 10)


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


def parse_field(name: str, text: str):
    """The value an admin field saves from the digits typed; ValueError names the rule."""
    if name in _ID_DIGITS:
        low, high = _ID_DIGITS[name]
        if not low <= len(text) <= high:
            raise ValueError("%s: %d-%d digitos" % (name, low, high))
        return text
    if name == FECHA:
        if len(text) != 8:
            raise ValueError("FECHA: 8 digitos AAAAMMDD")
        _check_date(name, text)
        return text
    if name == HORA:
        if len(text) != 12:
            raise ValueError("HORA: 12 digitos AAAAMMDDhhmm")
        _check_date(name, text)
        if int(text[8:10]) > 23 or int(text[10:12]) > 59:
            raise ValueError("HORA: hora 00-23, minutos 00-59")
        return text
    if name == DLMS:
        if not _LLS_DIGITS[0] <= len(text) <= _LLS_DIGITS[1]:
            raise ValueError("DLMS: %d-%d digitos" % _LLS_DIGITS)
        return text
    if name in TENTHS:
        if not text:
            raise ValueError("%s: kWh en decimas (125 = 12.5)" % name)
        value = int(text)
        low = 1 if name == CREDITO else 0  # an advance of nothing grants nothing
        if not low <= value <= _TENTHS_MAX:
            raise ValueError("%s: %s-%s kWh" % (name, tenths(low), tenths(_TENTHS_MAX)))
        return value
    raise ValueError("admin: no field " + name)


def calibration_point(text: str, low_dv: int) -> int:
    value = int(text) if text else 0
    if not _CAL_MIN_DV <= value <= _CAL_MAX_DV:
        raise ValueError("CALIBRACION: %s-%s V" % (tenths(_CAL_MIN_DV), tenths(_CAL_MAX_DV)))
    if low_dv >= 0 and value < low_dv + _CAL_SPAN_DV:
        raise ValueError("CALIBRACION: alta >= baja + %s V" % tenths(_CAL_SPAN_DV))
    return value
