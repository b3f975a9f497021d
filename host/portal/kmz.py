"""A feeder's plan as KMZ: the Anexo 1's "Plano en formato kmz del Alimentador, referenciado geográficamente".

The plan identifies the route's segments and their length, the protection and switching
equipment, the distribution transformers, the compensation equipment, the voltage regulators
and the autotransformers: each kind in its own folder, so a viewer can switch them on and off.
Every placemark says its data twice: as text in its description (what Google Earth shows on a
click) and as ExtendedData with the raw values (what QGIS and other GIS read as attributes).
Lines and markers wear the colours of the portal's map (maps.STYLES). simplekml (LGPL-3.0+)
writes the KML and the zip, used unmodified as a library; it keeps the document being saved
in a class attribute, so two plans must not be saved at the same instant from two threads.
"""

import io

import simplekml

from opsm.host.portal import maps
from opsm.host.portal.page import check_geometry, quantity

# equipment "kind" -> its folder, in the Anexo's order
EQUIPMENT_FOLDERS = {"protection": "Equipos de protección", "switching": "Equipos de maniobra",
                     "compensation": "Equipos de compensación", "regulator": "Reguladores de tensión",
                     "autotransformer": "Autotransformadores"}
# (key, label, unit of a number written with its decimals, or None for a text as given)
SPAN_FIELDS = (("from_node", "Nodo origen", None), ("to_node", "Nodo destino", None),
               ("length_m", "Longitud", ("m", 1)), ("conductor", "Conductor", None),
               ("capacity_a", "Capacidad conductor", ("A", 0)), ("phases", "Fases", None), ("vnr", "Código VNR", None))
EQUIPMENT_FIELDS = (("type", "Tipo", None), ("capacity", "Capacidad", None), ("connection", "Conexión", None),
                    ("mode", "Modo de operación", None), ("setpoints", "Consignas de tensión", None),
                    ("ratio", "Razón de transformación", None), ("vnr", "Código VNR", None))
TRANSFORMER_FIELDS = (("name", "Nombre", None), ("capacity_kva", "Capacidad", ("kVA", 0)),
                      ("connection", "Conexión", None), ("voltage", "Tensión", None),
                      ("pole", "Número (placa poste)", None), ("type", "Tipo", None),
                      ("phases", "Identificador de fases", None), ("vnr", "Código VNR", None))


def feeder_kmz(feeder: dict, spans: list, equipment: list, transformers: list) -> bytes:
    """The plan of one feeder as KMZ bytes (a zip holding doc.kml). Plain dicts; geometries are GeoJSON in WGS84
    ([lon, lat]); keys other than id and geometry may be missing or None (then left out):

        feeder        id, name, substation
        spans         id, geometry (LineString), length_m (metres), conductor (material and insulation),
                      capacity_a, phases (how many), from_node, to_node (pole plates or nodes), vnr
        equipment     id, kind (one of EQUIPMENT_FOLDERS), geometry (Point), type, capacity (with its unit:
                      "630 A", "300 kVAr"), connection, mode, setpoints, ratio, vnr
        transformers  id, geometry (Point), name, capacity_kva, connection, voltage, pole, type, phases
                      (RST, RS, RT...), vnr
    """
    for n, item in enumerate(equipment):
        if item.get("kind") not in EQUIPMENT_FOLDERS:
            raise ValueError("equipment[%d]: kind must be one of %s, got %r" % (n, ", ".join(EQUIPMENT_FOLDERS),
                                                                               item.get("kind")))
    plan = simplekml.Kml(name="Alimentador %s %s" % (feeder["id"], feeder.get("name") or ""))
    length = sum(span.get("length_m") or 0 for span in spans)
    plan.document.description = _text([("Alimentador", feeder["id"]), ("Nombre", feeder.get("name")),
                                       ("Subestación", feeder.get("substation")),
                                       ("Longitud de los vanos", quantity(length, "m", 1)),
                                       ("Vanos", str(len(spans))), ("Equipos", str(len(equipment))),
                                       ("Transformadores", str(len(transformers)))])
    folder, style = plan.newfolder(name="Vanos"), _line_style(maps.STYLES["span"])
    for n, span in enumerate(spans):
        line = folder.newlinestring(name=_id("spans", n, span), coords=check_geometry(
            "spans[%d]" % n, span.get("geometry"), ("LineString",)))
        line.style = style
        _describe(line, span, SPAN_FIELDS)
    for kind, name in EQUIPMENT_FOLDERS.items():
        found = [(n, item) for n, item in enumerate(equipment) if item["kind"] == kind]
        if found:
            _points(plan.newfolder(name=name), "equipment", found, EQUIPMENT_FIELDS, maps.STYLES["equipment"])
    _points(plan.newfolder(name="Transformadores de distribución"), "transformers", list(enumerate(transformers)),
            TRANSFORMER_FIELDS, maps.STYLES["transformer"])
    out = io.BytesIO()
    plan.savekmz(out)
    return out.getvalue()


def _id(where: str, n: int, item: dict) -> str:
    if not item.get("id"):
        raise ValueError("%s[%d]: needs an id" % (where, n))
    return str(item["id"])


def _points(folder, where: str, items: list, fields: tuple, look: maps.Style) -> None:
    style = simplekml.Style()
    style.iconstyle.color = _colour(look.colour)
    for n, item in items:
        point = folder.newpoint(name=_id(where, n, item),
                                coords=check_geometry("%s[%d]" % (where, n), item.get("geometry"), ("Point",)))
        point.style = style
        _describe(point, item, fields)


def _describe(placemark, item: dict, fields: tuple) -> None:
    """The item's data as text in the description and, raw, as ExtendedData."""
    shown = []
    for key, label, unit in fields:
        value = item.get(key)
        if value is None or value == "":
            continue
        shown.append((label, quantity(value, *unit) if unit else str(value)))
        placemark.extendeddata.newdata(name=key, value=str(value), displayname=label)
    placemark.description = _text(shown)


def _text(rows: list) -> str:
    return "\n".join("%s: %s" % (label, value) for label, value in rows if value)


def _line_style(look: maps.Style) -> simplekml.Style:
    style = simplekml.Style()
    style.linestyle.color, style.linestyle.width = _colour(look.colour), look.size
    return style


def _colour(rgb: str) -> str:
    """"#1f5fa8" -> KML's aabbggrr."""
    return simplekml.Color.rgb(int(rgb[1:3], 16), int(rgb[3:5], 16), int(rgb[5:7], 16))
