"""One page of the portal as data: the HTML page, its print layout and its PDF are all drawn from it.

The Anexo 1 asks every page for "Imprimir" (print what is shown and filtered) and "Guardar"
(the same, as a PDF). When the route builds a Page once and hands the same object to the
template and to pdf.page_pdf, the screen, the paper and the file cannot disagree.

Values arrive already written as text, in Chile's Spanish, by the helpers here (number, clp,
day, month_name: dates and months as the Anexo writes them, "1 DIC 2019", "DICIEMBRE 2019";
a value not known is MISSING, never zero or an empty cell). Only what is drawn stays numbers:
the values of Bars and the WGS84 geometries of a Map, which the renderers scale. A Bars also
gives its numbers as a Grid (Bars.table), so the values behind the bars are shown and saved
as text, not only as bar heights. (The helpers live here rather than in a format.py: a module
must not be named like a built-in.)
"""

import collections
import dataclasses
import datetime
import re
import zoneinfo

from opsm.host import report

CHILE = zoneinfo.ZoneInfo("America/Santiago")  # continental Chile: the portal's clock
MISSING = "sin dato"
MONTHS = ("ENERO", "FEBRERO", "MARZO", "ABRIL", "MAYO", "JUNIO", "JULIO", "AGOSTO", "SEPTIEMBRE", "OCTUBRE",
          "NOVIEMBRE", "DICIEMBRE")
MONTH_ABBREVIATIONS = ("ENE", "FEB", "MAR", "ABR", "MAY", "JUN", "JUL", "AGO", "SEPT", "OCT", "NOV", "DIC")
# Kinds of a map's features -> their name in the legend; maps.py draws each kind its own way
KINDS = {"feeder": "Alimentador", "span": "Vano", "substation": "Subestación", "transformer": "Transformador",
         "pole": "Poste", "equipment": "Equipo", "generation": "Generación (PMGD / EG)"}
# A number as written here, with an optional unit: "-$1.234", "12,5 kWh", "3"
_NUMBER = re.compile(r"-?\$?\d[\d.]*(,\d+)?( [^\d\s]+)?")

Series = collections.namedtuple("Series", "name values unit decimals colour", defaults=(0, None))
Series.__doc__ = """One series of a Bars: a value per month (None: not known, drawn as a gap), its unit, the
decimals its values are written with, its colour ("#rrggbb"; None: the palette's, by position)."""
Feature = collections.namedtuple("Feature", "kind name geometry")
Feature.__doc__ = """A thing on a map: a kind of KINDS, its name, a GeoJSON geometry in WGS84 (Point or
LineString, coordinates [lon, lat])."""


# --- values as the portal writes them ------------------------------------------------------------------------

def number(value: float | None, decimals: int = 0) -> str:
    """1234567.5 -> "1.234.567,5" (decimals=1), grouped as in the customer report; None -> MISSING."""
    return MISSING if value is None else report.number(value, decimals, "es")


def quantity(value: float | None, unit: str, decimals: int = 0) -> str:
    """1234.5, "kWh", 1 -> "1.234,5 kWh"; money goes before the number: -1500, "$" -> "-$1.500"."""
    if value is None:
        return MISSING
    if unit == "$":
        return "%s$%s" % ("-" if value < 0 else "", number(abs(value), decimals))
    return "%s %s" % (number(value, decimals), unit)


def clp(cents: int | None) -> str:
    """Chilean pesos from the cents the store keeps: 123456750 -> "$1.234.568" (the peso has no decimals in use;
    half a peso rounds away from zero)."""
    if cents is None:
        return MISSING
    pesos = (abs(cents) + 50) // 100
    return quantity(-pesos if cents < 0 else pesos, "$")


def day(value: datetime.date) -> str:
    """date(2019, 12, 1) -> "1 DIC 2019"."""
    return "%d %s %d" % (value.day, MONTH_ABBREVIATIONS[value.month - 1], value.year)


def moment(value: datetime.datetime) -> str:
    """A point in time on Chile's clock: "3 DIC 2025 11:12"."""
    local = value.astimezone(CHILE)
    return "%s %s" % (day(local), local.strftime("%H:%M"))


def month_name(month: str) -> str:
    """"2019-12" (the store's months) -> "DICIEMBRE 2019"."""
    year, index = month.split("-")
    return "%s %s" % (MONTHS[int(index) - 1], year)


def check_geometry(where: str, geometry, allowed: tuple = ("Point", "LineString")) -> list:
    """The (lon, lat) points of a GeoJSON geometry of an allowed type in WGS84 (an altitude left out);
    ValueError naming `where` otherwise."""
    kind = geometry.get("type") if isinstance(geometry, dict) else None
    if kind not in allowed:
        raise ValueError("%s: geometry must be a GeoJSON %s, got %r" % (where, " or ".join(allowed), kind))
    found = [geometry["coordinates"]] if kind == "Point" else list(geometry["coordinates"])
    if kind == "LineString" and len(found) < 2:
        raise ValueError("%s: a LineString needs two points or more" % where)
    for point in found:
        if not (len(point) in (2, 3) and -180 <= point[0] <= 180 and -90 <= point[1] <= 90):
            raise ValueError("%s: coordinates must be [lon, lat] in WGS84 degrees, got %r" % (where, point))
    return [(point[0], point[1]) for point in found]


# --- the sections ----------------------------------------------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Fields:
    """Label and value rows, as the Anexo's "ID-SUBESTACION | VALUE" tables."""
    title: str
    rows: tuple


@dataclasses.dataclass(frozen=True)
class Grid:
    """A list with a header row. links, when given, has a row of URLs for each row (None: that cell is text)."""
    title: str
    columns: tuple
    rows: tuple
    links: tuple = ()

    def __post_init__(self):
        for n, row in enumerate(self.rows):
            if len(row) != len(self.columns):
                raise ValueError("rows[%d]: has %d cells for %d columns" % (n, len(row), len(self.columns)))
        if self.links and [len(row) for row in self.links] != [len(row) for row in self.rows]:
            raise ValueError("links: must have a URL or None for every cell of every row")

    def link(self, row: int, column: int) -> str | None:
        return self.links[row][column] if self.links else None

    def numeric(self) -> tuple:
        """Per column, whether every value written in it is a number (right-aligned on screen and paper)."""
        return tuple(any(row[n] != MISSING for row in self.rows) and
                     all(_NUMBER.fullmatch(row[n]) for row in self.rows if row[n] != MISSING)
                     for n in range(len(self.columns)))


@dataclasses.dataclass(frozen=True)
class Bars:
    """Bars by month, the series side by side: consumption against charges over 36 months, consumption against
    injection over 12. months are the store's "YYYY-MM"; the series have one or two units (an axis each)."""
    title: str
    months: tuple
    series: tuple

    def __post_init__(self):
        if not self.months or not self.series:
            raise ValueError("bars: need at least one month and one series")
        for s in self.series:
            if len(s.values) != len(self.months):
                raise ValueError("series %r: has %d values for %d months" % (s.name, len(s.values), len(self.months)))
        if len({s.unit for s in self.series}) > 2:
            raise ValueError("bars: at most two units (one value axis on each side)")

    def table(self) -> Grid:
        """The values behind the bars, month by month, as written beside the chart."""
        columns = ("Mes",) + tuple("%s (%s)" % (s.name, s.unit) for s in self.series)
        rows = tuple((month_name(month),) + tuple(number(s.values[n], s.decimals) for s in self.series)
                     for n, month in enumerate(self.months))
        return Grid("", columns, rows)


@dataclasses.dataclass(frozen=True)
class Map:
    """The "mapa georreferenciación": the network's own features, drawn by maps.py."""
    title: str
    features: tuple

    def __post_init__(self):
        for n, feature in enumerate(self.features):
            if feature.kind not in KINDS:
                raise ValueError("features[%d]: kind must be one of %s, got %r" % (n, ", ".join(KINDS), feature.kind))
            check_geometry("features[%d]" % n, feature.geometry)


@dataclasses.dataclass(frozen=True)
class Text:
    title: str
    paragraphs: tuple


@dataclasses.dataclass(frozen=True)
class Page:
    """A title, the trail of (label, URL or None) that led here (REGION1 > COMUNA1 > ...), the sections."""
    title: str
    trail: tuple = ()
    sections: tuple = ()
