"""`opsm report customer`: what a customer was supplied and charged through one meter, as one PDF.

A header with the customer and the meter; 36 months of consumption against charges and 12 of
consumption against injections, as vector bar charts (reportlab.graphics); the newest value
of each register; the events of the period. Energies come from the harvested profiles
(host/readings.py): a month with a missing boundary capture has no value and is drawn as a
gap, never as zero, and the note under its chart names it. Spanish by default (the platform
the reports go to is Chilean), English on request.
"""

import collections
import datetime
from xml.sax.saxutils import escape

from reportlab.graphics.charts.barcharts import VerticalBarChart
from reportlab.graphics.charts.legends import Legend
from reportlab.graphics.shapes import Drawing, String
from reportlab.lib import colors
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from opsm.protocol import event_names
from opsm.protocol import registers as M

from opsm.host import outfile, readings

LANGUAGES = ("es", "en")
PERIOD_MONTHS, RECENT_MONTHS = 36, 12
CONSUMPTION_COLOUR = colors.HexColor("#1f5fa8")
CHARGES_COLOUR = colors.HexColor("#e8871e")
INJECTIONS_COLOUR = colors.HexColor("#2e9e4f")
PAGE_MARGIN = 36
CHART_WIDTH = A4[0] - 2 * PAGE_MARGIN

TEXT = {
    "es": {
        "title": "Informe de consumo eléctrico", "customer": "Cliente", "customer_id": "RUT / identificación",
        "address": "Dirección", "client_number": "N° de cliente", "distributor": "Empresa distribuidora",
        "tariff": "Tarifa", "no_customer": "Sin cliente en el registro: el informe muestra solo el medidor.",
        "meter": "Medidor", "serial": "N° de serie", "timezone": "Zona horaria", "last_read": "Última lectura",
        "never": "nunca", "period": "Período", "consumption": "Consumo", "charges": "Cargos",
        "injections": "Inyecciones", "charges_chart": "Consumo y cargos por mes, últimos %d meses",
        "injections_chart": "Consumo e inyecciones por mes, últimos %d meses",
        "gaps": "%s sin datos (mes sin lectura al inicio o al final): %s.",
        "registers": "Registros del medidor (último valor leído)", "obis": "OBIS", "register": "Registro",
        "value": "Valor", "unit": "Unidad", "no_registers": "Sin registros leídos.",
        "events": "Eventos del período", "event": "Evento", "count": "Cantidad", "last": "Último",
        "no_events": "Sin eventos en el período.", "unknown_event": "Código %d", "through": "a",
        "months": ("ene", "feb", "mar", "abr", "may", "jun", "jul", "ago", "sep", "oct", "nov", "dic"),
    },
    "en": {
        "title": "Electricity consumption report", "customer": "Customer", "customer_id": "Customer ID",
        "address": "Address", "client_number": "Client number", "distributor": "Distributor",
        "tariff": "Tariff", "no_customer": "No customer in the register: the report shows the meter only.",
        "meter": "Meter", "serial": "Serial number", "timezone": "Time zone", "last_read": "Last read",
        "never": "never", "period": "Period", "consumption": "Consumption", "charges": "Charges",
        "injections": "Injections", "charges_chart": "Monthly consumption and charges, last %d months",
        "injections_chart": "Monthly consumption and injections, last %d months",
        "gaps": "%s unknown (no reading at the month's start or end): %s.",
        "registers": "Meter registers (newest value read)", "obis": "OBIS", "register": "Register",
        "value": "Value", "unit": "Unit", "no_registers": "No registers read.",
        "events": "Events in the period", "event": "Event", "count": "Count", "last": "Last",
        "no_events": "No events in the period.", "unknown_event": "Code %d", "through": "to",
        "months": ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"),
    },
}
CUSTOMER_FIELDS = ("customer_id", "name", "address", "comuna", "region", "client_number", "distributor", "tariff")
_SPANISH_DIGITS = str.maketrans(",.", ".,")

Series = collections.namedtuple("Series", "name unit colour values")


class ReportError(ValueError):
    pass


# --- what the store knows ----------------------------------------------------------------------

def meter(store, device_id: str) -> tuple:
    """(serial, time zone name, last read) of the meter; ReportError when the harvester never met it."""
    found = store.harvested_meter(device_id)
    if found is None:
        raise ReportError("device: no meter %r in the database (harvest it first)" % device_id)
    return found


def customer(store, device_id: str) -> dict | None:
    """The customer supplied through the meter, None when the register has none."""
    rows = store.customers_supplied_by(device_id)
    if len(rows) > 1:
        # a report is one customer's: splitting a shared meter's energy between them is not ours to guess
        raise ReportError("device: meter %r supplies %d customers (%s); a report is for one" % (
            device_id, len(rows), ", ".join(row["customer_id"] for row in rows)))
    return {field: rows[0][field] for field in CUSTOMER_FIELDS} if rows else None


def currency(store, customer_id: str) -> str:
    """The one currency the customer's charges are in ("" when there are none yet)."""
    found = store.charge_currencies(customer_id)
    if len(found) > 1:
        raise ReportError("charges: customer %r is charged in %s; a chart has one money axis" % (
            customer_id, " and ".join(found)))
    return found[0] if found else ""


def newest_month(store, device_id: str, tz) -> str:
    """The local month of the meter's newest stored profile capture."""
    newest = store.newest_capture(device_id)
    if newest is None:
        raise ReportError("device: meter %r has no readings in the database" % device_id)
    return readings.month_of(newest, tz)


def check_readings(store, device_id: str, months: list, tz) -> None:
    """ReportError unless the meter has a profile capture somewhere in the months: nothing to chart."""
    first, end = readings.month_start(months[0], tz), readings.month_start(readings.shift(months[-1], 1), tz)
    if not store.has_captures(device_id, first, end):
        raise ReportError("month: meter %r has no readings in the %d months %s to %s" % (
            device_id, len(months), months[0], months[-1]))


def chart_data(store, device_id: str, customer_id: str | None, months: list, tz) -> dict:
    """kWh consumed and injected and money charged in each month (None where unknown; no charges without a
    customer): the values the charts draw, bar for bar."""
    def kwh(obis):
        return [None if wh is None else wh / 1000 for wh in readings.monthly(store, device_id, obis, months, tz)]

    charged = [None] * len(months)
    if customer_id is not None:
        charged = [cents / 100 for cents in readings.monthly_charges(store, customer_id, months, tz)]
    return {"consumption": kwh(readings.IMPORT_WH), "injections": kwh(readings.EXPORT_WH), "charges": charged}


def register_rows(store, device_id: str, lang: str) -> list:
    """(OBIS, name, value, unit) of the newest stored value of each register, in register map order."""
    newest = {obis: (value, text) for obis, _, value, text in store.newest_register_values(device_id)}
    rows = []
    for register in M.REGISTERS:
        if register.obis in newest:
            value, text = newest[register.obis]
            # stored in the DLMS unit (10**scaler); shown as the meter's own readout shows it (kWh, not Wh)
            decimals = register.decimals or 0  # a value the readout does not show: as it is
            shown = text if text is not None else number(value / 10 ** (register.scaler + decimals), decimals, lang)
            rows.append((register.obis, register.name_es if lang == "es" else register.name_en, shown,
                         register.iec_unit or ""))
    return rows


def _event_name(code: int, lang: str) -> str:
    if code not in event_names.NAMES:
        return TEXT[lang]["unknown_event"] % code
    english, spanish = event_names.NAMES[code]
    return spanish if lang == "es" else english.capitalize()


def event_rows(store, device_id: str, months: list, tz, lang: str) -> list:
    """(event, count, last occurrence) of each kind of event in the months, by code."""
    first, end = readings.month_start(months[0], tz), readings.month_start(readings.shift(months[-1], 1), tz)
    return [(_event_name(code, lang),
             number(count, 0, lang), local_time(last, tz))
            for code, count, last in store.event_counts(device_id, first, end)]


# --- words and numbers -------------------------------------------------------------------------

def number(value: float, decimals: int, lang: str) -> str:
    """Thousands grouped: 12,500.5 in English, 12.500,5 in Spanish."""
    text = "{:,.{}f}".format(value, decimals)
    return text.translate(_SPANISH_DIGITS) if lang == "es" else text


def local_time(seconds: int, tz) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz).strftime("%Y-%m-%d %H:%M")


def month_label(month: str, lang: str) -> str:
    year, index = month.split("-")
    return "%s %s" % (TEXT[lang]["months"][int(index) - 1], year[2:])


def unknown_ranges(months: list, values: list, lang: str) -> str:
    """The months without a value, runs of consecutive ones as "first to last"."""
    runs: list = []
    for n, (month, value) in enumerate(zip(months, values)):
        if value is None:
            if runs and runs[-1][1] == n - 1:
                runs[-1][1] = n
            else:
                runs.append([n, n])
    return ", ".join(month_label(months[a], lang) if a == b else "%s %s %s" % (
        month_label(months[a], lang), TEXT[lang]["through"], month_label(months[b], lang)) for a, b in runs)


# --- charts ------------------------------------------------------------------------------------

def bar_chart(months: list, series: list, lang: str, height: float = 190) -> Drawing:
    """One bar per series side by side in each month. Series in the first one's unit share the left value
    axis; any other unit (money against kWh) gets its own axis on the right, since the two share no scale."""
    drawing = Drawing(CHART_WIDTH, height)
    for side in ("left", "right"):
        shown = [(s.unit == series[0].unit) == (side == "left") for s in series]
        if any(shown):
            _add_layer(drawing, months, series, shown, side, lang)
    legend = Legend()
    legend.x, legend.y, legend.alignment = 50, height - 4, "right"
    legend.columnMaximum, legend.fontSize, legend.dx, legend.dy = 1, 8, 8, 8
    legend.colorNamePairs = [(s.colour, "%s (%s)" % (s.name, s.unit)) for s in series]
    drawing.add(legend)
    return drawing


def _add_layer(drawing: Drawing, months: list, series: list, shown: list, side: str, lang: str) -> None:
    """The bars of the series marked shown, on a value axis at `side`; the others keep their slot empty so
    that layers laid over each other pair up month by month."""
    chart = VerticalBarChart()
    chart.x, chart.y, chart.width, chart.height = 50, 40, CHART_WIDTH - 110, drawing.height - 65
    chart.data = [s.values if on else [None] * len(months) for s, on in zip(series, shown)]
    chart.barSpacing, chart.groupSpacing = 0, 3
    for n, s in enumerate(series):
        chart.bars[n].fillColor, chart.bars[n].strokeColor = s.colour, None
    _month_axis(chart.categoryAxis, months, side, lang)
    on_axis = [s for s, on in zip(series, shown) if on]
    _value_axis(chart.valueAxis, on_axis, side, lang)
    drawing.add(chart)
    drawing.add(String(chart.x if side == "left" else chart.x + chart.width, chart.y + chart.height + 6,
                       on_axis[0].unit, fontSize=7, fillColor=chart.valueAxis.labels.fillColor,
                       textAnchor="end" if side == "left" else "start"))


def _month_axis(axis, months: list, side: str, lang: str) -> None:
    axis.categoryNames = [month_label(m, lang) for m in months]
    axis.visible = side == "left"  # the layers share it: drawn once
    many = len(months) > RECENT_MONTHS  # 36 month names fit across the page only standing up
    axis.labels.angle, axis.labels.boxAnchor, axis.labels.fontSize = (90, "e", 6) if many else (0, "n", 7)


def _value_axis(axis, series: list, side: str, lang: str) -> None:
    axis.valueMin, axis.forceZero = 0, True
    if not any(v for s in series for v in s.values if v is not None):
        axis.valueMax, axis.valueStep = 1, 1  # nothing to scale by: an empty axis rather than a zero range
    axis.labels.fontSize = 7
    axis.labelTextFormat = lambda value: number(value, 0 if float(value).is_integer() else 2, lang)
    # an axis of one series wears its colour, so two axes cannot be mistaken for each other
    axis.labels.fillColor = series[0].colour if len(series) == 1 else colors.black
    if side == "right":
        axis.joinAxisMode = "right"
        axis.labels.boxAnchor, axis.labels.dx, axis.tickLeft, axis.tickRight = "w", 6, 0, 4


def charts(data: dict, months: list, money: str | None, lang: str) -> list:
    """(title, months, series, drawing) of the consumption and charges chart over all the months and of the
    consumption and injections chart over the last RECENT_MONTHS. money: the charges' currency, None for a
    meter without a customer (no charges to draw)."""
    words, recent = TEXT[lang], months[-RECENT_MONTHS:]
    consumption = Series(words["consumption"], "kWh", CONSUMPTION_COLOUR, data["consumption"])
    first = [consumption]
    if money is not None:
        # a customer not charged yet has no currency to name
        first.append(Series(words["charges"], money or "$", CHARGES_COLOUR, data["charges"]))
    second = [consumption._replace(values=consumption.values[-RECENT_MONTHS:]),
              Series(words["injections"], "kWh", INJECTIONS_COLOUR, data["injections"][-RECENT_MONTHS:])]
    return [(words["charges_chart"] % len(months), months, first, bar_chart(months, first, lang)),
            (words["injections_chart"] % len(recent), recent, second, bar_chart(recent, second, lang, 160))]


# --- the document ------------------------------------------------------------------------------

def _table(rows: list, header: tuple | None, right_columns: tuple = (), widths: tuple | None = None) -> Table:
    table = Table(([header] if header else []) + [list(row) for row in rows], colWidths=widths, hAlign="LEFT",
                  repeatRows=1 if header else 0)
    style = [("FONT", (0, 0), (-1, -1), "Helvetica", 8), ("VALIGN", (0, 0), (-1, -1), "TOP"),
             ("BOTTOMPADDING", (0, 0), (-1, -1), 2), ("TOPPADDING", (0, 0), (-1, -1), 2)]
    if header:
        style += [("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
                  ("LINEBELOW", (0, 0), (-1, 0), 0.5, colors.grey),
                  ("ROWBACKGROUNDS", (0, 1), (-1, -1), (colors.white, colors.HexColor("#eef2f7")))]
    style += [("ALIGN", (column, 0), (column, -1), "RIGHT") for column in right_columns]
    table.setStyle(TableStyle(style))
    return table


def _facts(lines: list, width: float) -> Table:
    """Label and value pairs; long values (an address) wrap inside their column."""
    style = ParagraphStyle("fact", fontName="Helvetica", fontSize=8, leading=10)
    return _table([(label, Paragraph(escape(value), style)) for label, value in lines if value], None,
                  widths=(95, width - 95))


def header(person: dict | None, device_id: str, meter_row: tuple, months: list, tz, lang: str) -> list:
    words = TEXT[lang]
    serial, zone, last_read = meter_row
    meter_lines = [(words["meter"], device_id), (words["serial"], serial), (words["timezone"], zone),
                   (words["last_read"], local_time(last_read, tz) if last_read else words["never"]),
                   (words["period"], "%s %s %s" % (month_label(months[0], lang), words["through"],
                                                   month_label(months[-1], lang)))]
    if person is None:
        return [_facts(meter_lines, CHART_WIDTH / 2), Paragraph(words["no_customer"],
                                                                getSampleStyleSheet()["Italic"])]
    place = ", ".join(person[field] for field in ("address", "comuna", "region") if person[field])
    customer_lines = [(words["customer"], person["name"]), (words["customer_id"], person["customer_id"]),
                      (words["address"], place), (words["client_number"], person["client_number"]),
                      (words["distributor"], person["distributor"]), (words["tariff"], person["tariff"])]
    halves = (CHART_WIDTH * 0.55, CHART_WIDTH * 0.45)
    both = [_facts(customer_lines, halves[0] - 12), _facts(meter_lines, halves[1] - 12)]
    return [Table([both], colWidths=halves, hAlign="LEFT",
                  style=[("VALIGN", (0, 0), (-1, -1), "TOP"), ("LEFTPADDING", (0, 0), (-1, -1), 0)])]


def chart_section(title: str, months: list, series: list, drawing: Drawing, lang: str) -> list:
    """The chart under its title, and a note naming the months each series has no value for."""
    styles = getSampleStyleSheet()
    notes = [TEXT[lang]["gaps"] % (s.name, unknown_ranges(months, s.values, lang))
             for s in series if None in s.values]
    return [Paragraph(title, styles["Heading3"]), drawing] + [Paragraph(note, styles["Italic"]) for note in notes]


def write(store, device_id: str, path: str, last_month: str | None = None, lang: str = "es") -> list:
    """Write the report of the PERIOD_MONTHS months ending `last_month` (default: the newest month read) to
    `path`, whole or not at all; the months shown."""
    meter_row = meter(store, device_id)
    tz = readings.timezone(store, device_id)
    last_month = last_month or newest_month(store, device_id, tz)
    readings.month_start(last_month, tz)  # a malformed month fails here, naming the field
    months = readings.months_ending(last_month, PERIOD_MONTHS)
    check_readings(store, device_id, months, tz)
    person = customer(store, device_id)
    customer_id = person["customer_id"] if person else None
    money = currency(store, customer_id) if person else None
    words, styles = TEXT[lang], getSampleStyleSheet()
    registers, events = register_rows(store, device_id, lang), event_rows(store, device_id, months, tz, lang)
    story = [Paragraph(words["title"], styles["Title"])] + header(person, device_id, meter_row, months, tz, lang)
    for title, shown, series, drawing in charts(chart_data(store, device_id, customer_id, months, tz), months,
                                                money, lang):
        story += chart_section(title, shown, series, drawing, lang)
    story += [Spacer(1, 8), Paragraph(words["registers"], styles["Heading3"])]
    story.append(_table(registers, (words["obis"], words["register"], words["value"], words["unit"]), (2,))
                 if registers else Paragraph(words["no_registers"], styles["Normal"]))
    story.append(Paragraph(words["events"], styles["Heading3"]))
    story.append(_table(events, (words["event"], words["count"], words["last"]), (1,))
                 if events else Paragraph(words["no_events"], styles["Normal"]))
    with outfile.replacing(path) as temporary:
        SimpleDocTemplate(temporary, pagesize=A4, title=words["title"], author="opsm report customer",
                          leftMargin=PAGE_MARGIN, rightMargin=PAGE_MARGIN, topMargin=PAGE_MARGIN,
                          bottomMargin=PAGE_MARGIN).build(story)
    return months
