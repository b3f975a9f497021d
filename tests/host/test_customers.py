"""The customer register: `opsm customers import` and `opsm customers charges` from CSV, TOML and .xlsx."""

import csv

import openpyxl
import pytest
from click.testing import CliRunner

from host.cli import cli
from host.customers import CUSTOMER_FIELDS
from host.store import Store

HEADER = ("customer_id", "name", "device_id", "email", "building", "unit", "client_number", "connected_kw", "smart",
          "shared")
CUSTOMERS = [
    ("11111111-1", "Ana Soto", "M001", "ana@example.cl", "Avenida Matucana 151", "Depto 101", "7654321", "5.3", "yes",
     "yes"),
    ("22222222-2", "Luis Rojas", "", "", "Avenida Matucana 151", "Depto 102", "7654321", "", "", "sí"),
]
# As stored: every field of the register in order, the flags' defaults filled in (smart, shared, bill_access).
STORED = [
    ("11111111-1", "Ana Soto", "M001", "ana@example.cl", None, None, None, None, None, "Avenida Matucana 151",
     "Depto 101", "7654321", None, None, 5.3, 1, 1, 1),
    ("22222222-2", "Luis Rojas", None, None, None, None, None, None, None, "Avenida Matucana 151", "Depto 102",
     "7654321", None, None, None, 1, 1, 1),
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


def test_a_register_that_is_not_utf8_is_refused_by_name(tmp_path, db):
    path = tmp_path / "latin1.csv"
    path.write_bytes("customer_id,name\n1,María\n".encode("latin-1"))
    assert "latin1.csv: must be UTF-8 text" in run("customers", "import", path, "--db", db, code=1)


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
