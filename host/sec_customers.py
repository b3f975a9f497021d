"""Each customer's records in the SEC feed (Anexo 1, sections 4 and 5), one per stored row or month, so that
one changed reading, bill or document changes one record:
    cliente            rut -> nombre, correo, teléfono, dirección, comuna, región, N° de cliente, medidor,
                       capacidad del empalme (the customer register)
    suministro         rut -> transformador, dia_facturacion, generacion: the supply's technical data and
                       billing date (none for a supply that names nothing)
    consumo_cargo      rut, mes -> consumo_kwh, cargo_centavos, moneda: the 36 months ending at the as_of month
    consumo_inyeccion  rut, mes -> consumo_kwh, inyeccion_kwh: the 12 months ending at the as_of month
    boleta             rut, numero -> tipo (suministro, or inyeccion: an annex), emitida, periodo, kWh, monto_clp,
                       pdf_sha256: every bill and annex issued up to the as_of day, as a reference (the PDF
                       stays with the distributor; its hash lets SEC check a copy)
    contrato_eg        rut -> forma and fecha de liquidación, fecha del contrato, potencia instalada, ubicación
    remanente          rut, mes -> monto_clp: the 5 years ending at the as_of month, as the platform shows them
    documento          rut, archivo -> tipo, pdf_sha256: the copies of documents, as references
    registro           medidor, obis -> valor, unidad, leido_en: the newest reading of each register of a
                       customer's meter (IEC 62056-6-1 codes, units of protocol/registers.py)
Months are local to the customer's meter (readings.timezone). Nothing after the end of the as_of day counts:
a month not ended by then has null consumption and charges (a month in progress would change every day),
registers read and bills issued later are left out. They are read through the platform's store methods
(host/store/supplies.py), so the feed holds what the pages show.
"""

import dataclasses
import datetime
import hashlib

from opsm.host import readings
from opsm.host.store.supplies import BILL_KINDS, REMANENTE_YEARS
from opsm.protocol import registers as regmap
from opsm.protocol.modbus_map import UNIT_NAMES

CHARGE_MONTHS, INJECTION_MONTHS = 36, 12  # Anexo 1, 5.2 III and IV
DEFAULT_CURRENCY = "CLP"
UNITS = {row.obis: UNIT_NAMES.get(row.unit) or None for row in regmap.REGISTERS}  # OBIS -> unit name
_CUSTOMER_COLUMNS = ("customer_id", "name", "email", "phone", "address", "comuna", "region", "client_number",
                     "device_id", "connected_kw")
_CLIENTE_FIELDS = ("nombre", "correo", "telefono", "direccion", "comuna", "region", "numero_cliente", "medidor",
                   "capacidad_empalme_kw")


@dataclasses.dataclass(frozen=True)
class Record:
    type: str
    key: dict
    data: dict

    def operation(self, op: str) -> dict:
        return {"op": op, "type": self.type, "key": self.key, "data": self.data}


def day_end(as_of: datetime.date, tz) -> int:
    """Seconds since 1970 of the local midnight ending `as_of`: nothing after it is reported."""
    following = as_of + datetime.timedelta(days=1)
    return int(datetime.datetime(following.year, following.month, following.day, tzinfo=tz).timestamp())


def utc_text(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def location(row: dict) -> dict | None:
    """Ubicación as the distributor gave it (UTM x, y, datum, zona) and in WGS84 (lon, lat); None when unknown."""
    place = {"x": row["x"], "y": row["y"], "datum": row["datum"], "zona": row["zone"], "lon": row["lon"],
             "lat": row["lat"]}
    return None if all(value is None for value in place.values()) else place


def pdf_sha256(pdf) -> str | None:
    return None if pdf is None else hashlib.sha256(bytes(pdf)).hexdigest()


def customers(store, distributor: str) -> list:
    """The feed's customers, as dicts by column name, in customer_id order."""
    return [{column: row[column] for column in _CUSTOMER_COLUMNS}
            for row in store.customers_of_distributor(distributor)]


def cliente(customer: dict) -> Record:
    values = [customer[column] for column in _CUSTOMER_COLUMNS[1:]]
    return Record("cliente", {"rut": customer["customer_id"]}, dict(zip(_CLIENTE_FIELDS, values)))


def suministro(store, rut: str) -> list:
    general, technical = store.customer_general(rut), store.customer_technical(rut)
    data = {"transformador": technical["transformer"], "dia_facturacion": general["billing_day"],
            "generacion": general["generation"]}
    return [Record("suministro", {"rut": rut}, data)] if any(data.values()) else []


# --- consumption and charges -------------------------------------------------------------

def currency_of(store, customer_id: str) -> str:
    """The currency of the customer's charges (CLP before the first one)."""
    found = store.charge_currencies(customer_id)
    if len(found) > 1:
        raise ValueError("charges: customer %r is charged in %s; the SEC feed takes one currency per customer"
                         % (customer_id, " and ".join(found)))
    return found[0] if found else DEFAULT_CURRENCY


def kwh(store, device_id, obis: str, months: list, tz) -> list:
    """The register's growth in each month in kWh, None where unknown (or without a meter)."""
    if not device_id:
        return [None] * len(months)
    return [None if wh is None else wh / 1000 for wh in readings.monthly(store, device_id, obis, months, tz)]


def ended_only(values: list, ended: list) -> list:
    return [value if done else None for value, done in zip(values, ended)]


def monthly_records(store, customer: dict, as_of: datetime.date) -> list:
    """consumo_cargo for 36 months and consumo_inyeccion for 12, ending at the as_of month."""
    rut, device = customer["customer_id"], customer["device_id"]
    tz = readings.timezone(store, device)
    months = readings.months_ending(as_of.strftime("%Y-%m"), CHARGE_MONTHS)
    ended = [readings.month_start(readings.shift(month, 1), tz) <= day_end(as_of, tz) for month in months]
    # the platform's own figures (the meter's energy, else the bill's; a month's bill, else the register's
    # charges), so the feed holds what the customer's pages show
    shown = store.customer_months(rut, months[-1], CHARGE_MONTHS)
    consumption = ended_only([month["consumption_kwh"] for month in shown], ended)
    register = readings.monthly_charges(store, rut, months, tz)
    charges = ended_only([month["charges_clp"] * 100 if month["charges_from"] == "bill" else cents
                          for month, cents in zip(shown, register)], ended)
    recent = months[-INJECTION_MONTHS:]
    injection = ended_only([month["injection_kwh"] for month in shown[-INJECTION_MONTHS:]], ended[-INJECTION_MONTHS:])
    currency = currency_of(store, rut)
    records = [Record("consumo_cargo", {"rut": rut, "mes": month},
                      {"consumo_kwh": used, "cargo_centavos": charged, "moneda": currency})
               for month, used, charged in zip(months, consumption, charges)]
    return records + [Record("consumo_inyeccion", {"rut": rut, "mes": month},
                             {"consumo_kwh": used, "inyeccion_kwh": injected})
                      for month, used, injected in zip(recent, consumption[-INJECTION_MONTHS:], injection)]


# --- bills, the EG's contract and remanentes, documents -----------------------------------

def boletas(store, rut: str, as_of: datetime.date) -> list:
    """Every bill and annex of injection issued up to the as_of day, oldest first."""
    numbers = [bill["number"] for kind in BILL_KINDS for bill in store.customer_bills(rut, kind, None)
               if bill["issued_on"] <= as_of.isoformat()]
    rows = sorted((store.customer_bill(rut, number) for number in numbers),
                  key=lambda row: (row["issued_on"], row["number"]))
    return [Record("boleta", {"rut": rut, "numero": row["number"]}, {
        "tipo": row["kind"], "emitida": row["issued_on"], "periodo": row["period"],
        "kwh_consumidos": row["kwh_consumed"], "kwh_inyectados": row["kwh_injected"], "monto_clp": row["amount_clp"],
        "pdf_sha256": pdf_sha256(row["pdf"])}) for row in rows]


def contrato_eg(store, rut: str) -> list:
    contract = store.generation_contract(rut)
    if contract is None:
        return []
    return [Record("contrato_eg", {"rut": rut}, {
        "forma_liquidacion": contract["liquidation_form"], "fecha_liquidacion": contract["liquidation_date"],
        "fecha_contrato": contract["contract_date"], "potencia_instalada_kw": contract["installed_kw"],
        "ubicacion": location(contract)})]


def remanentes(store, rut: str, as_of: datetime.date) -> list:
    rows = store.customer_remanentes(rut, as_of.strftime("%Y-%m"), REMANENTE_YEARS)
    return [Record("remanente", {"rut": rut, "mes": row["month"]}, {"monto_clp": row["amount_clp"]})
            for row in reversed(rows)]


def documentos(store, rut: str) -> list:
    out = []
    for document in store.customer_documents(rut):
        pdf = store.customer_document(rut, document["file_name"])["pdf"]
        out.append(Record("documento", {"rut": rut, "archivo": document["file_name"]},
                          {"tipo": document["kind"], "pdf_sha256": pdf_sha256(pdf)}))
    return out


def customer_records(store, customer: dict, as_of: datetime.date) -> list:
    """Every record of one customer but its meter's registers (a meter may supply several customers)."""
    rut = customer["customer_id"]
    return ([cliente(customer)] + suministro(store, rut) + monthly_records(store, customer, as_of)
            + boletas(store, rut, as_of) + contrato_eg(store, rut) + remanentes(store, rut, as_of)
            + documentos(store, rut))


def register_records(store, device_id: str, as_of: datetime.date) -> list:
    """The newest reading of each register the meter reported up to the end of the as_of day."""
    end = day_end(as_of, readings.timezone(store, device_id))
    return [Record("registro", {"medidor": device_id, "obis": obis},
                   {"valor": value if text is None else text, "unidad": UNITS.get(obis), "leido_en": utc_text(read_at)})
            for obis, read_at, value, text in store.newest_register_values(device_id, until=end)]
