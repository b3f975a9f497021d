"""Receipts of a recharge (letter-size invoice, 80 mm and 58 mm thermal slips) and the sales report, as PDF.

A thermal printer takes a page as wide as its paper and as long as the text: the slips are
drawn line by line on a page of that width whose height is measured first. The code is
printed in groups of five digits, as people read it out and type it. reportlab reads a
Paragraph's text as markup: every text goes in escaped (_para), so "<", ">" and "&" in a
seller's header or a product print as themselves.
"""

import datetime
import io
from xml.sax.saxutils import escape

from reportlab.lib import colors
from reportlab.lib.pagesizes import letter
from reportlab.lib.styles import getSampleStyleSheet
from reportlab.lib.units import mm
from reportlab.lib.utils import simpleSplit
from reportlab.pdfgen import canvas
from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer, Table, TableStyle

from opsm.host.console import money
from opsm.host.console.i18n import translate

FORMATS = {"letter": None, "80mm": 80 * mm, "58mm": 58 * mm}
_FONT, _BOLD = "Helvetica", "Helvetica-Bold"


def grouped(token: str) -> str:
    """"00050000126583475781" -> "00050 00001 26583 47578 1"-style groups of five."""
    digits = token.replace(" ", "")
    return " ".join(digits[i:i + 5] for i in range(0, len(digits), 5))


def kwh(tenths: int) -> str:
    """32 -> "3.2": the energy a token carries, in its own 0.1 kWh steps."""
    return "%d.%d" % divmod(tenths, 10)


def _para(text: str, style) -> Paragraph:
    """A paragraph that shows `text` as written (never read as reportlab markup)."""
    return Paragraph(escape(text), style)


def _when(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")


def _amounts(invoice: dict) -> list:
    total, vat = invoice["total_cents"], invoice["vat_cents"]
    return [("invoice.vat", money.text(vat)), ("invoice.subtotal", money.text(total - vat)),
            ("invoice.total", money.text(total))]


def receipt(invoice: dict, seller: dict, paper: str, lang: str) -> bytes:
    """The receipt of one invoice on `paper` (letter, 80mm or 58mm)."""
    if paper not in FORMATS:
        raise ValueError("format: must be one of %s, got %r" % (", ".join(FORMATS), paper))
    return _letter(invoice, seller, lang) if FORMATS[paper] is None else _slip(invoice, seller, FORMATS[paper], lang)


def _slip_lines(invoice: dict, seller: dict, lang: str) -> list:
    """(text, bold, centred) lines of a thermal slip, top to bottom."""
    t = lambda key: translate(lang, key)  # noqa: E731
    lines = [(seller["name"] or "OPSM", True, True)]
    lines += [(part, False, True) for part in (seller["address"], seller["contact"]) if part]
    lines += [("", False, False), (t("invoice.title"), True, True),
              ("%s #: %d" % (t("invoice.number"), invoice["number"]), False, False),
              ("%s: %s" % (t("invoice.date"), _when(invoice["issued_at"])), False, False),
              ("%s: %s" % (t("invoice.customer"), invoice["customer_name"]), False, False),
              ("%s: %s" % (t("invoice.id"), invoice["customer_id"]), False, False)]
    if invoice["phone"]:
        lines.append(("%s: %s" % (t("invoice.phone"), invoice["phone"]), False, False))
    lines += [("%s: %s" % (t("invoice.meter"), invoice["meter_pan"]), False, False),
              ("%s: %s" % (t("invoice.vendor"), invoice["vendor_name"]), False, False),
              ("", False, False), (invoice["description"], False, False),
              ("%s kWh x %s %s" % (kwh(invoice["kwh_tenths"]), money.text(invoice["price_cents"]),
                                    invoice["currency"]), False, False),
              ("", False, False), (t("invoice.code"), True, True), (grouped(invoice["token"]), True, True),
              ("", False, False)]
    lines += [("%s: %s %s" % (t(key), value, invoice["currency"]), key == "invoice.total", False)
              for key, value in _amounts(invoice)]
    lines += [("", False, False), (t("invoice.note"), False, False)]
    if seller["terms"]:
        lines.append(("%s: %s" % (t("invoice.terms"), seller["terms"]), False, False))
    return lines


def _slip(invoice: dict, seller: dict, width: float, lang: str) -> bytes:
    margin, size = 3 * mm, 8 if width > 60 * mm else 7
    leading = size * 1.3
    usable = width - 2 * margin
    rows = []
    for text, bold, centred in _slip_lines(invoice, seller, lang):
        font = _BOLD if bold else _FONT
        for part in simpleSplit(text, font, size, usable) if text else [""]:
            rows.append((part, font, centred))
    height = 2 * margin + leading * len(rows)
    out = io.BytesIO()
    page = canvas.Canvas(out, pagesize=(width, height))
    page.setTitle("%s %d" % (translate(lang, "invoice.title"), invoice["number"]))
    y = height - margin - size
    for text, font, centred in rows:
        page.setFont(font, size)
        if centred:
            page.drawCentredString(width / 2, y, text)
        else:
            page.drawString(margin, y, text)
        y -= leading
    page.showPage()
    page.save()
    return out.getvalue()


def _table(rows: list, widths=None, header: bool = True) -> Table:
    table = Table(rows, colWidths=widths, repeatRows=1 if header else 0)
    style = [("FONT", (0, 0), (-1, -1), _FONT, 9), ("GRID", (0, 0), (-1, -1), 0.25, colors.grey),
             ("VALIGN", (0, 0), (-1, -1), "MIDDLE")]
    if header:
        style += [("FONT", (0, 0), (-1, 0), _BOLD, 9), ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e4eaf2"))]
    table.setStyle(TableStyle(style))
    return table


def _letter(invoice: dict, seller: dict, lang: str) -> bytes:
    t = lambda key: translate(lang, key)  # noqa: E731
    styles = getSampleStyleSheet()
    story = [_para(seller["name"] or "OPSM", styles["Title"])]
    story += [_para(part, styles["Normal"]) for part in (seller["address"], seller["contact"]) if part]
    story += [Spacer(1, 12), _para("%s #%d" % (t("invoice.title"), invoice["number"]), styles["Heading2"]),
              _para("%s: %s" % (t("invoice.date"), _when(invoice["issued_at"])), styles["Normal"]),
              Spacer(1, 8)]
    story.append(_table([[t("invoice.customer"), invoice["customer_name"]], [t("invoice.id"), invoice["customer_id"]],
                         [t("invoice.phone"), invoice["phone"] or ""], [t("invoice.meter"), invoice["meter_pan"]],
                         [t("invoice.vendor"), invoice["vendor_name"]], [t("invoice.terms"), seller["terms"] or ""]],
                        widths=[120, 380], header=False))
    story += [Spacer(1, 12), _table([
        [t("invoice.description"), t("invoice.code"), t("invoice.kwh"), t("invoice.price"), t("invoice.total")],
        [_para(invoice["description"], styles["Normal"]), grouped(invoice["token"]),
         kwh(invoice["kwh_tenths"]), money.text(invoice["price_cents"]),
         money.text(invoice["total_cents"])]], widths=[150, 160, 60, 70, 70])]
    story += [Spacer(1, 8), _table([[t(key), "%s %s" % (value, invoice["currency"])] for key, value in
                                    _amounts(invoice)], widths=[100, 120], header=False)]
    story += [Spacer(1, 16), _para(t("invoice.note"), styles["Italic"])]
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=letter, title="%s %d" % (t("invoice.title"), invoice["number"]),
                      author=seller["name"] or "OPSM").build(story)
    return out.getvalue()


def sales_report(invoices: list, heading: list, generated_by: str, lang: str) -> bytes:
    """The invoices of a report (heading: (label, value) pairs of the filter) with their count and total."""
    t = lambda key: translate(lang, key)  # noqa: E731
    styles = getSampleStyleSheet()
    story = [_para(t("report.title"), styles["Title"]),
             _table([[t("report.generated_by"), generated_by]] + [[label, value] for label, value in heading],
                    widths=[140, 360], header=False), Spacer(1, 12)]
    rows = [[t("invoice.number"), t("invoice.customer"), t("invoice.id"), t("invoice.vendor"), t("invoice.date"),
             t("invoice.kwh"), t("invoice.total")]]
    rows += [[str(i["number"]), i["customer_name"], i["customer_id"], i["vendor_name"], _when(i["issued_at"]),
              kwh(i["kwh_tenths"]), money.text(i["total_cents"])] for i in invoices]
    story += [_table(rows), Spacer(1, 12)]
    story.append(_table([[t("report.count"), str(len(invoices))],
                         [t("report.total"), money.text(sum(i["total_cents"] for i in invoices))]],
                        widths=[140, 120], header=False))
    out = io.BytesIO()
    SimpleDocTemplate(out, pagesize=letter, title=t("report.title"), author=generated_by).build(story)
    return out.getvalue()
