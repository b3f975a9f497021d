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
    import admin_fields
    import app
    import cosem_meter
    import credentials
    import fw_update
    import meter
    import meterclock
    from opsm.protocol import event_names, events

    # A setting the admin menu saved: the code its key has, as older firmware wrote it (then the
    # item's place in its menu), named by the item's label.
    assert events.ADMIN_SETTINGS == {"uid": 0, "did": 1, "fecha": 2, "credito_wh": 3, "subsidio_wh": 4}
    rows = [admin_fields.row(i) for i in range(len(admin_fields.ITEMS) // admin_fields.ROW)]
    assert {events.ADMIN_SETTINGS[row[1]]: row[0] for row in rows if row[5] == admin_fields.AT_SALIR} == {
        code: event_names.ADMIN_CHANGES[code] for code in range(5)}
    assert set(events.ADMIN_SETTINGS.values()) | {
        meter._ADMIN_PASSWORD, meter._ADMIN_CALIBRATION, meter._ADMIN_REMOTE, credentials._ADMIN_LLS_SECRET,
        credentials._ADMIN_HLS_KEYS, cosem_meter._ADMIN_SETTING, fw_update._ADMIN_FIRMWARE, app._ADMIN_CONFIRMED,
        app._ADMIN_ROLLED_BACK, fw_update._ADMIN_REFUSED} == set(event_names.ADMIN_CHANGES)
    assert (meter.BY_KEYPAD, meter.BY_DLMS) == (1, 2) and event_names.BY == {1: "keypad", 2: "DLMS"}
    assert {meterclock._REFUSED_EARLY, meterclock._REFUSED_BACK, meterclock._REFUSED_BACK_AGAIN} == set(
        event_names.CLOCK_REFUSALS)
    assert [app._TASK_MEASURE, app._TASK_KEYPAD, app._TASK_UI, app._TASK_OPTICAL] == list(event_names.TASKS)
    assert {app._FAULT_MEMORY, app._FAULT_VALUE, app._FAULT_OS, app._FAULT_OTHER} == set(event_names.FAULTS)
