"""`opsm export gestiona`: the customer register as Gestiona Energía's unit inventory workbook."""

import csv
import os
import time

import openpyxl
import pytest
from click.testing import CliRunner

from opsm.host.cli import cli
from opsm.host.store import Store
from tests.host.test_export_smec import full_disk

SANTIAGO = ("Santiago", "Santiago", "Región Metropolitana de Santiago")
VALPARAISO = ("Valparaíso", "Valparaíso", "Región de Valparaíso")
ENEL = ("7654321", "Enel Distribución", "BT-1a", "5.3")
# Two buildings, three units; units 101 and 102 share meter M001 on one client number.
REGISTER = [
    ("11111111-1", "Ana Soto", "M001", *SANTIAGO, "Avenida Matucana 151", "Depto 101", *ENEL, "yes", "yes", "yes"),
    ("22222222-2", "Luis Rojas", "M001", *SANTIAGO, "Avenida Matucana 151", "Depto 102", *ENEL, "yes", "yes", "no"),
    ("33333333-3", "Eva Díaz", "M002", *VALPARAISO, "Avenida Pedro Montt 1606", "Local 1", "3056092-2", "Chilquinta",
     "BT-2", "10", "no", "no", "yes"),
]
_PLACE_FIELDS = ("device_id", "comuna", "provincia", "region", "building", "unit", "client_number", "distributor",
                 "tariff", "connected_kw", "smart", "shared", "bill_access")


def run(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def imported(tmp_path, register, db=None) -> str:
    """A harvest database (SQLite unless `db`) holding `register`, imported through `opsm customers import`."""
    path, db = tmp_path / "customers.csv", db or tmp_path / "harvest.sqlite"
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(("customer_id", "name") + _PLACE_FIELDS)
        writer.writerows(register)
    run("customers", "import", path, "--db", db)
    return str(db)


def harvested(db: str, device_id: str, serial: str) -> None:
    store = Store.open(db)
    store.execute("INSERT INTO meters (device_id, serial, host, port, protocol, timezone) VALUES (?, ?, ?, ?, ?, ?)",
                  (device_id, serial, "127.0.0.1", 4059, "dlms-tcp", "America/Santiago"))
    store.db.commit()
    store.close()


def sheets(path) -> dict:
    book = openpyxl.load_workbook(path)
    return {sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets}


def with_fields(row: tuple, **changes) -> tuple:
    values = dict(zip(("customer_id", "name") + _PLACE_FIELDS, row))
    values.update(changes)
    return tuple(values.values())


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path):
    return str(tmp_path / "harvest.sqlite") if request.param == "sqlite" else request.getfixturevalue("postgres_db")


def test_the_register_becomes_the_platforms_four_sheets(tmp_path, any_db):
    db = imported(tmp_path, REGISTER, any_db)
    harvested(db, "M001", "555444")  # M002 has not been read yet: its device_id stands in
    out = tmp_path / "inventario.xlsx"
    result = run("export", "gestiona", "--out", out, "--db", db)
    assert "2 Edificios, 3 Unidades, 2 N° de Cliente, 3 Medidores" in result.output
    assert sheets(out) == {
        "Edificios": [
            ("Calle y Número", "Comuna", "Provincia", "Región"),
            ("Avenida Matucana 151", *SANTIAGO),
            ("Avenida Pedro Montt 1606", *VALPARAISO),
        ],
        "Unidades": [
            ("Nombre Unidad", "Edificio", "Tiene acceso a las facturas", "¿Tiene algún medidor compartido?"),
            ("Depto 101", "Avenida Matucana 151", "Sí", "Sí"),
            ("Depto 102", "Avenida Matucana 151", "No", "Sí"),
            ("Local 1", "Avenida Pedro Montt 1606", "Sí", "No"),
        ],
        "N° de Cliente": [
            ("N° de Cliente", "Empresa Distribuidora", "Tipo de Tarifa", "Potencia Conectada (kW)",
             "N° Medidores Exclusivos", "N° Medidores Compartidos", "Total Medidores"),
            ("3056092-2", "Chilquinta", "BT-2", 10, 1, 0, 1),
            ("7654321", "Enel Distribución", "BT-1a", 5.3, 0, 1, 1),
        ],
        "Medidores": [
            ("N° de Medidor", "N° de Cliente", "Unidad", "Edificio", "Medidor Inteligente", "Medidor Compartido",
             "Tiene acceso a la factura"),
            ("M002", "3056092-2", "Local 1", "Avenida Pedro Montt 1606", "No", "No", "Sí"),
            ("555444", "7654321", "Depto 101", "Avenida Matucana 151", "Sí", "Sí", "Sí"),
            ("555444", "7654321", "Depto 102", "Avenida Matucana 151", "Sí", "Sí", "No"),
        ],
    }


def test_headers_are_bold_and_frozen_and_columns_fit_their_text(tmp_path):
    out = tmp_path / "inventario.xlsx"
    run("export", "gestiona", "--out", out, "--db", imported(tmp_path, REGISTER))
    for sheet in openpyxl.load_workbook(out).worksheets:
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.b for cell in sheet[1])
        assert all(not cell.font.b for cell in sheet[2])
        assert sheet.column_dimensions["A"].width >= max(len(str(cell.value)) for cell in sheet["A"])


def test_a_meter_on_two_units_is_shared_whatever_the_register_says(tmp_path):
    register = [with_fields(row, shared="no") for row in REGISTER]
    out = tmp_path / "inventario.xlsx"
    run("export", "gestiona", "--out", out, "--db", imported(tmp_path, register))
    assert [row[5] for row in sheets(out)["Medidores"][1:]] == ["No", "Sí", "Sí"]


def test_a_customer_without_a_meter_has_a_unit_but_no_meter_row(tmp_path):
    register = REGISTER + [with_fields(REGISTER[2], customer_id="44444444-4", device_id="", unit="Local 2")]
    out = tmp_path / "inventario.xlsx"
    run("export", "gestiona", "--out", out, "--db", imported(tmp_path, register))
    book = sheets(out)
    assert ("Local 2", "Avenida Pedro Montt 1606", "Sí", "No") in book["Unidades"]
    assert len(book["Medidores"]) == 4


INCOMPLETE = REGISTER + [
    with_fields(REGISTER[2], customer_id="44444444-4", building=""),
    with_fields(REGISTER[2], customer_id="55555555-5", unit="", client_number=""),
]


def test_customers_that_cannot_be_placed_are_refused_and_nothing_is_written(tmp_path):
    db = imported(tmp_path, INCOMPLETE)
    folder = tmp_path / "exports"
    folder.mkdir()
    result = run("export", "gestiona", "--out", folder / "inventario.xlsx", "--db", db, code=1)
    assert "customer '44444444-4': building: must not be empty" in result.output
    assert "customer '55555555-5': unit: must not be empty" in result.output
    assert "customer '55555555-5': client_number: must not be empty" in result.output
    assert list(folder.iterdir()) == []  # neither the workbook nor its temporary file


def test_skip_incomplete_leaves_them_out_with_a_warning(tmp_path):
    out = tmp_path / "inventario.xlsx"
    result = run("export", "gestiona", "--out", out, "--db", imported(tmp_path, INCOMPLETE), "--skip-incomplete")
    assert "skipped customer '44444444-4': building: must not be empty" in result.stderr
    assert "skipped customer '55555555-5': client_number: must not be empty" in result.stderr
    assert "skipped" not in result.stdout
    assert len(sheets(out)["Unidades"]) == 4


@pytest.mark.parametrize("field, value", [("distributor", "CGE"), ("tariff", "BT-2"), ("connected_kw", "7")])
def test_one_client_number_with_two_supplies_is_refused_naming_both_customers(tmp_path, field, value):
    register = REGISTER[:1] + [with_fields(REGISTER[1], **{field: value})] + REGISTER[2:]
    out = tmp_path / "inventario.xlsx"
    result = run("export", "gestiona", "--out", out, "--db", imported(tmp_path, register), code=1)
    assert "client_number '7654321': %s: customer '11111111-1' has" % field in result.output
    assert "but customer '22222222-2' has" in result.output
    assert not out.exists()


def test_one_meter_on_two_client_numbers_is_refused(tmp_path):
    register = REGISTER[:2] + [with_fields(REGISTER[2], device_id="M001")]
    result = run("export", "gestiona", "--out", tmp_path / "x.xlsx", "--db", imported(tmp_path, register), code=1)
    assert ("device_id 'M001': client_number: customer '11111111-1' has '7654321' but customer '33333333-3' has "
            "'3056092-2'") in result.output


def test_one_building_in_two_comunas_is_refused(tmp_path):
    register = REGISTER[:1] + [with_fields(REGISTER[1], comuna="Ñuñoa")] + REGISTER[2:]
    result = run("export", "gestiona", "--out", tmp_path / "x.xlsx", "--db", imported(tmp_path, register), code=1)
    assert ("building 'Avenida Matucana 151': comuna: customer '11111111-1' has 'Santiago' but customer '22222222-2' "
            "has 'Ñuñoa'") in result.output


def test_an_empty_register_is_refused(tmp_path):
    result = run("export", "gestiona", "--out", tmp_path / "x.xlsx", "--db", tmp_path / "harvest.sqlite", code=1)
    assert "customers: the register is empty" in result.output
    assert not (tmp_path / "x.xlsx").exists()


def test_out_must_be_an_xlsx_workbook(tmp_path):
    result = run("export", "gestiona", "--out", tmp_path / "x.xls", "--db", imported(tmp_path, REGISTER), code=1)
    assert "out: must be a FILE.xlsx" in result.output


@pytest.mark.parametrize("free", [0, 3000])
def test_a_full_disk_keeps_the_previous_workbook_and_says_where(tmp_path, monkeypatch, free):
    db = imported(tmp_path, REGISTER)
    folder = tmp_path / "exports"
    folder.mkdir()
    out = folder / "inventario.xlsx"
    out.write_bytes(b"the previous inventory")
    full_disk(monkeypatch, folder, free)
    result = CliRunner().invoke(cli, ["export", "gestiona", "--out", str(out), "--db", db])
    monkeypatch.undo()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert "out: cannot write %s: No space left on device" % out in result.output
    assert os.listdir(folder) == ["inventario.xlsx"] and out.read_bytes() == b"the previous inventory"


def test_temporaries_left_by_a_killed_run_are_swept_by_name_and_age(tmp_path):
    folder = tmp_path / "exports"
    folder.mkdir()
    stale, fresh, other = (folder / ".inventario.xlsx.k1ll3d00.part", folder / ".inventario.xlsx.running.part",
                           folder / ".inventario.xlsx.notes")
    for path in (stale, fresh, other):
        path.write_bytes(b"partial")
    old = time.time() - 2 * 3600
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    run("export", "gestiona", "--out", folder / "inventario.xlsx", "--db", imported(tmp_path, REGISTER))
    assert sorted(os.listdir(folder)) == sorted(["inventario.xlsx", fresh.name, other.name])
