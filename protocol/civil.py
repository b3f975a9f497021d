"""Calendar dates and the meter clock (seconds since 2000-01-01), on every runtime.

The boards' time functions count from 2000, the unix port's from 1970: computing
the civil date ourselves keeps months and hours the same everywhere.
"""

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

_DAY_S = const(86400)
_DAYS_1970_TO_2000 = const(10957)
UNIX_2000 = _DAYS_1970_TO_2000 * _DAY_S  # 946684800: add to the meter clock for Unix time


def date(seconds: int):
    """(year, month, day, hour) of a time in seconds since 2000-01-01."""
    days = seconds // _DAY_S + _DAYS_1970_TO_2000
    hour = seconds % _DAY_S // 3600
    # Days since 1970-01-01 to a proleptic Gregorian date, in 400-year eras.
    days += 719468
    era = days // 146097
    doe = days - era * 146097
    yoe = (doe - doe // 1460 + doe // 36524 - doe // 146096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    day = doy - (153 * mp + 2) // 5 + 1
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year, month, day, hour


def month_id(seconds: int) -> int:
    """year * 12 + month: one number per calendar month, increasing."""
    year, month, _, _ = date(seconds)
    return year * 12 + month


def seconds(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> int:
    """Seconds since 2000-01-01 of a civil date and time (the inverse of date())."""
    y = year - 1 if month <= 2 else year
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month - 3 if month > 2 else month + 9) + 2) // 5 + day - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    days = era * 146097 + doe - 719468 - _DAYS_1970_TO_2000
    return days * _DAY_S + hour * 3600 + minute * 60 + second


def weekday(seconds_: int) -> int:
    """ISO day of the week, 1 = Monday .. 7 = Sunday (2000-01-01 was a Saturday)."""
    return (seconds_ // _DAY_S + 5) % 7 + 1
