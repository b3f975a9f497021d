"""The portal's page model, its PDF (read back with pdftotext) and its SVG bar chart."""

import datetime
import math
import re
import subprocess
import xml.etree.ElementTree as ET

import pytest

from opsm.host.portal import charts, pdf
from opsm.host.portal.page import (MISSING, Bars, Feature, Fields, Grid, Map, Page, Series, Text, clp, day, moment,
                                   month_name, number, quantity)

SVG = "{http://www.w3.org/2000/svg}"
MONTHS = tuple("%d-%02d" % (2017 + m // 12, m % 12 + 1) for m in range(36))
GENERATED = datetime.datetime(2025, 12, 3, 14, 12, tzinfo=datetime.timezone.utc)  # 11:12 in Chile's summer
ROWS = 130  # a grid longer than a page


def consumption_and_charges() -> Bars:
    return Bars("Consumo y cargos, últimos 36 meses", MONTHS, (
        Series("Consumo", [None if m == 7 else 100 + 30 * math.sin(m / 2) for m in range(36)], "kWh", 1),
        Series("Cargos", [15000 + 3000 * math.cos(m / 3) for m in range(36)], "$")))


def consumption_and_injection() -> Bars:
    return Bars("Consumo e inyección, últimos 12 meses", MONTHS[-12:], (
        Series("Consumo", [100 + m for m in range(12)], "kWh"),
        Series("Inyección", [50 + 3 * m for m in range(12)], "kWh", 0, "#2e9e4f")))


def sample_page() -> Page:
    substations = Grid("Subestaciones de la comuna", ("Id Subestación", "Nombre Subestación", "Capacidad"),
                       tuple(("SE-%03d" % n, "Nombre %d <&>" % n, quantity(1000 * n + 0.5, "kVA", 1))
                             for n in range(ROWS)),
                       tuple(("/subestaciones/SE-%03d" % n, None, None) for n in range(ROWS)))
    place = Map("Mapa georreferenciación", (
        Feature("substation", "SE-000", {"type": "Point", "coordinates": [-72.9366, -41.4717]}),
        Feature("span", "V-1", {"type": "LineString", "coordinates": [[-72.9366, -41.4717], [-72.9300, -41.4700]]})))
    return Page("Detalle subestación", (("REGION DE LOS LAGOS", "/regiones/10"), ("PUERTO MONTT", "/comunas/10101"),
                                         ("DETALLE SUBESTACION", None)), (
        Fields("Subestación", (("ID-SUBESTACION", "SE-PMT"), ("NOMBRE", "Puerto Montt"),
                               ("TRANSFORMADORES AT/MT", "TRAF01, TRAF02"))),
        substations, consumption_and_charges(), consumption_and_injection(), place,
        Text("Notas", ("Información referencial al día.", "Los valores faltantes dicen «sin dato»."))))


@pytest.fixture(scope="module")
def sample_pdf(tmp_path_factory) -> tuple:
    """(bytes, text per page) of the sample page's PDF."""
    data = pdf.page_pdf(sample_page(), GENERATED, "https://portal.example.cl")
    path = tmp_path_factory.mktemp("pdf") / "page.pdf"
    path.write_bytes(data)
    text = subprocess.run(["pdftotext", "-enc", "UTF-8", str(path), "-"], check=True, capture_output=True,
                          text=True).stdout
    return data, text.split("\f")[:-1]


# --- values as written ---------------------------------------------------------------------------------------------

def test_values_are_written_in_chilean_spanish():
    assert number(1234567.5, 1) == "1.234.567,5" and number(-1500) == "-1.500" and number(None) == MISSING
    assert quantity(12.25, "kWh", 2) == "12,25 kWh" and quantity(None, "kWh") == MISSING
    assert quantity(-1500, "$") == "-$1.500"
    assert clp(123456750) == "$1.234.568" and clp(-5000) == "-$50" and clp(49) == "$0" and clp(None) == MISSING
    assert day(datetime.date(2019, 12, 1)) == "1 DIC 2019" and day(datetime.date(2019, 9, 1)) == "1 SEPT 2019"
    assert month_name("2019-11") == "NOVIEMBRE 2019"
    assert moment(GENERATED) == "3 DIC 2025 11:12"
    assert moment(datetime.datetime(2025, 7, 1, 12, 0, tzinfo=datetime.timezone.utc)) == "1 JUL 2025 08:00"  # winter


def test_the_model_refuses_what_it_cannot_draw():
    with pytest.raises(ValueError, match=r"rows\[1\]: has 1 cells for 2 columns"):
        Grid("x", ("a", "b"), (("1", "2"), ("3",)))
    with pytest.raises(ValueError, match="links"):
        Grid("x", ("a",), (("1",),), (("/a", "/b"),))
    with pytest.raises(ValueError, match="has 2 values for 3 months"):
        Bars("x", MONTHS[:3], (Series("s", [1, 2], "kWh"),))
    with pytest.raises(ValueError, match="at most two units"):
        Bars("x", MONTHS[:1], (Series("a", [1], "kWh"), Series("b", [1], "$"), Series("c", [1], "A")))
    with pytest.raises(ValueError, match="kind must be one of"):
        Map("x", (Feature("tree", "t", {"type": "Point", "coordinates": [0, 0]}),))
    with pytest.raises(ValueError, match=r"features\[0\]: coordinates must be \[lon, lat\]"):
        Map("x", (Feature("pole", "p", {"type": "Point", "coordinates": [-41.4, -172.9]}),))
    with pytest.raises(ValueError, match="Point or LineString"):
        Map("x", (Feature("pole", "p", {"type": "Polygon", "coordinates": []}),))


def test_a_grid_knows_its_number_columns_and_bars_give_their_values_as_a_grid():
    grid = Grid("", ("Id", "Capacidad", "Monto", "Fecha"),
                (("SE-1", "1.000,5 kVA", "$1.234", "1 DIC 2019"), ("SE-2", MISSING, "-$5", "1 NOV 2019")))
    assert grid.numeric() == (False, True, True, False)
    table = consumption_and_charges().table()
    assert table.columns == ("Mes", "Consumo (kWh)", "Cargos ($)")
    assert table.rows[0] == ("ENERO 2017", "100,0", "18.000") and table.rows[7][1] == MISSING


# --- the PDF ------------------------------------------------------------------------------------------------------

def test_the_pdf_holds_every_value_of_the_page(sample_pdf):
    _, pages = sample_pdf
    text = "\n".join(pages)
    page = sample_page()
    expected = [page.title] + [label for label, _ in page.trail]
    for section in page.sections:
        expected.append(section.title)
        if isinstance(section, Fields):
            expected += [v for row in section.rows for v in row]
        elif isinstance(section, Grid):
            expected += list(section.columns) + [v for row in section.rows for v in row]
        elif isinstance(section, Bars):
            table = section.table()
            expected += list(table.columns) + [v for row in table.rows for v in row]
        elif isinstance(section, Text):
            expected += list(section.paragraphs)
    missing = [value for value in expected if value not in text]
    assert not missing
    assert "Proyección UTM zona 18 Sur, datum WGS84" in text  # the map says what it is drawn in


def test_a_long_grid_runs_over_pages_repeating_its_header(sample_pdf):
    _, pages = sample_pdf
    holding = [n for n, text in enumerate(pages) if re.search(r"SE-\d{3}", text)]
    assert len(holding) >= 2
    for n in holding:
        assert "Id Subestación" in pages[n] and "Nombre Subestación" in pages[n]
    # every row once, in order
    found = [int(m) for n in holding for m in re.findall(r"SE-(\d{3})\n", pages[n])]
    assert found == list(range(ROWS))


def test_every_page_has_its_number_and_the_generation_time(sample_pdf):
    _, pages = sample_pdf
    assert len(pages) >= 3
    for n, text in enumerate(pages, 1):
        assert "Generado el 3 DIC 2025 11:12" in text
        assert re.search(r"Página %d de\s+%d\b" % (n, len(pages)), text), text[-200:]


def test_links_in_the_pdf_point_to_the_site(sample_pdf):
    data, _ = sample_pdf
    assert b"https://portal.example.cl/subestaciones/SE-042" in data
    assert b"https://portal.example.cl/comunas/10101" in data
    without = pdf.page_pdf(Page("t", (("A", "/a"),), (Grid("g", ("x",), (("1",),), (("/b",),)),)), GENERATED)
    assert b"/URI" not in without  # no site to point to: plain text


def test_an_empty_grid_says_so():
    path_text = _pdf_text(pdf.page_pdf(Page("Vacía", (), (Grid("Transformadores", ("Id",), ()),)), GENERATED))
    assert "Transformadores" in path_text and "Sin registros." in path_text


def _pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", "-", "-"], input=data, check=True,
                          capture_output=True).stdout.decode()


# --- the SVG chart ----------------------------------------------------------------------------------------------

def test_the_svg_chart_has_a_bar_per_known_value_side_by_side():
    bars = consumption_and_charges()
    root = ET.fromstring(charts.bars_svg(bars))
    drawn = root.findall("%srect[@class='bar']" % SVG)
    assert len(drawn) == 2 * 36 - 1  # the month without consumption is a gap
    titles = [bar.find(SVG + "title").text for bar in drawn]
    assert titles[0] == "ene 17 · Consumo: 100,0 kWh" and titles[1] == "ene 17 · Cargos: $18.000"
    first, second = drawn[0], drawn[1]
    assert float(first.get("x")) + float(first.get("width")) == pytest.approx(float(second.get("x")), abs=0.02)
    assert {first.get("fill"), second.get("fill")} == set(charts.PALETTE[:2])
    # taller bar, bigger value: heights follow the values on their own axis
    consumption = [(float(b.get("height")), v) for b, v in zip([b for b in drawn if b.get("fill") == charts.PALETTE[0]],
                                                              [v for v in bars.series[0].values if v is not None])]
    assert sorted(consumption) == sorted(consumption, key=lambda pair: pair[1])


def test_the_svg_chart_names_itself_and_its_axes():
    root = ET.fromstring(charts.bars_svg(consumption_and_injection(), ident="inyeccion"))
    assert root.get("role") == "img" and root.get("aria-labelledby") == "inyeccion-title inyeccion-desc"
    assert root.find(SVG + "title").text == "Consumo e inyección, últimos 12 meses"
    assert "Consumo (kWh) y Inyección (kWh)" in root.find(SVG + "desc").text
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "Consumo (kWh)" in texts and "Inyección (kWh)" in texts and "kWh" in texts
    assert [t for t in texts if re.fullmatch(r"[a-z]{3} \d\d", t or "")] == [
        "%s %s" % (name, year) for name, year in zip(("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep",
                                                      "oct", "nov", "dic"), ["19"] * 12)]
    assert len(root.findall("%srect[@class='bar']" % SVG)) == 24
    assert not list(root.iter(SVG + "script")) and not list(root.iter(SVG + "style"))


def test_the_svg_chart_escapes_text_and_draws_negative_values_below_zero():
    bars = Bars("Cargos <netos> & más", MONTHS[:2], (Series("Cargos", [-1000, 2000], "$"),))
    markup = charts.bars_svg(bars)
    root = ET.fromstring(markup)
    assert root.find(SVG + "title").text == "Cargos <netos> & más"
    negative, positive = root.findall("%srect[@class='bar']" % SVG)
    assert float(negative.get("y")) == pytest.approx(float(positive.get("y")) + float(positive.get("height")), abs=0.02)
