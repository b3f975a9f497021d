"""`opsm report customer`: the PDF's text read back with pdftotext, its first page rendered with pdftoppm and
the bars found in the picture, the chart data against the meter's known growth, bad input."""

import os
import subprocess
import zoneinfo

import pytest
from click.testing import CliRunner
from PIL import Image
from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.shapes import Group, Rect

from opsm.host import customers, readings, report
from opsm.host.cli import cli
from opsm.host.harvest import Reading
from opsm.host.store import Store
from tests.host import exportdata

TZ = zoneinfo.ZoneInfo("America/Santiago")
CUSTOMER, NO_CUSTOMER, NEVER_READ = 1, 2, 3
FIRST_MONTH, LAST_MONTH = "2024-01", "2025-02"  # fourteen whole months of M001
MISSING = readings.month_start("2024-09", TZ)   # August and September 2024 lose a boundary
CUSTOMER_ID = "12.345.678-5"
RECHARGES = [readings.month_start("2024-05", TZ) + 3600 * n for n in (10, 20, 30)]
BEFORE_PERIOD = readings.month_start("2021-06", TZ)  # a recharge the 36 months ending February 2025 leave out


def customer_row(customer_id: str, name: str, device_id: str) -> tuple:
    return (customer_id, name, device_id, None, None, "Av. Providencia 1234, depto 56", "Providencia", "Santiago",
            "Metropolitana", None, None, "1234567", "Enel", "BT1", None, 1, 0, 1)


def charge_cents(n: int) -> int:
    return 2500000 + 12300 * n


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    """M001: January 2024 to February 2025 with a customer, monthly charges, recharges and an unknown event code;
    M002: two days of January 2025 and no customer; M003: known to the harvester, never read."""
    path = str(tmp_path_factory.mktemp("report") / "harvest.sqlite")
    store = Store.open(path)
    exportdata.populate(store, CUSTOMER, readings.month_start(FIRST_MONTH, TZ),
                        readings.month_start(readings.shift(LAST_MONTH, 1), TZ), "America/Santiago", skip=(MISSING,))
    start = readings.month_start("2025-01", TZ)
    exportdata.populate(store, NO_CUSTOMER, start, start + 2 * 86400, "America/Santiago")
    store.save(store.begin_harvest(1), exportdata.meter(NEVER_READ, "America/Santiago"), Reading())
    store.insert_ignore("events", ("device_id", "occurred_at", "code"),
                        [("M001", t, 3) for t in RECHARGES + [BEFORE_PERIOD]] + [("M001", RECHARGES[0], 42)])
    customers.save_customers(store, [customer_row(CUSTOMER_ID, "María José Pérez Soto", "M001")])
    customers.save_charges(store, [(CUSTOMER_ID, "F%03d" % n, readings.month_start(month, TZ) + 5 * 86400,
                                    charge_cents(n), "CLP", None)
                                   for n, month in enumerate(readings.months_ending(LAST_MONTH, 14))])
    store.db.commit()
    store.close()
    return path


def run(db: str, *args):
    return CliRunner().invoke(cli, ["report", "customer", "--db", db] + [str(a) for a in args])


@pytest.fixture(scope="module")
def spanish_pdf(db, tmp_path_factory):
    out = tmp_path_factory.mktemp("pdf") / "M001.pdf"
    result = run(db, "--device", "M001", "--month", LAST_MONTH, "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip() == "%s: 2022-03 to 2025-02" % out
    return out


def pdf_text(path) -> str:
    return subprocess.run(["pdftotext", "-layout", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout


def line_with(text: str, start: str) -> str:
    return next(line.strip() for line in text.splitlines() if line.strip().startswith(start))


def expected_kwh(obis: str, month: str) -> float | None:
    """The meter's growth over the month by exportdata's formula; None where the report cannot know it."""
    if not FIRST_MONTH <= month <= LAST_MONTH or month in ("2024-08", "2024-09"):
        return None
    first = readings.month_start(month, TZ) // 3600
    end = readings.month_start(readings.shift(month, 1), TZ) // 3600
    return sum(exportdata.growth(CUSTOMER, obis, hour) for hour in range(first, end)) / 1000


def test_text_names_the_customer_registers_and_events(spanish_pdf):
    text = pdf_text(spanish_pdf)
    for words in ("María José Pérez Soto", CUSTOMER_ID, "Enel", "OPS00000002", "America/Santiago",
                  "Consumo (kWh)", "Cargos (CLP)", "Inyecciones (kWh)", "mar 22 a feb 25"):
        assert words in text
    assert "Consumo sin datos (mes sin lectura al inicio o al final): mar 22 a dic 23, ago 24 a sep 24." in text
    assert line_with(text, "0.0.96.1.0.255").split()[-1] == "OPS00000002"
    register = line_with(text, readings.IMPORT_WH)
    wh = exportdata.register(CUSTOMER, readings.IMPORT_WH, readings.month_start("2025-03", TZ))
    kwh = "{:,}".format(wh // 1000).replace(",", ".") + ",%03d" % (wh % 1000)  # Chilean: 29.079,062
    assert "Energía activa consumida (+A)" in register and register.split()[-2:] == [kwh, "kWh"]
    assert line_with(text, "Recarga").split()[1:] == ["3", "2024-05-02", "06:00"]  # the one of 2021 is not counted
    assert line_with(text, "Código 42").split()[2] == "1"
    assert line_with(text, "Encendido").split()[1] == "1"


def test_english_labels(db, tmp_path):
    out = tmp_path / "en.pdf"
    assert run(db, "--device", "M001", "--month", LAST_MONTH, "--lang", "en", "--out", out).exit_code == 0
    text = pdf_text(out)
    for words in ("Customer", "Consumption (kWh)", "Charges (CLP)", "Injections (kWh)", "Power up", "Recharge",
                  "Code 42", "Mar 22 to Feb 25", "Active energy import (+A)"):
        assert words in text
    assert "Consumo" not in text and "Cargos" not in text


def test_chart_data_is_the_growth_and_bars_are_proportional(db):
    store = Store.open(db)
    months = readings.months_ending(LAST_MONTH, report.PERIOD_MONTHS)
    data = report.chart_data(store, "M001", CUSTOMER_ID, months, TZ)
    store.close()
    assert data["consumption"] == pytest.approx([expected_kwh(readings.IMPORT_WH, m) for m in months])
    assert data["injections"] == pytest.approx([expected_kwh(readings.EXPORT_WH, m) for m in months])
    assert data["charges"][-14:] == [charge_cents(n) / 100 for n in range(14)] and data["charges"][:-14] == [0] * 22
    (_, _, _, drawing), (_, recent_months, recent, _) = report.charts(data, months, "CLP", "es")
    assert recent_months == months[-12:]
    assert [s.values for s in recent] == [data["consumption"][-12:], data["injections"][-12:]]
    layers = [shape for shape in drawing.contents if isinstance(shape, VerticalBarChart)]
    assert len(layers) == 2  # kWh on the left axis, money on its own right axis
    for colour, values in ((report.CONSUMPTION_COLOUR, data["consumption"]), (report.CHARGES_COLOUR,
                                                                                data["charges"])):
        bars = sorted((r for layer in layers for r in rects(layer.draw()) if r.fillColor == colour),
                      key=lambda r: r.x)
        known = [v for v in values if v]
        assert len(bars) == len(known)  # no bar at all for a month without a value (nor for nothing charged)
        scale = max(bar.height for bar in bars) / max(known)
        assert [bar.height for bar in bars] == pytest.approx([value * scale for value in known])


def rects(group: Group):
    for shape in group.contents:
        if isinstance(shape, Group):
            yield from rects(shape)
        elif isinstance(shape, Rect):
            yield shape


def colour_mask(picture: Image.Image, colour) -> list:
    """Rows of booleans: where the pixel is the colour (give or take the rasteriser's rounding)."""
    wanted = [round(c * 255) for c in colour.rgb()]
    width, height = picture.size
    pixels = picture.load()
    return [[all(abs(a - b) <= 16 for a, b in zip(pixels[x, y], wanted)) for x in range(width)]
            for y in range(height)]


def runs(flags: list) -> list:
    """(first, last) index of each run of true flags."""
    found: list = []
    for n, flag in enumerate(flags):
        if flag and found and found[-1][1] == n - 1:
            found[-1][1] = n
        elif flag:
            found.append([n, n])
    return found


def bands(mask: list) -> list:
    """The runs of rows holding the colour that are tall enough to be a chart, not a legend's swatch."""
    return [band for band in runs([any(row) for row in mask]) if band[1] - band[0] >= 20]


def bar_columns(mask: list, band: list) -> list:
    """Centres of the runs of columns where the colour stands at least 10 pixels tall inside a band of rows:
    one per bar drawn (axis labels and legend swatches in the colour are shorter)."""
    rows = mask[band[0]:band[1] + 1]
    tall = [any(last - first >= 9 for first, last in runs([row[x] for row in rows])) for x in range(len(rows[0]))]
    return [(first + last) / 2 for first, last in runs(tall)]


def test_page_one_shows_the_bars_with_gaps(spanish_pdf, tmp_path):
    subprocess.run(["pdftoppm", "-r", "50", "-png", "-f", "1", "-l", "1", str(spanish_pdf), str(tmp_path / "page")],
                   check=True)
    picture = Image.open(tmp_path / "page-1.png").convert("RGB")
    consumption = colour_mask(picture, report.CONSUMPTION_COLOUR)
    charts = bands(consumption)
    assert len(charts) == 2  # 36 months above, 12 below
    long, recent = charts
    assert len(bar_columns(consumption, long)) == 12  # fourteen months, two without a boundary
    assert len(bar_columns(colour_mask(picture, report.CHARGES_COLOUR), long)) == 14  # charged every month
    assert len(bar_columns(colour_mask(picture, report.INJECTIONS_COLOUR), recent)) == 10
    centres = bar_columns(consumption, recent)
    assert len(centres) == 10
    steps = [b - a for a, b in zip(centres, centres[1:])]
    month = sorted(steps)[len(steps) // 2]
    # March to July 2024, then October 2024 to February 2025: three months from one bar to the next
    assert [round(step / month) for step in steps] == [1, 1, 1, 1, 3, 1, 1, 1, 1]


def test_meter_without_customer_defaults_to_its_newest_month(db, tmp_path):
    out = tmp_path / "M002.pdf"
    result = run(db, "--device", "M002", "--out", out)
    assert result.exit_code == 0, result.output
    assert result.output.strip().endswith("2022-02 to 2025-01")
    text = pdf_text(out)
    assert "Sin cliente en el registro" in text and "OPS00000003" in text and "Cargos" not in text


@pytest.mark.parametrize("device, month, message", [
    ("M999", None, "device: no meter 'M999' in the database"),
    ("M003", None, "device: meter 'M003' has no readings in the database"),
    ("M001", "2020-01", "month: meter 'M001' has no readings in the 36 months 2017-02 to 2020-01"),
    ("M001", "2025-13", "month: must be YYYY-MM, got '2025-13'"),
])
def test_bad_input_exits_1_and_keeps_the_old_file(db, tmp_path, device, month, message):
    out = tmp_path / "report.pdf"
    out.write_text("the previous report")
    result = run(db, "--device", device, "--out", out, *(("--month", month) if month else ()))
    assert result.exit_code == 1 and message in result.output
    assert out.read_text() == "the previous report" and os.listdir(tmp_path) == ["report.pdf"]


def test_unknown_device_leaves_no_file(db, tmp_path):
    result = run(db, "--device", "M999", "--out", tmp_path / "new.pdf")
    assert result.exit_code == 1 and os.listdir(tmp_path) == []


def test_one_customer_and_one_currency(tmp_path):
    store = Store.open(str(tmp_path / "register.sqlite"))
    customers.save_customers(store, [customer_row("A-1", "Ana", "M001"), customer_row("B-2", "Beto", "M001")])
    customers.save_charges(store, [("A-1", "F1", 0, 100, "CLP", None), ("A-1", "F2", 0, 100, "USD", None)])
    with pytest.raises(report.ReportError, match="device: meter 'M001' supplies 2 customers \\(A-1, B-2\\)"):
        report.customer(store, "M001")
    with pytest.raises(report.ReportError, match="charges: customer 'A-1' is charged in CLP and USD"):
        report.currency(store, "A-1")
    store.close()
