"""The vending console: the web pages an entity uses to sell kWh and print recharge codes.

Starlette, server-rendered Jinja2 pages, a few lines of JavaScript (the customer's name and
the kWh fill in as the vendor types). The database work runs on the event loop's thread, one
request at a time: a console serves a handful of vendors, this keeps SQLite's connection on
one thread, and a sale's checks, token and invoice happen with nothing in between (Records.sell
also locks the database against a second console process). What is slow goes to worker
threads: hashing and checking passwords (scrypt) and reading an uploaded register, after
limits on its bytes and rows; an import is written a hundred rows at a time, other requests
running in between.

Sessions live in the database (records.py) behind a random id in an HttpOnly, SameSite=Strict
cookie (Secure over https); every form carries the session's CSRF token (the login form the
token of a cookie: double submit), and a recharge form a one-time sale key, so a form sent
twice sells once. Logins give one answer for every account, known, unknown or locked, after the
same work, and are slowed, never locked (records.py). A vendor (facturador) who opens an
administrator's page gets 403 and sees only its customers and its own invoices. Every response
carries a Content-Security-Policy (scripts and styles only with the page's nonce), X-Frame-Options
DENY, nosniff and a same-origin Referrer-Policy.
"""

import contextlib
import datetime
import functools
import hashlib
import hmac
import io
import logging
import os
import re
import secrets
import urllib.parse
import zipfile

import anyio
import anyio.to_thread
import jinja2
from starlette.applications import Starlette
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from opsm.host import rowfile
from opsm.host.console import money, passwords, receipts
from opsm.host.console.i18n import LANGUAGES, Label, Problem, chosen, translate
from opsm.host.console.records import ADMIN, LICENCE_FIELDS, SELLER_FIELDS, SESSION_SECONDS, Records, Refused
from opsm.host.registry import Registry
from opsm.host.store import Store
from opsm.host.webkit import MAX_FORM_BYTES, SecurityHeaders, page_csp
from opsm.host.webkit import read_form as _form
from opsm.host.webkit import secure as _secure
from opsm.host.webkit import set_cookie as _set_cookie
from opsm.host.vending import Vendor

_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("opsm.host.console", "templates"), autoescape=True)
_LOG = logging.getLogger(__name__)
# Excel headers as people write them -> customer fields
IMPORT_HEADERS = {"identificacion": "customer_id", "identificación": "customer_id", "nombre": "name",
                  "cliente": "name", "celular": "phone", "correo": "email", "correo electronico": "email",
                  "correo electrónico": "email", "direccion": "address", "dirección": "address",
                  "direccion residencia": "address", "dirección residencia": "address", "medidor": "meter_pan"}
# The register's template: the seed's headers, every column formatted as text (PANs keep their digits)
IMPORT_TEMPLATE = rowfile.Table("usuarios", ("Identificación", "Nombre"),
                                ("Celular", "Correo electrónico", "Dirección residencia", "Medidor"))
SESSION_COOKIE, CSRF_COOKIE, LANG_COOKIE, DEVICE_COOKIE = "opsm_session", "opsm_csrf", "opsm_lang", "opsm_device"
MAX_UPLOAD_BYTES = 2 * 1024 * 1024    # a customer register
MAX_IMPORT_ROWS = 5000
_MAX_UNPACKED_BYTES = 16 * 1024 * 1024  # an .xlsx's parts once unzipped (a 5000-row register takes ~2 MB)
_IMPORT_CHUNK = 100                   # rows written between two turns of the event loop
_PASSWORD_QUEUE = 16                  # logins waiting for a password check before the console says it is busy
_YEAR = 365 * 86400
_TOKEN = re.compile(r"[A-Za-z0-9_-]{32,64}")
_SALE_KEY = re.compile(r"[A-Za-z0-9_-]{16,64}")


class Console:
    """What every request needs: the records, the token registry, the vending keys, the worker-thread limits."""

    def __init__(self, db: str, registry_path: str, keystore):
        self.db, self.registry_path, self.keystore = db, registry_path, keystore
        self.store = Store.open(db)
        self.records = Records(self.store)
        self.registry = Registry(registry_path)
        self.secret = self.records.signing_secret().encode()
        # scrypt on every core but one (the event loop keeps one); one register read at a time
        self.password_work = anyio.CapacityLimiter(max(1, (os.cpu_count() or 2) - 1))
        self.file_work = anyio.CapacityLimiter(1)
        self.password_queue = 0

    def close(self) -> None:
        self.store.close()
        self.registry.close()


# --- pages, cookies, headers ---------------------------------------------------------------------------------


def _lang(request) -> str:
    return chosen(request.cookies.get(LANG_COOKIE), request.headers.get("accept-language", ""))


def _render(request, name: str, status: int = 200, headers: dict | None = None, **context) -> HTMLResponse:
    lang, nonce = _lang(request), secrets.token_urlsafe(16)
    session = getattr(request.state, "session", None)
    context.setdefault("csrf", session["csrf"] if session else "")
    context.update(request=request, lang=lang, t=lambda key: translate(lang, key), nonce=nonce,
                   user=session["user"] if session else None, money=money, grouped=receipts.grouped,
                   when=lambda s: datetime.datetime.fromtimestamp(s).strftime("%Y-%m-%d %H:%M:%S"))
    response = HTMLResponse(_TEMPLATES.get_template(name).render(**context), status_code=status, headers=headers)
    response.headers["Content-Security-Policy"] = page_csp(nonce)
    return response


async def _http_error(request, exc: HTTPException):
    key = {404: "error.not_found", 405: "error.method"}.get(exc.status_code, "error.bad_request")
    return _render(request, "message.html", status=exc.status_code, headers=exc.headers, message=key)


async def _internal_error(request, exc: Exception):
    """A page in the person's language; the traceback goes to the server's log (Starlette raises it on)."""
    response = _render(request, "message.html", status=500, message="error.internal")
    _secure(response.headers)  # this answer leaves outside the middleware
    return response


def page(role: str | None = None, body_limit: int = MAX_FORM_BYTES, too_big="request.too_big"):
    """A page for logged-in users (of `role` when given); POSTs must carry the session's CSRF token and fit in
    `body_limit` bytes (else the page answers 413 with `too_big`)."""

    def wrap(handler):
        @functools.wraps(handler)
        async def endpoint(request):
            console: Console = request.app.state.console
            request.state.console = console
            session = console.records.session(request.cookies.get(SESSION_COOKIE, ""))
            if session is None:
                if request.url.path.startswith("/api/"):
                    return JSONResponse({"error": translate(_lang(request), "session.ended")}, status_code=401)
                return RedirectResponse("/login", status_code=303)
            request.state.session, request.state.user = session, session["user"]
            if role is not None and request.state.user["role"] != role:
                return _render(request, "message.html", status=403, message="forbidden")
            if request.method != "POST":
                return await handler(request)
            form = await _form(request, body_limit)
            if form is None:
                return _render(request, "message.html", status=413, message=too_big)
            try:
                if not hmac.compare_digest(str(form.get("csrf", "")), session["csrf"]):
                    return _render(request, "message.html", status=403, message="csrf")
                request.state.form = form
                return await handler(request)
            finally:
                await form.close()

        return endpoint

    return wrap


# --- logging in and out --------------------------------------------------------------------------------------


def _address(request) -> str:
    return request.client.host if request.client else "unknown"


def _device_cookie(console: Console, email: str, nonce: str) -> str:
    """A known browser's cookie for `email`: a random nonce and the console's signature of it with the e-mail."""
    return nonce + "." + hmac.new(console.secret, (nonce + "|" + email).encode(), hashlib.sha256).hexdigest()


def _known_browser(console: Console, request, email: str) -> str | None:
    """The nonce of this browser's known-browser cookie when it is for `email`."""
    value = request.cookies.get(DEVICE_COOKIE, "")
    nonce = value.partition(".")[0]
    return nonce if nonce and hmac.compare_digest(value, _device_cookie(console, email, nonce)) else None


async def _password_work(console: Console, function, *args):
    """passwords.hashed or passwords.matches in a worker thread (never on the event loop)."""
    return await anyio.to_thread.run_sync(function, *args, limiter=console.password_work)


async def login(request):
    """One answer, after the same work, for every refused login: an unknown account's password is checked
    against a decoy hash, a locked account's against its own, and both are refused like a wrong password."""
    console: Console = request.app.state.console
    request.state.console = console
    token = request.cookies.get(CSRF_COOKIE, "")
    fresh = token if _TOKEN.fullmatch(token) else secrets.token_urlsafe(32)

    def answer(status: int, headers: dict | None = None, **context):
        response = _render(request, "login.html", status=status, headers=headers, csrf=fresh, **context)
        _set_cookie(request, response, CSRF_COOKIE, fresh, None)
        return response

    if request.method == "GET":
        return answer(200)
    form = await _form(request, MAX_FORM_BYTES)
    if form is None or not token or not hmac.compare_digest(str(form.get("csrf", "")), token):
        return answer(403, error="csrf")
    email, password = str(form.get("email", "")).strip().lower()[:254], str(form.get("password", ""))
    nonce = _known_browser(console, request, email)
    names = ("device:" + nonce,) if nonce else ("account:" + hashlib.sha256(email.encode()).hexdigest(),
                                                "address:" + _address(request))
    if console.password_queue >= _PASSWORD_QUEUE:
        return answer(503, error="login.busy", email=email)
    wait = console.records.login_attempt(names)
    if wait:
        return answer(429, headers={"Retry-After": str(wait)}, error=Problem("login.wait", wait), email=email)
    user, stored = console.records.credentials(email)
    console.password_queue += 1
    try:
        right = await _password_work(console, passwords.matches, password, stored or passwords.decoy())
    finally:
        console.password_queue -= 1
    if not right or user is None or user["locked"]:
        return answer(401, error="login.wrong", email=email)
    console.records.login_succeeded(reset=names[:1], undo=names[1:])
    console.records.close_session(request.cookies.get(SESSION_COOKIE, ""))
    session, _ = console.records.open_session(user["id"])
    response = RedirectResponse("/", status_code=303)
    _set_cookie(request, response, SESSION_COOKIE, session, SESSION_SECONDS)
    _set_cookie(request, response, DEVICE_COOKIE, _device_cookie(console, email, nonce or secrets.token_urlsafe(16)),
                _YEAR)
    return response


@page()
async def logout(request):
    request.state.console.records.close_session(request.cookies.get(SESSION_COOKIE, ""))
    response = RedirectResponse("/login", status_code=303)
    response.delete_cookie(SESSION_COOKIE, httponly=True, samesite="strict", secure=request.url.scheme == "https")
    return response


async def language(request):
    """The language chosen, kept in a cookie; back to the page it was chosen on (this site's pages only)."""
    referer = urllib.parse.urlsplit(request.headers.get("referer", ""))
    back = referer.path + ("?" + referer.query if referer.query else "")
    if referer.netloc != request.url.netloc or not back.startswith("/") or back.startswith("//"):
        back = "/"
    response = RedirectResponse(back, status_code=303)
    if request.path_params["code"] in LANGUAGES:
        _set_cookie(request, response, LANG_COOKIE, request.path_params["code"], _YEAR)
    return response


# --- sales ---------------------------------------------------------------------------------------------------


def _own(request) -> int | None:
    """Whose invoices the user sees: an administrator everyone's, a vendor its own."""
    user = request.state.user
    return None if user["role"] == ADMIN else user["id"]


def _masked(customer: dict) -> dict:
    """What a vendor is shown of a customer it neither registered nor sold to: enough to check with the person
    at the counter (initials, the meter's last digits), not to read the register."""
    return {"name": " ".join(word[0] + "." for word in customer["name"].split()),
            "meter_pan": "…" + customer["meter_pan"][-4:] if customer["meter_pan"] else ""}


@page()
async def invoices(request):
    rows = request.state.console.records.invoices(vendor_id=_own(request))
    return _render(request, "invoices.html", invoices=rows[:200])


@page()
async def customer_lookup(request):
    records, lang = request.state.console.records, _lang(request)
    customer = records.customer(request.path_params["customer_id"])
    if customer is None:
        return JSONResponse({"error": translate(lang, "recharge.no_customer")}, status_code=404)
    if records.sees(request.state.user, customer):
        return JSONResponse({"name": customer["name"], "meter_pan": customer["meter_pan"] or ""})
    return JSONResponse(dict(_masked(customer), note=translate(lang, "recharge.masked")))


def _recharge_page(request, customer_id: str, status: int = 200, error=None, amount: str = "",
                   sale_key: str | None = None):
    """The recharge form, with a new one-time sale key unless the one given is to be kept."""
    records = request.state.console.records
    customer = records.customer(customer_id) if customer_id else None
    shown = customer if customer is None or records.sees(request.state.user, customer) else None
    if error is None and customer_id and customer is None:
        error = "recharge.no_customer"
    return _render(request, "recharge.html", status=status, product=records.product(), customer=shown,
                   masked=_masked(customer) if customer and not shown else None, customer_id=customer_id,
                   error=error, amount=amount, sale_key=sale_key or secrets.token_urlsafe(24))


@page()
async def recharge(request):
    console, user = request.state.console, request.state.user
    if request.method == "GET":
        return _recharge_page(request, request.query_params.get("customer_id", "").strip())
    form = request.state.form
    customer_id, key = str(form.get("customer_id", "")).strip(), str(form.get("sale_key", ""))
    amount = str(form.get("amount", ""))
    try:
        if not _SALE_KEY.fullmatch(key):
            raise Problem("csrf")  # a form from before sale keys, or not from this console
        customer = console.records.customer(customer_id)
        if customer is None:
            raise Refused("recharge.no_customer")
        if not customer["meter_pan"]:
            raise Refused("recharge.no_meter")
        total = money.parse_cents("recharge.amount", amount)
        vendor = Vendor(console.registry, console.keystore, user["email"])
        number = console.records.sell(key, customer, user, console.records.product(), total,
                                      lambda tenths: vendor.credit(customer["meter_pan"], tenths)[0])
    except ValueError as exc:
        # the form may be sent again as it is, unless its key is spent or unusable
        spent = isinstance(exc, Problem) and exc.key in ("recharge.key_used", "csrf")
        return _recharge_page(request, customer_id, status=400, error=exc, amount=amount,
                              sale_key=None if spent else key)
    return RedirectResponse("/invoices/%d" % number, status_code=303)


def _invoice_for(request):
    invoice = request.state.console.records.invoice(int(request.path_params["number"]))
    if invoice is None or _own(request) not in (None, invoice["vendor_id"]):
        return None
    return invoice


@page()
async def invoice_page(request):
    invoice = _invoice_for(request)
    if invoice is None:
        return _render(request, "message.html", status=404, message="invoice.none")
    return _render(request, "invoice.html", invoice=invoice)


@page()
async def invoice_pdf(request):
    invoice = _invoice_for(request)
    paper = request.path_params["paper"]
    if invoice is None or paper not in receipts.FORMATS:
        return _render(request, "message.html", status=404, message="invoice.none")
    data = receipts.receipt(invoice, request.state.console.records.seller(), paper, _lang(request))
    return Response(data, media_type="application/pdf", headers={
        "Content-Disposition": 'attachment; filename="factura-%d-%s.pdf"' % (invoice["number"], paper)})


# --- customers -----------------------------------------------------------------------------------------------


@page(body_limit=MAX_UPLOAD_BYTES + MAX_FORM_BYTES, too_big=Problem("import.too_big", MAX_UPLOAD_BYTES >> 20))
async def customers(request):
    records, user = request.state.console.records, request.state.user
    report, message, error = None, None, None
    if request.method == "POST":
        form = request.state.form
        try:
            if isinstance(form.get("file"), UploadFile):
                report = await _import(request, form["file"])
            else:
                records.add_customer(dict(form), user["id"])
                message = "customer.added"
        except ValueError as exc:
            error = exc
    search = request.query_params.get("q", "")
    status = 200 if error is None else 413 if getattr(error, "key", "") == "import.too_big" else 400
    return _render(request, "customers.html", status=status, customers=records.customers(user, search),
                   search=search, report=report, message=message, error=error,
                   form=request.state.form if error and report is None else {})


async def _import(request, upload: UploadFile) -> list:
    """(row, identification, result) for every row of a register; each row is added or refused by itself."""
    console, owner = request.state.console, request.state.user["id"]
    name = _file_name(upload.filename)
    data = await upload.read(MAX_UPLOAD_BYTES + 1)
    if len(data) > MAX_UPLOAD_BYTES:
        raise Problem("import.too_big", MAX_UPLOAD_BYTES >> 20)
    rows, first = await anyio.to_thread.run_sync(_read_rows, data, name, limiter=console.file_work)
    report = []
    for start in range(0, len(rows), _IMPORT_CHUNK):
        chunk = rows[start:start + _IMPORT_CHUNK]
        results = console.records.add_customers(chunk, owner)
        # a row's number: the reader's own when it gives one (blank rows counted), else counted from the first
        report += [(getattr(row, "number", first + start + n), fields.get("customer_id", ""),
                    result or "customer.added") for n, (row, fields, result) in enumerate(zip(rows[start:], chunk,
                                                                                               results))]
        await anyio.sleep(0)  # other requests run between two chunks
    return report


def _file_name(name: str | None) -> str:
    """The uploaded file's name as its sender sees it (no folders, no control characters, not too long)."""
    name = os.path.basename((name or "").replace("\\", "/"))
    name = "".join(c for c in name if c.isprintable()).strip()[:80]
    return name or "archivo"


def _read_rows(data: bytes, name: str) -> tuple:
    """(rows, number of the first) of an uploaded register (in a worker thread: this takes a while), read by
    host/rowfile.py (.xlsx, .xls, CSV with , or ;). A Problem, naming the file as its sender did, when it has
    more than MAX_IMPORT_ROWS rows (the reader stops there), unzips to more than _MAX_UNPACKED_BYTES, or cannot
    be read."""
    if _unzipped_bytes(data) > _MAX_UNPACKED_BYTES:
        raise Problem("import.too_many_rows", MAX_IMPORT_ROWS)
    try:
        rows = rowfile.rows(data, "customer", ("customer_id", "name"), ("phone", "email", "address", "meter_pan"),
                            IMPORT_HEADERS, name, MAX_IMPORT_ROWS)
    except rowfile.RowFileError as exc:
        _LOG.warning("import of %r refused: %s", name, exc)
        if exc.problems and exc.problems[0].code == "too_many_rows":
            raise Problem("import.too_many_rows", MAX_IMPORT_ROWS) from None
        raise Problem("import.failed", name, exc) from None
    if not rows:
        raise Problem("import.no_rows")
    return rows, 2


def _unzipped_bytes(data: bytes) -> int:
    """What an .xlsx's parts would unzip to (0 for anything that is not a zip): a small file must not unzip
    into gigabytes."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as book:
            return sum(item.file_size for item in book.infolist())
    except zipfile.BadZipFile:
        return 0


@page()
async def customers_template(request):
    return Response(rowfile.template(IMPORT_TEMPLATE), media_type=(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"),
        headers={"Content-Disposition": 'attachment; filename="usuarios.xlsx"'})


@page()
async def customer_edit(request):
    records, user = request.state.console.records, request.state.user
    customer = records.customer(request.path_params["customer_id"])
    if customer is None or not records.sees(user, customer):
        return _render(request, "message.html", status=404, message="customer.unknown")
    if request.method == "GET":
        return _render(request, "customer_edit.html", customer=customer)
    fields = dict(request.state.form, customer_id=customer["customer_id"])
    try:
        records.update_customer(fields, user)
    except Refused as refused:
        return _render(request, "customer_edit.html", status=403, customer=customer, error=refused)
    except ValueError as exc:
        return _render(request, "customer_edit.html", status=400, customer=fields, error=exc)
    return _render(request, "customer_edit.html", customer=records.customer(customer["customer_id"]),
                   message="customer.updated")


# --- reports -------------------------------------------------------------------------------------------------


def _day(field: str, text: str) -> int:
    try:
        return int(datetime.datetime.strptime(text, "%Y-%m-%d").timestamp())
    except ValueError:
        raise Problem("rule.date", Label(field), text) from None


def _report_query(request) -> tuple:
    """(filter, invoices) of the report the query string asks for; a vendor sees only its own sales."""
    params = request.query_params
    today = datetime.date.today().isoformat()
    chosen_filter = {"by": params.get("by", "all"), "who": params.get("who", "").strip(),
                     "from": params.get("from", today), "to": params.get("to", today)}
    first, last = _day("report.from", chosen_filter["from"]), _day("report.to", chosen_filter["to"]) + 86400
    vendor_id, customer_id = _own(request), None
    if chosen_filter["by"] == "vendor" and chosen_filter["who"] and vendor_id is None:
        users = [u for u in request.state.console.records.users() if u["email"] == chosen_filter["who"].lower()]
        if not users:
            raise Problem("report.no_account", chosen_filter["who"])
        vendor_id = users[0]["id"]
    elif chosen_filter["by"] == "customer":
        if not chosen_filter["who"]:
            raise Problem("report.need_customer")
        customer_id = chosen_filter["who"]
    return chosen_filter, request.state.console.records.invoices(vendor_id, customer_id, first, last)


def sales_report(pdf: bool):
    """The sales report page, or its PDF; a bad filter shows the page with the error either way."""

    @page()
    async def handler(request):
        try:
            chosen_filter, rows = _report_query(request)
        except ValueError as exc:
            return _render(request, "reports.html", status=400, error=exc, chosen=dict(request.query_params),
                           invoices=[])
        if not pdf:
            return _render(request, "reports.html", chosen=chosen_filter, invoices=rows,
                           total=sum(i["total_cents"] for i in rows),
                           vendors=request.state.console.records.users() if _own(request) is None else [])
        lang = _lang(request)
        heading = [(translate(lang, "report.by"), translate(lang, "report." + chosen_filter["by"]) +
                    (" " + chosen_filter["who"] if chosen_filter["who"] else "")),
                   (translate(lang, "report.from"), chosen_filter["from"]),
                   (translate(lang, "report.to"), chosen_filter["to"])]
        user = request.state.user
        data = receipts.sales_report(rows, heading, "%s <%s>" % (user["name"], user["email"]), lang)
        return Response(data, media_type="application/pdf", headers={
            "Content-Disposition": 'attachment; filename="reporte-%s-%s.pdf"' % (chosen_filter["from"],
                                                                                 chosen_filter["to"])})

    return handler


# --- accounts ------------------------------------------------------------------------------------------------


@page()
async def account(request):
    """A new password ends every session of the account; who changed it goes on in a new one."""
    console, user, error = request.state.console, request.state.user, None
    if request.method == "POST":
        form = request.state.form
        try:
            if not await _password_work(console, passwords.matches, str(form.get("current", "")),
                                        console.records.password_hash(user["id"])):
                raise Refused("account.wrong")
            passwords.check_strength(str(form.get("password", "")))
            digest = await _password_work(console, passwords.hashed, str(form.get("password", "")))
            console.records.set_password(user["id"], digest)
            session, csrf = console.records.open_session(user["id"])
            request.state.session = {"user": user, "csrf": csrf}
            response = _render(request, "account.html", message="saved")
            _set_cookie(request, response, SESSION_COOKIE, session, SESSION_SECONDS)
            return response
        except ValueError as exc:
            error = exc
    return _render(request, "account.html", status=400 if error else 200, error=error)


@page(ADMIN)
async def users(request):
    console, error, message = request.state.console, None, None
    if request.method == "POST":
        form = {k: str(request.state.form.get(k, "")) for k in ("email", "name", "role", "password")}
        try:
            console.records.check_new_user(form["email"], form["name"], form["role"])
            passwords.check_strength(form["password"])
            digest = await _password_work(console, passwords.hashed, form["password"])
            console.records.add_user(form["email"], form["name"], form["role"], digest)
            message = "saved"
        except ValueError as exc:
            error = exc
    return _render(request, "users.html", status=400 if error else 200, users=console.records.users(), error=error,
                   message=message)


@page(ADMIN)
async def user_lock(request):
    """Lock an account (its sessions end, its logins are refused) or unlock it."""
    records, error, message = request.state.console.records, None, None
    user_id, locked = request.path_params["user_id"], request.state.form.get("locked") == "1"
    try:
        if locked and user_id == request.state.user["id"]:
            raise Refused("user.lock_self")
        records.set_locked(user_id, locked)
        message = "saved"
    except ValueError as exc:
        error = exc
    return _render(request, "users.html", status=400 if error else 200, users=records.users(), error=error,
                   message=message)


# --- administration ------------------------------------------------------------------------------------------


def _settings_page(template: str, prefix: str, fields: tuple, check):
    @page(ADMIN)
    async def handler(request):
        records, error, message = request.state.console.records, None, None
        if request.method == "POST":
            form = {k: str(request.state.form.get(k, "")).strip() for k in fields}
            try:
                records.set_settings({prefix + k: v for k, v in check(form).items()})
                message = "saved"
            except ValueError as exc:
                error = exc
        values = {k: records.setting(prefix + k, "") for k in fields}
        return _render(request, template, status=400 if error else 200, values=values, error=error,
                       message=message, product=records.product(), licence_left=_licence_left(records))

    return handler


def _licence_left(records) -> int | None:
    last = records.licence()["invoice_last"]
    number = records.next_invoice_number()
    return None if not last else 0 if number is None else int(last) - number + 1


def _check_product(form: dict) -> dict:
    if not form["description"]:
        raise Problem("rule.empty", Label("product.description"))
    currency = form["currency"].upper()
    if len(currency) != 3 or not currency.isalpha():
        raise Problem("rule.currency", Label("product.currency"), form["currency"])
    return {"description": form["description"], "price_cents": money.parse_cents("product.price", form["price_cents"]),
            "vat_bp": money.parse_basis_points("product.vat", form["vat_bp"]), "currency": currency}


def _check_licence(form: dict) -> dict:
    out = {"holder": form["holder"]}
    try:
        out["expires_at"] = int(datetime.datetime.strptime(form["expires_at"], "%Y-%m-%d %H:%M").timestamp())
    except ValueError:
        raise Problem("rule.datetime", Label("label.expires_at"), form["expires_at"]) from None
    for name in ("max_customers", "invoice_first", "invoice_last"):
        if not form[name].isdigit() or int(form[name]) < 1:
            raise Problem("rule.whole", Label("licence." + name), form[name])
        out[name] = int(form[name])
    if out["invoice_last"] < out["invoice_first"]:
        raise Problem("licence.range")
    return out


@page(ADMIN)
async def meters(request):
    console, error, message = request.state.console, None, None
    if request.method == "POST":
        form = {k: str(v).strip() for k, v in request.state.form.items()}
        try:
            for name, label in (("ti", "TI"), ("krn", "KRN"), ("base_year", "meter.base_year")):
                if not form.get(name, "").isdigit():
                    raise Problem("rule.number", Label(label), form.get(name, ""))
            console.keystore.get(form.get("vending_key", ""))
            console.registry.add_meter(form.get("pan", ""), form.get("sgc", ""), int(form["ti"]), int(form["krn"]),
                                       2, int(form["base_year"]), 11, "04", form["vending_key"])
            message = "saved"
        except ValueError as exc:
            error = exc
    return _render(request, "meters.html", status=400 if error else 200, meters=console.registry.meters(),
                   keys=sorted(console.keystore.keys), error=error, message=message)


ROUTES = [
    Route("/login", login, methods=["GET", "POST"]),
    Route("/logout", logout, methods=["POST"]),
    Route("/lang/{code}", language),
    Route("/", invoices),
    Route("/recharge", recharge, methods=["GET", "POST"]),
    Route("/api/customers/{customer_id}", customer_lookup),
    Route("/invoices/{number:int}", invoice_page),
    Route("/invoices/{number:int}/{paper}.pdf", invoice_pdf),
    Route("/customers", customers, methods=["GET", "POST"]),
    Route("/customers/template.xlsx", customers_template),
    Route("/customers/{customer_id}/edit", customer_edit, methods=["GET", "POST"]),
    Route("/reports", sales_report(pdf=False)),
    Route("/reports.pdf", sales_report(pdf=True)),
    Route("/account", account, methods=["GET", "POST"]),
    Route("/admin/users", users, methods=["GET", "POST"]),
    Route("/admin/users/{user_id:int}/lock", user_lock, methods=["POST"]),
    Route("/admin/product", _settings_page("product.html", "product.", ("description", "price_cents", "vat_bp",
                                                                        "currency"), _check_product),
          methods=["GET", "POST"]),
    Route("/admin/licence", _settings_page("licence.html", "licence.", LICENCE_FIELDS, _check_licence),
          methods=["GET", "POST"]),
    Route("/admin/seller", _settings_page("seller.html", "seller.", SELLER_FIELDS, lambda form: form),
          methods=["GET", "POST"]),
    Route("/admin/meters", meters, methods=["GET", "POST"]),
]


def create_app(db: str, registry_path: str, keystore) -> Starlette:
    """The console; its database (migrated), registry and the decoy password hash open at start-up."""

    @contextlib.asynccontextmanager
    async def lifespan(app):
        app.state.console = Console(db, registry_path, keystore)
        try:
            await anyio.to_thread.run_sync(passwords.decoy)  # the first unknown login takes no longer than others
            yield
        finally:
            app.state.console.close()

    return Starlette(routes=ROUTES, middleware=[Middleware(SecurityHeaders)], lifespan=lifespan,
                     exception_handlers={HTTPException: _http_error, Exception: _internal_error})


def first_administrator(db: str, email: str, password: str | None) -> str | None:
    """Create the first administrator when the console has no account yet; the password made, if one was."""
    with Store.open(db) as store:
        records = Records(store)
        if records.users():
            return None
        made = password is None
        password = password or secrets.token_urlsafe(12)
        passwords.check_strength(password)
        records.add_user(email, "Administrador", ADMIN, passwords.hashed(password))
        return password if made else ""
