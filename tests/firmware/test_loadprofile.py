"""Load profiles: capture, reload, power cuts, wrap, range selection, due() (MicroPython and CPython)."""

import loadprofile
from loadprofile import LoadProfile

from tests.firmware.fakeflash import InjectedFault
from tests.firmware.seekflash import SeekFlash
from tests.nogc import without_allocation

T0 = 852076800  # 2027-01-01 00:00 UTC, seconds since 2000: a whole hour


def _profile(flash, capacity=10, segment_rows=4):
    profile = LoadProfile("/m/lp15", 900, ("import_wh", "export_wh", "voltage_mv"), capacity, flash.open,
                          segment_rows)
    profile.load()
    return profile


def _row(n):
    return (T0 + 900 * n, 1000 * n, -n, 230000 + n)


def _capture(profile, row):
    profile.capture(row[0], row[1:])


def _rows(profile):
    return [profile.row(i) for i in range(profile.entries)]


def test_rows_come_back_after_a_reboot():
    flash = SeekFlash()
    profile = _profile(flash)
    rows = [_row(n) for n in range(1, 6)]
    for row in rows:
        _capture(profile, row)
    assert profile.entries == 5 and _rows(profile) == rows
    again = _profile(flash)
    assert again.entries == 5 and again.capacity == 10 and _rows(again) == rows
    assert again.seq == 5 and again.due(rows[-1][0] + 899) == 0 and again.due(rows[-1][0] + 900)


def test_wrap_keeps_the_newest_capacity_rows_in_order_in_bounded_flash():
    flash = SeekFlash()
    profile = _profile(flash, capacity=10, segment_rows=4)
    rows = []
    for n in range(1, 38):
        rows.append(_row(n))
        _capture(profile, rows[-1])
        assert profile.entries == min(n, 10) and _rows(profile) == rows[-profile.entries:]
    assert len(flash.files) == 4  # 3 segments hold the capacity, a 4th takes turns
    assert all(len(data) <= 4 * len(profile._buf) for data in flash.files.values())
    again = _profile(flash, capacity=10, segment_rows=4)
    assert _rows(again) == rows[-10:]
    _capture(again, _row(38))
    assert _rows(again) == rows[-9:] + [_row(38)]


def test_the_meter_profiles_fit_littlefs_blocks():
    quarter = LoadProfile("/m/q", 900, loadprofile.QUARTER_COLUMNS, 96 * 7)
    hourly = LoadProfile("/m/h", 3600, loadprofile.HOURLY_COLUMNS, 24 * 35)
    figures = []
    for p in (quarter, hourly):
        segments, size = len(p._counts), len(p._buf)
        rows = -(-p.capacity // (segments - 1))  # per segment: K - 1 of them hold the capacity
        assert rows * size <= 4096
        figures.append((size, rows, segments, segments * rows * size))
    assert figures == [(22, 168, 5, 18480), (30, 120, 8, 28800)]  # the module docstring's figures


def test_a_power_cut_at_any_write_keeps_every_complete_row_and_nothing_else():
    for tear in (False, True):
        for k in range(1, 16):
            flash = SeekFlash()
            profile = _profile(flash, capacity=6, segment_rows=3)
            done = []
            flash.arm(k, tear)
            try:
                for n in range(1, 16):
                    _capture(profile, _row(n))
                    done.append(_row(n))
            except InjectedFault:
                pass
            again = _profile(flash, capacity=6, segment_rows=3)
            assert again.entries == min(len(done), 6), (tear, k)
            assert _rows(again) == done[-again.entries:], (tear, k)
            # Capturing goes on after the reboot; a torn segment is left and later recycled.
            for n in range(len(done) + 2, len(done) + 12):
                _capture(again, _row(n))
                done.append(_row(n))
                assert _rows(again) == done[-again.entries:], (tear, k, n)
            final = _profile(flash, capacity=6, segment_rows=3)
            assert final.entries == 6 and _rows(final) == done[-6:], (tear, k)


def test_a_torn_record_is_ignored_and_never_appended_after():
    flash = SeekFlash()
    profile = _profile(flash, capacity=10, segment_rows=4)
    _capture(profile, _row(1))
    _capture(profile, _row(2))
    flash.arm(1, tear=True)
    try:
        _capture(profile, _row(3))
        raise AssertionError("no fault")
    except InjectedFault:
        pass
    (path, torn), = [(p, data) for p, data in flash.files.items() if data]
    assert len(torn) == 2 * len(profile._buf) + len(profile._buf) // 2
    again = _profile(flash, capacity=10, segment_rows=4)
    assert _rows(again) == [_row(1), _row(2)] and again.seq == 2
    _capture(again, _row(4))
    assert flash.files[path] == torn  # the next row went to a fresh segment
    assert _rows(_profile(flash, capacity=10, segment_rows=4)) == [_row(1), _row(2), _row(4)]


def test_garbage_files_read_as_empty():
    flash = SeekFlash()
    flash.files["/m/lp15.0"] = b"\x01\x02\x03"
    flash.files["/m/lp15.1"] = bytes(range(44))
    profile = _profile(flash)
    assert profile.entries == 0
    _capture(profile, _row(1))
    assert _rows(_profile(flash)) == [_row(1)]


def test_range_index_on_boundaries_gaps_and_outside():
    flash = SeekFlash()
    profile = _profile(flash, capacity=20)
    assert profile.range_index(0, T0 * 2) == (0, 0)  # empty profile
    for n in (1, 2, 3, 5, 6, 10):
        _capture(profile, _row(n))
    t = lambda n: T0 + 900 * n  # noqa: E731
    assert profile.range_index(t(1), t(3)) == (0, 3)      # both ends included
    assert profile.range_index(t(2), t(2)) == (1, 1)
    assert profile.range_index(t(4), t(4)) == (3, 0)      # in a gap: empty
    assert profile.range_index(t(4) + 1, t(9)) == (3, 2)
    assert profile.range_index(t(3) + 1, t(5) - 1) == (3, 0)
    assert profile.range_index(0, t(1) - 1) == (0, 0)     # before the oldest row
    assert profile.range_index(t(10) + 1, t(99)) == (6, 0)  # after the newest
    assert profile.range_index(0, t(99)) == (0, 6)
    assert profile.range_index(t(6), t(2)) == (4, 0)      # from after to: empty
    first, count = profile.range_index(t(5), t(10))
    assert [profile.row(i)[0] for i in range(first, first + count)] == [t(5), t(6), t(10)]


def test_range_index_sees_only_the_rows_in_use_after_a_wrap():
    flash = SeekFlash()
    profile = _profile(flash, capacity=4, segment_rows=2)
    for n in range(1, 10):
        _capture(profile, _row(n))
    assert [r[0] for r in _rows(profile)] == [T0 + 900 * n for n in (6, 7, 8, 9)]
    assert profile.range_index(0, T0 + 900 * 5) == (0, 0)  # rows 1-5 are gone (or hidden)
    assert profile.range_index(0, T0 + 900 * 7) == (0, 2)
    assert profile.range_index(T0 + 900 * 9, T0 + 900 * 9) == (3, 1)


def test_due_once_per_boundary_and_once_after_a_gap():
    flash = SeekFlash()
    profile = _profile(flash)
    assert profile.due(T0 + 100) == 0        # a new profile counts from here
    assert profile.due(T0 + 899) == 0
    assert profile.due(T0 + 900) == T0 + 900
    assert profile.due(T0 + 960) == T0 + 900  # still due until captured
    _capture(profile, _row(1))
    assert profile.due(T0 + 960) == 0 and profile.due(T0 + 1799) == 0
    assert profile.due(T0 + 900 * 6 + 30) == T0 + 900 * 6  # powered off 5 periods: the latest only
    _capture(profile, _row(6))
    assert profile.due(T0 + 900 * 6 + 31) == 0
    again = _profile(flash)                   # after a reboot, counting goes on from the newest row
    assert again.due(T0 + 900 * 6 + 899) == 0 and again.due(T0 + 900 * 7) == T0 + 900 * 7
    assert again.due(T0) == 0                 # a clock set back: nothing until it passes the newest row


def test_capture_keeps_time_order_and_saturates_values():
    profile = _profile(SeekFlash())
    for bad in ((T0 + 900, (1, 2)), (T0 + 901, (1, 2, 3))):
        try:
            profile.capture(bad[0], bad[1])
            raise AssertionError("accepted %r" % (bad,))
        except ValueError:
            pass
    profile.capture(T0 + 900, (1 << 40, -(1 << 40), -1))
    assert profile.row(0) == (T0 + 900, 0x7FFFFFFF, -0x80000000, -1)
    for time_s in (T0 + 900, T0):
        try:
            profile.capture(time_s, (1, 2, 3))
            raise AssertionError("accepted time %d" % time_s)
        except ValueError:
            pass
    try:
        profile.row(1)
        raise AssertionError("row past the end")
    except IndexError:
        pass


def test_clear_forgets_every_row():
    flash = SeekFlash()
    profile = _profile(flash, capacity=6, segment_rows=3)
    for n in range(1, 9):
        _capture(profile, _row(n))
    profile.clear()
    assert profile.entries == 0 and _profile(flash, capacity=6, segment_rows=3).entries == 0
    _capture(profile, _row(2))  # earlier than the forgotten rows: a clock put right
    again = _profile(flash, capacity=6, segment_rows=3)
    assert _rows(again) == [_row(2)] and again.seq == 9
    again.clear()  # and due() starts counting anew
    assert again.due(T0 + 900 * 20) == 0 and again.due(T0 + 900 * 21) == T0 + 900 * 21


def test_reading_takes_single_records_not_the_profile():
    flash = SeekFlash()
    profile = LoadProfile("/m/lp15", 900, loadprofile.QUARTER_COLUMNS, 96 * 7, flash.open)
    profile.load()
    for n in range(1, 701):
        _capture(profile, _row(n))
    size = len(profile._buf)
    flash.bytes_read = 0
    again = LoadProfile("/m/lp15", 900, loadprofile.QUARTER_COLUMNS, 96 * 7, flash.open)
    again.load()
    assert again.entries == 672 and flash.bytes_read == len(again._counts) * size  # the last record of each
    flash.bytes_read = 0
    assert again.row(0) == _row(29) and again.row(671) == _row(700) and flash.bytes_read == 2 * size
    flash.bytes_read = 0
    assert again.range_index(T0 + 900 * 100, T0 + 900 * 199) == (71, 100)
    assert flash.bytes_read <= 2 * 11 * size  # two binary searches over 672 rows


class _Sink:
    """A file system that takes writes without allocating (the file object is made once)."""

    def __init__(self):
        self.written = 0

    def open(self, path, mode="rb"):
        return self

    def write(self, data):
        self.written += len(data)

    def __enter__(self):
        return self

    def __exit__(self, kind, value, trace):  # not *exc: packing those would allocate
        return False


def _allocated(run):
    """Bytes `run()` allocates, with the collector off (MicroPython); None under CPython."""
    import gc

    if not hasattr(gc, "mem_alloc"):
        run()
        return None
    gc.collect()
    gc.disable()
    try:
        before = gc.mem_alloc()
        run()
        return gc.mem_alloc() - before
    finally:
        gc.enable()


def test_capture_allocates_only_a_file_name_and_due_nothing():
    sink = _Sink()
    profile = LoadProfile("/m/lp15", 900, ("a", "b", "c"), 6, sink.open, 3)
    values = [123456, -7, 230000]

    def run():
        for n in range(1, 12):  # appends ('ab'), new segments and a recycled one ('wb')
            time_s = profile.due(T0 + 900 * n + 5)
            if time_s:
                profile.capture(time_s, values)

    profile.due(T0)
    used = _allocated(run)
    assert profile.entries == 6 and profile.seq == 11 and sink.written == 11 * len(profile._buf)
    assert used is None or used <= 11 * 128, used  # the path of the segment, made to open it (~90 B)

    def every_second():
        for s in range(60):
            profile.due(T0 + 900 * 11 + s)

    without_allocation(every_second)  # MicroPython: with the heap locked
