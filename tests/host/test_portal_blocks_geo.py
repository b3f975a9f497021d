"""The portal's maps (UTM helpers, the fitted view, the SVG, the tile list) and the feeder plan as KMZ."""

import io
import math
import xml.etree.ElementTree as ET
import zipfile

import pyproj
import pytest

from opsm.host.portal import kmz, maps
from opsm.host.portal.page import KINDS, Feature, Map

SVG = "{http://www.w3.org/2000/svg}"
KML = "{http://www.opengis.net/kml/2.2}"
PLAZA = (-72.9366, -41.4717)  # Plaza de Armas de Puerto Montt
TILE_URL = "https://tile.openstreetmap.org/{z}/{x}/{y}.png"


def near(step_lon: float, step_lat: float) -> list:
    return [round(PLAZA[0] + step_lon * 0.002, 7), round(PLAZA[1] + step_lat * 0.0015, 7)]


def feeder_map() -> Map:
    features = [Feature("substation", "SE Puerto Montt", {"type": "Point", "coordinates": near(0, 0)}),
                Feature("feeder", "AL-1", {"type": "LineString", "coordinates": [near(0, 0), near(8, 0)]})]
    features += [Feature("span", "V-%d" % n, {"type": "LineString",
                                              "coordinates": [near(n, n % 2), near(n + 1, (n + 1) % 2)]})
                 for n in range(8)]
    features += [Feature("pole", "P-%d" % n, {"type": "Point", "coordinates": near(n, n % 2)}) for n in range(9)]
    features += [Feature("transformer", "T-%d" % n, {"type": "Point", "coordinates": near(n + 0.5, 0.8)})
                 for n in (1, 4)]
    features += [Feature("equipment", "R-1", {"type": "Point", "coordinates": near(3, 1)}),
                 Feature("generation", "PMGD-1", {"type": "Point", "coordinates": near(7, -1)})]
    return Map("Mapa del alimentador AL-1", tuple(features))


# --- coordinates ---------------------------------------------------------------------------------------------------

def test_puerto_montt_is_in_zone_18_south_and_comes_back_to_the_centimetre():
    assert maps.zone_of(*PLAZA) == (18, True)
    found = maps.to_utm(*PLAZA)
    assert (found.zone, found.south) == (18, True)
    assert 600_000 < found.x < 700_000 and 5_400_000 < found.y < 5_410_000
    lon, lat = maps.to_wgs84(found.x, found.y, 18, True)
    again = maps.to_utm(lon, lat)
    assert math.hypot(again.x - found.x, again.y - found.y) < 0.01
    geod = pyproj.Geod(ellps="WGS84")
    assert geod.inv(lon, lat, *PLAZA)[2] < 0.01  # metres on the ellipsoid
    assert maps.location(*PLAZA) == "x 672.297 m, y 5.406.823 m, WGS84, zona 18 Sur"


def test_a_published_conversion():
    # GeographicLib's GeoConvert(1) manual: "33.3 44.4" is the same point as "38n 444140.54 3684706.36"
    found = maps.to_utm(44.4, 33.3)
    assert (found.zone, found.south) == (38, False)
    assert found.x == pytest.approx(444140.54, abs=0.01) and found.y == pytest.approx(3684706.36, abs=0.01)
    assert maps.to_wgs84(444140.54, 3684706.36, 38, False) == pytest.approx((44.4, 33.3), abs=1e-6)


def test_zones_across_chile_and_in_a_given_zone():
    assert maps.zone_of(-70.6483, -33.4569) == (19, True)   # Santiago
    assert maps.zone_of(-109.4333, -27.1167) == (12, True)  # Hanga Roa, Rapa Nui
    assert maps.zone_of(180, 10) == (60, False)
    west = maps.to_utm(-71.9, -41.47, zone=18)  # past the zone's edge, kept in the feeder's zone
    assert west.zone == 18 and west.x > 750_000
    with pytest.raises(ValueError, match="zone: must be 1 to 60"):
        maps.to_wgs84(500000, 0, 61, False)


# --- the view and the SVG -------------------------------------------------------------------------------------------

def test_the_view_keeps_true_distances_and_points_to_true_north():
    section = feeder_map()
    drawn = maps.view(section, 720, 440)
    assert (drawn.zone, drawn.south) == (18, True)
    shapes = {name: points for _, name, points in drawn.shapes}
    (x0, y0), (x1, y1) = shapes["AL-1"]
    metres = pyproj.Geod(ellps="WGS84").inv(*near(0, 0), *near(8, 0))[2]
    assert math.hypot(x1 - x0, y1 - y0) / drawn.scale == pytest.approx(metres, rel=1e-3)
    every = [p for points in shapes.values() for p in points]
    assert all(28 - 1e-6 <= x <= 692 + 1e-6 and 28 - 1e-6 <= y <= 412 + 1e-6 for x, y in every)
    dx, dy = drawn.north
    lon, lat = maps.to_wgs84(*drawn.centre, drawn.zone, drawn.south)
    convergence = pyproj.Proj(maps.utm_crs(18, True)).get_factors(lon, lat).meridian_convergence
    assert math.degrees(math.atan2(dx, -dy)) == pytest.approx(-convergence, abs=0.01)
    length, label = drawn.scale_bar
    assert 0.1 * 720 <= length <= 0.25 * 720 and label == "200 m"


def test_the_svg_map_draws_every_feature_by_kind_with_legend_scale_and_north():
    section = feeder_map()
    root = ET.fromstring(maps.map_svg(section, ident="mapa"))
    drawn = [node for node in root.iter() if "feature" in (node.get("class") or "").split()]
    assert len(drawn) == len(section.features)
    by_kind = {kind: sum(1 for node in drawn if node.get("class") == "feature " + kind) for kind in KINDS}
    assert by_kind == {"feeder": 1, "span": 8, "substation": 1, "transformer": 2, "pole": 9, "equipment": 1,
                       "generation": 1}
    assert [node.find(SVG + "title").text for node in drawn if "substation" in node.get("class")] == [
        "Subestación SE Puerto Montt"]
    assert root.find(SVG + "title").text == "Mapa del alimentador AL-1"
    assert "Vano 8" in root.find(SVG + "desc").text and "UTM zona 18 Sur" in root.find(SVG + "desc").text
    texts = [t.text for t in root.iter(SVG + "text")]
    assert "200 m" in texts and "N" in texts and all(name in texts for name in KINDS.values())
    assert not list(root.iter(SVG + "image")) and not list(root.iter(SVG + "script"))


def test_tiles_cover_the_view_and_meet_edge_to_edge():
    section = feeder_map()
    drawn = maps.view(section, 720, 440)
    found = maps.tiles(drawn, TILE_URL)
    assert 1 <= len(found) <= 30 and len({t.z for t in found}) == 1
    z = found[0].z
    # a tile pixel is about as fine as a view pixel, not coarser
    assert 0.5 < math.hypot(found[0].matrix[0], found[0].matrix[1]) <= 1.0

    def corner(tile, u, v):
        a, b, c, d, e, f = tile.matrix
        return a * u + c * v + e, b * u + d * v + f

    by_index = {(t.x, t.y): t for t in found}
    for t in found:
        assert t.url == "https://tile.openstreetmap.org/%d/%d/%d.png" % (z, t.x, t.y)
        if (t.x + 1, t.y) in by_index:
            assert corner(t, 256, 0) == pytest.approx(corner(by_index[t.x + 1, t.y], 0, 0), abs=0.5)
        if (t.x, t.y + 1) in by_index:
            assert corner(t, 0, 256) == pytest.approx(corner(by_index[t.x, t.y + 1], 0, 0), abs=0.5)
        # the tile's own corner is where its z/x/y says, through Web Mercator
        half, size = math.pi * 6378137, 2 * math.pi * 6378137 / 2 ** z  # Web Mercator's metres
        lon, lat = pyproj.Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True).transform(
            t.x * size - half, half - t.y * size)
        utm = maps.to_utm(lon, lat, drawn.zone, drawn.south)
        expected = (360 + (utm.x - drawn.centre[0]) * drawn.scale, 220 - (utm.y - drawn.centre[1]) * drawn.scale)
        assert corner(t, 0, 0) == pytest.approx(expected, abs=0.01)
    # every corner of the view lies inside some tile
    for x, y in ((0, 0), (720, 0), (0, 440), (720, 440), (360, 220)):
        assert any(_inside(t, x, y) for t in found), (x, y)
    root = ET.fromstring(maps.map_svg(section, tile_url=TILE_URL, attribution="© OpenStreetMap"))
    assert [i.get("href") for i in root.iter(SVG + "image")] == [t.url for t in found]
    assert "© OpenStreetMap" in [t.text for t in root.iter(SVG + "text")]
    assert len(maps.tiles(drawn, TILE_URL, max_tiles=4)) <= 4  # coarser rather than more
    with pytest.raises(ValueError, match=r"must hold \{z\}, \{x\} and \{y\}"):
        maps.tiles(drawn, "https://tiles.example/{z}/{x}.png")


def _inside(tile, x: float, y: float) -> bool:
    a, b, c, d, e, f = tile.matrix
    det = a * d - b * c
    u, v = (d * (x - e) - c * (y - f)) / det, (a * (y - f) - b * (x - e)) / det
    return -1e-6 <= u <= 256 + 1e-6 and -1e-6 <= v <= 256 + 1e-6


def test_a_lone_point_is_shown_with_its_surroundings():
    drawn = maps.view(Map("T", (Feature("transformer", "T-1", {"type": "Point", "coordinates": list(PLAZA)}),)),
                      400, 300)
    assert drawn.shapes[0][2] == [pytest.approx((200, 150))]
    assert 200 * drawn.scale <= 300  # 200 m fit the view
    with pytest.raises(ValueError, match="no features"):
        maps.view(Map("vacío", ()), 400, 300)


# --- the KMZ --------------------------------------------------------------------------------------------------------

def plan_input() -> tuple:
    feeder = {"id": "AL-1", "name": "Alerce", "substation": "SE Puerto Montt"}
    spans = [{"id": "V-%d" % n, "geometry": {"type": "LineString", "coordinates": [near(n, 0), near(n + 1, 0.5)]},
              "length_m": 170.25 + n, "conductor": "Cu 35 mm² desnudo", "phases": 3, "vnr": "VNR-V%d" % n,
              "from_node": "P-%d" % n, "to_node": "P-%d" % (n + 1), "capacity_a": 180} for n in range(4)]
    equipment = [{"id": "R-1", "kind": "protection", "geometry": {"type": "Point", "coordinates": near(1, 0)},
                  "type": "Reconectador", "capacity": "630 A", "vnr": "VNR-R1"},
                 {"id": "S-1", "kind": "switching", "geometry": {"type": "Point", "coordinates": near(2, 0)},
                  "type": "Desconectador cuchillo", "mode": "Normalmente cerrado"},
                 {"id": "C-1", "kind": "compensation", "geometry": {"type": "Point", "coordinates": near(3, 0)},
                  "type": "Banco de condensadores", "capacity": "300 kVAr"},
                 {"id": "RT-1", "kind": "regulator", "geometry": {"type": "Point", "coordinates": near(3.5, 0)},
                  "type": "Regulador de tensión", "setpoints": "13,2 kV ± 10 %", "ratio": "1:1"}]
    transformers = [{"id": "T-%d" % n, "geometry": {"type": "Point", "coordinates": near(n + 0.5, 0.3)},
                     "name": "Transformador %d" % n, "capacity_kva": 75, "connection": "Dyn1",
                     "voltage": "13,2/0,4 kV",
                     "pole": "P-%d" % n, "type": "trifásico", "phases": "RST", "vnr": "VNR-T%d" % n} for n in range(3)]
    return feeder, spans, equipment, transformers


def read_plan(data: bytes) -> ET.Element:
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == ["doc.kml"]
        return ET.fromstring(archive.read("doc.kml"))


def test_the_kmz_holds_the_feeder_plan_folder_by_kind():
    feeder, spans, equipment, transformers = plan_input()
    root = read_plan(kmz.feeder_kmz(feeder, spans, equipment, transformers))
    document = root.find(KML + "Document")
    assert document.find(KML + "name").text == "Alimentador AL-1 Alerce"
    assert "Longitud de los vanos: 687,0 m" in document.find(KML + "description").text
    folders = {f.find(KML + "name").text: f.findall(KML + "Placemark") for f in document.iter(KML + "Folder")}
    assert {name: len(found) for name, found in folders.items()} == {
        "Vanos": 4, "Equipos de protección": 1, "Equipos de maniobra": 1, "Equipos de compensación": 1,
        "Reguladores de tensión": 1, "Transformadores de distribución": 3}
    for placemark, span in zip(folders["Vanos"], spans):
        assert placemark.find(KML + "name").text == span["id"]
        assert _coordinates(placemark.find(KML + "LineString")) == pytest.approx(_flat(span["geometry"]["coordinates"]))
        description = placemark.find(KML + "description").text
        for line in ("Longitud: %s m" % ("%.2f" % span["length_m"]).replace(".", ",")[:-1],
                     "Conductor: Cu 35 mm² desnudo", "Fases: 3", "Código VNR: %s" % span["vnr"],
                     "Nodo origen: %s" % span["from_node"], "Capacidad conductor: 180 A"):
            assert line in description.split("\n")
        data = {d.get("name"): d.find(KML + "value").text for d in placemark.iter(KML + "Data")}
        assert data["length_m"] == str(span["length_m"]) and data["vnr"] == span["vnr"]
    for placemark, transformer in zip(folders["Transformadores de distribución"], transformers):
        assert placemark.find(KML + "name").text == transformer["id"]
        assert _coordinates(placemark.find(KML + "Point")) == pytest.approx(transformer["geometry"]["coordinates"])
        assert "Capacidad: 75 kVA" in placemark.find(KML + "description").text
    (protection,) = folders["Equipos de protección"]
    assert protection.find(KML + "description").text.split("\n") == ["Tipo: Reconectador", "Capacidad: 630 A",
                                                                     "Código VNR: VNR-R1"]


def _coordinates(geometry: ET.Element) -> list:
    """lon, lat, lon, lat... of a KML geometry (the altitude left out)."""
    points = geometry.find(KML + "coordinates").text.split()
    return _flat([[float(v) for v in point.split(",")[:2]] for point in points])


def _flat(points: list) -> list:
    return [v for point in points for v in point]


def test_the_kmz_refuses_what_it_cannot_place():
    feeder, spans, equipment, transformers = plan_input()
    with pytest.raises(ValueError, match=r"equipment\[0\]: kind must be one of"):
        kmz.feeder_kmz(feeder, spans, [dict(equipment[0], kind="fuse box")], transformers)
    with pytest.raises(ValueError, match=r"transformers\[0\]: geometry must be a GeoJSON Point"):
        kmz.feeder_kmz(feeder, spans, [], [dict(transformers[0], geometry=spans[0]["geometry"])])
    with pytest.raises(ValueError, match=r"spans\[0\]: needs an id"):
        kmz.feeder_kmz(feeder, [dict(spans[0], id="")], [], [])
