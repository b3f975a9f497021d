"""The distributor's information platform (SEC, Anexo 1; `opsm portal serve`): Starlette, server-rendered pages
in Spanish, its four profiles (Público, Cliente usuario, Cliente EG, Usuario SEC) over the operations database.

Here: the app, its accounts' sessions, logging in and out, the registration of público accounts and the home
page. The network's pages are public_pages.py; the customers', EG's and SEC's are customer_pages.py; what
every page uses (who is signed in, a Page drawn as HTML, print layout and PDF) is web.py.

As in the vending console (host/console/app.py, whose helpers host/webkit.py shares): a session is a random
id in an HttpOnly, SameSite=Strict cookie; every POST carries the session's CSRF token (the login and
registration forms the token of a cookie: double submit); a login gives one answer, after the same work, for
every refused account and is slowed per account name and per address in the console's throttle table, under
names beginning with "portal:"; passwords are hashed and checked (scrypt) in worker threads. Both forms carry
the robot check the Anexo draws on them (robot.py): a login is counted against its name only once a person
seems to have sent it, so a script posting blindly never makes an account's owner wait.

The sessions live in the database, with the console's rules (host/sessions.py): a restart keeps them and
several processes share them; the robot checks' spent tokens live there too.
"""

import contextlib
import hmac
import re
import secrets
import time
import types
import urllib.parse

import anyio
import anyio.to_thread
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import RedirectResponse
from starlette.routing import Route

from opsm.host import webkit
from opsm.host.console import passwords
from opsm.host.console.records import IDLE_SECONDS, SESSION_SECONDS, Records
from opsm.host.customers import IdentificationError, identification
from opsm.host.portal import customer_pages, public_pages, robot, web
from opsm.host.sessions import SessionTable, digest
from opsm.host.store import AlreadyStored, Store

CSRF_COOKIE = "opsm_portal_csrf"
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
_USER_NAME = re.compile(r"[a-z0-9][a-z0-9._-]{2,39}")
_EMAIL = re.compile(r"[^@\s]{1,64}@[^@\s]+\.[^@\s]+")


class Portal:
    """What every request needs: the store, the sessions, the robot checks, the map's tile server."""

    def __init__(self, store, secret: bytes, tile_url: str | None, tile_attribution: str, clock):
        self.store, self.tile_url, self.tile_attribution = store, tile_url, tile_attribution
        self.records = Records(store)  # the console's login throttle
        self.sessions = SessionTable(store.start_portal_session, store.portal_session, store.touch_portal_session,
                                     store.end_portal_session, SESSION_SECONDS, IDLE_SECONDS, clock)
        spent = types.SimpleNamespace(add=store.spend_robot_token)  # in the database: a form is sent once anywhere
        self.registration = robot.RobotCheck(secret, "registro", used=spent, clock=clock)
        self.login = robot.RobotCheck(secret, "login", used=spent, clock=clock)
        self.password_work = anyio.CapacityLimiter(1)  # scrypt takes ~50 ms and 16 MB: one at a time
        origin = urllib.parse.urlsplit(tile_url or "")
        self.image_sources = ("%s://%s" % (origin.scheme, origin.netloc),) if origin.netloc else ()

    def session(self, token: str) -> dict | None:
        """{"account", "csrf"} of the live session with this cookie id; None otherwise. The account is read from
        the store on every request, so a removed account's session ends."""
        found = self.sessions.find(token)
        if found is None:
            return None
        user = self.store.portal_user(found[0])
        if user is None:  # the account was removed
            self.sessions.close(token)
            return None
        return {"account": {key: user[key] for key in ("id", "name", "profile", "customer_id")}, "csrf": found[1]}


def _back(target: str) -> str:
    """Where to go after logging in: a page of this site only."""
    return target if target.startswith("/") and not target.startswith("//") and "\\" not in target else "/"


async def _form(request):
    form = await webkit.read_form(request, webkit.MAX_FORM_BYTES)
    if form is None:
        raise web.Answer(web.message(request, "Formulario demasiado grande", "El formulario no se pudo leer.", 413))
    return form


def _double_submit(request, form) -> bool:
    token = request.cookies.get(CSRF_COOKIE, "")
    return bool(token) and hmac.compare_digest(str(form.get("csrf", "")), token)


def _with_csrf_cookie(request, template: str, status: int = 200, headers: dict | None = None, **context):
    """A login or registration form: its CSRF token is a cookie's (there may be no session yet)."""
    token = request.cookies.get(CSRF_COOKIE, "")
    fresh = token if _TOKEN.fullmatch(token) else secrets.token_urlsafe(32)
    context["form_csrf"] = fresh
    response = web.render(request, template, status=status, headers=headers, **context)
    webkit.set_cookie(request, response, CSRF_COOKIE, fresh, None)
    return response


def _signed_in(request, account_id: int, target: str):
    portal = web.portal(request)
    portal.sessions.close(request.cookies.get(web.SESSION_COOKIE, ""))
    response = RedirectResponse(_back(target), status_code=303)
    webkit.set_cookie(request, response, web.SESSION_COOKIE, portal.sessions.open(account_id)[0], SESSION_SECONDS)
    return response


# --- pages ---------------------------------------------------------------------------------------------------


async def home(request):
    return web.render(request, "home.html")


async def login(request):
    """User name, password and the robot check (the Anexo's fig. 2, 19, 23 and 29). One answer after the same work
    for an unknown name and a wrong password (the unknown name's password is checked against a decoy hash)."""
    portal = web.portal(request)
    target = request.query_params.get("siguiente", "/")

    def answer(status: int, error: str = "", name: str = "", headers: dict | None = None):
        return _with_csrf_cookie(request, "login.html", status=status, headers=headers, error=error, name=name,
                                 target=target, challenge=portal.login.challenge(), honeypot=robot.HONEYPOT)

    if request.method == "GET":
        return answer(200)
    form = await _form(request)
    target = str(form.get("siguiente", target))
    if not _double_submit(request, form):
        return answer(403, "El formulario expiró; vuelva a ingresar sus datos.")
    name, password = str(form.get("nombre", "")).strip().lower()[:40], str(form.get("clave", ""))
    try:  # before the throttle: a form no person sent counts against no name
        portal.login.check(str(form.get("robot_token", "")), str(form.get("robot_respuesta", "")),
                           str(form.get(robot.HONEYPOT, "")))
    except robot.RobotError as exc:
        return answer(400, str(exc), name)
    names = ("portal:account:" + digest(name), "portal:address:" + (request.client.host if request.client else ""))
    wait = portal.records.login_attempt(names)
    if wait:
        return answer(429, "Demasiados intentos fallidos; espere %d s y vuelva a intentarlo." % wait, name,
                      headers={"Retry-After": str(wait)})
    account, stored = portal.store.portal_credentials(name)
    right = await anyio.to_thread.run_sync(passwords.matches, password, stored or passwords.decoy(),
                                           limiter=portal.password_work)
    if not right or account is None:
        return answer(401, "Nombre de usuario o clave incorrectos.", name)
    portal.records.login_succeeded(reset=names[:1], undo=names[1:])
    return _signed_in(request, account["id"], target)


async def logout(request):
    web.require(request)
    form = await _form(request)
    if not hmac.compare_digest(str(form.get("csrf", "")), web.csrf(request)):
        return web.message(request, "Acceso denegado", "El formulario expiró; vuelva a intentarlo.", 403)
    web.portal(request).sessions.close(request.cookies.get(web.SESSION_COOKIE, ""))
    response = RedirectResponse("/ingresar", status_code=303)
    response.delete_cookie(web.SESSION_COOKIE, httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


def _registration_problems(portal, form) -> tuple:
    """(the problems of a registration form, in Spanish, the RUT as written in the register)."""
    problems, rut = [], ""
    name, email = str(form.get("nombre", "")).strip().lower(), str(form.get("correo", "")).strip()
    if not _USER_NAME.fullmatch(name):
        problems.append("Nombre de usuario: de 3 a 40 letras minúsculas, dígitos, '.', '_' o '-', sin espacios.")
    elif portal.store.portal_credentials(name)[0] is not None:
        problems.append("Nombre de usuario: ya está en uso; elija otro.")
    if len(str(form.get("clave", ""))) < passwords.MIN_LENGTH:
        problems.append("Clave: debe tener al menos %d caracteres." % passwords.MIN_LENGTH)
    if len(email) > 254 or not _EMAIL.fullmatch(email):
        problems.append("Correo: debe ser una dirección de correo, p. ej. nombre@dominio.cl.")
    try:
        rut = identification(str(form.get("rut", "")), "rut")
    except IdentificationError as exc:
        problems.append("RUT: %s." % exc.rule.es)
    return problems, rut


async def register(request):
    """A público account: user name, password, e-mail, RUT and the robot check (the Anexo's registro simple)."""
    portal = web.portal(request)

    def answer(status: int, problems: tuple = (), form=None):
        return _with_csrf_cookie(request, "register.html", status=status, problems=problems,
                                 values={key: str((form or {}).get(key, "")) for key in ("nombre", "correo", "rut")},
                                 challenge=portal.registration.challenge(), honeypot=robot.HONEYPOT,
                                 min_length=passwords.MIN_LENGTH)

    if request.method == "GET":
        return answer(200)
    form = await _form(request)
    if not _double_submit(request, form):
        return answer(403, ("El formulario expiró; vuelva a enviarlo.",), form)
    try:
        portal.registration.check(str(form.get("robot_token", "")), str(form.get("robot_respuesta", "")),
                                  str(form.get(robot.HONEYPOT, "")))
    except robot.RobotError as exc:
        return answer(400, (str(exc),), form)
    problems, rut = _registration_problems(portal, form)
    if problems:
        return answer(400, problems, form)
    password_hash = await anyio.to_thread.run_sync(passwords.hashed, str(form["clave"]),
                                                   limiter=portal.password_work)
    try:
        account_id = portal.store.add_portal_user(str(form["nombre"]).strip().lower(), password_hash,
                                                  str(form["correo"]).strip(), rut, "publico", None, int(time.time()))
    except AlreadyStored:
        return answer(400, ("Nombre de usuario: ya está en uso; elija otro.",), form)
    return _signed_in(request, account_id, "/")


# --- errors and the app --------------------------------------------------------------------------------------


async def _answer(request, exc: web.Answer):
    return exc.response


async def _http_error(request, exc: HTTPException):
    text = {404: "La página no existe.", 405: "Esa acción no se puede hacer aquí."}.get(
        exc.status_code, "La solicitud no es válida.")
    return web.message(request, "Error", text, exc.status_code)


async def _internal_error(request, exc: Exception):
    """A page in Spanish; the traceback goes to the server's log (Starlette raises it on)."""
    response = web.message(request, "Error", "Ocurrió un error; vuelva a intentarlo más tarde.", 500)
    webkit.secure(response.headers)  # this answer leaves outside the middleware
    return response


ROUTES = [
    Route("/", home),
    Route("/ingresar", login, methods=["GET", "POST"]),
    Route("/salir", logout, methods=["POST"]),
    Route("/registro", register, methods=["GET", "POST"]),
] + public_pages.ROUTES + customer_pages.ROUTES


def create_app(store_url: str, secret: bytes | str, tile_url: str | None = None,
               tile_attribution: str = "© OpenStreetMap", clock=time.time) -> Starlette:
    """The platform over the database at store_url. secret: 16 bytes or more, signs the robot check's forms;
    tile_url: a map tile server's {z}/{x}/{y} template (without it maps draw the network alone); clock: the
    robot check's and the sessions' time (tests move it)."""
    secret = secret.encode() if isinstance(secret, str) else secret

    @contextlib.asynccontextmanager
    async def lifespan(app):
        store = Store.open(store_url)
        try:  # each request's state: a second server on this app (a test's second client) keeps its own store
            yield {"portal": Portal(store, secret, tile_url, tile_attribution, clock)}
        finally:
            store.close()

    return Starlette(routes=ROUTES, middleware=[Middleware(webkit.SecurityHeaders)], lifespan=lifespan,
                     exception_handlers={web.Answer: _answer, HTTPException: _http_error,
                                         Exception: _internal_error})
