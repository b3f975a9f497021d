"""A synthetic distributor for the information platform (SEC, Anexo 1): demos and tests need a network and
customers that look real without being anyone's. The same seed and last month give the same distributor.

What it holds:
- the regions La Araucanía (09), Los Lagos (10) and Aysén (11) and some of their comunas, by their CUT codes;
- 3 to 5 substations near real comunas' centres, one at least east of 72° W (UTM zone 19S, the others
  18S), each with 2 or 3 feeders (one sub-alimentador in the distributor) drawn as lines of poles every 70
  to 130 m with a branch; spans between the poles, distribution transformers on about every fourth pole
  (some monitored by the SMMC), 3 to 5 pieces of equipment per feeder, a VNR code for each;
- DEMAND_MONTHS months of maximum and minimum demand of every feeder and monitored transformer;
- `customers` customers (valid RUTs, invented names and addresses) supplied by those transformers, about
  one in ten with generation (EG): a contract, remanentes for up to REMANENTE_MONTHS months, documents;
- BILL_MONTHS months of supply bills (and annexes of injection for an EG) with small PDFs;
- a harvested meter (profile captures at every month's start, the newest registers) for every EG and
  every third other customer, whose monthly energies are those of its bills;
- DEMO_ACCOUNTS: one portal account per profile, with published passwords (synthetic data only).
Every row goes through the store (Store.save_network, save_supplies, the harvest's save, add_portal_user).
"""

import datetime
import io
import math
import random
import time
import types
import zoneinfo

from opsm.host import customers as register
from opsm.host import network, readings
from opsm.host.console import passwords
from opsm.protocol import registers as regmap

DISTRIBUTOR = "Distribuidora Sintética del Sur S.A."
NEIGHBOUR = "Cooperativa Eléctrica Vecina Ltda."  # owner of the network a sub-alimentador buys from
TIMEZONE = "America/Santiago"
BILL_MONTHS, DEMAND_MONTHS, REMANENTE_MONTHS = 36, 24, 60
# (user name, profile, password): for the synthetic distributor only, never for real data
DEMO_ACCOUNTS = (("demo-publico", "publico", "publico-demo-2020"), ("demo-cliente", "cliente", "cliente-demo-2020"),
                 ("demo-eg", "eg", "generador-demo-2020"), ("demo-sec", "sec", "auditor-sec-demo-2020"))
# region CUT, name, comunas: (CUT, name, latitude, longitude of its centre, substation code)
REGIONS = (
    ("09", "La Araucanía", (("09101", "Temuco", -38.7359, -72.5904, "TEM"),
                            ("09112", "Padre Las Casas", -38.7658, -72.5975, "PLC"),
                            ("09120", "Villarrica", -39.2857, -72.2279, "VIL"),
                            ("09201", "Angol", -37.7959, -72.7164, "ANG"),
                            ("09203", "Curacautín", -38.4406, -71.8886, "CUR"))),
    ("10", "Los Lagos", (("10101", "Puerto Montt", -41.4693, -72.9424, "PMO"),
                         ("10109", "Puerto Varas", -41.3195, -72.9854, "PVA"),
                         ("10201", "Castro", -42.4801, -73.7624, "CAS"),
                         ("10301", "Osorno", -40.5740, -73.1336, "OSO"),
                         ("10402", "Futaleufú", -43.1853, -71.8667, "FUT"))),
    ("11", "Aysén del General Carlos Ibáñez del Campo", (("11101", "Coyhaique", -45.5712, -72.0685, "COY"),
                                                         ("11201", "Aysén", -45.4036, -72.6921, "AYS"),
                                                         ("11401", "Chile Chico", -46.5416, -71.7244, "CHI"))),
)
# VNR code -> (description, recargos 1, montaje) in pesos; the other lines follow from them (_vnr_costs)
VNR = {
    "PO-HA-11.5": ("Poste hormigón armado 11,5 m", 412000, 186000),
    "PO-HA-9": ("Poste hormigón armado 9 m", 298000, 151000),
    "CO-AAAC-70": ("Conductor AAAC 70 mm², por vano", 410000, 172000),
    "CO-AAAC-35": ("Conductor AAAC 35 mm², por vano", 236000, 131000),
    "CO-ALP-70": ("Conductor protegido 70 mm², por vano", 655000, 214000),
    "TD-1F-10": ("Transformador monofásico 10 kVA", 1540000, 290000),
    "TD-1F-15": ("Transformador monofásico 15 kVA", 1890000, 310000),
    "TD-1F-25": ("Transformador monofásico 25 kVA", 2380000, 330000),
    "TD-2F-15": ("Transformador bifásico 15 kVA", 2120000, 340000),
    "TD-2F-25": ("Transformador bifásico 25 kVA", 2640000, 360000),
    "TD-3F-45": ("Transformador trifásico 45 kVA", 4710000, 650000),
    "TD-3F-75": ("Transformador trifásico 75 kVA", 6250000, 720000),
    "TD-3F-150": ("Transformador trifásico 150 kVA", 9830000, 880000),
    "EQ-REC-630": ("Reconectador 630 A", 18400000, 1250000),
    "EQ-DF-100": ("Desconectador fusible 100 A", 612000, 198000),
    "EQ-SEC-400": ("Seccionador bajo carga 400 A", 4950000, 610000),
    "EQ-BC-300": ("Banco de condensadores 300 kVAr", 7300000, 890000),
    "EQ-REG-500": ("Regulador de tensión 500 kVA", 31200000, 2100000),
}
# kind -> (phases to choose from, capacities in kVA)
TRANSFORMER_KINDS = {"monofásico": (("R", "S", "T"), (10, 15, 25)), "bifásico": (("RS", "RT", "ST"), (15, 25)),
                     "trifásico": (("RST",), (45, 75, 150))}
# medium voltage -> transformer voltage per kind
VOLTAGES = {"23 kV": {"monofásico": "13,28/0,231 kV", "bifásico": "23/0,231 kV", "trifásico": "23/0,4 kV"},
            "13,2 kV": {"monofásico": "7,62/0,231 kV", "bifásico": "13,2/0,231 kV", "trifásico": "13,2/0,4 kV"}}
CONNECTIONS = {"monofásico": "fase-neutro", "bifásico": "fase-fase", "trifásico": "Dyn1"}
FIRST_NAMES = ("María", "José", "Juan", "Ana", "Luis", "Carmen", "Pedro", "Rosa", "Jorge", "Patricia", "Carlos",
               "Claudia", "Manuel", "Francisca", "Héctor", "Valentina", "Sergio", "Camila", "Víctor", "Javiera",
               "Ricardo", "Daniela", "Hugo", "Constanza", "Nelson", "Ignacia", "Osvaldo", "Fernanda")
SURNAMES = ("González", "Muñoz", "Rojas", "Díaz", "Pérez", "Soto", "Contreras", "Silva", "Martínez", "Sepúlveda",
            "Morales", "Rodríguez", "López", "Fuentes", "Hernández", "Torres", "Araya", "Flores", "Espinoza",
            "Valenzuela", "Castillo", "Tapia", "Reyes", "Gutiérrez", "Huenchullán", "Millaqueo", "Catrileo",
            "Paillalef", "Vargas", "Oyarzún", "Barrientos", "Cárcamo")
STREETS = ("Los Aromos", "Arturo Prat", "O'Higgins", "Los Canelos", "Bernardo Philippi", "Caupolicán", "Lautaro",
           "Los Notros", "Camino a Chinquihue", "Pasaje Los Coihues", "Manuel Montt", "Balmaceda", "Las Araucarias",
           "Camino Rural", "Avenida Alemania", "Los Ulmos", "Pudeto", "Baquedano")
FEEDER_NAMES = ("Cardonal", "Los Pinos", "Pichi Pelluco", "Ruta 5", "Costanera", "Alerce", "Las Quemas",
                "El Salto", "Chinquihue", "Lago", "Volcán", "Estación", "Puente", "Riñihue", "Cordillera")
LIQUIDATION_FORMS = ("Descuento en las boletas siguientes; el saldo se paga en dinero al término del período",
                     "Pago en dinero de los remanentes no descontados en cada liquidación anual")
SUPPLY_KW = (3.5, 5.5, 7.0, 9.2)
ENERGY_CLP_PER_KWH, FIXED_CLP, INJECTION_CLP_PER_KWH = 182.5, 1350, 96.3
_IMPORT, _EXPORT = regmap.by_key("import_wh").obis, regmap.by_key("export_wh").obis
_PROFILE = next(profile.obis for profile in regmap.PROFILES if "export_wh" in profile.columns)


def create(store, seed: int = 17, customers: int = 300, last_month: str | None = None) -> dict:
    """Write the synthetic distributor into an empty database; what was written, by kind. last_month: the
    newest month of bills and demands (default: the month before this one, in Chile)."""
    if any(store.network_counts().values()) or store.customer_count():
        raise ValueError("db: holds a network or customers already; the synthetic distributor goes into an empty "
                         "database")
    tz = zoneinfo.ZoneInfo(TIMEZONE)
    last_month = last_month or readings.shift(datetime.datetime.now(tz).strftime("%Y-%m"), -1)
    readings.month_start(last_month, tz)  # ValueError for a bad month
    rng = random.Random(seed)
    grid = _network(rng, last_month)
    people = _customers(rng, grid, customers, last_month)
    counts = store.save_network(grid["batch"])
    register.save_customers(store, [person["register"] for person in people])
    counts.update(store.save_supplies(_supplies(people, last_month)))
    counts["customer"] = len(people)
    counts["harvested_meter"] = _harvest(store, [p for p in people if p["harvested"]], last_month, tz)
    counts["portal_user"] = _accounts(store, rng, people)
    return counts


# --- places ------------------------------------------------------------------------------------------------

def _place(lon: float, lat: float) -> dict:
    """A location as the store keeps it: WGS84 UTM in the point's own zone, and lon, lat."""
    x, y, zone = network.to_utm(lon, lat)
    return {"x": x, "y": y, "datum": "WGS84", "zone": zone, "lon": round(lon, 7), "lat": round(lat, 7)}


def _moved(point: tuple, metres: float, bearing: float) -> tuple:
    """(lon, lat) about `metres` away from (lon, lat) towards `bearing` (degrees from north): a flat step, near
    enough for drawing (a span's length is measured on the ellipsoid afterwards)."""
    lon, lat = point
    north, east = metres * math.cos(math.radians(bearing)), metres * math.sin(math.radians(bearing))
    return (lon + east / (111320 * math.cos(math.radians(lat))), lat + north / 110574)


def _vnr_costs(code: str) -> dict:
    description, recargos, montaje = VNR[code]
    stotal_1 = recargos + montaje
    ing_gg = round(stotal_1 * 0.12)  # ingeniería y gastos generales
    stotal_2 = stotal_1 + ing_gg
    int_int = round(stotal_2 * 0.03)  # intereses intercalarios
    return {"code": code, "description": description, "recargos_1": recargos, "montaje": montaje,
            "stotal_1": stotal_1, "ing_gg": ing_gg, "stotal_2": stotal_2, "int_int": int_int,
            "total": stotal_2 + int_int}


def _seasonal(month: str, winter: float) -> float:
    """1 + `winter` in July, 1 - `winter` in January: the south's heating and lighting season."""
    return 1 + winter * math.cos(2 * math.pi * (int(month[5:]) - 7) / 12)


# --- the network -------------------------------------------------------------------------------------------

def _network(rng: random.Random, last_month: str) -> dict:
    """{"batch": Store.save_network's batch, "transformers": [(transformer row, (comuna name, region name))]}."""
    batch = {kind: [] for kind in network.KINDS}
    batch["feeder_geometry"], batch["span_geometry"] = [], []
    comunas = [(region, comuna) for region in REGIONS for comuna in region[2]]
    east = [pair for pair in comunas if network.utm_zone(pair[1][3], pair[1][2]) == "19S"]
    west = [pair for pair in comunas if pair not in east]
    chosen = sorted(rng.sample(east, 1) + rng.sample(west, rng.randint(2, 4)), key=lambda pair: pair[1][0])
    for cut, name, _ in REGIONS:
        batch["region"].append({"cut": cut, "name": name})
    for (region_cut, _, _), (cut, name, _, _, _) in comunas:
        batch["comuna"].append({"cut": cut, "name": name, "region": region_cut})
    batch["vnr"] = [_vnr_costs(code) for code in VNR]
    counter = {"pole": 100000, "span": 200000, "transformer": 0, "equipment": 0}
    names = rng.sample(FEEDER_NAMES, len(FEEDER_NAMES))
    placed = []
    for index, ((_, region_name, _), (cut, name, lat, lon, code)) in enumerate(chosen):
        head = _moved((lon, lat), rng.uniform(500, 1500), rng.uniform(0, 360))
        substation, voltage = "SE-" + code, rng.choice(tuple(VOLTAGES))
        batch["substation"].append(dict(_place(*head), id=substation, name="Subestación " + name, comuna=cut,
                                        power_transformers=["%s-TP%d 66/%s %d MVA" % (code, n, voltage, rng.choice(
                                            (15, 25, 30))) for n in range(1, rng.randint(1, 2) + 1)]))
        feeders = rng.randint(2, 3)
        for number in range(1, feeders + 1):
            sub = index == 0 and number == feeders  # the distributor's one sub-alimentador
            feeder = {"id": "AL-%s-%d" % (code, number), "name": names.pop(), "substation": substation,
                      "kind": "sub-alimentador" if sub else "alimentador", "owner": NEIGHBOUR if sub else None,
                      "purchase_node": "Nodo %s %s" % (name, voltage) if sub else None,
                      "short_circuit_kva": float(rng.randrange(60000, 250000, 1000)),
                      "capacity_kva": float(rng.choice((6000, 8000, 10000, 12000)))}
            batch["feeder"].append(feeder)
            bearing = 360 * (number - 1) / feeders + rng.uniform(-25, 25)
            placed += _feeder_lines(rng, batch, counter, feeder, substation, head, bearing, voltage,
                                    (name, region_name))
            batch["feeder_demand"] += _demands(rng, "feeder", feeder["id"], feeder["capacity_kva"] * 0.9, last_month)
    for transformer, _ in placed:
        if transformer["monitored"]:
            batch["transformer_demand"] += _demands(rng, "transformer", transformer["id"],
                                                    transformer["capacity_kva"] * 0.9, last_month)
    return {"batch": batch, "transformers": placed}


def _feeder_lines(rng, batch: dict, counter: dict, feeder: dict, substation: str, head: tuple, bearing: float,
                  voltage: str, comuna: tuple) -> list:
    """A feeder's main line and one branch: poles, spans, transformers, equipment and its geometry into
    `batch`; [(transformer row, (comuna name, region name))] of its transformers."""
    main = _line(rng, head, bearing, rng.randint(25, 45))
    root = rng.randrange(len(main) // 3, 2 * len(main) // 3)
    branch = _line(rng, main[root], bearing + rng.choice((-1, 1)) * rng.uniform(60, 95), rng.randint(8, 16))
    lines, plates, placed = [], {}, []
    for number, points in enumerate((main, branch)):
        origin = substation if number == 0 else plates[main[root]]
        for start, point in zip(points, points[1:]):
            counter["pole"] += 1
            plate = plates[point] = "P-%06d" % counter["pole"]
            batch["pole"].append(dict(_place(*point), plate=plate, feeder=feeder["id"], medium_voltage=voltage,
                                      low_voltage="380/220 V" if rng.random() < 0.6 else None,
                                      vnr_code="PO-HA-11.5" if number == 0 else "PO-HA-9"))
            counter["span"] += 1
            span = "V-%06d" % counter["span"]
            conductor = ("CO-AAAC-70", 275.0) if number == 0 else ("CO-AAAC-35", 170.0)
            if number == 0 and rng.random() < 0.15:
                conductor = ("CO-ALP-70", 260.0)
            batch["span"].append({"id": span, "feeder": feeder["id"], "origin": origin, "destination": plate,
                                  "length_m": round(network.distance_m(start, point), 1), "material": "AAAC",
                                  "insulation": "protegido" if conductor[0] == "CO-ALP-70" else "desnudo",
                                  "vnr_code": conductor[0], "capacity_a": conductor[1],
                                  "phases": 3 if number == 0 else rng.choice((1, 2, 3))})
            batch["span_geometry"].append((span, {"type": "LineString", "coordinates": [
                [round(v, 7) for v in start], [round(v, 7) for v in point]]}))
            origin = plate
            if rng.random() < 0.27:
                placed.append((_transformer(rng, batch, counter, feeder, plate, point, voltage, number == 1), comuna))
        lines.append([[round(v, 7) for v in point] for point in points])
    batch["feeder_geometry"].append((feeder["id"], {"type": "MultiLineString", "coordinates": lines}))
    _equipment(rng, batch, counter, feeder, [plates[p] for p in main[1:]], plates[main[root]], voltage)
    return placed


def _line(rng, start: tuple, bearing: float, poles: int) -> list:
    """`poles` + 1 points from `start`, 70 to 130 m apart, the bearing wandering a little."""
    points = [start]
    for _ in range(poles):
        bearing += rng.uniform(-12, 12)
        points.append(_moved(points[-1], rng.uniform(70, 130), bearing))
    return points


def _transformer(rng, batch: dict, counter: dict, feeder: dict, plate: str, point: tuple, voltage: str,
                 on_branch: bool) -> dict:
    """A distribution transformer beside a pole: mostly three-phase on the main line, single-phase on a branch."""
    kind = rng.choices(tuple(TRANSFORMER_KINDS), weights=(5, 3, 1) if on_branch else (2, 1, 4))[0]
    phases, capacities = TRANSFORMER_KINDS[kind]
    capacity = rng.choice(capacities)
    counter["transformer"] += 1
    number = counter["transformer"]
    row = dict(_place(*_moved(point, rng.uniform(1, 4), rng.uniform(0, 360))), id="TD-%05d" % number,
               name="TD %s %d" % (feeder["name"], number), feeder=feeder["id"], capacity_kva=float(capacity),
               connection=CONNECTIONS[kind], voltage=VOLTAGES[voltage][kind], pole=plate, kind=kind,
               phases=rng.choice(phases), vnr_code="TD-%dF-%d" % (network.PHASES_OF[kind], capacity),
               monitored=int(rng.random() < 0.3))
    batch["transformer"].append(row)
    return row


def _equipment(rng, batch: dict, counter: dict, feeder: dict, main: list, branch_root: str, voltage: str) -> None:
    """A recloser at the head, a fused cut-out at the branch, a switch half way, and sometimes a capacitor
    bank or a voltage regulator."""
    rows = [("reconectador", 630, "A", "trifásico", "normalmente cerrado", None, None, "EQ-REC-630", main[0]),
            ("desconectador fusible", 100, "A", "monofásico por fase", "normalmente cerrado", None, None,
             "EQ-DF-100", branch_root),
            ("seccionador bajo carga", 400, "A", "trifásico", "normalmente cerrado", None, None, "EQ-SEC-400",
             main[len(main) // 2])]
    if rng.random() < 0.4:
        rows.append(("banco de condensadores", 300, "kVA", "estrella", "automático por tensión",
                     "conecta bajo 0,97 pu, desconecta sobre 1,03 pu", None, "EQ-BC-300", main[-3]))
    if rng.random() < 0.3:
        ratio = "23000/120" if voltage == "23 kV" else "13200/120"
        rows.append(("regulador de tensión", 500, "kVA", "estrella aterrizada", "automático",
                     "120 V ± 1,5 % (banda), compensación 4 V", ratio, "EQ-REG-500", main[2 * len(main) // 3]))
    poles = {row["plate"]: row for row in batch["pole"]}
    for kind, capacity, unit, connection, mode, setpoints, ratio, vnr, plate in rows:
        counter["equipment"] += 1
        pole = poles[plate]
        batch["equipment"].append(dict(_place(pole["lon"], pole["lat"]), id="EQ-%05d" % counter["equipment"],
                                       feeder=feeder["id"], kind=kind, capacity=float(capacity), capacity_unit=unit,
                                       connection=connection, operating_mode=mode, voltage_setpoints=setpoints,
                                       ratio=ratio, vnr_code=vnr))


def _demands(rng, kind: str, element: str, rating_kw: float, last_month: str) -> list:
    """DEMAND_MONTHS months of maximum and minimum demand, higher in winter."""
    load = rng.uniform(0.4, 0.75)
    rows = []
    for month in readings.months_ending(last_month, DEMAND_MONTHS):
        peak = rating_kw * load * _seasonal(month, 0.18) * rng.uniform(0.95, 1.05)
        rows.append({kind: element, "month": month, "max_kw": round(peak, 1),
                     "min_kw": round(peak * rng.uniform(0.18, 0.32), 1)})
    return rows


# --- customers ---------------------------------------------------------------------------------------------

def _customers(rng, grid: dict, count: int, last_month: str) -> list:
    """Each customer: register (a tuple of the register's first fields), supply, and the monthly series."""
    people, ruts = [], set()
    months = readings.months_ending(last_month, REMANENTE_MONTHS)
    for index in range(count):
        body = rng.randint(5_000_000, 26_000_000)
        while body in ruts:
            body += 1
        ruts.add(body)
        rut = "%d-%s" % (body, register.rut_check_digit(body))
        first, surnames = rng.choice(FIRST_NAMES), rng.sample(SURNAMES, 2)
        transformer, (comuna, region) = rng.choice(grid["transformers"])
        generation = rng.random() < 0.1 or (index == count - 1 and not any(p["generation"] for p in people))
        address = "%s %d" % (rng.choice(STREETS), rng.randint(10, 2999))
        mail = "%s.%s%d@example.cl" % (network.folded(first), network.folded(surnames[0]).replace(" ", ""), index)
        device, number = "SYN-%05d" % (index + 1), str(2_100_000 + 10 * index + rng.randint(0, 9))
        base, winter = rng.uniform(110, 380), rng.uniform(0.1, 0.3)
        used = [round(base * _seasonal(m, winter) * rng.uniform(0.92, 1.08)) for m in months]
        person = {"customer_id": rut, "generation": generation, "device_id": device, "transformer": transformer,
                  "billing_day": rng.randint(1, 28), "months": months, "used": used, "injected": [0] * len(months),
                  "harvested": generation or index % 3 == 0, "name": "%s %s %s" % (first, *surnames),
                  "client_number": number,
                  "register": (rut, "%s %s %s" % (first, *surnames), device, mail,
                               "+56 9 %04d %04d" % (rng.randrange(10000), rng.randrange(10000)), address, comuna, None,
                               region, None, None, number, DISTRIBUTOR, "BT1", rng.choice(SUPPLY_KW), 1, 0, 1)}
        if generation:
            person["contract"] = _contract(rng, transformer, last_month)
            start = person["contract"]["contract_date"][:7]
            installed, share = person["contract"]["installed_kw"], rng.uniform(0.3, 0.5)
            weather = [rng.uniform(0.85, 1.1) for _ in months]  # every month drawn: later customers stay the same
            person["injected"] = [0 if m < start else round(installed * 92 * _seasonal(m, -0.6) * (1 - share) * w)
                                  for m, w in zip(months, weather)]
        people.append(person)
    return people


def _contract(rng, transformer: dict, last_month: str) -> dict:
    signed = readings.shift(last_month, -rng.randint(14, 84))
    day = rng.randint(1, 28)
    installed = rng.choice((3.0, 4.5, 6.0, 8.0, 10.0, 15.0, 30.0)) if rng.random() < 0.9 else rng.choice((50.0, 100.0))
    anniversary = "%s-%02d" % (signed[5:], day)  # remanentes are liquidated yearly, on it: the next one
    year = int(last_month[:4]) + (0 if anniversary[:2] > last_month[5:] else 1)
    where = _moved((transformer["lon"], transformer["lat"]), rng.uniform(30, 150), rng.uniform(0, 360))
    return dict(_place(*where), liquidation_form=rng.choice(LIQUIDATION_FORMS),
                liquidation_date="%d-%s" % (year, anniversary), contract_date="%s-%02d" % (signed, day),
                installed_kw=installed)


def _supplies(people: list, last_month: str) -> dict:
    """Store.save_supplies' batch: supplies, the last BILL_MONTHS months' bills and annexes, contracts,
    remanentes, documents."""
    batch = {kind: [] for kind in ("supply", "bill", "generation_contract", "remanente", "document")}
    folio = {"suministro": 5_000_000, "inyeccion": 800_000}
    for person in people:
        rut = person["customer_id"]
        batch["supply"].append({"customer_id": rut, "transformer": person["transformer"]["id"],
                                "billing_day": person["billing_day"], "generation": person["generation"]})
        for n, month in enumerate(person["months"]):
            charge = FIXED_CLP + round(person["used"][n] * ENERGY_CLP_PER_KWH)
            credit = round(person["injected"][n] * INJECTION_CLP_PER_KWH)
            if person["generation"] and credit > charge:
                batch["remanente"].append({"customer_id": rut, "month": month, "amount_clp": credit - charge})
            if n < len(person["months"]) - BILL_MONTHS:
                continue
            issued = "%s-%02d" % (readings.shift(month, 1), person["billing_day"])
            folio["suministro"] += 1
            batch["bill"].append(_bill(person, "suministro", str(folio["suministro"]), issued, month, charge,
                                       kwh_consumed=float(person["used"][n])))
            if person["injected"][n]:
                folio["inyeccion"] += 1
                batch["bill"].append(_bill(person, "inyeccion", "AI-%d" % folio["inyeccion"], issued, month, credit,
                                           kwh_injected=float(person["injected"][n])))
        if person["generation"]:
            contract = person["contract"]
            batch["generation_contract"].append(dict(contract, customer_id=rut))
            documents = [("contrato", "Contrato de conexión"), ("protocolo", "Protocolo de conexión")]
            if contract["installed_kw"] > 30:
                documents.append(("estudio", "Estudio de conexión"))
            for kind, title in documents:
                batch["document"].append({"customer_id": rut, "kind": kind, "file_name": "%s-%s.pdf" % (kind, rut),
                                          "pdf": _pdf(title, [
                                              "Cliente: %s (RUT %s)" % (person["name"], rut),
                                              "Potencia instalada: %s kW" % contract["installed_kw"],
                                              "Fecha del contrato: %s" % contract["contract_date"],
                                              "Ubicación UTM WGS84 huso %s: x %.1f, y %.1f" % (
                                                  contract["zone"], contract["x"], contract["y"])])})
    return batch


def _bill(person: dict, kind: str, number: str, issued: str, month: str, amount: int, kwh_consumed=None,
          kwh_injected=None) -> dict:
    title = "Boleta de suministro N° %s" % number if kind == "suministro" else "Anexo de inyección %s" % number
    energy = "Consumo: %d kWh" % kwh_consumed if kwh_consumed is not None else "Inyección: %d kWh" % kwh_injected
    return {"customer_id": person["customer_id"], "number": number, "kind": kind, "issued_on": issued,
            "period": month, "kwh_consumed": kwh_consumed, "kwh_injected": kwh_injected, "amount_clp": amount,
            "pdf": _pdf(title, ["Cliente: %s (RUT %s)" % (person["name"], person["customer_id"]),
                                "N° de cliente: %s" % person["client_number"], "Período: %s" % month,
                                "Emitida el %s" % issued, energy, "Total: $ %s" % format(amount, ",").replace(",", "."),
                                DISTRIBUTOR])}


def _pdf(title: str, lines: list) -> bytes:
    """A one-page A5 PDF, the same bytes for the same text (reportlab's invariant mode)."""
    from reportlab.lib.pagesizes import A5
    from reportlab.pdfgen import canvas

    data = io.BytesIO()
    page = canvas.Canvas(data, pagesize=A5, invariant=1, pageCompression=1)
    page.setTitle(title)
    page.setFont("Helvetica-Bold", 13)
    page.drawString(36, 550, title)
    page.setFont("Helvetica", 10)
    for n, line in enumerate(lines):
        page.drawString(36, 520 - 16 * n, line)
    page.setFont("Helvetica-Oblique", 8)
    page.drawString(36, 36, "Documento sintético de demostración (opsm portal synth): no es un documento tributario.")
    page.showPage()
    page.save()
    return data.getvalue()


# --- meters and accounts -----------------------------------------------------------------------------------

def _harvest(store, people: list, last_month: str, tz) -> int:
    """One harvest reading each customer's meter: a capture at the start of each of its BILL_MONTHS months and
    the next, growing by the bills' energies, and the newest value of the registers."""
    months = readings.months_ending(last_month, BILL_MONTHS) + [readings.shift(last_month, 1)]
    read_at = readings.month_start(months[-1], tz) + 3 * 86400
    harvest = store.begin_harvest(len(people))
    for number, person in enumerate(people):
        offset = len(person["months"]) - BILL_MONTHS
        imported, exported, rows = 1_000_000 + 7919 * number, 0, []
        for n, month in enumerate(months):
            rows.append((readings.month_start(month, tz), float(imported), float(exported)))
            if n < BILL_MONTHS:
                imported += 1000 * person["used"][offset + n]
                exported += 1000 * person["injected"][offset + n]
        values = {"serial": "OPS%08d" % (number + 1), "import_wh": float(imported), "export_wh": float(exported),
                  "import_varh": round(imported * 0.12), "export_varh": 0.0, "power_w": 640.0 + number % 900,
                  "voltage_mv": 221.4, "current_ma": 2.9, "freq_mhz": 50.0, "pf_milli": 0.97, "relay": 1}
        reading = types.SimpleNamespace(ok=True, error=None, read_at=read_at, clock_drift_s=0, attempts=1, events=[],
                                        registers={regmap.by_key(k).obis: v for k, v in values.items()},
                                        profiles=[(_PROFILE, (_IMPORT, _EXPORT), rows)])
        meter = types.SimpleNamespace(device_id=person["device_id"], serial=values["serial"], host="synthetic",
                                      port=0, protocol="dlms-tcp", timezone=TIMEZONE)
        store.save(harvest, meter, reading)
    store.end_harvest(harvest, 0)
    return len(people)


def _accounts(store, rng, people: list) -> int:
    """DEMO_ACCOUNTS: the cliente sees a harvested customer without generation, the eg the largest generator (the
    likeliest to have remanentes)."""
    cliente = next((p for p in people if p["harvested"] and not p["generation"]), people[0])
    eg = max((p for p in people if p["generation"]), key=lambda p: p["contract"]["installed_kw"])
    for name, profile, password in DEMO_ACCOUNTS:
        person = {"cliente": cliente, "eg": eg}.get(profile)
        body = rng.randint(5_000_000, 26_000_000)
        rut = person["customer_id"] if person else "%d-%s" % (body, register.rut_check_digit(body))
        store.add_portal_user(name, passwords.hashed(password), name + "@example.cl", rut, profile,
                              person["customer_id"] if person else None, int(time.time()))
    return len(DEMO_ACCOUNTS)
