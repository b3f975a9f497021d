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
  Gestiona Energía's inventory (host/gestiona.py; all optional here, the export asks for what it needs):
    street, street_number   the building's Calle and N° (together; building defaults to "street number")
    energy          the supply's carrier: Electricidad (default), Gas Natural (GN), Gas Licuado de Petróleo
                    (GLP); tariff and connected_kw are an electricity supply's only
    institution, service, use_type, ownership   the unit's Institución, Servicio, Tipo de uso, Tipo de propiedad
    floors          Pisos: the floors it uses, listed (1, 2, 3), each -9 to 99 or subterráneo
    surface_m2      Superficie construida, m² (1 to 1,000,000)
    rol             N° de rol (SII's manzana-predio, 00109-00015; several separated by ";"), or else
    rol_justification   why the property has none
    built_year      Año de construcción (1541 to this year); staff: N° de funcionarios (0 to 100,000)
    reports_pmg     Reporta PMG (yes or no; empty: not stated)
    unit_bill_access    Tiene acceso a las facturas de tus consumos: Sí, No, otro servicio público (then
                    responsible_institution and responsible_service hold them) or No, otra organización
                    (then responsible_organization)
    will_report, no_report_justification   a unit that does not report to the PMG: whether the service can
                    report its consumption (yes or no) and, when not, why (Estado reporte de consumos)
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

from opsm.host import gestiona, rowfile
from opsm.host.gestiona import BILL_ACCESS, ELECTRICITY, ENERGIES, OTHER_ORGANIZATION, OTHER_SERVICE
from opsm.host.rowfile import Rule

GESTIONA_FIELDS = ("street", "street_number", "energy", "institution", "service", "use_type", "floors", "surface_m2",
                   "ownership", "rol", "rol_justification", "built_year", "staff", "reports_pmg", "unit_bill_access",
                   "responsible_institution", "responsible_service", "responsible_organization", "will_report",
                   "no_report_justification")
CUSTOMER_FIELDS = ("customer_id", "name", "device_id", "email", "phone", "address", "comuna", "provincia", "region",
                   "building", "unit", "client_number", "distributor", "tariff", "connected_kw", "smart", "shared",
                   "bill_access") + GESTIONA_FIELDS
CUSTOMERS = rowfile.Table("customer", CUSTOMER_FIELDS[:2], ("id_type",) + CUSTOMER_FIELDS[2:])
CHARGES = rowfile.Table("charge", ("customer_id", "document", "billed_on", "amount"), ("currency", "kwh"))
FLAG_WORDS = {"yes": 1, "y": 1, "si": 1, "sí": 1, "true": 1, "1": 1, "no": 0, "n": 0, "false": 0, "0": 0}
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


# --- Gestiona Energía's inventory (host/gestiona.py): the platform's words and lists --------------------------

STREET_PAIR = Rule("street_pair", "street and street_number go together (the platform's Calle and N°)",
                   "street y street_number van juntas (Calle y N° de la plataforma)")
BUILDING_STREET = Rule("building_street", "must begin with street and street_number (the platform lists a building "
                       "as Calle y Número)", "debe comenzar con street y street_number (la plataforma muestra un "
                       "edificio como Calle y Número)")
ENERGY = Rule("energy", "must be Electricidad, Gas Natural (GN) or Gas Licuado de Petróleo (GLP)",
              "debe ser Electricidad, Gas Natural (GN) o Gas Licuado de Petróleo (GLP)")
ELECTRICITY_ONLY = Rule("electricity_only", "only for an Electricidad supply (the platform asks tariff and power of "
                        "electricity only)", "solo para un suministro de Electricidad (la plataforma pide tarifa y "
                        "potencia solo de electricidad)")
FLOORS = Rule("floors", "must list the floors the unit uses separated by commas (1, 2, 3), each once, each a number "
              "from -9 to 99 or subterráneo", "debe listar los pisos que usa la unidad separados por comas (1, 2, 3), "
              "cada uno una vez, cada uno un número de -9 a 99 o subterráneo")
SURFACE = Rule("surface", "must be the built surface in m², from %d to %d" % gestiona.SURFACE_M2,
               "debe ser la superficie construida en m², de %d a %d" % gestiona.SURFACE_M2)
ROL = Rule("rol", "must be rol numbers (manzana-predio, such as 00109-00015), several separated by ;",
           "debe ser números de rol (manzana-predio, como 00109-00015), varios separados por ;")
ROL_OR_JUSTIFICATION = Rule("rol_or_justification", "only when the property has no rol (rol is empty)",
                            "solo cuando el inmueble no tiene rol (rol vacío)")
STAFF = Rule("staff", "must be a whole number of staff from %d to %d" % gestiona.STAFF,
             "debe ser un número entero de funcionarios de %d a %d" % gestiona.STAFF)
BILL_ACCESS_ANSWER = Rule("bill_access_answer", "must be %s, %s or %s" % BILL_ACCESS,
                          "debe ser %s, %s o %s" % BILL_ACCESS)
NOT_PMG_ONLY = Rule("not_pmg_only", "only for a unit that does not report to the PMG (reports_pmg no)",
                    "solo para una unidad que no reporta al PMG (reports_pmg no)")
JUSTIFICATION_REQUIRED = Rule("justification_required", "must not be empty when will_report is no",
                              "no puede estar vacío si will_report es no")
JUSTIFICATION_UNWANTED = Rule("justification_unwanted", "only when will_report is no", "solo si will_report es no")
# Who holds the bills when the unit does not: the fields each answer asks for (guide, 3.1).
_RESPONSIBLE = {OTHER_SERVICE: ("responsible_institution", "responsible_service"),
                OTHER_ORGANIZATION: ("responsible_organization",)}
# Other ways people write the platform's words (its own words match in any case, with or without accents).
_SPELLINGS = {"yes": BILL_ACCESS[0], "otro servicio publico": OTHER_SERVICE, "otro servicio": OTHER_SERVICE,
              "no otra organizacion": OTHER_ORGANIZATION, "otra organizacion": OTHER_ORGANIZATION,
              "electricity": ELECTRICITY, "gn": ENERGIES[1], "natural gas": ENERGIES[1], "glp": ENERGIES[2],
              "lpg": ENERGIES[2]}
_BASEMENT = "subterráneo"
_ROL = re.compile(r"\d{1,5}-\d{1,5}")


def _choice(text: str, words: tuple) -> str | None:
    """The word of the platform's list that text means, else None."""
    key = gestiona.fold(text)
    found = {gestiona.fold(word): word for word in words}.get(key) or _SPELLINGS.get(key)
    return found if found in words else None


def _within(text: str, kind, low, high):
    """text as an int or float (a decimal comma too) from low to high; ValueError otherwise."""
    value = kind(text.replace(",", "."))
    if not low <= value <= high:
        raise ValueError(text)
    return value


def _floors(text: str) -> str:
    """The floors as "1, 2, 3"; ValueError unless each is a floor number or subterráneo, once."""
    floors = []
    for item in re.split(r"[,;]|\sy\s", text):
        item = item.strip()
        if gestiona.fold(item) == gestiona.fold(_BASEMENT):
            floors.append(_BASEMENT)
        else:
            floors.append(str(_within(item, int, -9, 99)))
    if len(set(floors)) != len(floors):
        raise ValueError(text)
    return ", ".join(floors)


def _rols(text: str) -> str:
    """Rol numbers as "00109-00015; 00109-00016" (the platform's separator); ValueError for anything else."""
    rols = [re.sub(r"\s*-\s*", "-", _DASHES.sub("-", rol.strip())) for rol in text.split(";")]
    if not all(_ROL.fullmatch(rol) for rol in rols):
        raise ValueError(text)
    return "; ".join(rols)


def _answer(values: dict, name: str, bad) -> int | None:
    """A yes or no that may be left unstated (None)."""
    text = values[name].lower()
    if text and text not in FLAG_WORDS:
        bad(name, YES_NO)
    return FLAG_WORDS.get(text) if text else None


def _building(values: dict, bad) -> str | None:
    """The building, "street street_number" when only those are given."""
    street, number, building = values["street"], values["street_number"], values["building"]
    if bool(street) != bool(number):
        bad("street_number" if street else "street", STREET_PAIR)
    elif street:
        place = gestiona.fold("%s %s" % (street, number))
        if not building:
            return "%s %s" % (street, number)
        if not (gestiona.fold(building) + " ").startswith(place + " "):
            bad("building", BUILDING_STREET)
    return building or None


def _supply(values: dict, bad) -> dict:
    energy = _choice(values["energy"], ENERGIES) if values["energy"] else ELECTRICITY
    if energy is None:
        bad("energy", ENERGY)
    elif energy != ELECTRICITY:
        for name in ("tariff", "connected_kw"):
            if values[name]:
                bad(name, ELECTRICITY_ONLY)
    return {"energy": energy}


def _unit(values: dict, bad) -> dict:
    """The unit's numbers and lists, in the forms the platform takes."""
    checked = {}
    this_year = datetime.date.today().year
    year = Rule("year", "must be a year from %d to %d" % (gestiona.FIRST_YEAR, this_year),
                "debe ser un año de %d a %d" % (gestiona.FIRST_YEAR, this_year))
    for name, read, rule in (("floors", _floors, FLOORS), ("rol", _rols, ROL),
                             ("surface_m2", lambda text: _within(text, float, *gestiona.SURFACE_M2), SURFACE),
                             ("built_year", lambda text: _within(text, int, gestiona.FIRST_YEAR, this_year), year),
                             ("staff", lambda text: _within(text, int, *gestiona.STAFF), STAFF)):
        if values[name]:
            try:
                checked[name] = read(values[name])
            except ValueError:
                bad(name, rule)
    if values["rol"] and values["rol_justification"]:
        bad("rol_justification", ROL_OR_JUSTIFICATION)
    return checked


def _bill_holder(values: dict, bad) -> dict:
    """The unit's answer to "Tiene acceso a las facturas", and who holds the bills when it does not."""
    text = values["unit_bill_access"]
    answer = _choice(text, BILL_ACCESS) if text else None
    if text and answer is None:
        bad("unit_bill_access", BILL_ACCESS_ANSWER)
        return {}
    for asked_by, names in _RESPONSIBLE.items():
        for name in names:
            if answer == asked_by and not values[name]:
                bad(name, Rule("responsible_required", "must not be empty when unit_bill_access is %r: it names "
                               "who holds the bills" % asked_by, "no puede estar vacío si unit_bill_access es «%s»: "
                               "indica quién tiene las facturas" % asked_by))
            elif answer != asked_by and values[name]:
                bad(name, Rule("responsible_unwanted", "only when unit_bill_access is %r" % asked_by,
                               "solo si unit_bill_access es «%s»" % asked_by))
    return {"unit_bill_access": answer}


def _report(values: dict, bad) -> dict:
    """Reporta PMG, and for a unit off the PMG (Estado reporte de consumos) whether the service can report its
    consumption, and if not why."""
    reports_pmg, will_report = _answer(values, "reports_pmg", bad), _answer(values, "will_report", bad)
    if reports_pmg != 0:
        for name in ("will_report", "no_report_justification"):
            if values[name]:
                bad(name, NOT_PMG_ONLY)
    elif will_report == 0 and not values["no_report_justification"]:
        bad("no_report_justification", JUSTIFICATION_REQUIRED)
    elif will_report != 0 and values["no_report_justification"]:
        bad("no_report_justification", JUSTIFICATION_UNWANTED)
    return {"reports_pmg": reports_pmg, "will_report": will_report}


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
    stored = {name: values[name] or None for name in CUSTOMER_FIELDS}
    if values["connected_kw"]:
        try:
            stored["connected_kw"] = float(values["connected_kw"].replace(",", "."))
            if not 0 <= stored["connected_kw"] < 1e6:
                raise ValueError
        except ValueError:
            bad("connected_kw", POWER)
    for name, default in _FLAG_DEFAULTS.items():
        text = values[name].lower()
        stored[name] = default if not text else FLAG_WORDS.get(text)
        if stored[name] is None:
            bad(name, YES_NO)
    stored["building"] = _building(values, bad)
    for checked in (_supply(values, bad), _unit(values, bad), _bill_holder(values, bad), _report(values, bad)):
        stored.update(checked)
    return tuple(stored[name] for name in CUSTOMER_FIELDS)


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


def known_customer(text: str, known_customers) -> str | None:
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
        customer = known_customer(customer, known_customers) or customer
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
    transaction. A tuple may stop early, as those written before the Gestiona fields do: the fields after
    it keep what is stored (nothing, for a new customer)."""
    store.save_customers([dict(zip(CUSTOMER_FIELDS, customer)) for customer in customers])


def save_charges(store, charges: list) -> int:
    """Store charges in one transaction (a document already stored is kept as it was); how many were new."""
    return store.save_charges(charges)


def customer_ids(store) -> set:
    return store.customer_ids()
