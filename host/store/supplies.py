"""Each customer's supply as the information platform shows it (SEC, Anexo 1, sections 3 to 5): the supply
(transformer, billing day, generation), bills and annexes of injection, an EG's contract and remanentes,
documents, and the monthly energies and charges its charts draw.

Customers are the register's (customers.customer_id, a RUT); the register keeps the name, address,
comuna, region, e-mail, phone, N° de cliente (client_number), meter (device_id) and capacidad del empalme
(connected_kw). Money is whole pesos (CLP). Rows come back as dicts by column name; lists leave a PDF's
bytes out, the one-item lookups bring them.
"""

import datetime
import zoneinfo

from opsm.host import readings
from opsm.host.store.database import rows_window
from opsm.host.store.network import like, upsert
from opsm.protocol import registers as regmap
from opsm.protocol.modbus_map import UNIT_NAMES

_LOCATION = ("x", "y", "datum", "zone", "lon", "lat")
# kind -> (table, key columns, columns), in the order a batch is written
TABLES = {
    "supply": ("supplies", ("customer_id",), ("customer_id", "transformer", "billing_day", "generation")),
    "bill": ("bills", ("customer_id", "number"), ("customer_id", "number", "kind", "issued_on", "period",
                                                  "kwh_consumed", "kwh_injected", "amount_clp", "pdf")),
    "generation_contract": ("generation_contracts", ("customer_id",), (
        "customer_id", "liquidation_form", "liquidation_date", "contract_date", "installed_kw") + _LOCATION),
    "remanente": ("remanentes", ("customer_id", "month"), ("customer_id", "month", "amount_clp")),
    "document": ("customer_documents", ("customer_id", "file_name"), ("customer_id", "file_name", "kind", "pdf")),
}
BILL_KINDS = ("suministro", "inyeccion")
CHARGE_MONTHS, INJECTION_MONTHS, BILLS_SHOWN, REMANENTE_YEARS = 36, 12, 36, 5  # Anexo 1, 5.2 III, IV, V, VII
SEARCHES = ("number", "address", "rut")
_BILL_LIST = "number, kind, issued_on, period, kwh_consumed, kwh_injected, amount_clp, pdf IS NOT NULL AS has_pdf"
_REGISTERS = {row.obis: row for row in regmap.REGISTERS}
_CUSTOMER = ("customer_id", "name", "email", "phone", "address", "comuna", "region", "client_number", "device_id",
             "connected_kw")


class SupplyTables:
    # --- writing ---------------------------------------------------------------------------

    def save_supplies(self, batch: dict) -> dict:
        """Insert or update every row of `batch` (kind of TABLES -> dicts by column, generation a bool) in one
        transaction; the number of rows of each kind given."""
        with self.transaction():
            for kind, (table, key, columns) in TABLES.items():
                rows = [tuple(int(row[c]) if c == "generation" else row.get(c) for c in columns)
                        for row in batch.get(kind, ())]
                upsert(self, table, key, columns, rows)
        return {kind: len(rows) for kind, rows in batch.items()}

    def customers_with_generation(self) -> set:
        """The customer_id of every supply with generation (EG)."""
        return {row[0] for row in self.query("SELECT customer_id FROM supplies WHERE generation = 1")}

    def supply_counts(self) -> dict:
        """kind -> the number of rows stored, for every kind of TABLES."""
        return {kind: self.query("SELECT COUNT(*) FROM %s" % table)[0][0] for kind, (table, _, _) in TABLES.items()}

    # --- finding a customer ----------------------------------------------------------------

    def customer_of_number(self, number: str) -> str | None:
        """The customer_id of the customer with N° de cliente `number`."""
        rows = self.query("SELECT customer_id FROM customers WHERE client_number = ? ORDER BY customer_id LIMIT 1",
                          (number.strip(),))
        return rows[0][0] if rows else None

    def transformer_of_customer(self, number: str) -> dict | None:
        """transformer() of the transformer supplying the customer with N° de cliente `number`."""
        rows = self.query("SELECT s.transformer FROM supplies s JOIN customers c ON c.customer_id = s.customer_id "
                          "WHERE c.client_number = ? AND s.transformer IS NOT NULL ORDER BY c.customer_id LIMIT 1",
                          (number.strip(),))
        return self.transformer(rows[0][0]) if rows else None

    def find_customers(self, by: str, text: str, limit: int = 50) -> list:
        """The SEC's search: customers whose N° de cliente (by "number"), address ("address") or RUT ("rut",
        written with or without dots) contains `text`, any case, by name, at most `limit`:
        [{customer_id, name, address, comuna, client_number, generation}]."""
        column = {"number": "c.client_number", "address": "c.address", "rut": "c.customer_id"}[by]
        if by == "rut":
            text = "".join(text.replace(".", "").split())
        return [dict(row, generation=bool(row["generation"])) for row in self.dicts(
            "SELECT c.customer_id, c.name, c.address, c.comuna, c.client_number, COALESCE(s.generation, 0) AS "
            "generation FROM customers c LEFT JOIN supplies s ON s.customer_id = c.customer_id WHERE LOWER(%s) "
            "LIKE ? ESCAPE '!' ORDER BY c.name, c.customer_id LIMIT %d" % (column, int(limit)), (like(text),))]

    # --- a customer's pages ----------------------------------------------------------------

    def customer_general(self, customer_id: str) -> dict | None:
        """Información general: {customer_id (the RUT), name, email, phone, address, comuna, region,
        client_number, device_id, connected_kw, billing_day, generation (a bool)}."""
        rows = self.dicts("SELECT %s, s.billing_day, COALESCE(s.generation, 0) AS generation FROM customers c "
                          "LEFT JOIN supplies s ON s.customer_id = c.customer_id WHERE c.customer_id = ?" % ", ".join(
                              "c." + column for column in _CUSTOMER), (customer_id,))
        return dict(rows[0], generation=bool(rows[0]["generation"])) if rows else None

    def customer_technical(self, customer_id: str) -> dict | None:
        """Información técnica: {service_kw (capacidad del empalme), transformer, transformer_name,
        transformer_kva, transformer_voltage, feeder, feeder_name}; the transformer's fields None when the
        supply names none."""
        rows = self.dicts("""SELECT c.connected_kw AS service_kw, t.id AS transformer, t.name AS transformer_name,
                             t.capacity_kva AS transformer_kva, t.voltage AS transformer_voltage, f.id AS feeder,
                             f.name AS feeder_name FROM customers c
                             LEFT JOIN supplies s ON s.customer_id = c.customer_id
                             LEFT JOIN transformers t ON t.id = s.transformer LEFT JOIN feeders f ON f.id = t.feeder
                             WHERE c.customer_id = ?""", (customer_id,))
        return rows[0] if rows else None

    def customer_months(self, customer_id: str, last_month: str | None = None, count: int = CHARGE_MONTHS) -> list:
        """The `count` months ending `last_month` (default: the customer's newest bill's period, else the month
        before this one), oldest first: {month, consumption_kwh, consumption_from, injection_kwh,
        injection_from, charges_clp, charges_from, injection_clp, net_clp}. Energies come from the harvested meter
        (from "meter": its profile captures at the month's boundaries, in the meter's time zone) and, for a
        month it does not cover, from the bills (from "bill"); None, and from None, when neither knows.
        charges_clp are the supply bills' amounts (charges_from "bill"), or for a month without one the
        register's charges in CLP (a prepaid customer's purchases; "register"); injection_clp the annexes of
        injection's; net_clp the charges less the injection."""
        device = self.query("SELECT device_id FROM customers WHERE customer_id = ?", (customer_id,))
        device = device[0][0] if device else None
        tz = readings.timezone(self, device) if device else zoneinfo.ZoneInfo("UTC")
        if last_month is None:
            newest = self.query("SELECT MAX(period) FROM bills WHERE customer_id = ?", (customer_id,))[0][0]
            last_month = newest or readings.shift(datetime.datetime.now(tz).strftime("%Y-%m"), -1)
        months = readings.months_ending(last_month, count)
        # PostgreSQL sums BIGINT columns as NUMERIC (Decimal): whole pesos are ints on both
        billed = {(period, kind): (used, injected, None if amount is None else int(amount))
                  for period, kind, used, injected, amount in self.query(
            "SELECT period, kind, SUM(kwh_consumed), SUM(kwh_injected), SUM(amount_clp) FROM bills WHERE "
            "customer_id = ? AND period >= ? AND period <= ? GROUP BY period, kind", (customer_id, months[0],
                                                                                     months[-1]))}
        metered = {obis: readings.monthly(self, device, obis, months, tz) if device else [None] * count
                   for obis in (readings.IMPORT_WH, readings.EXPORT_WH)}
        charged = [cents // 100 for cents in readings.monthly_charges(self, customer_id, months, tz)] \
            if self.charge_currencies(customer_id) == ["CLP"] else [None] * count
        out = []
        for n, month in enumerate(months):
            supply, annex = billed.get((month, "suministro")), billed.get((month, "inyeccion"))
            used, used_from = _energy(metered[readings.IMPORT_WH][n], supply[0] if supply else None)
            injected, injected_from = _energy(metered[readings.EXPORT_WH][n], annex[1] if annex else None)
            charges = supply[2] if supply else charged[n]
            credit = annex[2] if annex else None
            out.append({"month": month, "consumption_kwh": used, "consumption_from": used_from,
                        "injection_kwh": injected, "injection_from": injected_from, "charges_clp": charges,
                        "charges_from": "bill" if supply else ("register" if charges is not None else None),
                        "injection_clp": credit,
                        "net_clp": None if charges is None else charges - (credit or 0)})
        return out

    def customer_bills(self, customer_id: str, kind: str = "suministro",
                       limit: int | None = BILLS_SHOWN) -> list:
        """The customer's newest `limit` (None: all) bills of `kind` ("suministro", or "inyeccion": annexes of
        injection), newest first: {number, kind, issued_on, period, kwh_consumed, kwh_injected, amount_clp,
        has_pdf}."""
        return [dict(row, has_pdf=bool(row["has_pdf"])) for row in self.dicts(
            "SELECT %s FROM bills WHERE customer_id = ? AND kind = ? ORDER BY period DESC, issued_on DESC, number "
            "DESC %s" % (_BILL_LIST, rows_window(limit)), (customer_id, kind))]

    def customer_bill(self, customer_id: str, number: str) -> dict | None:
        """The customer's bill or annex `number`: every column, pdf its bytes (or None)."""
        rows = self.dicts("SELECT * FROM bills WHERE customer_id = ? AND number = ?", (customer_id, number.strip()))
        return rows[0] if rows else None

    def generation_contract(self, customer_id: str) -> dict | None:
        """The EG's connection contract: {customer_id, liquidation_form, liquidation_date, contract_date,
        installed_kw, x, y, datum, zone, lon, lat}."""
        rows = self.dicts("SELECT * FROM generation_contracts WHERE customer_id = ?", (customer_id,))
        return rows[0] if rows else None

    def customer_remanentes(self, customer_id: str, last_month: str | None = None,
                            years: int = REMANENTE_YEARS) -> list:
        """[{month, amount_clp}] of the remanentes of the `years` years ending `last_month` (default: the
        newest stored), newest first."""
        if last_month is None:
            last_month = self.query("SELECT MAX(month) FROM remanentes WHERE customer_id = ?", (customer_id,))[0][0]
            if last_month is None:
                return []
        return self.dicts("SELECT month, amount_clp FROM remanentes WHERE customer_id = ? AND month > ? AND "
                          "month <= ? ORDER BY month DESC", (customer_id, readings.shift(last_month, -12 * years),
                                                             last_month))

    def customer_documents(self, customer_id: str) -> list:
        """[{file_name, kind}] of the customer's documents (contrato, protocolo, estudio, otro), by kind and name."""
        return self.dicts("SELECT file_name, kind FROM customer_documents WHERE customer_id = ? ORDER BY kind, "
                          "file_name", (customer_id,))

    def customer_document(self, customer_id: str, file_name: str) -> dict | None:
        """{customer_id, file_name, kind, pdf (bytes)}."""
        rows = self.dicts("SELECT * FROM customer_documents WHERE customer_id = ? AND file_name = ?",
                          (customer_id, file_name))
        return rows[0] if rows else None

    def customer_registers(self, customer_id: str) -> list:
        """The newest harvested value of every register of the customer's meter, by OBIS code (IEC 62056-6-1):
        [{obis, name_es, name_en, unit, read_at, value, text}]; value in the unit (Wh, W, V...), text for a
        register that is text (the serial). [] without a harvested meter."""
        device = self.query("SELECT device_id FROM customers WHERE customer_id = ?", (customer_id,))
        if not device or not device[0][0]:
            return []
        out = []
        for obis, read_at, value, text in self.newest_register_values(device[0][0]):
            row = _REGISTERS.get(obis)
            out.append({"obis": obis, "name_es": row.name_es if row else None, "name_en": row.name_en if row else None,
                        "unit": UNIT_NAMES.get(row.unit) if row else None, "read_at": read_at, "value": value,
                        "text": text})
        return out


def _energy(metered, billed) -> tuple:
    """(kWh, where it comes from): the meter's when it knows the month, else the bill's."""
    if metered is not None:
        return metered / 1000, "meter"
    if billed is not None:
        return billed, "bill"
    return None, None
