"""The network's records in the SEC feed (Anexo 1, sections 2.3 to 2.5), one per stored element so that one
changed transformer changes one record:
    region                 cut -> nombre
    comuna                 cut -> nombre, region
    subestacion            id -> nombre, comuna, transformadores_at_mt, ubicacion
    alimentador            id -> nombre, subestacion, tipo, distribuidora_propietaria, nodo_distribucion,
                           potencia_cortocircuito_kva, capacidad_kva, geometria
    poste                  placa -> alimentador, ubicacion, tension_media, tension_baja, codigo_vnr
    transformador          id -> nombre, alimentador, capacidad_kva, conexion, tension, numero (the pole's plate),
                           tipo, fases, ubicacion, codigo_vnr, monitoreado
    vano                   id -> alimentador, origen, destino, longitud_m, material, aislacion, codigo_vnr,
                           capacidad_a, fases, geometria
    equipo                 id -> alimentador, tipo, capacidad, unidad_capacidad, conexion, modo_operacion,
                           consignas_tension, razon_transformacion, codigo_vnr, ubicacion
    vnr                    codigo -> descripcion, recargos_1, montaje, stotal_1, ing_gg, stotal_2, int_int, total
    demanda_alimentador    alimentador, mes -> maxima_kw, minima_kw
    demanda_transformador  transformador, mes -> maxima_kw, minima_kw (a transformer monitored by the SMMC)
Demands are the newest 12 months up to the as_of month, as the pages show them. Read through the platform's
store methods (host/store/network.py), down the cascade región > comuna > subestación > alimentador, so the
feed holds what the pages reach; parents come before their children.
"""

import datetime

from opsm.host.sec_customers import Record, location
from opsm.host.store.network import DEMAND_MONTHS

# record field <- store column, for the columns that map one to one
_FEEDER = (("nombre", "name"), ("subestacion", "substation"), ("tipo", "kind"), ("distribuidora_propietaria", "owner"),
           ("nodo_distribucion", "purchase_node"), ("potencia_cortocircuito_kva", "short_circuit_kva"),
           ("capacidad_kva", "capacity_kva"), ("geometria", "geometry"))
_POLE = (("alimentador", "feeder"), ("tension_media", "medium_voltage"), ("tension_baja", "low_voltage"),
         ("codigo_vnr", "vnr_code"))
_TRANSFORMER = (("nombre", "name"), ("alimentador", "feeder"), ("capacidad_kva", "capacity_kva"),
                ("conexion", "connection"), ("tension", "voltage"), ("numero", "pole"), ("tipo", "kind"),
                ("fases", "phases"), ("codigo_vnr", "vnr_code"), ("monitoreado", "monitored"))
_SPAN = (("alimentador", "feeder"), ("origen", "origin"), ("destino", "destination"), ("longitud_m", "length_m"),
         ("material", "material"), ("aislacion", "insulation"), ("codigo_vnr", "vnr_code"),
         ("capacidad_a", "capacity_a"), ("fases", "phases"), ("geometria", "geometry"))
_EQUIPMENT = (("alimentador", "feeder"), ("tipo", "kind"), ("capacidad", "capacity"),
              ("unidad_capacidad", "capacity_unit"), ("conexion", "connection"), ("modo_operacion", "operating_mode"),
              ("consignas_tension", "voltage_setpoints"), ("razon_transformacion", "ratio"), ("codigo_vnr", "vnr_code"))
_VNR = (("descripcion", "description"), ("recargos_1", "recargos_1"), ("montaje", "montaje"),
        ("stotal_1", "stotal_1"), ("ing_gg", "ing_gg"), ("stotal_2", "stotal_2"), ("int_int", "int_int"),
        ("total", "total"))


def fields(row: dict, names: tuple, **more) -> dict:
    return dict({field: row[column] for field, column in names}, **more)


def demands(store, kind: str, element: str, as_of: datetime.date) -> list:
    """demanda_alimentador or demanda_transformador of the newest DEMAND_MONTHS months up to the as_of month."""
    month = as_of.strftime("%Y-%m")
    rows = [row for row in store.demands(kind, element, None) if row["month"] <= month][:DEMAND_MONTHS]
    name = {"feeder": "alimentador", "transformer": "transformador"}[kind]
    return [Record("demanda_" + name, {name: element, "mes": row["month"]},
                   {"maxima_kw": row["max_kw"], "minima_kw": row["min_kw"]}) for row in reversed(rows)]


def feeder_records(store, feeder_id: str, as_of: datetime.date) -> list:
    """The feeder, its demands, and the poles, transformers (with their demands), spans and equipment on it."""
    out = [Record("alimentador", {"id": feeder_id}, fields(store.feeder(feeder_id), _FEEDER))]
    out += demands(store, "feeder", feeder_id, as_of)
    out += [Record("poste", {"placa": pole["plate"]}, fields(pole, _POLE, ubicacion=location(pole)))
            for pole in store.find_in_feeder(feeder_id, "pole", "", None)]
    for listed in store.transformers(feeder_id):
        transformer = store.transformer(listed["id"])
        out.append(Record("transformador", {"id": listed["id"]},
                          fields(transformer, _TRANSFORMER, ubicacion=location(transformer))))
        if transformer["monitored"]:
            out += demands(store, "transformer", listed["id"], as_of)
    out += [Record("vano", {"id": span["id"]}, fields(span, _SPAN))
            for span in store.find_in_feeder(feeder_id, "span", "", None)]
    return out + [Record("equipo", {"id": piece["id"]}, fields(piece, _EQUIPMENT, ubicacion=location(piece)))
                  for piece in store.find_in_feeder(feeder_id, "equipment", "", None)]


def network_records(store, as_of: datetime.date) -> list:
    """Every record of the network: VNR codes, then each region's comunas down to their feeders' elements."""
    out = [Record("vnr", {"codigo": code}, fields(store.vnr_code(code), _VNR))
           for code in sorted(store.network_keys("vnr"))]
    for region in store.regions():
        out.append(Record("region", {"cut": region["cut"]}, {"nombre": region["name"]}))
        for comuna in store.comunas(region["cut"]):
            out.append(Record("comuna", {"cut": comuna["cut"]}, {"nombre": comuna["name"], "region": region["cut"]}))
            for listed in store.substations(comuna["cut"]):
                substation = store.substation(listed["id"])
                out.append(Record("subestacion", {"id": listed["id"]}, {
                    "nombre": substation["name"], "comuna": comuna["cut"],
                    "transformadores_at_mt": substation["power_transformers"], "ubicacion": location(substation)}))
                for feeder in store.feeders(listed["id"]):
                    out += feeder_records(store, feeder["id"], as_of)
    return out
