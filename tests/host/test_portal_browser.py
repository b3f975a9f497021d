"""The information platform's four profiles in a real browser (Playwright driving Debian's Chromium, as
tests/host/test_console_browser.py), against create_app served by uvicorn on a free loopback port over a
synthetic distributor of 60 customers (seed 17, newest month 2025-06): each profile walks the flows of the SEC's
Anexo 1 and the values the pages show are compared with the store's.

- Público: registration with the robot check (a wrong answer refused, then the right one), sign-in, the search by
  location REGION > COMUNA > SUBESTACION > ALIMENTADOR > TRANSFORMADOR down to a transformer's detail, Guardar
  (a PDF whose text holds the page's values), the feeder's detail and its KMZ plan (KML with the feeder's
  spans), the transformer search by its plate, its pole's plate and a customer's number, and the VNR search.
- Cliente: its pages, the 36-month chart of consumption against charges, another customer's page refused.
- Cliente EG: bills and annexes (one opened: its PDF), remanentes, the meter's registers by OBIS code.
- Usuario SEC: the customer search by N° de cliente, dirección and RUT, and a customer's pages.

The test also writes the screenshots of docs/portal.md (docs/portal/*.png): full pages at a fixed viewport,
from the synthetic distributor's fixed seed. One server and one browser for the module.
"""

import datetime
import html
import pathlib
import re
import subprocess
import tempfile
import time
import xml.etree.ElementTree as ET
import zipfile

import pytest
from playwright.sync_api import expect

from opsm.host import synth
from opsm.host.portal import robot
from opsm.host.portal.app import create_app
from opsm.host.portal.page import day, month_name, number, quantity
from opsm.host.store import Store
from tests.host.browser import chromium, serving

SECRET = b"portal-browser-secret-0123456789"
SEED, CUSTOMERS, MONTH = 17, 60, "2025-06"
PASSWORDS = {name: password for name, _, password in synth.DEMO_ACCOUNTS}
SHOTS = pathlib.Path(__file__).resolve().parents[2] / "docs" / "portal"
VIEWPORT = {"width": 1280, "height": 800}
KML = {"k": "http://www.opengis.net/kml/2.2"}


class Clock:
    """The app's clock (robot check and sessions): the real time plus what the test moves it by, so a form can be
    sent "seconds later" (the robot check's minimum) without waiting."""

    def __init__(self):
        self.ahead = 0.0

    def __call__(self):
        return time.time() + self.ahead


@pytest.fixture(scope="module")
def site():
    """(base URL, store, clock) of the platform served on a free loopback port."""
    with tempfile.TemporaryDirectory() as folder:
        path = folder + "/portal.db"
        with Store.open(path) as store:
            synth.create(store, seed=SEED, customers=CUSTOMERS, last_month=MONTH)
        clock = Clock()
        with serving(create_app(path, SECRET, clock=clock)) as base, Store.open(path) as store:
            yield base, store, clock


@pytest.fixture(scope="module")
def browser():
    with chromium() as launched:
        yield launched


@pytest.fixture
def page(browser):
    """A fresh browser profile (no session) of someone in Chile, at the screenshots' viewport."""
    context = browser.new_context(locale="es-CL", viewport=VIEWPORT, accept_downloads=True)
    opened = context.new_page()
    refused, broken = [], []
    opened.on("console", lambda message: refused.append(message.text)
              if "Content Security Policy" in message.text else None)
    opened.on("response", lambda answer: broken.append((answer.status, answer.url)) if answer.status >= 500 else None)
    yield opened
    context.close()
    assert refused == []  # nothing the pages do is blocked by their own policy
    assert broken == []


# --- helpers ---------------------------------------------------------------------------------------------------

def _answer_robot(page, clock, offset: int = 0) -> None:
    """Fill the form's robot check with its answer (plus `offset`, to answer wrongly) and let the seconds a person
    takes pass on the app's clock."""
    question = html.unescape(re.search(r"¿Cuánto es ([^?]+)\?", page.content()).group(1))  # "siete más cinco"
    operation = "más" if " más " in question else "menos"
    first, second = (robot.WORDS.index(word) for word in question.split(" %s " % operation))
    page.fill("input[name=robot_respuesta]", str((first + second if operation == "más" else first - second) + offset))
    clock.ahead += 5


def _sign_in(page, base: str, clock, name: str, password: str) -> None:
    """Log in at /ingresar; answers the robot check when the login form has one."""
    page.goto(base + "/ingresar")
    for _ in range(2):
        page.fill("input[name=nombre]", name)
        page.fill("input[name=clave]", password)
        if page.locator("input[name=robot_respuesta]").count():
            _answer_robot(page, clock)
        with page.expect_navigation():
            page.click("form[action='/ingresar'] button[type=submit]")
        alert = " ".join(page.locator("[role=alert]").all_inner_texts())
        if not page.url.startswith(base + "/ingresar") or "demasiado rápido" not in alert:
            break
        time.sleep(3.5)  # a robot check on the real clock, not the app's: wait as a person would
    assert not page.url.startswith(base + "/ingresar"), alert
    expect(page.locator("header")).to_contain_text(name)


def _fields(page, title: str) -> dict:
    """The label -> value rows of the page's Fields section titled `title`."""
    return page.evaluate("""title => {
        const found = [...document.querySelectorAll("main section.fields")].find(
            s => s.querySelector("h2") && s.querySelector("h2").textContent.trim() === title);
        return found ? Object.fromEntries([...found.querySelectorAll("tr")].map(
            tr => [tr.querySelector("th").textContent.trim(), tr.querySelector("td").textContent.trim()])) : null;
    }""", title)


def _rows(page, title: str) -> list:
    """The cells' text of each row of the grid whose title starts with `title`."""
    return page.evaluate("""title => {
        const found = [...document.querySelectorAll("main section")].find(
            s => s.querySelector("h2") && s.querySelector("h2").textContent.trim().startsWith(title));
        return found ? [...found.querySelectorAll("tbody tr")].map(
            tr => [...tr.cells].map(cell => cell.textContent.trim())) : null;
    }""", title)


def _download(page, selector: str, folder: pathlib.Path) -> pathlib.Path:
    with page.expect_download() as info:
        page.click(selector)
    path = folder / info.value.suggested_filename
    info.value.save_as(path)
    return path


def _pdf_text(path: pathlib.Path) -> str:
    assert path.read_bytes()[:5] == b"%PDF-"
    done = subprocess.run(["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True)
    return " ".join(done.stdout.split())


def _shot(page, name: str) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / (name + ".png")), full_page=True)


def _account(store, name: str) -> dict:
    return next(user for user in store.portal_users() if user["name"] == name)


def _monitored_path(store) -> tuple:
    """(substation, feeder, transformer) of the first monitored transformer, reached level by level as the form
    offers them."""
    for region in store.regions():
        for comuna in store.comunas(region["cut"]):
            for substation in store.substations(comuna["cut"]):
                for feeder in store.feeders(substation["id"]):
                    for row in store.transformers(feeder["id"]):
                        transformer = store.transformer(row["id"])
                        if transformer["monitored"] and transformer["pole"]:
                            return store.substation(substation["id"]), store.feeder(feeder["id"]), transformer
    raise AssertionError("the synthetic distributor has no monitored transformer")


def _transformer_values(transformer: dict) -> dict:
    """What DETALLE TRANSFORMADOR must say, from the store's row."""
    return {"ID-TRANSFORMADOR": transformer["id"], "NOMBRE": transformer["name"],
            "CAPACIDAD": quantity(transformer["capacity_kva"], "kVA"), "CONEXIÓN": transformer["connection"],
            "TENSIÓN": transformer["voltage"], "NÚMERO (PLACA POSTE)": transformer["pole"],
            "TIPO": transformer["kind"], "IDENTIFICADOR FASES": transformer["phases"],
            "CÓDIGO VNR": transformer["vnr_code"]}


# --- Público ----------------------------------------------------------------------------------------------------

def test_publico_registers_past_the_robot_check_and_signs_in(site, page):
    base, store, clock = site
    page.goto(base + "/registro")
    expect(page.locator("fieldset legend")).to_have_text("No soy un robot")
    expect(page.locator("fieldset svg")).to_be_visible()  # the drawn question
    expect(page.locator("input[name=%s]" % robot.HONEYPOT)).not_to_be_in_viewport()
    fields = {"nombre": "ana.navegador", "correo": "ana.navegador@example.cl", "rut": "12.345.678-5"}
    for name, value in fields.items():
        page.fill("input[name=%s]" % name, value)
    page.fill("input[name=clave]", "una-clave-larga-2020")
    _answer_robot(page, clock, offset=1)
    with page.expect_navigation():
        page.click("form[action='/registro'] button[type=submit]")
    expect(page.locator("[role=alert]")).to_contain_text("La respuesta no es correcta")
    assert store.portal_credentials("ana.navegador")[0] is None
    for name, value in fields.items():  # kept for the person to send again, with a new question
        expect(page.locator("input[name=%s]" % name)).to_have_value(value)
    page.fill("input[name=clave]", "una-clave-larga-2020")
    _answer_robot(page, clock)
    with page.expect_navigation():
        page.click("form[action='/registro'] button[type=submit]")
    expect(page).to_have_url(base + "/")
    expect(page.locator("header")).to_contain_text("ana.navegador")
    account = store.portal_credentials("ana.navegador")[0]
    assert account["profile"] == "publico" and account["email"] == "ana.navegador@example.cl"
    assert account["rut"] == "12345678-5"
    _shot(page, "publico-inicio")
    with page.expect_navigation():
        page.click("header button:has-text('Salir')")
    expect(page.locator("header")).not_to_contain_text("ana.navegador")
    _sign_in(page, base, clock, "ana.navegador", "una-clave-larga-2020")
    page.goto(base + "/red")
    expect(page.locator("h1")).to_be_visible()  # signed in: the search, not the login page
    assert page.url == base + "/red"


def test_publico_filters_by_location_down_to_a_transformer_and_saves_it(site, page, tmp_path):
    base, store, clock = site
    substation, feeder, transformer = _monitored_path(store)
    _sign_in(page, base, clock, "demo-publico", PASSWORDS["demo-publico"])
    page.goto(base + "/red")
    expect(page.locator("select[name=comuna]")).to_be_disabled()
    # each choice loads the list below it; BUSCAR at a level shows its grid (fig. 6, 9, 13), whose form goes on
    lists = (("region", substation["region"], None, None),
             ("comuna", substation["comuna"], "/red/comuna/%s" % substation["comuna"],
              ("Subestaciones", store.substations(substation["comuna"]))),
             ("subestacion", substation["id"], "/red/subestacion/%s/alimentadores" % substation["id"],
              ("Alimentadores", store.feeders(substation["id"]))),
             ("alimentador", feeder["id"], "/red/alimentador/%s/transformadores" % feeder["id"],
              ("Transformadores", store.transformers(feeder["id"]))))
    for name, value, grid_url, (title, rows) in ((n, v, u, g or (None, None)) for n, v, u, g in lists):
        with page.expect_navigation():
            page.select_option("select[name=%s]" % name, value)
        if name == "alimentador":
            options = page.locator("select[name=transformador] option").all_inner_texts()
            assert options[1:] == [row["name"] for row in rows]
            _shot(page, "publico-ubicacion")
        if grid_url:
            with page.expect_navigation():
                page.click("button[name=buscar]")
            expect(page).to_have_url(base + grid_url)
            assert [row[:2] for row in _rows(page, title)] == [[row["id"], row["name"]] for row in rows]
            expect(page.locator("select[name=%s]" % name)).to_have_value(value)
    page.select_option("select[name=transformador]", transformer["id"])
    with page.expect_navigation():
        page.click("button[name=buscar]")
    expect(page).to_have_url(base + "/red/transformador/%s" % transformer["id"])
    expect(page.locator("h1")).to_have_text("Detalle transformador %s" % transformer["id"])
    expect(page.locator("nav.trail")).to_have_text("%s > %s > %s > %s > %s" % (
        substation["region_name"], substation["comuna_name"], substation["name"], feeder["name"],
        transformer["name"]))
    shown = _fields(page, "Transformador")
    expected = _transformer_values(transformer)
    assert {key: shown[key] for key in expected} == expected
    assert shown["UBICACIÓN"].endswith("%s, zona %s" % (transformer["datum"], transformer["zone"]))
    demands = [[day(datetime.date(int(d["month"][:4]), int(d["month"][5:]), 1)), number(d["min_kw"], 1),
                number(d["max_kw"], 1)] for d in transformer["demands"]]  # "1 JUN 2025", newest first
    assert len(demands) == 12 and _rows(page, "12 últimas demandas") == demands
    expect(page.locator("section.map svg .feature.transformer")).to_have_count(1)

    saved = _pdf_text(_download(page, "a.button:text-is('Guardar')", tmp_path))
    for value in list(expected.values()) + [transformer["feeder_name"], demands[0][0], demands[0][2],
                                            demands[-1][1]]:
        assert value in saved, value


def test_publico_opens_the_feeder_and_its_kmz_plan(site, page, tmp_path):
    base, store, clock = site
    _, feeder, transformer = _monitored_path(store)
    _sign_in(page, base, clock, "demo-publico", PASSWORDS["demo-publico"])
    page.goto(base + "/red/transformador/%s" % transformer["id"])
    with page.expect_navigation():
        page.click("section.grid a[href='/red/alimentador/%s'] >> nth=0" % feeder["id"])
    expect(page.locator("h1")).to_have_text("Detalle alimentador %s" % feeder["id"])
    shown = _fields(page, "Alimentador")
    assert shown["ID-ALIMENTADOR"] == feeder["id"] and shown["NOMBRE"] == feeder["name"]
    assert shown["CAPACIDAD"] == quantity(feeder["capacity_kva"], "kVA")
    assert shown["POTENCIA DE CORTOCIRCUITO EN CABECERA"] == quantity(feeder["short_circuit_kva"], "kVA")
    assert [row[0] for row in _rows(page, "Transformadores")] == [t["id"] for t in feeder["transformers"]]
    assert [row[0] for row in _rows(page, "12 últimas demandas")] == [
        "%s/%s" % (d["month"][5:], d["month"][:4]) for d in feeder["demands"]]
    expect(page.locator("section.map svg .feature.feeder").first).to_be_visible()
    expect(page.locator("section.map svg .feature.transformer")).to_have_count(len(feeder["transformers"]))
    _shot(page, "publico-alimentador")

    shown = "plano-%s.kmz" % feeder["id"].lower()
    kmz = _download(page, "a:text-is('%s')" % shown, tmp_path)
    assert kmz.name == shown  # the link says the name the file is saved under
    with zipfile.ZipFile(kmz) as archive:
        kml = ET.fromstring(archive.read("doc.kml"))
    folders = {f.find("k:name", KML).text: f for f in kml.iter("{%s}Folder" % KML["k"])}
    spans = [p.find("k:name", KML).text for p in folders["Vanos"].findall("k:Placemark", KML)]
    plan = store.feeder_plan(feeder["id"])
    assert spans == [s["id"] for s in plan["spans"]] and spans
    for placemark, span in zip(folders["Vanos"].findall("k:Placemark", KML), plan["spans"]):
        data = {d.get("name"): d.find("k:value", KML).text for d in placemark.iter("{%s}Data" % KML["k"])}
        assert (data["from_node"], data["to_node"], float(data["length_m"])) == (
            span["origin"], span["destination"], span["length_m"])
        points = placemark.find(".//k:LineString/k:coordinates", KML).text.split()
        assert [[float(v) for v in p.split(",")[:2]] for p in points] == span["geometry"]["coordinates"]

    page.check("#buscar-en-alimentador input[value=vano]")
    first = plan["spans"][0]
    page.fill("#buscar-en-alimentador input[name=texto]", first["id"])
    with page.expect_navigation():
        page.click("#buscar-en-alimentador button[type=submit]")
    found = _rows(page, "Información vanos")
    assert found[0][:3] == [first["id"], first["origin"], first["destination"]]
    assert found[0][3] == quantity(first["length_m"], "m", 1)


def test_publico_finds_a_transformer_by_plate_pole_and_customer_and_a_vnr_code(site, page):
    base, store, clock = site
    _, _, transformer = _monitored_path(store)
    customer = next(c for c in store.find_customers("number", "21", limit=100)
                    if store.transformer_of_customer(c["client_number"]))
    supplying = store.transformer_of_customer(customer["client_number"])
    _sign_in(page, base, clock, "demo-publico", PASSWORDS["demo-publico"])
    for text, wanted in ((transformer["id"], transformer), (transformer["pole"], transformer),
                         (customer["client_number"], supplying)):
        page.goto(base + "/transformador")
        page.fill("#buscar-transformador input[name=identificador]", text)
        with page.expect_navigation():
            page.click("#buscar-transformador button[type=submit]")
        expect(page.locator("h1")).to_have_text("Detalle transformador %s" % wanted["id"])
        shown = _fields(page, "Transformador")
        expected = _transformer_values(wanted)
        assert {key: shown[key] for key in expected} == expected
        assert _fields(page, "Alimentador")["ID-ALIMENTADOR"] == wanted["feeder"]
    page.fill("#buscar-transformador input[name=identificador]", "NO-EXISTE-99")
    with page.expect_navigation():
        page.click("#buscar-transformador button[type=submit]")
    expect(page.locator("main")).to_contain_text("Ningún transformador tiene la placa «NO-EXISTE-99»")

    code = store.vnr_code(transformer["vnr_code"])
    page.goto(base + "/vnr")
    page.fill("#buscar-vnr input[name=codigo]", code["code"])
    with page.expect_navigation():
        page.click("#buscar-vnr button[type=submit]")
    expect(page.locator("h1")).to_have_text("Código VNR %s" % code["code"])
    shown = _fields(page, "Despliegue código VNR")
    assert shown["DESCRIPCIÓN"] == code["description"]
    for key, label in (("recargos_1", "Recargos 1"), ("montaje", "Montaje"), ("stotal_1", "Stotal 1"),
                       ("ing_gg", "ING + GG"), ("stotal_2", "Stotal 2"), ("int_int", "IntInt"),
                       ("total", "Total Instalac s/derechos")):
        assert shown[label] == quantity(code[key], "$"), label
    _shot(page, "publico-vnr")


# --- Cliente ----------------------------------------------------------------------------------------------------

def test_cliente_sees_its_36_months_and_not_another_customer(site, page):
    base, store, clock = site
    customer_id = _account(store, "demo-cliente")["customer_id"]
    general = store.customer_general(customer_id)
    _sign_in(page, base, clock, "demo-cliente", PASSWORDS["demo-cliente"])
    with page.expect_navigation():
        page.click("header a:text-is('Mi suministro')")
    expect(page).to_have_url(base + "/clientes/%s" % general["client_number"])
    expect(page.locator("h1")).to_have_text("Cliente N° %s — %s" % (general["client_number"], general["name"]))
    assert [row[0] for row in _rows(page, "Información disponible")] == [
        "Información general", "Información técnica", "Consumos y cargos"]  # no EG pages
    _shot(page, "cliente")

    with page.expect_navigation():
        page.click("a:text-is('Información general')")
    shown = _fields(page, "Información general")
    assert shown["RUT cliente"] == customer_id and shown["Nombre"] == general["name"]
    assert shown["Correo"] == general["email"] and shown["Dirección"] == general["address"]
    assert shown["Fecha facturación"] == "Día %d de cada mes" % general["billing_day"]

    page.goto(base + "/clientes/%s/consumos" % general["client_number"])
    months = store.customer_months(customer_id, count=36)
    bars = page.locator("section.bars svg rect.bar title").all_text_contents()
    drawn = list(dict.fromkeys(title.split(" · ")[0] for title in bars))  # the months, in order
    assert len(drawn) == 36 and len(months) == 36
    assert len(bars) == sum(m[key] is not None for m in months for key in ("consumption_kwh", "charges_clp"))
    table = _rows(page, "Consumos y cargos")
    assert table == [[month_name(m["month"]), number(m["consumption_kwh"]), number(m["charges_clp"])]
                     for m in months]  # the values behind the bars, oldest first
    _shot(page, "cliente-consumos")

    other = next(c for c in store.find_customers("number", "21", limit=100) if c["customer_id"] != customer_id)
    for path in ("", "/general", "/consumos", "/boletas"):
        answer = page.goto(base + "/clientes/%s%s" % (other["client_number"], path))
        assert answer.status == 403, path
        expect(page.locator("main")).to_contain_text("Solo puede ver la información de su suministro")
        expect(page.locator("main")).not_to_contain_text(other["name"])


# --- Cliente EG -------------------------------------------------------------------------------------------------

def test_cliente_eg_opens_bills_remanentes_and_registers(site, page, tmp_path):
    base, store, clock = site
    customer_id = _account(store, "demo-eg")["customer_id"]
    general = store.customer_general(customer_id)
    home = base + "/clientes/%s" % general["client_number"]
    _sign_in(page, base, clock, "demo-eg", PASSWORDS["demo-eg"])
    page.goto(base + "/cliente")
    expect(page).to_have_url(home)
    assert len(_rows(page, "Información disponible")) == 9
    _shot(page, "eg")

    page.goto(home + "/inyecciones")
    months = store.customer_months(customer_id, count=12)
    titles = page.locator("section.bars svg rect.bar title").all_text_contents()
    assert len(dict.fromkeys(t.split(" · ")[0] for t in titles)) == 12
    assert any(" · Inyección: " in t for t in titles) and any(" · Consumo: " in t for t in titles)
    assert sum(m["injection_kwh"] is not None for m in months) == sum(" · Inyección: " in t for t in titles)
    _shot(page, "eg-inyecciones")

    page.goto(home + "/boletas")
    supplies, annexes = store.customer_bills(customer_id, "suministro"), store.customer_bills(customer_id, "inyeccion")
    shown = _rows(page, "Últimas")
    assert [row[0] for row in shown] == [b["number"] for b in supplies]
    assert [row[4] for row in shown] == [quantity(b["amount_clp"], "$") for b in supplies]
    assert [row[0] for row in _rows(page, "Últimos")] == [b["number"] for b in annexes]
    newest = supplies[0]
    opened = _pdf_text(_download(page, "a:text-is('%s')" % newest["number"], tmp_path))
    assert newest["number"] in opened
    page.fill("#buscar-documento input[name=numero]", "0000")
    with page.expect_navigation():
        page.click("#buscar-documento button[type=submit]")
    expect(page.locator("#buscar-documento [role=alert]")).to_contain_text("No hay una boleta")

    page.goto(home + "/historial")
    readings = _pdf_text(_download(page, "a:text-matches('^Historial de lectura')", tmp_path))
    newest_month = store.customer_months(customer_id, count=1)[0]
    assert "%s %s" % (month_name(newest_month["month"]), quantity(newest_month["consumption_kwh"], "kWh")) in readings
    assert general["client_number"] in readings

    page.goto(home + "/remanentes")
    remanentes = store.customer_remanentes(customer_id)
    assert _rows(page, "Remanentes de los últimos 5 años") == [
        [month_name(r["month"]), quantity(r["amount_clp"], "$")] for r in remanentes[:12]]
    contract = store.generation_contract(customer_id)
    assert _fields(page, "Liquidación según contrato")["Forma liquidación según contrato"] == \
        contract["liquidation_form"]

    page.goto(home + "/medidor")
    registers = store.customer_registers(customer_id)
    shown = _rows(page, "Registros del medidor por código OBIS")
    assert [row[0] for row in shown] == [r["obis"] for r in registers] and registers
    serial = next(r for r in registers if r["text"])  # the meter's serial number, a text register
    assert {row[0]: row[2] for row in shown}[serial["obis"]] == serial["text"]
    display = _fields(page, "Indicadores del display (energía consumida e inyectada)")
    assert any("1.8.0" in label for label in display) and any("2.8.0" in label for label in display)


# --- Usuario SEC ------------------------------------------------------------------------------------------------

def _sec_search(page, by: str, text: str) -> list:
    page.check("#buscar-cliente input[value=%s]" % by)
    page.fill("#buscar-cliente input[name=texto]", text)
    with page.expect_navigation():
        page.click("#buscar-cliente button[type=submit]")
    return _rows(page, "Detalle clientes")


def test_sec_finds_customers_by_number_address_and_rut_and_opens_them(site, page):
    base, store, clock = site
    target = store.customer_general(_account(store, "demo-eg")["customer_id"])
    _sign_in(page, base, clock, "demo-sec", PASSWORDS["demo-sec"])
    page.goto(base + "/cliente")
    expect(page).to_have_url(base + "/sec/clientes")

    found = _sec_search(page, "numero", target["client_number"])
    assert [target["name"], target["customer_id"], target["client_number"]] in [
        [row[0], row[1], row[3]] for row in found]
    street = target["address"].rsplit(" ", 1)[0]
    found = _sec_search(page, "direccion", street)
    expected = store.find_customers("address", street, limit=100)
    assert sorted(row[3] for row in found) == sorted(c["client_number"] for c in expected)
    assert target["client_number"] in [row[3] for row in found]
    body, digit = target["customer_id"].split("-")
    dotted = "{:,}".format(int(body)).replace(",", ".") + "-" + digit
    found = _sec_search(page, "rut", dotted)
    assert [row[1] for row in found] == [target["customer_id"]]
    _shot(page, "sec")

    with page.expect_navigation():
        page.click("section.grid a:text-is('%s')" % target["client_number"])
    expect(page).to_have_url(base + "/clientes/%s" % target["client_number"])
    assert len(_rows(page, "Información disponible")) == 9  # an EG: the SEC sees its EG pages too
    page.goto(base + "/clientes/%s/tecnica" % target["client_number"])
    technical = store.customer_technical(target["customer_id"])
    shown = _fields(page, "Información técnica")
    assert shown["Transformador"] == technical["transformer_name"]
    assert shown["Capacidad transformador"] == quantity(technical["transformer_kva"], "kVA")
    page.goto(base + "/clientes/%s/remanentes" % target["client_number"])
    assert len(_rows(page, "Remanentes")) == min(12, len(store.customer_remanentes(target["customer_id"])))
