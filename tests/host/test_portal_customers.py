"""The customer's pages of the information platform (host/portal/customer_views.py, customer_pages.py) on a small
synthetic distributor: each profile's pages hold the store's values, the EG's bills, remanentes, registers and
documents, Guardar's PDF, the SEC's search, and no customer opening another's page, bill or document."""

import re
import subprocess

import pytest
from starlette.testclient import TestClient

from opsm.host import readings, report, synth
from opsm.host.console import passwords
from opsm.host.portal import customer_views as views
from opsm.host.portal import robot
from opsm.host.portal.page import Bars, Map, month_name, quantity
from opsm.host.store import Store
from tests.host.test_portal_blocks_robot import Clock
from tests.host.test_portal_public import robot_form

LAST_MONTH = "2025-06"
CUSTOMERS = 60
PASSWORD = "clave-de-prueba-2025"
CLOCK = Clock()  # the robot check's and the sessions' time: sign_in moves it past the check's minimum


@pytest.fixture(scope="module")
def db(tmp_path_factory):
    path = str(tmp_path_factory.mktemp("portal-customers") / "synth.sqlite")
    with Store.open(path) as store:
        synth.create(store, 17, CUSTOMERS, LAST_MONTH)
        everyone = store.find_customers("rut", "", limit=10 * CUSTOMERS)
        generators = [c for c in everyone if c["generation"]]
        plain = [c for c in everyone if not c["generation"]]
        # an account of each kind for two customers: one to sign in with, one to be refused
        hashed = passwords.hashed(PASSWORD)
        for n, customer in enumerate(generators[:2] + plain[:2]):
            store.add_portal_user("cuenta%d" % n, hashed, "c%d@example.cl" % n, customer["customer_id"],
                                  "eg" if customer["generation"] else "cliente", customer["customer_id"], 0)
    return {"path": path, "eg": generators[:2], "cliente": plain[:2]}


@pytest.fixture(scope="module")
def store(db):
    with Store.open(db["path"]) as opened:
        yield opened


@pytest.fixture(scope="module")
def app(db):
    from opsm.host.portal.app import create_app  # noqa: PLC0415  (written beside these pages)

    with TestClient(create_app(db["path"], b"s" * 32, clock=CLOCK), follow_redirects=False) as client:
        yield client


def sign_in(client, name: str, password: str) -> None:
    client.cookies.clear()
    token, robot_answer = robot_form(client.get("/ingresar"))
    CLOCK.now += 5  # a person takes seconds to answer the robot check
    answer = client.post("/ingresar", data={"nombre": name, "clave": password, "siguiente": "/",
                                            "csrf": client.cookies.get("opsm_portal_csrf"), "robot_token": token,
                                            "robot_respuesta": robot_answer, robot.HONEYPOT: ""})
    assert answer.status_code == 303, answer.text


def pdf_text(data: bytes) -> str:
    return subprocess.run(["pdftotext", "-enc", "UTF-8", "-layout", "-", "-"], input=data, check=True,
                          capture_output=True).stdout.decode()


def html_text(html: str) -> str:
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", html)).replace("&#34;", '"').replace("&#39;", "'")


def general_of(store, customer: dict) -> dict:
    return store.customer_general(customer["customer_id"])


# --- the page builders --------------------------------------------------------------------------------------------

def test_general_and_technical_information_hold_the_register(store, db):
    general = general_of(store, db["cliente"][0])
    rows = dict(views.general_info(general).sections[0].rows)
    for label, key in (("RUT cliente", "customer_id"), ("Nombre", "name"), ("Correo", "email"),
                       ("Teléfono", "phone"), ("Dirección", "address"), ("Comuna", "comuna"), ("Región", "region")):
        assert rows[label] == general[key]
    assert rows["Fecha facturación"] == "Día %d de cada mes" % general["billing_day"]
    technical = store.customer_technical(general["customer_id"])
    rows = dict(views.technical_info(general, technical).sections[0].rows)
    assert rows["Capacidad empalme"] == quantity(technical["service_kw"], "kW", 1)
    assert rows["Transformador"] == technical["transformer_name"]
    assert rows["Capacidad transformador"] == quantity(technical["transformer_kva"], "kVA")
    assert rows["Tensión transformador"] == technical["transformer_voltage"]


def test_a_customers_trail_links_back_to_the_index_never_to_the_page_itself(store, db):
    general = general_of(store, db["cliente"][0])
    index = views.index(general, "cliente")
    assert index.trail == (("Cliente N° %s" % general["client_number"], None),)
    assert views.general_info(general).trail == (("Cliente N° %s" % general["client_number"], views.url(general)),
                                                 ("Información general", None))


def test_consumption_against_charges_over_36_months(store, db):
    general = general_of(store, db["cliente"][0])
    months = store.customer_months(general["customer_id"], count=36)
    bars = views.charges(general, months, net=False).sections[0]
    assert isinstance(bars, Bars) and len(bars.months) == 36 and bars.months[-1] == LAST_MONTH
    assert [s.name for s in bars.series] == ["Consumo", "Cargos"]
    assert list(bars.series[0].values) == [m["consumption_kwh"] for m in months]
    assert list(bars.series[1].values) == [m["charges_clp"] for m in months]
    assert None not in bars.series[1].values
    eg = general_of(store, db["eg"][0])
    months = store.customer_months(eg["customer_id"], count=36)
    bars, net = views.charges(eg, months, net=True).sections
    assert len(bars.series) == 2 and len(net.rows) == 36
    assert net.rows[0] == (month_name(LAST_MONTH), quantity(months[-1]["charges_clp"], "$"),
                           quantity(months[-1]["injection_clp"], "$"), quantity(months[-1]["net_clp"], "$"))


def test_an_eg_sees_12_months_of_consumption_against_injection(store, db):
    general = general_of(store, db["eg"][0])
    months = store.customer_months(general["customer_id"], count=12)
    bars = views.consumption_and_injection(general, months).sections[0]
    assert len(bars.months) == 12 and list(bars.series[1].values) == [m["injection_kwh"] for m in months]
    assert any(bars.series[1].values)


def test_an_egs_bills_and_annexes_are_the_newest_36_each_linked(store, db):
    general = general_of(store, db["eg"][0])
    supplies = store.customer_bills(general["customer_id"], "suministro")
    annexes = store.customer_bills(general["customer_id"], "inyeccion")
    supply_grid, annex_grid = views.bills(general, supplies, annexes).sections
    assert len(supply_grid.rows) == 36 and 0 < len(annex_grid.rows) <= 36
    assert supply_grid.rows[0][:2] == (supplies[0]["number"], month_name(LAST_MONTH))
    assert supply_grid.link(0, 0) == "/clientes/%s/boletas/%s" % (general["client_number"], supplies[0]["number"])
    assert annex_grid.rows[0][0] == annexes[0]["number"]


def test_remanentes_a_year_a_page_with_the_contracts_liquidation(store, db):
    general = general_of(store, db["eg"][0])
    found = store.customer_remanentes(general["customer_id"])
    contract = store.generation_contract(general["customer_id"])
    count = views.remanente_pages(found)
    assert found and count == -(-len(found) // 12) <= 5
    shown = [views.remanentes(general, found, contract, n) for n in range(1, count + 1)]
    rows = [row for page in shown for row in page.sections[0].rows]
    assert rows == [(month_name(r["month"]), quantity(r["amount_clp"], "$")) for r in found]
    terms = dict(shown[0].sections[1].rows)
    assert terms["Forma liquidación según contrato"] == contract["liquidation_form"]
    assert terms["Fecha de liquidación según contrato"].endswith(contract["liquidation_date"][:4])
    assert shown[-1].sections[0].title.endswith("página %d de %d" % (count, count))


def test_the_meters_display_and_every_register_by_obis(store, db):
    general = general_of(store, db["eg"][0])
    registers = store.customer_registers(general["customer_id"])
    page = views.meter(general, report.register_rows(store, general["device_id"], "es"), registers)
    _, display, grid = page.sections
    shown = dict(display.rows)
    consumed = next(value for label, value in shown.items() if readings.IMPORT_WH in label)
    injected = next(value for label, value in shown.items() if readings.EXPORT_WH in label)
    wh = {r["obis"]: r["value"] for r in registers}
    assert consumed == quantity(wh[readings.IMPORT_WH] / 1000, "kWh", 3)
    assert injected.endswith(" kWh")
    assert [row[0] for row in grid.rows] == [r["obis"] for r in registers] and len(grid.rows) >= 10
    serial = next(r["text"] for r in registers if r["text"])
    assert any(row[2] == serial for row in grid.rows)


def test_documents_and_the_egs_location_in_utm_wgs84(store, db):
    general = general_of(store, db["eg"][0])
    contract = store.generation_contract(general["customer_id"])
    transformer = store.transformer(store.customer_technical(general["customer_id"])["transformer"])
    page = views.documents(general, store.customer_documents(general["customer_id"]), contract, transformer)
    grid, place, drawn = page.sections
    assert {row[1] for row in grid.rows} == {d["file_name"] for d in store.customer_documents(general["customer_id"])}
    assert {row[0] for row in grid.rows} >= {"Contrato de conexión", "Protocolo de conexión"}
    rows = dict(place.rows)
    assert contract["datum"] == "WGS84" and rows["Datum"] == "WGS84"  # the synthetic contracts are in WGS84
    assert rows["Coordenada x"] == quantity(contract["x"], "m") and rows["Coordenada y"] == quantity(contract["y"], "m")
    assert rows["Zona"] == "%s Sur" % contract["zone"][:-1]
    assert isinstance(drawn, Map) and [f.kind for f in drawn.features] == ["generation", "transformer"]


def test_the_histories_hold_36_months(store, db):
    general = general_of(store, db["eg"][0])
    months = store.customer_months(general["customer_id"], count=36)
    supplies = store.customer_bills(general["customer_id"], "suministro")
    lectures = views.reading_history(general, months).sections[1]
    billing = views.billing_history(general, months, supplies,
                                    store.customer_bills(general["customer_id"], "inyeccion")).sections[1]
    assert len(lectures.rows) == len(billing.rows) == 36
    assert lectures.rows[0][:3] == (month_name(LAST_MONTH), quantity(months[-1]["consumption_kwh"], "kWh"), "medidor")
    assert billing.rows[0][:3] == (month_name(LAST_MONTH), supplies[0]["number"], quantity(supplies[0]["amount_clp"],
                                                                                             "$"))


def test_the_sec_search_lists_name_rut_address_and_a_link(store, db):
    customer = db["eg"][0]
    found = store.find_customers("number", customer["client_number"])
    grid = views.search_results("numero", customer["client_number"], found, 100).sections[1]
    assert grid.columns == ("Nombre", "RUT", "Dirección", "N° cliente")
    assert grid.rows[0][:2] == (customer["name"], customer["customer_id"])
    assert grid.link(0, 3) == "/clientes/%s" % customer["client_number"]


# --- the routes ---------------------------------------------------------------------------------------------------

def customer_routes(number: str, bill: str, file_name: str) -> list:
    """Every customer route's address for the customer `number` (a bill's and a document's of that customer)."""
    from opsm.host.portal import customer_pages  # noqa: PLC0415

    paths = [route.path for route in customer_pages.ROUTES if "{number}" in route.path]
    return [path.replace("{number}", number).replace("{bill}", bill).replace("{file_name}", file_name)
            for path in paths]


def someone_elses(store, customer: dict) -> tuple:
    """(N° de cliente, a bill's number, a document's file name) of a customer."""
    bill = store.customer_bills(customer["customer_id"], "suministro", 1)[0]["number"]
    documents = store.customer_documents(customer["customer_id"])
    return customer["client_number"], bill, documents[0]["file_name"] if documents else "contrato.pdf"


def test_a_cliente_sees_its_information_and_36_months(app, store, db):
    customer = db["cliente"][0]
    sign_in(app, "cuenta2", PASSWORD)
    number = customer["client_number"]
    assert app.get("/cliente").headers["location"] == "/clientes/%s" % number
    general = general_of(store, customer)
    text = html_text(app.get("/clientes/%s/general" % number).text)
    for key in ("customer_id", "name", "email", "phone", "address", "comuna", "region"):
        assert general[key] in text
    technical = store.customer_technical(customer["customer_id"])
    text = html_text(app.get("/clientes/%s/tecnica" % number).text)
    assert technical["transformer_name"] in text and technical["transformer_voltage"] in text
    answer = app.get("/clientes/%s/consumos" % number)
    assert answer.status_code == 200 and answer.text.count('class="bar"') == 2 * 36
    months = store.customer_months(customer["customer_id"], count=36)
    text = html_text(answer.text)
    assert month_name(months[0]["month"]) in text and month_name(LAST_MONTH) in text
    assert quantity(months[-1]["charges_clp"], "$") in text
    index = app.get("/clientes/%s" % number).text
    assert "/general" in index and "/remanentes" not in index  # no EG categories for a cliente
    for path in ("inyecciones", "boletas", "remanentes", "medidor", "documentos", "historial/lecturas.pdf"):
        assert app.get("/clientes/%s/%s" % (number, path)).status_code == 403


def test_guardar_saves_the_pages_values(app, store, db):
    customer = db["cliente"][0]
    sign_in(app, "cuenta2", PASSWORD)
    answer = app.get("/clientes/%s/general?guardar=pdf" % customer["client_number"])
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["content-disposition"].startswith("attachment")
    text = pdf_text(answer.content)
    general = general_of(store, customer)
    for key in ("customer_id", "name", "email", "address", "comuna"):
        assert general[key] in text
    text = pdf_text(app.get("/clientes/%s/consumos?guardar=pdf" % customer["client_number"]).content)
    months = store.customer_months(customer["customer_id"], count=36)
    assert month_name(months[0]["month"]) in text and quantity(months[-1]["charges_clp"], "$")[1:] in text


def test_an_eg_opens_its_bills_by_list_and_by_number(app, store, db):
    customer = db["eg"][0]
    sign_in(app, "cuenta0", PASSWORD)
    number, customer_id = customer["client_number"], customer["customer_id"]
    text = html_text(app.get("/clientes/%s/boletas" % number).text)
    supplies, annexes = (store.customer_bills(customer_id, kind) for kind in ("suministro", "inyeccion"))
    assert all(b["number"] in text for b in supplies + annexes) and len(supplies) == 36
    for found in (supplies[-1], annexes[0]):
        answer = app.get("/clientes/%s/boletas/%s" % (number, found["number"]))
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.headers["content-disposition"] == 'attachment; filename="%s-%s.pdf"' % (found["kind"],
                                                                                               found["number"])
        assert answer.content == store.customer_bill(customer_id, found["number"])["pdf"]
    search = "/clientes/%s/boletas" % number
    assert 'name="numero"' in app.get(search).text
    assert app.get(search, params={"numero": annexes[0]["number"]}).headers["location"] == \
        "/clientes/%s/boletas/%s" % (number, annexes[0]["number"])
    missing = app.get(search, params={"numero": "999"})
    assert missing.status_code == 404 and "N° 999" in missing.text


def test_a_bill_without_a_pdf_is_a_page_of_its_data(app, store, db):
    customer = db["eg"][0]
    sign_in(app, "cuenta0", PASSWORD)
    found = store.customer_bill(customer["customer_id"], store.customer_bills(customer["customer_id"])[0]["number"])
    store.save_supplies({"bill": [dict(found, pdf=None)]})
    try:
        answer = app.get("/clientes/%s/boletas/%s" % (customer["client_number"], found["number"]))
        assert answer.headers["content-type"].startswith("text/html")
        text = html_text(answer.text)
        assert found["number"] in text and quantity(found["amount_clp"], "$") in text
    finally:
        store.save_supplies({"bill": [found]})


def test_an_egs_remanentes_registers_documents_and_histories(app, store, db):
    customer = db["eg"][0]
    sign_in(app, "cuenta0", PASSWORD)
    number, customer_id = customer["client_number"], customer["customer_id"]
    found = store.customer_remanentes(customer_id)
    contract = store.generation_contract(customer_id)
    first = html_text(app.get("/clientes/%s/remanentes" % number).text)
    assert quantity(found[0]["amount_clp"], "$") in first and contract["liquidation_form"] in first
    last = views.remanente_pages(found)
    answer = app.get("/clientes/%s/remanentes" % number, params={"pagina": last})
    assert month_name(found[-1]["month"]) in html_text(answer.text)
    assert 'href="?pagina=1"' in answer.text and "Página siguiente" not in answer.text
    assert app.get("/clientes/%s/remanentes" % number, params={"pagina": last + 1}).status_code == 404
    text = html_text(app.get("/clientes/%s/medidor" % number).text)
    assert all(r["obis"] in text for r in store.customer_registers(customer_id))
    text = html_text(app.get("/clientes/%s/documentos" % number).text)
    documents = store.customer_documents(customer_id)
    assert all(d["file_name"] in text for d in documents) and "WGS84" in text
    for document in documents:
        answer = app.get("/clientes/%s/documentos/%s" % (number, document["file_name"]))
        assert answer.headers["content-type"] == "application/pdf"
        assert answer.content == store.customer_document(customer_id, document["file_name"])["pdf"]
    months = store.customer_months(customer_id, count=36)
    answer = app.get("/clientes/%s/historial/lecturas.pdf" % number)
    assert answer.headers["content-disposition"] == 'attachment; filename="historial-lecturas-%s.pdf"' % number
    text = pdf_text(answer.content)
    assert month_name(months[0]["month"]) in text and customer["name"] in text
    text = pdf_text(app.get("/clientes/%s/historial/facturacion.pdf" % number).content)
    assert store.customer_bills(customer_id)[0]["number"] in text


def test_no_customer_opens_anothers_pages_bills_or_documents(app, store, db):
    for account, mine, theirs in (("cuenta0", db["eg"][0], db["eg"][1]), ("cuenta2", db["cliente"][0],
                                                                           db["cliente"][1]),
                                  ("cuenta0", db["eg"][0], db["cliente"][0])):
        sign_in(app, account, PASSWORD)
        other, bill, file_name = someone_elses(store, theirs)
        secret = (theirs["name"], theirs["customer_id"], other)
        for path in customer_routes(other, bill, file_name):
            for query in ("", "?guardar=pdf", "?imprimir=1"):
                answer = app.get(path + query)
                assert answer.status_code == 403, path
                assert not any(word in answer.text for word in secret), path
        # their bill's number or document's name under my own number: not found, and nothing of theirs shown
        for path in ("/clientes/%s/boletas/%s" % (mine["client_number"], bill),
                     "/clientes/%s/documentos/%s" % (mine["client_number"], file_name)):
            answer = app.get(path)
            assert answer.status_code in (403, 404) and not any(word in answer.text for word in secret)
    assert app.get("/clientes/0000000").status_code == 403  # nobody's number: the same refusal


def test_public_accounts_are_refused_and_strangers_sent_to_log_in(app, store, db):
    other, bill, file_name = someone_elses(store, db["eg"][0])
    sign_in(app, "demo-publico", "publico-demo-2020")
    for path in customer_routes(other, bill, file_name) + ["/cliente", "/sec/clientes"]:
        assert app.get(path).status_code == 403, path
    app.cookies.clear()
    for path in customer_routes(other, bill, file_name) + ["/cliente", "/sec/clientes"]:
        answer = app.get(path)
        assert answer.status_code == 303 and answer.headers["location"].startswith("/ingresar?"), path


def test_the_sec_searches_by_number_address_and_rut_and_opens_any_customer(app, store, db):
    sign_in(app, "demo-sec", "auditor-sec-demo-2020")
    assert app.get("/cliente").headers["location"] == "/sec/clientes"
    assert 'name="texto"' in app.get("/sec/clientes").text
    customer = db["eg"][1]
    body, digit = customer["customer_id"].split("-")
    dotted = "{:,}".format(int(body)).replace(",", ".") + "-" + digit
    for by, text in (("numero", customer["client_number"]), ("direccion", customer["address"].lower()),
                     ("rut", dotted)):
        answer = app.get("/sec/clientes", params={"por": by, "texto": text})
        assert answer.status_code == 200, by
        assert customer["name"] in answer.text and 'href="/clientes/%s"' % customer["client_number"] in answer.text
    saved = pdf_text(app.get("/sec/clientes", params={"por": "numero", "texto": customer["client_number"],
                                                      "guardar": "pdf"}).content)
    assert customer["customer_id"] in saved
    number = customer["client_number"]
    assert "/remanentes" in app.get("/clientes/%s" % number).text  # an EG: the EG's categories too
    for path in customer_routes(*someone_elses(store, customer)):
        assert app.get(path).status_code == 200, path
    plain = db["cliente"][1]["client_number"]
    assert app.get("/clientes/%s/general" % plain).status_code == 200
    assert app.get("/clientes/%s/remanentes" % plain).status_code == 404  # no generation, no EG pages


def test_a_documents_name_in_any_characters_reaches_the_browser(app, store, db):
    customer = db["eg"][0]
    sign_in(app, "cuenta0", PASSWORD)
    name = "Estudio de conexión «2025».pdf"
    store.save_supplies({"document": [{"customer_id": customer["customer_id"], "file_name": name, "kind": "estudio",
                                       "pdf": b"%PDF-1.4 estudio"}]})
    text = html_text(app.get("/clientes/%s/documentos" % customer["client_number"]).text)
    assert "Estudio de conexión" in text and name in text
    answer = app.get("/clientes/%s/documentos/%s" % (customer["client_number"], name))
    assert answer.content == b"%PDF-1.4 estudio"
    assert answer.headers["content-disposition"] == (
        "attachment; filename=\"Estudio_de_conexi_n__2025_.pdf\"; "
        "filename*=UTF-8''Estudio%20de%20conexi%C3%B3n%20%C2%AB2025%C2%BB.pdf")
