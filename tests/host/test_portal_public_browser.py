"""The público pages in a real browser (Playwright driving Debian's Chromium, as tests/host/test_console_browser.py):
the location search's lists load one from the other as each is chosen, by the page's script under the
Content-Security-Policy, down to a transformer; nothing the policy refuses is reported."""

import tempfile

import pytest
from playwright.sync_api import expect

from opsm.host import synth
from opsm.host.portal.app import create_app
from opsm.host.store import Store
from tests.host.browser import chromium, serving
from tests.host.test_portal_blocks_robot import answer_of


@pytest.fixture(scope="module")
def site():
    """A small synthetic distributor's platform served by uvicorn on a free loopback port: its base URL."""
    with tempfile.TemporaryDirectory() as folder:
        path = folder + "/portal.db"
        with Store.open(path) as store:
            synth.create(store, customers=20, last_month="2025-06")
        with serving(create_app(path, b"browser-test-secret-0123")) as base:
            yield base, path


def sign_in(page, name: str, password: str) -> None:
    """The login form filled as a person fills it: the robot check's question read, answered, and sent after the
    check's minimum of seconds."""
    page.fill("input[name=nombre]", name)
    page.fill("input[name=clave]", password)
    page.fill("input[name=robot_respuesta]", answer_of(page.locator("fieldset label").text_content().strip()))
    page.wait_for_timeout(3100)
    page.click("button[type=submit]")


def test_the_location_lists_load_as_each_is_chosen(site):
    base, path = site
    with Store.open(path) as store:
        substation = store.substation("SE-PMO")
        feeder = substation["feeders"][0]
        transformer = store.transformers(feeder["id"])[0]
    refused, failed = [], []
    with chromium() as browser:
        page = browser.new_context(locale="es-CL").new_page()
        page.on("console", lambda message: refused.append(message.text) if "Content Security Policy" in message.text
                else None)
        page.on("response", lambda answer: failed.append(answer.url) if answer.status >= 400 and
                not answer.url.endswith("/favicon.ico") else None)
        page.goto(base + "/red")
        sign_in(page, "demo-publico", "publico-demo-2020")
        expect(page).to_have_url(base + "/red")
        expect(page.locator("#cargar")).to_be_hidden()  # the script chooses for the person
        for name, value in (("region", substation["region"]), ("comuna", substation["comuna"]),
                            ("subestacion", "SE-PMO"), ("alimentador", feeder["id"])):
            with page.expect_navigation():
                page.select_option("select[name=%s]" % name, value)
        expect(page.locator("select[name=transformador] option")).to_contain_text([transformer["name"]])
        page.select_option("select[name=transformador]", transformer["id"])
        page.click("button[name=buscar]")
        expect(page).to_have_url(base + "/red/transformador/%s" % transformer["id"])
        expect(page.locator("h1")).to_have_text("Detalle transformador %s" % transformer["id"])
    assert refused == [] and failed == []
