"""`opsm sim serve` and `opsm dlms`: one live meter on every port, read by the project's and third-party clients;
faults injected per connection leave the other meters served."""

import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

import pytest
import serial
from pymodbus import FramerType
from pymodbus.client import ModbusSerialClient, ModbusTcpClient

from opsm.host import dlms as D
from opsm.protocol import registers as M
from opsm.simulator.serve import Faults
from tests.host import dlms_peers as P
from tests.host.test_iec21_interop import _readout

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def _opsm(*args, check=True):
    out = subprocess.run([sys.executable, "-m", "opsm", *args], capture_output=True, text=True, cwd=ROOT,
                         timeout=60)
    if check:
        assert out.returncode == 0, out.stderr
    return out


@pytest.fixture(scope="module")
def served():
    folder = tempfile.mkdtemp()
    keys = P.keys_file(folder)
    proc = subprocess.Popen([sys.executable, "-m", "opsm", "sim", "serve", "--dlms-port", "0", "--hdlc-port", "0",
                             "--iec21-port", "0", "--iec21-pty", "--modbus-port", "0", "--modbus-rtu-pty",
                             "--modbus-unit", "17", "--speed", "0",
                             "--scenario", "scenarios/recharge.toml", "--lls-password", "s3cret-42", "--hls-keys", keys,
                             "--trace", folder + "/trace"],
                            stdout=subprocess.PIPE, stderr=open(folder + "/stderr.log", "w"), text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    ports = json.loads(proc.stdout.readline())
    yield ports, keys, folder
    proc.send_signal(signal.SIGINT)
    assert proc.wait(10) == 0  # Ctrl-C stops it cleanly



def _modbus_credit_wh(port: int) -> int:
    """The credit register (holding registers 20-21) over Modbus TCP."""
    modbus = ModbusTcpClient("127.0.0.1", port=port, timeout=5)
    modbus.connect()
    credit = modbus.read_holding_registers(20, count=2)
    modbus.close()
    return (credit.registers[0] << 16) + credit.registers[1]

def test_every_port_serves_the_same_meter(served):
    ports, _, folder = served
    assert set(ports) == {"dlms", "hdlc", "iec21", "iec21_pty", "modbus", "modbus_rtu_pty"}
    out = json.loads(_opsm("dlms", "read", "--port", str(ports["dlms"]), "--json").stdout)["registers"]
    assert out["0.0.19.10.0.255"] == 25600 and out["0.0.96.1.0.255"] == "OPS00000001"  # the scenario's recharge
    hdlc = json.loads(_opsm("dlms", "read", "--port", str(ports["hdlc"]), "--hdlc", "--password", "s3cret-42",
                            "--json").stdout)["registers"]
    assert hdlc["0.0.19.10.0.255"] == 25600
    assert _readout(ports["iec21"])["19.10.0"] == ("25.600", "kWh")
    assert _modbus_credit_wh(ports["modbus"]) == 25600
    rtu = ModbusSerialClient(ports["modbus_rtu_pty"], framer=FramerType.RTU, baudrate=9600, timeout=2, retries=0)
    assert rtu.connect()
    credit = rtu.read_holding_registers(20, count=2, device_id=17)
    rtu.close()
    assert (credit.registers[0] << 16) + credit.registers[1] == 25600
    assert os.listdir(folder + "/trace")


def test_optical_port_mode_c_then_mode_e(served):
    ports, _, _ = served
    with serial.Serial(ports["iec21_pty"], 9600, timeout=5) as probe:
        probe.write(b"/?!\r\n")
        assert probe.readline() == b"/OPS5\\2OPSM-SP-230\r\n"
        probe.write(b"\x06050\r\n")
        block = probe.read_until(b"\x03") + probe.read(1)
        assert b"19.10.0(25.600*kWh)" in block
    out = json.loads(_opsm("dlms", "read", "--serial", ports["iec21_pty"], "--optical", "--json").stdout)
    assert out["registers"]["1.0.1.8.0.255"] == 0


def test_bytes_that_are_not_text_on_the_iec21_ports_get_no_traceback(served):
    ports, _, folder = served
    with socket.create_connection(("127.0.0.1", ports["iec21"]), timeout=5) as sock:
        sock.sendall(b"/?\xff!\r\n/?\x80\xfe!\r\n/?!\r\n")
        assert sock.makefile("rb").readline() == b"/OPS5OPSM-SP-230\r\n"  # still answers the good request
    with serial.Serial(ports["iec21_pty"], 9600, timeout=5) as probe:
        probe.write(b"/?\xff!\r\n/?!\r\n")
        assert probe.readline() == b"/OPS5\\2OPSM-SP-230\r\n"
    with open(folder + "/stderr.log") as f:
        assert "Traceback" not in f.read()


def test_garbage_on_every_network_port_leaves_every_port_serving(served):
    import random

    ports, _, folder = served
    rnd = random.Random(13)
    seeds = {"dlms": bytes.fromhex("0001001000010005c0010000"), "hdlc": bytes.fromhex("7ea0070321930f017e"),
             "iec21": b"/?!\r\n\x06050\r\n", "modbus": bytes.fromhex("000100000006110300000002")}
    sent = 0
    for name, seed in seeds.items():
        for _ in range(60):
            data = bytearray(seed if rnd.random() < 0.5 else rnd.randbytes(rnd.randint(1, 64)))
            for _ in range(rnd.randint(0, 4)):
                if data:
                    data[rnd.randrange(len(data))] = rnd.randrange(256)
            with socket.create_connection(("127.0.0.1", ports[name]), timeout=5) as sock:
                sock.sendall(bytes(data))
                sock.settimeout(0.05)
                try:
                    sock.recv(4096)  # an answer, a close or silence: never a hang of the server
                except (socket.timeout, ConnectionError):
                    pass
            sent += 1
    assert sent == 240
    out = json.loads(_opsm("dlms", "read", "--port", str(ports["dlms"]), "--json").stdout)["registers"]
    assert out["0.0.96.1.0.255"] == "OPS00000001"
    assert _readout(ports["iec21"])["19.10.0"] == ("25.600", "kWh")
    modbus = ModbusTcpClient("127.0.0.1", port=ports["modbus"], timeout=5)
    modbus.connect()
    assert not modbus.read_holding_registers(20, count=2).isError()
    modbus.close()
    with open(folder + "/stderr.log") as f:
        assert "Traceback" not in f.read()


def test_token_and_relay_over_the_network_with_hls(served):
    ports, keys, _ = served
    port = str(ports["dlms"])
    refused = _opsm("dlms", "token", "63638916334124550935", "--port", port, "--hls-keys", keys, check=False)
    assert refused.returncode == 1 and "token status 6" in refused.stderr  # used already by the scenario
    assert json.loads(_opsm("dlms", "relay", "disconnect", "--port", port, "--password", "s3cret-42").stdout) == {
        "relay": "open"}
    assert json.loads(_opsm("dlms", "relay", "reconnect", "--port", port, "--password", "s3cret-42").stdout) == {
        "relay": "open"}  # lifted, but the anti-chatter minimum time still holds the relay open
    wrong = _opsm("dlms", "read", "--port", port, "--password", "guess", check=False)
    assert wrong.returncode == 1 and "diagnostic 13" in wrong.stderr


def test_faults_hit_one_meter_and_spare_the_others():
    folder = tempfile.mkdtemp()
    runs = [P.meter_with_a_day(folder + "/%d" % n) for n in range(4)]
    faults = {0: Faults(hang_after=1), 1: Faults(disconnect_after=2), 2: Faults(corrupt=1.0), 3: Faults(latency_ms=300)}
    ports = P.serve_in_thread(runs, ("dlms", "hdlc"), faults=faults)
    with pytest.raises(D.TransportError, match="no answer"):  # hangs after the AARE: a silent meter
        D.open_session(port=ports["dlms"][0], timeout=0.5)[1].get(M.REGISTER, "1.0.1.8.0.255", 2)
    with pytest.raises(D.TransportError, match="closed"):  # cut mid-way through a block transfer
        D.read_profile(D.open_session(port=ports["dlms"][1], timeout=2)[1], "1.0.99.1.0.255")
    with pytest.raises(D.CosemError):  # every reply corrupted: never a value
        D.open_session(port=ports["hdlc"][2], framing="hdlc", timeout=0.5)
    start = time.perf_counter()
    link, client = D.open_session(port=ports["dlms"][3], timeout=2)
    assert client.get(M.REGISTER, "1.0.1.8.0.255", 2) == runs[3].meter.energy.import_wh
    client.release()
    link.close()
    assert time.perf_counter() - start >= 0.9  # three replies, 300 ms each
    assert Faults.parse("latency=50,drop=0.5,seed=3").latency_ms == 50
    with pytest.raises(ValueError, match="unknown fault"):
        Faults.parse("jitter=5")


def test_fleet_serves_every_meter_over_dlms_and_hdlc_with_its_own_identity():
    proc = subprocess.Popen([sys.executable, "-m", "opsm", "sim", "fleet", "--count", "3", "--base-port", "0",
                             "--protocol", "dlms,hdlc", "--speed", "0"], stdout=subprocess.PIPE, text=True, cwd=ROOT,
                            env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        ports = json.loads(proc.stdout.readline())
        assert len(ports["dlms"]) == len(ports["hdlc"]) == 3
        names = []
        for dlms_port, hdlc_port in zip(ports["dlms"], ports["hdlc"]):
            for port, framing in ((dlms_port, "wrapper"), (hdlc_port, "hdlc")):
                link, client = D.open_session(port=port, framing=framing)
                names.append((client.get(M.DATA, "0.0.96.1.0.255", 2), client.get(M.DATA, "0.0.42.0.0.255", 2)))
                client.release()
                link.close()
        assert [n[0] for n in names] == [b"OPS00000001"] * 2 + [b"OPS00000002"] * 2 + [b"OPS00000003"] * 2
        assert len({n[1] for n in names}) == 3 and all(n[1].startswith(b"OPS") and len(n[1]) == 16 for n in names)
    finally:
        proc.terminate()
        proc.wait(10)


def test_an_idle_connection_is_closed_after_the_inactivity_time_out():
    run = P.meter_with_a_day(tempfile.mkdtemp())
    ports = P.serve_in_thread([run], ("dlms",), inactivity_s=0.3)
    link, client = D.open_session(port=ports["dlms"][0], timeout=2)
    assert client.get(M.REGISTER, "1.0.1.8.0.255", 2) >= 0
    time.sleep(0.6)
    with pytest.raises(D.TransportError, match="closed"):
        client.get(M.REGISTER, "1.0.1.8.0.255", 2)
    link.close()


def test_hostile_faults_trickle_and_endless():
    """`trickle=S` answers one byte every S seconds; `endless=blocks` answers every GET with another block,
    never the last; `endless=segments` sends the HDLC port's reply in segments that never end."""
    from opsm.protocol import cosem_client, hdlc

    assert Faults.parse("trickle=2.5").trickle == 2.5
    assert Faults.parse("endless=blocks,seed=2").endless == "blocks"
    with pytest.raises(ValueError, match="endless: must be blocks or segments"):
        Faults.parse("endless=forever")
    with pytest.raises(ValueError, match="trickle: must be"):
        Faults.parse("trickle=-1")
    run = P.meter_with_a_day(tempfile.mkdtemp())
    runs = [run, run, run]
    ports = P.serve_in_thread(runs, ("dlms", "hdlc"), faults={0: Faults(trickle=0.2), 1: Faults(endless="blocks"),
                                                              2: Faults(endless="segments")})
    client = cosem_client.CosemClient()
    with socket.create_connection(("127.0.0.1", ports["dlms"][0]), timeout=5) as sock:
        sock.sendall(D.wrapper.wrap(16, 1, next(client.associate_steps())))
        start = time.perf_counter()
        got = b"".join(sock.recv(4096) for _ in range(6))
        assert got == bytes.fromhex("0001 0001 0010")  # one byte per recv: the wrapper header, byte by byte
        assert time.perf_counter() - start >= 0.9  # five gaps of 0.2 s

    for port, framing in ((ports["dlms"][1], "wrapper"), (ports["hdlc"][1], "hdlc")):
        link, client = D.open_session(port=port, framing=framing, timeout=2)  # the association is served
        steps = client.get_raw_steps(M.PROFILE_GENERIC, "1.0.99.1.0.255", 2)
        request = next(steps)
        for block in range(1, 301):
            reply = link.exchange(request)
            assert reply[:4] == bytes((0xC4, 2, 0xC1, 0)) and int.from_bytes(reply[4:8], "big") == block
            request = steps.send(reply)  # never the last block: the client asks for the next one
        link.stream.close()

    link, client = D.open_session(port=ports["hdlc"][2], framing="hdlc", timeout=2)
    client_link = link.link
    link.stream.write(client_link.send(b"\xC0\x01\xC1" + cosem_client.descriptor(M.REGISTER, "1.0.1.8.0.255", 2)
                                       + b"\x00"))
    segments, reader = 0, hdlc.FrameReader()
    while segments < 300:
        data = link.stream.read()
        frames = [f for f in reader.feed(data) if f.control & 1 == 0]
        assert all(f.segmented for f in frames)
        out, reply = client_link.receive(data)
        assert reply is None and bool(out) == bool(frames)  # another segment, and our RR for the next one
        segments += len(frames)
        if out:
            link.stream.write(out)
    link.stream.close()


def _garbage(rnd, seed: bytes) -> bytes:
    data = bytearray(seed if rnd.random() < 0.5 else rnd.randbytes(rnd.randint(1, 64)))
    for _ in range(rnd.randint(0, 4)):
        data[rnd.randrange(len(data))] = rnd.randrange(256)
    return bytes(data)


def test_garbage_log_volume_is_bounded_on_every_port(tmp_path):
    """5 000 random frames on each network port (Modbus among them: pymodbus logs every bad frame with a hex
    dump of the last 20) write under 50 KB of log in all, and every port then serves a good request."""
    import random

    log = tmp_path / "stderr.log"
    proc = subprocess.Popen([sys.executable, "-m", "opsm", "sim", "serve", "--dlms-port", "0", "--hdlc-port", "0",
                             "--iec21-port", "0", "--modbus-port", "0", "--speed", "0", "--scenario",
                             "scenarios/recharge.toml"], stdout=subprocess.PIPE, stderr=open(log, "w"), text=True,
                            cwd=ROOT, env=dict(os.environ, PYTHONUNBUFFERED="1"))
    try:
        ports = json.loads(proc.stdout.readline())
        rnd = random.Random(15)
        seeds = {"dlms": bytes.fromhex("0001001000010005c0010000"), "hdlc": bytes.fromhex("7ea0070321930f017e"),
                 "iec21": b"/?!\r\n\x06050\r\n", "modbus": bytes.fromhex("000100000006110300000002")}
        for name, seed in seeds.items():
            sent = 0
            while sent < 5000:
                with socket.create_connection(("127.0.0.1", ports[name]), timeout=5) as sock:
                    sock.setblocking(False)
                    for _ in range(100):  # 100 frames a connection: the port may close it on garbage
                        try:
                            sock.sendall(_garbage(rnd, seed))
                            sent += 1
                            time.sleep(0.0005)  # each frame on its own, as a line noise or a scanner sends them
                            sock.recv(65536)  # whatever came back, not waiting for it
                        except BlockingIOError:
                            pass
                        except OSError:
                            break
        time.sleep(0.5)
        out = json.loads(_opsm("dlms", "read", "--port", str(ports["dlms"]), "--json").stdout)["registers"]
        assert out["0.0.96.1.0.255"] == "OPS00000001"
        hdlc = json.loads(_opsm("dlms", "read", "--port", str(ports["hdlc"]), "--hdlc", "--json").stdout)
        assert hdlc["registers"]["0.0.19.10.0.255"] == 25600
        assert _readout(ports["iec21"])["19.10.0"] == ("25.600", "kWh")
        assert _modbus_credit_wh(ports["modbus"]) == 25600
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(10)
    size = log.stat().st_size
    print("5 000 garbage frames on each of 4 ports: %d bytes of log" % size)
    assert size < 50000, (size, log.read_text()[:2000])
    assert "Traceback" not in log.read_text()
