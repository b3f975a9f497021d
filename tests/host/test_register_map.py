"""One register map (issue 16): every view of the meter derives from protocol/registers.py.

Each test here fails when a consumer drifts from the map: the Modbus table, the firmware's load
profiles and what Meter.second captures, the COSEM object list, the harvester's reading plan,
the names and units of the host's readings, reports and exports, the documentation, and OBIS
codes written as literals outside the map.
"""

import ast
import asyncio
import pathlib
import re
import sqlite3

from opsm.protocol import axdr, civil, cosem_objects as O, modbus_map
from opsm.protocol import registers as M
from tests.host.source_scan import docstring_nodes

ROOT = pathlib.Path(__file__).resolve().parents[2]
OBIS = re.compile(r"\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}\.\d{1,3}")
# The objects of the object list that hold no register, setting or profile of the map.
MANAGEMENT_OBJECTS = {(M.ASSOCIATION_LN, O.ASSOCIATION_OBIS), (M.DATA, O.LDN_OBIS), (M.DATA, O.FIRMWARE_OBIS),
                      (M.CLOCK, M.CLOCK_OBIS), (M.SECURITY_SETUP, O.SECURITY_SETUP_OBIS),
                      (M.DATA, O.INVOCATION_COUNTER_OBIS), (M.ACCOUNT, O.ACCOUNT_OBIS), (M.CHARGE, O.CHARGE_OBIS),
                      (M.TOKEN_GATEWAY, O.TOKEN_GATEWAY_OBIS), (M.PUSH_SETUP, M.PUSH_SETUP_OBIS),
                      (O.IMAGE_TRANSFER, O.IMAGE_TRANSFER_OBIS)}


# --- the map itself -------------------------------------------------------------------------------

def test_the_map_is_one_consistent_table():
    keys = [r.key for r in M.REGISTERS]
    assert len(set(keys)) == len(keys)
    assert len({r.obis for r in M.REGISTERS}) == len(M.REGISTERS)
    for row in M.REGISTERS + M.SETTINGS + M.PROFILES:
        assert OBIS.fullmatch(row.obis), row
    for r in M.REGISTERS:
        assert r.attribute == 2 and r.class_id in O.CLASSES and r.unit in modbus_map.UNIT_NAMES, r
        assert (r.decimals is None) == (r.iec_unit is None), r
        assert r.name_en and r.name_es, r
    for p in M.PROFILES:
        assert p.capacity > 0 and p.period_s >= 0 and all(key in keys for key in p.columns), p
    assert [p.capacity for p in M.PROFILES] == [96 * 7, 24 * 35, 256]  # 7 days, 35 days, two log segments
    assert M.by_key("credit_wh").obis == M.CREDIT_OBIS
    settings = [s.key for s in M.SETTINGS]
    assert len(set(settings)) == len(settings) and not set(settings) & set(keys)


# --- protocol views ------------------------------------------------------------------------------

def test_every_modbus_address_comes_from_the_map():
    table = modbus_map.table()
    assert [(row.address, row.key) for row in table] == sorted(
        (r.modbus, r.key) for r in M.REGISTERS if r.modbus is not None)
    for row in table:
        register = M.by_key(row.key)
        assert (row.obis, row.scaler) == (register.obis, register.scaler)
        assert row.description.startswith(register.name_en)
    assert modbus_map.TEXT_KEYS == ("serial",)
    assert modbus_map.SIZE == table[-1].address + table[-1].count


def test_the_cosem_object_list_is_the_maps_objects():
    objects = O.build_objects()
    listed = [(class_id, ".".join(str(b) for b in ln)) for class_id, _, ln, _ in objects]
    assert len(set(listed)) == len(listed)
    from_map = [(r.class_id, r.obis) for r in M.REGISTERS] + [
        (M.DATA, s.obis) for s in M.SETTINGS if s.class_id == M.DATA] + [(M.PROFILE_GENERIC, p.obis)
                                                                        for p in M.PROFILES]
    assert set(listed) == set(from_map) | MANAGEMENT_OBJECTS
    rows = {".".join(str(b) for b in ln): row for _, _, ln, row in objects}
    for row in M.REGISTERS + M.PROFILES:
        assert rows[row.obis] is row
    for setting in M.SETTINGS:  # the two others are attributes of a register's or the clock's object
        assert setting.class_id == M.DATA or (setting.class_id, setting.obis) in set(listed)
    for profile in M.PROFILES:
        columns = O.profile_columns(profile)
        assert columns[0] == (M.CLOCK, M.CLOCK_OBIS, 2, None)
        assert columns[1:] == [(r.class_id, r.obis, r.attribute, r.type) for r in map(M.by_key, profile.columns)]


def test_the_readout_is_the_maps_readout_rows():
    snapshot = {r.key: 0 for r in M.REGISTERS}
    assert [address for address, _, _ in M.iec21_data_sets(snapshot)] == [
        M.iec21_address(r.obis) for r in M.REGISTERS if r.decimals is not None]


# --- the firmware --------------------------------------------------------------------------------

def _booted_meter():
    from boards import sim
    from meter import Meter
    from opsm.protocol import sts_decoder as sts
    from token_profiles import StsProfile

    from tests.firmware.seekflash import SeekFlash

    hal = sim.make_hal("/m", sim.SimClock(), opener=SeekFlash().open)
    meter = Meter(hal, StsProfile(sts.StsState(bytes(16), ea=11, base_year=1993)))
    meter.boot(hal.clock.now_s(), hal.clock.ticks_ms())
    hal.ac.load(500)
    for _ in range(20):
        hal.clock.advance_ms(60000)
        meter.measure()
        meter.second(hal.clock.now_s(), hal.clock.ticks_ms())
    return meter


def test_the_firmwares_profiles_are_the_maps():
    import eventlog
    import loadprofile

    layouts = [(period_s, columns, capacity) for _, period_s, columns, capacity in loadprofile.LAYOUTS]
    assert layouts == [(p.period_s, p.columns, p.capacity) for p in M.PROFILES[:-1]]
    meter = _booted_meter()
    assert [(p.period_s, p.columns, p.capacity) for p in meter.profiles] == layouts
    events = M.PROFILES[-1]  # the event log: on event, its code, two segments
    assert events.period_s == 0 and events.columns == ("event_code",)
    assert 2 * eventlog.EventLog("/x").segment_records == events.capacity
    from cosem_meter import CosemMeter

    model = CosemMeter(meter, lambda: (meter.hal.clock.now_s(), meter.hal.clock.ticks_ms()))
    assert [model.profile(n).capacity for n in range(len(M.PROFILES))] == [p.capacity for p in M.PROFILES]


def test_the_meter_gives_every_register_of_the_map():
    meter = _booted_meter()
    snapshot = meter.snapshot()
    assert set(snapshot) == {r.key for r in M.REGISTERS} - {"event_code"}  # the event log holds that one
    for key, value in snapshot.items():  # what Meter.second captures, key by key
        assert meter.value(key) == value, key
    from cosem_meter import CosemMeter

    served = CosemMeter(meter, lambda: (meter.hal.clock.now_s(), meter.hal.clock.ticks_ms())).snapshot()
    assert {r.key for r in M.REGISTERS} | {s.key for s in M.SETTINGS} <= set(served)


# --- the host ------------------------------------------------------------------------------------

class _PlanClient:
    """Answers a reading plan at once and records what it reads: (class, OBIS, attribute)."""

    def __init__(self, serial: str, now: int):
        self.serial, self.now, self.reads = serial, now, []

    @staticmethod
    def _done(value):
        return value
        yield  # a generator that ends at once with `value`

    def associate_steps(self):
        return self._done(None)

    def release_steps(self):
        return self._done(None)

    def get_steps(self, class_id, obis, attribute, selection=b""):
        self.reads.append((class_id, obis, attribute))
        if class_id == M.CLOCK:
            return self._done(axdr.date_time(self.now - civil.UNIX_2000, 0))
        if class_id == M.PROFILE_GENERIC:
            return self._done([])
        return self._done(self.serial.encode() if obis == M.by_key("serial").obis else 1)


def test_the_harvesters_plan_reads_exactly_the_maps_registers_and_profiles():
    import time

    from opsm.host import harvest
    from opsm.host.inventory import Meter

    meter = Meter("M1", "OPS1", "127.0.0.1", 4059, "dlms-tcp", 16, {}, "UTC")
    client = _PlanClient("OPS1", int(time.time()))
    reading = harvest.Reading()
    plan = harvest.dlms_plan(client, meter, lambda device_id, name: 0, 0, reading)
    for _ in plan:
        raise AssertionError("the plan's client answers at once")
    registers = [(r.class_id, r.obis, r.attribute) for r in M.REGISTERS]
    profiles = [(M.PROFILE_GENERIC, p.obis, 2) for p in M.PROFILES]
    assert client.reads == registers + [(M.CLOCK, M.CLOCK_OBIS, 2)] + profiles
    assert list(reading.registers) == [r.obis for r in M.REGISTERS]
    assert [(obis, columns) for obis, columns, _ in reading.profiles] == [
        (p.obis, tuple(M.by_key(key).obis for key in p.columns)) for p in M.PROFILES if p.period_s]


def test_readings_reports_and_exports_name_the_maps_registers(tmp_path):
    from opsm.host import readings, report, sec
    from opsm.host.store import Store

    assert readings.QUANTITIES == {name: M.by_key(key).obis for name, key in readings.QUANTITY_KEYS.items()}
    assert (readings.IMPORT_WH, readings.EXPORT_WH) == (M.by_key("import_wh").obis, M.by_key("export_wh").obis)
    assert sec.UNITS == {r.obis: modbus_map.UNIT_NAMES[r.unit] or None for r in M.REGISTERS}
    assert not hasattr(report, "REGISTER_NAMES_ES") and not hasattr(modbus_map, "DESCRIPTIONS")
    with Store.open(str(tmp_path / "map.sqlite")) as store:
        store.insert_ignore("register_values", ("device_id", "read_at", "obis", "value", "text"),
                            [("M1", 1, r.obis, 1.0, None) for r in M.REGISTERS])
        for lang, names in (("es", [r.name_es for r in M.REGISTERS]), ("en", [r.name_en for r in M.REGISTERS])):
            rows = report.register_rows(store, "M1", lang)
            assert [(obis, name) for obis, name, _, _ in rows] == list(zip([r.obis for r in M.REGISTERS], names))


def test_the_stores_historical_view_names_the_maps_credit_and_relay():
    """Migrations are history and keep their SQL; the meter_status view must still name the map's codes."""
    from opsm.host.store import MIGRATIONS

    view = [sql for version, statements in MIGRATIONS for sql in statements if "meter_status" in sql][0]
    assert re.findall(r"'(%s)' THEN r\.value END\) AS (\w+)" % OBIS.pattern, view) == [
        (M.by_key("credit_wh").obis, "credit_wh"), (M.by_key("relay").obis, "relay_closed")]
    db = sqlite3.connect(":memory:")
    for sql in [sql for _, statements in MIGRATIONS[:2] for sql in statements]:
        db.execute(sql.replace("{pk}", "INTEGER PRIMARY KEY AUTOINCREMENT"))
    db.executemany("INSERT INTO register_values VALUES ('M1', 5, ?, ?, NULL)",
                   [(M.by_key("credit_wh").obis, 700.0), (M.by_key("relay").obis, 1.0)])
    assert db.execute("SELECT credit_wh, relay_closed FROM meter_status").fetchall() == [(700.0, 1.0)]


# --- no OBIS code written twice --------------------------------------------------------------------

def _history(tree) -> set:
    """The string nodes inside host/store/schema.py's MIGRATIONS: historical SQL, kept as it ran."""
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "MIGRATIONS" for t in node.targets):
            return {id(n) for n in ast.walk(node)}
    return set()


def test_no_obis_literal_outside_the_map():
    """host/ and firmware/ name OBIS codes through protocol/registers.py (or protocol/cosem_objects.py's named
    objects), never as literals: a string that is an OBIS code, or an SQL literal holding one. Prose (docstrings,
    help texts, comments) may quote them; migrations' SQL is history and is allowed."""
    sql = re.compile(r"'%s'" % OBIS.pattern)
    found = []
    for folder in ("host", "firmware"):
        for path in sorted((ROOT / folder).rglob("*.py")):
            tree = ast.parse(path.read_text(), str(path))
            allowed = docstring_nodes(tree) | (_history(tree) if path == ROOT / "host" / "store" / "schema.py" else set())
            for node in ast.walk(tree):
                if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in allowed:
                    if OBIS.fullmatch(node.value.strip()) or sql.search(node.value):
                        found.append("%s:%d %r" % (path.relative_to(ROOT), node.lineno, node.value[:60]))
    assert not found, found


def test_the_docs_tables_are_current():
    from opsm.host.dlms import objects_markdown

    assert objects_markdown() in (ROOT / "docs" / "dlms.md").read_text(), "paste `python -m host.dlms`"
    assert modbus_map.markdown() in (ROOT / "docs" / "modbus.md").read_text(), "paste `python -m protocol.modbus_map`"


def test_the_harvester_reads_the_modbus_block_into_the_maps_codes(monkeypatch):
    import pymodbus.client

    from opsm.host import harvest
    from opsm.host.inventory import Meter

    snapshot = {r.key: 7 for r in M.REGISTERS if r.modbus is not None}
    snapshot["serial"] = "OPS1"

    class Reply:
        registers = modbus_map.registers(snapshot)

        def isError(self):
            return False

    class Client:
        def __init__(self, *args, **kwargs):
            pass

        async def connect(self):
            return True

        async def read_holding_registers(self, address, count):
            assert (address, count) == (0, modbus_map.SIZE)
            return Reply()

        def close(self):
            pass

    monkeypatch.setattr(pymodbus.client, "AsyncModbusTcpClient", Client)
    reading = harvest.Reading()
    asyncio.run(harvest._read_modbus(Meter("M1", "OPS1", "h", 502, "modbus-tcp", 1, {}, "UTC"), 1.0, reading))
    assert reading.registers == {r.obis: snapshot[r.key] * 10 ** r.scaler if r.key != "serial" else "OPS1"
                                 for r in M.REGISTERS if r.modbus is not None}
