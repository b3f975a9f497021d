"""A customer's pages of the information platform (SEC, Anexo 1, sections 4 and 5, and the SEC's search of 3.2),
each built from the store as one Page: the routes (customer_pages.py) show it, print it and save it as a PDF
from the same object.

A customer is addressed by its N° de cliente, as the SEC's list links it (fig. 21). The functions here take
what the store's methods return (customer_general first: whose page it is) and write no SQL and check no
access: the routes have decided who may see it. Money is whole pesos; energies kWh; a value the store does not
know is written MISSING, never zero.
"""

import datetime
import math
import urllib.parse

from opsm.host import readings
from opsm.host.portal import maps
from opsm.host.portal.page import (MISSING, Bars, Feature, Fields, Grid, Map, Page, Series, Text, day, moment,
                                   month_name, number, quantity)
from opsm.host.store.supplies import CHARGE_MONTHS

SEARCHES = {"numero": ("number", "N° de cliente"), "direccion": ("address", "Dirección"), "rut": ("rut", "RUT")}
REMANENTES_PER_PAGE = 12  # a year a page: the Anexo's 5 years in 5 pages (fig. 37)
DISPLAYED = (readings.IMPORT_WH, readings.EXPORT_WH)  # energy consumed and injected: what the display verifies
DOCUMENT_KINDS = {"contrato": "Contrato de conexión", "protocolo": "Protocolo de conexión",
                  "estudio": "Estudio de conexión", "otro": "Otro documento"}
SOURCES = {"meter": "medidor", "bill": "boleta", None: MISSING}
# The categories of fig. 24 (every customer) and fig. 30 (EG): (path under the customer, title)
CATEGORIES = (("general", "Información general"), ("tecnica", "Información técnica"),
              ("consumos", "Consumos y cargos"))
EG_CATEGORIES = (("inyecciones", "Consumos e inyecciones"), ("boletas", "Boletas, facturas y anexos de inyección"),
                 ("historial", "Historial de lectura y facturación"), ("remanentes", "Remanentes"),
                 ("medidor", "Display y registros del medidor"), ("documentos", "Documentos y ubicación"))


def url(general: dict, *parts: str) -> str:
    """The address of one of the customer's pages: /clientes/<N° de cliente>/<parts>."""
    return "/".join(["/clientes", urllib.parse.quote(general["client_number"], safe="")] +
                    [urllib.parse.quote(part, safe="") for part in parts])


def shows_generation(general: dict, profile: str) -> bool:
    """The EG pages are for an EG's own account and for the SEC, when the customer has generation."""
    return general["generation"] and profile in ("eg", "sec")


def _trail(general: dict, title: str | None = None) -> tuple:
    """The customer's index, then this page (the page itself is never a link)."""
    label = "Cliente N° %s" % general["client_number"]
    return ((label, url(general)), (title, None)) if title else ((label, None),)


def _page(general: dict, title: str, sections: list) -> Page:
    """A page of the customer's, titled with whose it is (a printed or saved page says it by itself)."""
    return Page("%s — %s" % (title, general["name"]), _trail(general, title), tuple(sections))


def _date(text: str | None) -> str:
    return day(datetime.date.fromisoformat(text)) if text else MISSING


def _energy(kwh) -> str:
    return quantity(kwh, "kWh")


def _pesos(amount) -> str:
    return quantity(amount, "$")


# --- every customer (section 4) -------------------------------------------------------------------------------

def index(general: dict, profile: str) -> Page:
    """The customer's categories (fig. 24, and fig. 30 for an EG), each a link."""
    categories = CATEGORIES + (EG_CATEGORIES if shows_generation(general, profile) else ())
    rows = tuple((title,) for _, title in categories)
    links = tuple((url(general, path),) for path, _ in categories)
    return Page("Cliente N° %s — %s" % (general["client_number"], general["name"]), _trail(general),
                (Grid("Información disponible", ("Categoría",), rows, links),))


def general_info(general: dict) -> Page:
    """Información general (fig. 26, 31)."""
    billing = "Día %d de cada mes" % general["billing_day"] if general["billing_day"] else MISSING
    rows = (("RUT cliente", general["customer_id"]), ("Nombre", general["name"]),
            ("Correo", general["email"] or MISSING), ("Teléfono", general["phone"] or MISSING),
            ("Dirección", general["address"] or MISSING), ("Comuna", general["comuna"] or MISSING),
            ("Región", general["region"] or MISSING), ("N° de cliente", general["client_number"]),
            ("Fecha facturación", billing))
    return _page(general, "Información general", [Fields("Información general", rows)])


def technical_info(general: dict, technical: dict) -> Page:
    """Información técnica (fig. 27, 32): the service's capacity and the transformer that supplies it."""
    rows = (("Capacidad empalme", quantity(technical["service_kw"], "kW", 1)),
            ("Transformador", technical["transformer_name"] or MISSING),
            ("Capacidad transformador", quantity(technical["transformer_kva"], "kVA")),
            ("Tensión transformador", technical["transformer_voltage"] or MISSING),
            ("Alimentador", technical["feeder_name"] or MISSING))
    return _page(general, "Información técnica", [Fields("Información técnica", rows)])


def charges(general: dict, months: list, net: bool) -> Page:
    """Consumos y cargos (fig. 27, 33): consumption against charges, month by month, CHARGE_MONTHS months; with
    net (an EG's Historial cargos netos) the charges less the annexes of injection, month by month, as a table:
    a net charge below zero is no bar the PDF's chart, whose axes start at zero, can draw."""
    series = (Series("Consumo", [m["consumption_kwh"] for m in months], "kWh"),
              Series("Cargos", [m["charges_clp"] for m in months], "$"))
    sections = [Bars("Consumos y cargos, últimos %d meses" % len(months), tuple(m["month"] for m in months), series)]
    if net:
        sections.append(Grid("Historial cargos netos, últimos %d meses" % len(months),
                             ("Mes", "Cargos", "Inyección", "Cargos netos"),
                             tuple((month_name(m["month"]), _pesos(m["charges_clp"]), _pesos(m["injection_clp"]),
                                    _pesos(m["net_clp"])) for m in reversed(months))))
    return _page(general, "Consumos y cargos", sections)


def consumption_and_injection(general: dict, months: list) -> Page:
    """Consumos e inyecciones (fig. 34): the last 12 months' consumption against injection."""
    bars = Bars("Consumos e inyecciones, últimos %d meses" % len(months), tuple(m["month"] for m in months), (
        Series("Consumo", [m["consumption_kwh"] for m in months], "kWh"),
        Series("Inyección", [m["injection_kwh"] for m in months], "kWh")))
    return _page(general, "Consumos e inyecciones", [bars])


# --- an EG's (section 5.2) --------------------------------------------------------------------------------------

def _bill_grid(general: dict, title: str, bills: list, energy: str, energy_label: str) -> Grid:
    rows = tuple((bill["number"], month_name(bill["period"]), _date(bill["issued_on"]), _energy(bill[energy]),
                  _pesos(bill["amount_clp"])) for bill in bills)
    links = tuple((url(general, "boletas", bill["number"]), None, None, None, None) for bill in bills)
    return Grid(title, ("N° documento", "Período", "Emisión", energy_label, "Monto"), rows, links)


def bills(general: dict, supplies: list, annexes: list) -> Page:
    """Boletas/facturas de suministro and anexos de inyección (fig. 35): the newest of each, each opening."""
    return _page(general, "Boletas, facturas y anexos de inyección", [
        _bill_grid(general, "Últimas %d boletas o facturas de suministro" % len(supplies), supplies, "kwh_consumed",
                   "Consumo"),
        _bill_grid(general, "Últimos %d anexos de inyección" % len(annexes), annexes, "kwh_injected", "Inyección")])


def bill(general: dict, found: dict) -> Page:
    """A bill or annex whose PDF the distributor did not load: its data."""
    supply = found["kind"] == "suministro"
    name = ("Boleta o factura de suministro" if supply else "Anexo de inyección") + " N° %s" % found["number"]
    rows = (("N° documento", found["number"]), ("Cliente", general["name"]), ("RUT", general["customer_id"]),
            ("N° de cliente", general["client_number"]), ("Período", month_name(found["period"])),
            ("Emisión", _date(found["issued_on"])),
            ("Consumo" if supply else "Inyección", _energy(found["kwh_consumed" if supply else "kwh_injected"])),
            ("Monto", _pesos(found["amount_clp"])))
    return _page(general, name, [Fields(name, rows)])


def histories(general: dict) -> Page:
    """Historial de lectura y facturación (fig. 36): the two PDFs."""
    rows = (("Historial de lectura de consumo e inyecciones, últimos %d meses (PDF)" % CHARGE_MONTHS,),
            ("Historial de facturación de consumo e inyecciones, últimos %d meses (PDF)" % CHARGE_MONTHS,))
    links = ((url(general, "historial", "lecturas.pdf"),), (url(general, "historial", "facturacion.pdf"),))
    return _page(general, "Historial de lectura y facturación", [Grid("Descargas", ("Documento",), rows, links)])


def _holder(general: dict) -> Fields:
    return Fields("Cliente", (("Nombre", general["name"]), ("RUT", general["customer_id"]),
                              ("N° de cliente", general["client_number"]),
                              ("Medidor", general["device_id"] or MISSING)))


def reading_history(general: dict, months: list) -> Page:
    """The monthly consumption and injection read (from the meter, or the bill where the meter has no reading)."""
    rows = tuple((month_name(m["month"]), _energy(m["consumption_kwh"]), SOURCES[m["consumption_from"]],
                  _energy(m["injection_kwh"]), SOURCES[m["injection_from"]]) for m in reversed(months))
    grid = Grid("Lecturas por mes, últimos %d meses" % len(months),
                ("Mes", "Consumo", "Fuente", "Inyección", "Fuente"), rows)
    return _page(general, "Historial de lectura de consumo e inyecciones", [_holder(general), grid])


def billing_history(general: dict, months: list, supplies: list, annexes: list) -> Page:
    """Each month's bill and annex, charges, injection and net charges."""
    numbers = {(b["kind"], b["period"]): b["number"] for b in supplies + annexes}
    rows = tuple((month_name(m["month"]), numbers.get(("suministro", m["month"]), MISSING), _pesos(m["charges_clp"]),
                  numbers.get(("inyeccion", m["month"]), MISSING), _pesos(m["injection_clp"]), _pesos(m["net_clp"]))
                 for m in reversed(months))
    grid = Grid("Facturación por mes, últimos %d meses" % len(months),
                ("Mes", "Boleta N°", "Cargos", "Anexo N°", "Inyección", "Cargos netos"), rows)
    return _page(general, "Historial de facturación de consumo e inyecciones", [_holder(general), grid])


def remanente_pages(remanentes: list) -> int:
    return max(1, math.ceil(len(remanentes) / REMANENTES_PER_PAGE))


def remanentes(general: dict, remanentes: list, contract: dict | None, shown: int) -> Page:
    """Remanentes (fig. 37): page `shown` (from 1) of the last 5 years', and the contract's liquidation form and
    date."""
    first = (shown - 1) * REMANENTES_PER_PAGE
    rows = tuple((month_name(r["month"]), _pesos(r["amount_clp"]))
                 for r in remanentes[first:first + REMANENTES_PER_PAGE])
    contract = contract or {}
    terms = Fields("Liquidación según contrato", (
        ("Forma liquidación según contrato", contract.get("liquidation_form") or MISSING),
        ("Fecha de liquidación según contrato", _date(contract.get("liquidation_date")))))
    title = "Remanentes de los últimos 5 años, página %d de %d" % (shown, remanente_pages(remanentes))
    return _page(general, "Remanentes", [Grid(title, ("Periodo", "Remanente"), rows), terms])


def meter(general: dict, readout: list, registers: list) -> Page:
    """Display y medidor (fig. 38): the energies as the meter's display and readout show them, and every register
    the harvest read, by OBIS code (IEC 62056-6-1). readout: report.register_rows (OBIS, name, value as the
    readout writes it, unit), registers: store.customer_registers."""
    display = Fields("Indicadores del display (energía consumida e inyectada)", tuple(
        ("%s (%s)" % (name, obis), "%s %s" % (shown, unit)) for obis, name, shown, unit in readout
        if obis in DISPLAYED) or (("Medidor", "Sin lecturas del medidor."),))
    rows = tuple((r["obis"], r["name_es"] or MISSING, _register_value(r),
                  moment(datetime.datetime.fromtimestamp(r["read_at"], datetime.timezone.utc)))
                 for r in registers)
    grid = Grid("Registros del medidor por código OBIS (IEC 62056-6-1)", ("Código OBIS", "Registro", "Valor",
                                                                          "Leído"), rows)
    return _page(general, "Display y registros del medidor", [_holder(general), display, grid])


def _register_value(register: dict) -> str:
    """The stored value in its unit, with the decimals it has (up to 3: the unit's thousandths), or its text."""
    if register["text"] is not None or register["value"] is None:
        return register["text"] or MISSING
    decimals = len(("%.3f" % register["value"]).rstrip("0").split(".")[1])
    return quantity(register["value"], register["unit"], decimals) if register["unit"] else number(
        register["value"], decimals)


def documents(general: dict, documents: list, contract: dict | None, transformer: dict | None) -> Page:
    """Documentos (fig. 39): the contract, protocol and study to download, and the EG's location in UTM WGS84 and
    on a map (beside the transformer that supplies it)."""
    rows = tuple((DOCUMENT_KINDS.get(d["kind"], d["kind"]), d["file_name"]) for d in documents)
    links = tuple((None, url(general, "documentos", d["file_name"])) for d in documents)
    sections = [Grid("Documentos", ("Documento", "Archivo"), rows, links)]
    if contract and contract["lon"] is not None:
        utm = maps.to_utm(contract["lon"], contract["lat"])
        sections.append(Fields("Ubicación del EG (UTM, datum WGS84)", (
            ("Coordenada x", quantity(utm.x, "m")), ("Coordenada y", quantity(utm.y, "m")), ("Datum", "WGS84"),
            ("Zona", "%d %s" % (utm.zone, "Sur" if utm.south else "Norte")),
            ("Potencia instalada", quantity(contract["installed_kw"], "kW", 1)),
            ("Fecha del contrato", _date(contract["contract_date"])))))
        features = [Feature("generation", "EG cliente N° %s" % general["client_number"],
                            {"type": "Point", "coordinates": [contract["lon"], contract["lat"]]})]
        if transformer and transformer["lon"] is not None:
            features.append(Feature("transformer", transformer["name"],
                                    {"type": "Point", "coordinates": [transformer["lon"], transformer["lat"]]}))
        sections.append(Map("Ubicación del EG", tuple(features)))
    else:
        sections.append(Text("Ubicación del EG", ("Sin ubicación en el contrato de conexión.",)))
    return _page(general, "Documentos y ubicación", sections)


# --- the SEC's search (section 3.2) -------------------------------------------------------------------------------

def search_results(by: str, text: str, found: list, limit: int) -> Page:
    """DETALLE CLIENTES (fig. 21): name, RUT, address and the N° de cliente linking to the customer's pages."""
    rows = tuple((c["name"], c["customer_id"], ", ".join(p for p in (c["address"], c["comuna"]) if p) or MISSING,
                  c["client_number"]) for c in found)
    links = tuple((None, None, None, url(c)) for c in found)
    note = "%s contiene «%s»: %d cliente%s" % (SEARCHES[by][1], text, len(found), "" if len(found) == 1 else "s")
    if len(found) >= limit:
        note += " (se muestran los primeros %d; precise la búsqueda)" % limit
    grid = Grid("Detalle clientes", ("Nombre", "RUT", "Dirección", "N° cliente"), rows, links)
    return Page("Buscar cliente", (("Buscar cliente", "/sec/clientes"), ("Detalle clientes", None)),
                (Text("Búsqueda", (note,)), grid))

