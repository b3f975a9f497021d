"""DLMS push on the meter (issue 18): which events queue a notification, the bounded queue, retries,
the push setup over DLMS and the invocation counter across power cuts. MicroPython and CPython."""

import asyncio
import binascii

from protocol import axdr, dlms_security, events, push, wrapper
from protocol import cosem_client as C
from protocol import cosem_objects as O
from protocol import cosem_server as S
from protocol import registers as M
from protocol import sts_decoder as sts
from protocol.dlms_security import Keys

import credentials
from boards import sim
from cosem_meter import CosemMeter
from meter import BY_DLMS, Meter
from settings import Settings, unpack_settings
from token_profiles import StsProfile

from tests.firmware.seekflash import SeekFlash as FakeFlash
from tests.firmware.test_meter import CODE_25_6_KWH, _run, _type

_KEY = binascii.unhexlify("f94b6ed353c3bfdb113e2d3a7ea3c41d")
SECRET = b"meter-0042-lls"
EK = bytes(range(16))
AK = bytes(range(0xD0, 0xE0))
SERIAL = "OPS00000042"
TO = "127.0.0.1:4060"
HOUR = 3600


class Outbox:
    """A board's push sender that keeps what it sends; `up` False: every send fails, as without a network."""

    def __init__(self):
        self.sent = []
        self.up = True

    async def send(self, destination, frame):
        if not self.up:
            raise OSError("network down")
        self.sent.append((destination, bytes(frame)))
        return True


def _meter(flash, hls=False, clock=None):
    creds = credentials.Credentials(None, EK, AK, bytes(16)) if hls else credentials.Credentials()
    creds.set_lls(SECRET)
    hal = sim.make_hal("/m", clock or sim.SimClock(), opener=flash.open, push=Outbox())
    meter = Meter(hal, StsProfile(sts.StsState(_KEY, ea=11, base_year=1993)), provisioned=creds)
    meter.boot(hal.clock.now_s(), hal.clock.ticks_ms())
    if not meter.settings.get("serial"):
        meter.set_setting("serial", SERIAL)
    return meter


def _server(meter):
    clock = meter.hal.clock
    model = CosemMeter(meter, lambda: (clock.now_s(), clock.ticks_ms()))
    return S.CosemServer(model, model, S.meter_keys(meter.dlms_access().credentials, SERIAL), guard=model)


def _client(server, sap, **hls):
    association = server.association()
    client = C.CosemClient(lambda apdu: association.handle(sap, apdu), sap, SECRET if sap == 17 else b"", **hls)
    client.associate()
    return client


def _set_clock(meter, step_s):
    clock = meter.hal.clock
    assert meter.set_clock(clock.now_s() + step_s, clock.ticks_ms(), BY_DLMS)


def _deliver(meter, sender=None):
    asyncio.run(meter.log.listener.deliver(sender or meter.hal.push, meter.hal.clock.ticks_ms))


def _apdus(meter, keys=None):
    """The APDUs of what the meter sent, deciphered: (invocation counter or None, plain APDU)."""
    out = []
    for destination, frame in meter.hal.push.sent:
        assert destination == TO
        ((src, dst, apdu),) = wrapper.WrapperReader().feed(frame)
        assert (src, dst) == (1, 102)
        if keys is None:
            out.append((None, apdu))
            continue
        _, _, title, content = dlms_security.unwrap(apdu)
        sc, ic, plain = dlms_security.unprotect(content, title, keys.ek, keys.ak)
        assert sc == 0x30 and title == keys.system_title
        out.append((ic, plain))
    return out


def _body(apdu):
    """(sequence number and priority, [serial, code, event time, a, b, credit, relay]) of a plain APDU."""
    assert apdu[0] == push.DATA_NOTIFICATION and apdu[5] == 12
    return axdr.get_uint(apdu, 1, 4), axdr.get(apdu, 18)[1]


def _destination(text):
    data = bytearray()
    axdr.put_header(data, axdr.STRUCTURE, 3)
    axdr.put(data, axdr.ENUM, 0)
    axdr.put(data, axdr.OCTET_STRING, text)
    axdr.put(data, axdr.ENUM, 0)
    return bytes(data)


def test_push_settings_hold_no_heap_until_set():
    s = Settings()
    assert not [name for name in s.values if name.startswith("push")]
    assert (s.get("push_to"), s.get("push_retries"), s.get("push_delay_s")) == ("", 3, 60)
    s.set("push_to", TO)
    s.set("push_retries", 0)
    again = unpack_settings(s.pack())
    assert (again.get("push_to"), again.get("push_retries"), again.get("push_delay_s")) == (TO, 0, 60)
    for name, value in (("push_to", "no port"), ("push_to", "host:0"), ("push_to", 4060), ("push_retries", 11),
                        ("push_delay_s", 3601)):
        try:
            s.set(name, value)
            raise AssertionError("accepted %s=%r" % (name, value))
        except ValueError as exc:
            assert str(exc).startswith(name)
    assert s.get("push_to") == TO


def test_events_queue_notifications_only_with_a_destination():
    meter = _meter(FakeFlash())
    _set_clock(meter, HOUR)
    assert meter.log.listener is None  # push off: nothing of it in the heap
    meter.set_setting("push_to", TO)
    _set_clock(meter, HOUR)
    _type(meter, "*" + CODE_25_6_KWH + "*")  # a RECHARGE: in the log, not pushed
    seq = meter.log.seq
    _set_clock(meter, HOUR)
    queued = [(item[0], item[3]) for item in meter.log.listener.queue]
    assert queued == [(seq - 2, events.CLOCK_SET), (seq, events.CLOCK_SET)]
    _deliver(meter)
    sent = [_body(apdu) for _, apdu in _apdus(meter)]
    assert [(head, body[0], body[1]) for head, body in sent] == [(seq - 2, SERIAL, events.CLOCK_SET),
                                                                 (seq, SERIAL, events.CLOCK_SET)]
    assert sent[1][1][5] == meter.available_wh() and sent[1][1][6] is meter.relay.closed
    assert meter.log.listener.queue == [] and meter.log.listener.sent == 2
    meter.set_setting("push_to", "")
    assert meter.log.listener is None
    _set_clock(meter, HOUR)
    assert len(meter.hal.push.sent) == 2
    assert [e[2] for e in meter.log.events()].count(events.CLOCK_SET) == 4  # the log keeps every one


def test_credit_exhausted_is_pushed_with_high_priority_and_the_relay_closing_too():
    meter = _meter(FakeFlash())
    meter.set_setting("push_to", TO)
    meter.set_setting("low_credit_wh", 1000)
    _type(meter, "*" + CODE_25_6_KWH + "*")
    meter.hal.ac.load(1500)
    _run(meter, 18 * 60)  # 25.6 kWh at 1.5 kW: out of credit
    _deliver(meter)
    sent = [(head >> 31, body[1:2] + body[3:]) for head, body in (_body(apdu) for _, apdu in _apdus(meter))]
    closed, low, opened = sent
    assert closed == (0, [events.RELAY, 1, 3, 25600, True])  # closed: the credit came back
    assert low[0] == 0 and low[1][0] == events.LOW_CREDIT and 0 < low[1][1] == low[1][3] < 1000
    assert opened == (1, [events.RELAY, 0, 2, meter.available_wh(), False])  # high: open for want of credit


def test_the_queue_is_bounded_and_drops_the_oldest():
    meter = _meter(FakeFlash())
    meter.set_setting("push_to", TO)
    for _ in range(11):
        _set_clock(meter, HOUR)
    notifier = meter.log.listener
    assert len(notifier.queue) == 8 and notifier.dropped == 3
    assert [item[0] for item in notifier.queue] == [e[0] for e in meter.log.events() if e[2] == events.CLOCK_SET][-8:]
    _deliver(meter)
    assert len(meter.hal.push.sent) == 8 and notifier.dropped == 3


def test_a_failed_send_is_tried_again_then_dropped_and_metering_goes_on():
    meter = _meter(FakeFlash())
    meter.set_setting("push_to", TO)
    meter.set_setting("push_retries", 2)
    meter.set_setting("push_delay_s", 30)
    meter.hal.push.up = False
    _set_clock(meter, HOUR)
    notifier = meter.log.listener
    tries = 0
    for _ in range(10):
        _deliver(meter)  # not due again before 30 s: no try
        _deliver(meter)
        meter.hal.clock.advance_ms(30000)
        tries += 1
        if not notifier.queue:
            break
    assert tries == 3 and notifier.dropped == 1 and notifier.sent == 0  # one try and two retries
    meter.hal.push.up = True
    meter.hal.ac.load(1000)
    _type(meter, "*" + CODE_25_6_KWH + "*")
    before = meter.energy.import_wh
    _run(meter, 60)
    assert meter.energy.import_wh > before


def test_a_send_that_fails_then_works_sends_the_same_frame():
    meter = _meter(FakeFlash())
    meter.set_setting("push_to", TO)
    _set_clock(meter, HOUR)

    class Flaky:
        def __init__(self):
            self.frames = []

        async def send(self, destination, frame):
            self.frames.append(frame)
            return len(self.frames) > 1

    flaky = Flaky()
    _deliver(meter, flaky)
    meter.hal.clock.advance_ms(60000)
    _deliver(meter, flaky)
    assert len(flaky.frames) == 2 and flaky.frames[0] == flaky.frames[1] and meter.log.listener.sent == 1


def test_power_up_is_pushed_with_the_time_the_power_went():
    flash = FakeFlash()
    meter = _meter(flash)
    meter.set_setting("push_to", TO)
    _type(meter, "*" + CODE_25_6_KWH + "*")
    meter.hal.ac.load(500)
    _run(meter, 20)  # a save persists the time
    meter.save(meter.hal.clock.ticks_ms())
    saved_s = meter.hal.clock.now_s()
    clock = meter.hal.clock
    clock.advance_ms(2 * HOUR * 1000)  # two hours without power
    again = _meter(flash, clock=clock)
    queued = [(item[3], item[4]) for item in again.log.listener.queue]
    assert queued[0] == (events.POWER_UP, saved_s)
    assert (events.RELAY, 1) in queued  # the relay closed at boot


def test_the_public_client_cannot_set_the_destination():
    meter = _meter(FakeFlash())
    server = _server(meter)
    public = _client(server, 16)
    for attribute, data in ((3, _destination(b"10.0.0.1:4060")), (6, b"\x11\x05"), (7, b"\x12\x00\x05")):
        try:
            public.set(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, attribute, data)
            raise AssertionError("public SET accepted")
        except C.CosemError as exc:
            assert exc.code == O.READ_WRITE_DENIED
    try:
        public.action(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 1, b"\x0f\x00")
        raise AssertionError("public ACTION accepted")
    except C.CosemError as exc:
        assert exc.code == O.READ_WRITE_DENIED
    assert public.get(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 3) == [0, b"", 0]  # reads: push off
    assert meter.settings.get("push_to") == "" and meter.log.listener is None


def test_a_manager_sets_the_push_setup_and_it_survives_a_power_cut():
    flash = FakeFlash()
    meter = _meter(flash)
    manager = _client(_server(meter), 17)
    try:
        manager.action(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 1, b"\x0f\x00")
        raise AssertionError("a test push without a destination")
    except C.CosemError as exc:
        assert exc.code == O.TEMPORARY_FAILURE
    manager.set(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 3, _destination(TO.encode()))
    manager.set(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 6, b"\x11\x05")
    manager.set(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 7, b"\x12\x00\x0a")
    manager.action(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 1, b"\x0f\x00")
    assert [item[3] for item in meter.log.listener.queue] == [0]  # the test push: code 0
    again = _meter(flash, clock=meter.hal.clock)
    reader = _client(_server(again), 16)
    assert reader.get(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 3) == [0, TO.encode(), 0]
    assert reader.get(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 6) == 5
    assert reader.get(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 7) == 10
    assert reader.get(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 4) == [] and reader.get(
        M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 5) == 0
    captured = reader.get(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 2)
    assert len(captured) == 7 and captured[0] == [M.DATA, M.obis_bytes("0.0.96.1.0.255"), 2, 0]
    assert again.log.listener is not None and again.log.listener.queue[0][3] == events.POWER_UP


def test_bad_destinations_are_refused_with_a_dlms_error():
    meter = _meter(FakeFlash())
    manager = _client(_server(meter), 17)
    manager.set(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 3, _destination(TO.encode()))
    wrong = (  # (data, data-access-result)
        (_destination(b"bad host:4060"), O.OTHER_REASON), (_destination(b"host:0"), O.OTHER_REASON),
        (_destination(b"host:65536"), O.OTHER_REASON), (_destination(b"x" * 70 + b":1"), O.OTHER_REASON),
        (_destination(b"\xff\xfe:1"), O.TYPE_UNMATCHED), (b"\x09\x0e" + TO.encode(), O.TYPE_UNMATCHED),
        (b"\x02\x03\x16\x01\x09\x0e" + TO.encode() + b"\x16\x00", O.TYPE_UNMATCHED),  # UDP: not ours
        (b"\x02\x02\x16\x00\x16\x00", O.TYPE_UNMATCHED))
    for data, result in wrong:
        try:
            manager.set(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 3, data)
            raise AssertionError("accepted %r" % data)
        except C.CosemError as exc:
            assert exc.code == result, (data, exc.code)
    for attribute, data in ((6, b"\x11\x0b"), (7, b"\x12\x0e\x11"), (6, b"\x12\x00\x01")):
        try:
            manager.set(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, attribute, data)
            raise AssertionError("accepted %r" % data)
        except C.CosemError as exc:
            assert exc.code in (O.OTHER_REASON, O.TYPE_UNMATCHED)
    assert meter.settings.get("push_to") == TO  # nothing changed, and the association goes on
    assert manager.get(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 6) == 3


def test_no_invocation_counter_is_used_twice_across_replies_pushes_and_power_cuts():
    flash = FakeFlash()
    meter = _meter(flash, hls=True)
    meter.set_setting("push_to", TO)
    keys = Keys(EK, AK, push.system_title(SERIAL))
    used = []
    hes_counter = 1
    clock = meter.hal.clock
    for _ in range(3):  # three boots
        server = _server(meter)
        hes = _client(server, 1, keys=Keys(EK, AK, b""), system_title=b"HES00001", invocation_counter=hes_counter)
        for _ in range(4):
            hes.get(M.CLOCK, M.CLOCK_OBIS, 2)  # a ciphered reply: the server's counter
            used.append(server.invocation_counter)
            _set_clock(meter, HOUR)  # a ciphered push: the notifier's
            _deliver(meter)
        hes_counter = hes.invocation_counter + 1
        used += [ic for ic, _ in _apdus(meter, keys)]
        meter = _meter(flash, hls=True, clock=clock)  # a power cut
        _deliver(meter)  # its power-up push
        used += [ic for ic, _ in _apdus(meter, keys)]
        meter.hal.push.sent.clear()
    assert len(used) >= 3 * (4 + 4 + 1) and len(set(used)) == len(used)
