"""The information platform's sessions in the database (host/sessions.py, host/store/portal_users.py), on SQLite
and PostgreSQL: two app instances on one database share them, a restart keeps them, logout and a new password end
them everywhere, only the cookie's digest is stored, and the console's idle and absolute limits hold; and the
login form's robot check (the Anexo's fig. 2, 19, 23, 29): refused without counting against the account, sent
once across processes, and wrong passwords behind right answers still slowed."""

import re

import pytest
from starlette.testclient import TestClient

from opsm.host.console import passwords
from opsm.host.console.records import IDLE_SECONDS, SESSION_SECONDS
from opsm.host.portal import robot, web
from opsm.host.portal.app import CSRF_COOKIE, create_app
from opsm.host.sessions import TOUCH_SECONDS, digest
from opsm.host.store import Store
from tests.host.test_portal_blocks_robot import Clock
from tests.host.test_portal_public import robot_form

SECRET = b"sessions-test-secret-0123456789"
PASSWORD = "una-clave-larga-2025"


@pytest.fixture(scope="module")
def hashed():
    return passwords.hashed(PASSWORD)


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request, tmp_path, hashed):
    path = str(tmp_path / "portal.db") if request.param == "sqlite" else request.getfixturevalue("postgres_db")
    with Store.open(path) as store:
        for name in ("ana", "beto"):
            store.add_portal_user(name, hashed, name + "@example.cl", "12345678-5", "publico", None, 0)
    return path


@pytest.fixture
def store(database):
    with Store.open(database) as opened:
        yield opened


@pytest.fixture
def clock():
    return Clock()


def client(database, clock, address: str = "testclient") -> TestClient:
    """A client of a new app instance (a server process of its own) on the database."""
    return TestClient(create_app(database, SECRET, clock=clock), client=(address, 50000), follow_redirects=False)


def login_form(client, name: str, password: str = PASSWORD) -> dict:
    token, answer = robot_form(client.get("/ingresar"))
    return {"csrf": client.cookies.get(CSRF_COOKIE), "nombre": name, "clave": password, "siguiente": "/",
            "robot_token": token, "robot_respuesta": answer, robot.HONEYPOT: ""}


def sign_in(client, clock, name: str = "ana", password: str = PASSWORD):
    form = login_form(client, name, password)
    clock.now += 5  # a person takes seconds to answer
    return client.post("/ingresar", data=form)


def signed_in(client) -> bool:
    return client.get("/vnr").status_code == 200


def session_csrf(client) -> str:
    """The CSRF token of the session (the header's Salir form)."""
    return re.search(r'action="/salir"><input type="hidden" name="csrf" value="([^"]+)"', client.get("/").text).group(1)


# --- sessions ---------------------------------------------------------------------------------------------------

def test_two_app_instances_share_a_session_and_logout_ends_it_on_both(database, clock):
    with client(database, clock) as first, client(database, clock) as second:
        assert sign_in(first, clock).status_code == 303
        second.cookies[web.SESSION_COOKIE] = first.cookies[web.SESSION_COOKIE]
        assert signed_in(first) and signed_in(second)
        assert second.post("/salir", data={"csrf": session_csrf(first)}).status_code == 303
        assert not signed_in(first) and not signed_in(second)


def test_a_restart_keeps_the_session(database, clock):
    with client(database, clock) as before:
        assert sign_in(before, clock).status_code == 303
        cookie = before.cookies[web.SESSION_COOKIE]
    with client(database, clock) as after:
        after.cookies[web.SESSION_COOKIE] = cookie
        assert signed_in(after)


def test_only_the_cookies_digest_is_stored(database, clock, store):
    with client(database, clock) as browser:
        sign_in(browser, clock)
        cookie = browser.cookies[web.SESSION_COOKIE]
    assert len(cookie) >= 43  # 32 random bytes
    assert store.portal_session(cookie) is None
    user_id, csrf, started, seen = store.portal_session(digest(cookie))
    assert user_id == store.portal_credentials("ana")[0]["id"] and started == seen == int(clock.now)
    assert cookie not in (csrf, digest(csrf))


def test_a_session_ends_after_its_idle_time(database, clock, store):
    with client(database, clock) as browser:
        sign_in(browser, clock)
        digest_ = digest(browser.cookies[web.SESSION_COOKIE])
        clock.now += TOUCH_SECONDS - 1
        assert signed_in(browser) and store.portal_session(digest_)[3] == int(clock.now) - TOUCH_SECONDS + 1
        clock.now += 1  # the last request is written at most once a minute
        assert signed_in(browser) and store.portal_session(digest_)[3] == int(clock.now)
        clock.now += IDLE_SECONDS - 1
        assert signed_in(browser)
        clock.now += IDLE_SECONDS
        assert not signed_in(browser)
        assert store.portal_session(digest_) is None  # deleted when found ended


def test_a_used_session_ends_after_its_lifetime_and_ended_ones_are_swept(database, clock, store):
    with client(database, clock) as browser, client(database, clock) as idle:
        sign_in(idle, clock, "beto")
        forgotten = digest(idle.cookies[web.SESSION_COOKIE])
        sign_in(browser, clock)
        started = clock.now
        while clock.now + 3600 < started + SESSION_SECONDS:
            clock.now += 3600
            assert signed_in(browser)
        clock.now = started + SESSION_SECONDS
        assert not signed_in(browser)
        assert store.portal_session(forgotten) is not None
        sign_in(browser, clock)  # a new session sweeps the ended ones
        assert store.portal_session(forgotten) is None


def test_a_new_password_ends_every_session_of_the_account_only(database, clock, store):
    with client(database, clock) as one, client(database, clock) as two, client(database, clock) as other:
        for browser, name in ((one, "ana"), (two, "ana"), (other, "beto")):
            assert sign_in(browser, clock, name).status_code == 303
        store.set_portal_password(store.portal_credentials("ana")[0]["id"], passwords.hashed("otra-clave-larga"))
        assert not signed_in(one) and not signed_in(two) and signed_in(other)


# --- the login form's robot check ---------------------------------------------------------------------------------

def test_the_login_form_draws_the_robot_check(database, clock):
    with client(database, clock) as browser:
        page = browser.get("/ingresar").text
        assert "No soy un robot" in page and "<svg" in page and 'name="robot_token"' in page
        assert 'name="%s"' % robot.HONEYPOT in page


@pytest.mark.parametrize("change, seconds, refusal", [
    ({"robot_respuesta": "99"}, 5, "La respuesta no es correcta"),
    ({"robot_token": "no.es.un.token"}, 5, "El formulario no es válido"),
    ({robot.HONEYPOT: "http://spam.example"}, 5, "No se pudo comprobar"),
    ({}, 1, "demasiado rápido"),
])
def test_a_login_no_person_sent_is_refused_before_its_password_is_checked(database, clock, change, seconds,
                                                                         refusal):
    with client(database, clock) as browser:
        form = login_form(browser, "ana")
        clock.now += seconds
        answer = browser.post("/ingresar", data=dict(form, **change))
        assert answer.status_code == 400 and refusal in answer.text and not signed_in(browser)
        assert "No soy un robot" in answer.text  # a new question to answer


def test_a_login_form_is_sent_once(database, clock):
    with client(database, clock) as browser:
        form = login_form(browser, "ana", "no-es-la-clave")
        clock.now += 5
        assert browser.post("/ingresar", data=form).status_code == 401
        again = browser.post("/ingresar", data=dict(form, clave=PASSWORD))
        assert again.status_code == 400 and "ya se envió" in again.text and not signed_in(browser)


def test_a_login_form_sent_to_one_process_is_refused_by_another(database, clock):
    with client(database, clock) as first, client(database, clock) as second:
        form = login_form(first, "ana")
        clock.now += 5
        assert first.post("/ingresar", data=form).status_code == 303
        second.cookies[CSRF_COOKIE] = form["csrf"]
        again = second.post("/ingresar", data=form)
        assert again.status_code == 400 and "ya se envió" in again.text


def test_refused_robot_checks_do_not_slow_the_accounts_owner(database, clock):
    with client(database, clock, "10.0.0.7") as script:
        for _ in range(8):
            form = login_form(script, "ana", "no-es-la-clave")
            clock.now += 5
            assert script.post("/ingresar", data=dict(form, robot_respuesta="99")).status_code == 400
    with client(database, clock, "10.0.0.8") as owner:
        assert sign_in(owner, clock).status_code == 303


def test_wrong_passwords_behind_right_robot_answers_are_still_slowed(database, clock):
    with client(database, clock, "10.0.0.9") as guesser:
        for _ in range(5):
            assert sign_in(guesser, clock, "beto", "no-es-la-clave").status_code == 401
        assert sign_in(guesser, clock, "beto").status_code == 429
