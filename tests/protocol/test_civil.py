"""Civil dates from seconds since 2000 (MicroPython and CPython)."""

from protocol.civil import date, month_id

_2027 = 9862 * 86400  # 2027-01-01 00:00: 27 years, 7 of them leap years


def test_known_dates():
    assert date(0) == (2000, 1, 1, 0)
    assert date(59 * 86400) == (2000, 2, 29, 0)  # 2000 is a leap year
    assert date(60 * 86400 + 3600 * 13) == (2000, 3, 1, 13)
    assert date(_2027 - 1) == (2026, 12, 31, 23)
    assert date(_2027) == (2027, 1, 1, 0)
    assert month_id(_2027) == month_id(_2027 - 1) + 1 == 2027 * 12 + 1


def test_seconds_is_the_inverse_of_date():
    from protocol.civil import seconds, weekday
    assert seconds(2000, 1, 1) == 0 and seconds(2027, 1, 1) == _2027
    assert weekday(0) == 6 and weekday(_2027) == 5  # Saturday, Friday
    for t in (0, 59 * 86400, 60 * 86400 + 7 * 3600, _2027 - 1, 4102444800 - 946684800 + 12345):
        y, m, d, h = date(t)
        assert seconds(y, m, d, h, t % 3600 // 60, t % 60) == t
