"""The customer register: who is supplied through which meter, and what they were charged.

Customers (.xlsx, .xls, CSV or TOML with a [[customer]] table per row; host/rowfile.py reads them):
    customer_id     the customer's identification, unique: a RUT (Chile), NIT or cédula (Colombia), DPI
                    (Guatemala) or another; written in any spelling (see identification())
    name            full name
    id_type         how to read customer_id: rut, nit, cc, dpi, otro; empty: told by its form (optional)
    device_id       the meter in the harvester's inventory, empty for none yet
    email, phone, address, comuna, provincia, region
    building        the building's street and number (Gestiona Energía's "Edificio")
    unit            the unit inside it (Gestiona Energía's "Unidad")
    client_number, distributor, tariff, connected_kw   the supply (N° de cliente, empresa
                    distribuidora, tipo de tarifa, potencia conectada in kW)
    smart, shared, bill_access   the meter is smart / shared / its bills reach the unit
                    (yes or no; defaults yes, no, yes)
Charges (the same forms, TOML with [[charge]]): customer_id, document (invoice number, unique per
customer), billed_on (YYYY-MM-DD), amount (at most 2 decimals), currency (ISO 4217, default CLP), kwh
(optional).
Only these columns: another one is refused by name. Every row is checked before anything is stored;
all problems are reported together, each naming the row, the column and the rule (in English on the
CLI, in Spanish through CustomerError.text("es")).
"""

import datetime
import decimal
import re

from opsm.host import rowfile
from opsm.host.rowfile import Rule

CUSTOMER_FIELDS = ("customer_id", "name", "device_id", "email", "phone", "address", "comuna", "provincia", "region",
                   "building", "unit", "client_number", "distributor", "tariff", "connected_kw", "smart", "shared",
                   "bill_access")
CUSTOMERS = rowfile.Table("customer", CUSTOMER_FIELDS[:2], ("id_type",) + CUSTOMER_FIELDS[2:])
CHARGES = rowfile.Table("charge", ("customer_id", "document", "billed_on", "amount"), ("currency", "kwh"))
_FLAGS = {"yes": 1, "y": 1, "si": 1, "sí": 1, "true": 1, "1": 1, "no": 0, "n": 0, "false": 0, "0": 0}
_FLAG_DEFAULTS = {"smart": 1, "shared": 0, "bill_access": 1}

EMPTY = Rule("required", "must not be empty", "no puede estar vacío")
TOO_LONG = Rule("too_long", "must be at most 40 characters", "debe tener a lo más 40 caracteres")
EMAIL = Rule("email", "must be an e-mail address", "debe ser un correo electrónico (con @)")
POWER = Rule("power", "must be a power in kW, 0 or more", "debe ser una potencia en kW, 0 o más")
YES_NO = Rule("yes_no", "must be yes or no", "debe ser sí o no")
UNKNOWN_CUSTOMER = Rule("unknown_customer", "must be a customer of the register (opsm customers import)",
                        "debe ser un cliente del registro (opsm customers import)")
DATE = Rule("date", "must be a date YYYY-MM-DD", "debe ser una fecha AAAA-MM-DD")
AMOUNT = Rule("amount", "must be an amount of 0 or more with at most 2 decimals",
              "debe ser un monto de 0 o más con a lo más 2 decimales")
CURRENCY = Rule("currency", "must be an ISO 4217 code such as CLP or GTQ",
                "debe ser un código ISO 4217 como CLP o GTQ")
NUMBER = Rule("number", "must be a number", "debe ser un número")


class CustomerError(ValueError):
    """Every problem found, one per line; `problems` holds them (rowfile.Problem: row, column, code, Spanish)."""

    def __init__(self, problems):
        self.problems = list(problems)
        super().__init__("\n".join(self.problems))

    def text(self, lang: str = "es") -> str:
        return "\n".join(problem.text(lang) for problem in self.problems)


# --- identifications ------------------------------------------------------------------------------------------

ID_TYPES = {"rut": "rut", "nit": "nit", "cc": "cc", "cedula": "cc", "cédula": "cc", "dpi": "dpi", "cui": "dpi",
            "otro": "otro", "other": "otro", "auto": "auto"}
ID_TYPE = Rule("id_type", "must be rut, nit, cc, dpi or otro (empty: told by its form)",
               "debe ser rut, nit, cc, dpi u otro (vacío: según cómo está escrita)")
_RUT_FORM = Rule("rut", "must be a RUT: up to 8 digits and the check digit (0-9 or K), e.g. 12.345.678-5",
                 "debe ser un RUT: hasta 8 dígitos y el dígito verificador (0-9 o K), p. ej. 12.345.678-5")
_NIT_FORM = Rule("nit", "must be a NIT: digits, and the check digit (0-9) after a dash, e.g. 800.197.268-4",
                 "debe ser un NIT: dígitos y, tras un guion, el dígito verificador (0-9), p. ej. 800.197.268-4")
_CC_FORM = Rule("cc", "must be a cédula: 3 to 10 digits", "debe ser una cédula: de 3 a 10 dígitos")
_DPI_FORM = Rule("dpi", "must be a DPI (CUI): 13 digits", "debe ser un DPI (CUI): 13 dígitos")
_DASHES = re.compile("[\u2010-\u2015\u2212]")
_NIT_WEIGHTS = (3, 7, 13, 17, 19, 23, 29, 37, 41, 43, 47, 53, 59, 67, 71)  # DIAN, from the rightmost digit


class IdentificationError(ValueError):
    """An identification that is not what its kind requires; `rule` (a rowfile.Rule) says why in both languages."""

    def __init__(self, rule: Rule):
        self.rule = rule
        super().__init__(rule.en)


def rut_check_digit(body: int) -> str:
    """Chile's RUT: modulo 11 of the digits weighted 2, 3, .. 7, 2, .. from the right; 10 is K, 11 is 0."""
    total, weight = 0, 2
    while body:
        body, digit = divmod(body, 10)
        total += digit * weight
        weight = 2 if weight == 7 else weight + 1
    check = 11 - total % 11
    return {10: "K", 11: "0"}.get(check, str(check))


def nit_check_digit(body: str) -> str:
    """Colombia's NIT (DIAN): modulo 11 of the digits weighted 3, 7, 13, .. 71 from the right; 0 and 1 stay."""
    rest = sum(int(digit) * weight for digit, weight in zip(reversed(body), _NIT_WEIGHTS)) % 11
    return str(rest if rest < 2 else 11 - rest)


def _compact(text: str) -> str:
    """Without spaces or dots, every kind of dash a '-', K in capitals."""
    return "".join(_DASHES.sub("-", text).replace(".", "").split()).upper()


def _rut(compact: str, inferred: bool) -> str:
    match = re.fullmatch(r"(\d{1,8})-?([\dK])", compact)
    if not match or not int(match.group(1)):
        raise IdentificationError(_RUT_FORM)
    body, digit = int(match.group(1)), match.group(2)
    wanted = rut_check_digit(body)
    if digit != wanted:
        hint = "; si no es un RUT chileno, indique el tipo en la columna id_type" if inferred else ""
        raise IdentificationError(Rule("rut_check_digit", "check digit %s is wrong for RUT %d (it is %s)%s" % (
            digit, body, wanted, "; not a Chilean RUT? say its kind in the column id_type" if inferred else ""),
            "el dígito verificador %s no corresponde al RUT %d (es %s)%s" % (digit, body, wanted, hint)))
    return "%d-%s" % (body, digit)


def _nit(compact: str) -> str:
    match = re.fullmatch(r"(\d{1,15})(?:-(\d))?", compact)
    if not match or not int(match.group(1)):
        raise IdentificationError(_NIT_FORM)
    body, digit = str(int(match.group(1))), match.group(2)
    wanted = nit_check_digit(body)
    if digit is not None and digit != wanted:
        raise IdentificationError(Rule("nit_check_digit", "check digit %s is wrong for NIT %s (it is %s)" % (
            digit, body, wanted), "el dígito verificador %s no corresponde al NIT %s (es %s)" % (digit, body, wanted)))
    return "%s-%s" % (body, wanted)


def _digits(compact: str, low: int, high: int, rule: Rule) -> str:
    digits = compact.replace("-", "")
    if not digits.isdigit() or not low <= len(digits) <= high:
        raise IdentificationError(rule)
    return digits


def identification(text: str, kind: str = "auto") -> str:
    """The one spelling of an identification, so one person is one customer; IdentificationError if it is
    not what `kind` says (a wrong check digit, a wrong length).

    rut   Chile: 12.345.678-5, 12345678-5, 12 345 678-5 and 123456785 are 12345678-5 (K in capitals)
    nit   Colombia: 800.197.268-4 and 800197268-4 are 800197268-4; without a dash the digits are the NIT
          itself and its check digit is added (800197268 is 800197268-4)
    cc    Colombia's cédula: its digits (1.023.456.789 is 1023456789), 3 to 10 of them
    dpi   Guatemala's DPI (CUI): its 13 digits (2345 67890 0101 is 2345678900101); the CUI's own check
          digit is not verified
    otro  as written, spaces trimmed
    auto  told by the form: digits with a check digit after a dash (or a final K) are a RUT when the
          digits before it are 6 to 8, a NIT when 9 or more; digits grouped by dots or spaces are their
          digits; anything else as written. A RUT written without its dash needs rut: 123456785 could be
          a cédula.
    """
    known = ID_TYPES.get(kind.strip().lower()) if kind.strip() else "auto"
    if known is None:
        raise IdentificationError(ID_TYPE)
    kind = known
    written = " ".join(text.split())
    compact = _compact(written)
    if kind == "rut":
        return _rut(compact, inferred=False)
    if kind == "nit":
        return _nit(compact)
    if kind == "cc":
        return _digits(compact, 3, 10, _CC_FORM)
    if kind == "dpi":
        return _digits(compact, 13, 13, _DPI_FORM)
    if kind == "otro":
        return written
    checked = re.fullmatch(r"(\d+)(?:-[\dK]|K)", compact)
    if checked and len(checked.group(1)) >= 9:
        return _nit(compact)
    if checked and len(checked.group(1)) >= 6:
        return _rut(compact, inferred=True)
    if compact.isdigit() and re.fullmatch(r"\d[\d. ]*", written):
        return compact
    return written


def _identification(row: dict, bad, kind: str) -> str:
    text = row.get("customer_id", "").strip()
    if not text:
        bad("customer_id", EMPTY)
        return text
    try:
        return identification(text, kind)
    except IdentificationError as exc:
        bad("id_type" if exc.rule is ID_TYPE else "customer_id", exc.rule)
        return text


# --- customers and charges ------------------------------------------------------------------------------------

def _customer(row: dict, bad) -> tuple:
    values = {name: row.get(name, "").strip() for name in CUSTOMER_FIELDS}
    values["customer_id"] = _identification(row, bad, row.get("id_type", ""))
    if len(values["customer_id"]) > 40:
        bad("customer_id", TOO_LONG)
    if not values["name"]:
        bad("name", EMPTY)
    if values["email"] and "@" not in values["email"]:
        bad("email", EMAIL)
    kw = None
    if values["connected_kw"]:
        try:
            kw = float(values["connected_kw"].replace(",", "."))
            if not 0 <= kw < 1e6:
                raise ValueError
        except ValueError:
            bad("connected_kw", POWER)
    flags = {}
    for name, default in _FLAG_DEFAULTS.items():
        text = values[name].lower()
        flags[name] = default if not text else _FLAGS.get(text)
        if flags[name] is None:
            bad(name, YES_NO)
    return tuple(values[name] or None for name in CUSTOMER_FIELDS[:14]) + (kw, flags["smart"], flags["shared"],
                                                                           flags["bill_access"])


def _checked(path: str, table: rowfile.Table, check, unique: str, key, shown=repr) -> list:
    try:
        items, problems = rowfile.checked(path, table.kind, table.required, check, unique, key, shown,
                                          optional=table.optional, aliases=table.aliases)
    except rowfile.RowFileError as exc:
        raise CustomerError(exc.problems) from None
    if problems:
        raise CustomerError(problems)
    return items


def load_customers(path: str) -> list:
    """Rows ready for Store.save_customers; CustomerError names every bad row and column."""
    return _checked(path, CUSTOMERS, _customer, "customer_id", lambda c: c[0])


def cents(text: str) -> int:
    """An amount such as 12500 or 1234.50 in cents; ValueError for anything else."""
    amount = decimal.Decimal(text.replace(",", "."))
    if not amount.is_finite() or amount < 0 or amount.as_tuple().exponent < -2:
        raise ValueError(text)
    return int(amount * 100)


def _known(text: str, known_customers) -> str | None:
    """The register's spelling of a charge's customer: as its form says, else a RUT or NIT written bare."""
    for kind in ("auto", "rut", "nit"):
        try:
            customer = identification(text, kind)
        except IdentificationError:
            continue
        if customer in known_customers:
            return customer
    return None


def _charge(row: dict, bad, known_customers) -> tuple:
    customer, document = row.get("customer_id", "").strip(), row.get("document", "")
    if not customer:
        bad("customer_id", EMPTY)
    else:
        customer = _known(customer, known_customers) or customer
        if customer not in known_customers:
            bad("customer_id", UNKNOWN_CUSTOMER)
    if not document:
        bad("document", EMPTY)
    billed_at = 0
    try:
        day = datetime.date.fromisoformat(row.get("billed_on", ""))
        billed_at = int(datetime.datetime(day.year, day.month, day.day, 12, tzinfo=datetime.timezone.utc).timestamp())
    except ValueError:
        bad("billed_on", DATE)
    amount = 0
    try:
        amount = cents(row.get("amount", ""))
    except (ValueError, decimal.InvalidOperation):
        bad("amount", AMOUNT)
    currency = (row.get("currency") or "CLP").upper()
    if len(currency) != 3 or not currency.isalpha():
        bad("currency", CURRENCY)
    kwh = None
    if row.get("kwh"):
        try:
            kwh = float(row["kwh"].replace(",", "."))
        except ValueError:
            bad("kwh", NUMBER)
    return (customer, document, billed_at, amount, currency, kwh)


def load_charges(path: str, known_customers) -> list:
    """(customer_id, document, billed_at, amount_cents, currency, kwh) rows; billed_at is noon UTC of the
    billing day, so the day is the same in every time zone of the Americas."""
    return _checked(path, CHARGES, lambda row, bad: _charge(row, bad, known_customers), "document",
                    lambda charge: charge[:2] if charge[1] else None, lambda key: "%r of %r" % (key[1], key[0]))


def save_customers(store, customers: list) -> None:
    """Insert or update every customer (tuples of CUSTOMER_FIELDS, as load_customers gives them) in one
    transaction."""
    store.save_customers(CUSTOMER_FIELDS, customers)


def save_charges(store, charges: list) -> int:
    """Store charges in one transaction (a document already stored is kept as it was); how many were new."""
    return store.save_charges(charges)


def customer_ids(store) -> set:
    return store.customer_ids()
