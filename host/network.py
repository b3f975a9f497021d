"""The distributor's network into its information platform (SEC, Anexo 1): row files of each kind of element
and GeoJSON files of the feeders' and spans' lines, checked whole before anything is stored.

A row file per kind (CSV with a header, or .xlsx, .xls, TOML with a [[KIND]] table per row: host/rowfile.py
reads them); * marks a required column, the others may be left out or empty:
    region              cut* (2 digits: 10), name*
    comuna              cut* (5 digits, beginning with its region's: 10101), name*, region*
    substation          id*, name*, comuna*, power_transformers (the AT/MT transformers' names, separated by |),
                        location*
    vnr                 code*, description, and in whole pesos: recargos_1*, montaje*, stotal_1*, ing_gg*,
                        stotal_2*, int_int*, total* (Total Instalac s/derechos)
    feeder              id*, name*, substation*, kind* (alimentador or sub-alimentador), owner and purchase_node
                        (the owning distributor and the nodo de distribución or punto de compra: required for a
                        sub-alimentador), short_circuit_kva (at its head), capacity_kva
    pole                plate*, feeder*, location*, medium_voltage, low_voltage (as written: 23 kV, 380/220 V),
                        vnr_code
    transformer         id* (the transformer's plate), name*, feeder*, capacity_kva*, connection, voltage, pole
                        (the plate of its pole: the número), kind* (monofásico, bifásico, trifásico), phases*
                        (RST, RS, RT, ST, R, S, T: as many as its kind), location*, vnr_code, monitored (yes or
                        no: incorporated into the SMMC; default no)
    span                id*, feeder*, origin*, destination* (a pole's plate or a node), length_m*, material,
                        insulation, vnr_code, capacity_a, phases (1 to 3)
    equipment           id*, feeder*, kind*, capacity, capacity_unit (A or kVA, with a capacity), connection,
                        operating_mode, voltage_setpoints, ratio (de transformación), vnr_code, location
    feeder_demand       feeder*, month* (YYYY-MM), max_kw*, min_kw* (negative: power flowing back)
    transformer_demand  transformer*, month*, max_kw*, min_kw*
A location is x, y, datum and zone (UTM: datum WGS84, SIRGAS-Chile 2016, SIRGAS-Chile 2002 or PSAD56; zone
and hemisphere such as 18S or 19S), or lon and lat (WGS84, degrees), or both (which must agree within
LOCATION_TOLERANCE_M). What is given is kept; the other is computed (pyproj), so every element has x, y,
datum and zone for its page and lon, lat for maps. Decimals take a point or a comma.

A GeoJSON file (RFC 7946: WGS84 lon, lat; an older file's "crs" member naming another system, such as
EPSG:32719, is transformed) is a FeatureCollection whose features name one feeder or one span in their
properties ({"feeder": "AL-1"} or {"span": "V-1"}) and carry its line: a LineString, or for a feeder a
MultiLineString.

An element's parent (a comuna's region, a pole's feeder, a row's vnr_code...) must be in the same import
or already stored. Every problem is reported, each naming the file, the row (a GeoJSON file: the feature),
the column and the rule (rowfile.RowFileError; Spanish through .text("es")); nothing is stored unless the
whole import is valid, and then all of it in one transaction (Store.save_network). Rows are inserted, or
updated by their id; nothing is deleted.
"""

import functools
import json
import math
import os
import re
import unicodedata
from typing import NamedTuple

from opsm.host import rowfile
from opsm.host.customers import FLAG_WORDS, EMPTY, YES_NO  # the register's yes/no words, one spelling for both
from opsm.host.rowfile import Problem, Rule, RowFileError
from opsm.host.store.network import TABLES

LOCATION_TOLERANCE_M = 100.0  # UTM and lon, lat of one element may differ by rounding, not by a wrong zone
DATUMS = {"WGS84": "WGS 84", "SIRGAS-CHILE2016": "SIRGAS-Chile 2016", "SIRGAS-CHILE2002": "SIRGAS-Chile 2002",
          "PSAD56": "PSAD56"}  # the datum as compared (upper case, no spaces) -> PROJ's name
_DATUM_SHOWN = {key: name.replace("WGS 84", "WGS84") for key, name in DATUMS.items()}  # as stored
LOCATION_COLUMNS = ("x", "y", "datum", "zone", "lon", "lat")
GEOMETRY = "geometry"
ROW_FILE_SUFFIXES = (".csv", ".txt", ".xlsx", ".xls", ".toml")
_GEOJSON = (".geojson", ".json")

NUMBER = Rule("number", "must be a number, 0 or more", "debe ser un número, 0 o más")
SIGNED = Rule("signed", "must be a number", "debe ser un número")
PESOS = Rule("pesos", "must be whole pesos (digits only), 0 or more",
             "debe ser pesos enteros (solo dígitos), 0 o más")
MONTH = Rule("month", "must be a month YYYY-MM", "debe ser un mes AAAA-MM")
REGION_CUT = Rule("region_cut", "must be a region's CUT code: 2 digits, such as 10",
                  "debe ser el código CUT de una región: 2 dígitos, como 10")
COMUNA_CUT = Rule("comuna_cut", "must be a comuna's CUT code: 5 digits, such as 10101",
                  "debe ser el código CUT de una comuna: 5 dígitos, como 10101")
PHASE_COUNT = Rule("phase_count", "must be 1, 2 or 3", "debe ser 1, 2 o 3")
ZONE = Rule("zone", "must be a UTM zone and hemisphere such as 18S or 19S",
            "debe ser un huso UTM y su hemisferio, como 18S o 19S")
DATUM = Rule("datum", "must be WGS84, SIRGAS-Chile 2016, SIRGAS-Chile 2002 or PSAD56",
             "debe ser WGS84, SIRGAS-Chile 2016, SIRGAS-Chile 2002 o PSAD56")
EASTING = Rule("easting", "must be a UTM easting from 100000 to 900000 m", "debe ser una coordenada este UTM de "
               "100000 a 900000 m")
NORTHING = Rule("northing", "must be a UTM northing from 0 to 10000000 m", "debe ser una coordenada norte UTM de "
                "0 a 10000000 m")
LONGITUDE = Rule("longitude", "must be a longitude from -180 to 180 degrees",
                 "debe ser una longitud de -180 a 180 grados")
LATITUDE = Rule("latitude", "must be a latitude from -90 to 90 degrees", "debe ser una latitud de -90 a 90 grados")
LOCATION = Rule("location", "give the location: x, y, datum and zone (UTM), or lon and lat (WGS84)",
                "indique la ubicación: x, y, datum y huso (UTM), o lon y lat (WGS84)")
NO_UTM_ZONE = Rule("no_utm_zone", "the datum has no UTM projection for this zone",
                   "el datum no tiene proyección UTM para este huso")
SUB_FEEDER = Rule("sub_feeder", "a sub-alimentador must name its owner and its purchase node (punto de compra)",
                  "un sub-alimentador debe indicar su distribuidora propietaria y su nodo de distribución (punto de "
                  "compra)")
CAPACITY_UNIT = Rule("capacity_unit", "must be A or kVA (the unit of the capacity)",
                     "debe ser A o kVA (la unidad de la capacidad)")
MAX_BELOW_MIN = Rule("max_below_min", "must be min_kw or more", "debe ser min_kw o más")
GEOJSON_FILE = Rule("geojson", "must be a GeoJSON FeatureCollection", "debe ser una FeatureCollection GeoJSON")
GEOJSON_CRS = Rule("geojson_crs", "must name a coordinate reference system PROJ knows, such as EPSG:32719",
                   "debe nombrar un sistema de coordenadas que PROJ conozca, como EPSG:32719")
GEOJSON_TARGET = Rule("geojson_target", 'must name one feeder or one span: {"feeder": ID} or {"span": ID}',
                      'debe nombrar un alimentador o un vano: {"feeder": ID} o {"span": ID}')
LINE = Rule("line", "must be a LineString (a feeder's may be a MultiLineString) of 2 or more [lon, lat] positions "
            "in range", "debe ser una LineString (la de un alimentador puede ser MultiLineString) de 2 o más "
            "posiciones [lon, lat] dentro de rango")


def choices(*words) -> Rule:
    return Rule("choice", "must be " + ", ".join(words[:-1]) + " or " + words[-1],
                "debe ser " + ", ".join(words[:-1]) + " o " + words[-1])


def location_mismatch(metres: float) -> Rule:
    return Rule("location_mismatch", "x, y (datum, zone) are %.0f m from lon, lat: check the zone and the datum"
                % metres, "x, y (datum, huso) quedan a %.0f m de lon, lat: revise el huso y el datum" % metres)


def unknown(kind: str) -> Rule:
    en, es = _NOUNS[kind]
    return Rule("unknown_reference", "must be %s of this import or of the database" % en,
                "debe ser %s de esta carga o de la base de datos" % es)


_NOUNS = {"region": ("a region", "una región"), "comuna": ("a comuna", "una comuna"),
          "substation": ("a substation", "una subestación"), "feeder": ("a feeder", "un alimentador"),
          "transformer": ("a transformer", "un transformador"), "span": ("a span", "un vano"),
          "vnr": ("a VNR code", "un código VNR")}


class Invalid(ValueError):
    """A value its column's rule refuses."""

    def __init__(self, rule: Rule):
        super().__init__(rule.en)
        self.rule = rule


# --- values --------------------------------------------------------------------------------------------------

def _float(text: str, rule: Rule) -> float:
    try:
        value = float(text.replace(",", "."))
    except ValueError:
        raise Invalid(rule) from None
    if not math.isfinite(value):
        raise Invalid(rule)
    return value


def decimal_number(text: str) -> float:
    value = _float(text, NUMBER)
    if value < 0:
        raise Invalid(NUMBER)
    return value


def _signed(text: str) -> float:
    return _float(text, SIGNED)


def _digits(text: str) -> bool:
    return re.fullmatch(r"[0-9]+", text) is not None


def whole_pesos(text: str) -> int:
    if not _digits(text):
        raise Invalid(PESOS)
    return int(text)


def year_month(text: str) -> str:
    if not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", text):
        raise Invalid(MONTH)
    return text


def _cut(digits: int, rule: Rule):
    """A CUT code of `digits` digits; a spreadsheet number that lost its leading zero (9101) gets it back."""
    def parse(text: str) -> str:
        if not _digits(text) or not digits - 1 <= len(text) <= digits or not int(text):
            raise Invalid(rule)
        return text.zfill(digits)
    return parse


def folded(text: str) -> str:
    """Lower case without accents: how a choice is compared."""
    return "".join(c for c in unicodedata.normalize("NFD", text.lower()) if unicodedata.category(c) != "Mn")


def one_of(*words):
    """One of `words` (stored as written here), in any case, with or without accents."""
    known = {folded(word): word for word in words}

    def parse(text: str) -> str:
        if folded(text) not in known:
            raise Invalid(choices(*words))
        return known[folded(text)]
    return parse


def yes_no_flag(text: str) -> int:
    if text.lower() not in FLAG_WORDS:
        raise Invalid(YES_NO)
    return FLAG_WORDS[text.lower()]


def _phase_count(text: str) -> int:
    if text not in ("1", "2", "3"):
        raise Invalid(PHASE_COUNT)
    return int(text)


def _names(text: str) -> list:
    return [name.strip() for name in text.split("|") if name.strip()]


def _datum(text: str) -> str:
    key = "".join(text.split()).upper()
    if key not in DATUMS:
        raise Invalid(DATUM)
    return _DATUM_SHOWN[key]


def _zone(text: str) -> str:
    match = re.fullmatch(r"(\d{1,2})\s*([NS])", text.strip().upper())
    if not match or not 1 <= int(match.group(1)) <= 60:
        raise Invalid(ZONE)
    return "%d%s" % (int(match.group(1)), match.group(2))


# --- columns of each kind ---------------------------------------------------------------------------------

class Column(NamedTuple):
    name: str
    parse: object = str  # text as the reader gives it: stripped
    required: bool = False
    refers_to: str | None = None  # the kind this column names an element of


_VNR = Column("vnr_code", refers_to="vnr")
_FEEDER = Column("feeder", required=True, refers_to="feeder")
_DEMAND = (Column("month", year_month, True), Column("max_kw", _signed, True), Column("min_kw", _signed, True))
KINDS = {
    "region": (Column("cut", _cut(2, REGION_CUT), True), Column("name", required=True)),
    "comuna": (Column("cut", _cut(5, COMUNA_CUT), True), Column("name", required=True),
               Column("region", _cut(2, REGION_CUT), True, "region")),
    "substation": (Column("id", required=True), Column("name", required=True),
                   Column("comuna", _cut(5, COMUNA_CUT), True, "comuna"), Column("power_transformers", _names)),
    "vnr": (Column("code", required=True), Column("description")) + tuple(
        Column(name, whole_pesos, True) for name in ("recargos_1", "montaje", "stotal_1", "ing_gg", "stotal_2",
                                                      "int_int", "total")),
    "feeder": (Column("id", required=True), Column("name", required=True),
               Column("substation", required=True, refers_to="substation"),
               Column("kind", one_of("alimentador", "sub-alimentador"), True), Column("owner"),
               Column("purchase_node"), Column("short_circuit_kva", decimal_number),
               Column("capacity_kva", decimal_number)),
    "pole": (Column("plate", required=True), _FEEDER, Column("medium_voltage"), Column("low_voltage"), _VNR),
    "transformer": (Column("id", required=True), Column("name", required=True), _FEEDER,
                    Column("capacity_kva", decimal_number, True), Column("connection"), Column("voltage"),
                    Column("pole"),
                    Column("kind", one_of("monofásico", "bifásico", "trifásico"), True),
                    Column("phases", one_of("RST", "RS", "RT", "ST", "R", "S", "T"), True), _VNR,
                    Column("monitored", yes_no_flag)),
    "span": (Column("id", required=True), _FEEDER, Column("origin", required=True),
             Column("destination", required=True), Column("length_m", decimal_number, True), Column("material"),
             Column("insulation"), _VNR, Column("capacity_a", decimal_number), Column("phases", _phase_count)),
    "equipment": (Column("id", required=True), _FEEDER, Column("kind", required=True),
                  Column("capacity", decimal_number),
                  Column("capacity_unit", one_of("A", "kVA")), Column("connection"), Column("operating_mode"),
                  Column("voltage_setpoints"), Column("ratio"), _VNR),
    "feeder_demand": (_FEEDER,) + _DEMAND,
    "transformer_demand": (Column("transformer", required=True, refers_to="transformer"),) + _DEMAND,
}
LOCATED = {"substation": True, "pole": True, "transformer": True, "equipment": False}  # kind -> location required
PHASES_OF = {"monofásico": 1, "bifásico": 2, "trifásico": 3}


def table(kind: str) -> rowfile.Table:
    """The rowfile.Table of a kind: its required columns, then the others."""
    columns = KINDS[kind]
    optional = tuple(c.name for c in columns if not c.required) + (LOCATION_COLUMNS if kind in LOCATED else ())
    return rowfile.Table(kind, tuple(c.name for c in columns if c.required), optional)


# --- UTM and WGS84 ----------------------------------------------------------------------------------------

@functools.cache
def _transformer(source: str, target: str):
    import pyproj

    return pyproj.Transformer.from_crs(source, target, always_xy=True)


def _utm(datum: str, zone: str) -> str:
    """PROJ's name of the UTM projection of a datum (as stored) and zone ("19S")."""
    return "%s / UTM zone %s" % (DATUMS["".join(datum.split()).upper()], zone)


def to_wgs84(x: float, y: float, datum: str, zone: str) -> tuple:
    """(lon, lat) in WGS84 of UTM x, y in `datum` and `zone` ("19S"); Invalid(NO_UTM_ZONE) when PROJ knows no such
    projection."""
    import pyproj

    try:
        transformer = _transformer(_utm(datum, zone), "EPSG:4326")
    except pyproj.exceptions.CRSError:
        raise Invalid(NO_UTM_ZONE) from None
    lon, lat = transformer.transform(x, y)
    return round(lon, 7), round(lat, 7)


def utm_zone(lon: float, lat: float) -> str:
    """The standard 6-degree UTM zone and hemisphere of a point: "18S", "19S"."""
    return "%d%s" % (int((lon + 180) // 6) % 60 + 1, "S" if lat < 0 else "N")


def to_utm(lon: float, lat: float) -> tuple:
    """(x, y, zone) of a WGS84 point in WGS84's UTM projection of its own zone, to the centimetre."""
    zone = utm_zone(lon, lat)
    x, y = _transformer("EPSG:4326", _utm("WGS84", zone)).transform(lon, lat)
    return round(x, 2), round(y, 2), zone


def distance_m(a: tuple, b: tuple) -> float:
    """Metres between two (lon, lat) points on the WGS84 ellipsoid."""
    import pyproj

    return pyproj.Geod(ellps="WGS84").inv(a[0], a[1], b[0], b[1])[2]


def locate_row(row: dict, item: dict, bad, required: bool) -> None:
    """x, y, datum, zone, lon, lat into `item`: those given, checked, and the others computed."""
    given = {name: row.get(name, "") for name in LOCATION_COLUMNS}
    item.update(dict.fromkeys(LOCATION_COLUMNS))
    utm, wgs84 = any(given[n] for n in LOCATION_COLUMNS[:4]), any(given[n] for n in LOCATION_COLUMNS[4:])
    if not utm and not wgs84:
        if required:
            bad("x", LOCATION)
        return
    parsers = {"x": decimal_number, "y": decimal_number, "datum": _datum, "zone": _zone, "lon": _signed, "lat": _signed}
    names = (LOCATION_COLUMNS[:4] if utm else ()) + (LOCATION_COLUMNS[4:] if wgs84 else ())
    values, refused = {}, False
    for name in names:
        try:
            if not given[name]:
                raise Invalid(EMPTY)
            values[name] = parsers[name](given[name])
        except Invalid as exc:
            bad(name, exc.rule)
            refused = True
    for name, low, high, rule in (("x", 1e5, 9e5, EASTING), ("y", 0, 1e7, NORTHING), ("lon", -180, 180, LONGITUDE),
                                  ("lat", -90, 90, LATITUDE)):
        if name in values and not low <= values[name] <= high:
            bad(name, rule)
            refused = True
    if refused:
        return
    if utm:
        try:
            computed = to_wgs84(values["x"], values["y"], values["datum"], values["zone"])
        except Invalid as exc:
            bad("zone", exc.rule)
            return
        if wgs84:
            apart = distance_m(computed, (values["lon"], values["lat"]))
            if apart > LOCATION_TOLERANCE_M:
                bad("lon", location_mismatch(apart))
                return
        else:
            values["lon"], values["lat"] = computed
    else:
        values["x"], values["y"], values["zone"] = to_utm(values["lon"], values["lat"])
        values["datum"] = "WGS84"
    item.update(values)


# --- row files --------------------------------------------------------------------------------------------

def parse_columns(row, columns: tuple, bad) -> dict:
    """The row's value of every column ({"_row": its number}), each parsed by its rule; an empty required
    cell, or one its rule refuses, reported to `bad` (and None)."""
    item = {"_row": row.number}
    for column in columns:
        text = row.get(column.name, "")
        item[column.name] = None
        if not text:
            if column.required:
                bad(column.name, EMPTY)
            continue
        try:
            item[column.name] = column.parse(text)
        except Invalid as exc:
            bad(column.name, exc.rule)
    return item


def _check_row(kind: str):
    def check(row, bad) -> dict:
        item = parse_columns(row, KINDS[kind], bad)
        if kind in LOCATED:
            locate_row(row, item, bad, LOCATED[kind])
        _check_together(kind, item, bad)
        return item
    return check


def _check_together(kind: str, item: dict, bad) -> None:
    """The rules between a row's columns."""
    if kind == "comuna" and item["cut"] and item["region"] and not item["cut"].startswith(item["region"]):
        bad("cut", Rule("comuna_region", "must begin with its region's code %s" % item["region"],
                        "debe comenzar con el código de su región, %s" % item["region"]))
    elif kind == "substation" and item["power_transformers"] is None:
        item["power_transformers"] = []
    elif kind == "feeder" and item["kind"] == "sub-alimentador":
        for name in ("owner", "purchase_node"):
            if not item[name]:
                bad(name, SUB_FEEDER)
    elif kind == "transformer":
        item["monitored"] = item["monitored"] or 0
        if item["kind"] and item["phases"] and len(item["phases"]) != PHASES_OF[item["kind"]]:
            bad("phases", Rule("phases_of_kind", "a %s transformer has %d phase(s)" % (
                item["kind"], PHASES_OF[item["kind"]]), "un transformador %s tiene %d fase(s)" % (
                item["kind"], PHASES_OF[item["kind"]])))
    elif kind == "equipment" and (item["capacity"] is None) != (item["capacity_unit"] is None):
        bad("capacity_unit", CAPACITY_UNIT)
    elif kind.endswith("_demand") and None not in (item["max_kw"], item["min_kw"]) and item["max_kw"] < item["min_kw"]:
        bad("max_kw", MAX_BELOW_MIN)


def row_key(columns: tuple):
    """An item's key under its table's key `columns`: the value of a single one, or the tuple of several
    (None while any is missing)."""
    return lambda item: item[columns[0]] if len(columns) == 1 else (
        tuple(item[c] for c in columns) if None not in (item[c] for c in columns) else None)


def _row_file(kind: str, path: str) -> tuple:
    """(items, problems) of one row file of `kind`."""
    spec = table(kind)
    columns = TABLES[kind][1]
    return rowfile.checked(path, kind, spec.required, _check_row(kind), columns[-1], row_key(TABLES[kind][1]),
                           optional=spec.optional)


# --- GeoJSON ----------------------------------------------------------------------------------------------

def _positions(line, to_wgs84) -> list | None:
    """[[lon, lat], ...] of a GeoJSON line's positions in WGS84, 7 decimals; None unless 2 or more in range."""
    if not isinstance(line, list) or len(line) < 2:
        return None
    out = []
    for position in line:
        if not (isinstance(position, list) and len(position) >= 2 and all(
                isinstance(v, (int, float)) and not isinstance(v, bool) for v in position[:2])):
            return None
        lon, lat = to_wgs84(position[0], position[1])
        if not (math.isfinite(lon) and math.isfinite(lat) and -180 <= lon <= 180 and -90 <= lat <= 90):
            return None
        out.append([round(lon, 7), round(lat, 7)])
    return out


def _line(geometry, kind: str, to_wgs84) -> dict | None:
    """The feature's geometry in WGS84, None when it is not a line this kind may have."""
    if not isinstance(geometry, dict):
        return None
    if geometry.get("type") == "LineString":
        coordinates = _positions(geometry.get("coordinates"), to_wgs84)
    elif geometry.get("type") == "MultiLineString" and kind == "feeder" and isinstance(
            geometry.get("coordinates"), list) and geometry["coordinates"]:
        coordinates = [_positions(line, to_wgs84) for line in geometry["coordinates"]]
        coordinates = None if None in coordinates else coordinates
    else:
        return None
    return {"type": geometry["type"], "coordinates": coordinates} if coordinates else None


def _crs_of(doc: dict):
    """A function (x, y) -> (lon, lat) from the file's coordinates; None when its "crs" member is unknown."""
    import pyproj

    name = ((doc.get("crs") or {}).get("properties") or {}).get("name")
    if name is None:
        return lambda x, y: (x, y)
    try:
        source = pyproj.CRS.from_user_input(name)
    except pyproj.exceptions.CRSError:
        return None
    return pyproj.Transformer.from_crs(source, "EPSG:4326", always_xy=True).transform


def _geojson_file(path: str) -> tuple:
    """(items, problems) of a GeoJSON file: items {"_row", kind ("feeder" or "span"), id, geometry}."""
    try:
        with open(path, "rb") as f:
            doc = json.loads(f.read().decode("utf-8-sig"))
    except OSError as exc:
        return [], [Problem(path, None, None, Rule("unreadable", exc.strerror or str(exc),
                                                   "no se pudo leer: %s" % (exc.strerror or exc)))]
    except (UnicodeDecodeError, ValueError) as exc:
        return [], [Problem(path, None, None, Rule(GEOJSON_FILE.code, "%s: %s" % (GEOJSON_FILE.en, exc),
                                                   GEOJSON_FILE.es))]
    if not isinstance(doc, dict) or doc.get("type") != "FeatureCollection" or not isinstance(doc.get("features"),
                                                                                              list):
        return [], [Problem(path, None, None, GEOJSON_FILE)]
    to_wgs84 = _crs_of(doc)
    if to_wgs84 is None:
        return [], [Problem(path, None, "crs", GEOJSON_CRS, str(doc["crs"]["properties"]["name"]))]
    items, problems, seen = [], [], {}
    for number, feature in enumerate(doc["features"], 1):
        where = "%s feature %d" % (path, number)
        properties = feature.get("properties") if isinstance(feature, dict) else None
        named = properties if isinstance(properties, dict) else {}
        targets = [k for k in ("feeder", "span") if named.get(k) not in (None, "")]
        if len(targets) != 1:
            problems.append(Problem(where, None, "properties", GEOJSON_TARGET))
            continue
        kind, element = targets[0], str(properties[targets[0]]).strip()
        geometry = _line(feature.get("geometry"), kind, to_wgs84)
        if geometry is None:
            problems.append(Problem(where, None, "geometry", LINE))
        elif (kind, element) in seen:
            problems.append(Problem(where, None, kind, Rule("repeated", "%r is also feature %d" % (
                element, seen[kind, element]), "%r ya está en el elemento %d" % (element, seen[kind, element])),
                element))
        else:
            seen[kind, element] = number
            items.append({"_row": number, "_where": where, "kind": kind, "id": element, "geometry": geometry})
    return items, problems


# --- an import --------------------------------------------------------------------------------------------

def files_in(folder: str) -> list:
    """(kind, path) of every file of a folder: KIND.csv (.xlsx, .xls, .toml) and *.geojson; RowFileError naming
    any other file."""
    found, problems = [], []
    for name in sorted(os.listdir(folder)):
        path = os.path.join(folder, name)
        stem, extension = os.path.splitext(name)
        if extension.lower() in _GEOJSON:
            found.append((GEOMETRY, path))
        elif extension.lower() in ROW_FILE_SUFFIXES and stem.lower() in KINDS:
            found.append((stem.lower(), path))
        elif not name.startswith("."):
            problems.append(Problem(path, None, None, Rule(
                "unknown_file", "not a kind of network file: name it KIND.csv (KIND one of %s) or *.geojson"
                % ", ".join(KINDS), "no es un archivo de la red: llámelo TIPO.csv (TIPO: %s) o *.geojson"
                % ", ".join(KINDS))))
    if problems:
        raise RowFileError(problems)
    return found


def load(store, files: list) -> dict:
    """The batch Store.save_network takes, from (kind, path) pairs (kind one of KINDS, or GEOMETRY for a GeoJSON
    file); RowFileError naming every problem of every file when any is found."""
    problems, read = [], []
    for kind, path in files:
        if kind == GEOMETRY:
            items, found = _geojson_file(path)
        else:
            try:
                items, found = _row_file(kind, path)
            except RowFileError as exc:
                items, found = [], exc.problems
        problems += found
        read.append((kind, path, items))
    batch = merge_files(read, problems, _entry)
    problems += _unknown_references(store, read, batch)
    if problems:
        raise RowFileError(problems)
    return batch


def merge_files(read: list, problems: list, entry) -> dict:
    """name -> values of every file read ((kind, path, items) each), each key once: a key in two files is a problem
    of the second (a repeat inside one file is its reader's). entry(kind, item) -> (name, key, column, value): where
    the item goes, its key (None: a row its own check refused), the column a repeat is reported under, and what is
    kept. An item names its place by _where (a GeoJSON feature) or by _row (a row of `path`)."""
    batch, seen = {}, {}
    for kind, path, items in read:
        for item in items:
            name, key, column, value = entry(kind, item)
            if key is None:
                continue
            where = item.get("_where")
            if (name, key) in seen:
                first_path, first_en, first_es = seen[name, key]
                if first_path != path:
                    problems.append(Problem(where or path, None if where else item["_row"], column, Rule(
                        "repeated", "%r is also in %s" % (key, first_en), "%r también está en %s" % (key, first_es))))
                continue
            seen[name, key] = (path, where or "%s row %d" % (path, item["_row"]),
                               where or "%s fila %d" % (path, item["_row"]))
            batch.setdefault(name, []).append(value)
    return batch


def table_entry(tables: dict):
    """merge_files' entry for rows of `tables` (kind -> (table, columns)): by kind, keyed by row_key, repeats
    reported under the key's last column, kept without their row number."""
    def entry(kind: str, item: dict) -> tuple:
        columns = tables[kind][1]
        return kind, row_key(columns)(item), columns[-1], {k: v for k, v in item.items() if k != "_row"}
    return entry


def _entry(kind: str, item: dict) -> tuple:
    """A row by its kind; a feature as feeder_geometry or span_geometry, an (id, geometry) pair."""
    if kind == GEOMETRY:
        return item["kind"] + "_geometry", item["id"], item["kind"], (item["id"], item["geometry"])
    return table_entry(TABLES)(kind, item)


def _unknown_references(store, read: list, batch: dict) -> list:
    """A problem for every parent named that is neither in the batch nor stored."""

    @functools.cache
    def known(kind: str) -> set:
        return store.network_keys(kind) | {row_key(TABLES[kind][1])(row) for row in batch.get(kind, ())}

    problems = []
    for kind, path, items in read:
        for item in items:
            if kind == GEOMETRY:
                if item["id"] not in known(item["kind"]):
                    problems.append(Problem(item["_where"], None, item["kind"], unknown(item["kind"]), item["id"]))
                continue
            for column in KINDS[kind]:
                value = item[column.name]
                if column.refers_to and value is not None and value not in known(column.refers_to):
                    problems.append(Problem(path, item["_row"], column.name, unknown(column.refers_to), value))
    return problems


def import_files(store, files: list) -> dict:
    """Check every file, then store the whole import in one transaction; the number of rows of each kind."""
    return store.save_network(load(store, files))
