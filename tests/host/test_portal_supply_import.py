"""Each customer's data for the information platform from files (host/supply_import.py, samples/portal/): the
samples' round trip through the store on SQLite and PostgreSQL, and every rule refusing its row by file, row,
column and rule with nothing stored."""

import pathlib
import shutil

import pytest
from click.testing import CliRunner

from opsm.host import customers as register
from opsm.host import network, supply_import
from opsm.host.cli import cli
from opsm.host.rowfile import RowFileError
from opsm.host.store import Store
from opsm.host.store.supplies import TABLES

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "portal"
NETWORK = ROOT / "samples" / "network"
WITHOUT_SUPPLY = "%d-%s" % (15000000, register.rut_check_digit(15000000))  # in the register, no supply yet
UNKNOWN = "%d-%s" % (16000000, register.rut_check_digit(16000000))  # a valid RUT the register lacks


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return str(tmp_path / "portal.sqlite") if request.param == "sqlite" else request.getfixturevalue("postgres_db")


@pytest.fixture
def samples(tmp_path):
    """A copy of samples/portal/ to spoil."""
    return pathlib.Path(shutil.copytree(SAMPLES, tmp_path / "portal"))


def prepared(url: str) -> Store:
    """A store holding the sample network and the sample register, and one customer without a supply."""
    store = Store.open(url)
    network.import_files(store, network.files_in(str(NETWORK)))
    register.save_customers(store, register.load_customers(str(ROOT / "samples" / "customers.csv")) + [
        (WITHOUT_SUPPLY, "Junta de Vecinos El Salto", None, None, None, "El Salto 5", "Puerto Montt", None,
         "Los Lagos", None, None, "100003", None, "BT1", 3.5, 1, 0, 1)])
    return store


def rows_in(path: pathlib.Path) -> int:
    return len([line for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip()])


def refused(store, folder) -> list:
    with pytest.raises(RowFileError) as caught:
        supply_import.import_files(store, supply_import.files_in(str(folder)))
    assert not any(store.supply_counts().values())
    return caught.value.problems


def test_every_kind_the_store_keeps_has_its_columns_and_a_sample():
    assert set(supply_import.KINDS) == set(TABLES)
    assert {path.stem for path in SAMPLES.glob("*.csv")} == set(TABLES)
    assert all(path.stat().st_size <= 2048 for path in SAMPLES.glob("pdf/*.pdf"))


def test_the_samples_go_in_whole_and_come_back_as_the_pages_ask(url):
    with prepared(url) as store:
        counts = supply_import.import_files(store, supply_import.files_in(str(SAMPLES)))
        assert counts == store.supply_counts() == {kind: rows_in(SAMPLES / (kind + ".csv")) for kind in TABLES}

        general = store.customer_general("12345678-5")  # written 12.345.678-5 in the files: the register's spelling
        assert (general["billing_day"], general["generation"]) == (8, True)
        assert store.customer_general("7654321-6")["generation"] is False
        technical = store.customer_technical("7654321-6")
        assert (technical["transformer"], technical["transformer_kva"], technical["service_kw"]) == ("TD-00002", 15.0,
                                                                                                     2.0)

        bills = store.customer_bills("12345678-5")
        assert [(b["number"], b["period"], b["kwh_consumed"], b["amount_clp"], b["has_pdf"]) for b in bills] == [
            ("5000001", "2025-03", 212.5, 40131, True)]
        annex = store.customer_bills("12345678-5", "inyeccion")[0]
        assert (annex["number"], annex["kwh_injected"], annex["amount_clp"], annex["has_pdf"]) == (
            "AI-800001", 96.0, 9245, False)
        pdf = store.customer_bill("12345678-5", "5000001")["pdf"]
        assert bytes(pdf) == (SAMPLES / "pdf" / "boleta-5000001.pdf").read_bytes()
        months = store.customer_months("12345678-5", count=1)
        assert (months[0]["charges_clp"], months[0]["injection_clp"], months[0]["net_clp"]) == (40131, 9245, 30886)

        contract = store.generation_contract("12345678-5")
        assert (contract["contract_date"], contract["liquidation_date"], contract["installed_kw"]) == (
            "2023-09-12", "2025-09-12", 6.0)
        assert (contract["lon"], contract["lat"], contract["datum"], contract["zone"]) == (-72.9345, -41.4652, "WGS84",
                                                                                          "18S")
        assert contract["x"] == pytest.approx(672489, abs=1)  # computed from lon, lat
        assert store.customer_remanentes("12345678-5") == [{"month": "2025-02", "amount_clp": 1875},
                                                           {"month": "2025-01", "amount_clp": 3120}]
        assert store.customer_documents("12345678-5") == [{"file_name": "contrato-12345678-5.pdf", "kind": "contrato"}]
        document = store.customer_document("12345678-5", "contrato-12345678-5.pdf")
        assert bytes(document["pdf"]) == (SAMPLES / "pdf" / "contrato-12345678-5.pdf").read_bytes()


def test_an_import_again_updates_by_key_and_adds_nothing_twice(url, samples):
    with prepared(url) as store:
        supply_import.import_files(store, supply_import.files_in(str(samples)))
        counts = store.supply_counts()
        bills = samples / "bill.csv"
        bills.write_text(bills.read_text(encoding="utf-8").replace("40131", "40200"), encoding="utf-8")
        supply_import.import_files(store, [("bill", str(bills))])
        assert store.supply_counts() == counts
        assert store.customer_bills("12345678-5")[0]["amount_clp"] == 40200


def test_the_cli_imports_a_folder_or_files_of_a_kind(tmp_path):
    db = str(tmp_path / "cli.sqlite")
    prepared(db).close()
    result = CliRunner().invoke(cli, ["portal", "import", "--db", db, str(SAMPLES)])
    assert result.exit_code == 0, result.output
    assert "3 bill" in result.output and "1 document" in result.output and "2 supply" in result.output
    result = CliRunner().invoke(cli, ["portal", "import", "--db", db, "remanente", str(SAMPLES / "remanente.csv")])
    assert (result.exit_code, result.output) == (0, "2 remanente stored\n")
    result = CliRunner().invoke(cli, ["portal", "import", "--db", db, "boleta", str(SAMPLES / "bill.csv")])
    assert result.exit_code == 1 and "geometry, supply, bill, generation_contract, remanente or document, got " \
                                     "'boleta'" in result.output


# --- refused rows: each names file, row, column and rule, and nothing is stored ------------------------------

BAD_ROWS = [
    ("supply.csv", WITHOUT_SUPPLY + ",TD-00001,32,no", "supply.csv row 4: billing_day: must be a day of the month, "
                                                       "1 to 31, got '32'"),
    ("supply.csv", WITHOUT_SUPPLY + ",TD-09999,8,no", "supply.csv row 4: transformer: must be a transformer of the "
                                                      "database"),
    ("supply.csv", WITHOUT_SUPPLY + ",TD-00001,8,quizás", "supply.csv row 4: generation: must be yes or no"),
    ("supply.csv", "12345678-5,TD-00001,8,yes", "supply.csv row 4: customer_id: '12345678-5' is also on row 2"),
    ("supply.csv", UNKNOWN + ",TD-00001,8,no", "supply.csv row 4: customer_id: must be a customer of the register "
                                               "(opsm customers import), got '%s'" % UNKNOWN),
    ("bill.csv", "7654321-6,5000003,boleta,2025-05-15,2025-04,1,,100,", "bill.csv row 5: kind: must be suministro "
                                                                         "or inyeccion, got 'boleta'"),
    ("bill.csv", "7654321-6,5000003,suministro,2025-02-30,2025-02,1,,100,", "bill.csv row 5: issued_on: must be a "
                                                                             "date YYYY-MM-DD, got '2025-02-30'"),
    ("bill.csv", "7654321-6,5000003,suministro,2025-03-31,2025-04,1,,100,", "bill.csv row 5: issued_on: must not be "
                                                                             "before the bill's period"),
    ("bill.csv", "7654321-6,5000003,suministro,2025-05-15,2025-04,1,,100.5,", "bill.csv row 5: amount_clp: must be "
                                                                               "whole pesos"),
    ("bill.csv", "7654321-6,5000003,suministro,2025-05-15,2025-04,-3,,100,", "bill.csv row 5: kwh_consumed: must be "
                                                                              "a number, 0 or more, got '-3'"),
    ("bill.csv", "7654321-6,5000003,suministro,2025-05-15,2025-4,1,,100,", "bill.csv row 5: period: must be a month "
                                                                            "YYYY-MM"),
    ("bill.csv", "7654321-6,AI-3,Inyección,2025-05-15,2025-04,,1,100,", "bill.csv row 5: customer_id: must be a "
                                                                         "customer with generation (EG)"),
    ("bill.csv", "7654321-6,5000003,suministro,2025-05-15,2025-04,1,,100,pdf/nada.pdf", "bill.csv row 5: pdf: cannot "
                                                                                         "be read"),
    ("bill.csv", "7654321-6,5000003,suministro,2025-05-15,2025-04,1,,100,../supply.csv", "bill.csv row 5: pdf: must "
                                                                                          "name a file inside"),
    ("bill.csv", "12345678-5,5000001,suministro,2025-05-08,2025-04,1,,100,", "bill.csv row 5: number: ('12345678-5', "
                                                                              "'5000001') is also on row 2"),
    # the sample's one contract replaced (one per customer, and only one customer with generation)
    ("generation_contract.csv", "7654321-6,Pago en dinero,,2024-01-10,4,,,,,,", "generation_contract.csv row 2: "
                                                                                "customer_id: must be a customer with "
                                                                                "generation (EG)"),
    ("generation_contract.csv", "12345678-5,Pago en dinero,,,4,,,,,,", "generation_contract.csv row 2: "
                                                                       "contract_date: must not be empty"),
    ("generation_contract.csv", "12345678-5,Pago,,2024-01-10,mucho,,,,,,", "generation_contract.csv row 2: "
                                                                           "installed_kw: must be a number"),
    ("generation_contract.csv", "12345678-5,Pago,2024-01-32,2024-01-10,4,,,,,,", "generation_contract.csv row 2: "
                                                                                 "liquidation_date: must be a date"),
    ("generation_contract.csv", "12345678-5,Pago,,2024-01-10,4,672701.25,5407668.26,WGS84,18H,,",
     "generation_contract.csv row 2: zone: must be a UTM zone"),
    ("remanente.csv", "12345678-5,2025-13,100", "remanente.csv row 4: month: must be a month YYYY-MM"),
    ("remanente.csv", "12345678-5,2025-03,", "remanente.csv row 4: amount_clp: must not be empty"),
    ("document.csv", "12345678-5,factura,pdf/boleta-5000001.pdf", "document.csv row 3: kind: must be contrato, "
                                                                       "protocolo, estudio or otro, got 'factura'"),
    ("document.csv", "12345678-5,otro,", "document.csv row 3: pdf: must not be empty"),
]


@pytest.mark.parametrize("name, line, message", BAD_ROWS, ids=[message for _, _, message in BAD_ROWS])
def test_a_bad_row_is_refused_by_file_row_column_and_rule_and_nothing_is_stored(tmp_path, samples, name, line,
                                                                                 message):
    path = samples / name
    kept = path.read_text(encoding="utf-8").splitlines(keepends=True)
    path.write_text("".join(kept[:1] if name == "generation_contract.csv" else kept) + line + "\n", encoding="utf-8")
    problems = refused(prepared(str(tmp_path / "bad.sqlite")), samples)
    assert len(problems) == 1 and str(problems[0]).startswith(str(samples) + "/" + message), "\n".join(problems)


def test_an_unknown_customer_is_refused_by_its_row_and_nothing_is_stored(url, samples):
    remanentes = samples / "remanente.csv"
    remanentes.write_text(remanentes.read_text(encoding="utf-8") + UNKNOWN + ",2025-03,100\n", encoding="utf-8")
    with prepared(url) as store:
        problems = refused(store, samples)
    assert [(p.path, p.row, p.column, p.code) for p in problems] == [
        (str(remanentes), 4, "customer_id", "unknown_customer")]
    assert problems[0].text("es").endswith("fila 4, columna customer_id: debe ser un cliente del registro (opsm "
                                           "customers import); se recibió «%s»" % UNKNOWN)


def test_a_file_that_is_not_a_pdf_is_refused_and_nothing_is_stored(url, samples):
    (samples / "pdf" / "boleta-5000001.pdf").write_bytes(b"<html><body>boleta</body></html>")
    with prepared(url) as store:
        problems = refused(store, samples)
    assert [str(p) for p in problems] == ["%s row 2: pdf: must be a PDF file (it begins %%PDF-), got "
                                          "'pdf/boleta-5000001.pdf'" % (samples / "bill.csv")]


def test_pdfs_are_size_limited_one_by_one_and_all_together(tmp_path, samples, monkeypatch):
    store = prepared(str(tmp_path / "x.sqlite"))
    monkeypatch.setattr(supply_import, "MAX_PDF_BYTES", 1700)  # the bill's PDF is 1728 bytes, the contract's 1672
    assert [(p.row, p.column, p.code) for p in refused(store, samples)] == [(2, "pdf", "pdf_too_large")]
    monkeypatch.setattr(supply_import, "MAX_PDF_BYTES", 4096)
    monkeypatch.setattr(supply_import, "MAX_IMPORT_PDF_BYTES", 3000)
    assert [(p.path, p.code) for p in refused(store, samples)] == [(str(samples / "document.csv"), "import_too_large")]


def test_a_key_in_two_files_of_its_kind_is_refused(tmp_path):
    more = tmp_path / "more-remanentes.toml"
    more.write_text('[[remanente]]\ncustomer_id = "12345678-5"\nmonth = "2025-01"\namount_clp = "1"\n',
                    encoding="utf-8")
    with pytest.raises(RowFileError) as caught:
        supply_import.load(prepared(str(tmp_path / "x.sqlite")), [("supply", str(SAMPLES / "supply.csv")),
                                                                  ("remanente", str(SAMPLES / "remanente.csv")),
                                                                  ("remanente", str(more))])
    assert str(caught.value) == "%s row 1: month: ('12345678-5', '2025-01') is also in %s row 2" % (
        more, SAMPLES / "remanente.csv")


def test_a_folder_holds_only_customers_files_and_their_pdfs(samples):
    (samples / "pole.csv").write_text("plate\n")
    with pytest.raises(RowFileError, match="pole.csv: not a kind of customers' file"):
        supply_import.files_in(str(samples))
