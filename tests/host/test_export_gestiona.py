"""`opsm export gestiona`: the customer register as Gestiona Energía's unit inventory workbook."""

import csv
import datetime
import os
import pathlib
import time

import openpyxl
import pytest
from click.testing import CliRunner
from openpyxl.utils import column_index_from_string

from opsm.host import gestiona
from opsm.host.cli import cli
from opsm.host.customers import CUSTOMER_FIELDS
from opsm.host.store import Store
from tests.host.test_export_smec import full_disk

SANTIAGO = dict(comuna="Santiago", provincia="Santiago", region="Región Metropolitana de Santiago")
VALPARAISO = dict(comuna="Valparaíso", provincia="Valparaíso", region="Región de Valparaíso")
ENEL = dict(client_number="7654321", distributor="Enel Distribución", tariff="BT-1a", connected_kw="5.3")
# The guide's own example unit (3.2.2); each customer below is a supply of one unit.
UNIT = dict(institution="Ministerio de Justicia y Derechos Humanos",
            service="Servicio de Registro Civil E Identificación", use_type="Oficinas de atención de público",
            floors="1,2", surface_m2="400", ownership="Propia", rol="00109-00015", built_year="2006", staff="38",
            unit_bill_access="Sí")
MATUCANA = dict(building="Avenida Matucana 151", **SANTIAGO)
PEDRO_MONTT = dict(building="Avenida Pedro Montt 1606", street="Avenida Pedro Montt", street_number="1606",
                   **VALPARAISO)
LOCAL_1 = dict(UNIT, unit="Local 1", rol="", rol_justification="Inmueble fiscal sin rol asignado", reports_pmg="sí")
# Two buildings, three units; units 101 and 102 share meter M001 on one client number; Local 1 has its own
# meter and a shared natural gas meter.
REGISTER = [
    dict(customer_id="11111111-1", name="Ana Soto", device_id="M001", **MATUCANA, unit="Depto 101", **ENEL,
         smart="yes", shared="yes", bill_access="yes",
         **dict(UNIT, unit_bill_access="No, otro servicio público",
                responsible_institution="Ministerio de Justicia y Derechos Humanos",
                responsible_service="Defensoría Penal Pública")),
    dict(customer_id="22222222-2", name="Luis Rojas", device_id="M001", **MATUCANA, unit="Depto 102", **ENEL,
         smart="yes", shared="yes", bill_access="no",
         **dict(UNIT, reports_pmg="no", unit_bill_access="otra organización",
                responsible_organization="Comunidad Edificio Matucana 151", will_report="no",
                no_report_justification="La comunidad paga la boleta y no entrega copia")),
    dict(customer_id="33333333-3", name="Eva Díaz", device_id="M002", **PEDRO_MONTT, client_number="3056092-2",
         distributor="Chilquinta", tariff="BT-2", connected_kw="10", smart="no", shared="no", bill_access="yes",
         **LOCAL_1),
    dict(customer_id="44444444-4", name="Eva Díaz (gas)", device_id="G-88", **PEDRO_MONTT, client_number="GN-778899",
         distributor="Gasvalpo", energy="GN", smart="no", shared="yes", bill_access="no", **LOCAL_1),
]


def run(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    assert "Traceback" not in result.output
    return result


def write_register(path, register) -> None:
    header = [field for field in CUSTOMER_FIELDS if any(field in customer for customer in register)]
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows([customer.get(field, "") for field in header] for customer in register)


def imported(tmp_path, register, db=None) -> str:
    """A harvest database (SQLite unless `db`) holding `register`, imported through `opsm customers import`."""
    path, db = tmp_path / "customers.csv", db or tmp_path / "harvest.sqlite"
    write_register(path, register)
    run("customers", "import", path, "--db", db)
    return str(db)


def harvested(db: str, device_id: str, serial: str) -> None:
    store = Store.open(db)
    store.execute("INSERT INTO meters (device_id, serial, host, port, protocol, timezone) VALUES (?, ?, ?, ?, ?, ?)",
                  (device_id, serial, "127.0.0.1", 4059, "dlms-tcp", "America/Santiago"))
    store.db.commit()
    store.close()


def sheets(path) -> dict:
    """The visible sheets' rows (the hidden one holds the drop-downs' lists)."""
    book = openpyxl.load_workbook(path)
    return {sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)] for sheet in book.worksheets
            if sheet.sheet_state == "visible"}


def exported(tmp_path, register, *options) -> dict:
    out = tmp_path / "inventario.xlsx"
    run("export", "gestiona", "--out", out, "--db", imported(tmp_path, register), "--period", "2022", *options)
    return sheets(out)


def with_fields(customer: dict, **changes) -> dict:
    return dict(customer, **changes)


@pytest.fixture(params=["sqlite", "postgresql"])
def any_db(request, tmp_path):
    return str(tmp_path / "harvest.sqlite") if request.param == "sqlite" else request.getfixturevalue("postgres_db")


QUESTION = "¿Podrá el Servicio reportar su consumo energético del periodo 2022 para esta unidad?"


def test_the_register_becomes_the_platforms_sheets(tmp_path, any_db):
    db = imported(tmp_path, REGISTER, any_db)
    harvested(db, "M001", "555444")  # M002 has not been read yet (and a gas meter never is): the device_id stands
    out = tmp_path / "inventario.xlsx"
    result = run("export", "gestiona", "--out", out, "--db", db, "--period", "2022")
    assert ("2 Edificios, 3 Unidades, 9 Energéticos, 3 N° de Cliente, 4 Medidores, 1 Estado reporte de consumos"
            in result.output)
    justice, civil_registry = UNIT["institution"], UNIT["service"]
    offices = "Oficinas de atención de público"
    assert sheets(out) == {
        "Edificios": [
            ("Calle y Número", "Comuna", "Provincia", "Región", "Calle", "N°"),
            ("Avenida Matucana 151", "Santiago", "Santiago", "Región Metropolitana de Santiago", None, None),
            ("Avenida Pedro Montt 1606", "Valparaíso", "Valparaíso", "Región de Valparaíso", "Avenida Pedro Montt",
             "1606"),
        ],
        "Unidades": [
            ("Edificio", "Institución", "Servicio", "Nombre Unidad", "Tipo de Uso", "Pisos", "Superficie (m²)",
             "Tipo de Propiedad", "N° de Rol", "Justificación sin N° de Rol", "Año de Construcción",
             "N° de Funcionarios", "Reporta PMG", "Tiene acceso a las facturas de tus consumos",
             "Institución responsable de los consumos", "Servicio responsable de los consumos",
             "Organización privada responsable de los consumos", "Electricidad: ¿Tiene algún medidor compartido?",
             "Gas de Cañería: ¿Tiene algún medidor compartido?"),
            ("Avenida Matucana 151", justice, civil_registry, "Depto 101", offices, "1, 2", 400, "Propia",
             "00109-00015", None, 2006, 38, None, "No, otro servicio público", justice, "Defensoría Penal Pública",
             None, "Sí", None),
            ("Avenida Matucana 151", justice, civil_registry, "Depto 102", offices, "1, 2", 400, "Propia",
             "00109-00015", None, 2006, 38, "No", "No, otra organización (Especificar)", None, None,
             "Comunidad Edificio Matucana 151", "Sí", None),
            ("Avenida Pedro Montt 1606", justice, civil_registry, "Local 1", offices, "1, 2", 400, "Propia", None,
             "Inmueble fiscal sin rol asignado", 2006, 38, "Sí", "Sí", None, None, None, "No", "Sí"),
        ],
        "Energéticos": [("Edificio", "Nombre Unidad", "Fuente Energética", "Encendido / Apagado")] + [
            (building, unit, energy, "Encendido" if energy == "Electricidad" or (
                unit == "Local 1" and energy == "Gas Natural") else "Apagado")
            for building, unit in (("Avenida Matucana 151", "Depto 101"), ("Avenida Matucana 151", "Depto 102"),
                                   ("Avenida Pedro Montt 1606", "Local 1"))
            for energy in ("Electricidad", "Gas Natural", "Gas Licuado de Petróleo")],
        "N° de Cliente": [
            ("Energético", "N° de Cliente", "Empresa Distribuidora", "Tipo de Tarifa", "Potencia Conectada (kW)",
             "N° Medidores Exclusivos", "N° Medidores Compartidos", "Total Medidores"),
            ("Electricidad", "3056092-2", "Chilquinta", "BT-2", 10, 1, 0, 1),
            ("Electricidad", "7654321", "Enel Distribución", "BT-1a", 5.3, 0, 1, 1),
            ("Gas Natural", "GN-778899", "Gasvalpo", None, None, 0, 1, 1),
        ],
        "Medidores": [
            ("Energético", "N° de Medidor", "N° de Cliente", "Unidad", "Edificio", "Medidor Inteligente",
             "Medidor Compartido", "Tiene acceso a la factura"),
            ("Electricidad", "M002", "3056092-2", "Local 1", "Avenida Pedro Montt 1606", "No", "No", "Sí"),
            ("Electricidad", "555444", "7654321", "Depto 101", "Avenida Matucana 151", "Sí", "Sí", "Sí"),
            ("Electricidad", "555444", "7654321", "Depto 102", "Avenida Matucana 151", "Sí", "Sí", "No"),
            ("Gas Natural", "G-88", "GN-778899", "Local 1", "Avenida Pedro Montt 1606", "No", "Sí", "No"),
        ],
        "Estado reporte de consumos": [
            ("Edificio", "Nombre Unidad", "Unidad", "Estado", QUESTION, "Justificación"),
            ("Avenida Matucana 151", "Depto 102", "Avenida Matucana 151, Pisos 1, 2, Región Metropolitana de Santiago",
             "Ok", "No", "La comunidad paga la boleta y no entrega copia"),
        ],
    }


def test_headers_are_bold_and_frozen_and_columns_fit_their_text(tmp_path):
    out = tmp_path / "inventario.xlsx"
    run("export", "gestiona", "--out", out, "--db", imported(tmp_path, REGISTER))
    for sheet in openpyxl.load_workbook(out).worksheets:
        if sheet.sheet_state != "visible":
            continue
        assert sheet.freeze_panes == "A2"
        assert all(cell.font.b for cell in sheet[1])
        assert all(not cell.font.b for cell in sheet[2])
        assert sheet.column_dimensions["A"].width >= max(len(str(cell.value)) for cell in sheet["A"])


def validations(path) -> dict:
    """(sheet, header) -> the words of the column's drop-down, or (kind, low, high) of its range; the hidden
    sheet holding the lists is read back through the drop-down's own reference."""
    book = openpyxl.load_workbook(path)
    found = {}
    for sheet in book.worksheets:
        headers = [cell.value for cell in sheet[1]]
        for validation in sheet.data_validations.dataValidation:
            first, last = str(validation.sqref).split(":")
            letter = first.rstrip("0123456789")
            assert (first, last) == (letter + "2", letter + "1048576")  # the whole column under its header
            if validation.type == "list":
                name, cells = validation.formula1.split("!")
                check = tuple(cell.value for row in book[name][cells.replace("$", "")] for cell in row)
            else:
                check = (validation.type, validation.formula1, validation.formula2)
            found[sheet.title, headers[column_index_from_string(letter) - 1]] = check
    return found


def test_the_platforms_lists_are_drop_downs_and_its_numbers_ranges(tmp_path):
    out = tmp_path / "inventario.xlsx"
    run("export", "gestiona", "--out", out, "--db", imported(tmp_path, REGISTER), "--period", "2022")
    yes_no, energies = ("Sí", "No"), ("Electricidad", "Gas Natural", "Gas Licuado de Petróleo")
    assert validations(out) == {
        ("Edificios", "Región"): gestiona.REGIONS,
        ("Unidades", "Superficie (m²)"): ("decimal", "1", "1000000"),
        ("Unidades", "Año de Construcción"): ("whole", "1541", str(datetime.date.today().year)),
        ("Unidades", "N° de Funcionarios"): ("whole", "0", "100000"),
        ("Unidades", "Reporta PMG"): yes_no,
        ("Unidades", "Tiene acceso a las facturas de tus consumos"): (
            "Sí", "No, otro servicio público", "No, otra organización (Especificar)"),
        ("Unidades", "Electricidad: ¿Tiene algún medidor compartido?"): yes_no,
        ("Unidades", "Gas de Cañería: ¿Tiene algún medidor compartido?"): yes_no,
        ("Energéticos", "Fuente Energética"): energies,
        ("Energéticos", "Encendido / Apagado"): ("Encendido", "Apagado"),
        ("N° de Cliente", "Energético"): energies,
        ("Medidores", "Energético"): energies,
        ("Medidores", "Medidor Inteligente"): yes_no,
        ("Medidores", "Medidor Compartido"): yes_no,
        ("Medidores", "Tiene acceso a la factura"): yes_no,
        ("Estado reporte de consumos", QUESTION): yes_no,
    }
    # the guide names these regions as the list has them
    assert {"Región Metropolitana de Santiago", "Región de Magallanes y de la Antártica Chilena", "Región de Atacama",
            "Región de Tarapacá"} <= set(gestiona.REGIONS) and len(gestiona.REGIONS) == 16
    assert openpyxl.load_workbook(out)["Listas"].sheet_state == "hidden"


@pytest.mark.parametrize("written, platform", [
    ("Valparaíso", "Región de Valparaíso"), ("REGION DE VALPARAISO", "Región de Valparaíso"),
    ("Araucanía", "Región de La Araucanía"), ("la araucania", "Región de La Araucanía"),
    ("Metropolitana", "Región Metropolitana de Santiago"), ("O'Higgins", "Región del Libertador General Bernardo "
                                                                       "O'Higgins"),
    ("Bío Bío", "Región del Biobío"), ("Los Ríos", "Región de Los Ríos"), ("Magallanes", gestiona.REGIONS[-1]),
])
def test_a_region_is_written_as_the_platform_names_it(tmp_path, written, platform):
    register = [with_fields(customer, region=written) if customer["building"] == PEDRO_MONTT["building"] else customer
                for customer in REGISTER]
    assert exported(tmp_path, register)["Edificios"][2][3] == platform


def test_a_meter_on_two_units_is_shared_whatever_the_register_says(tmp_path):
    book = exported(tmp_path, [with_fields(customer, shared="no") for customer in REGISTER])
    assert [row[6] for row in book["Medidores"][1:]] == ["No", "Sí", "Sí", "No"]
    assert [row[17:] for row in book["Unidades"][1:]] == [("Sí", None), ("Sí", None), ("No", "No")]


def test_a_customer_without_a_meter_has_a_unit_but_no_meter_row(tmp_path):
    book = exported(tmp_path, REGISTER + [with_fields(REGISTER[2], customer_id="55555555-5", device_id="",
                                                      unit="Local 2")])
    assert book["Unidades"][-1][:4] == ("Avenida Pedro Montt 1606", UNIT["institution"], UNIT["service"], "Local 2")
    assert book["Unidades"][-1][17:] == ("No", None)  # no gas meter: the gas question is left unanswered
    assert len(book["Medidores"]) == 5


def test_a_unit_off_the_pmg_without_an_answer_is_unjustified(tmp_path):
    book = exported(tmp_path, [with_fields(REGISTER[1], will_report="", no_report_justification="")])
    assert book["Estado reporte de consumos"][1][3:] == ("Sin justificar", None, None)


INCOMPLETE = REGISTER + [
    with_fields(REGISTER[2], customer_id="55555555-5", building="", street="", street_number=""),
    with_fields(REGISTER[2], customer_id="66666666-6", unit="", client_number=""),
    with_fields(REGISTER[0], customer_id="77777777-7", unit="Depto 103", institution="", floors="", rol=""),
    with_fields(REGISTER[0], customer_id="88888888-8", unit="Depto 104", region="Atlántida"),
    with_fields(REGISTER[0], customer_id="99999999-9", unit="Depto 105", provincia=""),
]


def test_customers_the_inventory_cannot_take_are_refused_and_nothing_is_written(tmp_path):
    db = imported(tmp_path, INCOMPLETE)
    folder = tmp_path / "exports"
    folder.mkdir()
    result = run("export", "gestiona", "--out", folder / "inventario.xlsx", "--db", db, code=1)
    for message in ("customer '55555555-5': building: must not be empty to place the customer in the inventory",
                    "customer '66666666-6': unit: must not be empty",
                    "customer '66666666-6': client_number: must not be empty",
                    "customer '77777777-7': institution: must not be empty to create the unit on the platform",
                    "customer '77777777-7': floors: must not be empty to create the unit on the platform",
                    "customer '77777777-7': rol: must not be empty unless rol_justification says why the property "
                    "has none",
                    "customer '88888888-8': region: 'Atlántida' is not one of the platform's regions",
                    "customer '99999999-9': provincia: must not be empty to find the building on the platform"):
        assert message in result.output
    assert list(folder.iterdir()) == []  # neither the workbook nor its temporary file


def test_skip_incomplete_leaves_them_out_with_a_warning(tmp_path):
    out = tmp_path / "inventario.xlsx"
    result = run("export", "gestiona", "--out", out, "--db", imported(tmp_path, INCOMPLETE), "--skip-incomplete")
    assert "skipped customer '55555555-5': building: must not be empty" in result.stderr
    assert "skipped customer '66666666-6': client_number: must not be empty" in result.stderr
    assert "skipped customer '88888888-8': region: 'Atlántida'" in result.stderr
    assert "skipped" not in result.stdout
    assert len(sheets(out)["Unidades"]) == 4


@pytest.mark.parametrize("changes, field", [
    (dict(distributor="CGE"), "distributor"), (dict(tariff="BT-2"), "tariff"), (dict(connected_kw="7"), "connected_kw"),
    (dict(energy="GN", tariff="", connected_kw=""), "energy"),
])
def test_one_client_number_with_two_supplies_is_refused_naming_both_customers(tmp_path, changes, field):
    register = REGISTER[:1] + [with_fields(REGISTER[1], **changes)] + REGISTER[2:]
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


@pytest.mark.parametrize("changes, message", [
    (dict(use_type="Bodega"), "unit 'Local 1' in 'Avenida Pedro Montt 1606': use_type: customer '33333333-3' has "
                              "'Oficinas de atención de público' but customer '44444444-4' has 'Bodega'; customers on "
                              "the same unit must agree"),
    (dict(reports_pmg="no"), "unit 'Local 1' in 'Avenida Pedro Montt 1606': reports_pmg: customer '33333333-3' has "
                             "yes but customer '44444444-4' has no"),
    (dict(street="", street_number=""), "building 'Avenida Pedro Montt 1606': street: customer '33333333-3' has "
                                        "'Avenida Pedro Montt' but customer '44444444-4' has nothing"),
])
def test_the_customers_of_one_unit_or_building_must_state_it_alike(tmp_path, changes, message):
    register = REGISTER[:3] + [with_fields(REGISTER[3], **changes)]
    result = run("export", "gestiona", "--out", tmp_path / "x.xlsx", "--db", imported(tmp_path, register), code=1)
    assert message in result.output


def test_the_sample_register_exports_whole(tmp_path):
    # the README's quickstart imports samples/customers.csv: every customer in it reaches the inventory
    db = str(tmp_path / "harvest.sqlite")
    run("customers", "import", pathlib.Path(__file__).parents[2] / "samples" / "customers.csv", "--db", db)
    out = tmp_path / "inventario.xlsx"
    result = run("export", "gestiona", "--out", out, "--db", db)
    assert "skipped" not in result.stderr
    assert len(sheets(out)["Unidades"]) == 3


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
