"""Tick arithmetic under CPython wraps like a 32-bit board's counter."""

import ticks
import ticks_host


def test_wraps_with_the_boards_period():
    assert ticks.PERIOD == 1 << 30
    assert ticks.ticks_diff(ticks.ticks_add(ticks.PERIOD - 10, 25), ticks.PERIOD - 10) == 25
    assert ticks.ticks_diff(5, ticks.PERIOD - 5) == 10
    assert ticks.ticks_diff(ticks.PERIOD - 5, 5) == -10
    assert 0 <= ticks_host.ticks_ms() < ticks.PERIOD and 0 <= ticks_host.ticks_us() < ticks.PERIOD


def test_the_event_payload_codes_the_firmware_writes_are_the_ones_readers_are_told():
    import app
    import cosem_meter
    import credentials
    import meter
    import meterclock
    from protocol import event_names

    import keypad_fsm

    assert set(range(len(keypad_fsm.FIELDS))) | {
        meter._ADMIN_PASSWORD, meter._ADMIN_CALIBRATION, meter._ADMIN_REMOTE, credentials._ADMIN_LLS_SECRET,
        credentials._ADMIN_HLS_KEYS, cosem_meter._ADMIN_SETTING} == set(event_names.ADMIN_CHANGES)
    assert [event_names.ADMIN_CHANGES[i] for i in range(len(keypad_fsm.FIELDS))] == list(keypad_fsm.FIELDS)
    assert (meter.BY_KEYPAD, meter.BY_DLMS) == (1, 2) and event_names.BY == {1: "keypad", 2: "DLMS"}
    assert {meterclock._REFUSED_EARLY, meterclock._REFUSED_BACK, meterclock._REFUSED_BACK_AGAIN} == set(
        event_names.CLOCK_REFUSALS)
    assert [app._TASK_MEASURE, app._TASK_KEYPAD, app._TASK_UI, app._TASK_OPTICAL] == list(event_names.TASKS)
    assert {app._FAULT_MEMORY, app._FAULT_VALUE, app._FAULT_OS, app._FAULT_OTHER} == set(event_names.FAULTS)
