"""A feeder's plan as KMZ from the store: store.feeder_plan's rows in the shape kmz.feeder_kmz draws.

The store keeps equipment's kind as the distributor writes it ("reconectador", "seccionador bajo carga"...);
the plan files each piece under the Anexo's folders by the words of its kind. What has no place on a map
(a span whose line could not be drawn, equipment without a location) is left out of the plan: the
feeder's page lists every element with its data.
"""

from opsm.host.portal import kmz
from opsm.host.portal.page import quantity

# words of an equipment's kind -> its folder in kmz.EQUIPMENT_FOLDERS, the first that matches; others: maniobra
_FOLDER_WORDS = (("autotransformador", "autotransformer"), ("regulador", "regulator"), ("condensador", "compensation"),
                 ("capacitor", "compensation"), ("compensa", "compensation"), ("fusible", "protection"),
                 ("reconectador", "protection"), ("interruptor", "protection"), ("proteccion", "protection"),
                 ("protección", "protection"), ("relé", "protection"))


def equipment_folder(kind: str) -> str:
    """ "Desconectador fusible" -> "protection"; a kind with none of the words -> "switching"."""
    kind = (kind or "").lower()
    return next((folder for word, folder in _FOLDER_WORDS if word in kind), "switching")


def _point(item: dict) -> dict | None:
    return None if item.get("lon") is None else {"type": "Point", "coordinates": [item["lon"], item["lat"]]}


def feeder_plan_kmz(plan: dict) -> bytes:
    """The KMZ of store.feeder_plan(feeder)."""
    spans = [{"id": s["id"], "geometry": s["geometry"], "length_m": s["length_m"], "capacity_a": s["capacity_a"],
              "conductor": ", ".join(v for v in (s["material"], s["insulation"]) if v) or None,
              "phases": s["phases"], "from_node": s["origin"], "to_node": s["destination"], "vnr": s["vnr_code"]}
             for s in plan["spans"] if s["geometry"]]
    equipment = [{"id": e["id"], "kind": equipment_folder(e["kind"]), "geometry": _point(e), "type": e["kind"],
                  "capacity": quantity(e["capacity"], e["capacity_unit"]) if e["capacity"] is not None else None,
                  "connection": e["connection"], "mode": e["operating_mode"], "setpoints": e["voltage_setpoints"],
                  "ratio": e["ratio"], "vnr": e["vnr_code"]}
                 for e in plan["equipment"] if _point(e)]
    transformers = [{"id": t["id"], "geometry": _point(t), "name": t["name"], "capacity_kva": t["capacity_kva"],
                     "connection": t["connection"], "voltage": t["voltage"], "pole": t["pole"], "type": t["kind"],
                     "phases": t["phases"], "vnr": t["vnr_code"]}
                    for t in plan["transformers"] if _point(t)]
    feeder = plan["feeder"]
    return kmz.feeder_kmz({"id": feeder["id"], "name": feeder["name"], "substation": feeder["substation"]},
                          spans, equipment, transformers)
