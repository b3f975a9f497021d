"""The vending console in a real browser: Playwright driving Debian's Chromium (make setup installs it) against
`opsm vend serve`'s application on loopback. An administrator sets up the sale and imports customers, a vendor
sells, downloads every receipt and a report; the codes decode on the simulated meter to the kWh paid for.

Then the console's security over real HTTP: a logged-out session's cookie replayed, logins that must not tell
accounts apart (by message or time), a large upload while another vendor works, and parallel and repeated sales
on SQLite and PostgreSQL."""

import contextlib
import io
import os
import re
import socket
import statistics
import subprocess
import sys
import threading
import time

import httpx2 as httpx
import openpyxl
import pytest
from playwright.sync_api import expect

from opsm.host.console import passwords
from opsm.host.console.app import create_app
from opsm.host.console.records import Records
from opsm.host.registry import Registry
from opsm.host.store import Store
from opsm.host.vending import Vendor
from opsm.simulator import board
from tests.host.browser import chromium, serving
from tests.host.console_setup import ADMIN, PAN, PASSPHRASE, Setup, huge_workbook

Run = board.module("simulator.scenario_run").Run

VENDOR = ("cajero@example.org", "cajero-secret-1")


def _serve(setup):
    """The setup's console served on a free loopback port: its base URL."""
    return serving(create_app(setup.db, setup.registry, setup.keystore))


@pytest.fixture(scope="module")
def console(tmp_path_factory):
    setup = Setup(tmp_path_factory.mktemp("console"))
    with _serve(setup) as base:
        yield setup, base


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


def _context(browser, **options):
    """A browser profile of someone at the counter: Spanish, as the console's users are."""
    return browser.new_context(locale="es-CO", **options)


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
    admin = _context(browser, accept_downloads=True).new_page()
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

    vendor_context = _context(browser, accept_downloads=True)
    vendor = vendor_context.new_page()
    _log_in(vendor, base, *VENDOR)
    assert vendor.goto(base + "/admin/users").status == 403
    assert vendor.goto(base + "/admin/product").status == 403

    codes = []
    # the same sale twice: two different codes, both good. The customer was registered by the administrator: the
    # vendor sees initials and the meter's last digits until it has sold to them (the page's script, under its CSP)
    for shown in ("U. P.", "Usuario Prueba"):
        vendor.goto(base + "/recharge")
        vendor.fill("#customer_id", "1234567890")
        vendor.dispatch_event("#customer_id", "change")
        expect(vendor.locator("#customer_name")).to_have_text(shown)
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
    page = _context(browser).new_page()
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
    assert "Cliente: no puede estar vacío" in page.locator("#import-report").inner_text()


# --- security over real HTTP ------------------------------------------------------------------------------------


def _http_login(base: str, email: str, password: str):
    """An HTTP client logged in as `email` (its cookies carry the session)."""
    client = httpx.Client(base_url=base, timeout=60)
    page = client.get("/login")
    reply = client.post("/login", data={"csrf": _csrf(page.text), "email": email, "password": password})
    assert reply.status_code == 303, reply.text
    return client


def _csrf(text: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', text).group(1)


def _alert(text: str) -> str:
    found = re.search(r'role="alert">([^<]*)<', text)
    return found.group(1) if found else ""


def _add_user(setup, email: str, password: str, role: str = "vendor", locked: bool = False) -> None:
    with Store.open(setup.db) as store:
        records = Records(store)
        user_id = records.add_user(email, email.split("@")[0], role, passwords.hashed(password))
        if locked:
            records.set_locked(user_id, True)


def _add_customer(setup, customer_id: str, pan: str = PAN) -> None:
    with Store.open(setup.db) as store:
        if Records(store).customer(customer_id) is None:
            Records(store).add_customer({"customer_id": customer_id, "name": "Cliente " + customer_id,
                                         "meter_pan": pan}, 1)


def _invoices(setup) -> int:
    with Store.open(setup.db) as store:
        return store.query("SELECT COUNT(*) FROM invoices")[0][0]


def _tokens(setup) -> list:
    registry = Registry(setup.registry)
    try:
        return registry.tokens(PAN)
    finally:
        registry.close()


def test_logout_ends_the_session_a_replayed_cookie_gets_the_login_page(console, browser):
    setup, base = console
    context = _context(browser)
    page = context.new_page()
    _log_in(page, base, *ADMIN)
    thief = _context(browser)
    thief.add_cookies(context.cookies())
    stolen = thief.new_page()
    stolen.goto(base + "/")
    assert stolen.url == base + "/"  # the copied cookie works while the session lives
    page.click("form[action='/logout'] button")
    page.wait_for_url(base + "/login")
    stolen.goto(base + "/")
    assert stolen.url == base + "/login" and stolen.locator("input[name=password]").count() == 1
    context.close()
    thief.close()


def test_logins_do_not_tell_accounts_apart_by_message_or_time(console):
    """Wrong passwords for a known account, a locked one and an unknown one, interleaved; the throttle is cleared
    before each try so every try checks a password (otherwise they would be refused at once, alike)."""
    setup, base = console
    _add_user(setup, "bloqueado@example.org", "bloqueado-secret-1", locked=True)
    accounts = {"known": ADMIN[0], "locked": "bloqueado@example.org", "unknown": "nadie@example.org"}
    seconds = {name: [] for name in accounts}
    answers = {name: set() for name in accounts}
    with httpx.Client(base_url=base, timeout=60) as client, Store.open(setup.db) as store:
        csrf = _csrf(client.get("/login").text)
        for attempt in range(21):
            for name, email in accounts.items():
                store.execute("DELETE FROM console_throttle")
                store.db.commit()
                start = time.perf_counter()
                reply = client.post("/login", data={"csrf": csrf, "email": email, "password": "wrong password"})
                if attempt:  # the first round warms up
                    seconds[name].append(time.perf_counter() - start)
                answers[name].add((reply.status_code, _alert(reply.text)))
    assert answers["known"] == answers["locked"] == answers["unknown"] == {(401, "Correo o contraseña incorrectos")}
    mean = {name: statistics.mean(values) for name, values in seconds.items()}
    spread = statistics.stdev(seconds["unknown"])
    print("\nlogin ms, mean of 20: %s; stdev unknown %.1f ms" % (
        ", ".join("%s %.1f" % (name, 1000 * value) for name, value in mean.items()), 1000 * spread))
    for name in ("known", "locked"):
        assert abs(mean[name] - mean["unknown"]) < 0.015, (name, mean)  # scrypt alone takes ~50-80 ms


@contextlib.contextmanager
def _serve_process(setup):
    """The setup's console as `opsm vend serve` runs it, a process of its own (its own interpreter lock, as
    deployed: the test's client threads do not slow it): its base URL."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    env = dict(os.environ, OPSM_DB=setup.registry, OPSM_KEYFILE=setup.keyfile, OPSM_PASSPHRASE=PASSPHRASE,
               OPSM_HARVEST_DB=setup.db)
    server = subprocess.Popen([sys.executable, "-m", "opsm", "vend", "serve", "--port", str(port)], env=env,
                              stdout=subprocess.DEVNULL)
    base = "http://127.0.0.1:%d" % port
    try:
        deadline = time.time() + 30
        while True:
            try:
                httpx.get(base + "/login", timeout=2)
                break
            except httpx.TransportError:
                assert time.time() < deadline and server.poll() is None
                time.sleep(0.1)
        yield base
    finally:
        server.terminate()
        server.wait(10)


def test_a_large_upload_does_not_hold_up_another_vendors_page(tmp_path):
    setup = Setup(tmp_path)
    _add_user(setup, "otra-caja@example.org", "otra-caja-secret-1")
    with _serve_process(setup) as base:
        _uploads_while_another_vendor_works(base)


def _uploads_while_another_vendor_works(base: str) -> None:
    uploader, other = _http_login(base, *ADMIN), _http_login(base, "otra-caja@example.org", "otra-caja-secret-1")
    book = openpyxl.Workbook()
    book.active.append(["Identificacion", "Nombre", "Celular", "Correo", "Direccion"])
    for n in range(5000):
        book.active.append(["9%08d" % n, "Usuario de prueba %d" % n, "300%07d" % n, "u%d@example.org" % n,
                            "Calle %d" % n])
    accepted = io.BytesIO()
    book.save(accepted)
    uploads = [("5MB.csv", b"Identificacion,Nombre\n" + b"1234567,Usuario\n" * (5 * 1024 * 1024 // 16),
                "El archivo supera el tamaño máximo de 2 MB"),
               ("millon.xlsx", huge_workbook(1_000_000), "más de 5000 filas"),
               ("millon.csv", b"Identificacion,Nombre\n" + b"7,A\n" * 500_000, "más de 5000 filas"),
               ("cinco-mil.xlsx", accepted.getvalue(), None)]
    for name, data, refusal in uploads:
        csrf, replies, done = _csrf(uploader.get("/customers").text), [], threading.Event()

        def upload():
            start = time.perf_counter()
            replies.append(uploader.post("/customers", data={"csrf": csrf}, files={"file": (name, data)}))
            replies.append(time.perf_counter() - start)
            done.set()

        thread = threading.Thread(target=upload)
        thread.start()
        latencies = []
        while not latencies or not done.is_set():  # the other vendor's page, again and again, while the upload runs
            start = time.perf_counter()
            assert other.get("/").status_code == 200
            latencies.append(time.perf_counter() - start)
        thread.join(60)
        reply, took = replies
        if refusal:
            assert refusal in _alert(reply.text), name
        else:
            assert reply.text.count("Agregado correctamente") == 5000
        print("\n%s (%d bytes): answered in %.2f s; the other vendor's page %d times meanwhile, slowest %.0f ms, "
              "median %.0f ms" % (name, len(data), took, len(latencies), 1000 * max(latencies),
                                  1000 * statistics.median(latencies)))
        assert max(latencies) < 1.0, name
    uploader.close()
    other.close()


@pytest.mark.parametrize("database", ["sqlite", "postgresql"])
def test_parallel_and_repeated_sales(database, tmp_path, request):
    """Two console processes on the same databases (sessions are in the database: one login works on both).
    Ten concurrent posts of one recharge form, five to each: one sale. Ten forms at once on one meter, five to
    each: ten sales, ten invoice numbers, ten TIDs."""
    setup = Setup(tmp_path, request.getfixturevalue("postgres_db") if database == "postgresql" else None)
    _add_customer(setup, "1")
    with _serve_process(setup) as first, _serve_process(setup) as second:
        login = _http_login(first, *ADMIN)
        clients = [httpx.Client(base_url=(first, second)[n % 2], cookies=login.cookies, timeout=60)
                   for n in range(10)]

        def form(client) -> dict:
            page = client.get("/recharge").text
            return {"csrf": _csrf(page), "sale_key": re.search(r'name="sale_key" value="([^"]+)"', page).group(1),
                    "customer_id": "1", "amount": "1500"}

        def at_once(posts: list) -> list:
            replies, start = [None] * len(posts), threading.Barrier(len(posts))

            def post(n, client, data):
                start.wait()
                replies[n] = client.post("/recharge", data=data)

            threads = [threading.Thread(target=post, args=(n, *item)) for n, item in enumerate(posts)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
            return replies

        same = form(clients[0])
        replies = at_once([(client, same) for client in clients])
        assert [r.status_code for r in replies] == [303] * 10
        assert {r.headers["location"] for r in replies} == {"/invoices/1"}
        assert _invoices(setup) == 1 and len(_tokens(setup)) == 1
        replies = at_once([(client, form(client)) for client in clients])
        assert [r.status_code for r in replies] == [303] * 10
        assert len({r.headers["location"] for r in replies}) == 10
        for client in clients + [login]:
            client.close()
    tids = [token["tid"] for token in _tokens(setup)]
    print("\n%s: %d invoices, %d tokens, %d distinct TIDs" % (database, _invoices(setup), len(tids), len(set(tids))))
    assert _invoices(setup) == 11 and len(tids) == 11 and len(set(tids)) == 11


def test_a_double_click_on_recargar_sells_once(tmp_path, browser, monkeypatch):
    """A vendor clicks Recargar again while a slow sale is under way (the server runs in this process: its token
    issue is slowed to half a second)."""
    setup = Setup(tmp_path)
    with _serve(setup) as base:
        _double_click(setup, base, browser, monkeypatch)


def _double_click(setup, base: str, browser, monkeypatch) -> None:
    issue = Vendor.credit

    def slow(vendor, *args, **kwargs):
        time.sleep(0.5)
        return issue(vendor, *args, **kwargs)

    monkeypatch.setattr(Vendor, "credit", slow)
    _add_customer(setup, "doble-clic")
    invoices, tokens = _invoices(setup), len(_tokens(setup))
    context = _context(browser)
    page = context.new_page()
    _log_in(page, base, *ADMIN)
    page.goto(base + "/recharge?customer_id=doble-clic")
    page.fill("#amount", "1000")
    box = page.locator("#recargar").bounding_box()
    page.mouse.click(box["x"] + 5, box["y"] + 5)  # the mouse does not wait for the page the click opens
    page.wait_for_timeout(200)
    page.mouse.click(box["x"] + 5, box["y"] + 5)
    page.wait_for_url(base + "/invoices/*")
    page.wait_for_timeout(1500)  # a second sale, if one was sent, has ended by now
    assert _invoices(setup) == invoices + 1 and len(_tokens(setup)) == tokens + 1
    context.close()
