"""The asyncio app: the supervisor feeds the watchdog only while every task is alive."""

import asyncio
import binascii

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

    async def stop_after(ms):
        await clock.sleep_ms(ms)
        app.running = False

    async def scenario():
        await asyncio.gather(app.main(), stop_after(20000))

    asyncio.run(scenario())
    assert app.hal.wdt.feeds >= 19 and app.hal.display.frames >= 6
    assert app.meter.reading is not None  # the measure task closed readings


def test_optical_port_answers_a_probe_between_the_other_tasks():
    from app import optical_port

    app, clock = _app()
    app.optical_port = optical_port(app.hal, app.meter)
    probe = app.hal.optical

    async def reader():
        probe.inbox = b"/?!\r\n"
        await clock.sleep_ms(500)
        assert probe.sent == b"/OPS5\\2OPSM-SP-230\r\n"
        probe.inbox = b"\x06050\r\n"
        await clock.sleep_ms(500)
        app.running = False

    async def scenario():
        await asyncio.gather(app.main(), reader())

    asyncio.run(scenario())
    assert b"96.3.10(" in probe.sent and probe.sent[-2] == 0x03  # the data block, ETX then BCC
    assert app.optical_port.server is None  # mode C only: the DLMS server was never loaded
