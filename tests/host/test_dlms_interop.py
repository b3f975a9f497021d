"""gurux-dlms and dlms-cosem read the simulated meter over loopback: wrapper and HDLC, none, LLS, HLS-GMAC.

Both clients are code we did not write. Every register is read by both and must equal
the meter's own snapshot after scaling; the clock and the load profiles (whole, by
range, by entry) must agree between the two clients.
"""

import datetime
import tempfile

import pytest
from dlms_cosem.client import ActionError, DlmsClient
from gurux_dlms import GXDLMSException
from gurux_dlms.enums import ObjectType
from gurux_dlms.objects import GXDLMSRegister

from opsm.protocol import axdr
from opsm.protocol import registers as M
from tests.host import dlms_peers as P

_READ_CLASSES = {ObjectType.DATA, ObjectType.REGISTER, ObjectType.CLOCK, ObjectType.DISCONNECT_CONTROL,
                 ObjectType.ACCOUNT, ObjectType.CREDIT, ObjectType.CHARGE, ObjectType.TOKEN_GATEWAY,
                 ObjectType.IEC_HDLC_SETUP, ObjectType.TCP_UDP_SETUP}


@pytest.fixture(scope="module")
def meter():
    folder = tempfile.mkdtemp()
    run = P.meter_with_a_day(folder + "/flash")
    ports = P.serve_in_thread([run], ("dlms", "hdlc"), lls_password=P.PASSWORD, keys_file=P.keys_file(folder), trace_dir=folder)
    return run, ports["dlms"][0], ports["hdlc"][0], folder


def _expected(run):
    """OBIS -> the value a client should see after scaling, from the meter's own snapshot."""
    snapshot = run.meter.snapshot()
    return {row.obis: snapshot[row.key] * 10 ** row.scaler for row in M.REGISTERS if row.class_id == M.REGISTER}


def _gurux_read_everything(client):
    objects = client.objects()
    names = {str(o.logicalName) for o in objects}
    for row in M.REGISTERS:
        assert row.obis in names
    values = {}
    for obj in objects:
        if obj.objectType not in _READ_CLASSES:
            continue
        for number in range(2, obj.getAttributeCount() + 1):
            if isinstance(obj, GXDLMSRegister) and number == 2:
                client.read(obj, 3)  # the scaler first, as Gurux scales the value with it
            client.read(obj, number)
        if isinstance(obj, GXDLMSRegister):
            values[str(obj.logicalName)] = obj.value
    return objects, values


@pytest.mark.parametrize("hdlc", [False, True], ids=["wrapper", "hdlc"])
@pytest.mark.parametrize("security", ["none", "lls", "hls"])
def test_gurux_reads_the_association_view_every_register_clock_and_profile(meter, hdlc, security):
    run, wrapper_port, hdlc_port, _ = meter
    client = P.Gurux(hdlc_port if hdlc else wrapper_port, hdlc=hdlc,
                     client=17 if security == "lls" else 16,
                     password=P.PASSWORD if security == "lls" else None, hls=security == "hls").connect()
    try:
        objects, values = _gurux_read_everything(client)
        for obis, value in _expected(run).items():
            assert values[obis] == pytest.approx(value), obis
        clock = client.c.objects.findByLN(ObjectType.CLOCK, "0.0.1.0.0.255")
        meter_utc = datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc) + datetime.timedelta(
            seconds=run.clock.now_s())
        assert clock.time.value == meter_utc
        profile = client.c.objects.findByLN(ObjectType.PROFILE_GENERIC, "1.0.99.1.0.255")
        client.read(profile, 3)
        rows = list(client.read(profile, 2) or profile.buffer)
        assert len(rows) == run.meter.profiles[0].entries >= 96
        assert [r[1] for r in rows] == [run.meter.profiles[0].row(i)[1] for i in range(len(rows))]
        end = rows[-1][0].value
        window = client.rows_by_range(profile, end - datetime.timedelta(hours=6), end)
        assert len(window) == 25  # 15-minute rows, both ends included
        assert [r[1] for r in window] == [r[1] for r in rows[-25:]]
        assert [r[1] for r in client.rows_by_entry(profile, 3, 2)] == [rows[2][1], rows[3][1]]
    finally:
        client.close()


def test_gurux_reads_the_ports_setup_objects(meter):
    """The HDLC setup (class 23) and TCP-UDP setup (class 41) say what the simulator's ports really do."""
    run, wrapper_port, hdlc_port, _ = meter
    client = P.Gurux(hdlc_port, hdlc=True).connect()
    try:
        client.objects()
        setup = client.c.objects.findByLN(ObjectType.IEC_HDLC_SETUP, "0.0.22.0.0.255")
        tcp = client.c.objects.findByLN(ObjectType.TCP_UDP_SETUP, "0.0.25.0.0.255")
        for number in range(2, 10):
            client.read(setup, number)
        for number in range(2, 7):
            client.read(tcp, number)
    finally:
        client.close()
    assert (int(setup.communicationSpeed), setup.windowSizeTransmit, setup.windowSizeReceive,
            setup.maximumInfoLengthTransmit, setup.maximumInfoLengthReceive, setup.interCharachterTimeout,
            setup.inactivityTimeout, setup.deviceAddress) == (5, 1, 1, 1024, 1024, 1000, 120, 1)  # 5: 9600 Bd
    assert (tcp.port, tcp.ipReference, tcp.maximumSegmentSize, tcp.maximumSimultaneousConnections,
            tcp.inactivityTimeout) == (wrapper_port, "0.0.25.1.0.255", 1460, 1, 120)


def test_wrong_password_is_refused_with_authentication_failure(meter):
    _, wrapper_port, hdlc_port, _ = meter
    for port, hdlc in ((wrapper_port, False), (hdlc_port, True)):
        client = P.Gurux(port, hdlc=hdlc, client=17, password=b"guess")
        with pytest.raises(GXDLMSException) as refused:
            client.connect()
        assert refused.value.diagnostic == 13  # authentication-failure
        client.sock.close()
    cosem = P.dlms_cosem(wrapper_port, client=17, password=b"guess")
    cosem.connect()
    with pytest.raises(Exception, match="(?i)auth"):
        cosem.associate()
    cosem.disconnect()


def _cosem_read(client: DlmsClient, run):
    values = {}
    for row in M.REGISTERS:
        if row.class_id != M.REGISTER:
            continue
        value = P.cosem_get(client, M.REGISTER, row.obis, row.attribute)
        scaler, unit = P.cosem_get(client, M.REGISTER, row.obis, 3)
        assert unit == row.unit
        values[row.obis] = value * 10 ** scaler
    clock = P.cosem_get(client, M.CLOCK, "0.0.1.0.0.255", 2)
    rows = P.cosem_get(client, M.PROFILE_GENERIC, "1.0.99.1.0.255", 2)
    return values, clock, rows


@pytest.mark.parametrize("hdlc", [False, True], ids=["wrapper", "hdlc"])
@pytest.mark.parametrize("security", ["none", "lls", "hls"])
def test_dlms_cosem_reads_registers_clock_and_profile_and_agrees_with_gurux(meter, hdlc, security):
    run, wrapper_port, hdlc_port, _ = meter
    client = P.dlms_cosem(hdlc_port if hdlc else wrapper_port, hdlc=hdlc, client=17 if security == "lls" else 16,
                          password=P.PASSWORD if security == "lls" else None, hls=security == "hls")
    client.connect()
    try:
        client.associate()
        from dlms_cosem.parsers import AssociationObjectListParser

        listed = AssociationObjectListParser.parse_bytes(client.get(P.attribute(
            P.enumerations.CosemInterface.ASSOCIATION_LN, "0.0.40.0.0.255", 2)))
        assert {o.logical_name.to_string(separator=".") for o in listed} >= {row.obis for row in M.REGISTERS}
        values, clock, rows = _cosem_read(client, run)
        for obis, value in _expected(run).items():
            assert values[obis] == pytest.approx(value), obis
        assert len(rows) == run.meter.profiles[0].entries
        last = rows[-1][0]
        # a naive range (deviation not specified) is the meter's local time
        from dlms_cosem.time import datetime_from_bytes

        end = datetime_from_bytes(last)[0].replace(tzinfo=None)
        window = P.cosem_get(client, M.PROFILE_GENERIC, "1.0.99.1.0.255", 2,
                             P.clock_range(end - datetime.timedelta(hours=6), end))
        assert [r[1] for r in window] == [r[1] for r in rows[-25:]]
        entries = P.cosem_get(client, M.PROFILE_GENERIC, "1.0.99.2.0.255", 2, P.Entries(from_entry=1, to_entry=3))
        assert [r[1] for r in entries] == [run.meter.profiles[1].row(i)[1] for i in range(3)]
        assert datetime_from_bytes(clock)[0].timestamp() == pytest.approx(
            datetime.datetime(2000, 1, 1, tzinfo=datetime.timezone.utc).timestamp() + run.clock.now_s())
    finally:
        client.release_association()
        client.disconnect()


def test_both_clients_agree_on_every_value_after_scaling(meter):
    run, wrapper_port, _, _ = meter
    gurux = P.Gurux(wrapper_port).connect()
    try:
        _, gurux_values = _gurux_read_everything(gurux)
    finally:
        gurux.close()
    cosem = P.dlms_cosem(wrapper_port)
    cosem.connect()
    cosem.associate()
    try:
        cosem_values = _cosem_read(cosem, run)[0]
    finally:
        cosem.release_association()
        cosem.disconnect()
    assert set(cosem_values) == set(gurux_values) - {"0.0.96.1.0.255"} or set(cosem_values) <= set(gurux_values)
    for obis, value in cosem_values.items():
        assert gurux_values[obis] == pytest.approx(value), obis


def test_token_over_the_port_and_remote_disconnect_with_lls(meter):
    run, wrapper_port, _, _ = meter
    client = P.dlms_cosem(wrapper_port, client=17, password=P.PASSWORD)
    client.connect()
    client.associate()
    try:
        before = run.meter.available_wh()
        from dlms_cosem import cosem as C, enumerations as E

        gateway = C.CosemMethod(E.CosemInterface.TOKEN_GATEWAY, C.Obis.from_string("0.0.19.40.0.255"), 1)
        with pytest.raises(ActionError, match="OTHER_REASON"):  # already used on the keypad
            client.action(gateway, b"\x09\x14" + b"63638916334124550935")
        assert P.cosem_get(client, M.TOKEN_GATEWAY, "0.0.19.40.0.255", 2) == b"63638916334124550935"
        status = axdr.get(client.get(P.attribute(E.CosemInterface.TOKEN_GATEWAY, "0.0.19.40.0.255", 6)))[1]
        assert status[0] == 6  # validation failed (used); dlms-cosem cannot decode the bit-string after it
        assert run.meter.available_wh() == before and run.meter.result.reason == "USED"
        relay = C.CosemMethod(E.CosemInterface.DISCONNECT_CONTROL, C.Obis.from_string("0.0.96.3.10.255"), 1)
        client.action(relay, b"\x0F\x00")
        assert run.meter.relay.remote_open and P.cosem_get(client, M.DISCONNECT_CONTROL, "0.0.96.3.10.255", 2) is False
        client.action(C.CosemMethod(E.CosemInterface.DISCONNECT_CONTROL, C.Obis.from_string("0.0.96.3.10.255"), 2),
                      b"\x0F\x00")
        assert not run.meter.relay.remote_open
    finally:
        client.release_association()
        client.disconnect()


def test_every_connection_leaves_a_hex_trace(meter):
    _, wrapper_port, _, folder = meter
    client = P.Gurux(wrapper_port).connect()
    client.close()
    import glob

    newest = max(glob.glob(folder + "/meter0-dlms-*.log"), key=lambda p: int(p.rsplit("-", 1)[1][:-4]))
    lines = open(newest).read().splitlines()
    assert lines[0].split()[1:3] == ["RX", "00"] and lines[0].split()[5] == "10"  # wrapper from client 16
    assert [line.split()[1] for line in lines] == ["RX", "TX", "RX", "TX"]  # AARQ, AARE, RLRQ, RLRE
    assert lines[-1].split()[-5:] == ["63", "03", "80", "01", "00"]


def test_docs_hold_the_current_object_table():
    import pathlib

    from opsm.host.dlms import objects_markdown

    doc = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "dlms.md").read_text()
    assert objects_markdown() in doc, "docs/dlms.md is out of date: paste `python -m opsm.host.dlms`"
