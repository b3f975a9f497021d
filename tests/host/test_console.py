"""The vending console over HTTP (Starlette's test client): roles, CSRF, lock-out, licence rules, customers,
sales arithmetic, receipts and reports; the same sale on PostgreSQL."""

import datetime
import io
import re
import time

import openpyxl
import pytest
from starlette.testclient import TestClient

from host.console import money, receipts
from host.console.app import create_app
from host.console.records import LOCK_AFTER, Records
from host.store import Store
from protocol import sts_decoder as sts
from protocol.sts_amount import decode_amount, encode_amount
from tests.host.console_setup import ADMIN, PAN, SECOND_PAN, Setup

VENDOR = ("vendedor@example.org", "vendor-secret-1")


def _csrf(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


class Browser:
    """One person's session: logs in, reads the CSRF token of each page before posting."""

    def __init__(self, client: TestClient):
        self.client = client

    def login(self, email: str, password: str):
        page = self.client.get("/login")
        return self.client.post("/login", data={"csrf": _csrf(page), "email": email, "password": password},
                                follow_redirects=False)

    def post(self, path: str, data: dict, files=None, follow_redirects=True):
        page = self.client.get("/customers")
        return self.client.post(path, data=dict(data, csrf=_csrf(page)), files=files,
                                follow_redirects=follow_redirects)


@pytest.fixture
def setup(tmp_path):
    return Setup(tmp_path)


def _console(setup):
    return TestClient(create_app(setup.db, setup.registry, setup.keystore))


@pytest.fixture
def admin(setup):
    with _console(setup) as client:
        person = Browser(client)
        assert person.login(*ADMIN).status_code == 303
        yield person


def _add_vendor(admin):
    reply = admin.post("/admin/users", {"email": VENDOR[0], "name": "Pedro Vendedor", "role": "vendor",
                                        "password": VENDOR[1]})
    assert reply.status_code == 200 and "Guardado" in reply.text


def _sale(person, customer_id="1234567890", amount="1500"):
    return person.post("/recharge", {"customer_id": customer_id, "amount": amount}, follow_redirects=False)


def test_a_sale_splits_vat_and_issues_a_token_the_meter_takes(admin, setup):
    admin.post("/customers", {"customer_id": "1234567890", "name": "Usuario Prueba", "meter_pan": PAN})
    admin.post("/admin/product", {"description": "Energía", "price_cents": "500", "vat_bp": "19", "currency": "COP"})
    reply = _sale(admin, amount="1600")
    assert reply.status_code == 303 and reply.headers["location"] == "/invoices/1"
    page = admin.client.get("/invoices/1")
    code = re.search(r'id="code">([^<]+)<', page.text).group(1)
    assert re.fullmatch(r"\d{5} \d{5} \d{5} \d{5}", code)
    store = Store.open(setup.db)
    invoice = Records(store).invoice(1)
    charges = store.query("SELECT document, amount_cents, kwh FROM charges")
    store.close()
    # 1 600 at 500 per kWh, VAT 19 % included: 3.2 kWh, VAT 255.46, subtotal 1 344.54
    assert (invoice["total_cents"], invoice["vat_cents"], invoice["kwh_tenths"]) == (160000, 25546, 32)
    assert charges == [("1", 160000, 3.2)]
    meter = sts.StsDecoder(sts.StsState(setup.decoder_key(PAN), ea=11, base_year=2014))
    result = meter.decode(code.replace(" ", ""))
    assert result.ok and result.kind == sts.CREDIT and result.amount == decode_amount(encode_amount(32))


def test_money_rules():
    assert money.vat_inside(150000, 1900) == 23950  # 239.50 of VAT inside 1 500 at 19 %
    assert money.vat_inside(100, 1900) == 16        # 15.97 rounds half up to 16
    assert money.kwh_tenths(150000, 50000) == 30 and money.kwh_tenths(150001, 50000) == 31  # never less
    with pytest.raises(ValueError, match="amount: must be more than 0 with at most 2 decimals"):
        money.parse_cents("amount", "10.005")
    with pytest.raises(ValueError, match="vat: must be 0 to 99.99"):
        money.parse_basis_points("vat", "100")
    assert receipts.grouped("39176861828118759056") == "39176 86182 81187 59056"


def test_vendor_gets_403_on_admin_pages_and_edits_only_its_own_customers(admin, setup):
    _add_vendor(admin)
    admin.post("/customers", {"customer_id": "111", "name": "De la administración", "meter_pan": PAN})
    with _console(setup) as client:
        vendor = Browser(client)
        assert vendor.login(*VENDOR).status_code == 303
        for path in ("/admin/users", "/admin/product", "/admin/licence", "/admin/meters", "/admin/seller"):
            reply = client.get(path)
            assert reply.status_code == 403 and "No tiene permisos para ver esta página" in reply.text
        assert vendor.post("/admin/users", {"email": "x@y.z", "name": "x", "role": "admin",
                                            "password": "0123456789"}).status_code == 403
        reply = vendor.post("/customers/111/edit", {"name": "Cambiado"})
        assert reply.status_code == 403 and "No tiene permisos para modificar los datos de este usuario" in reply.text
        vendor.post("/customers", {"customer_id": "222", "name": "Del vendedor", "meter_pan": SECOND_PAN})
        reply = vendor.post("/customers/222/edit", {"name": "Nombre nuevo", "meter_pan": SECOND_PAN})
        assert reply.status_code == 200 and "Actualizado correctamente" in reply.text
        assert _sale(vendor, "111").status_code == 303  # a vendor sells to every customer
        assert client.get("/invoices/1").status_code == 200
    admin_sale = _sale(admin, "222")
    with _console(setup) as client:
        vendor = Browser(client)
        vendor.login(*VENDOR)
        assert client.get(admin_sale.headers["location"]).status_code == 404  # not its sale


def test_forms_without_the_session_csrf_token_are_refused(admin):
    reply = admin.client.post("/customers", data={"csrf": "forged", "customer_id": "9", "name": "x"})
    assert reply.status_code == 403 and "El formulario expiró" in reply.text
    assert "9" not in [row for row in re.findall(r"<td>(\w+)</td>", admin.client.get("/customers").text)]


def test_lock_out_after_failed_logins(setup):
    with _console(setup) as client:
        person = Browser(client)
        for _ in range(LOCK_AFTER - 1):
            reply = person.login(ADMIN[0], "wrong password")
            assert reply.status_code == 401 and "Correo o contraseña incorrectos" in reply.text
        reply = person.login(ADMIN[0], "wrong password")
        assert reply.status_code == 401 and "Cuenta bloqueada" in reply.text
        reply = person.login(*ADMIN)  # even the right password, until the lock ends
        assert reply.status_code == 401 and "Cuenta bloqueada" in reply.text
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"
    store = Store.open(setup.db)
    store.execute("UPDATE console_users SET locked_until = ?", (int(time.time()) - 1,))
    store.db.commit()
    store.close()
    with _console(setup) as client:
        assert Browser(client).login(*ADMIN).status_code == 303


def test_licence_limits_with_the_seeds_messages(admin):
    expires = (datetime.datetime.now() + datetime.timedelta(days=30)).strftime("%Y-%m-%d %H:%M")
    reply = admin.post("/admin/licence", {"holder": "Entidad", "expires_at": expires, "max_customers": "2",
                                          "invoice_first": "100", "invoice_last": "101"})
    assert "Guardado" in reply.text and "Comprobantes restantes: 2" in reply.text
    admin.post("/customers", {"customer_id": "1", "name": "Uno", "meter_pan": PAN})
    reply = admin.post("/customers", {"customer_id": "1", "name": "Otra vez"})
    assert "Ya existe un usuario con la identificacion ingresada" in reply.text
    admin.post("/customers", {"customer_id": "2", "name": "Dos", "meter_pan": SECOND_PAN})
    reply = admin.post("/customers", {"customer_id": "3", "name": "Tres"})
    assert "se han completado 2 usuarios" in reply.text
    assert [_sale(admin, "1").headers["location"], _sale(admin, "2").headers["location"]] == ["/invoices/100",
                                                                                                "/invoices/101"]
    reply = _sale(admin, "1")
    assert reply.status_code == 400 and "ha excedido la cantidad de comprobantes asignadas" in reply.text
    past = (datetime.datetime.now() - datetime.timedelta(days=1)).replace(second=0, microsecond=0)
    admin.post("/admin/licence", {"holder": "Entidad", "expires_at": past.strftime("%Y-%m-%d %H:%M"),
                                  "max_customers": "5", "invoice_first": "100", "invoice_last": "200"})
    reply = _sale(admin, "1")
    assert "La licencia ha expirado el dia %s" % past.strftime("%Y-%m-%d %H:%M:%S") in reply.text
    reply = admin.post("/admin/licence", {"holder": "", "expires_at": "mañana", "max_customers": "5",
                                          "invoice_first": "1", "invoice_last": "9"})
    assert reply.status_code == 400 and "expires_at: must be YYYY-MM-DD HH:MM" in reply.text


def test_excel_import_reports_every_row(admin):
    book = openpyxl.Workbook()
    sheet = book.active
    sheet.append(["Identificacion", "Nombre", "Celular", "Correo", "Direccion", "Medidor"])
    sheet.append([1234567890, "Usuario Prueba", "3000000000", "u@example.org", "Calle 1", PAN])
    sheet.append([1234567890, "Repetido", "", "", "", ""])
    sheet.append(["555", "", "", "", "", ""])
    sheet.append(["777", "Con medidor malo", "", "", "", "600727000000000001"])
    sheet.append(["888", "Sin medidor", "", "correo-malo", "", ""])
    sheet.append(["999", "Bien", "", "", "", SECOND_PAN])
    data = io.BytesIO()
    book.save(data)
    reply = admin.post("/customers", {}, files={"file": ("usuarios.xlsx", data.getvalue(),
                                                         "application/vnd.openxmlformats-officedocument."
                                                         "spreadsheetml.sheet")})
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", reply.text)
    assert [(int(n), who, result) for n, who, result in rows] == [
        (2, "1234567890", "Agregado correctamente"),
        (3, "1234567890", "Ya existe un usuario con la identificacion ingresada"),
        (4, "555", "name: must not be empty"),
        (5, "777", "meter_pan: check digit 1 is wrong (Luhn gives 9)"),
        (6, "888", "email: must be an e-mail address, got &#39;correo-malo&#39;"),
        (7, "999", "Agregado correctamente")]
    reply = admin.post("/customers", {}, files={"file": ("x.xlsx", b"not a workbook", "application/octet-stream")})
    assert reply.status_code == 400 and "not an Excel .xlsx workbook" in reply.text


def test_sales_reports_by_vendor_customer_and_all(admin, setup):
    _add_vendor(admin)
    admin.post("/customers", {"customer_id": "1", "name": "Uno", "meter_pan": PAN})
    admin.post("/customers", {"customer_id": "2", "name": "Dos", "meter_pan": SECOND_PAN})
    _sale(admin, "1", "1000")
    with _console(setup) as client:
        vendor = Browser(client)
        vendor.login(*VENDOR)
        _sale(vendor, "2", "250.50")
        _sale(vendor, "1", "100")
        page = client.get("/reports?by=all")
        assert re.search(r'id="count">(\d+)', page.text).group(1) == "2"  # a vendor's report holds its own sales
    today = datetime.date.today().isoformat()
    for query, count, total in (("by=all", 3, "1350.50"), ("by=vendor&who=" + VENDOR[0], 2, "350.50"),
                                ("by=customer&who=1", 2, "1100.00"), ("by=all&from=2020-01-01&to=2020-12-31", 0,
                                                                       "0.00")):
        page = admin.client.get("/reports?" + query)
        assert (re.search(r'id="count">(\d+)', page.text).group(1),
                re.search(r'id="total">([\d.]+)', page.text).group(1)) == (str(count), total), query
    pdf = admin.client.get("/reports.pdf?by=customer&who=1&from=%s&to=%s" % (today, today))
    assert pdf.status_code == 200 and pdf.content.startswith(b"%PDF-")
    assert admin.client.get("/reports?by=all&from=ayer").status_code == 400


def test_receipts_in_three_formats(admin):
    admin.post("/customers", {"customer_id": "1", "name": "Uno", "meter_pan": PAN})
    _sale(admin, "1")
    sizes = {}
    for paper in ("letter", "80mm", "58mm"):
        reply = admin.client.get("/invoices/1/%s.pdf" % paper)
        assert reply.status_code == 200 and reply.content.startswith(b"%PDF-")
        width = float(re.search(rb"/MediaBox \[\s*0 0 ([\d.]+) ([\d.]+)", reply.content).group(1))
        sizes[paper] = round(width / 72 * 25.4)
    assert sizes == {"letter": 216, "80mm": 80, "58mm": 58}
    assert admin.client.get("/invoices/1/a4.pdf").status_code == 404


def test_english_on_request(admin):
    admin.client.get("/lang/en")
    page = admin.client.get("/recharge")
    assert "New recharge" in page.text and "Amount paid" in page.text


def test_a_sale_on_postgresql(postgres_db, tmp_path):
    setup = Setup(tmp_path, postgres_db)
    with _console(setup) as client:
        person = Browser(client)
        assert person.login(*ADMIN).status_code == 303
        person.post("/customers", {"customer_id": "1", "name": "Uno", "meter_pan": PAN})
        assert _sale(person, "1").headers["location"] == "/invoices/1"
        assert _sale(person, "1").headers["location"] == "/invoices/2"
    store = Store.open(postgres_db)
    assert store.query("SELECT number, total_cents FROM invoices ORDER BY number") == [(1, 150000), (2, 150000)]
    store.close()


def test_vend_serve_creates_the_first_administrator_and_serves(tmp_path):
    """`opsm vend serve` as the README runs it: a made password printed once, the login page on loopback."""
    import os
    import socket
    import subprocess
    import sys
    import urllib.request

    setup = Setup(tmp_path, str(tmp_path / "fresh.sqlite"))  # Setup's own administrator is in another database
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OPSM_DB=setup.registry, OPSM_KEYFILE=setup.keyfile, OPSM_PASSPHRASE="correct horse "
               "battery staple", OPSM_HARVEST_DB=str(tmp_path / "ops.sqlite"))
    env.pop("OPSM_ADMIN_PASSWORD", None)
    server = subprocess.Popen([sys.executable, "-m", "host.cli", "vend", "serve", "--port", str(port),
                               "--admin-email", "jefe@example.org"], env=env, stdout=subprocess.PIPE, text=True)
    try:
        first = server.stdout.readline()
        password = re.match(r"first administrator: jefe@example.org, password (\S+) \(shown once", first).group(1)
        deadline = time.time() + 20
        while True:
            try:
                with urllib.request.urlopen("http://127.0.0.1:%d/login" % port, timeout=2) as reply:
                    assert reply.status == 200 and "Iniciar sesión" in reply.read().decode()
                break
            except OSError:
                assert time.time() < deadline and server.poll() is None
                time.sleep(0.1)
    finally:
        server.terminate()
        server.wait(10)
    store = Store.open(str(tmp_path / "ops.sqlite"))
    assert Records(store).login("jefe@example.org", password)["role"] == "admin"
    store.close()


def test_admin_registers_a_meter_and_names_the_seller_on_receipts(admin, setup):
    import subprocess

    new_pan = "600727000000000025"
    reply = admin.post("/admin/meters", {"pan": new_pan, "sgc": "123457", "ti": "1", "krn": "1", "base_year": "2014",
                                         "vending_key": "default"})
    assert reply.status_code == 200 and new_pan in reply.text
    reply = admin.post("/admin/meters", {"pan": "600727000000000026", "sgc": "123457", "ti": "1", "krn": "1",
                                         "base_year": "2014", "vending_key": "default"})
    assert reply.status_code == 400 and "pan: check digit 6 is wrong" in reply.text
    reply = admin.post("/admin/meters", {"pan": new_pan, "sgc": "123457", "ti": "1", "krn": "1", "base_year": "2014",
                                         "vending_key": "missing"})
    assert reply.status_code == 400 and "no key named &#39;missing&#39;" in reply.text
    admin.post("/admin/seller", {"name": "Energía Solar Comunitaria", "address": "Vereda El Sol", "contact":
                                 "+57 300 000 0000", "terms": "Pago al contado"})
    admin.post("/customers", {"customer_id": "1", "name": "Uno", "meter_pan": new_pan})
    _sale(admin, "1", "500")
    pdf = admin.client.get("/invoices/1/58mm.pdf").content
    text = subprocess.run(["pdftotext", "-", "-"], input=pdf, capture_output=True, check=True).stdout.decode()
    assert "Energía Solar Comunitaria" in text and "Pago al contado" in text and new_pan in text
    meter = sts.StsDecoder(sts.StsState(setup.decoder_key(new_pan), ea=11, base_year=2014))
    store = Store.open(setup.db)
    token = Records(store).invoice(1)["token"]
    store.close()
    assert meter.decode(token).amount == decode_amount(encode_amount(10))  # 500 at 500 per kWh: 1.0 kWh


def test_a_user_changes_its_own_password(admin, setup):
    reply = admin.post("/account", {"current": "not it", "password": "a-new-secret-2"})
    assert reply.status_code == 400 and "La contraseña actual no es correcta" in reply.text
    reply = admin.post("/account", {"current": ADMIN[1], "password": "short"})
    assert reply.status_code == 400 and "password: must be at least 10 characters" in reply.text
    assert admin.post("/account", {"current": ADMIN[1], "password": "a-new-secret-2"}).status_code == 200
    with _console(setup) as client:
        assert Browser(client).login(*ADMIN).status_code == 401
        assert Browser(client).login(ADMIN[0], "a-new-secret-2").status_code == 303


def test_customer_search(admin):
    for customer_id, name in (("100", "Ana Pérez"), ("200", "Bruno Díaz"), ("300", "Anabel Ruiz")):
        admin.post("/customers", {"customer_id": customer_id, "name": name})
    listed = lambda query: re.findall(r"<tr><td>(\d+)</td><td>", admin.client.get("/customers?q=" + query).text)  # noqa: E731
    assert listed("ana") == ["100", "300"] and listed("200") == ["200"] and listed("") == ["100", "300", "200"]
