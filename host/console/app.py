"""The vending console: the web pages an entity uses to sell kWh and print recharge codes.

Starlette, server-rendered Jinja2 pages, a few lines of JavaScript (the customer's name and
the kWh fill in as the vendor types). Every handler is async and the database work runs on
the event loop's thread, one request at a time: a console serves a handful of vendors, and
this keeps SQLite's connection on one thread and two sales from taking one invoice number.

Sessions are signed cookies (SameSite=Strict); every form carries the session's CSRF token;
five failed logins lock an account for 15 minutes; a vendor (facturador) who opens an
administrator's page gets 403.
"""

import contextlib
import datetime
import functools
import hmac
import os
import secrets
import tempfile

import jinja2
from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from host import rowfile
from host.console import money, receipts
from host.console.i18n import LANGUAGES, translate
from host.console.records import ADMIN, LICENCE_FIELDS, SELLER_FIELDS, Records, Refused
from host.registry import Registry
from host.store import Store
from host.vending import Vendor

_TEMPLATES = jinja2.Environment(loader=jinja2.PackageLoader("host.console", "templates"), autoescape=True)
# Excel headers as people write them -> customer fields
IMPORT_HEADERS = {"identificacion": "customer_id", "identificación": "customer_id", "nombre": "name",
                  "cliente": "name", "celular": "phone", "correo": "email", "correo electronico": "email",
                  "correo electrónico": "email", "direccion": "address", "dirección": "address",
                  "direccion residencia": "address", "dirección residencia": "address", "medidor": "meter_pan"}


class Console:
    """What every request needs: the records, the token registry and the vending keys."""

    def __init__(self, db: str, registry_path: str, keystore):
        self.db, self.registry_path, self.keystore = db, registry_path, keystore
        self.store = Store.open(db)
        self.records = Records(self.store)
        self.registry = Registry(registry_path)

    def close(self) -> None:
        self.store.close()
        self.registry.db.close()


def _lang(request) -> str:
    return request.session.get("lang", "es")


def _render(request, name: str, status: int = 200, **context) -> HTMLResponse:
    lang = _lang(request)
    context.update(request=request, lang=lang, t=lambda key: translate(lang, key), user=request.state.user,
                   csrf=request.session.get("csrf", ""), money=money, grouped=receipts.grouped,
                   when=lambda s: datetime.datetime.fromtimestamp(s).strftime("%Y-%m-%d %H:%M:%S"))
    return HTMLResponse(_TEMPLATES.get_template(name).render(**context), status_code=status)


def _ensure_csrf(request) -> str:
    if "csrf" not in request.session:
        request.session["csrf"] = secrets.token_urlsafe(32)
    return request.session["csrf"]


def page(role: str | None = None):
    """A page for logged-in users (of `role` when given); POSTs must carry the session's CSRF token."""

    def wrap(handler):
        @functools.wraps(handler)
        async def endpoint(request):
            console: Console = request.app.state.console
            _ensure_csrf(request)
            request.state.console = console
            request.state.user = console.records.user(request.session.get("user_id", -1))
            if request.state.user is None:
                return RedirectResponse("/login", status_code=303)
            if role is not None and request.state.user["role"] != role:
                return _render(request, "message.html", status=403, message="forbidden")
            if request.method == "POST":
                form = await request.form()
                if not hmac.compare_digest(str(form.get("csrf", "")), request.session["csrf"]):
                    return _render(request, "message.html", status=403, message="csrf")
                request.state.form = form
            return await handler(request)

        return endpoint

    return wrap


async def login(request):
    console: Console = request.app.state.console
    request.state.user = None
    csrf = _ensure_csrf(request)
    if request.method == "GET":
        return _render(request, "login.html")
    form = await request.form()
    if not hmac.compare_digest(str(form.get("csrf", "")), csrf):
        return _render(request, "login.html", status=403, error="csrf")
    try:
        user = console.records.login(str(form.get("email", "")), str(form.get("password", "")))
    except Refused as refused:
        return _render(request, "login.html", status=401, error=str(refused), email=form.get("email", ""))
    lang = _lang(request)
    request.session.clear()  # a new session at login: nothing from before it carries over
    request.session.update(user_id=user["id"], lang=lang, csrf=secrets.token_urlsafe(32))
    return RedirectResponse("/", status_code=303)


@page()
async def logout(request):
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


async def language(request):
    code = request.path_params["code"]
    if code in LANGUAGES:
        request.session["lang"] = code
    return RedirectResponse(request.headers.get("referer") or "/", status_code=303)


def _own(request) -> int | None:
    """Whose records the user sees: an administrator everyone's, a vendor its own."""
    user = request.state.user
    return None if user["role"] == ADMIN else user["id"]


@page()
async def invoices(request):
    rows = request.state.console.records.invoices(vendor_id=_own(request))
    return _render(request, "invoices.html", invoices=rows[:200])


@page()
async def customer_lookup(request):
    customer = request.state.console.records.customer(request.path_params["customer_id"])
    if customer is None:
        return JSONResponse({"error": translate(_lang(request), "recharge.no_customer")}, status_code=404)
    return JSONResponse({"name": customer["name"], "meter_pan": customer["meter_pan"] or ""})


@page()
async def recharge(request):
    records = request.state.console.records
    product = records.product()
    if request.method == "GET":
        customer_id = request.query_params.get("customer_id", "")
        customer = records.customer(customer_id) if customer_id else None
        error = "recharge.no_customer" if customer_id and customer is None else None
        return _render(request, "recharge.html", product=product, customer=customer, customer_id=customer_id,
                       error=error)
    form = request.state.form
    customer_id = str(form.get("customer_id", "")).strip()
    customer = records.customer(customer_id)
    try:
        if customer is None:
            raise Refused("recharge.no_customer")
        if not customer["meter_pan"]:
            raise Refused("recharge.no_meter")
        records.check_can_sell()
        total = money.parse_cents("amount", str(form.get("amount", "")))
        tenths = money.kwh_tenths(total, product["price_cents"])
        vendor = Vendor(request.state.console.registry, request.state.console.keystore,
                        request.state.user["email"])
        token = vendor.credit(customer["meter_pan"], tenths)[0]
        number = records.record_sale(customer, request.state.user, product, total, token["amount_tenths"],
                                     token["token"])
    except ValueError as exc:
        return _render(request, "recharge.html", status=400, product=product, customer=customer,
                       customer_id=customer_id, error=str(exc), amount=form.get("amount", ""))
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


@page()
async def customers(request):
    records = request.state.console.records
    report, message, error = None, None, None
    if request.method == "POST":
        form = request.state.form
        try:
            if "file" in form:
                report = await _import(request, form["file"])
            else:
                records.add_customer(dict(form), request.state.user["id"])
                message = "customer.added"
        except ValueError as exc:
            error = str(exc)
    search = request.query_params.get("q", "")
    return _render(request, "customers.html", status=400 if error else 200, customers=records.customers(search),
                   search=search, report=report, message=message, error=error,
                   form=request.state.form if error else {})


async def _import(request, upload) -> list:
    """(row, identification, result) for every row of an Excel file; each row is added or refused by itself."""
    data = await upload.read()
    handle, path = tempfile.mkstemp(suffix=".xlsx")
    try:
        with os.fdopen(handle, "wb") as f:
            f.write(data)
        rows, first = rowfile.read(path, "customer", ())
    finally:
        os.unlink(path)
    records, owner = request.state.console.records, request.state.user["id"]
    report = []
    for n, row in enumerate(rows, first):
        fields = {IMPORT_HEADERS.get(k.strip().lower(), k.strip().lower()): v for k, v in row.items()}
        try:
            records.add_customer(fields, owner)
            result = "customer.added"
        except ValueError as exc:
            result = str(exc)
        report.append((n, fields.get("customer_id", ""), result))
    return report


@page()
async def customer_edit(request):
    records = request.state.console.records
    customer = records.customer(request.path_params["customer_id"])
    if customer is None:
        return _render(request, "message.html", status=404, message="customer.unknown")
    if request.method == "GET":
        return _render(request, "customer_edit.html", customer=customer)
    fields = dict(request.state.form, customer_id=customer["customer_id"])
    try:
        records.update_customer(fields, request.state.user)
    except Refused as refused:
        return _render(request, "customer_edit.html", status=403, customer=customer, error=str(refused))
    except ValueError as exc:
        return _render(request, "customer_edit.html", status=400, customer=fields, error=str(exc))
    return _render(request, "customer_edit.html", customer=records.customer(customer["customer_id"]),
                   message="customer.updated")


def _day(field: str, text: str) -> int:
    try:
        return int(datetime.datetime.strptime(text, "%Y-%m-%d").timestamp())
    except ValueError:
        raise ValueError("%s: must be a date YYYY-MM-DD, got %r" % (field, text)) from None


def _report_query(request) -> tuple:
    """(filter, invoices) of the report the query string asks for; a vendor sees only its own sales."""
    params = request.query_params
    today = datetime.date.today().isoformat()
    chosen = {"by": params.get("by", "all"), "who": params.get("who", "").strip(),
              "from": params.get("from", today), "to": params.get("to", today)}
    first, last = _day("from", chosen["from"]), _day("to", chosen["to"]) + 86400
    vendor_id, customer_id = _own(request), None
    if chosen["by"] == "vendor" and chosen["who"] and vendor_id is None:
        users = [u for u in request.state.console.records.users() if u["email"] == chosen["who"].lower()]
        if not users:
            raise ValueError("who: no account with e-mail %r" % chosen["who"])
        vendor_id = users[0]["id"]
    elif chosen["by"] == "customer":
        if not chosen["who"]:
            raise ValueError("who: write the customer's identification")
        customer_id = chosen["who"]
    return chosen, request.state.console.records.invoices(vendor_id, customer_id, first, last)


def sales_report(pdf: bool):
    """The sales report page, or its PDF; a bad filter shows the page with the error either way."""

    @page()
    async def handler(request):
        try:
            chosen, rows = _report_query(request)
        except ValueError as exc:
            return _render(request, "reports.html", status=400, error=str(exc), chosen=dict(request.query_params),
                           invoices=[])
        if not pdf:
            return _render(request, "reports.html", chosen=chosen, invoices=rows,
                           total=sum(i["total_cents"] for i in rows),
                           vendors=request.state.console.records.users() if _own(request) is None else [])
        lang = _lang(request)
        heading = [(translate(lang, "report.by"), translate(lang, "report." + chosen["by"]) +
                    (" " + chosen["who"] if chosen["who"] else "")), (translate(lang, "report.from"), chosen["from"]),
                   (translate(lang, "report.to"), chosen["to"])]
        user = request.state.user
        data = receipts.sales_report(rows, heading, "%s <%s>" % (user["name"], user["email"]), lang)
        return Response(data, media_type="application/pdf", headers={
            "Content-Disposition": 'attachment; filename="reporte-%s-%s.pdf"' % (chosen["from"], chosen["to"])})

    return handler


@page()
async def account(request):
    error, message = None, None
    if request.method == "POST":
        form = request.state.form
        try:
            request.state.console.records.change_password(request.state.user["id"], str(form.get("current", "")),
                                                          str(form.get("password", "")))
            message = "saved"
        except ValueError as exc:
            error = str(exc)
    return _render(request, "account.html", status=400 if error else 200, error=error, message=message)


@page(ADMIN)
async def users(request):
    records, error, message = request.state.console.records, None, None
    if request.method == "POST":
        form = request.state.form
        try:
            records.add_user(str(form.get("email", "")), str(form.get("name", "")), str(form.get("role", "")),
                             str(form.get("password", "")))
            message = "saved"
        except ValueError as exc:
            error = str(exc)
    return _render(request, "users.html", status=400 if error else 200, users=records.users(), error=error,
                   message=message)


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
                error = str(exc)
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
        raise ValueError("description: must not be empty")
    currency = form["currency"].upper()
    if len(currency) != 3 or not currency.isalpha():
        raise ValueError("currency: must be an ISO 4217 code such as COP, got %r" % form["currency"])
    return {"description": form["description"], "price_cents": money.parse_cents("price", form["price_cents"]),
            "vat_bp": money.parse_basis_points("vat", form["vat_bp"]), "currency": currency}


def _check_licence(form: dict) -> dict:
    out = {"holder": form["holder"]}
    try:
        out["expires_at"] = int(datetime.datetime.strptime(form["expires_at"], "%Y-%m-%d %H:%M").timestamp())
    except ValueError:
        raise ValueError("expires_at: must be YYYY-MM-DD HH:MM, got %r" % form["expires_at"]) from None
    for name in ("max_customers", "invoice_first", "invoice_last"):
        if not form[name].isdigit() or int(form[name]) < 1:
            raise ValueError("%s: must be a whole number of 1 or more, got %r" % (name, form[name]))
        out[name] = int(form[name])
    if out["invoice_last"] < out["invoice_first"]:
        raise ValueError("invoice_last: must not be below invoice_first")
    return out


@page(ADMIN)
async def meters(request):
    console, error, message = request.state.console, None, None
    if request.method == "POST":
        form = {k: str(v).strip() for k, v in request.state.form.items()}
        try:
            for name in ("ti", "krn", "base_year"):
                if not form.get(name, "").isdigit():
                    raise ValueError("%s: must be a whole number, got %r" % (name, form.get(name, "")))
            console.keystore.get(form.get("vending_key", ""))
            console.registry.add_meter(form.get("pan", ""), form.get("sgc", ""), int(form["ti"]), int(form["krn"]),
                                       2, int(form["base_year"]), 11, "04", form["vending_key"])
            message = "saved"
        except ValueError as exc:
            error = str(exc)
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
    Route("/customers/{customer_id}/edit", customer_edit, methods=["GET", "POST"]),
    Route("/reports", sales_report(pdf=False)),
    Route("/reports.pdf", sales_report(pdf=True)),
    Route("/account", account, methods=["GET", "POST"]),
    Route("/admin/users", users, methods=["GET", "POST"]),
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
    """The console; its database, registry and session secret open at start-up, on the server's loop thread."""
    with Store.open(db) as store:
        secret = Records(store).session_secret()

    @contextlib.asynccontextmanager
    async def lifespan(app):
        app.state.console = Console(db, registry_path, keystore)
        try:
            yield
        finally:
            app.state.console.close()

    middleware = [Middleware(SessionMiddleware, secret_key=secret, same_site="strict", max_age=8 * 3600,
                             session_cookie="opsm_console")]
    return Starlette(routes=ROUTES, middleware=middleware, lifespan=lifespan)


def first_administrator(db: str, email: str, password: str | None) -> str | None:
    """Create the first administrator when the console has no account yet; the password made, if one was."""
    with Store.open(db) as store:
        records = Records(store)
        if records.users():
            return None
        made = password is None
        password = password or secrets.token_urlsafe(12)
        records.add_user(email, "Administrador", ADMIN, password)
        return password if made else ""
