"""The firmware's calendar agrees with Python's datetime over the meter's lifetime."""

import datetime

from hypothesis import given, settings
from hypothesis import strategies as st

from opsm.protocol.civil import date

EPOCH = datetime.datetime(2000, 1, 1)


@given(st.integers(0, 2**31))
@settings(max_examples=3000, deadline=None)
def test_matches_datetime(seconds):
    d = EPOCH + datetime.timedelta(seconds=seconds)
    assert date(seconds) == (d.year, d.month, d.day, d.hour)


@given(st.integers(0, 2**31))
@settings(max_examples=1000, deadline=None)
def test_seconds_and_weekday_match_datetime(t):
    from opsm.protocol.civil import seconds, weekday
    d = EPOCH + datetime.timedelta(seconds=t)
    assert seconds(d.year, d.month, d.day, d.hour, d.minute, d.second) == t
    assert weekday(t) == d.isoweekday()
