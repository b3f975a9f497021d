"""The vending console over HTTP (Starlette's test client): roles, CSRF, sessions, login throttling, licence
rules, customers and who sees them, sales arithmetic and one sale per form, uploads, receipts, reports, headers,
messages; the same sale on PostgreSQL."""

import asyncio
import datetime
import html
import io
import re
import subprocess
import tempfile
import threading
import time

import openpyxl
import pytest
from starlette.testclient import TestClient

from opsm.host import rowfile
from opsm.host.console import money, passwords, receipts
from opsm.host.console.app import create_app
from opsm.host.console.i18n import translate
from opsm.host.console.records import Records
from opsm.host.registry import Registry
from opsm.host.store import Store
from opsm.protocol import sts_decoder as sts
from opsm.protocol.sts_amount import decode_amount, encode_amount
from tests.host.console_setup import ADMIN, PAN, SECOND_PAN, Setup, huge_workbook

VENDOR = ("vendedor@example.org", "vendor-secret-1")


def _csrf(page) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)


def _alert(page) -> str:
    """The page's error (or the message page's text)."""
    found = re.search(r'role="alert">([^<]*)<', page.text)
    return html.unescape(found.group(1)) if found else ""


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


def _console(setup, address: str = "testclient", **options):
    """A console of its own (its own connections) on the setup's databases, seen from `address`."""
    return TestClient(create_app(setup.db, setup.registry, setup.keystore), client=(address, 50000), **options)


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


def _sale_form(person) -> dict:
    """The hidden fields of a fresh recharge form: the CSRF token and the form's one-time sale key."""
    page = person.client.get("/recharge")
    return {"csrf": _csrf(page), "sale_key": re.search(r'name="sale_key" value="([^"]+)"', page.text).group(1)}


def _sale(person, customer_id="1234567890", amount="1500", form=None):
    return person.client.post("/recharge", data=dict(form or _sale_form(person), customer_id=customer_id,
                                                     amount=amount), follow_redirects=False)


def _invoice_count(setup) -> int:
    store = Store.open(setup.db)
    try:
        return store.query("SELECT COUNT(*) FROM invoices")[0][0]
    finally:
        store.close()


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
    with pytest.raises(ValueError, match="Amount paid: must be more than 0 with at most 2 decimals") as caught:
        money.parse_cents("recharge.amount", "10.005")
    assert translate("es", caught.value) == ("Valor a pagar: debe ser un valor mayor que 0 con máximo 2 decimales, "
                                             "como 1500 o 1500.50; se recibió «10.005»")
    with pytest.raises(ValueError, match="VAT %: must be a percentage from 0 to 99.99"):
        money.parse_basis_points("product.vat", "100")
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
        assert reply.status_code == 404  # not its customer: not even there
        vendor.post("/customers", {"customer_id": "222", "name": "Del vendedor", "meter_pan": SECOND_PAN})
        reply = vendor.post("/customers/222/edit", {"name": "Nombre nuevo", "meter_pan": SECOND_PAN})
        assert reply.status_code == 200 and "Actualizado correctamente" in reply.text
        assert _sale(vendor, "111").status_code == 303  # a vendor sells to every customer who shows an identification
        assert client.get("/invoices/1").status_code == 200
        reply = vendor.post("/customers/111/edit", {"name": "Cambiado"})  # sold to, seen, still not its own
        assert reply.status_code == 403 and "No tiene permisos para modificar los datos de este usuario" in reply.text
    admin_sale = _sale(admin, "222")
    with _console(setup) as client:
        vendor = Browser(client)
        vendor.login(*VENDOR)
        assert client.get(admin_sale.headers["location"]).status_code == 404  # not its sale


def test_forms_without_the_session_csrf_token_are_refused(admin):
    reply = admin.client.post("/customers", data={"csrf": "forged", "customer_id": "9", "name": "x"})
    assert reply.status_code == 403 and "El formulario expiró" in reply.text
    assert "9" not in [row for row in re.findall(r"<td>(\w+)</td>", admin.client.get("/customers").text)]


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
    assert reply.status_code == 400
    assert _alert(reply) == "Vence: debe tener la forma AAAA-MM-DD HH:MM; se recibió «mañana»"


def test_the_template_imports_and_spanish_excel_csv_and_rut_spellings_make_one_customer(admin):
    reply = admin.client.get("/customers/template.xlsx")
    assert reply.status_code == 200 and "attachment" in reply.headers["content-disposition"]
    book = openpyxl.load_workbook(io.BytesIO(reply.content))
    sheet = book.active
    assert [c.value for c in sheet[1]][:2] == ["Identificación", "Nombre"]
    sheet.append(["12.345.678-5", "Con puntos", "", "", "", PAN])        # the template's columns are text
    sheet.append(["12345678-5", "Sin puntos", "", "", "", ""])            # the same RUT: the same person
    data = io.BytesIO()
    book.save(data)
    reply = admin.post("/customers", {}, files={"file": ("plantilla.xlsx", data.getvalue(), "application/x")})
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", reply.text)
    assert [(int(n), who, result) for n, who, result in rows] == [
        (2, "12.345.678-5", "Agregado correctamente"),                     # as typed, stored as 12345678-5
        (3, "12345678-5", "Ya existe un usuario con la identificacion ingresada")]
    # what Excel in Spanish saves as CSV: ';' and Windows-1252; a blank row still counts
    text = "Identificación;Nombre;Correo\n\n87654321-4;José Núñez;jn@example.org\n".encode("cp1252")
    reply = admin.post("/customers", {}, files={"file": ("usuarios.csv", text, "text/csv")})
    rows = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>", reply.text)
    assert [(int(n), who, result) for n, who, result in rows] == [(3, "87654321-4", "Agregado correctamente")]
    assert "José Núñez" in html.unescape(admin.client.get("/customers").text)


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
        (4, "555", "Cliente: no puede estar vacío"),
        (5, "777", "PAN del medidor: el dígito de control 1 no es correcto (Luhn da 9)"),
        (6, "888", "Correo electrónico: debe ser una dirección de correo; se recibió «correo-malo»"),
        (7, "999", "Agregado correctamente")]
    reply = admin.post("/customers", {}, files={"file": ("x.xlsx", b"not a workbook", "application/octet-stream")})
    assert reply.status_code == 400 and _alert(reply) == "No se pudo leer «x.xlsx»: no es un libro de Excel .xlsx"
    assert tempfile.gettempdir() not in reply.text


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


def test_english_on_request(admin, setup):
    admin.client.get("/lang/en")
    page = admin.client.get("/recharge")
    assert "New recharge" in page.text and "Amount paid" in page.text
    with _console(setup, headers={"Accept-Language": "en-GB,en;q=0.9,es;q=0.5"}) as client:
        assert "Log in" in client.get("/login").text  # the browser's language, until the person chooses
        client.get("/lang/es")
        assert "Iniciar sesión" in client.get("/login").text
    with _console(setup, headers={"Accept-Language": "fr-FR,fr;q=0.9"}) as client:
        assert "Iniciar sesión" in client.get("/login").text  # Spanish when the browser asks for neither


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
    server = subprocess.Popen([sys.executable, "-m", "opsm", "vend", "serve", "--port", str(port),
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
    user, stored = Records(store).credentials("jefe@example.org")
    store.close()
    assert user["role"] == "admin" and passwords.matches(password, stored)


def test_admin_registers_a_meter_and_names_the_seller_on_receipts(admin, setup):
    import subprocess

    new_pan = "600727000000000025"
    reply = admin.post("/admin/meters", {"pan": new_pan, "sgc": "123457", "ti": "1", "krn": "1", "base_year": "2014",
                                         "vending_key": "default"})
    assert reply.status_code == 200 and new_pan in reply.text
    reply = admin.post("/admin/meters", {"pan": "600727000000000026", "sgc": "123457", "ti": "1", "krn": "1",
                                         "base_year": "2014", "vending_key": "default"})
    assert reply.status_code == 400
    assert _alert(reply) == "PAN del medidor: el dígito de control 6 no es correcto (Luhn da 5)"
    reply = admin.post("/admin/meters", {"pan": new_pan, "sgc": "123457", "ti": "1", "krn": "1", "base_year": "2014",
                                         "vending_key": "missing"})
    assert reply.status_code == 400 and _alert(reply) == "No hay una llave de venta llamada «missing»"
    assert setup.keyfile not in reply.text and setup.folder not in reply.text
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
    assert reply.status_code == 400 and _alert(reply) == "La contraseña debe tener al menos 10 caracteres"
    assert admin.post("/account", {"current": ADMIN[1], "password": "a-new-secret-2"}).status_code == 200
    with _console(setup) as client:
        assert Browser(client).login(*ADMIN).status_code == 401
        assert Browser(client).login(ADMIN[0], "a-new-secret-2").status_code == 303


def test_customer_search(admin):
    for customer_id, name in (("100", "Ana Pérez"), ("200", "Bruno Díaz"), ("300", "Anabel Ruiz")):
        admin.post("/customers", {"customer_id": customer_id, "name": name})
    listed = lambda query: re.findall(r"<tr><td>(\d+)</td><td>", admin.client.get("/customers?q=" + query).text)  # noqa: E731
    assert listed("ana") == ["100", "300"] and listed("200") == ["200"] and listed("") == ["100", "300", "200"]


# --- one sale per form ----------------------------------------------------------------------------------------


def test_a_repeated_or_double_submitted_sale_form_sells_once(admin, setup):
    admin.post("/customers", {"customer_id": "1", "name": "Uno", "meter_pan": PAN})
    form = _sale_form(admin)
    first, again = _sale(admin, "1", form=form), _sale(admin, "1", form=form)
    assert first.status_code == again.status_code == 303
    assert first.headers["location"] == again.headers["location"] == "/invoices/1"  # the first sale's invoice
    assert _invoice_count(setup) == 1
    registry = Registry(setup.registry)
    assert len(registry.tokens(PAN)) == 1  # one token issued, not two
    registry.close()
    reply = _sale(admin, "1", amount="3000", form=form)  # the same form sent again for another sale
    assert reply.status_code == 400 and "Este formulario ya se usó para otra venta" in _alert(reply)
    assert _sale(admin, "1").headers["location"] == "/invoices/2"  # a new form is a new sale
    reply = admin.client.post("/recharge", data={"csrf": form["csrf"], "customer_id": "1", "amount": "1500"})
    assert reply.status_code == 400 and _invoice_count(setup) == 2  # no key, no sale


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_one_sale_per_key_across_connections(database, tmp_path, request):
    """Two connections (two console processes) selling with one key: one token is issued, both get its invoice."""
    setup = Setup(tmp_path, request.getfixturevalue("postgres_db") if database == "postgresql" else None)
    store = Store.open(setup.db)
    records = Records(store)
    records.add_customer({"customer_id": "1", "name": "Uno", "meter_pan": PAN}, 1)
    customer, vendor, product = records.customer("1"), records.user(1), records.product()
    store.close()
    issued, numbers, start = [], [], threading.Barrier(2)

    def issue(tenths):
        issued.append(tenths)
        time.sleep(0.3)  # long enough for the other connection to arrive while this sale is under way
        return {"token": "1234567890" * 2, "amount_tenths": tenths}

    def sell():
        with Store.open(setup.db) as own:
            start.wait()
            numbers.append(Records(own).sell("k" * 32, customer, vendor, product, 150000, issue))

    threads = [threading.Thread(target=sell) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert numbers == [1, 1] and len(issued) == 1 and _invoice_count(setup) == 1


# --- sessions ------------------------------------------------------------------------------------------------


def test_logout_revokes_the_session_the_old_cookie_gets_the_login_page(setup):
    with _console(setup) as client:
        person = Browser(client)
        assert person.login(*ADMIN).status_code == 303
        cookies = dict(client.cookies)
        assert client.get("/", follow_redirects=False).status_code == 200
        assert person.post("/logout", {}, follow_redirects=False).headers["location"] == "/login"
    with _console(setup) as client:
        for name, value in cookies.items():
            client.cookies.set(name, value)
        reply = client.get("/", follow_redirects=False)
        assert reply.status_code == 303 and reply.headers["location"] == "/login"


def test_a_password_change_revokes_every_session_of_that_user(setup):
    with _console(setup) as mine, _console(setup) as other:
        me, elsewhere = Browser(mine), Browser(other)
        me.login(*ADMIN)
        elsewhere.login(*ADMIN)
        before = dict(mine.cookies)
        assert me.post("/account", {"current": ADMIN[1], "password": "a-new-secret-2"}).status_code == 200
        assert other.get("/", follow_redirects=False).headers["location"] == "/login"
        assert mine.get("/", follow_redirects=False).status_code == 200  # who changed it goes on, in a new session
    with _console(setup) as client:
        for name, value in before.items():
            client.cookies.set(name, value)
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_sessions_expire(setup, monkeypatch):
    with _console(setup) as client:
        Browser(client).login(*ADMIN)
        assert client.get("/", follow_redirects=False).status_code == 200
        later = time.time() + 8 * 3600 + 1
        monkeypatch.setattr(time, "time", lambda: later)
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"


def test_an_account_locked_by_an_administrator_is_logged_out_and_answers_like_a_wrong_password(admin, setup):
    _add_vendor(admin)
    store = Store.open(setup.db)
    vendor_id = store.query("SELECT id FROM console_users WHERE email = ?", (VENDOR[0],))[0][0]
    store.close()
    with _console(setup, "10.0.0.2") as client:
        vendor = Browser(client)
        assert vendor.login(*VENDOR).status_code == 303
        reply = admin.post("/admin/users/%d/lock" % vendor_id, {"locked": "1"})
        assert reply.status_code == 200 and "Bloqueada" in reply.text
        assert client.get("/", follow_redirects=False).headers["location"] == "/login"
        reply = vendor.login(*VENDOR)
        assert reply.status_code == 401 and _alert(reply) == "Correo o contraseña incorrectos"
        reply = admin.post("/admin/users/%d/lock" % vendor_id, {"locked": "0"})
        assert vendor.login(*VENDOR).status_code == 303
    own_id = 1
    reply = admin.post("/admin/users/%d/lock" % own_id, {"locked": "1"})
    assert reply.status_code == 400 and _alert(reply) == "No puede bloquear su propia cuenta"


# --- logins: one answer for every account, throttled, never a long lock ---------------------------------------


def test_unknown_known_and_locked_accounts_get_the_same_answers(admin, setup):
    _add_vendor(admin)
    store = Store.open(setup.db)
    vendor_id = store.query("SELECT id FROM console_users WHERE email = ?", (VENDOR[0],))[0][0]
    store.close()
    assert "Bloqueada" in admin.post("/admin/users/%d/lock" % vendor_id, {"locked": "1"}).text
    answers = {}
    for n, email in enumerate((ADMIN[0], "nadie@example.org", VENDOR[0])):
        with _console(setup, "10.0.1.%d" % n) as client:
            person = Browser(client)
            answers[email] = [(reply.status_code, _alert(reply)) for reply in
                              (person.login(email, "wrong password") for _ in range(7))]
    assert answers[ADMIN[0]] == answers["nadie@example.org"] == answers[VENDOR[0]]
    assert answers[ADMIN[0]][:5] == [(401, "Correo o contraseña incorrectos")] * 5
    assert answers[ADMIN[0]][5][0] == 429 and "Demasiados intentos fallidos" in answers[ADMIN[0]][5][1]


def test_login_throttle_grows_is_capped_and_forgets(setup):
    store = Store.open(setup.db)
    records = Records(store)
    keys, now, waits = ("account:a", "address:b"), 1000.0, []
    for _ in range(12):
        assert records.login_attempt(keys, now) == 0  # admitted, and counted until it succeeds
        waits.append(records.login_wait(keys, now))  # what the next try waits
        now += waits[-1]
    assert waits == [0, 0, 0, 0, 1, 2, 4, 8, 16, 32, 60, 60]
    last = now - 60  # the twelfth failure
    assert records.login_attempt(keys, last + 30) == 30  # refused at once: a try while waiting is not counted
    assert records.login_wait(keys, last + 30) == 30  # and does not lengthen the wait
    assert records.login_attempt(keys, last + 15 * 60 + 1) == 0  # forgotten a quarter of an hour after the last
    assert records.login_wait(keys, last + 15 * 60 + 1) == 0  # counting from one again
    for _ in range(5):
        records.login_attempt(("account:c", "address:d"), now)
    assert records.login_wait(("account:c",), now) == records.login_wait(("address:d",), now) == 1
    records.login_succeeded(reset=("account:c",), undo=("address:d",))  # the fifth try had the right password
    assert records.login_wait(("account:c",), now) == records.login_wait(("address:d",), now) == 0
    records.login_attempt(("address:d",), now)
    assert records.login_wait(("address:d",), now) == 1  # the address keeps its four earlier failures
    store.close()


def test_the_owner_logs_in_from_a_known_browser_while_an_attacker_is_throttled(setup, monkeypatch):
    clock = [time.time()]
    monkeypatch.setattr(time, "time", lambda: clock[0])
    with _console(setup, "10.0.0.1") as owner_client:
        owner = Browser(owner_client)
        assert owner.login(*ADMIN).status_code == 303  # the browser is now known for this account
        owner.post("/logout", {})
        with _console(setup, "10.0.0.66") as attacker_client:
            attacker, waits = Browser(attacker_client), []
            while len(waits) < 10:  # an attacker guessing as fast as the console lets it
                reply = attacker.login(ADMIN[0], "guess %d" % len(waits))
                if reply.status_code == 429:
                    waits.append(int(reply.headers["retry-after"]))
                    clock[0] += waits[-1]
            assert waits == [1, 2, 4, 8, 16, 32, 60, 60, 60, 60]  # each wait is a minute at most
            assert attacker.login(ADMIN[0], "one more guess").status_code == 401  # the account waits a minute again
        with _console(setup, "10.0.0.7") as stranger:
            reply = Browser(stranger).login(*ADMIN)
            assert reply.status_code == 429 and 0 < int(reply.headers["retry-after"]) <= 60  # a new browser waits
        assert owner.login(*ADMIN).status_code == 303  # the owner's browser does not


def test_password_work_runs_off_the_event_loop(admin, monkeypatch):
    on_loop = []

    def spy(function):
        def run(*args):
            try:
                asyncio.get_running_loop()
                on_loop.append(True)
            except RuntimeError:
                on_loop.append(False)
            return function(*args)
        return run

    monkeypatch.setattr(passwords, "matches", spy(passwords.matches))
    monkeypatch.setattr(passwords, "hashed", spy(passwords.hashed))
    admin.login(ADMIN[0], "wrong password")
    admin.login("nadie@example.org", "wrong password")
    admin.login(*ADMIN)
    _add_vendor(admin)
    admin.post("/account", {"current": ADMIN[1], "password": "a-new-secret-2"})
    assert len(on_loop) >= 6 and not any(on_loop)


# --- uploads ---------------------------------------------------------------------------------------------------


def test_uploads_are_limited_in_bytes_and_rows_and_parsed_off_the_event_loop(admin, monkeypatch):
    big = b"Identificacion,Nombre\n" + b"1234567,Usuario\n" * (3 * 1024 * 1024 // 16)  # 3 MB
    reply = admin.post("/customers", {}, files={"file": ("grande.csv", big, "text/csv")})
    assert reply.status_code == 413 and _alert(reply) == "El archivo supera el tamaño máximo de 2 MB"
    rows = "Identificacion,Nombre\n" + "".join("%d,Usuario %d\n" % (n, n) for n in range(1, 5002))
    reply = admin.post("/customers", {}, files={"file": ("muchos.csv", rows.encode(), "text/csv")})
    assert reply.status_code == 400
    assert _alert(reply) == "El archivo tiene más de 5000 filas; divídalo en archivos más pequeños"
    reply = admin.post("/customers", {}, files={"file": ("millon.xlsx", huge_workbook(1_000_000),
                                                         "application/octet-stream")})
    assert reply.status_code == 400 and "más de 5000 filas" in _alert(reply)
    assert re.findall(r"<tr><td>(\d+)</td><td>", admin.client.get("/customers").text) == []  # nothing added
    on_loop = []
    read = rowfile.rows

    def spy(*args):
        try:
            asyncio.get_running_loop()
            on_loop.append(True)
        except RuntimeError:
            on_loop.append(False)
        return read(*args)

    monkeypatch.setattr(rowfile, "rows", spy)
    reply = admin.post("/customers", {}, files={"file": ("pocos.csv", b"Identificacion,Nombre\n9,Nueve\n", "text/csv")})
    assert "Agregado correctamente" in reply.text and on_loop == [False]


# --- who sees what ---------------------------------------------------------------------------------------------


def test_vendors_see_the_customers_they_registered_or_sold_to(admin, setup):
    _add_vendor(admin)
    admin.post("/customers", {"customer_id": "111", "name": "Ana Pérez", "phone": "3001234567", "meter_pan": PAN})
    with _console(setup, "10.0.0.3") as client:
        vendor = Browser(client)
        vendor.login(*VENDOR)
        vendor.post("/customers", {"customer_id": "222", "name": "Bruno Díaz", "meter_pan": SECOND_PAN})
        listed = lambda: re.findall(r"<tr><td>(\d+)</td><td>", client.get("/customers").text)  # noqa: E731
        assert listed() == ["222"]
        lookup = client.get("/api/customers/111").json()
        assert "Ana" not in str(lookup) and "Pérez" not in str(lookup) and PAN not in str(lookup)
        assert lookup["meter_pan"].endswith(PAN[-4:])  # enough to check against the meter in front of them
        page = client.get("/recharge?customer_id=111")
        assert "Ana Pérez" not in page.text and PAN not in page.text and "3001234567" not in page.text
        assert client.get("/customers/111/edit").status_code == 404
        assert client.get("/api/customers/999").status_code == 404
        assert _sale(vendor, "111").status_code == 303  # sold to: now its customer too
        assert listed() == ["111", "222"]
        assert client.get("/api/customers/111").json() == {"name": "Ana Pérez", "meter_pan": PAN}
        assert client.get("/customers/111/edit").status_code == 200
        reply = vendor.post("/customers/111/edit", {"name": "Otra"})
        assert reply.status_code == 403  # seen, not its own to change
    assert re.findall(r"<tr><td>(\d+)</td><td>", admin.client.get("/customers").text) == ["111", "222"]
    assert admin.client.get("/api/customers/222").json()["name"] == "Bruno Díaz"


# --- headers, receipts, messages -------------------------------------------------------------------------------


def test_every_response_carries_the_security_headers_and_cookies_are_guarded(setup):
    with _console(setup) as client:
        login_page = client.get("/login")
        for reply in (login_page, client.get("/nowhere"), client.get("/", follow_redirects=False)):
            csp = reply.headers["content-security-policy"]
            assert "frame-ancestors 'none'" in csp and "default-src 'none'" in csp and "unsafe-inline" not in csp
            assert reply.headers["x-frame-options"] == "DENY"
            assert reply.headers["x-content-type-options"] == "nosniff"
            assert reply.headers["referrer-policy"] == "same-origin"
        person = Browser(client)
        reply = person.login(*ADMIN)
        cookies = reply.headers.get_list("set-cookie")
        assert cookies and all("httponly" in c.lower() and "samesite=strict" in c.lower() for c in cookies)
        assert not any("secure" in c.lower() for c in cookies)  # plain http on loopback
        for path in ("/recharge", "/customers", "/login"):
            page = client.get(path)
            nonce = re.search(r"'nonce-([^']+)'", page.headers["content-security-policy"]).group(1)
            tags = re.findall(r"<(script|style)([^>]*)>", page.text)
            assert tags and all('nonce="%s"' % nonce in attributes for _, attributes in tags), path
            assert not re.search(r"\son[a-z]+\s*=", page.text) and "javascript:" not in page.text  # no inline handlers
    with _console(setup, base_url="https://testserver") as client:
        reply = Browser(client).login(*ADMIN)
        assert all("secure" in c.lower() for c in reply.headers.get_list("set-cookie"))


def test_an_internal_error_answers_in_spanish_with_the_headers(setup, monkeypatch):
    def broken(*args):
        raise RuntimeError("/srv/opsm/secret/path is gone")

    monkeypatch.setattr(receipts, "receipt", broken)
    with _console(setup, raise_server_exceptions=False) as client:
        person = Browser(client)
        person.login(*ADMIN)
        person.post("/customers", {"customer_id": "1", "name": "Uno", "meter_pan": PAN})
        assert _sale(person, "1").status_code == 303
        reply = client.get("/invoices/1/letter.pdf")
        assert reply.status_code == 500 and "/srv/opsm" not in reply.text
        assert _alert(reply) == "Ocurrió un error interno; el detalle quedó en el registro del servidor"
        assert reply.headers["x-frame-options"] == "DENY" and "frame-ancestors 'none'" in reply.headers[
            "content-security-policy"]


def test_markup_in_the_seller_header_prints_as_text(admin):
    admin.post("/admin/seller", {"name": "<b>Solar & Hijos <Ltda>", "address": "Calle <3> & 4", "contact": "a<b",
                                 "terms": "</para>"})
    admin.post("/admin/product", {"description": "Energía <kWh> & más", "price_cents": "500", "vat_bp": "19",
                                  "currency": "COP"})
    admin.post("/customers", {"customer_id": "1", "name": "Uno <x>", "meter_pan": PAN})
    _sale(admin, "1")
    reply = admin.client.get("/invoices/1/letter.pdf")
    assert reply.status_code == 200
    text = subprocess.run(["pdftotext", "-", "-"], input=reply.content, capture_output=True, check=True).stdout.decode()
    for shown in ("<b>Solar & Hijos <Ltda>", "Calle <3> & 4", "a<b", "</para>", "Energía <kWh> & más"):
        assert shown in text


def test_rule_errors_are_spanish_by_default_and_english_on_request(admin, setup):
    reply = admin.post("/customers", {"customer_id": "1", "name": "Uno", "email": "correo-malo"})
    assert reply.status_code == 400
    assert _alert(reply) == "Correo electrónico: debe ser una dirección de correo; se recibió «correo-malo»"
    admin.post("/customers", {"customer_id": "1", "name": "Uno", "meter_pan": PAN})
    reply = _sale(admin, "1", amount="diez")
    assert _alert(reply) == ("Valor a pagar: debe ser un valor mayor que 0 con máximo 2 decimales, como 1500 o "
                             "1500.50; se recibió «diez»")
    reply = admin.client.get("/reports?by=all&from=ayer")
    assert _alert(reply) == "Fecha inicial: debe ser una fecha AAAA-MM-DD; se recibió «ayer»"
    reply = admin.post("/admin/product", {"description": "x", "price_cents": "500", "vat_bp": "19",
                                          "currency": "pesos"})
    assert _alert(reply) == "Moneda: debe ser un código ISO 4217 como COP; se recibió «pesos»"
    reply = admin.post("/admin/users", {"email": "sin-arroba", "name": "X", "role": "vendor", "password": "0123456789"})
    assert _alert(reply) == "Correo electrónico: debe ser una dirección de correo; se recibió «sin-arroba»"
    reply = admin.client.get("/nowhere")
    assert reply.status_code == 404 and _alert(reply) == "Página no encontrada"
    admin.client.get("/lang/en")
    reply = admin.post("/customers", {"customer_id": "2", "name": "Dos", "email": "correo-malo"})
    assert _alert(reply) == "E-mail: must be an e-mail address, got 'correo-malo'"
    for reply in (reply, _sale(admin, "1", amount="diez")):
        assert not re.search(r"\b(email|amount|customer_id|meter_pan|price_cents|vat_bp): ", reply.text)


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_a_console_database_of_the_previous_version_upgrades(database, tmp_path, request, monkeypatch):
    """Invoices of before sale keys keep none (several NULLs under the unique index); logins and sales go on."""
    from opsm.host.store import schema

    url = request.getfixturevalue("postgres_db") if database == "postgresql" else str(tmp_path / "old.sqlite")
    with monkeypatch.context() as patch:
        patch.setattr(schema, "MIGRATIONS", schema.MIGRATIONS[:5])
        with Store.open(url) as old:
            assert old.version == 5
            for number in (1, 2):
                old.execute("INSERT INTO invoices (number, customer_id, vendor_id, issued_at, description, "
                            "price_cents, vat_bp, currency, total_cents, vat_cents, kwh_tenths, meter_pan, token) "
                            "VALUES (?, '1', 1, 0, 'x', 1, 0, 'COP', 1, 0, 1, ?, '1')", (number, PAN))
            old.db.commit()
    setup = Setup(tmp_path, url)  # the first administrator, in the upgraded database
    with Store.open(url) as upgraded:
        assert upgraded.version == len(schema.MIGRATIONS)
        assert upgraded.query("SELECT number, sale_key FROM invoices ORDER BY number") == [(1, None), (2, None)]
    with _console(setup) as client:
        person = Browser(client)
        assert person.login(*ADMIN).status_code == 303
        person.post("/customers", {"customer_id": "1", "name": "Uno", "meter_pan": PAN})
        assert _sale(person, "1").headers["location"] == "/invoices/3"
