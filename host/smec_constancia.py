"""The constancia of an SMEC load: what Direct@mm would load, as text and as PDF.

Laid out like the AMM's "CANALES CARGADOS" constancia (channel, state of the load,
maximum and sum against the averages of the previous six months, with their * and **
marks), so the participant sees before uploading what the market operator will see after.
"""

import datetime

from reportlab.lib import colors
from reportlab.lib.pagesizes import landscape, letter
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from opsm.host import outfile

NOTES = ("* El máximo de los valores cargados superó el promedio de máximos de este canal en los últimos 6 meses.",
         "** La sumatoria de los valores cargados superó el promedio de sumatorias de este canal en los últimos 6 "
         "meses.")
HEADER = ("Canal", "Medidor", "Magnitud", "Estado de la carga", "Máximo", "Prom. máximos", "*", "Sumatoria",
          "Prom. sumatorias", "**")


def _number(value) -> str:
    return "" if value is None else "%.3f" % value


def _state(channel) -> str:
    missing = channel.missing
    if not missing:
        return "Completo"
    return "Incompleto: faltan %d de %d horas" % (len(missing), len(channel.values))


def rows(channels: list) -> list:
    """One row of text per channel, in upload order."""
    out = []
    for channel in channels:
        average_max, average_sum = channel.averages()
        marks = channel.marks
        out.append((str(channel.number), channel.device_id, channel.quantity, _state(channel),
                    _number(channel.maximum), _number(average_max), "*" if "*" in marks else "",
                    _number(channel.total), _number(average_sum), "**" if "**" in marks else ""))
    return out


def _title(month: str) -> tuple:
    year, number = month.split("-")
    return ("CANALES A CARGAR  Mes Año: %s%s" % (number, year),
            "Fecha: %s" % datetime.datetime.now().strftime("%d-%m-%Y %H:%M:%S"))


def _summary(channels: list) -> str:
    incomplete = sum(1 for c in channels if c.missing)
    return "Canales a cargar: %d   Completos: %d   Incompletos: %d" % (len(channels), len(channels) - incomplete,
                                                                       incomplete)


def write_text(path: str, month: str, channels: list) -> None:
    table = [HEADER] + rows(channels)
    widths = [max(len(line[i]) for line in table) for i in range(len(HEADER))]
    lines = list(_title(month)) + list(NOTES) + [""]
    lines += ["  ".join(cell.ljust(w) for cell, w in zip(line, widths)).rstrip() for line in table]
    lines += ["", _summary(channels)]
    with outfile.replacing(path) as temporary:
        with open(temporary, "w", encoding="utf-8") as f:
            f.write("\n".join(lines) + "\n")


def write_pdf(path: str, month: str, channels: list) -> None:
    styles = getSampleStyleSheet()
    title, date = _title(month)
    table = Table([HEADER] + rows(channels), repeatRows=1)
    table.setStyle(TableStyle([
        ("FONT", (0, 0), (-1, 0), "Helvetica-Bold", 8),
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#1f3b63")),
        ("TEXTCOLOR", (0, 0), (-1, 0), colors.white),
        ("ALIGN", (4, 1), (-1, -1), "RIGHT"),
        ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
        ("ROWBACKGROUNDS", (0, 1), (-1, -1), (colors.white, colors.HexColor("#eef2f7"))),
    ]))
    story = [Paragraph(title, styles["Title"]), Paragraph(date, styles["Normal"])]
    story += [Paragraph(note, styles["Normal"]) for note in NOTES]
    story += [Spacer(1, 8), table, Spacer(1, 8), Paragraph(_summary(channels), styles["Normal"])]
    with outfile.replacing(path) as temporary:
        SimpleDocTemplate(temporary, pagesize=landscape(letter), title=title, author="opsm export smec",
                          leftMargin=36, rightMargin=36, topMargin=36, bottomMargin=36).build(story)
