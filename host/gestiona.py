"""The unit inventory for Chile's Gestiona Energía platform (Ministerio de Energía), as an .xlsx workbook.

The platform's guide ("Guía para la Actualización del Inventario de Unidades", 2022) places every
supply in a building (Edificio: Región, Provincia, Comuna, Calle y Número), a unit inside it
(Unidad: institución, servicio, nombre, tipo de uso, pisos, superficie, tipo de propiedad, N° de
rol, año de construcción, N° de funcionarios, reporta PMG, acceso a las facturas), the energy
carriers the unit uses (Energéticos), the distributor's client number (N° de Cliente) and the meters
under that number (Medidores); the units that do not report to the PMG justify it (Estado reporte de
consumos unidades). The workbook has one sheet for each, in the platform's words, and the platform's
lists as drop-downs. The customer register (host/customers.py) holds those fields, one customer per
supply: the facts of a building, unit, client number or meter are stated by each customer on it and
must agree. A meter's number is the serial the harvester read from it, or the register's device_id
while it has not been harvested. A meter is shared (Medidor Compartido) when the register says so or
when it supplies more than one unit; a unit has a shared meter of a carrier when one of its meters of
that carrier is shared.
"""

import collections
import datetime
import io
import re
import unicodedata

from opsm.host import outfile

YES_NO = ("Sí", "No")
ON_OFF = ("Encendido", "Apagado")
# "Tiene acceso a las facturas de tus consumos": the unit's answer, as the guide words it (3.2.2).
BILL_ACCESS = ("Sí", "No, otro servicio público", "No, otra organización (Especificar)")
OTHER_SERVICE, OTHER_ORGANIZATION = BILL_ACCESS[1:]
# Only these carriers have meters on the platform (guide, 5).
ENERGIES = ("Electricidad", "Gas Natural", "Gas Licuado de Petróleo")
ELECTRICITY = ENERGIES[0]
PIPED_GAS = ENERGIES[1:]
# The platform's Región list: Chile's regions as the guide writes them ("Región Metropolitana de Santiago").
REGIONS = ("Región de Arica y Parinacota", "Región de Tarapacá", "Región de Antofagasta", "Región de Atacama",
           "Región de Coquimbo", "Región de Valparaíso", "Región Metropolitana de Santiago",
           "Región del Libertador General Bernardo O'Higgins", "Región del Maule", "Región de Ñuble",
           "Región del Biobío", "Región de La Araucanía", "Región de Los Ríos", "Región de Los Lagos",
           "Región de Aysén del General Carlos Ibáñez del Campo", "Región de Magallanes y de la Antártica Chilena")
# The ranges the register accepts and the workbook's cells check: no Chilean building predates Santiago's
# founding; a unit's surface (m²) and staff are at most a large building's.
FIRST_YEAR = 1541
SURFACE_M2 = (1, 1_000_000)
STAFF = (0, 100_000)

# Without these a customer has no place in the platform's tree of building, unit and supply.
PLACING = ("building", "unit", "client_number")
# The platform finds a building by these, and creates a unit only with these (guide, 3.2.1 and 3.2.2);
# the N° de rol, or a justification when the property has none, is asked too.
LOCATING = ("region", "provincia", "comuna")
DESCRIBING = ("institution", "service", "use_type", "floors", "surface_m2", "ownership", "built_year", "staff",
              "unit_bill_access")
REQUIRED = ((PLACING, "to place the customer in the inventory"),
            (LOCATING, "to find the building on the platform"),
            (DESCRIBING, "to create the unit on the platform"))
UNIT_FACTS = DESCRIBING + ("rol", "rol_justification", "reports_pmg", "responsible_institution",
                           "responsible_service", "responsible_organization", "will_report", "no_report_justification")
# (what, the fields naming one, its facts): every customer on the same one must state them alike.
AGREEMENTS = (
    ("building", ("building",), ("comuna", "provincia", "region", "street", "street_number")),
    ("unit", ("building", "unit"), UNIT_FACTS),
    ("client_number", ("client_number",), ("energy", "distributor", "tariff", "connected_kw")),
    ("device_id", ("device_id",), ("client_number", "smart")),
)
_FLAGS = ("smart", "shared", "bill_access")
_ANSWERS = ("reports_pmg", "will_report")  # yes, no, or not stated
_MAX_WIDTH = 60
_LISTS = "Listas"
_LAST_ROW = 1_048_575  # a check covers the whole column, rows added by hand included

Customer = collections.namedtuple("Customer", (
    "customer_id", "device_id", "meter", "building", "comuna", "provincia", "region", "street", "street_number", "unit",
    "client_number", "energy", "distributor", "tariff", "connected_kw", "smart", "shared", "bill_access") + UNIT_FACTS)
# checks: header -> the platform's list (a tuple of words) or a Range the column's numbers must be in
Sheet = collections.namedtuple("Sheet", "name headers rows checks", defaults=({},))
Range = collections.namedtuple("Range", "kind low high")  # kind: integer or decimal


class GestionaError(ValueError):
    """Every problem found, one per line."""


def fold(text: str) -> str:
    """Text compared the way people mean it: lower case, no accents, words of letters and digits only."""
    plain = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode().lower()
    return " ".join(re.sub(r"[^a-z0-9]+", " ", plain).split())


def _region_key(text: str) -> str:
    return re.sub(r"^(region )?(del? )?((la|los) )?", "", fold(text)).replace(" ", "")


# every name without its "Región de", and how people shorten the longer ones
_REGION_KEYS = dict({_region_key(name): name for name in REGIONS}, metropolitana=REGIONS[6], rm=REGIONS[6],
                    santiago=REGIONS[6], ohiggins=REGIONS[7], aysen=REGIONS[14], magallanes=REGIONS[15])


def region(text: str) -> str | None:
    """The platform's name of a region as people write it (Araucanía, La Araucanía, Región de la Araucanía),
    else None."""
    return _REGION_KEYS.get(_region_key(text))


def load(store) -> list:
    """The register's customers with their meter numbers, by customer_id (the same order in every database)."""
    def value(row, field):
        if field in _FLAGS:
            return bool(row[field])
        if field in _ANSWERS:
            return None if row[field] is None else bool(row[field])
        return row[field]

    customers = (Customer(**{field: value(row, field) for field in Customer._fields})
                 for row in store.customers_with_meter_numbers())
    return sorted(customers, key=lambda customer: customer.customer_id)


def _yes_no(flag) -> str | None:
    return None if flag is None else YES_NO[0] if flag else YES_NO[1]


def _stated(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "nothing" if value is None else repr(value)


def _empty(value) -> bool:
    return value is None or value == ""


def _missing(customer) -> list:
    """Why the customer cannot be exported: an empty required field, a region the platform does not know."""
    found = ["%s: must not be empty %s" % (field, why)
             for fields, why in REQUIRED for field in fields if _empty(getattr(customer, field))]
    if _empty(customer.rol) and _empty(customer.rol_justification):
        found.append("rol: must not be empty unless rol_justification says why the property has none")
    if not _empty(customer.region) and region(customer.region) is None:
        found.append("region: %r is not one of the platform's regions (%s, ..)" % (customer.region, REGIONS[0]))
    return ["customer %r: %s" % (customer.customer_id, problem) for problem in found]


def incomplete(customers) -> list:
    """One message per customer and field that keeps it out of the inventory."""
    return [message for customer in customers for message in _missing(customer)]


def _disagreements(what: str, key: tuple, facts: tuple, first, customer) -> list:
    named = " in ".join(repr(value) for value in reversed(key))  # 'Depto 101' in 'Avenida Matucana 151'
    return ["%s %s: %s: customer %r has %s but customer %r has %s; customers on the same %s must agree" % (
        what, named, field, first.customer_id, _stated(getattr(first, field)), customer.customer_id,
        _stated(getattr(customer, field)), what)
        for field in facts if getattr(customer, field) != getattr(first, field)]


def conflicts(customers) -> list:
    """One message per customer who states a building's, unit's, supply's or meter's fact unlike the first who
    stated it."""
    errors = []
    for what, fields, facts in AGREEMENTS:
        first: dict = {}
        for customer in customers:
            key = tuple(getattr(customer, field) for field in fields)
            if None in key:
                continue  # a customer without a meter shares no meter facts
            errors += _disagreements(what, key, facts, first.setdefault(key, customer), customer)
    return errors


def _grouped(customers, key) -> dict:
    """Customers by key, keys in order: the platform's lists are deduplicated and stable."""
    groups = collections.defaultdict(list)
    for customer in customers:
        groups[key(customer)].append(customer)
    return {k: groups[k] for k in sorted(groups)}


def _units(customers) -> dict:
    return _grouped(customers, lambda c: (c.building, c.unit))


def _shared_meters(metered) -> set:
    """device_ids of the shared meters."""
    return {device_id for device_id, group in _grouped(metered, lambda c: c.device_id).items()
            if any(c.shared for c in group) or len({(c.building, c.unit) for c in group}) > 1}


def _shared_of(group, energies: tuple, shared: set) -> str | None:
    """Whether the unit has a shared meter of these carriers; None when it has no meter of them."""
    meters = [c.device_id for c in group if c.device_id and c.energy in energies]
    return _yes_no(any(meter in shared for meter in meters)) if meters else None


def _buildings(customers) -> Sheet:
    rows = [(building, c.comuna, c.provincia, c.region, c.street, c.street_number)
            for building, (c, *_) in _grouped(customers, lambda c: c.building).items()]
    return Sheet("Edificios", ("Calle y Número", "Comuna", "Provincia", "Región", "Calle", "N°"), rows,
                 {"Región": REGIONS})


def _unit_sheet(customers, shared: set, this_year: int) -> Sheet:
    rows = []
    for (building, unit), group in _units(customers).items():
        c = group[0]
        # the guide asks about piped gas only of a unit that has it: no gas meter leaves the cell empty
        gas = _shared_of(group, PIPED_GAS, shared)
        rows.append((building, c.institution, c.service, unit, c.use_type, c.floors, c.surface_m2, c.ownership, c.rol,
                     c.rol_justification, c.built_year, c.staff, _yes_no(c.reports_pmg), c.unit_bill_access,
                     c.responsible_institution, c.responsible_service, c.responsible_organization,
                     _shared_of(group, (ELECTRICITY,), shared) or YES_NO[1], gas))
    return Sheet("Unidades", (
        "Edificio", "Institución", "Servicio", "Nombre Unidad", "Tipo de Uso", "Pisos", "Superficie (m²)",
        "Tipo de Propiedad", "N° de Rol", "Justificación sin N° de Rol", "Año de Construcción", "N° de Funcionarios",
        "Reporta PMG", "Tiene acceso a las facturas de tus consumos", "Institución responsable de los consumos",
        "Servicio responsable de los consumos", "Organización privada responsable de los consumos",
        "Electricidad: ¿Tiene algún medidor compartido?", "Gas de Cañería: ¿Tiene algún medidor compartido?"), rows, {
        "Superficie (m²)": Range("decimal", *SURFACE_M2),
        "Año de Construcción": Range("integer", FIRST_YEAR, this_year), "N° de Funcionarios": Range("integer", *STAFF),
        "Reporta PMG": YES_NO,
        "Tiene acceso a las facturas de tus consumos": BILL_ACCESS,
        "Electricidad: ¿Tiene algún medidor compartido?": YES_NO,
        "Gas de Cañería: ¿Tiene algún medidor compartido?": YES_NO})


def _energies(customers) -> Sheet:
    """The platform's Energéticos table of each unit: every carrier that can have meters, on or off."""
    rows = [(building, unit, energy, ON_OFF[0] if any(c.energy == energy for c in group) else ON_OFF[1])
            for (building, unit), group in _units(customers).items() for energy in ENERGIES]
    return Sheet("Energéticos", ("Edificio", "Nombre Unidad", "Fuente Energética", "Encendido / Apagado"), rows,
                 {"Fuente Energética": ENERGIES, "Encendido / Apagado": ON_OFF})


def _client_numbers(customers, shared: set) -> Sheet:
    rows = []
    for number, group in _grouped(customers, lambda c: c.client_number).items():
        meters = {c.device_id for c in group if c.device_id}
        shared_here = len(meters & shared)
        c = group[0]
        rows.append((c.energy, number, c.distributor, c.tariff, c.connected_kw, len(meters) - shared_here, shared_here,
                     len(meters)))
    return Sheet("N° de Cliente", ("Energético", "N° de Cliente", "Empresa Distribuidora", "Tipo de Tarifa",
                                   "Potencia Conectada (kW)", "N° Medidores Exclusivos", "N° Medidores Compartidos",
                                   "Total Medidores"), rows, {"Energético": ENERGIES})


def _meters(metered, shared: set) -> Sheet:
    """One row per meter and unit it supplies: the platform asks each unit whether the meter's bills reach it."""
    groups = _grouped(metered, lambda c: (c.client_number, c.meter, c.building, c.unit))
    rows = [(group[0].energy, meter, number, unit, building, _yes_no(group[0].smart),
             _yes_no(group[0].device_id in shared), _yes_no(any(c.bill_access for c in group)))
            for (number, meter, building, unit), group in groups.items()]
    return Sheet("Medidores", ("Energético", "N° de Medidor", "N° de Cliente", "Unidad", "Edificio",
                               "Medidor Inteligente", "Medidor Compartido", "Tiene acceso a la factura"), rows,
                 {"Energético": ENERGIES, "Medidor Inteligente": YES_NO, "Medidor Compartido": YES_NO,
                  "Tiene acceso a la factura": YES_NO})


def _label(c) -> str:
    """A unit as the platform lists it: "Morandé, Nro. 59, Pisos 2, Región Metropolitana de Santiago"."""
    place = "%s, Nro. %s" % (c.street, c.street_number) if c.street else c.building
    return "%s, Pisos %s, %s" % (place, c.floors, c.region)


def _report_status(customers, period: int) -> Sheet:
    """The units that do not report to the PMG and whether each is justified ("Ok") or not ("Sin justificar")."""
    question = "¿Podrá el Servicio reportar su consumo energético del periodo %d para esta unidad?" % period
    rows = [(building, unit, _label(c), "Sin justificar" if c.will_report is None else "Ok", _yes_no(c.will_report),
             c.no_report_justification)
            for (building, unit), (c, *_) in _units(customers).items() if c.reports_pmg is False]
    return Sheet("Estado reporte de consumos", ("Edificio", "Nombre Unidad", "Unidad", "Estado", question,
                                                "Justificación"), rows, {question: YES_NO})


def inventory(customers, skip_incomplete: bool = False, period: int | None = None) -> tuple:
    """(sheets, skipped): the inventory's sheets, and why customers were left out when skip_incomplete.

    period is the year the units' consumption is reported for (this year by default). GestionaError lists
    every customer that cannot be exported (unless skip_incomplete) and every conflict."""
    if not customers:
        raise GestionaError("customers: the register is empty; add customers with opsm customers import")
    skipped = incomplete(customers)
    placed = [customer._replace(region=region(customer.region)) for customer in customers
              if not _missing(customer)]
    errors = ([] if skip_incomplete else skipped) + conflicts(placed)
    if errors:
        raise GestionaError("\n".join(errors))
    if not placed:
        raise GestionaError("customers: none has every field the inventory needs; the inventory would be empty")
    this_year = datetime.date.today().year
    metered = [customer for customer in placed if customer.device_id]
    shared = _shared_meters(metered)
    sheets = [_buildings(placed), _unit_sheet(placed, shared, this_year), _energies(placed),
              _client_numbers(placed, shared), _meters(metered, shared), _report_status(placed, period or this_year)]
    return sheets, skipped


def _widths(sheet: Sheet) -> list:
    """Characters per column: the longest cell, header included, within reason."""
    return [min(_MAX_WIDTH, 2 + max(len(str(value)) for value in column if value is not None))
            for column in zip(sheet.headers, *sheet.rows)]


def _validation(check, lists: dict) -> dict:
    """xlsxwriter's data validation for a check: a drop-down of the list on the hidden sheet, or a range."""
    if isinstance(check, Range):
        whole = check.kind == "integer"
        return {"validate": check.kind, "criteria": "between", "minimum": check.low, "maximum": check.high,
                "error_title": "Valor fuera de rango",
                "error_message": "Debe ser un número %sentre %s y %s" % ("entero " if whole else "", check.low,
                                                                         check.high)}
    return {"validate": "list", "source": lists[check], "error_title": "Valor no permitido",
            "error_message": "Elija un valor de la lista"}


def _write_lists(book, sheets: list) -> dict:
    """The platform's lists on a hidden sheet, one per column (an inline list holds at most 255 characters and
    no commas, which "No, otro servicio público" has): words -> the range a drop-down takes."""
    from xlsxwriter.utility import xl_range_abs

    words = list(dict.fromkeys(check for sheet in sheets for check in sheet.checks.values()
                               if not isinstance(check, Range)))
    page = book.add_worksheet(_LISTS)
    for column, values in enumerate(words):
        page.write_column(0, column, values)
    page.hide()
    return {values: "=%s!%s" % (_LISTS, xl_range_abs(0, column, len(values) - 1, column))
            for column, values in enumerate(words)}


def write(path: str, sheets: list) -> None:
    """The workbook: each sheet's header row bold and frozen, columns as wide as their text, the platform's
    lists and ranges checked in their columns.

    Built in memory and written in one go, so a full disk fails in our write (an OSError that
    outfile.replacing reports) and leaves no half-written archive for xlsxwriter to retry on exit."""
    import xlsxwriter

    buffer = io.BytesIO()
    # names such as "=..." or "http://..." are text here, never formulas or links
    book = xlsxwriter.Workbook(buffer, {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True})
    header = book.add_format({"bold": True})
    pages = [book.add_worksheet(sheet.name) for sheet in sheets]
    lists = _write_lists(book, sheets)
    for sheet, page in zip(sheets, pages):
        page.write_row(0, 0, sheet.headers, header)
        for n, row in enumerate(sheet.rows, 1):
            page.write_row(n, 0, row)
        page.freeze_panes(1, 0)
        for column, width in enumerate(_widths(sheet)):
            page.set_column(column, column, width)
        for name, check in sheet.checks.items():
            column = sheet.headers.index(name)
            page.data_validation(1, column, _LAST_ROW, column, _validation(check, lists))
    book.close()
    with open(path, "wb") as out:
        out.write(buffer.getvalue())


def export(path: str, sheets: list) -> None:
    """The workbook at `path`, whole or not at all (an existing one stays as it was on failure)."""
    with outfile.replacing(path) as temporary:
        write(temporary, sheets)
