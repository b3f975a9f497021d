"""What the vending console keeps: its users and their sessions, the product, the licence, invoices; customers
shared with the exports.

Everything lives in the operations database (host/store/: SQLite by default, PostgreSQL
through a URL). An invoice is also stored as a charge of its customer, so the SEC feed and
the customer report see every sale. Money is in cents, energy in tenths of a kWh, VAT in
basis points (host/console/money.py). Nothing here hashes or checks a password (slow on
purpose: the console does it in a worker thread); these methods take and give hashes.

Sessions: a random id in the cookie, only its SHA-256 here. A session ends at logout, 8 hours
after login or 2 hours after its last request; all of an account's end when its password
changes or an administrator locks it.

Logins are slowed, never locked: failures are counted per name (the account's e-mail, known
or not, alike; the client's address; a browser that logged in to the account before). Four in
a row cost nothing; from the fifth, the next try under that name waits 1 s, then 2, 4, ...
up to 60 s; a try while waiting is refused at once and not counted; a quarter of an hour
after the last failure they are forgotten. A browser that logged in to an account before is
counted under its own name instead of the account's and the address's, so someone guessing
elsewhere never makes the owner wait.

Who sees which customers: an administrator all; a vendor those it registered or has sold
to. A vendor sells to any customer whose identification it is shown (see app.customer_lookup).
"""

import datetime
import math
import secrets
import time

from opsm.host.console import money
from opsm.host.customers import IdentificationError, identification
from opsm.host.console.i18n import Label, Problem, foreign
from opsm.host.sessions import SessionTable
from opsm.host.store.console import CUSTOMER_FIELDS
from opsm.host.sts.keys import check_pan

ADMIN, VENDOR = "admin", "vendor"
SESSION_SECONDS = 8 * 3600       # from login
IDLE_SECONDS = 2 * 3600          # from the last request
FREE_FAILURES = 4                # failed logins under one name that cost nothing
MAX_WAIT = 60                    # seconds: the longest any name waits
FORGET_SECONDS = 15 * 60
PRODUCT_DEFAULTS = {"description": "Energía Eléctrica Kilo Vatio hora (kWh)", "price_cents": "50000",
                    "vat_bp": "1900", "currency": "COP"}
LICENCE_FIELDS = ("holder", "expires_at", "max_customers", "invoice_first", "invoice_last")
SELLER_FIELDS = ("name", "address", "contact", "terms")


class Refused(Problem):
    """A rule of the licence or of the roles said no."""


def login_delay(failures: int) -> int:
    """Seconds the next try under a name waits after `failures` failures in a row."""
    return 0 if failures <= FREE_FAILURES else min(MAX_WAIT, 1 << (failures - FREE_FAILURES - 1))


class Records:
    def __init__(self, store):
        self.store = store

    # --- settings: product, licence, seller, the signing secret ----------------------------

    def setting(self, name: str, default: str | None = None) -> str | None:
        value = self.store.console_setting(name)
        return default if value is None else value

    def set_settings(self, values: dict) -> None:
        self.store.set_console_settings(values)

    def signing_secret(self) -> str:
        """Signs the known-browser cookies; made once, so they survive a restart."""
        secret = self.setting("session_secret")
        if secret is None:
            secret = secrets.token_hex(32)
            self.set_settings({"session_secret": secret})
        return secret

    def product(self) -> dict:
        values = {k: self.setting("product." + k, v) for k, v in PRODUCT_DEFAULTS.items()}
        return dict(values, price_cents=int(values["price_cents"]), vat_bp=int(values["vat_bp"]))

    def licence(self) -> dict:
        return {k: self.setting("licence." + k, "") for k in LICENCE_FIELDS}

    def seller(self) -> dict:
        return {k: self.setting("seller." + k, "") for k in SELLER_FIELDS}

    # --- users -----------------------------------------------------------------------------

    def check_new_user(self, email: str, name: str, role: str) -> str:
        """The e-mail as stored; a Problem for a field the new account cannot have."""
        email = email.strip().lower()
        if "@" not in email:
            raise Problem("rule.email", Label("login.email"), email)
        if not name.strip():
            raise Problem("rule.empty", Label("user.name"))
        if role not in (ADMIN, VENDOR):
            raise Problem("rule.role")
        if self.store.console_credentials(email)[0] is not None:
            raise Problem("user.exists", email)
        return email

    def add_user(self, email: str, name: str, role: str, password_hash: str) -> int:
        """A new account (its password checked and hashed by the caller: passwords.check_strength, hashed)."""
        email = self.check_new_user(email, name, role)
        return self.store.add_console_user(email, name.strip(), role, password_hash, int(time.time()))

    def users(self) -> list:
        return self.store.console_users()

    def user(self, user_id: int) -> dict | None:
        return self.store.console_user(user_id)

    def credentials(self, email: str) -> tuple:
        """(user, password hash) of the account with `email`; (None, None) when there is none."""
        return self.store.console_credentials(email.strip().lower())

    def password_hash(self, user_id: int) -> str:
        return self.store.console_password_hash(user_id)

    def set_password(self, user_id: int, password_hash: str) -> None:
        """A new password; every session of the account ends."""
        self.store.set_console_password(user_id, password_hash)

    def set_locked(self, user_id: int, locked: bool) -> None:
        """Lock (every session ends, logins are refused like a wrong password) or unlock an account."""
        if self.user(user_id) is None:
            raise Refused("user.unknown")
        self.store.set_console_user_locked(user_id, locked)

    # --- sessions --------------------------------------------------------------------------

    def _sessions(self, now: float | None) -> SessionTable:
        clock = time.time if now is None else (lambda: now)
        return SessionTable(self.store.start_console_session, self.store.console_session,
                            self.store.touch_console_session, self.store.end_console_session,
                            SESSION_SECONDS, IDLE_SECONDS, clock)

    def open_session(self, user_id: int, now: float | None = None) -> tuple:
        """(the cookie's session id, the session's CSRF token) of a new session; ended ones are swept."""
        return self._sessions(now).open(user_id)

    def session(self, token: str, now: float | None = None) -> dict | None:
        """{"user", "csrf"} of the live session with this cookie id (its account unlocked); None otherwise."""
        found = self._sessions(now).find(token)
        if found is None:
            return None
        user = self.user(found[0])
        if not user or user["locked"]:
            self.close_session(token)
            return None
        return {"user": user, "csrf": found[1]}

    def close_session(self, token: str) -> None:
        self._sessions(None).close(token)

    # --- login throttle --------------------------------------------------------------------

    def login_wait(self, names: tuple, now: float | None = None) -> int:
        """Whole seconds before a login under all of `names` may be tried (0: now)."""
        now_ms = int((now if now is not None else time.time()) * 1000)
        wait = 0
        for name in names:
            found = self.store.login_failures(name)
            if found and now_ms - found[1] <= FORGET_SECONDS * 1000:
                wait = max(wait, found[1] + 1000 * login_delay(found[0]) - now_ms)
        return math.ceil(wait / 1000)

    def login_attempt(self, names: tuple, now: float | None = None) -> int:
        """0 when a login may be tried now: the try is counted as a failure under each name (until
        login_succeeded), before its password is checked, so tries sent at once cannot slip past the count.
        Otherwise the whole seconds to wait, and nothing is counted."""
        wait = self.login_wait(names, now)
        if wait:
            return wait
        now_ms = int((now if now is not None else time.time()) * 1000)
        self.store.count_login_failure(names, now_ms, now_ms - FORGET_SECONDS * 1000)
        return 0

    def login_succeeded(self, reset: tuple, undo: tuple) -> None:
        """After a right password: the failures under `reset` are forgotten, the try is taken back under `undo`."""
        self.store.forget_login_failures(reset, undo)

    # --- customers -------------------------------------------------------------------------

    def customer(self, customer_id: str) -> dict | None:
        try:  # as typed at the counter, in any spelling of it
            customer_id = identification(customer_id)
        except IdentificationError:
            customer_id = customer_id.strip()
        return self.store.console_customer(customer_id)

    def sees(self, user: dict, customer: dict) -> bool:
        """Whether `user` sees the customer's data: an administrator always, a vendor its own or those it sold to."""
        if user["role"] == ADMIN or customer["owner_id"] == user["id"]:
            return True
        return self.store.sold_to(user["id"], customer["customer_id"])

    def customers(self, viewer: dict, search: str = "", limit: int = 200) -> list:
        """Customers `viewer` sees whose identification or name contains `search` (any case), by name, at most
        `limit`."""
        return self.store.console_customers(search, None if viewer["role"] == ADMIN else viewer["id"], limit)

    def add_customer(self, fields: dict, owner_id: int) -> None:
        """Refused with the seed's messages for a known identification or a full licence."""
        problem = self.add_customers([fields], owner_id)[0]
        if problem is not None:
            raise problem

    def add_customers(self, rows: list, owner_id: int) -> list:
        """Each row added or refused by itself, the added ones in one transaction: None or the Problem, row by
        row."""
        limit = self.licence()["max_customers"]
        count = self.store.customer_count()
        results, added = [], {}
        for fields in rows:
            try:
                if getattr(fields, "problems", None):  # a cell the row reader refused (digits lost...)
                    raise Problem("import.cell", fields.problems[0])
                values = _customer_fields(fields)
                if values["customer_id"] in added or self.customer(values["customer_id"]):
                    raise Refused("customer.exists")
                if limit and count >= int(limit):
                    raise Refused("customer.limit", limit)
            except Problem as problem:
                results.append(problem)
                continue
            added[values["customer_id"]] = values
            count += 1
            results.append(None)
        self.store.add_console_customers(list(added.values()), owner_id, int(time.time()))
        return results

    def update_customer(self, fields: dict, user: dict) -> None:
        values = _customer_fields(fields)
        current = self.customer(values["customer_id"])
        if current is None:
            raise Refused("customer.unknown")
        if user["role"] != ADMIN and current["owner_id"] != user["id"]:
            raise Refused("customer.not_yours")
        self.store.update_console_customer(values, int(time.time()))

    # --- invoices --------------------------------------------------------------------------

    def check_can_sell(self, now: float | None = None) -> None:
        """Refused once the licence expired or its invoice numbers are used up."""
        licence = self.licence()
        now = now if now is not None else time.time()
        if licence["expires_at"] and int(licence["expires_at"]) < now:
            raise Refused("licence.expired", _clock(int(licence["expires_at"])))
        if self.next_invoice_number() is None:
            raise Refused("licence.invoices")

    def next_invoice_number(self) -> int | None:
        licence = self.licence()
        first = int(licence["invoice_first"] or 1)
        last = int(licence["invoice_last"]) if licence["invoice_last"] else None
        newest = self.store.newest_invoice_number(first)
        number = first if newest is None else newest + 1
        return None if last is not None and number > last else number

    def sell(self, key: str, customer: dict, vendor: dict, product: dict, total_cents: int, issue) -> int:
        """The number of the invoice the recharge form with `key` made.

        The first time, the sale: issue(tenths) gives the token (a dict with "token" and "amount_tenths"), and
        the invoice and its charge are written with the key, all while no other connection sells (a second
        console process waits), so the same form sent twice, at once or later, finds the first sale and issues
        nothing. Refused when the key was used for another sale (another vendor, customer or amount)."""
        def new_invoice() -> dict:
            self.check_can_sell()
            number = self.next_invoice_number()
            token = issue(money.kwh_tenths(total_cents, product["price_cents"]))
            return dict(number=number, customer_id=customer["customer_id"], vendor_id=vendor["id"],
                        issued_at=int(time.time()), description=product["description"],
                        price_cents=product["price_cents"], vat_bp=product["vat_bp"], currency=product["currency"],
                        total_cents=total_cents, vat_cents=money.vat_inside(total_cents, product["vat_bp"]),
                        kwh_tenths=token["amount_tenths"], meter_pan=customer["meter_pan"], token=token["token"])

        sale = self.store.sell_once(key, new_invoice)
        if (sale["vendor_id"], sale["customer_id"], sale["total_cents"]) != (vendor["id"], customer["customer_id"],
                                                                             total_cents):
            raise Refused("recharge.key_used")
        return sale["number"]

    def invoice(self, number: int) -> dict | None:
        return self.store.invoice(number)

    def invoices(self, vendor_id: int | None = None, customer_id: str | None = None, first: int = 0,
                 end: int = 1 << 62) -> list:
        """Invoices issued in [first, end), newest first, optionally of one vendor or one customer."""
        return self.store.invoices(vendor_id, customer_id, first, end)


def _customer_fields(fields: dict) -> dict:
    values = {k: (fields.get(k) or "").strip() for k in CUSTOMER_FIELDS}
    if not values["customer_id"]:
        raise Problem("rule.empty", Label("customer.customer_id"))
    try:  # one spelling per person: 12.345.678-5 and 12345678-5 are one customer
        values["customer_id"] = identification(values["customer_id"])
    except IdentificationError as exc:
        raise Problem("rule.identification", Label("customer.customer_id"), exc.rule) from None
    if len(values["customer_id"]) > 40:
        raise Problem("rule.too_long", Label("customer.customer_id"), 40)
    if not values["name"]:
        raise Problem("rule.empty", Label("customer.name"))
    if values["email"] and "@" not in values["email"]:
        raise Problem("rule.email", Label("customer.email"), values["email"])
    if values["meter_pan"]:
        try:
            check_pan(values["meter_pan"])
        except ValueError as exc:
            raise foreign(exc) from None
    return {k: v or None for k, v in values.items()} | {"customer_id": values["customer_id"], "name": values["name"]}


def _clock(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")
