"""The unit inventory for Chile's Gestiona Energía platform (Ministerio de Energía), as an .xlsx workbook.

The platform's guide ("Guía para la Actualización del Inventario de Unidades", 2022) places every
supply in a building (Edificio: Calle y Número, Comuna, Provincia, Región), a unit inside it
(Unidad), the distributor's client number (N° de Cliente) and the meters under that number
(Medidores); the workbook has one sheet for each, in the platform's words. The customer register
(host/customers.py) holds those fields. A meter's number is the serial the harvester read from it,
or the register's device_id while it has not been harvested. A meter is shared (Medidor Compartido)
when the register says so or when it supplies more than one unit.
"""

import collections
import io

from opsm.host import outfile

# Without these a customer has no place in the platform's tree of building, unit and supply.
PLACING = ("building", "unit", "client_number")
# Facts of a building, a supply or a meter: every customer on the same one must state them alike.
AGREEMENTS = (
    ("building", ("comuna", "provincia", "region")),
    ("client_number", ("distributor", "tariff", "connected_kw")),
    ("device_id", ("client_number", "smart")),
)
_MAX_WIDTH = 60

Customer = collections.namedtuple("Customer", "customer_id device_id meter building comuna provincia region unit "
                                              "client_number distributor tariff connected_kw smart shared bill_access")
Sheet = collections.namedtuple("Sheet", "name headers rows")


class GestionaError(ValueError):
    """Every problem found, one per line."""


def load(store) -> list:
    """The register's customers with their meter numbers, by customer_id (the same order in every database)."""
    flags = ("smart", "shared", "bill_access")
    customers = (Customer(**{field: bool(row[field]) if field in flags else row[field] for field in Customer._fields})
                 for row in store.customers_with_meter_numbers())
    return sorted(customers, key=lambda customer: customer.customer_id)


def _yes_no(flag: bool) -> str:
    return "Sí" if flag else "No"


def _stated(value) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "nothing" if value is None else repr(value)


def _placed(customer) -> bool:
    return all(getattr(customer, field) for field in PLACING)


def unplaced(customers) -> list:
    """One message per customer and missing field that keeps it out of the inventory."""
    return ["customer %r: %s: must not be empty to place the customer in the inventory" % (customer.customer_id, field)
            for customer in customers for field in PLACING if not getattr(customer, field)]


def _disagreements(key: str, fields: tuple, first, customer) -> list:
    return ["%s %r: %s: customer %r has %s but customer %r has %s; customers on the same %s must agree" % (
        key, getattr(customer, key), field, first.customer_id, _stated(getattr(first, field)), customer.customer_id,
        _stated(getattr(customer, field)), key)
        for field in fields if getattr(customer, field) != getattr(first, field)]


def conflicts(customers) -> list:
    """One message per customer who states a building's, supply's or meter's fact unlike the first who stated it."""
    errors = []
    for key, fields in AGREEMENTS:
        first: dict = {}
        for customer in customers:
            if getattr(customer, key) is None:
                continue  # a customer without a meter shares no meter facts
            errors += _disagreements(key, fields, first.setdefault(getattr(customer, key), customer), customer)
    return errors


def _grouped(customers, key) -> dict:
    """Customers by key, keys in order: the platform's lists are deduplicated and stable."""
    groups = collections.defaultdict(list)
    for customer in customers:
        groups[key(customer)].append(customer)
    return {k: groups[k] for k in sorted(groups)}


def _shared_meters(metered) -> set:
    """device_ids of the shared meters."""
    return {device_id for device_id, group in _grouped(metered, lambda c: c.device_id).items()
            if any(c.shared for c in group) or len({(c.building, c.unit) for c in group}) > 1}


def _buildings(customers) -> Sheet:
    rows = [(building, group[0].comuna, group[0].provincia, group[0].region)
            for building, group in _grouped(customers, lambda c: c.building).items()]
    return Sheet("Edificios", ("Calle y Número", "Comuna", "Provincia", "Región"), rows)


def _units(customers, shared: set) -> Sheet:
    rows = [(unit, building, _yes_no(any(c.bill_access for c in group)),
             _yes_no(any(c.device_id in shared for c in group)))
            for (building, unit), group in _grouped(customers, lambda c: (c.building, c.unit)).items()]
    return Sheet("Unidades", ("Nombre Unidad", "Edificio", "Tiene acceso a las facturas",
                              "¿Tiene algún medidor compartido?"), rows)


def _client_numbers(customers, shared: set) -> Sheet:
    rows = []
    for number, group in _grouped(customers, lambda c: c.client_number).items():
        meters = {c.device_id for c in group if c.device_id}
        shared_here = len(meters & shared)
        rows.append((number, group[0].distributor, group[0].tariff, group[0].connected_kw,
                     len(meters) - shared_here, shared_here, len(meters)))
    return Sheet("N° de Cliente", ("N° de Cliente", "Empresa Distribuidora", "Tipo de Tarifa",
                                   "Potencia Conectada (kW)", "N° Medidores Exclusivos", "N° Medidores Compartidos",
                                   "Total Medidores"), rows)


def _meters(metered, shared: set) -> Sheet:
    """One row per meter and unit it supplies: the platform asks each unit whether the meter's bills reach it."""
    groups = _grouped(metered, lambda c: (c.client_number, c.meter, c.building, c.unit))
    rows = [(meter, number, unit, building, _yes_no(group[0].smart), _yes_no(group[0].device_id in shared),
             _yes_no(any(c.bill_access for c in group)))
            for (number, meter, building, unit), group in groups.items()]
    return Sheet("Medidores", ("N° de Medidor", "N° de Cliente", "Unidad", "Edificio", "Medidor Inteligente",
                               "Medidor Compartido", "Tiene acceso a la factura"), rows)


def inventory(customers, skip_incomplete: bool = False) -> tuple:
    """(sheets, skipped): the four sheets, and why customers were left out when skip_incomplete.

    GestionaError lists every customer that cannot be placed (unless skip_incomplete) and every conflict."""
    if not customers:
        raise GestionaError("customers: the register is empty; add customers with opsm customers import")
    skipped = unplaced(customers)
    placed = [customer for customer in customers if _placed(customer)]
    errors = ([] if skip_incomplete else skipped) + conflicts(placed)
    if errors:
        raise GestionaError("\n".join(errors))
    if not placed:
        raise GestionaError("customers: none has building, unit and client_number; the inventory would be empty")
    metered = [customer for customer in placed if customer.device_id]
    shared = _shared_meters(metered)
    sheets = [_buildings(placed), _units(placed, shared), _client_numbers(placed, shared), _meters(metered, shared)]
    return sheets, skipped


def _widths(sheet: Sheet) -> list:
    """Characters per column: the longest cell, header included, within reason."""
    return [min(_MAX_WIDTH, 2 + max(len(str(value)) for value in column if value is not None))
            for column in zip(sheet.headers, *sheet.rows)]


def write(path: str, sheets: list) -> None:
    """The workbook: each sheet's header row bold and frozen, columns as wide as their text.

    Built in memory and written in one go, so a full disk fails in our write (an OSError that
    outfile.replacing reports) and leaves no half-written archive for xlsxwriter to retry on exit."""
    import xlsxwriter

    buffer = io.BytesIO()
    # names such as "=..." or "http://..." are text here, never formulas or links
    book = xlsxwriter.Workbook(buffer, {"strings_to_formulas": False, "strings_to_urls": False, "in_memory": True})
    header = book.add_format({"bold": True})
    for sheet in sheets:
        page = book.add_worksheet(sheet.name)
        page.write_row(0, 0, sheet.headers, header)
        for n, row in enumerate(sheet.rows, 1):
            page.write_row(n, 0, row)
        page.freeze_panes(1, 0)
        for column, width in enumerate(_widths(sheet)):
            page.set_column(column, column, width)
    book.close()
    with open(path, "wb") as out:
        out.write(buffer.getvalue())


def export(path: str, sheets: list) -> None:
    """The workbook at `path`, whole or not at all (an existing one stays as it was on failure)."""
    with outfile.replacing(path) as temporary:
        write(temporary, sheets)
