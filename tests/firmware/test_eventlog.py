"""Event log: sequence numbers, segments, torn records (MicroPython and CPython)."""

from protocol import events

import eventlog
from eventlog import EventLog

from tests.firmware.fakeflash import FakeFlash, InjectedFault


def test_append_and_reload_keeps_sequence():
    flash = FakeFlash()
    log = EventLog("/m/events", 8, flash.open)
    log.load()
    for i in range(5):
        assert log.append(1000 + i, events.RECHARGE, 250 * i, 1) == i
    again = EventLog("/m/events", 8, flash.open)
    again.load()
    assert again.seq == 5
    logged = again.events()
    assert [e[0] for e in logged] == [0, 1, 2, 3, 4]
    assert logged[2] == (2, 1002, events.RECHARGE, 500, 1)


def test_segments_bound_the_flash_and_keep_history_in_order():
    flash = FakeFlash()
    log = EventLog("/m/events", 4, flash.open)
    log.load()
    for i in range(11):
        log.append(i, events.RELAY, i % 2, 2)
    seqs = [e[0] for e in log.events()]
    assert seqs == list(range(seqs[0], 11)) and 4 <= len(seqs) <= 8
    assert all(len(data) <= 4 * eventlog.RECORD for data in flash.files.values())


def test_torn_record_is_dropped_and_overwritten():
    flash = FakeFlash()
    log = EventLog("/m/events", 8, flash.open)
    log.load()
    log.append(1, events.POWER_UP)
    flash.arm(1, tear=True)
    try:
        log.append(2, events.RECHARGE, 100)
        raise AssertionError("no fault")
    except InjectedFault:
        pass
    rebooted = EventLog("/m/events", 8, flash.open)
    rebooted.load()
    assert rebooted.seq == 1  # the torn event never happened
    rebooted.append(3, events.POWER_UP)
    again = EventLog("/m/events", 8, flash.open)
    again.load()
    assert [e[0] for e in again.events()] == [0, 1] and again.events()[1][1] == 3


def test_garbage_only_segment_starts_clean():
    flash = FakeFlash()
    flash.files["/m/events.0"] = b"\x01\x02\x03"
    log = EventLog("/m/events", 8, flash.open)
    log.load()
    assert log.seq == 0
    log.append(7, events.POWER_UP)
    again = EventLog("/m/events", 8, flash.open)
    again.load()
    assert [e[1] for e in again.events()] == [7]
