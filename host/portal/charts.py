"""A Bars section as inline SVG for the HTML page: the series side by side in each month, a value axis per unit
(kWh on the left, money on the right), a legend, no JavaScript.

It draws what the PDF draws with reportlab (pdf.py, through the customer report's bar_chart):
the same colours, the same month labels, the second unit on its own right-hand axis. The SVG
names itself for screen readers (<title>, <desc>) and each bar carries its month and value as
a <title>, which browsers show on hover. Colours are presentation attributes, not a <style>
element: a page whose Content-Security-Policy admits only styles with its nonce still shows
them. Text goes through ElementTree, which escapes it.
"""

import hashlib
import math
import xml.etree.ElementTree as ET

from opsm.host import report
from opsm.host.portal.page import Bars, number, quantity

SVG_NS = "http://www.w3.org/2000/svg"
# The customer report's colours, in series order: consumption, then charges or injection, then any third
PALETTE = tuple("#" + colour.hexval()[2:] for colour in (report.CONSUMPTION_COLOUR, report.CHARGES_COLOUR,
                                                         report.INJECTIONS_COLOUR))
FONT = "Helvetica, Arial, sans-serif"
_TICKS = 4  # about this many steps up the value axis


def element(parent, tag: str, text: str | None = None, **attrs) -> ET.Element:
    """An SVG element under `parent` (None: a root <svg>). Floats are written to 0.01, a trailing "_" is dropped
    (class_) and "_" becomes "-" (text_anchor); None attributes are left out."""
    attrib = {name.rstrip("_").replace("_", "-"): ("%.2f" % value).rstrip("0").rstrip(".")
              if isinstance(value, float) else str(value) for name, value in attrs.items() if value is not None}
    node = ET.Element(tag, attrib) if parent is None else ET.SubElement(parent, tag, attrib)
    node.text = text
    return node


def svg_root(width: float, height: float, title: str, description: str, ident: str) -> ET.Element:
    """An <svg> that scales to its container, named by its <title> and <desc> for screen readers."""
    root = element(None, "svg", xmlns=SVG_NS, viewBox="0 0 %d %d" % (width, height), width="100%",
                   role="img", aria_labelledby="%s-title %s-desc" % (ident, ident), font_family=FONT)
    element(root, "title", title, id="%s-title" % ident)
    element(root, "desc", description, id="%s-desc" % ident)
    return root


def ident_of(*parts) -> str:
    """A stable id for a drawing's <title>/<desc> (several charts on one page must not share one)."""
    return "g" + hashlib.sha1(repr(parts).encode()).hexdigest()[:10]


def nice_step(raw: float) -> float:
    """The smallest 1, 2 or 5 times a power of ten that is at least `raw` (> 0)."""
    magnitude = 10 ** math.floor(math.log10(raw))
    return next(m * magnitude for m in (1, 2, 5, 10) if m * magnitude >= raw * (1 - 1e-9))


def decimals(step: float) -> int:
    """The decimals that write multiples of `step` exactly (0.25 -> 2)."""
    return max(0, -math.floor(math.log10(step) + 1e-9))


def _axis(values: list) -> tuple:
    """(lowest, highest, step) of a value axis from zero through every value."""
    known = [v for v in values if v is not None]
    low, high = min(known + [0]), max(known + [0])
    if low == high:
        high = 1  # nothing to scale by: an empty axis rather than a zero range
    step = nice_step((high - low) / _TICKS)
    return math.floor(low / step + 1e-9) * step, math.ceil(high / step - 1e-9) * step, step


def bars_svg(bars: Bars, width: int = 720, height: int = 280, ident: str | None = None) -> str:
    """The chart as an <svg> element's markup, to put in the page as it is."""
    months, series = bars.months, bars.series
    units = list(dict.fromkeys(s.unit for s in series))
    many = len(months) > 12  # 36 month names fit across only standing up
    left, right, top, bottom = 58, 58 if len(units) == 2 else 16, 40, 50 if many else 26
    plot_width, plot_height = width - left - right, height - top - bottom
    ident = ident or ident_of(bars.title, months)
    names = " y ".join("%s (%s)" % (s.name, s.unit) for s in series)
    root = svg_root(width, height, bars.title, "Barras de %s por mes, de %s a %s; los valores de cada mes están en "
                    "la tabla del gráfico." % (names, report.month_label(months[0], "es"),
                                               report.month_label(months[-1], "es")), ident)
    axes = {}
    for n, unit in enumerate(units):
        low, high, step = _axis([v for s in series if s.unit == unit for v in s.values])
        axes[unit] = low, high
        x = left if n == 0 else left + plot_width
        colour = "#1d2733" if sum(s.unit == unit for s in series) > 1 else _colour(series, unit)
        element(root, "line", x1=x, x2=x, y1=top, y2=top + plot_height, stroke="#5a6573")
        element(root, "text", unit, x=x, y=top - 8, font_size=10, fill=colour, text_anchor="end" if n == 0 else "start")
        for k in range(round((high - low) / step) + 1):
            value = low + k * step
            y = top + plot_height * (high - value) / (high - low)
            if n == 0:
                element(root, "line", x1=left, x2=left + plot_width, y1=y, y2=y, stroke="#e1e6ec")
            element(root, "text", number(value, decimals(step)), x=x - 4 if n == 0 else x + 4, y=y + 3,
                    font_size=9, fill=colour, text_anchor="end" if n == 0 else "start")
    slot = plot_width / len(months)
    width_of_bar = slot * 0.8 / len(series)
    for m, month in enumerate(months):
        label = report.month_label(month, "es")
        x = left + m * slot + slot / 2
        if many:
            element(root, "text", label, x=x + 3, y=top + plot_height + 6, font_size=9, text_anchor="end",
                    transform="rotate(-90 %.2f %.2f)" % (x + 3, top + plot_height + 6))
        else:
            element(root, "text", label, x=x, y=top + plot_height + 14, font_size=9, text_anchor="middle")
        for n, s in enumerate(series):
            value = s.values[m]
            if value is None:
                continue  # not known: a gap, never a zero
            low, high = axes[s.unit]
            zero, at = (top + plot_height * (high - v) / (high - low) for v in (0, value))
            bar = element(root, "rect", class_="bar", x=left + m * slot + slot * 0.1 + n * width_of_bar,
                          y=min(zero, at), width=width_of_bar, height=abs(zero - at), fill=_colour_of(n, s))
            element(bar, "title", "%s · %s: %s" % (label, s.name, quantity(value, s.unit, s.decimals)))
    element(root, "line", x1=left, x2=left + plot_width, y1=top + plot_height, y2=top + plot_height, stroke="#5a6573")
    x = left
    for n, s in enumerate(series):
        text = "%s (%s)" % (s.name, s.unit)
        element(root, "rect", x=x, y=8, width=10, height=10, fill=_colour_of(n, s))
        element(root, "text", text, x=x + 14, y=17, font_size=11)
        x += 30 + 6.5 * len(text)
    return ET.tostring(root, encoding="unicode")


def _colour_of(n: int, series) -> str:
    return series.colour or PALETTE[n % len(PALETTE)]


def _colour(series: tuple, unit: str) -> str:
    """The colour of the one series in `unit`: its axis wears it, so two axes cannot be mistaken."""
    n = next(n for n, s in enumerate(series) if s.unit == unit)
    return _colour_of(n, series[n])
