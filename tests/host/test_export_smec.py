"""`opsm export smec`: Direct@mm workbooks read back with xlrd, the completeness and * / ** checks, zips,
the constancia, bad input."""

import builtins
import errno
import io
import json
import os
import time
import types
import zipfile
import zoneinfo

import pytest
import xlrd
from click.testing import CliRunner

from opsm.host import readings, smec
from opsm.host.cli import cli
from opsm.host.store import Store
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


class _Filling:
    """A file written on a disk with `disk.free` bytes left: a write past them stores what fits, then fails ENOSPC."""

    def __init__(self, file, disk):
        self._file, self._disk = file, disk

    def write(self, data):
        self._disk.log.append((self._file.name, len(data)))
        if len(data) > self._disk.free:
            self._file.write(data[:self._disk.free])
            self._disk.free = 0
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        self._disk.free -= len(data)
        return self._file.write(data)

    def __getattr__(self, name):
        if name.startswith("_"):
            raise AttributeError(name)
        return getattr(self._file, name)

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self._file.close()


def full_disk(monkeypatch, folder, free: int):
    """Files opened for writing under `folder` share `free` bytes (builtins.open and io.open, which xlwt, reportlab,
    zipfile and xlsxwriter use); the disk's log lists (file, bytes) of every write."""
    disk = types.SimpleNamespace(free=free, log=[])
    real, root = builtins.open, os.path.abspath(folder) + os.sep

    def filling_open(file, mode="r", *args, **kwargs):
        opened = real(file, mode, *args, **kwargs)
        if isinstance(file, (str, os.PathLike)) and set(mode) & set("wax+") and os.path.abspath(file).startswith(root):
            return _Filling(opened, disk)
        return opened

    monkeypatch.setattr(builtins, "open", filling_open)
    monkeypatch.setattr(io, "open", filling_open)
    return disk


def clean_exit(result) -> None:
    """Exit 1 with a message: no exception escaped to a traceback."""
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output


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


def _bytes_before(log, fragment: str) -> int:
    """Bytes written before the first write to a file whose name holds `fragment`, plus half of that file."""
    before = 0
    for index, (name, size) in enumerate(log):
        if fragment in os.path.basename(name):
            whole = sum(n for other, n in log[index:] if other == name)
            return before + whole // 2
        before += size
    raise AssertionError("no write to %s in %s" % (fragment, log))


@pytest.mark.parametrize("as_zip, fails_in", [(as_zip, name) for as_zip in (False, True) for name in (
    "-01.xls", "-02.xls", "-lote-1.zip", "-constancia.txt", "-constancia.pdf") if as_zip or not name.endswith(".zip")])
def test_a_full_disk_leaves_no_final_file_and_no_staging(db, channel_map, tmp_path, monkeypatch, as_zip, fails_in):
    """The disk fills in the middle of one file of the set: nothing appears in the folder, the staging is gone."""
    monkeypatch.setattr(smec, "COLUMNS_PER_WORKBOOK", 4)  # two workbooks
    args = ["--db", db, "--month", "2026-02", "--channels", channel_map, "--json"] + (["--zip"] if as_zip else [])
    sized = tmp_path / "sized"
    disk = full_disk(monkeypatch, sized, free=10 ** 12)
    assert run(*args, "--out", sized).exit_code == 0
    free = _bytes_before(disk.log, fails_in)

    out = tmp_path / "out"
    full_disk(monkeypatch, out, free=free)
    result = run(*args, "--out", out)
    clean_exit(result)
    failed = "SMEC-202602" + fails_in
    assert "out: cannot write %s in %s: No space left on device; nothing was written" % (failed, out) in result.output
    assert not out.exists() or os.listdir(out) == []


def test_a_failure_while_moving_the_set_into_place_restores_the_previous_set(db, channel_map, tmp_path,
                                                                             monkeypatch):
    out = tmp_path / "out"
    assert run("--db", db, "--month", "2026-02", "--channels", channel_map, "--out", out).exit_code == 0
    before = {name: (out / name).read_bytes() for name in os.listdir(out)}
    assert sorted(before) == ["SMEC-202602-01.xls", "SMEC-202602-constancia.pdf", "SMEC-202602-constancia.txt"]
    real, moves = os.replace, []

    def failing(source, target):
        if os.path.dirname(os.path.abspath(target)) == str(out) and not os.path.basename(source).startswith("."):
            moves.append(target)
            if len(moves) == 2:  # the second file of the new set
                raise OSError(errno.EIO, os.strerror(errno.EIO))
        return real(source, target)

    monkeypatch.setattr(smec, "COLUMNS_PER_WORKBOOK", 4)  # the new set has two workbooks
    monkeypatch.setattr(os, "replace", failing)
    result = run("--db", db, "--month", "2026-02", "--channels", channel_map, "--out", out)
    monkeypatch.undo()
    clean_exit(result)
    assert "out: cannot move" in result.output and "Input/output error" in result.output
    assert {name: (out / name).read_bytes() for name in os.listdir(out)} == before  # no staging left either


def test_a_new_set_replaces_the_whole_previous_set_of_the_month(db, channel_map, tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setattr(smec, "COLUMNS_PER_WORKBOOK", 4)
    assert run("--db", db, "--month", "2026-02", "--channels", channel_map, "--out", out).exit_code == 0
    (out / "SMEC-202601-01.xls").write_bytes(b"another month")
    (out / "notes.txt").write_text("the operator's")
    assert "SMEC-202602-02.xls" in os.listdir(out)
    monkeypatch.undo()
    assert run("--db", db, "--month", "2026-02", "--channels", channel_map, "--out", out).exit_code == 0
    assert sorted(os.listdir(out)) == ["SMEC-202601-01.xls", "SMEC-202602-01.xls", "SMEC-202602-constancia.pdf",
                                       "SMEC-202602-constancia.txt", "notes.txt"]
    assert xlrd.open_workbook(str(out / "SMEC-202602-01.xls")).sheet_by_index(0).ncols == 6
    assert run("--db", db, "--month", "2026-02", "--channels", channel_map, "--out", out, "--zip").exit_code == 0
    assert sorted(os.listdir(out)) == ["SMEC-202601-01.xls", "SMEC-202602-constancia.pdf",
                                       "SMEC-202602-constancia.txt", "SMEC-202602-lote-1.zip", "notes.txt"]


def test_staging_left_by_a_killed_run_is_swept_by_name_and_age(db, channel_map, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    old = time.time() - 2 * 3600
    stale = [out / ".opsm-staging-4242-k1ll3d00", out / ".staging-4243", out / ".SMEC-202602-01.xls.ab12cd34.part"]
    fresh = [out / ".opsm-staging-4244-running", out / ".SMEC-202603-01.xls.ef56gh78.part"]
    kept = [out / ".hidden-notes", out / "staging-4245"]
    for path in stale + fresh + kept:
        if "." in path.name[1:]:
            path.write_bytes(b"partial")
        else:
            path.mkdir()
            (path / "SMEC-202602-01.xls").write_bytes(b"partial")
    for path in stale + kept:
        os.utime(path, (old, old))
    result = run("--db", db, "--month", "2026-02", "--channels", channel_map, "--out", out)
    assert result.exit_code == 0, result.output
    assert sorted(os.listdir(out)) == sorted([p.name for p in fresh + kept] + [
        "SMEC-202602-01.xls", "SMEC-202602-constancia.pdf", "SMEC-202602-constancia.txt"])
