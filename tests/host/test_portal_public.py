"""The information platform's público profile over HTTP (Starlette's test client), on a small synthetic
distributor: registration and its robot check, login, logout and throttling, the five-level search by location,
the detail pages and their values, the transformer and VNR searches, Imprimir and Guardar (the PDF's text), the
feeder's KMZ plan, redirects to the login page and the security headers."""

import datetime
import html
import io
import re
import subprocess
import tempfile
import urllib.parse
import xml.etree.ElementTree as ET
import zipfile

import pytest
from starlette.responses import PlainTextResponse
from starlette.routing import Route
from starlette.testclient import TestClient

from opsm.host import synth
from opsm.host.portal import robot, web
from opsm.host.portal.app import create_app
from opsm.host.portal.page import Bars, Feature, Fields, Grid, Map, Page, Series, Text, day, number, quantity
from opsm.host.store import Store
from tests.host.test_portal_blocks_robot import answer_of

SECRET = b"portal-test-secret-0123456789"
MONTH = "2025-06"


class Clock:
    """The robot check's and the sessions' time; tests move it past the robot check's minimum."""

    def __init__(self):
        self.now = 1_760_000_000.0

    def __call__(self):
        return self.now


@pytest.fixture(scope="module")
def database():
    with tempfile.TemporaryDirectory() as folder:
        path = folder + "/portal.db"
        with Store.open(path) as store:
            synth.create(store, seed=17, customers=60, last_month=MONTH)
        yield path


@pytest.fixture(scope="module")
def store(database):
    with Store.open(database) as opened:
        yield opened


CLOCK = Clock()  # the login helper moves it too


@pytest.fixture(scope="module")
def clock():
    return CLOCK


@pytest.fixture(scope="module")
def app(database, clock):
    made = create_app(database, SECRET, clock=clock)
    made.router.routes.append(Route("/solo-sec", _only_sec))  # a page of another profile, for require()
    made.router.routes.append(Route("/todas", _every_section))  # web.show with every kind of section
    return made


async def _only_sec(request):
    web.require(request, "sec")
    return PlainTextResponse("sec")


EVERY_SECTION = Page("Todas las secciones", (("Inicio", "/"), ("Aquí", None)), (
    Fields("Datos", (("CLIENTE", "Ana Pérez"),)),
    Grid("Lista", ("Id", "kWh"), (("A-1", "1.234,5"),), (("/red/transformador/A-1", None),)),
    Bars("Consumo", ("2025-05", "2025-06"), (Series("Consumo", (120.5, None), "kWh", 1),)),
    Map("Mapa", (Feature("transformer", "T-1", {"type": "Point", "coordinates": [-72.94, -41.47]}),)),
    Text("Nota", ("Un párrafo.",))))


async def _every_section(request):
    web.require(request)
    return web.show(request, EVERY_SECTION)


def _client(app, address: str = "testclient") -> TestClient:
    return TestClient(app, client=(address, 50000))


@pytest.fixture(scope="module")
def public(app):
    """Signed in as the demo público account for the whole module."""
    with _client(app) as client:
        assert _login(client, "demo-publico", "publico-demo-2020").status_code == 303
        yield client


def _csrf(page) -> str:
    """The CSRF token of the page's last form (the first may be the header's Salir)."""
    return re.findall(r'name="csrf" value="([^"]+)"', page.text)[-1]


def robot_form(page) -> tuple:
    """The robot token of the page's form and the answer to its question in words (other modules sign in with it)."""
    question = html.unescape(re.search(r"¿Cuánto es [^?]+\?", page.text).group(0))  # "¿Cuánto es siete más cinco?"
    return re.search(r'name="robot_token" value="([^"]+)"', page.text).group(1), answer_of(question)


def _login(client, name: str, password: str, target: str = "/"):
    """The login form sent as a person sends it: its robot check answered, seconds after it was drawn."""
    page = client.get("/ingresar")
    token, answer = robot_form(page)
    CLOCK.now += 5
    return client.post("/ingresar", data={"csrf": _csrf(page), "nombre": name, "clave": password,
                                          "siguiente": target, "robot_token": token, "robot_respuesta": answer,
                                          robot.HONEYPOT: ""}, follow_redirects=False)


def _text(page) -> str:
    """The page's words, without markup, scripts, styles or drawings."""
    body = re.sub(r"<(script|style|svg)\b.*?</\1>", " ", page.text, flags=re.S)
    return " ".join(html.unescape(re.sub(r"<[^>]+>", " ", body)).split())


def _options(page, name: str) -> list:
    """The (value, text) options of the select `name`, without the empty "Seleccione"."""
    select = re.search(r'<select name="%s"[^>]*>(.*?)</select>' % name, page.text, flags=re.S).group(1)
    return [(html.unescape(v), html.unescape(t)) for v, t in re.findall(r'<option value="([^"]+)"[^>]*>([^<]*)<',
                                                                        select)]


def _selected(page, name: str) -> str:
    select = re.search(r'<select name="%s"[^>]*>(.*?)</select>' % name, page.text, flags=re.S).group(1)
    found = re.search(r'<option value="([^"]*)" selected>', select)
    return found.group(1) if found else ""


def _pdf_text(data: bytes) -> str:
    done = subprocess.run(["pdftotext", "-layout", "-", "-"], input=data, capture_output=True, check=True)
    return " ".join(done.stdout.decode().split())


# --- registration ---------------------------------------------------------------------------------------------

def _registration(client):
    """The registration form's CSRF token, robot token and the answer to its question."""
    page = client.get("/registro")
    return (_csrf(page),) + robot_form(page)


def _register(client, clock, name: str, answer_offset: int = 0, token: str | None = None, **fields):
    csrf, fresh, answer = _registration(client)
    clock.now += 5  # a person takes seconds to fill the form
    data = {"csrf": csrf, "robot_token": token or fresh, "robot_respuesta": str(int(answer) + answer_offset),
            "nombre": name, "clave": "una-clave-larga", "correo": name + "@example.cl", "rut": "12.345.678-5",
            robot.HONEYPOT: ""}
    data.update(fields)
    return client.post("/registro", data=data, follow_redirects=False), data


def _problems(page) -> str:
    found = re.search(r'<div class="error" role="alert">(.*?)</div>', page.text, flags=re.S)
    return html.unescape(re.sub(r"<[^>]+>", " ", found.group(1))) if found else ""


def test_registration_makes_a_publico_account_and_signs_it_in(app, clock, store):
    with _client(app) as client:
        answer, _ = _register(client, clock, "ana.perez")
        assert answer.status_code == 303 and answer.headers["location"] == "/"
        assert "ana.perez" in _text(client.get("/"))
        account, _ = store.portal_credentials("ana.perez")
        assert (account["profile"], account["rut"], account["email"], account["customer_id"]) == (
            "publico", "12345678-5", "ana.perez@example.cl", None)
        assert client.get("/red").status_code == 200


def test_registration_refuses_a_wrong_answer_a_reused_form_and_a_filled_honeypot(app, clock, store):
    with _client(app) as client:
        wrong, _ = _register(client, clock, "robot1", answer_offset=1)
        assert wrong.status_code == 400 and "La respuesta no es correcta" in _problems(wrong)
        csrf, token, answer = _registration(client)
        clock.now += 5
        data = {"csrf": csrf, "robot_token": token, "robot_respuesta": answer, "nombre": "robot2",
                "clave": "una-clave-larga", "correo": "r@example.cl", "rut": "12.345.678-5", robot.HONEYPOT: "x"}
        assert "No se pudo comprobar" in _problems(client.post("/registro", data=data))
        again = client.post("/registro", data=dict(data, **{robot.HONEYPOT: ""}))
        assert again.status_code == 400 and "ya se envió" in _problems(again)
        fast_csrf, fast_token, fast_answer = _registration(client)
        fast = client.post("/registro", data=dict(data, csrf=fast_csrf, robot_token=fast_token,
                                                  robot_respuesta=fast_answer, **{robot.HONEYPOT: ""}))
        assert "demasiado rápido" in _problems(fast)
        assert all(store.portal_credentials(name)[0] is None for name in ("robot1", "robot2"))


@pytest.mark.parametrize("fields, problem", [
    ({"rut": "12.345.678-9"}, "RUT: el dígito verificador 9 no corresponde al RUT 12345678 (es 5)"),
    ({"clave": "corta"}, "Clave: debe tener al menos 10 caracteres"),
    ({"nombre": "demo-publico"}, "Nombre de usuario: ya está en uso"),
    ({"correo": "sin-arroba"}, "Correo: debe ser una dirección de correo"),
    ({"nombre": "con espacio"}, "Nombre de usuario: de 3 a 40"),
])
def test_registration_says_what_is_wrong(app, clock, fields, problem):
    with _client(app) as client:
        answer, _ = _register(client, clock, "bea", **fields)
        assert answer.status_code == 400 and problem in _problems(answer)
        assert 'value="%s"' % html.escape(fields.get("correo", "bea@example.cl")) in answer.text  # kept to fix


def test_registration_needs_the_forms_csrf_cookie(app, clock):
    with _client(app) as client:
        answer, data = _register(client, clock, "carla", csrf="otro-token-que-no-es-el-de-la-cookie-0000")
        assert answer.status_code == 403


# --- login, logout, throttle --------------------------------------------------------------------------------------

def test_anonymous_requests_go_to_the_login_page_and_come_back(app):
    with _client(app) as client:
        page = client.get("/red/subestacion/SE-PMO?imprimir=1", follow_redirects=False)
        assert page.status_code == 303
        target = "/red/subestacion/SE-PMO?imprimir=1"
        assert page.headers["location"] == "/ingresar?" + urllib.parse.urlencode({"siguiente": target})
        for path in ("/red", "/transformador", "/vnr", "/red/alimentador/AL-PMO-1/plano.kmz"):
            assert client.get(path, follow_redirects=False).headers["location"].startswith("/ingresar?siguiente=")
        login = client.get(page.headers["location"])
        assert 'name="siguiente" value="%s"' % html.escape(target) in login.text
        assert '<a class="button" href="/registro">Registro</a>' in login.text  # the seed's INGRESAR and REGISTRO
        back = _login(client, "demo-sec", "auditor-sec-demo-2020", target)  # every profile sees the público pages
        assert back.status_code == 303 and back.headers["location"] == target
        assert client.get(target).status_code == 200


def test_login_goes_only_to_this_sites_pages(app):
    with _client(app) as client:
        assert _login(client, "demo-eg", "generador-demo-2020", "//evil.example/x").headers["location"] == "/"
        assert _login(client, "demo-eg", "generador-demo-2020", "https://evil.example/").headers["location"] == "/"


def test_wrong_credentials_get_one_answer_and_no_session(app):
    with _client(app, "10.0.0.2") as client:
        for name, password in (("demo-publico", "no-es-la-clave"), ("nadie-con-este-nombre", "no-es-la-clave")):
            answer = _login(client, name, password)
            assert answer.status_code == 401 and "Nombre de usuario o clave incorrectos." in answer.text
        assert client.get("/red", follow_redirects=False).status_code == 303


def test_logins_are_slowed_after_failures_and_a_right_one_clears_them(app):
    with _client(app, "10.0.0.3") as client:
        for _ in range(5):
            assert _login(client, "demo-cliente", "no-es-la-clave").status_code == 401
        slowed = _login(client, "demo-cliente", "cliente-demo-2020")
        assert slowed.status_code == 429 and int(slowed.headers["retry-after"]) >= 1
        assert "Demasiados intentos fallidos" in slowed.text
    with _client(app, "10.0.0.4") as other:  # the account's count holds from another address too
        assert _login(other, "demo-cliente", "cliente-demo-2020").status_code == 429


def test_logout_ends_the_session_and_needs_its_csrf_token(app):
    with _client(app, "10.0.0.5") as client:
        assert _login(client, "demo-publico", "publico-demo-2020").status_code == 303
        assert client.post("/salir", data={"csrf": "nope"}).status_code == 403
        cookie = client.cookies[web.SESSION_COOKIE]
        out = client.post("/salir", data={"csrf": _csrf(client.get("/"))}, follow_redirects=False)
        assert out.status_code == 303 and out.headers["location"] == "/ingresar"
        client.cookies[web.SESSION_COOKIE] = cookie  # the old cookie opens nothing
        assert client.get("/red", follow_redirects=False).status_code == 303


def test_another_profiles_page_is_refused_in_spanish(public):
    page = public.get("/solo-sec")
    assert page.status_code == 403 and "Su perfil no tiene acceso a esta página." in page.text


# --- the search by location -----------------------------------------------------------------------------------

def test_the_cascade_loads_each_list_from_the_one_before(public, store):
    page = public.get("/red")
    assert _options(page, "region") == [(r["cut"], r["name"]) for r in store.regions()]
    assert _options(page, "comuna") == [] and "disabled" in re.search(r'<select name="comuna"[^>]*>', page.text)[0]
    region = "10"
    page = public.get("/red", params={"region": region})
    assert _options(page, "comuna") == [(c["cut"], c["name"]) for c in store.comunas(region)]
    comuna = next(c["cut"] for c in store.comunas(region) if store.substations(c["cut"]))
    page = public.get("/red", params={"region": region, "comuna": comuna})
    substations = store.substations(comuna)
    assert _options(page, "subestacion") == [(s["id"], s["name"]) for s in substations]
    substation = substations[0]["id"]
    page = public.get("/red", params={"region": region, "comuna": comuna, "subestacion": substation})
    feeders = store.feeders(substation)
    assert _options(page, "alimentador") == [(f["id"], f["name"]) for f in feeders]
    page = public.get("/red", params={"region": region, "comuna": comuna, "subestacion": substation,
                                      "alimentador": feeders[0]["id"]})
    transformers = store.transformers(feeders[0]["id"])
    assert _options(page, "transformador") == [(t["id"], t["name"]) for t in transformers]
    assert [_selected(page, n) for n in ("region", "comuna", "subestacion", "alimentador", "transformador")] == [
        region, comuna, substation, feeders[0]["id"], ""]
    # a choice that is not among its parent's options is dropped, with those below it
    page = public.get("/red", params={"region": "09", "comuna": comuna, "subestacion": substation})
    assert _selected(page, "comuna") == "" and _options(page, "subestacion") == []


def test_buscar_opens_the_lowest_level_chosen(public, store):
    substation = store.substation("SE-PMO")
    feeder = substation["feeders"][0]["id"]
    transformer = store.transformers(feeder)[0]["id"]
    base = {"region": substation["region"], "comuna": substation["comuna"], "buscar": "1"}
    expected = ((base, "/red/comuna/%s" % substation["comuna"]),
                (dict(base, subestacion="SE-PMO"), "/red/subestacion/SE-PMO/alimentadores"),
                (dict(base, subestacion="SE-PMO", alimentador=feeder), "/red/alimentador/%s/transformadores" % feeder),
                (dict(base, subestacion="SE-PMO", alimentador=feeder, transformador=transformer),
                 "/red/transformador/%s" % transformer))
    for params, target in expected:
        assert public.get("/red", params=params, follow_redirects=False).headers["location"] == target
    only_region = public.get("/red", params={"region": "10", "buscar": "1"})
    assert only_region.status_code == 200 and "Seleccione al menos una comuna" in only_region.text


def test_the_grids_link_each_level_to_the_next(public, store):
    substation = store.substation("SE-PMO")
    page = public.get("/red/comuna/%s" % substation["comuna"])
    text = _text(page)
    assert "Los Lagos > Puerto Montt" in text and "Subestación Puerto Montt" in text
    assert 'href="/red/subestacion/SE-PMO"' in page.text and 'href="/red/subestacion/SE-PMO/alimentadores"' in page.text
    assert _selected(page, "comuna") == substation["comuna"]  # the form stays filled
    page = public.get("/red/subestacion/SE-PMO/alimentadores")
    for feeder in substation["feeders"]:
        assert 'href="/red/alimentador/%s"' % feeder["id"] in page.text
        assert 'href="/red/alimentador/%s/transformadores"' % feeder["id"] in page.text
    feeder = substation["feeders"][0]["id"]
    page = public.get("/red/alimentador/%s/transformadores" % feeder)
    for transformer in store.transformers(feeder):
        assert 'href="/red/transformador/%s"' % transformer["id"] in page.text
    assert public.get("/red/comuna/99999").status_code == 404


# --- detail pages ---------------------------------------------------------------------------------------------

def test_substation_detail(public, store):
    substation = store.substation("SE-PMO")
    page = public.get("/red/subestacion/SE-PMO")
    text = _text(page)
    assert "ID-SUBESTACIÓN SE-PMO" in text and "NOMBRE %s" % substation["name"] in text
    assert "TRANSFORMADORES AT/MT %s" % ", ".join(substation["power_transformers"]) in text
    assert all(f["name"] in text for f in substation["feeders"])
    assert all(t["id"] in text for t in substation["transformers"])
    assert "UBICACIÓN x %s m, y %s m, WGS84, zona 18S" % (number(substation["x"]), number(substation["y"])) in text
    assert "<svg" in page.text and "Mapa georreferenciación" in text
    assert public.get("/red/subestacion/NO-EXISTE").status_code == 404


def test_feeder_detail(public, store):
    feeder = store.feeder("AL-PMO-1")
    page = public.get("/red/alimentador/AL-PMO-1")
    text = _text(page)
    for label, value in (("ID-ALIMENTADOR", feeder["id"]), ("NOMBRE", feeder["name"]), ("TIPO", "Alimentador"),
                         ("CAPACIDAD", quantity(feeder["capacity_kva"], "kVA")),
                         ("POTENCIA DE CORTOCIRCUITO EN CABECERA", quantity(feeder["short_circuit_kva"], "kVA"))):
        assert "%s %s" % (label, value) in text
    assert "DISTRIBUIDORA PROPIETARIA no aplica" in text
    assert len(feeder["demands"]) == 12
    for demand in feeder["demands"]:
        year, month = demand["month"].split("-")
        assert "%s/%s %s %s" % (month, year, number(demand["min_kw"], 1), number(demand["max_kw"], 1)) in text
    assert all(t["id"] in text for t in feeder["transformers"])
    assert 'href="/red/alimentador/AL-PMO-1/plano.kmz"' in page.text
    sub = next(f for f in store.feeders("SE-PMO") + store.feeders("SE-PVA") if f["kind"] == "sub-alimentador")
    sub = store.feeder(sub["id"])
    text = _text(public.get("/red/alimentador/%s" % sub["id"]))
    assert "TIPO Sub-alimentador" in text and "DISTRIBUIDORA PROPIETARIA %s" % sub["owner"] in text
    assert "NODO DE DISTRIBUCIÓN %s" % sub["purchase_node"] in text


def test_the_search_inside_a_feeder_pages_its_poles_spans_and_equipment(public, store):
    spans = store.find_in_feeder("AL-PMO-1", "span", "", limit=1000)
    assert len(spans) > 20
    first = public.get("/red/alimentador/AL-PMO-1", params={"buscar_en": "vano", "texto": ""})
    text = _text(first)
    span = spans[0]
    assert "%s %s %s %s %s, %s %s %s" % (span["id"], span["origin"], span["destination"],
                                         quantity(span["length_m"], "m", 1), span["material"], span["insulation"],
                                         span["vnr_code"], quantity(span["capacity_a"], "A")) in text
    assert spans[19]["id"] in text and spans[20]["id"] not in text and "Página siguiente" in text
    second = _text(public.get("/red/alimentador/AL-PMO-1", params={"buscar_en": "vano", "texto": "", "pagina": "2"}))
    assert spans[20]["id"] in second and spans[0]["id"] + " " not in second and "Página anterior" in second
    pole = store.find_in_feeder("AL-PMO-1", "pole", "", limit=1)[0]
    text = _text(public.get("/red/alimentador/AL-PMO-1", params={"buscar_en": "poste", "texto": pole["plate"]}))
    assert "%s x %s m, y %s m, WGS84, zona 18S %s / %s %s" % (
        pole["plate"], number(pole["x"]), number(pole["y"]), pole["medium_voltage"], pole["low_voltage"],
        pole["vnr_code"]) in text
    equipment = store.find_in_feeder("AL-PMO-1", "equipment", "", limit=1)[0]
    text = _text(public.get("/red/alimentador/AL-PMO-1", params={"buscar_en": "equipo", "texto": equipment["id"]}))
    assert "%s %s %s %s %s" % (equipment["id"], equipment["kind"],
                               quantity(equipment["capacity"], equipment["capacity_unit"]), equipment["connection"],
                               equipment["operating_mode"]) in text
    none = _text(public.get("/red/alimentador/AL-PMO-1", params={"buscar_en": "vano", "texto": "NO-HAY"}))
    assert "ninguno encontrado" in none


def _transformer_values(transformer: dict) -> list:
    return ["ID-TRANSFORMADOR %s" % transformer["id"], "NOMBRE %s" % transformer["name"],
            "CAPACIDAD %s" % quantity(transformer["capacity_kva"], "kVA"), "CONEXIÓN %s" % transformer["connection"],
            "TENSIÓN %s" % transformer["voltage"], "NÚMERO (PLACA POSTE) %s" % transformer["pole"],
            "TIPO %s" % transformer["kind"], "IDENTIFICADOR FASES %s" % transformer["phases"],
            "UBICACIÓN x %s m, y %s m, %s, zona %s" % (number(transformer["x"]), number(transformer["y"]),
                                                       transformer["datum"], transformer["zone"]),
            "CÓDIGO VNR %s" % transformer["vnr_code"]]


def _demand_rows(transformer: dict) -> list:
    return ["%s %s %s" % (day(datetime.date(int(d["month"][:4]), int(d["month"][5:]), 1)),
                          number(d["min_kw"], 1), number(d["max_kw"], 1)) for d in transformer["demands"]]


def test_transformer_detail(public, store):
    transformer = store.transformer("TD-00001")
    assert transformer["monitored"] and len(transformer["demands"]) == 12
    page = public.get("/red/transformador/TD-00001")
    text = _text(page)
    assert all(value in text for value in _transformer_values(transformer) + _demand_rows(transformer))
    assert "Los Lagos > Puerto Montt > Subestación Puerto Montt > El Salto > %s" % transformer["name"] in text
    assert 'href="/red/alimentador/%s"' % transformer["feeder"] in page.text
    assert 'href="/red/subestacion/%s"' % transformer["substation"] in page.text
    assert "<svg" in page.text
    quiet = next(store.transformer(t["id"]) for t in store.transformers("AL-PMO-1")
                 if not store.transformer(t["id"])["monitored"])
    assert "no cuenta con equipos de monitoreo" in _text(public.get("/red/transformador/%s" % quiet["id"]))


# --- the simple transformer search and the VNR search ---------------------------------------------------------

def test_transformer_search_by_plate_pole_and_customer_number(public, store):
    transformer = store.transformer("TD-00001")
    feeder = store.feeder(transformer["feeder"])
    customer = next(c for c in (store.customer_general(i) for i in store.customer_ids()) if c["client_number"])
    supplier = store.transformer_of_customer(customer["client_number"])
    # plates as people type them: any case, spaces around
    for identifier, expected in (("TD-00001", transformer), (" td-00001 ", transformer), (transformer["pole"], transformer),
                                 (transformer["pole"].lower(), transformer), (customer["client_number"], supplier)):
        page = public.get("/transformador", params={"identificador": identifier})
        text = _text(page)
        assert page.status_code == 200 and all(value in text for value in _transformer_values(expected))
        if expected is transformer:
            assert "ID-ALIMENTADOR %s NOMBRE %s CAPACIDAD %s COMUNA %s" % (
                feeder["id"], feeder["name"], quantity(feeder["capacity_kva"], "kVA"), feeder["comuna_name"]) in text
            assert "ID-SUBESTACIÓN %s NOMBRE %s" % (transformer["substation"], transformer["substation_name"]) in text
            assert all(row in text for row in _demand_rows(transformer))
    missing = public.get("/transformador", params={"identificador": "NO-EXISTE"})
    assert missing.status_code == 404 and "Ningún transformador" in _text(missing)


def test_vnr_search_shows_the_cost_lines(public, store):
    code = store.transformer("TD-00001")["vnr_code"]
    costs = store.vnr_code(code)
    text = _text(public.get("/vnr", params={"codigo": code}))
    for key, label in (("recargos_1", "Recargos 1"), ("montaje", "Montaje"), ("stotal_1", "Stotal 1"),
                       ("ing_gg", "ING + GG"), ("stotal_2", "Stotal 2"), ("int_int", "IntInt"),
                       ("total", "Total Instalac s/derechos")):
        assert "%s %s" % (label, quantity(costs[key], "$")) in text
    assert "CÓDIGO DE VNR %s" % code in text
    assert "CÓDIGO DE VNR %s" % code in _text(public.get("/vnr", params={"codigo": code.lower()}))
    assert public.get("/vnr", params={"codigo": "NO-EXISTE"}).status_code == 404


# --- Imprimir, Guardar, KMZ -----------------------------------------------------------------------------------

def test_guardar_saves_the_pages_values_as_pdf(public, store):
    transformer = store.transformer("TD-00001")
    saved = public.get("/red/transformador/TD-00001", params={"guardar": "pdf"})
    assert saved.headers["content-type"] == "application/pdf"
    assert saved.headers["content-disposition"] == 'attachment; filename="detalle-transformador-td-00001.pdf"'
    text = _pdf_text(saved.content)
    for value in [transformer["id"], transformer["name"], transformer["pole"], transformer["vnr_code"],
                  quantity(transformer["capacity_kva"], "kVA")] + _demand_rows(transformer):
        assert value in text
    # filtered as shown: the feeder's search and its page are in the file
    spans = store.find_in_feeder("AL-PMO-1", "span", "", limit=40)
    text = _pdf_text(public.get("/red/alimentador/AL-PMO-1", params={
        "buscar_en": "vano", "texto": "", "pagina": "2", "guardar": "pdf"}).content)
    assert spans[20]["id"] in text and spans[0]["id"] + " " not in text
    code = transformer["vnr_code"]
    text = _pdf_text(public.get("/vnr", params={"codigo": code, "guardar": "pdf"}).content)
    assert quantity(store.vnr_code(code)["total"], "$") in text


def test_imprimir_draws_the_same_values_without_navigation(public, store):
    page = public.get("/red/alimentador/AL-PMO-1?buscar_en=vano&texto=V-2")
    assert 'href="/red/alimentador/AL-PMO-1?buscar_en=vano&amp;texto=V-2&amp;imprimir=1"' in page.text
    assert 'href="/red/alimentador/AL-PMO-1?buscar_en=vano&amp;texto=V-2&amp;guardar=pdf"' in page.text
    printed = public.get("/red/alimentador/AL-PMO-1", params={"buscar_en": "vano", "texto": "V-2", "imprimir": "1"})
    text = _text(printed)
    assert "<header>" not in printed.text and "Buscar en el alimentador" not in text and "Guardar" not in text
    assert "window.print()" in printed.text and "@media print" in printed.text
    nonce = re.search(r"'nonce-([^']+)'", printed.headers["content-security-policy"]).group(1)
    assert '<script nonce="%s">' % nonce in printed.text
    shown = _text(page)
    for span in store.find_in_feeder("AL-PMO-1", "span", "V-2", limit=20):
        assert span["id"] in text and span["id"] in shown


def test_the_feeders_plan_is_a_kmz_with_its_spans(public, store):
    answer = public.get("/red/alimentador/AL-PMO-1/plano.kmz")
    assert answer.headers["content-type"] == "application/vnd.google-earth.kmz"
    assert 'filename="plano-al-pmo-1.kmz"' in answer.headers["content-disposition"]
    with zipfile.ZipFile(io.BytesIO(answer.content)) as kmz:
        kml = ET.fromstring(kmz.read("doc.kml"))
    ns = {"k": "http://www.opengis.net/kml/2.2"}
    folders = {f.find("k:name", ns).text: f for f in kml.iter("{%s}Folder" % ns["k"])}
    spans = [p.find("k:name", ns).text for p in folders["Vanos"].findall("k:Placemark", ns)]
    plan = store.feeder_plan("AL-PMO-1")
    assert spans == [s["id"] for s in plan["spans"] if s["geometry"]] and len(spans) == len(plan["spans"])
    assert "Equipos de protección" in folders
    transformers = folders["Transformadores de distribución"].findall("k:Placemark", ns)
    assert len(transformers) == len(plan["transformers"])


def test_show_draws_every_kind_of_section_on_screen_on_paper_and_in_the_pdf(public):
    page = public.get("/todas")
    text = _text(page)
    assert "Inicio > Aquí" in text and "CLIENTE Ana Pérez" in text and "Un párrafo." in text
    assert '<a href="/red/transformador/A-1">A-1</a>' in page.text and '<td class="num">1.234,5</td>' in page.text
    assert "MAYO 2025 120,5" in text and "JUNIO 2025 sin dato" in text  # the values behind the bars
    assert page.text.count("<svg") == 2  # the chart and the map
    printed = _text(public.get("/todas?imprimir=1"))
    assert "CLIENTE Ana Pérez" in printed and "MAYO 2025 120,5" in printed
    saved = _pdf_text(public.get("/todas?guardar=pdf").content)
    assert all(value in saved for value in ("Ana Pérez", "A-1", "1.234,5", "MAYO 2025", "120,5", "Un párrafo."))


# --- headers and maps ------------------------------------------------------------------------------------------

def test_security_headers_on_every_answer(app, public):
    with _client(app) as anonymous:
        answers = (public.get("/red/subestacion/SE-PMO"), public.get("/red/alimentador/AL-PMO-1/plano.kmz"),
                   anonymous.get("/ingresar"), anonymous.get("/red", follow_redirects=False),
                   public.get("/no-existe"))
    for answer in answers:
        assert answer.headers["x-frame-options"] == "DENY"
        assert answer.headers["x-content-type-options"] == "nosniff"
        assert answer.headers["referrer-policy"] == "same-origin"
        assert "frame-ancestors 'none'" in answer.headers["content-security-policy"]
    assert answers[-1].status_code == 404 and "La página no existe." in answers[-1].text
    policy = answers[0].headers["content-security-policy"]
    assert "script-src 'nonce-" in policy and "img-src 'self';" in policy and "unsafe" not in policy
    cookie = answers[2].headers["set-cookie"].lower()
    assert "httponly" in cookie and "samesite=strict" in cookie


def test_a_tile_server_is_drawn_and_allowed_by_the_policy(database):
    app = create_app(database, SECRET, tile_url="https://tiles.example.org/{z}/{x}/{y}.png", clock=CLOCK)
    with _client(app, "10.0.0.6") as client:
        _login(client, "demo-publico", "publico-demo-2020")
        page = client.get("/red/subestacion/SE-PMO")
    assert "https://tiles.example.org/" in page.text
    assert "img-src 'self' https://tiles.example.org;" in page.headers["content-security-policy"]
