"""`opsm export smec`: Direct@mm workbooks read back with xlrd, the completeness and * / ** checks, zips,
the constancia, bad input."""

import json
import os
import zipfile
import zoneinfo

import pytest
import xlrd
from click.testing import CliRunner

from host import readings, smec
from host.cli import cli
from host.store import Store
from tests.host import exportdata

TZ = zoneinfo.ZoneInfo("America/Guatemala")
LARGE_USER, GENERATOR = 1, 2
MAP = ("channel,device_id,quantity,multiplier,participant\n"
       "4867,M001,KwhD,1,gran-usuario\n"
       "4868,M001,KvarhD,1,gran-usuario\n"
       "3362,M002,KvarhR,40,generador\n"   # out of AMM order on purpose: the workbook puts KwhD first
       "3361,M002,KwhD,40,generador\n"
       "3363,M002,KwhR,40,generador\n"
       "3364,M002,KvarhD,40,generador\n")
MISSING = readings.month_start("2026-04", TZ)  # the last boundary of March: only March's last hour is unknown


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """Seven months (September 2025 to March 2026) of two meters, April's first midnight missing on M002."""
    path = str(tmp_path_factory.mktemp("smec") / "harvest.sqlite")
    store = Store.open(path)
    first, last = readings.month_start("2025-09", TZ), readings.month_start("2026-04", TZ) + 3600
    exportdata.populate(store, LARGE_USER, first, last)
    exportdata.populate(store, GENERATOR, first, last, skip=(MISSING,))
    store.close()
    return path


@pytest.fixture
def channel_map(tmp_path):
    path = tmp_path / "channels.csv"
    path.write_text(MAP)
    return str(path)


def run(*args):
    return CliRunner().invoke(cli, ["export", "smec"] + [str(a) for a in args])


def expected(device: int, quantity: str, month: str, multiplier: float) -> list:
    first = readings.month_start(month, TZ) // 3600
    hours = (readings.month_start(readings.shift(month, 1), TZ) // 3600) - first
    obis = readings.QUANTITIES[quantity]
    return [round(exportdata.growth(device, obis, first + h) * multiplier / 1000, 6) for h in range(hours)]


def test_workbook_layout_read_by_xlrd(db, channel_map, tmp_path):
    out = tmp_path / "out"
    result = run("--db", db, "--month", "2026-02", "--channels", channel_map, "--out", out, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    assert summary["incomplete"] == [] and summary["workbooks"] == 1
    book = xlrd.open_workbook(str(out / "SMEC-202602-01.xls"))
    assert book.biff_version == 80 and book.nsheets == 1
    sheet = book.sheet_by_index(0)
    assert (sheet.nrows, sheet.ncols) == (1 + 28 * 24, 6)  # channel numbers, then February's 672 hours
    assert sheet.row_values(0) == [4867, 4868, 3361, 3364, 3363, 3362]
    columns = [(LARGE_USER, "KwhD", 1), (LARGE_USER, "KvarhD", 1), (GENERATOR, "KwhD", 40),
               (GENERATOR, "KvarhD", 40), (GENERATOR, "KwhR", 40), (GENERATOR, "KvarhR", 40)]
    for column, (device, quantity, multiplier) in enumerate(columns):
        assert sheet.col_values(column, 1) == pytest.approx(expected(device, quantity, "2026-02", multiplier))
    assert all(sheet.cell_type(row, 0) == xlrd.XL_CELL_NUMBER for row in range(sheet.nrows))


def test_constancia_and_marks_only_where_due(db, channel_map, tmp_path):
    """February (28 days, same hourly pattern): below every average, no mark. March (31 days): its sum is
    above the average of the six months before, its maximum is not: "**" alone."""
    result = run("--db", db, "--month", "2026-02", "--channels", channel_map, "--out", tmp_path, "--json")
    assert json.loads(result.output)["marked"] == {}
    result = run("--db", db, "--month", "2026-03", "--channels", channel_map, "--out", tmp_path, "--json",
                 "--allow-incomplete")
    summary = json.loads(result.output)
    assert summary["marked"] == {"4867": "**", "4868": "**"}  # M002 is incomplete in March: no marks
    text = (tmp_path / "SMEC-202603-constancia.txt").read_text()
    assert "CANALES A CARGAR  Mes Año: 032026" in text
    line = next(line for line in text.splitlines() if line.startswith("4867"))
    march = expected(LARGE_USER, "KwhD", "2026-03", 1)
    assert "%.3f" % max(march) in line and "%.3f" % sum(march) in line and line.endswith("**")
    assert "Incompleto: faltan 1 de 744 horas" in text
    pdf = (tmp_path / "SMEC-202603-constancia.pdf").read_bytes()
    assert pdf.startswith(b"%PDF-") and b"%%EOF" in pdf[-64:]


def test_spike_marks_maximum(db, channel_map, tmp_path):
    """One February hour 0.5 kWh higher: its maximum beats the six-month average, its sum still does not."""
    store = Store.open(db)
    spike_at = readings.month_start("2026-02", TZ) + 10 * 86400 + 3600 * 19
    store.execute("UPDATE profile_values SET value = value + 500 WHERE device_id = 'M001' AND obis = ? "
                  "AND captured_at >= ?", (readings.IMPORT_WH, spike_at))
    store.db.commit()
    try:
        result = run("--db", db, "--month", "2026-02", "--channels", channel_map, "--out", tmp_path, "--json")
        assert json.loads(result.output)["marked"] == {"4867": "*"}
    finally:
        store.execute("UPDATE profile_values SET value = value - 500 WHERE device_id = 'M001' AND obis = ? "
                      "AND captured_at >= ?", (readings.IMPORT_WH, spike_at))
        store.db.commit()
        store.close()


def test_missing_hour_refused_then_allowed(db, channel_map, tmp_path):
    out = tmp_path / "out"
    result = run("--db", db, "--month", "2026-03", "--channels", channel_map, "--out", out)
    assert result.exit_code == 1
    assert "incomplete channels" in result.output
    for number in (3361, 3363):  # M002's +A and -A: the boundary is missing in both profiles
        assert "channel %d (M002" % number in result.output and "1 of 744 hours missing, first at hour 744" in \
            result.output
    assert "channel 4867" not in result.output
    assert not out.exists() or os.listdir(out) == []
    result = run("--db", db, "--month", "2026-03", "--channels", channel_map, "--out", out, "--allow-incomplete")
    assert result.exit_code == 0, result.output
    sheet = xlrd.open_workbook(str(out / "SMEC-202603-01.xls")).sheet_by_index(0)
    assert sheet.nrows == 745
    assert sheet.cell_type(744, 2) == xlrd.XL_CELL_EMPTY  # the unknown hour stays empty, never a zero
    assert sheet.cell_value(744, 0) == expected(LARGE_USER, "KwhD", "2026-03", 1)[-1]


def test_zip_batches_of_twenty(db, channel_map, tmp_path, monkeypatch):
    """Workbooks split without cutting a meter's channels, zips hold at most WORKBOOKS_PER_ZIP workbooks."""
    monkeypatch.setattr(smec, "COLUMNS_PER_WORKBOOK", 4)
    monkeypatch.setattr(smec, "WORKBOOKS_PER_ZIP", 1)
    result = run("--db", db, "--month", "2026-02", "--channels", channel_map, "--out", tmp_path, "--zip", "--json")
    summary = json.loads(result.output)
    assert summary["workbooks"] == 2
    zips = sorted(p for p in os.listdir(tmp_path) if p.endswith(".zip"))
    assert zips == ["SMEC-202602-lote-1.zip", "SMEC-202602-lote-2.zip"]
    assert not [p for p in os.listdir(tmp_path) if p.endswith(".xls") or p.startswith(".")]
    with zipfile.ZipFile(tmp_path / zips[1]) as archive:
        assert archive.namelist() == ["SMEC-202602-02.xls"]
        sheet = xlrd.open_workbook(file_contents=archive.read("SMEC-202602-02.xls")).sheet_by_index(0)
    assert sheet.row_values(0) == [3361, 3364, 3363, 3362]


def test_real_batch_limits():
    channels = [smec.Channel(n, "D%03d" % (n // 4), q, 1, "generador") for n in range(420)
                for q in [smec.ALL_QUANTITIES[n % 4]]]
    groups = smec.workbook_groups(channels)
    assert [len(g) for g in groups] == [20] * 21
    assert all(len({c.device_id for c in g}) == 5 for g in groups)


@pytest.mark.parametrize("line, message", [
    ("4867,M001,KwhD,1,gran-usuario\n", "row 8: channel: 4867 is also on row 2"),
    ("9,M001,kwh,1,gran-usuario\n", "row 8: quantity: must be one of KwhD, KvarhD, KwhR, KvarhR, got 'kwh'"),
    ("9,M003,KwhD,0,gran-usuario\n", "row 8: multiplier: must be a number above 0, got '0'"),
    ("x,M003,KwhD,1,gran-usuario\n", "row 8: channel: must be an AMM channel number"),
    ("9,M003,KwhD,1,consumidor\n", "row 8: participant: must be one of gran-usuario"),
    ("9,M001,KwhR,1,gran-usuario\n", "device M001: quantity: a gran-usuario loads KwhD, KvarhD"),
])
def test_bad_channel_map(db, tmp_path, line, message):
    path = tmp_path / "channels.csv"
    path.write_text(MAP + line)
    result = run("--db", db, "--month", "2026-02", "--channels", path, "--out", tmp_path / "out")
    assert result.exit_code == 1 and message in result.output
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, message", [
    (("--month", "2026-02", "--extra-map"), "device_id: not in the harvest database: M009"),
    (("--month", "2024-02"), "month: no readings stored for 2024-02"),
    (("--month", "2026-13"), "month: must be YYYY-MM, got '2026-13'"),
    (("--month", "2026-02", "--timezone", "Mars/Olympus"), "timezone: must be an IANA time zone"),
])
def test_bad_request(db, channel_map, tmp_path, args, message):
    if "--extra-map" in args:
        with open(channel_map, "a") as f:
            f.write("9,M009,KwhD,1,gran-usuario\n10,M009,KvarhD,1,gran-usuario\n")
        args = args[:2]
    result = run("--db", db, "--channels", channel_map, "--out", tmp_path / "out", *args)
    assert result.exit_code == 1 and message in result.output, result.output
    assert not (tmp_path / "out").exists()


def test_postgresql_gives_the_same_workbook(postgres_db, channel_map, tmp_path):
    store = Store.open(postgres_db)
    first, last = readings.month_start("2026-01", TZ), readings.month_start("2026-03", TZ)
    for device in (LARGE_USER, GENERATOR):
        exportdata.populate(store, device, first, last, quarter=device == GENERATOR)
    store.close()
    result = run("--db", postgres_db, "--month", "2026-02", "--channels", channel_map, "--out", tmp_path, "--json")
    assert result.exit_code == 0, result.output
    sheet = xlrd.open_workbook(str(tmp_path / "SMEC-202602-01.xls")).sheet_by_index(0)
    assert sheet.col_values(4, 1) == pytest.approx(expected(GENERATOR, "KwhR", "2026-02", 40))
    assert sheet.col_values(1, 1) == pytest.approx(expected(LARGE_USER, "KvarhD", "2026-02", 1))
    assert json.loads(result.output)["marked"] == {}  # 28 days against January's 31
    store = Store.open(postgres_db)
    assert store.query("SELECT month, COUNT(*) FROM smec_months GROUP BY month ORDER BY month") == [
        ("2026-01", 6), ("2026-02", 6)]
    store.close()
