"""The customer register: who is supplied through which meter, and what they were charged.

Customers (CSV, .xlsx, or TOML with a [[customer]] table per row):
    customer_id     the customer's identification (RUT, DPI), unique
    name            full name
    device_id       the meter in the harvester's inventory, empty for none yet
    email, phone, address, comuna, provincia, region
    building        the building's street and number (Gestiona Energía's "Edificio")
    unit            the unit inside it (Gestiona Energía's "Unidad")
    client_number, distributor, tariff, connected_kw   the supply (N° de cliente, empresa
                    distribuidora, tipo de tarifa, potencia conectada in kW)
    smart, shared, bill_access   the meter is smart / shared / its bills reach the unit
                    (yes or no; defaults yes, no, yes)
Charges (CSV, .xlsx, or TOML with [[charge]]): customer_id, document (invoice number,
unique per customer), billed_on (YYYY-MM-DD), amount (at most 2 decimals), currency
(ISO 4217, default CLP), kwh (optional).
Every row is checked before anything is stored; all errors are reported together.
"""

import datetime
import decimal
import time

from host import rowfile

CUSTOMER_FIELDS = ("customer_id", "name", "device_id", "email", "phone", "address", "comuna", "provincia", "region",
                   "building", "unit", "client_number", "distributor", "tariff", "connected_kw", "smart", "shared",
                   "bill_access")
_FLAGS = {"yes": 1, "y": 1, "si": 1, "sí": 1, "true": 1, "1": 1, "no": 0, "n": 0, "false": 0, "0": 0}
_FLAG_DEFAULTS = {"smart": 1, "shared": 0, "bill_access": 1}


class CustomerError(ValueError):
    """Every problem found, one per line."""


def _customer(row: dict, bad) -> tuple:
    values = {name: row.get(name, "").strip() for name in CUSTOMER_FIELDS}
    if not values["customer_id"]:
        bad("customer_id", "must not be empty")
    elif len(values["customer_id"]) > 40:
        bad("customer_id", "must be at most 40 characters")
    if not values["name"]:
        bad("name", "must not be empty")
    if values["email"] and "@" not in values["email"]:
        bad("email", "must be an e-mail address")
    kw = None
    if values["connected_kw"]:
        try:
            kw = float(values["connected_kw"].replace(",", "."))
            if not 0 <= kw < 1e6:
                raise ValueError
        except ValueError:
            bad("connected_kw", "must be a power in kW, 0 or more")
    flags = {}
    for name, default in _FLAG_DEFAULTS.items():
        text = values[name].lower()
        flags[name] = default if not text else _FLAGS.get(text)
        if flags[name] is None:
            bad(name, "must be yes or no")
    return tuple(values[name] or None for name in CUSTOMER_FIELDS[:14]) + (kw, flags["smart"], flags["shared"],
                                                                           flags["bill_access"])


def _checked(path: str, table: str, required: tuple, check, unique: str, key, shown=repr) -> list:
    try:
        items, errors = rowfile.checked(path, table, required, check, unique, key, shown)
    except rowfile.RowFileError as exc:
        raise CustomerError(str(exc)) from None
    if errors:
        raise CustomerError("\n".join(errors))
    return items


def load_customers(path: str) -> list:
    """Rows ready for Store.save_customers; CustomerError names every bad row and field."""
    return _checked(path, "customer", ("customer_id", "name"), _customer, "customer_id", lambda c: c[0])


def cents(text: str) -> int:
    """An amount such as 12500 or 1234.50 in cents; ValueError for anything else."""
    amount = decimal.Decimal(text.replace(",", "."))
    if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:
        raise ValueError(text)
    return int(amount * 100)


def _charge(row: dict, bad, known_customers) -> tuple:
    customer, document = row.get("customer_id", ""), row.get("document", "")
    if customer not in known_customers:
        bad("customer_id", "must be a customer of the register (opsm customers import)")
    if not document:
        bad("document", "must not be empty")
    billed_at = 0
    try:
        day = datetime.date.fromisoformat(row.get("billed_on", ""))
        billed_at = int(datetime.datetime(day.year, day.month, day.day, 12, tzinfo=datetime.timezone.utc).timestamp())
    except ValueError:
        bad("billed_on", "must be a date YYYY-MM-DD")
    amount = 0
    try:
        amount = cents(row.get("amount", ""))
    except (ValueError, decimal.InvalidOperation):
        bad("amount", "must be an amount of 0 or more with at most 2 decimals")
    currency = (row.get("currency") or "CLP").upper()
    if len(currency) != 3 or not currency.isalpha():
        bad("currency", "must be an ISO 4217 code such as CLP or GTQ")
    kwh = None
    if row.get("kwh"):
        try:
            kwh = float(row["kwh"])
        except ValueError:
            bad("kwh", "must be a number")
    return (customer, document, billed_at, amount, currency, kwh)


def load_charges(path: str, known_customers) -> list:
    """(customer_id, document, billed_at, amount_cents, currency, kwh) rows; billed_at is noon UTC of the
    billing day, so the day is the same in every time zone of the Americas."""
    return _checked(path, "charge", ("customer_id", "document", "billed_on", "amount"),
                    lambda row, bad: _charge(row, bad, known_customers), "document",
                    lambda charge: charge[:2] if charge[1] else None, lambda key: "%r of %r" % (key[1], key[0]))


def save_customers(store, customers: list) -> None:
    """Insert or update every customer in one transaction."""
    names = CUSTOMER_FIELDS + ("updated_at",)
    now = int(time.time())
    with store.transaction():
        for customer in customers:
            store.execute("INSERT INTO customers (%s) VALUES (%s) ON CONFLICT (customer_id) DO UPDATE SET %s" % (
                ", ".join(names), ", ".join("?" * len(names)),
                ", ".join("%s = excluded.%s" % (n, n) for n in names[1:])), customer + (now,))


def save_charges(store, charges: list) -> int:
    """Store charges in one transaction (a document already stored is kept as it was); how many were new."""
    with store.transaction():
        return store.insert_ignore("charges", ("customer_id", "document", "billed_at", "amount_cents", "currency",
                                               "kwh"), charges)


def customer_ids(store) -> set:
    return {row[0] for row in store.query("SELECT customer_id FROM customers")}
