"""The customer register: `opsm customers import` and `opsm customers charges` from CSV, TOML, .xlsx and .xls."""

import csv
import datetime

import openpyxl
import pytest
import xlwt
from click.testing import CliRunner

from opsm.host import customers
from opsm.host.cli import cli
from opsm.host.customers import CUSTOMER_FIELDS
from opsm.host.store import Store

HEADER = ("customer_id", "name", "device_id", "email", "building", "unit", "client_number", "connected_kw", "smart",
          "shared")
CUSTOMERS = [
    ("11111111-1", "Ana Soto", "M001", "ana@example.cl", "Avenida Matucana 151", "Depto 101", "7654321", "5.3", "yes",
     "yes"),
    ("22222222-2", "Luis Rojas", "", "", "Avenida Matucana 151", "Depto 102", "7654321", "", "", "sí"),
]
# The Gestiona Energía fields of a customer who states none: an electricity supply, nothing else known.
NO_UNIT = (None, None, "Electricidad") + (None,) * 17
# As stored: every field of the register in order, the flags' defaults filled in (smart, shared, bill_access).
STORED = [
    ("11111111-1", "Ana Soto", "M001", "ana@example.cl", None, None, None, None, None, "Avenida Matucana 151",
     "Depto 101", "7654321", None, None, 5.3, 1, 1, 1) + NO_UNIT,
    ("22222222-2", "Luis Rojas", None, None, None, None, None, None, None, "Avenida Matucana 151", "Depto 102",
     "7654321", None, None, None, 1, 1, 1) + NO_UNIT,
]
CHARGE_HEADER = ("customer_id", "document", "billed_on", "amount", "currency", "kwh")


def run(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result.output


def write_csv(path, header, rows):
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def write_xlsx(path, header, rows):
    book = openpyxl.Workbook()
    book.active.append(header)
    for row in rows:
        book.active.append(row)
    book.save(path)
    return path


def write_toml(path, table, header, rows):
    def entry(row):
        return "".join('%s = "%s"\n' % (name, value) for name, value in zip(header, row) if value)

    path.write_text("".join("[[%s]]\n%s\n" % (table, entry(row)) for row in rows), encoding="utf-8")
    return path


def write_table(path, table, header, rows, xlsx_rows):
    """The same table as the path's kind of file; xlsx_rows as a spreadsheet would hold them."""
    kind = path.suffix[1:]
    if kind == "csv":
        return write_csv(path, header, rows)
    if kind == "toml":
        return write_toml(path, table, header, rows)
    return write_xlsx(path, header, xlsx_rows)


COLUMNS = {"customers": CUSTOMER_FIELDS,
           "charges": ("customer_id", "document", "billed_at", "amount_cents", "currency", "kwh")}


def stored(db, table):
    store = Store.open(str(db))
    try:
        return store.query("SELECT %s FROM %s ORDER BY 1, 2" % (", ".join(COLUMNS[table]), table))
    finally:
        store.close()


@pytest.fixture
def db(tmp_path):
    return tmp_path / "harvest.sqlite"


@pytest.fixture
def register(tmp_path, db):
    """A harvest database holding CUSTOMERS."""
    run("customers", "import", write_csv(tmp_path / "customers.csv", HEADER, CUSTOMERS), "--db", db)
    return db


@pytest.mark.parametrize("kind", ["csv", "toml", "xlsx"])
def test_every_form_of_the_register_imports_the_same_customers(tmp_path, db, kind):
    path = write_table(tmp_path / ("customers." + kind), "customer", HEADER, CUSTOMERS,
                       [row[:7] + (5.3 if row[7] else None,) + row[8:] for row in CUSTOMERS])
    assert run("customers", "import", path, "--db", db).strip() == "2 customers stored"
    assert stored(db, "customers") == STORED


BAD_CUSTOMERS = [
    ("", "Nadie", "", "", "", "", "", "", "", ""),
    ("33333333-3", "Eva Díaz", "", "eva.example.cl", "", "", "", "", "", ""),
    ("44444444-4", "Juan Pérez", "", "", "", "", "", "abc", "", ""),
    ("55555555-5", "Rosa Vera", "", "", "", "", "", "", "maybe", ""),
    ("33333333-3", "Eva Díaz", "", "", "", "", "", "", "", ""),
]


def test_a_bad_register_names_every_row_and_field_and_stores_nothing(tmp_path, register):
    output = run("customers", "import", write_csv(tmp_path / "bad.csv", HEADER, BAD_CUSTOMERS), "--db", register,
                 code=1)
    for message in ("row 2: customer_id: must not be empty", "row 3: email: must be an e-mail address",
                    "row 4: connected_kw: must be a power in kW", "row 5: smart: must be yes or no",
                    "row 6: customer_id: '33333333-3' is also on row 3"):
        assert message in output
    assert stored(register, "customers") == STORED


def test_empty_customer_ids_are_not_reported_as_duplicates(tmp_path, db):
    output = run("customers", "import", write_csv(tmp_path / "bad.csv", HEADER, BAD_CUSTOMERS[:1] * 2), "--db", db,
                 code=1)
    assert output.count(": customer_id: must not be empty") == 2 and "also on row" not in output


def test_a_register_from_spanish_excel_imports(tmp_path, db):
    # Excel in Spanish writes ";" between fields, "," in decimals and Windows-1252 (Latin-1) text
    path = tmp_path / "latin1.csv"
    path.write_bytes("customer_id;name;connected_kw\r\n11.111.111-1;María Núñez;5,3\r\n".encode("cp1252"))
    assert run("customers", "import", path, "--db", db).strip() == "1 customers stored"
    assert [row[:2] + row[14:15] for row in stored(db, "customers")] == [("11111111-1", "María Núñez", 5.3)]


@pytest.mark.parametrize("kind", ["csv", "xls"])
def test_a_register_as_csv_or_xls_names_the_true_rows(tmp_path, db, kind):
    rows = [("11111111-1", "Ana Soto"), ("", ""), ("22222222-2", "")]
    path = tmp_path / ("customers." + kind)
    if kind == "csv":
        write_csv(path, ("customer_id", "name"), rows)
    else:
        book = xlwt.Workbook()
        sheet = book.add_sheet("Hoja1")
        for r, row in enumerate((("customer_id", "name"),) + tuple(rows)):
            for c, value in enumerate(row):
                sheet.write(r, c, value)
        book.save(str(path))
    output = run("customers", "import", path, "--db", db, code=1)
    assert "row 4: name: must not be empty" in output and "row 3" not in output


def test_a_column_the_register_does_not_know_is_refused_by_name(tmp_path, db):
    # the README once named a `contact` column the register never read: its values were lost without a word
    output = run("customers", "import", write_csv(tmp_path / "c.csv", ("customer_id", "name", "contact"),
                                                  [("11111111-1", "Ana Soto", "+56 9 1234 5678")]), "--db", db, code=1)
    assert "c.csv: header: unknown column(s) contact" in output and "phone" in output
    assert stored(db, "customers") == []


ONE_PERSON = ["12.345.678-5", "12345678-5", "12 345 678 - 5"]


def test_every_spelling_of_a_rut_is_one_customer(tmp_path, db):
    for n, spelling in enumerate(ONE_PERSON + ["123456785"]):
        header = ("customer_id", "name") + (("id_type",) if n == 3 else ())
        row = (spelling, "Ana Soto %d" % n) + (("RUT",) if n == 3 else ())
        run("customers", "import", write_csv(tmp_path / ("c%d.csv" % n), header, [row]), "--db", db)
    assert [row[:2] for row in stored(db, "customers")] == [("12345678-5", "Ana Soto 3")]
    run("customers", "import", write_csv(tmp_path / "k.csv", ("customer_id", "name"), [("1.000.005-k", "Eva")]),
        "--db", db)
    assert [row[0] for row in stored(db, "customers")] == ["1000005-K", "12345678-5"]


def test_two_spellings_of_one_rut_in_one_register_are_one_person_twice(tmp_path, db):
    output = run("customers", "import", write_csv(tmp_path / "c.csv", ("customer_id", "name"),
                                                  [(spelling, "Ana") for spelling in ONE_PERSON]), "--db", db, code=1)
    assert "row 3: customer_id: '12345678-5' is also on row 2" in output
    assert "row 4: customer_id: '12345678-5' is also on row 2" in output


def test_a_wrong_check_digit_is_refused_naming_row_and_column(tmp_path, db):
    with pytest.raises(customers.CustomerError) as refused:
        customers.load_customers(str(write_csv(tmp_path / "c.csv", ("customer_id", "name"),
                                               [("12345678-5", "Ana"), ("12.345.678-4", "Luis")])))
    [problem] = refused.value.problems
    assert (problem.row, problem.column, problem.code) == (3, "customer_id", "rut_check_digit")
    assert "row 3: customer_id: check digit 4 is wrong for RUT 12345678 (it is 5)" in problem
    assert problem.text("es", path=False) == (
        "fila 3, columna customer_id: el dígito verificador 4 no corresponde al RUT 12345678 (es 5); "
        "si no es un RUT chileno, indique el tipo en la columna id_type; se recibió «12.345.678-4»")


@pytest.mark.parametrize("text, kind, normal", [
    ("12.345.678-5", "auto", "12345678-5"), ("12345678-5", "rut", "12345678-5"), ("123456785", "rut", "12345678-5"),
    ("1000005-k", "auto", "1000005-K"), ("1000005K", "auto", "1000005-K"), ("01.000.005-K", "rut", "1000005-K"),
    ("800.197.268-4", "auto", "800197268-4"), ("800197268", "nit", "800197268-4"), ("800 197 268 - 4", "nit",
                                                                                    "800197268-4"),
    ("1.023.456.789", "auto", "1023456789"), ("1.023.456.789", "cc", "1023456789"),
    ("2345 67890 0101", "dpi", "2345678900101"), ("2345 67890 0101", "auto", "2345678900101"),
    ("1234567890", "auto", "1234567890"), ("A-1", "auto", "A-1"), (" PAS 99 ", "otro", "PAS 99"),
])
def test_identifications_are_normalised_by_kind(text, kind, normal):
    assert customers.identification(text, kind) == normal


@pytest.mark.parametrize("text, kind, code", [
    ("12.345.678-4", "auto", "rut_check_digit"), ("123456784", "rut", "rut_check_digit"),
    ("123.456.789-K", "auto", "nit"), ("800.197.268-3", "auto", "nit_check_digit"), ("12", "cc", "cc"),
    ("12345", "dpi", "dpi"), ("1-2-3", "rut", "rut"), ("x", "nit", "nit"), ("1", "mystery", "id_type"),
])
def test_identifications_that_are_not_what_they_claim_are_refused(text, kind, code):
    with pytest.raises(customers.IdentificationError) as refused:
        customers.identification(text, kind)
    assert refused.value.rule.code == code and refused.value.rule.es != refused.value.rule.en


def test_charges_find_the_customer_whatever_the_spelling(tmp_path, db):
    run("customers", "import", write_csv(tmp_path / "c.csv", ("customer_id", "name", "id_type"),
                                         [("123456785", "Ana", "rut")]), "--db", db)
    charges = [(spelling, "F-%d" % n, "2024-03-01", "100", "", "") for n, spelling in enumerate(ONE_PERSON + [
        "123456785"])]
    assert run("customers", "charges", write_csv(tmp_path / "f.csv", CHARGE_HEADER, charges), "--db", db).strip() == \
        "4 charges stored (0 already known)"
    assert {row[0] for row in stored(db, "charges")} == {"12345678-5"}


def test_every_problem_has_its_spanish_words(tmp_path, register):
    with pytest.raises(customers.CustomerError) as refused:
        customers.load_customers(str(write_csv(tmp_path / "bad.csv", HEADER, BAD_CUSTOMERS)))
    spanish = refused.value.text("es")
    for words in ("fila 2, columna customer_id: no puede estar vacío",
                  "fila 3, columna email: debe ser un correo electrónico",
                  "fila 4, columna connected_kw: debe ser una potencia en kW",
                  "fila 5, columna smart: debe ser sí o no",
                  "fila 6, columna customer_id: '33333333-3' ya está en la fila 3"):
        assert words in spanish
    assert "must" not in spanish
    with pytest.raises(customers.CustomerError) as refused:
        customers.load_charges(str(write_csv(tmp_path / "f.csv", CHARGE_HEADER, [
            ("99999999-9", "", "2024-02-30", "1.234", "pesos", "mucho")])), {"11111111-1"})
    spanish = refused.value.text("es")
    assert "must" not in spanish and spanish.count("fila 2, columna ") == 6


def test_a_pan_typed_as_a_number_in_the_register_says_to_write_it_as_text(tmp_path, db):
    path = write_xlsx(tmp_path / "c.xlsx", ("customer_id", "name", "client_number"),
                      [("11111111-1", "Ana", 6.00727e17)])
    output = run("customers", "import", path, "--db", db, code=1)
    assert "row 2: client_number: " in output and "write it as text" in output


def test_importing_again_updates_the_customers(tmp_path, register):
    moved = [("11111111-1", "Ana Soto Pérez", "M001", "ana@example.com") + CUSTOMERS[0][4:]]
    run("customers", "import", write_csv(tmp_path / "moved.csv", HEADER, moved), "--db", register)
    assert stored(register, "customers") == [STORED[0][:1] + ("Ana Soto Pérez", "M001", "ana@example.com") +
                                             STORED[0][4:], STORED[1]]


NOON_2024_03_01 = 1709294400  # 2024-03-01 12:00 UTC
CHARGES = [
    ("11111111-1", "F-001", "2024-03-01", "1234.5", "", "85.5"),
    ("11111111-1", "F-002", "2024-03-01", "0.29", "clp", ""),
    ("22222222-2", "F-001", "2024-03-01", "12500", "GTQ", ""),
]


@pytest.mark.parametrize("kind", ["csv", "toml", "xlsx"])
def test_charges_are_stored_in_exact_cents(tmp_path, register, kind):
    # spreadsheets hold amounts as binary floating point: 0.29 must not become 28 cents
    path = write_table(tmp_path / ("charges." + kind), "charge", CHARGE_HEADER, CHARGES,
                       [row[:3] + (float(row[3]),) + row[4:] for row in CHARGES])
    assert run("customers", "charges", path, "--db", register).strip() == "3 charges stored (0 already known)"
    assert stored(register, "charges") == [
        ("11111111-1", "F-001", NOON_2024_03_01, 123450, "CLP", 85.5),
        ("11111111-1", "F-002", NOON_2024_03_01, 29, "CLP", None),
        ("22222222-2", "F-001", NOON_2024_03_01, 1250000, "GTQ", None),
    ]


def test_bad_charges_name_row_and_field_and_store_nothing(tmp_path, register):
    bad = [
        ("99999999-9", "F-010", "2024-03-01", "100", "", ""),
        ("11111111-1", "F-011", "2024-02-30", "100", "", ""),
        ("11111111-1", "F-012", "2024-03-01", "1.234", "", ""),
    ]
    output = run("customers", "charges", write_csv(tmp_path / "bad.csv", CHARGE_HEADER, CHARGES + bad), "--db",
                 register, code=1)
    for message in ("row 5: customer_id: must be a customer of the register",
                    "row 6: billed_on: must be a date YYYY-MM-DD",
                    "row 7: amount: must be an amount of 0 or more with at most 2 decimals"):
        assert message in output
    assert stored(register, "charges") == []


def test_a_document_imported_twice_is_kept_once(tmp_path, register):
    path = write_csv(tmp_path / "charges.csv", CHARGE_HEADER, CHARGES)
    run("customers", "charges", path, "--db", register)
    changed = write_csv(tmp_path / "again.csv", CHARGE_HEADER, [CHARGES[0][:3] + ("999",) + CHARGES[0][4:]])
    assert run("customers", "charges", changed, "--db", register).strip() == "0 charges stored (1 already known)"
    assert [row[3] for row in stored(register, "charges")] == [123450, 29, 1250000]


def test_the_cli_writes_a_template_for_every_kind_of_row_file(tmp_path):
    from opsm.host import rowfile

    for kind, table in rowfile.tables().items():  # the command's choices are every kind the reader knows
        out = tmp_path / (kind + ".xlsx")
        run("customers", "template", kind, str(out))
        sheet = openpyxl.load_workbook(out).active
        assert [c.value for c in sheet[1]] == list(table.columns)
        assert all(c.number_format == "@" for c in sheet[1])  # text: identifiers keep every digit
    out = tmp_path / "customer.xlsx"
    sheet_book = openpyxl.load_workbook(out)
    sheet_book.active.append(["600727000000000009", "Ana"])
    sheet_book.save(out)
    assert rowfile.rows(str(out), "customer", ("customer_id", "name"))[0]["customer_id"] == "600727000000000009"


# --- Gestiona Energía's inventory fields ---------------------------------------------------------------------

JUSTICE = "Ministerio de Justicia y Derechos Humanos"
# The guide's example unit (3.2.2), its building given as Calle and N° only, its bills held by another service.
UNIT_ROW = dict(customer_id="11111111-1", name="Ana Soto", building="", street="Avenida Matucana", street_number="151",
                unit="Depto 101", client_number="7654321", tariff="", connected_kw="", energy="electricidad",
                institution=JUSTICE, service="Servicio de Registro Civil E Identificación",
                use_type="Oficinas de atención de público", floors="1,2 y 3", surface_m2="400,5", ownership="Propia",
                rol="00109 - 00015;00109-00016", rol_justification="", built_year="2006", staff="38", reports_pmg="Sí",
                unit_bill_access="no, otro servicio publico", responsible_institution=JUSTICE,
                responsible_service="Defensoría Penal Pública", responsible_organization="", will_report="",
                no_report_justification="")
# A gas supply of a unit off the PMG, without a rol, its bills held by a private organisation.
GAS_ROW = dict(UNIT_ROW, customer_id="22222222-2", name="Luis Rojas", building="Avenida Matucana 151 Torre II",
               unit="Bodega", client_number="GN-1", energy="GN", floors="subterraneo, -1", surface_m2="35", rol="",
               rol_justification="Bien nacional de uso público", built_year="1541", staff="0", reports_pmg="no",
               unit_bill_access="Otra organización", responsible_institution="", responsible_service="",
               responsible_organization="Comunidad Edificio Matucana", will_report="no",
               no_report_justification="La comunidad no entrega copia de la boleta")
GESTIONA_STORED = [
    ("Avenida Matucana 151", "Avenida Matucana", "151", "Electricidad", JUSTICE,
     "Servicio de Registro Civil E Identificación", "Oficinas de atención de público", "1, 2, 3", 400.5, "Propia",
     "00109-00015; 00109-00016", None, 2006, 38, 1, "No, otro servicio público", JUSTICE, "Defensoría Penal Pública",
     None, None, None),
    ("Avenida Matucana 151 Torre II", "Avenida Matucana", "151", "Gas Natural", JUSTICE,
     "Servicio de Registro Civil E Identificación", "Oficinas de atención de público", "subterráneo, -1", 35.0,
     "Propia", None, "Bien nacional de uso público", 1541, 0, 0, "No, otra organización (Especificar)", None, None,
     "Comunidad Edificio Matucana", 0, "La comunidad no entrega copia de la boleta"),
]


@pytest.mark.parametrize("kind", ["csv", "toml", "xlsx"])
def test_every_gestiona_field_is_stored_in_the_platforms_words(tmp_path, db, kind):
    header = tuple(UNIT_ROW)
    rows = [tuple(row.values()) for row in (UNIT_ROW, GAS_ROW)]
    numbers = {"surface_m2": (400.5, 35), "built_year": (2006, 1541), "staff": (38, 0)}  # as a spreadsheet types them
    xlsx_rows = [tuple(numbers[name][n] if name in numbers else value for name, value in zip(header, row))
                 for n, row in enumerate(rows)]
    run("customers", "import", write_table(tmp_path / ("customers." + kind), "customer", header, rows, xlsx_rows),
        "--db", db)
    assert [row[9:10] + row[18:] for row in stored(db, "customers")] == GESTIONA_STORED


THIS_YEAR = datetime.date.today().year
BAD_UNITS = [
    (dict(street_number=""), "street_number", "street_pair", "street and street_number go together"),
    (dict(street=""), "street", "street_pair", "street and street_number go together"),
    (dict(building="Avenida Matucana 1510"), "building", "building_street",
     "must begin with street and street_number"),
    (dict(energy="carbón"), "energy", "energy",
     "must be Electricidad, Gas Natural (GN) or Gas Licuado de Petróleo (GLP)"),
    (dict(energy="GLP", tariff="BT-1"), "tariff", "electricity_only", "only for an Electricidad supply"),
    (dict(energy="Gas Natural", connected_kw="5"), "connected_kw", "electricity_only", "only for an Electricidad"),
    (dict(floors="1, 1"), "floors", "floors", "must list the floors the unit uses separated by commas (1, 2, 3), "
                                              "each once"),
    (dict(floors="piso 1"), "floors", "floors", "must list the floors"),
    (dict(floors="100"), "floors", "floors", "must list the floors"),
    (dict(floors="1,,2"), "floors", "floors", "must list the floors"),
    (dict(surface_m2="0"), "surface_m2", "surface", "must be the built surface in m², from 1 to 1000000"),
    (dict(surface_m2="mucho"), "surface_m2", "surface", "must be the built surface in m²"),
    (dict(rol="109/15"), "rol", "rol", "must be rol numbers (manzana-predio, such as 00109-00015), several "
                                       "separated by ;"),
    (dict(rol_justification="Sin rol"), "rol_justification", "rol_or_justification",
     "only when the property has no rol (rol is empty)"),
    (dict(built_year="1540"), "built_year", "year", "must be a year from 1541 to %d" % THIS_YEAR),
    (dict(built_year=str(THIS_YEAR + 1)), "built_year", "year", "must be a year from 1541 to %d" % THIS_YEAR),
    (dict(staff="-1"), "staff", "staff", "must be a whole number of staff from 0 to 100000"),
    (dict(staff="3.5"), "staff", "staff", "must be a whole number of staff"),
    (dict(reports_pmg="quizás"), "reports_pmg", "yes_no", "must be yes or no"),
    (dict(unit_bill_access="No"), "unit_bill_access", "bill_access_answer",
     "must be Sí, No, otro servicio público or No, otra organización (Especificar)"),
    (dict(responsible_service=""), "responsible_service", "responsible_required",
     "must not be empty when unit_bill_access is 'No, otro servicio público'"),
    (dict(unit_bill_access="No, otra organización", responsible_institution="", responsible_service=""),
     "responsible_organization", "responsible_required",
     "must not be empty when unit_bill_access is 'No, otra organización (Especificar)'"),
    (dict(unit_bill_access="sí", responsible_service=""), "responsible_institution", "responsible_unwanted",
     "only when unit_bill_access is 'No, otro servicio público'"),
    (dict(will_report="sí"), "will_report", "not_pmg_only",
     "only for a unit that does not report to the PMG (reports_pmg no)"),
    (dict(reports_pmg="no", will_report="no"), "no_report_justification", "justification_required",
     "must not be empty when will_report is no"),
    (dict(reports_pmg="no", will_report="sí", no_report_justification="Sin boletas"), "no_report_justification",
     "justification_unwanted", "only when will_report is no"),
    (dict(reports_pmg="no", will_report="tal vez"), "will_report", "yes_no", "must be yes or no"),
]


@pytest.mark.parametrize("changes, column, code, rule", BAD_UNITS)
def test_a_unit_the_platform_would_not_take_is_refused_naming_row_field_and_rule(tmp_path, changes, column, code,
                                                                                 rule):
    row = dict(UNIT_ROW, customer_id="22222222-2", **changes)
    path = write_csv(tmp_path / "units.csv", tuple(row), [tuple(UNIT_ROW.values()), tuple(row.values())])
    with pytest.raises(customers.CustomerError) as refused:
        customers.load_customers(str(path))
    [problem] = refused.value.problems
    assert (problem.row, problem.column, problem.code) == (3, column, code)
    assert "units.csv row 3: %s: %s" % (column, rule) in problem
    spanish = problem.text("es", path=False)
    assert spanish.startswith("fila 3, columna %s: " % column) and "must" not in spanish


def test_a_register_stored_before_the_gestiona_fields_holds_electricity_supplies(tmp_path, db, monkeypatch):
    from opsm.host import gestiona
    from opsm.host.store import schema

    gestiona_version = next(number for number, statements in schema.MIGRATIONS
                            if any("ADD COLUMN energy" in statement for statement in statements))
    monkeypatch.setattr(schema, "MIGRATIONS", tuple(m for m in schema.MIGRATIONS if m[0] < gestiona_version))
    store = Store.open(str(db))
    customers.save_customers(store, [row[:18] for row in STORED])  # the register as it was stored then
    store.close()
    monkeypatch.undo()
    store = Store.open(str(db))
    try:
        assert [(c.energy, c.reports_pmg, c.unit_bill_access) for c in gestiona.load(store)] == [
            ("Electricidad", None, None)] * 2
    finally:
        store.close()


def test_a_customer_saved_without_the_gestiona_fields_keeps_those_stored(tmp_path, db):
    # callers that know the supply only (tuples of the first 18 fields) leave the unit's facts alone
    run("customers", "import", write_csv(tmp_path / "u.csv", tuple(UNIT_ROW), [tuple(UNIT_ROW.values())]), "--db", db)
    store = Store.open(str(db))
    try:
        customers.save_customers(store, [("11111111-1", "Ana Soto Pérez", "M001") + (None,) * 6 + (
            "Avenida Matucana 151", "Depto 101", "7654321", None, None, None, 1, 0, 1)])
    finally:
        store.close()
    [row] = stored(db, "customers")
    assert row[:3] == ("11111111-1", "Ana Soto Pérez", "M001") and row[9:10] + row[18:] == GESTIONA_STORED[0]


def test_the_customer_template_asks_for_every_gestiona_field_and_imports_filled_in(tmp_path, db):
    out = tmp_path / "plantilla.xlsx"
    run("customers", "template", "customer", str(out))
    book = openpyxl.load_workbook(out)
    header = [cell.value for cell in book.active[1]]
    assert header[-len(customers.GESTIONA_FIELDS):] == list(customers.GESTIONA_FIELDS)
    book.active.append([UNIT_ROW.get(column, "") for column in header])
    book.save(out)
    run("customers", "import", str(out), "--db", db)
    assert [row[9:10] + row[18:] for row in stored(db, "customers")] == GESTIONA_STORED[:1]
