"""A portal Page as a PDF: the Anexo 1's "Guardar", holding the data shown and filtered on the screen.

Everything comes from the Page the HTML was made from (page.py), in the customer report's
look (host/report.py): its margins on A4, its tables and its bar charts, with the same
colours as the page's SVG charts. Fields and Grids become tables (a Grid that runs over pages
repeats its header), Bars the report's chart and the values under it, a Map a drawing of the
same view as the page's SVG (maps.view), Text paragraphs. Each page's foot gives when the PDF
was made, on Chile's clock, and "Página n de N". Every text goes in escaped: reportlab reads a
Paragraph as markup.
"""

import datetime
import io
from xml.sax.saxutils import escape

from reportlab.graphics.shapes import Circle, Drawing, Line, PolyLine, Polygon, Rect, String
from reportlab.lib import colors
from reportlab.lib.enums import TA_RIGHT
from reportlab.lib.pagesizes import A4
from reportlab.lib.styles import ParagraphStyle, getSampleStyleSheet
from reportlab.pdfgen import canvas
from reportlab.platypus import CondPageBreak, KeepTogether, Paragraph, SimpleDocTemplate, Spacer

from opsm.host import report
from opsm.host.portal import charts, maps
from opsm.host.portal.page import CHILE, Bars, Fields, Grid, Map, Page, Text, moment

WIDTH = report.CHART_WIDTH  # the frame: A4 less the report's margins
_STYLES = getSampleStyleSheet()
_HEADING = _STYLES["Heading3"]
_ROOM_FOR_A_START = 90  # points: a title with less below it than this starts on the next page
_CELL = ParagraphStyle("cell", fontName="Helvetica", fontSize=8, leading=10)
_NUMBER_CELL = ParagraphStyle("number", parent=_CELL, alignment=TA_RIGHT)
_HEAD_CELL = ParagraphStyle("head", parent=_CELL, fontName="Helvetica-Bold")
_NUMBER_HEAD = ParagraphStyle("number_head", parent=_HEAD_CELL, alignment=TA_RIGHT)
_TRAIL = ParagraphStyle("trail", parent=_STYLES["Normal"], fontSize=9, textColor=colors.HexColor("#4a5563"))
_LINK = '<a href="%s" color="#1f5fa8"><u>%s</u></a>'
_FOOT_FONT = ("Helvetica", 7)
_COUNT_FORM = "page_count"


def page_pdf(page: Page, generated: datetime.datetime | None = None, base_url: str = "") -> bytes:
    """The page as PDF bytes. generated: when (default: now); base_url: the site's address, which makes the
    trail's and the grids' links clickable in the PDF (without it they are plain text: a saved file has no
    site to resolve a relative link against)."""
    foot = "Generado el %s" % moment(generated or datetime.datetime.now(CHILE))
    story = [Paragraph(escape(page.title), _STYLES["Title"])]
    if page.trail:
        story.append(Paragraph(" &gt; ".join(_linked(label, url, base_url) for label, url in page.trail), _TRAIL))
    for section in page.sections:
        story += _SECTIONS[type(section)](section, base_url)
    out = io.BytesIO()

    def on_page(paper, doc):
        paper.saveState()
        paper.setFont(*_FOOT_FONT)
        paper.setFillColor(colors.HexColor("#4a5563"))
        y = report.PAGE_MARGIN / 2
        paper.drawString(report.PAGE_MARGIN, y, foot)
        if doc.page > 1:  # later pages say what they belong to
            paper.drawString(report.PAGE_MARGIN, A4[1] - report.PAGE_MARGIN / 2, page.title)
        right = A4[0] - report.PAGE_MARGIN - 16  # room for the count, written at the end
        paper.drawRightString(right, y, "Página %d de " % doc.page)
        paper.translate(right, y)
        paper.doForm(_COUNT_FORM)
        paper.restoreState()

    SimpleDocTemplate(out, pagesize=A4, title=page.title, leftMargin=report.PAGE_MARGIN,
                      rightMargin=report.PAGE_MARGIN, topMargin=report.PAGE_MARGIN,
                      bottomMargin=report.PAGE_MARGIN).build(story, onFirstPage=on_page, onLaterPages=on_page,
                                                             canvasmaker=_CountingCanvas)
    return out.getvalue()


class _CountingCanvas(canvas.Canvas):
    """Every page's foot refers to a form holding the number of pages, drawn once that is known."""

    def save(self):
        self.beginForm(_COUNT_FORM)
        self.setFont(*_FOOT_FONT)
        self.setFillColor(colors.HexColor("#4a5563"))
        self.drawString(0, 0, str(self.getPageNumber() - 1))
        self.endForm()
        super().save()


def _linked(text: str, url: str | None, base_url: str) -> str:
    if not (url and base_url):
        return escape(text)
    target = url if "://" in url else base_url.rstrip("/") + "/" + url.lstrip("/")
    return _LINK % (escape(target, {'"': "&quot;"}), escape(text))


def _fields(section: Fields, base_url: str) -> list:
    rows = [(Paragraph(escape(label), _HEAD_CELL), Paragraph(escape(value), _CELL)) for label, value in section.rows]
    return _titled(section.title, [report._table(rows, None, widths=(WIDTH * 0.35, WIDTH * 0.65))])


def _grid(section: Grid, base_url: str) -> list:
    if not section.rows:
        return _titled(section.title, [Paragraph("Sin registros.", _STYLES["Italic"])])
    numeric = section.numeric()
    # columns share the width as their longest text does, none narrower than half an equal share
    longest = [max(len(text) for text in [column] + [row[n] for row in section.rows])
               for n, column in enumerate(section.columns)]
    floor = 0.5 / len(longest)
    shares = [max(size / sum(longest), floor) for size in longest]
    widths = [WIDTH * share / sum(shares) for share in shares]
    header = [Paragraph(escape(column), _NUMBER_HEAD if numeric[n] else _HEAD_CELL)
              for n, column in enumerate(section.columns)]
    rows = [[Paragraph(_linked(text, section.link(r, n), base_url), _NUMBER_CELL if numeric[n] else _CELL)
             for n, text in enumerate(row)] for r, row in enumerate(section.rows)]
    return _titled(section.title, [report._table(rows, header, widths=widths)])


def _bars(section: Bars, base_url: str) -> list:
    series = [report.Series(s.name, s.unit, colors.HexColor(s.colour or charts.PALETTE[n % len(charts.PALETTE)]),
                            s.values) for n, s in enumerate(section.series)]
    height = 190 if len(section.months) > report.RECENT_MONTHS else 160
    drawing = report.bar_chart(list(section.months), series, "es", height)
    return _titled(section.title, [drawing, Spacer(1, 6)] + _grid(section.table(), base_url))


def _map(section: Map, base_url: str) -> list:
    """The view of the page's SVG, drawn with reportlab (whose y runs up: every y is turned over)."""
    height = WIDTH * 0.62
    drawn = maps.view(section, WIDTH, height)
    drawing = Drawing(WIDTH, height)
    flip = lambda points: [v for x, y in points for v in (x, height - y)]  # noqa: E731
    drawing.add(Rect(0, 0, WIDTH, height, fillColor=colors.HexColor("#f4f1ea"), strokeColor=colors.HexColor("#8a94a0")))
    for kind, _, points in drawn.shapes:
        style = maps.STYLES[kind]
        if style.shape == "line":
            drawing.add(PolyLine(flip(points), strokeColor=colors.HexColor(style.colour), strokeWidth=style.size,
                                 strokeLineCap=1, strokeLineJoin=1))
        else:
            drawing.add(_marker(style, points[0][0], height - points[0][1]))
    for n, (kind, name) in enumerate(maps.legend(drawn)):
        style, y = maps.STYLES[kind], height - 14 - 12 * n
        if style.shape == "line":
            drawing.add(Line(WIDTH - 120, y, WIDTH - 106, y, strokeColor=colors.HexColor(style.colour),
                             strokeWidth=style.size))
        else:
            drawing.add(_marker(style, WIDTH - 113, y))
        drawing.add(String(WIDTH - 100, y - 3, name, fontName="Helvetica", fontSize=8))
    length, label = drawn.scale_bar
    drawing.add(PolyLine([10, 14, 10, 10, 10 + length, 10, 10 + length, 14], strokeWidth=1.5))
    drawing.add(String(10 + length / 2, 15, label, fontName="Helvetica", fontSize=8, textAnchor="middle"))
    triangle, (x, y) = maps.north_arrow(drawn, 22, 30, 12)
    drawing.add(Polygon(flip(triangle), fillColor=colors.black, strokeColor=None))
    drawing.add(String(x, height - y - 3, "N", fontName="Helvetica-Bold", fontSize=9, textAnchor="middle"))
    note = Paragraph(escape(maps.describe(drawn)), _STYLES["Italic"])
    return _titled(section.title, [drawing, Spacer(1, 4), note])


def _marker(style: maps.Style, x: float, y: float):
    """A point's marker at (x, y) of the drawing (y up), shaped as in the SVG."""
    fill = colors.HexColor(style.colour)
    corners = maps.marker(style.shape, x, -y, style.size)  # drawn in y-down space around -y, then turned over
    if not corners:
        return Circle(x, y, style.size / 2 + 0.5, fillColor=fill, strokeColor=colors.white, strokeWidth=0.8)
    return Polygon([v for cx, cy in corners for v in (cx, -cy)], fillColor=fill, strokeColor=colors.white,
                   strokeWidth=0.8)


def _text(section: Text, base_url: str) -> list:
    return _titled(section.title, [Paragraph(escape(text), _STYLES["Normal"]) for text in section.paragraphs])


def _titled(title: str, flowables: list) -> list:
    """The title over the section, never alone at a page's foot: a drawing goes with it to the next page, a table
    starts there when too little of it would fit under the title."""
    heading = [CondPageBreak(_ROOM_FOR_A_START), Paragraph(escape(title), _HEADING)] if title else []
    if isinstance(flowables[0], Drawing):
        return [KeepTogether(heading + flowables[:1])] + flowables[1:] + [Spacer(1, 8)]
    return heading + flowables + [Spacer(1, 8)]


_SECTIONS = {Fields: _fields, Grid: _grid, Bars: _bars, Map: _map, Text: _text}
