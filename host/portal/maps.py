"""The "mapa georreferenciación" drawn from the network's own geometry, with no internet, and UTM coordinates.

The features (WGS84, as GeoJSON) are projected with pyproj to the UTM zone of their centre,
datum WGS84, so that the drawing keeps true distances and shapes (a zone's scale error, at
most 0.1 %, is below what a drawing shows; a feeder crossing a zone's edge stays in the
zone of its centre, where UTM is still exact enough over tens of kilometres). The view is
fitted to the features with one scale for both axes; a scale bar and a north arrow (true
north, which in UTM leans from the grid's up by the meridian convergence) come with it.

Map tiles are optional and never fetched here: given a URL template such as
"https://tile.openstreetmap.org/{z}/{x}/{y}.png", tiles() lists the tiles that cover the
view and where each goes. Tiles are Web Mercator squares; each is placed by the affine map of
three of its corners into the UTM view (both projections are conformal, so over one tile the
map is a rotation and a scale, exact to well under a pixel). The browser loads them: the page's
Content-Security-Policy must admit the tile server in img-src, and the server's terms
(attribution, load) apply.

View is what both renderers draw from: map_svg here, and pdf.py with reportlab.
"""

import collections
import functools
import math
import xml.etree.ElementTree as ET

import pyproj

from opsm.host.portal import charts
from opsm.host.portal.page import KINDS, Map, check_geometry, number

WGS84, WEB_MERCATOR = "EPSG:4326", "EPSG:3857"
TILE_PIXELS = 256
_MERCATOR_HALF = math.pi * 6378137  # half the width of the Web Mercator world, in its metres
_MIN_EXTENT = 200.0  # metres shown around a lone point
MAX_ZOOM = 19  # the deepest zoom of the common tile servers

Utm = collections.namedtuple("Utm", "x y zone south")
Style = collections.namedtuple("Style", "shape colour size")
# In drawing order: lines under points, the substation on top
STYLES = {"feeder": Style("line", "#c0392b", 3.5), "span": Style("line", "#1f5fa8", 2.0),
          "pole": Style("circle", "#4d4d4d", 4.0), "equipment": Style("diamond", "#2e9e4f", 9.0),
          "transformer": Style("triangle", "#e8871e", 11.0), "generation": Style("circle", "#d4ac0d", 9.0),
          "substation": Style("square", "#6b2c91", 12.0)}
View = collections.namedtuple("View", "width height zone south scale centre shapes scale_bar north")
View.__doc__ = """A map fitted to width x height (y down): the UTM zone, pixels per metre, the centre in UTM
metres, the shapes as (kind, name, [(x, y) in the view]) in drawing order, the scale bar as (pixels, label),
true north as a unit vector in the view."""
Tile = collections.namedtuple("Tile", "z x y url matrix")
Tile.__doc__ = """A map tile: z/x/y, its URL, and the SVG matrix (a b c d e f) that puts its 256-pixel image
in the view."""


# --- coordinates ------------------------------------------------------------------------------------------------

def zone_of(lon: float, lat: float) -> tuple:
    """(zone 1..60, south) of a point: 6° zones from 180° W. (The grid's exceptions around Norway and Svalbard
    are left out: no Chilean network is there.)"""
    return min(int((lon + 180) // 6) + 1, 60), lat < 0


def utm_crs(zone: int, south: bool) -> str:
    if not 1 <= zone <= 60:
        raise ValueError("zone: must be 1 to 60, got %r" % zone)
    return "EPSG:%d" % ((32700 if south else 32600) + zone)


@functools.lru_cache(maxsize=32)
def _transformer(source: str, target: str) -> pyproj.Transformer:
    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def to_utm(lon: float, lat: float, zone: int | None = None, south: bool | None = None) -> Utm:
    """A WGS84 point in UTM: in its own zone, or in `zone` (and hemisphere) when given."""
    own_zone, own_south = zone_of(lon, lat)
    zone = own_zone if zone is None else zone
    south = own_south if south is None else south
    x, y = _transformer(WGS84, utm_crs(zone, south)).transform(lon, lat)
    return Utm(x, y, zone, south)


def to_wgs84(x: float, y: float, zone: int, south: bool) -> tuple:
    """(lon, lat) of a UTM point."""
    return _transformer(utm_crs(zone, south), WGS84).transform(x, y)


def location(lon: float, lat: float) -> str:
    """The Anexo's "Ubicación (coordenada x, coordenada y, datum, zona)": "x 672.297 m, y 5.406.823 m, WGS84,
    zona 18 Sur"."""
    found = to_utm(lon, lat)
    return "x %s m, y %s m, WGS84, zona %d %s" % (number(found.x), number(found.y), found.zone,
                                                   "Sur" if found.south else "Norte")


# --- the view ---------------------------------------------------------------------------------------------------

def view(section: Map, width: float, height: float, margin: float = 28) -> View:
    """The section's features projected and fitted to the view."""
    if not section.features:
        raise ValueError("map: no features to draw")
    lonlats = [check_geometry("features[%d]" % n, f.geometry) for n, f in enumerate(section.features)]
    every = [p for points in lonlats for p in points]
    zone, south = zone_of((min(p[0] for p in every) + max(p[0] for p in every)) / 2,
                          (min(p[1] for p in every) + max(p[1] for p in every)) / 2)
    project = _transformer(WGS84, utm_crs(zone, south)).transform
    grid = [[project(lon, lat) for lon, lat in points] for points in lonlats]
    xs, ys = [x for points in grid for x, _ in points], [y for points in grid for _, y in points]
    scale = min((width - 2 * margin) / max(max(xs) - min(xs), _MIN_EXTENT),
                (height - 2 * margin) / max(max(ys) - min(ys), _MIN_EXTENT))
    drawn = View(width, height, zone, south, scale, ((min(xs) + max(xs)) / 2, (min(ys) + max(ys)) / 2), [], None,
                 None)
    order = list(STYLES)
    shapes = sorted(((f.kind, f.name, [_place(drawn, x, y) for x, y in points])
                     for f, points in zip(section.features, grid)), key=lambda shape: order.index(shape[0]))
    lon, lat = to_wgs84(drawn.centre[0], drawn.centre[1], zone, south)
    here, north = project(lon, lat), project(lon, min(lat + 0.001, 90))
    dx, dy = north[0] - here[0], -(north[1] - here[1])
    metres = charts.nice_step(width / 4 / scale / 2.5)  # a bar of 10 to 25 % of the width
    kilometres = metres / 1000
    label = "%s m" % number(metres) if metres < 1000 else "%s km" % number(kilometres, charts.decimals(kilometres))
    return drawn._replace(shapes=shapes, scale_bar=(metres * scale, label),
                          north=(dx / math.hypot(dx, dy), dy / math.hypot(dx, dy)))


def marker(shape: str, x: float, y: float, size: float) -> list:
    """The corners of a point's marker around (x, y) in view coordinates (y down); [] for a circle."""
    h = size / 2
    if shape == "square":
        return [(x - h, y - h), (x + h, y - h), (x + h, y + h), (x - h, y + h)]
    if shape == "triangle":
        return [(x, y - size * 0.6), (x + h * 1.1, y + h * 0.8), (x - h * 1.1, y + h * 0.8)]
    if shape == "diamond":
        return [(x, y - h * 1.2), (x + h, y), (x, y + h * 1.2), (x - h, y)]
    return []


def legend(drawn: View) -> list:
    """(kind, its name) of the kinds on the map, in drawing order."""
    present = {kind for kind, _, _ in drawn.shapes}
    return [(kind, KINDS[kind]) for kind in STYLES if kind in present]


def describe(drawn: View) -> str:
    """What the map shows, in words (its <desc>)."""
    counts = collections.Counter(kind for kind, _, _ in drawn.shapes)
    return "Elementos: %s. Proyección UTM zona %d %s, datum WGS84; escala gráfica y flecha al norte verdadero." % (
        ", ".join("%s %d" % (name, counts[kind]) for kind, name in legend(drawn)), drawn.zone,
        "Sur" if drawn.south else "Norte")


# --- tiles --------------------------------------------------------------------------------------------------------

def tiles(drawn: View, template: str, max_tiles: int = 30) -> list:
    """The tiles of `template` ({z}, {x}, {y}) that cover the view, at the zoom whose pixels are as fine as the
    view's (coarser when more than max_tiles would be needed). Nothing is fetched."""
    if not all(key in template for key in ("{z}", "{x}", "{y}")):
        raise ValueError("tile URL template: must hold {z}, {x} and {y}, got %r" % template)
    utm = utm_crs(drawn.zone, drawn.south)
    to_mercator = _transformer(utm, WEB_MERCATOR).transform
    corners = [to_mercator(*_grid(drawn, x, y)) for x in (0, drawn.width) for y in (0, drawn.height)]
    lat = to_wgs84(drawn.centre[0], drawn.centre[1], drawn.zone, drawn.south)[1]
    ground_per_tile_pixel = 2 * _MERCATOR_HALF * math.cos(math.radians(lat)) / TILE_PIXELS
    zoom = min(MAX_ZOOM, max(0, math.ceil(math.log2(ground_per_tile_pixel * drawn.scale))))
    while True:
        size = 2 * _MERCATOR_HALF / 2 ** zoom
        last = 2 ** zoom - 1
        columns = range(max(0, math.floor((min(c[0] for c in corners) + _MERCATOR_HALF) / size)),
                        min(last, math.floor((max(c[0] for c in corners) + _MERCATOR_HALF) / size)) + 1)
        rows = range(max(0, math.floor((_MERCATOR_HALF - max(c[1] for c in corners)) / size)),
                     min(last, math.floor((_MERCATOR_HALF - min(c[1] for c in corners)) / size)) + 1)
        if len(columns) * len(rows) <= max_tiles or zoom == 0:
            break
        zoom -= 1
    to_view = _transformer(WEB_MERCATOR, utm).transform
    found = []
    for row in rows:
        for column in columns:
            left, upper = column * size - _MERCATOR_HALF, _MERCATOR_HALF - row * size
            (x0, y0), (x1, y1), (x2, y2) = (_place(drawn, *to_view(x, y)) for x, y in
                                            ((left, upper), (left + size, upper), (left, upper - size)))
            url = template.replace("{z}", str(zoom)).replace("{x}", str(column)).replace("{y}", str(row))
            found.append(Tile(zoom, column, row, url, ((x1 - x0) / TILE_PIXELS, (y1 - y0) / TILE_PIXELS,
                                                       (x2 - x0) / TILE_PIXELS, (y2 - y0) / TILE_PIXELS, x0, y0)))
    return found


def _grid(drawn: View, x: float, y: float) -> tuple:
    """UTM metres of a point of the view."""
    return drawn.centre[0] + (x - drawn.width / 2) / drawn.scale, drawn.centre[1] - (y - drawn.height / 2) / drawn.scale


def _place(drawn: View, x: float, y: float) -> tuple:
    """The view's point of UTM metres."""
    return drawn.width / 2 + (x - drawn.centre[0]) * drawn.scale, drawn.height / 2 - (y - drawn.centre[1]) * drawn.scale


# --- SVG ------------------------------------------------------------------------------------------------------------

def map_svg(section: Map, width: int = 720, height: int = 440, tile_url: str = "", attribution: str = "",
            ident: str | None = None) -> str:
    """The map as an <svg> element's markup: tiles behind when tile_url is set (with `attribution` written in the
    corner, as tile servers require), the features, a legend, the scale bar and the north arrow."""
    drawn = view(section, width, height)
    root = charts.svg_root(width, height, section.title, describe(drawn),
                           ident or charts.ident_of(section.title, section.features))
    charts.element(root, "rect", width=width, height=height, fill="#f4f1ea")
    for tile in tiles(drawn, tile_url) if tile_url else ():
        charts.element(root, "image", href=tile.url, width=TILE_PIXELS, height=TILE_PIXELS,
                       preserveAspectRatio="none", transform="matrix(%s)" % " ".join("%.6f" % v for v in tile.matrix))
    for kind, name, points in drawn.shapes:
        _feature(root, kind, name, points)
    _legend(root, drawn)
    _scale_bar(root, drawn)
    _north_arrow(root, drawn)
    if tile_url and attribution:
        charts.element(root, "text", attribution, x=width - 4, y=height - 4, font_size=9, text_anchor="end",
                       fill="#333333")
    charts.element(root, "rect", width=width, height=height, fill="none", stroke="#8a94a0")
    return ET.tostring(root, encoding="unicode")


def _feature(parent, kind: str, name: str, points: list) -> None:
    style = STYLES[kind]
    if style.shape == "line":
        node = charts.element(parent, "polyline", class_="feature " + kind, fill="none", stroke=style.colour,
                              stroke_width=style.size, stroke_linecap="round", stroke_linejoin="round",
                              points=" ".join("%.1f,%.1f" % point for point in points))
    else:
        node = _marker(parent, style, *points[0], class_="feature " + kind)
    charts.element(node, "title", "%s %s" % (KINDS[kind], name))


def _marker(parent, style: Style, x: float, y: float, **attrs) -> ET.Element:
    corners = marker(style.shape, x, y, style.size)
    if not corners:
        return charts.element(parent, "circle", cx=x, cy=y, r=style.size / 2 + 0.5, fill=style.colour,
                              stroke="#ffffff", stroke_width=0.8, **attrs)
    return charts.element(parent, "polygon", points=" ".join("%.1f,%.1f" % c for c in corners), fill=style.colour,
                          stroke="#ffffff", stroke_width=0.8, **attrs)


def _legend(parent, drawn: View) -> None:
    entries = legend(drawn)
    x, y = drawn.width - 170, 8
    charts.element(parent, "rect", x=x, y=y, width=162, height=8 + 16 * len(entries), fill="#ffffff",
                   fill_opacity=0.85, stroke="#8a94a0")
    for n, (kind, name) in enumerate(entries):
        style, row = STYLES[kind], y + 14 + 16 * n
        if style.shape == "line":
            charts.element(parent, "line", x1=x + 6, x2=x + 22, y1=row, y2=row, stroke=style.colour,
                           stroke_width=style.size)
        else:
            _marker(parent, style, x + 14, row)
        charts.element(parent, "text", name, x=x + 28, y=row + 4, font_size=11)


def _scale_bar(parent, drawn: View) -> None:
    length, label = drawn.scale_bar
    x, y = 12, drawn.height - 16
    charts.element(parent, "rect", x=x - 4, y=y - 16, width=length + 8, height=24, fill="#ffffff", fill_opacity=0.8)
    charts.element(parent, "polyline", fill="none", stroke="#1d2733", stroke_width=2,
                   points=" ".join("%.1f,%.1f" % p for p in ((x, y - 4), (x, y), (x + length, y), (x + length, y - 4))))
    charts.element(parent, "text", label, x=x + length / 2, y=y - 5, font_size=10, text_anchor="middle")


def north_arrow(drawn: View, x: float = 24, y: float = 34, half: float = 14) -> tuple:
    """The arrow centred at (x, y) of the view, pointing to true north: its triangle's corners and where its "N"
    goes."""
    (dx, dy), wing = drawn.north, half / 3
    tip, tail = (x + dx * half, y + dy * half), (x - dx * half, y - dy * half)
    triangle = [tip, (tail[0] - dy * wing, tail[1] + dx * wing), (tail[0] + dy * wing, tail[1] - dx * wing)]
    return triangle, (x + dx * (half + 8), y + dy * (half + 8))


def _north_arrow(parent, drawn: View) -> None:
    triangle, (x, y) = north_arrow(drawn)
    charts.element(parent, "polygon", fill="#1d2733", points=" ".join("%.1f,%.1f" % point for point in triangle))
    charts.element(parent, "text", "N", x=x, y=y + 4, font_size=11, font_weight="bold", text_anchor="middle")
