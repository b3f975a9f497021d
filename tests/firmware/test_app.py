"""The asyncio app: the supervisor feeds the watchdog only while every task is alive."""

import asyncio
import binascii

from protocol import event_names as NAMES
from protocol import sts_decoder as sts

from app import App, frame_buffer
from boards import sim
from meter import Meter
from token_profiles import StsProfile

from tests.firmware.fakeflash import FakeFlash


def _app():
    clock = sim.SimClock()
    hal = sim.make_hal("/m", clock, opener=FakeFlash().open)
    meter = Meter(hal, StsProfile(sts.StsState(binascii.unhexlify("00" * 16), ea=11)))
    meter.boot(clock.now_s(), clock.ticks_ms())
    fb, data = frame_buffer()
    return App(hal, meter, fb, data, clock.sleep_ms, bursts_per_reading=1, burst_gap_ms=1000, scan_ms=100,
               ui_ms=500, heartbeat_ms=5000), clock


def _events(app, code):
    return [e for e in app.meter.log.events() if e[2] == code]


def _run_for(app, clock, ms, during=None):
    async def stop_after():
        if during is not None:
            await during()
        await clock.sleep_ms(ms)
        app.running = False

    async def scenario():
        await asyncio.gather(app.main(), stop_after())

    asyncio.run(scenario())


def test_supervisor_stops_feeding_when_a_task_hangs():
    app, clock = _app()

    async def hung_measure():
        app.beats[0] = clock.ticks_ms()
        await clock.sleep_ms(3600000)  # never comes back within the test

    async def stop_after(ms):
        await clock.sleep_ms(ms)
        app.running = False

    async def scenario():
        await asyncio.gather(hung_measure(), app.keypad_task(), app.ui_task(), app.supervisor_task(),
                             stop_after(20000))

    asyncio.run(scenario())
    feeds = app.hal.wdt.feeds
    assert 4 <= feeds <= 7  # fed while the silent task was young, then never again
    assert not app.healthy(clock.ticks_ms())


def test_healthy_app_feeds_every_second_and_draws():
    app, clock = _app()
    _run_for(app, clock, 20000)
    assert app.hal.wdt.feeds >= 19 and app.hal.display.frames >= 6
    assert app.meter.reading is not None  # the measure task closed readings


def _with_optical_port():
    """The app with the meter's optical port on its UART, and the probe at the other end."""
    from app import optical_port

    app, clock = _app()
    app.optical_port = optical_port(app.hal, app.meter)
    return app, clock, app.hal.optical


def test_optical_port_answers_a_probe_between_the_other_tasks():
    app, clock, probe = _with_optical_port()
    _run_for(app, clock, 500, None)
    assert callable(app.optical_port)  # idle: the port (its code, its protocols) is not made yet
    app.running = True

    async def reader():
        probe.inbox = b"/?!\r\n"
        await clock.sleep_ms(500)
        assert probe.sent == b"/OPS5\\2OPSM-SP-230\r\n"
        probe.inbox = b"\x06050\r\n"

    _run_for(app, clock, 500, reader)
    assert b"96.3.10(" in probe.sent and probe.sent[-2] == 0x03  # the data block, ETX then BCC
    assert not callable(app.optical_port) and app.optical_port.server is None  # made; mode C only: no DLMS server


def test_a_line_that_is_not_text_on_the_optical_port_does_not_end_the_app():
    app, clock, probe = _with_optical_port()

    async def reader():
        probe.inbox = b"/?\xff!\r\n"
        await clock.sleep_ms(500)
        probe.inbox = b"/?!\r\n"
        await clock.sleep_ms(500)

    _run_for(app, clock, 20000, reader)
    assert probe.sent == b"/OPS5\\2OPSM-SP-230\r\n"   # the bad line got nothing, the good one its answer
    assert app.failures == 0 and app.hal.wdt.feeds >= 19 and app.meter.reading is not None


def test_a_task_that_raises_is_logged_and_started_again():
    from protocol import events

    app, clock = _app()

    class BrokenPort:
        def __init__(self):
            self.feeds = 0
            self.resets = 0

        def feed(self, data, now_ms):
            self.feeds += 1
            raise ValueError("a parser bug")

        def poll(self, now_ms):
            pass

        def reset(self):
            self.resets += 1

    app.optical_port = port = BrokenPort()
    probe = app.hal.optical

    async def probe_twice():
        probe.inbox = b"x"
        await clock.sleep_ms(3000)
        probe.inbox = b"y"

    _run_for(app, clock, 30000, probe_twice)
    assert port.feeds == 2 and port.resets == 2 and app.failures == 2
    logged = _events(app, events.TASK_FAILED)
    assert [(NAMES.TASKS[e[3]], NAMES.FAULTS[e[4]]) for e in logged] == [("optical port", "bad value")] * 2
    assert app.hal.wdt.feeds >= 29  # metering, keypad and screen never stopped


def test_a_failing_measure_task_opens_the_relay_until_readings_come_back():
    from protocol import events

    app, clock = _app()
    meter = app.meter
    meter.ledger.add(25600)  # credit: the relay closes once the anti-chatter minute is over
    _run_for(app, clock, 90000)
    assert app.hal.relay.closed
    ac = app.hal.ac
    real_burst = ac.burst
    fails = [1000]

    def flaky(*args):
        if fails[0]:
            fails[0] -= 1
            raise OSError(5)  # the ADC went away
        real_burst(*args)

    ac.burst = flaky
    app.running = True
    _run_for(app, clock, 5000)
    assert not app.hal.relay.closed and meter.relay.fault  # no supply the meter cannot meter
    assert [(NAMES.TASKS[e[3]], NAMES.FAULTS[e[4]]) for e in _events(app, events.TASK_FAILED)][:2] == [
        ("measure", "I/O error")] * 2
    fails[0] = 0  # the ADC is back
    app.running = True
    _run_for(app, clock, 120000)
    assert app.hal.relay.closed and not meter.relay.fault
    assert meter.energy.import_wh >= 0 and meter.reading is not None


def test_a_measure_task_that_keeps_failing_ends_in_a_watchdog_reset():
    app, clock = _app()

    def broken(*args):
        raise MemoryError()

    app.hal.ac.burst = broken
    _run_for(app, clock, 20000)
    assert not app.hal.relay.closed
    assert not app.healthy(clock.ticks_ms()) and app.hal.wdt.feeds <= 6  # the board will restart


def _on_trial():
    app, clock = _app()
    confirmed = []
    app.confirm = lambda: confirmed.append(clock.ticks_ms())
    restarts = []
    app.hal.restart = lambda: restarts.append(clock.ticks_ms())
    return app, clock, confirmed, restarts


def test_firmware_on_trial_is_confirmed_after_a_minute_of_readings():
    app, clock, confirmed, restarts = _on_trial()
    _run_for(app, clock, 120000)
    assert len(confirmed) == 1 and 59000 <= confirmed[0] - app._started_ms <= 62000
    assert app.confirm is None and restarts == [] and app.hal.wdt.feeds >= 119


def test_firmware_on_trial_that_fails_a_task_is_restarted_at_its_deadline():
    import app as app_module

    app, clock, confirmed, restarts = _on_trial()
    app._fails[4] = 1  # a task raised: the trial is not confirmed
    _run_for(app, clock, app_module.TRIAL_MS + 10000)
    assert confirmed == [] and len(restarts) >= 1
    assert app_module.TRIAL_MS <= restarts[0] - app._started_ms <= app_module.TRIAL_MS + 4000


def test_a_requested_restart_waits_for_the_reply_then_starves_a_board_that_cannot_restart():
    app, clock = _app()
    app.hal.request_restart()
    _run_for(app, clock, 10000)
    assert 2 <= app.hal.wdt.feeds <= 3  # fed during the grace, then the watchdog is left to restart the board


def test_clock_changes_during_a_trial_neither_hurry_nor_stall_it():
    import app as app_module

    for jump_s in (30 * 86400, -30 * 86400):  # the RTC set a month ahead, or back, right after the boot
        app, clock, confirmed, restarts = _on_trial()
        app.hal.clock.set_s(app.hal.clock.now_s() + jump_s)
        _run_for(app, clock, 120000)
        assert len(confirmed) == 1 and restarts == []  # confirmed on running time, as without the jump
        app, clock, confirmed, restarts = _on_trial()
        app._fails[4] = 1
        app.hal.clock.set_s(app.hal.clock.now_s() + jump_s)
        _run_for(app, clock, app_module.TRIAL_MS + 10000)
        assert confirmed == [] and app_module.TRIAL_MS <= restarts[0] - app._started_ms <= app_module.TRIAL_MS + 4000
