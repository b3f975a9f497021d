"""The distributor's network for its information platform (SEC, Anexo 1, sections 2.3 to 2.5): regions and
comunas by CUT code, substations, feeders, distribution transformers, poles, spans, equipment, VNR codes and
monthly demands, and what the platform's pages ask of them.

A location keeps x, y, datum and zone as the distributor gave them and lon, lat in WGS84 for maps; a
geometry is GeoJSON in WGS84 (stored as text, returned parsed). Rows come back as dicts by column name;
an element's detail also names its parents (`breadcrumb`: region, comuna, substation, feeder).
"""

import json

from opsm.host.store.database import rows_window

_LOCATION = ("x", "y", "datum", "zone", "lon", "lat")
# kind -> (table, key columns, columns), in the order a batch is written: a row's parents first
TABLES = {
    "region": ("regions", ("cut",), ("cut", "name")),
    "comuna": ("comunas", ("cut",), ("cut", "name", "region")),
    "substation": ("substations", ("id",), ("id", "name", "comuna", "power_transformers") + _LOCATION),
    "vnr": ("vnr_codes", ("code",), ("code", "description", "recargos_1", "montaje", "stotal_1", "ing_gg",
                                     "stotal_2", "int_int", "total")),
    "feeder": ("feeders", ("id",), ("id", "name", "substation", "kind", "owner", "purchase_node",
                                    "short_circuit_kva", "capacity_kva")),
    "pole": ("poles", ("plate",), ("plate", "feeder") + _LOCATION + ("medium_voltage", "low_voltage", "vnr_code")),
    "transformer": ("transformers", ("id",), ("id", "name", "feeder", "capacity_kva", "connection", "voltage", "pole",
                                              "kind", "phases") + _LOCATION + ("vnr_code", "monitored")),
    "span": ("spans", ("id",), ("id", "feeder", "origin", "destination", "length_m", "material", "insulation",
                                "vnr_code", "capacity_a", "phases")),
    "equipment": ("equipment", ("id",), ("id", "feeder", "kind", "capacity", "capacity_unit", "connection",
                                         "operating_mode", "voltage_setpoints", "ratio", "vnr_code") + _LOCATION),
    "feeder_demand": ("feeder_demands", ("feeder", "month"), ("feeder", "month", "max_kw", "min_kw")),
    "transformer_demand": ("transformer_demands", ("transformer", "month"), ("transformer", "month", "max_kw",
                                                                             "min_kw")),
}
# kind -> the table whose rows (by id) get a geometry: (id, GeoJSON geometry as a dict)
GEOMETRIES = {"feeder_geometry": "feeders", "span_geometry": "spans"}
DEMAND_MONTHS = 12  # Anexo 1: the last 12 months' maximum and minimum demands
_ROWS_PER_STATEMENT = 200  # rows of one multi-row upsert: 17 columns stay under both drivers' parameter limits
_LEVELS = ("region", "comuna", "substation", "feeder")
# the columns naming an element's parents, as the detail queries alias them
_PARENTS = """c.region, r.name AS region_name, s.comuna, c.name AS comuna_name"""


def upsert(database, table: str, key: tuple, columns: tuple, rows: list) -> None:
    """Insert rows (tuples of `columns`), updating those whose `key` is stored already; inside the caller's
    transaction."""
    changed = [column for column in columns if column not in key]
    update = ("DO UPDATE SET " + ", ".join("%s = excluded.%s" % (c, c) for c in changed)) if changed else "DO NOTHING"
    for start in range(0, len(rows), _ROWS_PER_STATEMENT):
        chunk = rows[start:start + _ROWS_PER_STATEMENT]
        marks = ", ".join(["(" + ", ".join("?" * len(columns)) + ")"] * len(chunk))
        database.execute("INSERT INTO %s (%s) VALUES %s ON CONFLICT (%s) %s" % (
            table, ", ".join(columns), marks, ", ".join(key), update), [v for row in chunk for v in row])


def like(text: str) -> str:
    """A LIKE pattern (escape character !) finding `text` anywhere, in lower case."""
    return "%" + text.strip().lower().replace("!", "!!").replace("%", "!%").replace("_", "!_") + "%"


def _breadcrumb(row: dict, levels: int) -> dict:
    """The row with `breadcrumb`: its first `levels` parents, [{level, id, name}] from the region down."""
    row["breadcrumb"] = [{"level": level, "id": row[level], "name": row[level + "_name"]}
                         for level in _LEVELS[:levels]]
    return row


def _geometry(row: dict) -> dict:
    row["geometry"] = json.loads(row["geometry"]) if row.get("geometry") else None
    return row


class NetworkTables:
    # --- writing ---------------------------------------------------------------------------

    def save_network(self, batch: dict) -> dict:
        """Insert or update every row of `batch` in one transaction: kind (TABLES) -> dicts by column
        (a substation's power_transformers a list of names); GEOMETRIES kinds -> (id, GeoJSON dict) pairs,
        set on rows stored by then. Nothing is deleted. The number of rows of each kind given."""
        with self.transaction():
            for kind, (table, key, columns) in TABLES.items():
                rows = [tuple(json.dumps(row[c], ensure_ascii=False) if c == "power_transformers" else row.get(c)
                              for c in columns) for row in batch.get(kind, ())]
                upsert(self, table, key, columns, rows)
            for kind, table in GEOMETRIES.items():
                for element, geometry in batch.get(kind, ()):
                    self.execute("UPDATE %s SET geometry = ? WHERE id = ?" % table,
                                 (json.dumps(geometry, separators=(",", ":")), element))
        return {kind: len(rows) for kind, rows in batch.items()}

    # --- what is stored --------------------------------------------------------------------

    def network_keys(self, kind: str) -> set:
        """The keys of every stored row of a kind of TABLES (a value, or a tuple for a composite key)."""
        table, key, _ = TABLES[kind]
        rows = self.query("SELECT %s FROM %s" % (", ".join(key), table))
        return {row[0] if len(key) == 1 else tuple(row) for row in rows}

    def network_counts(self) -> dict:
        """kind -> the number of rows stored, for every kind of TABLES."""
        return {kind: self.query("SELECT COUNT(*) FROM %s" % table)[0][0] for kind, (table, _, _) in TABLES.items()}

    # --- the cascade: región, comuna, subestación, alimentador, transformador --------------

    def regions(self) -> list:
        """[{cut, name}] of the distributor's regions, by CUT code."""
        return self.dicts("SELECT cut, name FROM regions ORDER BY cut")

    def comunas(self, region: str) -> list:
        """[{cut, name}] of the region's comunas, by name."""
        return self.dicts("SELECT cut, name FROM comunas WHERE region = ? ORDER BY name", (region,))

    def substations(self, comuna: str) -> list:
        """[{id, name}] of the comuna's substations, by id."""
        return self.dicts("SELECT id, name FROM substations WHERE comuna = ? ORDER BY id", (comuna,))

    def feeders(self, substation: str) -> list:
        """[{id, name, kind}] of the substation's feeders, by id."""
        return self.dicts("SELECT id, name, kind FROM feeders WHERE substation = ? ORDER BY id", (substation,))

    def transformers(self, feeder: str) -> list:
        """[{id, name}] of the feeder's distribution transformers, by id."""
        return self.dicts("SELECT id, name FROM transformers WHERE feeder = ? ORDER BY id", (feeder,))

    # --- each element's detail -------------------------------------------------------------

    def comuna(self, cut: str) -> dict | None:
        """{cut, name, region, region_name, breadcrumb}."""
        rows = self.dicts("SELECT c.cut, c.name, c.region, r.name AS region_name FROM comunas c "
                          "JOIN regions r ON r.cut = c.region WHERE c.cut = ?", (cut,))
        return _breadcrumb(rows[0], 1) if rows else None

    def substation(self, substation_id: str) -> dict | None:
        """The substation's columns (power_transformers a list of names), region, region_name, comuna_name,
        feeders [{id, name, kind}], transformers [{id, name}] (of all its feeders) and breadcrumb."""
        rows = self.dicts("SELECT s.*, %s FROM substations s JOIN comunas c ON c.cut = s.comuna "
                          "JOIN regions r ON r.cut = c.region WHERE s.id = ?" % _PARENTS, (substation_id,))
        if not rows:
            return None
        row = rows[0]
        row["power_transformers"] = json.loads(row["power_transformers"])
        row["feeders"] = self.feeders(substation_id)
        row["transformers"] = self.dicts("SELECT t.id, t.name FROM transformers t JOIN feeders f ON f.id = t.feeder "
                                         "WHERE f.substation = ? ORDER BY t.id", (substation_id,))
        return _breadcrumb(row, 2)

    def feeder(self, feeder_id: str) -> dict | None:
        """The feeder's columns (geometry parsed), substation_name, comuna, comuna_name, region, region_name,
        transformers [{id, name}], demands (the newest DEMAND_MONTHS, newest first: {month, max_kw, min_kw})
        and breadcrumb."""
        rows = self.dicts("SELECT f.*, s.name AS substation_name, %s FROM feeders f "
                          "JOIN substations s ON s.id = f.substation JOIN comunas c ON c.cut = s.comuna "
                          "JOIN regions r ON r.cut = c.region WHERE f.id = ?" % _PARENTS, (feeder_id,))
        if not rows:
            return None
        row = _geometry(rows[0])
        row["transformers"] = self.transformers(feeder_id)
        row["demands"] = self.demands("feeder", feeder_id)
        return _breadcrumb(row, 3)

    def transformer(self, transformer_id: str) -> dict | None:
        """The transformer's columns (monitored a bool), feeder_name, feeder_capacity_kva, substation,
        substation_name, comuna, comuna_name, region, region_name, demands (the newest DEMAND_MONTHS, newest
        first, of a transformer monitored by the SMMC; [] for another) and breadcrumb."""
        rows = self.dicts("SELECT t.*, f.name AS feeder_name, f.capacity_kva AS feeder_capacity_kva, f.substation, "
                          "s.name AS substation_name, %s FROM transformers t JOIN feeders f ON f.id = t.feeder "
                          "JOIN substations s ON s.id = f.substation JOIN comunas c ON c.cut = s.comuna "
                          "JOIN regions r ON r.cut = c.region WHERE UPPER(t.id) = UPPER(?) ORDER BY t.id LIMIT 1"
                          % _PARENTS, (transformer_id.strip(),))  # a plate as people type it: any case
        if not rows:
            return None
        row = rows[0]
        row["monitored"] = bool(row["monitored"])
        row["demands"] = self.demands("transformer", row["id"]) if row["monitored"] else []
        return _breadcrumb(row, 4)

    def transformer_on_pole(self, plate: str) -> dict | None:
        """transformer() of the transformer standing on the pole with `plate` (the first by id)."""
        rows = self.query("SELECT id FROM transformers WHERE UPPER(pole) = UPPER(?) ORDER BY id LIMIT 1",
                          (plate.strip(),))
        return self.transformer(rows[0][0]) if rows else None

    def demands(self, kind: str, element: str, months: int | None = DEMAND_MONTHS) -> list:
        """[{month, max_kw, min_kw}] of a feeder's or transformer's (kind) newest `months` months (None: all),
        newest first."""
        table, key = {"feeder": ("feeder_demands", "feeder"), "transformer": ("transformer_demands", "transformer")}[
            kind]
        return self.dicts("SELECT month, max_kw, min_kw FROM %s WHERE %s = ? ORDER BY month DESC %s" % (
            table, key, rows_window(months)), (element,))

    def vnr_code(self, code: str) -> dict | None:
        """{code, description, recargos_1, montaje, stotal_1, ing_gg, stotal_2, int_int, total} in pesos."""
        rows = self.dicts("SELECT * FROM vnr_codes WHERE UPPER(code) = UPPER(?) ORDER BY code LIMIT 1", (code.strip(),))
        return rows[0] if rows else None

    # --- inside a feeder -------------------------------------------------------------------

    def find_in_feeder(self, feeder_id: str, kind: str, text: str, limit: int | None = 50,
                       offset: int = 0) -> list:
        """The feeder's poles, spans or equipment (kind "pole", "span", "equipment") whose plate or id contains
        `text` (any case), by plate or id, `limit` of them (None: all) from `offset` on: every column of the
        pole, the span (geometry parsed) or the equipment."""
        table, key = {"pole": ("poles", "plate"), "span": ("spans", "id"), "equipment": ("equipment", "id")}[kind]
        rows = self.dicts("SELECT * FROM %s WHERE feeder = ? AND LOWER(%s) LIKE ? ESCAPE '!' ORDER BY %s "
                          "%s" % (table, key, key, rows_window(limit, offset)), (feeder_id, like(text)))
        return [_geometry(row) for row in rows] if kind == "span" else rows

    def feeder_plan(self, feeder_id: str) -> dict | None:
        """What a feeder's KMZ plan draws: {feeder: feeder(), spans, equipment, transformers, poles} (every
        column of each, by id or plate). A span without a geometry of its own is drawn from its origin pole
        to its destination pole when both are poles with locations; else its geometry is None."""
        feeder = self.feeder(feeder_id)
        if feeder is None:
            return None
        spans = self.dicts("""SELECT s.*, o.lon AS origin_lon, o.lat AS origin_lat, d.lon AS destination_lon,
                              d.lat AS destination_lat FROM spans s LEFT JOIN poles o ON o.plate = s.origin
                              LEFT JOIN poles d ON d.plate = s.destination WHERE s.feeder = ? ORDER BY s.id""",
                           (feeder_id,))
        for span in spans:
            ends = [span.pop(name) for name in ("origin_lon", "origin_lat", "destination_lon", "destination_lat")]
            _geometry(span)
            if span["geometry"] is None and None not in ends:
                span["geometry"] = {"type": "LineString", "coordinates": [ends[:2], ends[2:]]}
        return {"feeder": feeder, "spans": spans,
                "equipment": self.dicts("SELECT * FROM equipment WHERE feeder = ? ORDER BY id", (feeder_id,)),
                "transformers": self.dicts("SELECT * FROM transformers WHERE feeder = ? ORDER BY id", (feeder_id,)),
                "poles": self.dicts("SELECT * FROM poles WHERE feeder = ? ORDER BY plate", (feeder_id,))}
