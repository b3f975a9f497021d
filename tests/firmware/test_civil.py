"""Civil dates from seconds since 2000 (MicroPython and CPython)."""

from civil import date, month_id

_2027 = 9862 * 86400  # 2027-01-01 00:00: 27 years, 7 of them leap years


def test_known_dates():
    assert date(0) == (2000, 1, 1, 0)
    assert date(59 * 86400) == (2000, 2, 29, 0)  # 2000 is a leap year
    assert date(60 * 86400 + 3600 * 13) == (2000, 3, 1, 13)
    assert date(_2027 - 1) == (2026, 12, 31, 23)
    assert date(_2027) == (2027, 1, 1, 0)
    assert month_id(_2027) == month_id(_2027 - 1) + 1 == 2027 * 12 + 1
