"""The vending console in a real browser: Playwright driving Debian's Chromium (make setup installs it) against
`opsm vend serve`'s application on loopback. An administrator sets up the sale and imports customers, a vendor
sells, downloads every receipt and a report; the codes decode on the simulated meter to the kWh paid for."""

import io
import socket
import subprocess
import threading
import time

import openpyxl
import pytest
import uvicorn
from playwright.sync_api import sync_playwright

from host.console.app import create_app
from simulator.scenario_run import Run
from tests.host.console_setup import ADMIN, PAN, Setup

CHROMIUM = "/usr/bin/chromium"
# without the background-networking flags Chromium keeps dialling out, and this machine refuses it
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
VENDOR = ("cajero@example.org", "cajero-secret-1")


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    """The console served by uvicorn on a free loopback port, in a thread."""
    setup = Setup(tmp_path_factory.mktemp("console"))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(create_app(setup.db, setup.registry, setup.keystore), log_level="warning"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.time() + 20
    while not server.started and time.time() < deadline:
        time.sleep(0.05)
    assert server.started
    yield setup, "http://127.0.0.1:%d" % sock.getsockname()[1]
    server.should_exit = True
    thread.join(10)


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        yield chromium
        chromium.close()


def _log_in(page, base: str, email: str, password: str) -> None:
    page.goto(base + "/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(base + "/")


def _submit(page, form: str, fields: dict) -> None:
    for name, value in fields.items():
        page.fill("%s [name=%s]" % (form, name), value)
    page.click("%s button[type=submit]" % form)
    page.wait_for_load_state()


def _download(page, selector: str, folder) -> str:
    with page.expect_download() as info:
        page.click(selector)
    path = str(folder / info.value.suggested_filename)
    info.value.save_as(path)
    return path


def _pdf_text(path: str) -> str:
    with open(path, "rb") as f:
        assert f.read(5) == b"%PDF-"
    return subprocess.run(["pdftotext", "-layout", path, "-"], capture_output=True, text=True, check=True).stdout


def _credit_on_meter(setup, codes: list, folder) -> float:
    """kWh of credit a fresh simulated meter holds after its keypad took the codes (each between * and *)."""
    folder.mkdir()
    run = Run({"meter": {"key": setup.decoder_key(PAN).hex(), "base_year": 2014}}, str(folder))
    for code in codes:
        run.type("*" + code + "*")
        run.advance(3000, 1000)
    return run.meter.available_wh() / 1000


def test_admin_sets_up_a_vendor_sells_and_prints(console, browser, tmp_path):
    setup, base = console
    admin = browser.new_context(accept_downloads=True).new_page()
    _log_in(admin, base, *ADMIN)
    admin.goto(base + "/admin/product")
    _submit(admin, "#product", {"description": "Energía Eléctrica Kilo Vatio hora (kWh)", "price_cents": "500",
                                "vat_bp": "19", "currency": "COP"})
    assert admin.locator("[role=status]").inner_text() == "Guardado"
    admin.goto(base + "/admin/licence")
    _submit(admin, "#licence", {"holder": "Entidad solar", "expires_at": "2099-12-31 23:59", "max_customers": "50",
                                "invoice_first": "80070", "invoice_last": "80999"})
    admin.goto(base + "/admin/users")
    admin.fill("#add-user [name=email]", VENDOR[0])
    admin.fill("#add-user [name=name]", "Caja 1")
    admin.select_option("#add-user [name=role]", "vendor")
    admin.fill("#add-user [name=password]", VENDOR[1])
    admin.click("#add-user button[type=submit]")
    assert VENDOR[0] in admin.locator("table").inner_text()

    book = openpyxl.Workbook()
    book.active.append(["Identificacion", "Nombre", "Celular", "Correo", "Direccion", "Medidor"])
    book.active.append(["1234567890", "Usuario Prueba", "3000000000", "", "Vereda El Sol", PAN])
    book.active.append(["1234567890", "Usuario Repetido", "", "", "", PAN])
    path = tmp_path / "usuarios.xlsx"
    book.save(path)
    admin.goto(base + "/customers")
    admin.set_input_files("#import input[type=file]", str(path))
    admin.click("#import button[type=submit]")
    report = admin.locator("#import-report").inner_text()
    assert "Agregado correctamente" in report and "Ya existe un usuario con la identificacion ingresada" in report

    vendor_context = browser.new_context(accept_downloads=True)
    vendor = vendor_context.new_page()
    _log_in(vendor, base, *VENDOR)
    assert vendor.goto(base + "/admin/users").status == 403
    assert vendor.goto(base + "/admin/product").status == 403

    codes = []
    for _ in range(2):  # the same sale twice: two different codes, both good
        vendor.goto(base + "/recharge")
        vendor.fill("#customer_id", "1234567890")
        vendor.dispatch_event("#customer_id", "change")
        vendor.wait_for_function("document.getElementById('customer_name').textContent === 'Usuario Prueba'")
        vendor.fill("#amount", "1600")
        assert vendor.locator("#kwh").inner_text() == "3.2"
        assert vendor.locator("#vat").inner_text() == "255.46"
        vendor.click("#recargar")
        vendor.wait_for_url(base + "/invoices/*")
        codes.append(vendor.locator("#code").inner_text())
    assert codes[0] != codes[1] and all(len(code.replace(" ", "")) == 20 for code in codes)
    assert vendor.url.endswith("/invoices/80071")

    for paper in ("letter", "80mm", "58mm"):
        text = _pdf_text(_download(vendor, "#receipt-" + paper, tmp_path))
        assert codes[1] in text and "Usuario Prueba" in text and "1600.00" in text and "255.46" in text, paper
        assert "3.2" in text and "500.00" in text, paper
    vendor.goto(base + "/reports")
    text = _pdf_text(_download(vendor, "#download", tmp_path))
    assert "80070" in text and "80071" in text and "3200.00" in text and "3.2" in text

    # each code carries the 3.2 kWh paid for; the meter takes both
    assert _credit_on_meter(setup, [c.replace(" ", "") for c in codes], tmp_path / "meter") == pytest.approx(6.4)
    vendor_context.close()


def test_an_imported_register_with_a_bad_row_is_reported_row_by_row(console, browser, tmp_path):
    setup, base = console
    page = browser.new_page()
    _log_in(page, base, *ADMIN)
    data = io.BytesIO()
    book = openpyxl.Workbook()
    book.active.append(["Identificacion", "Nombre"])
    book.active.append(["42", ""])
    book.save(data)
    (tmp_path / "malo.xlsx").write_bytes(data.getvalue())
    page.goto(base + "/customers")
    page.set_input_files("#import input[type=file]", str(tmp_path / "malo.xlsx"))
    page.click("#import button[type=submit]")
    assert "name: must not be empty" in page.locator("#import-report").inner_text()
