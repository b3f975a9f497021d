"""`opsm headend listen` (issue 18): a real listener on loopback receives the DataNotifications meters push, stores
the good ones and refuses the rest; and its construct decoder against the meter's encoder (protocol/push.py) and
protocol/dlms_security."""

import asyncio
import contextlib
import json
import logging
import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from opsm.host import inventory
from opsm.host.headend import notification
from opsm.host.headend.listen import Listener
from opsm.host.store import Store
from opsm.protocol import axdr, civil, dlms_security, events, push, wrapper
from opsm.protocol.cosem_server import system_title

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EK, AK = bytes(range(16)), bytes(range(16, 32))
KEYED, KEYED_SERIAL = "M001", "OPS00000001"     # has ek, ak: pushes ciphered
KEYLESS, KEYLESS_SERIAL = "M002", "OPS00000002"  # no keys: pushes plain
EVENT_S, SENT_S = 818000000, 818000042           # seconds since 2000 (2025-12-02)
LOG = "opsm.host.headend.listen"


@pytest.fixture
def meters(tmp_path):
    (tmp_path / "inventory.csv").write_text(
        "device_id,serial,host,port,protocol,client,credentials,timezone\n"
        "%s,%s,127.0.0.1,4059,dlms-tcp,1,hls,UTC\n%s,%s,127.0.0.1,4059,dlms-tcp,16,,UTC\n"
        % (KEYED, KEYED_SERIAL, KEYLESS, KEYLESS_SERIAL))
    (tmp_path / "credentials.toml").write_text('[hls]\nek = "%s"\nak = "%s"\n' % (EK.hex(), AK.hex()))
    return inventory.load(str(tmp_path / "inventory.csv"), str(tmp_path / "credentials.toml"))


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path):
    return str(tmp_path / "push.sqlite") if request.param == "sqlite" else request.getfixturevalue("postgres_db")


def plain(sequence=0xABCDEF, serial=KEYED_SERIAL, code=events.RELAY, a=0xFEDCBA98, b=0xBEEF, credit=-1234,
          closed=True, high=True) -> bytes:
    return push.data_notification(sequence, high, SENT_S, serial, code, EVENT_S, a, b, credit, closed)


def ciphered(counter, apdu=None, title=None, ek=EK, ak=AK) -> bytes:
    title = title or system_title(KEYED_SERIAL)
    apdu = plain() if apdu is None else apdu
    return dlms_security.general_glo_wrap(title, dlms_security.protect(apdu, dlms_security.SC_AUTH_ENC, title, counter,
                                                                       ek, ak))


def framed(apdu, source=1, destination=102) -> bytes:
    return wrapper.wrap(source, destination, apdu)


class Running:
    """A Listener on loopback, in a thread and event loop of its own."""

    def __init__(self, meters, db, **bounds):
        self.db = db
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()
        self.listener = Listener(meters, db, **bounds)
        self.port = self._run(self.listener.start("127.0.0.1", 0))

    def _run(self, coroutine):
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(30)

    def send(self, *frames) -> None:
        """Connect, send, half-close, and wait for the listener to close: every frame is handled by then."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as link:
            try:
                link.sendall(b"".join(frames))
                link.shutdown(socket.SHUT_WR)
                while link.recv(4096):
                    pass
            except (BrokenPipeError, ConnectionResetError):
                pass  # refused mid-stream: closed already

    def close(self) -> None:
        self._run(self.listener.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        self.loop.close()


@pytest.fixture
def running(meters, tmp_path):
    started = []

    def start(db=None, **bounds):
        started.append(Running(meters, db or str(tmp_path / "push.sqlite"), **bounds))
        return started[-1]
    yield start
    for one in started:
        if not one.loop.is_closed():
            one.close()


def open_connections(running, count) -> None:
    """Wait until the listener has taken in (or let go) connections: `count` open."""
    deadline = time.monotonic() + 10
    while len(running.listener._connections) != count:
        assert time.monotonic() < deadline, len(running.listener._connections)
        time.sleep(0.01)


def pushed(db) -> list:
    with Store.open(db) as store:
        return store.dicts("SELECT * FROM pushed_events ORDER BY invocation_counter, sequence")


def refusals(db) -> list:
    with Store.open(db) as store:
        return store.dicts("SELECT * FROM push_refusals ORDER BY id")


# --- the decoder against the meter's encoder and dlms_security ---------------------------------------------------

serials = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), min_size=1, max_size=200)
seconds_2000 = st.integers(0, 3155759999)  # 2000 to 2099


@settings(max_examples=300, deadline=None)
@given(st.integers(0, 0xFFFFFF), st.booleans(), seconds_2000, serials, st.integers(0, 255), seconds_2000,
       st.integers(0, 0xFFFFFFFF), st.integers(0, 0xFFFF), st.integers(-1 << 31, (1 << 31) - 1), st.booleans(),
       st.integers(0, 0xFFFFFFFF), st.binary(min_size=16, max_size=16), st.binary(min_size=16, max_size=16))
def test_the_decoder_reads_what_the_meter_encodes(sequence, high, sent_s, serial, code, event_s, a, b, credit, closed,
                                                  counter, ek, ak):
    apdu = push.data_notification(sequence, high, sent_s, serial, code, event_s, a, b, credit, closed)
    title = system_title(serial)
    expected = notification.Notification(serial, None, None, sequence, high, sent_s + civil.UNIX_2000, code,
                                         event_s + civil.UNIX_2000, a, b, credit, closed)
    assert notification.decode(apdu) == expected
    protected = push.ciphered(apdu, dlms_security.Keys(ek, ak, title), counter)
    assert notification.system_title(protected) == title
    assert notification.decode(protected, ek, ak) == notification.Notification(
        serial, title, counter, sequence, high, sent_s + civil.UNIX_2000, code, event_s + civil.UNIX_2000, a, b,
        credit, closed)
    # the other way: construct's envelope, `cryptography`'s GCM, opened by dlms_security
    sealed = AESGCM(ek).encrypt(title + counter.to_bytes(4, "big"), apdu, b"\x30" + ak)
    built = notification.GeneralGloCiphering.build({"system_title": title, "invocation_counter": counter,
                                                    "ciphertext": sealed[:-16], "tag": sealed[-16:-4]})
    assert built == protected
    form, _, sender, content = dlms_security.unwrap(built)
    assert (form, sender) == (dlms_security.FORM_GENERAL_GLO, title)
    assert dlms_security.unprotect(content, title, ek, ak) == (0x30, counter, apdu)
    header = notification.WrapperHeader.parse(push.frame(protected))
    assert (header.version, header.source, header.destination, header.length) == (1, 1, 102, len(protected))


@settings(max_examples=100, deadline=None)
@given(st.one_of(st.integers(-720, 720), st.just(axdr.NOT_SPECIFIED)))
def test_a_time_with_a_deviation_reads_as_axdr_reads_it(deviation):
    raw = axdr.date_time(EVENT_S, deviation)
    apdu = plain()
    at = apdu.index(axdr.date_time(EVENT_S, 0))
    note = notification.decode(apdu[:at] + raw + apdu[at + 12:])
    assert note.occurred_at == axdr.date_time_seconds(raw, 0) + civil.UNIX_2000


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.binary(max_size=120), st.binary(max_size=120).map(lambda b: b"\xdb" + b),
                 st.binary(max_size=120).map(lambda b: b"\x0f" + b)))
def test_the_decoder_says_what_is_wrong_and_raises_nothing_else(data):
    try:
        notification.decode(data, EK, AK)
    except notification.NotificationError as exc:
        assert str(exc)


def test_decoder_errors_name_the_field():
    apdu = plain()
    cases = {
        b"": "empty APDU",
        b"\xc4\x01": "APDU tag 0xC4",
        apdu + b"\x00": "expected end of stream",
        apdu.replace(b"\x11\x05", b"\x12\x05", 1): "body.code_type",
        apdu[:5] + b"\x05" + apdu[6:]: "sent_length",
        apdu.replace(axdr.date_time(EVENT_S, 0), b"\x07\xe9\x02\x1e" + axdr.date_time(EVENT_S, 0)[4:]):
            "event time: 2025-2-30",
        apdu.replace(axdr.date_time(EVENT_S, 0), axdr.date_time(EVENT_S, 721)): "event time: deviation 721 minutes",
        ciphered(7)[:-1] + b"\x00": "GCM tag does not verify",
    }
    for data, words in cases.items():
        with pytest.raises(notification.NotificationError, match=re.escape(words)):
            notification.decode(data, EK, AK)
    with pytest.raises(notification.NotificationError, match="no keys"):
        notification.decode(ciphered(7))


# --- the listener -----------------------------------------------------------------------------------------------

def test_a_ciphered_notification_is_stored_and_its_replay_refused(running, any_db, caplog):
    caplog.set_level(logging.INFO, logger=LOG)
    listener = running(any_db)
    frame = framed(ciphered(0x01020304))
    listener.send(frame)
    rows = pushed(any_db)
    assert len(rows) == 1
    row = rows[0]
    peer = row.pop("peer")
    assert peer.startswith("127.0.0.1:") and abs(row.pop("received_at") - time.time()) < 60
    assert row == {"device_id": KEYED, "sequence": 0xABCDEF, "occurred_at": EVENT_S + civil.UNIX_2000,
                   "code": events.RELAY, "payload_a": 0xFEDCBA98, "payload_b": 0xBEEF, "credit_wh": -1234,
                   "relay_closed": 1, "priority": 1, "sent_at": SENT_S + civil.UNIX_2000,
                   "invocation_counter": 0x01020304}
    assert refusals(any_db) == []

    listener.send(frame)  # the same frame again
    older = framed(ciphered(0x01020303, plain(sequence=1)))  # a new event under an older counter
    listener.send(older)
    assert len(pushed(any_db)) == 1
    replay, late = refusals(any_db)
    assert replay["reason"] == "M001: replay: invocation counter 16909060 not above the last accepted 16909060"
    assert late["reason"] == "M001: replay: invocation counter 16909059 not above the last accepted 16909060"
    assert replay["frame_head"] == frame[:64].hex() and late["frame_head"] == older[:64].hex()
    assert replay["peer"].startswith("127.0.0.1:") and replay["peer"] != peer
    warnings = [r.getMessage() for r in caplog.records if r.name == LOG and r.levelno == logging.WARNING]
    assert warnings == ["refused a notification from %s: %s" % (r["peer"], r["reason"]) for r in (replay, late)]

    listener.send(framed(ciphered(0x01020305, plain(sequence=2, code=events.LOW_CREDIT, closed=False))))
    assert [(r["sequence"], r["code"], r["relay_closed"]) for r in pushed(any_db)] == [
        (0xABCDEF, events.RELAY, 1), (2, events.LOW_CREDIT, 0)]


def test_what_is_refused_and_why(running):
    listener = running()
    db = listener.db
    other_title = system_title("OPS00000099")
    cases = [
        (framed(ciphered(5, title=other_title)), "system title 4F50530000000063 is no inventory meter's"),
        (framed(ciphered(6)[:30] + bytes([ciphered(6)[30] ^ 0x01]) + ciphered(6)[31:]),
         "GCM tag does not verify (invocation counter 6)"),
        (framed(ciphered(7, ek=bytes(16))), "GCM tag does not verify"),
        (framed(plain()), "plain notification from M001, which has keys: a downgrade"),
        (framed(ciphered(8, plain(serial=KEYLESS_SERIAL))),
         "serial 'OPS00000002' ciphered under the system title of M001 (serial 'OPS00000001')"),
        (framed(ciphered(9, title=system_title(KEYLESS_SERIAL), apdu=plain(serial=KEYLESS_SERIAL))),
         "ciphered notification from M002, which has no keys"),
        (framed(plain(serial="OPS00000003")), "plain notification from serial 'OPS00000003', no inventory meter's"),
        (framed(ciphered(10), source=16), "wrapper ports 16 -> 102, not 1 -> 102"),
        (framed(ciphered(11), destination=1), "wrapper ports 1 -> 1, not 1 -> 102"),
        (b"\x00\x02" + framed(ciphered(12))[2:], "wrapper version 2, not 1"),
        (framed(bytes(600)), "wrapper length 600 over the 512 bytes"),
        (framed(ciphered(13))[:-3], "connection closed inside a frame (%d of %d bytes)"
         % (len(framed(ciphered(13))) - 3, len(framed(ciphered(13))))),
        (b"\x00\x01\x00", "connection closed inside a wrapper header (3 of 8 bytes)"),
    ]
    for frame, _ in cases:
        listener.send(frame)
    assert pushed(db) == []
    stored = refusals(db)
    assert [r["reason"][:len(words)] for r, (_, words) in zip(stored, cases)] == [words for _, words in cases]
    assert len(stored) == len(cases)
    # a header the stream cannot be followed past is kept alone: the rest is not read
    heads = [frame[:8 if "wrapper version" in words or "wrapper length" in words else 64].hex()
             for frame, words in cases]
    assert [r["frame_head"] for r in stored] == heads


def test_a_plain_notification_from_a_keyless_meter_is_stored_once(running):
    listener = running()
    frame = framed(plain(sequence=41, serial=KEYLESS_SERIAL, high=False))
    listener.send(frame, frame)  # twice on one connection
    listener.send(frame)         # and again on another
    rows = pushed(listener.db)
    assert [(r["device_id"], r["sequence"], r["priority"], r["invocation_counter"]) for r in rows] == [
        (KEYLESS, 41, 0, None)]
    assert [r["reason"] for r in refusals(listener.db)] == ["M002: replay: event 41 of the meter's log already stored"] * 2
    listener.send(framed(plain(sequence=42, serial=KEYLESS_SERIAL)))
    assert [r["sequence"] for r in pushed(listener.db)] == [41, 42]


def test_two_listeners_on_one_database_refuse_a_replay_across_them(running, any_db):
    first, second = running(any_db), running(any_db)
    frame = framed(ciphered(100))
    first.send(frame)
    second.send(frame)
    second.send(framed(ciphered(99, plain(sequence=5))))
    first.send(framed(ciphered(101, plain(sequence=6))))
    assert [r["invocation_counter"] for r in pushed(any_db)] == [100, 101]
    assert [r["reason"].split(": ")[2] for r in refusals(any_db)] == [
        "invocation counter 100 not above the last accepted 100", "invocation counter 99 not above the last accepted 100"]
    # the same frames to both at the same moment: each stored by one of them, refused by the other
    for n in range(8):
        frame = framed(ciphered(200 + n, plain(sequence=200 + n)))
        senders = [threading.Thread(target=listener.send, args=(frame,)) for listener in (first, second)]
        for sender in senders:
            sender.start()
        for sender in senders:
            sender.join(30)
    assert [r["invocation_counter"] for r in pushed(any_db)] == [100, 101] + [200 + n for n in range(8)]
    assert len(refusals(any_db)) == 2 + 8


def test_a_restarted_listener_keeps_the_replay_state(running):
    listener = running()
    frame = framed(ciphered(500))
    keyless = framed(plain(sequence=7, serial=KEYLESS_SERIAL))
    listener.send(frame, keyless)
    listener.close()
    again = running(listener.db)
    again.send(frame, keyless)
    assert len(pushed(listener.db)) == 2
    assert [r["reason"] for r in refusals(listener.db)] == [
        "M001: replay: invocation counter 500 not above the last accepted 500",
        "M002: replay: event 7 of the meter's log already stored"]


VALID = framed(ciphered(1000, plain(sequence=1000)))
mutations = st.one_of(
    st.tuples(st.integers(0, len(VALID) - 1), st.integers(1, 255)).map(
        lambda m: VALID[:m[0]] + bytes([VALID[m[0]] ^ m[1]]) + VALID[m[0] + 1:]),
    st.integers(0, len(VALID) - 1).map(lambda n: VALID[:n]),
)
garbage = st.one_of(
    st.binary(max_size=200),
    st.binary(max_size=200).map(framed),
    st.binary(max_size=200).map(lambda b: framed(b"\xdb\x08" + system_title(KEYED_SERIAL) + b)),
    st.binary(max_size=200).map(lambda b: framed(b"\x0f" + b)),
    mutations,
    st.lists(mutations, min_size=2, max_size=4).map(b"".join),
)


def test_garbage_and_mutated_frames_never_crash_it_nor_get_stored(running):
    listener = running()
    seen = []

    @settings(max_examples=400, deadline=None, suppress_health_check=list(HealthCheck), database=None)
    @given(garbage)
    def one(data):
        listener.send(data)
        seen.append(data)
        assert listener.thread.is_alive()

    one()
    assert len(seen) >= 100
    assert pushed(listener.db) == []
    assert len(refusals(listener.db)) >= len([data for data in seen if data])
    listener.send(VALID)  # a good frame after all that gets through
    assert [r["invocation_counter"] for r in pushed(listener.db)] == [1000]


def test_a_slow_peer_is_dropped_at_the_deadline_and_blocks_no_one(running, caplog):
    caplog.set_level(logging.WARNING, logger=LOG)
    listener = running(deadline_s=2.0)
    slow = socket.create_connection(("127.0.0.1", listener.port), timeout=10)
    slow.settimeout(0.2)
    start = time.monotonic()
    slow.sendall(VALID[:1])
    listener.send(VALID)  # meanwhile another meter pushes
    assert [r["invocation_counter"] for r in pushed(listener.db)] == [1000]
    assert time.monotonic() - start < 1.5
    sent, closed_after = 1, None
    while time.monotonic() - start < 10:
        try:
            if slow.recv(1) == b"":
                closed_after = time.monotonic() - start
                break
        except socket.timeout:
            slow.sendall(VALID[sent:sent + 1])  # a byte every 0.2 s: never idle, never done
            sent += 1
        except ConnectionResetError:
            closed_after = time.monotonic() - start
            break
    slow.close()
    assert closed_after is not None and 1.9 <= closed_after < 5, closed_after
    reason = "deadline 2 s passed before the peer closed: dropped"
    (refused,) = refusals(listener.db)
    assert refused["reason"] == reason and VALID.hex().startswith(refused["frame_head"]) and refused["frame_head"]
    assert any(reason in r.getMessage() for r in caplog.records)


def test_connections_over_the_cap_are_closed_at_once(running):
    listener = running(max_connections=2)
    idle = [socket.create_connection(("127.0.0.1", listener.port), timeout=10) for _ in range(2)]
    open_connections(listener, 2)
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", listener.port), timeout=10) as third:
        try:
            assert third.recv(1) == b""
        except ConnectionResetError:
            pass
    assert time.monotonic() - start < 2  # not the 30 s deadline
    for link in idle:
        link.close()
    open_connections(listener, 0)
    listener.send(VALID)
    assert len(pushed(listener.db)) == 1


def test_an_inventory_where_two_meters_share_a_system_title_is_refused(meters):
    twin = inventory.Meter("M009", "X-00000001", "127.0.0.1", 4059, "dlms-tcp", 16, {}, "UTC")
    with pytest.raises(ValueError, match="M001 and M009 have the same system title 4F50530000000001"):
        Listener(meters + [twin], "unused.sqlite")


def test_the_command_listens_prints_its_port_and_stops_on_sigterm(tmp_path, meters):
    db = str(tmp_path / "cli.sqlite")
    process = subprocess.Popen([sys.executable, "-m", "opsm", "headend", "listen", "--port", "0", "--inventory",
                                str(tmp_path / "inventory.csv"), "--credentials", str(tmp_path / "credentials.toml"),
                                "--db", db], cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = json.loads(process.stdout.readline())
        assert line["host"] == "127.0.0.1" and line["port"] > 0
        with socket.create_connection(("127.0.0.1", line["port"]), timeout=10) as link:
            link.sendall(framed(ciphered(3)) + framed(ciphered(3)))
            link.shutdown(socket.SHUT_WR)
            assert link.recv(1) == b""
        process.send_signal(signal.SIGTERM)
        out, err = process.communicate(timeout=20)
    finally:
        process.kill()
    assert process.returncode == 0, err
    assert [r["invocation_counter"] for r in pushed(db)] == [3]
    assert "stored event 11259375 (code 5) of M001" in err
    assert "M001: replay: invocation counter 3 not above the last accepted 3" in err


def test_the_command_refuses_a_bad_inventory(tmp_path):
    (tmp_path / "bad.csv").write_text("device_id,serial,host,port,protocol\nM1,,127.0.0.1,4059,dlms-tcp\n")
    result = subprocess.run([sys.executable, "-m", "opsm", "headend", "listen", "--port", "0", "--inventory",
                             str(tmp_path / "bad.csv"), "--db", str(tmp_path / "x.sqlite")], cwd=ROOT,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 1 and "serial" in result.stderr


def test_a_simulated_meter_pushes_its_events_to_the_listener(running, tmp_path):
    """End to end: the meter's own notifier and sender (simulator/serve.py) push to a listener set over DLMS."""
    from click.testing import CliRunner

    from opsm.host.cli import cli
    from opsm.simulator.serve import MeterPorts, fleet

    (tmp_path / "keys.txt").write_text("ek = %s\nak = %s\n" % (EK.hex(), AK.hex()))
    listener = running()
    runs = fleet(1, str(tmp_path / "fleet"), 3600000)  # meter 0 is OPS00000001 (M001); its clock is the wall's
    ports: dict = {}
    started = threading.Event()
    loop = asyncio.new_event_loop()

    async def meters():
        await MeterPorts(runs, speed=0, keys_file=str(tmp_path / "keys.txt")).serve(
            {"dlms": 0}, started=lambda p: (ports.update(p), started.set()))

    task = loop.create_task(meters())

    def serve():
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert started.wait(30)
        target = ["--port", str(ports["dlms"][0]), "--hls-keys", str(tmp_path / "keys.txt")]

        def dlms(*args, counter):  # explicit: two commands within a second would share the clock-made one
            result = CliRunner().invoke(cli, ["dlms", *args, *target, "--invocation-counter", str(counter)])
            assert result.exit_code == 0, result.output
            return json.loads(result.output.splitlines()[-1])

        def arrived(query):
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline:
                with Store.open(listener.db) as store:
                    rows = store.dicts(query)
                if rows:
                    return rows
                time.sleep(0.1)
            raise AssertionError("nothing arrived for " + query)

        setup = dlms("push-setup", "--destination", "127.0.0.1:%d" % listener.port, "--test", counter=1000)
        assert setup["destination"] == "127.0.0.1:%d" % listener.port
        # the test push (event code 0) spends its counter and stores no event
        (test,) = arrived("SELECT device_id, invocation_counter FROM push_counters")
        assert test["device_id"] == KEYED and pushed(listener.db) == []
        when = int(time.time()) + 600
        minutes = (when - civil.UNIX_2000 - runs[0].clock.now_s()) // 60  # speed 0: the meter's clock stands still
        dlms("clock", "--set", time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(when)), counter=2000)
        (moved,) = arrived("SELECT * FROM pushed_events")
        assert (moved["device_id"], moved["code"], moved["occurred_at"], moved["payload_a"], moved["payload_b"]) == (
            KEYED, events.CLOCK_SET, when, minutes, 2)  # over DLMS
        assert moved["invocation_counter"] > test["invocation_counter"]
        assert moved["credit_wh"] == runs[0].meter.available_wh() and moved["relay_closed"] == 1
        assert refusals(listener.db) == []
    finally:
        loop.call_soon_threadsafe(task.cancel)
        thread.join(10)
        loop.close()


def test_refused_frames_kept_are_bounded_to_the_newest(any_db):
    with Store.open(any_db) as store:
        for n in range(7):
            store.refuse_push("10.0.0.%d:4000" % n, 1_900_000_000 + n, "garbage %d" % n, "00", keep=3)
        kept = store.query("SELECT reason FROM push_refusals ORDER BY id")
    assert kept == [("garbage 4",), ("garbage 5",), ("garbage 6",)]


def test_a_test_push_spends_its_counter_and_stores_no_event(running):
    listener = running()
    listener.send(framed(ciphered(10, plain(sequence=7, code=events.LOW_CREDIT))))
    # the test push carries the newest event's sequence number: it is no repeat of that event
    listener.send(framed(ciphered(11, plain(sequence=7, code=events.PUSH_TEST))))
    listener.send(framed(ciphered(11, plain(sequence=7, code=events.PUSH_TEST))))  # its replay
    listener.send(framed(plain(sequence=3, serial=KEYLESS_SERIAL, code=events.PUSH_TEST)))
    listener.send(framed(plain(sequence=3, serial=KEYLESS_SERIAL, code=events.PUSH_TEST)))
    assert [(e["sequence"], e["code"]) for e in pushed(listener.db)] == [(7, events.LOW_CREDIT)]
    reasons = [r["reason"] for r in refusals(listener.db)]
    assert reasons == ["%s: replay: invocation counter 11 not above the last accepted 11" % KEYED]
