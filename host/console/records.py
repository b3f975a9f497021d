"""What the vending console keeps: its users and their sessions, the product, the licence, invoices; customers
shared with the exports.

Everything lives in the operations database (host/store.py: SQLite by default, PostgreSQL
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
import hashlib
import math
import secrets
import time

from opsm.host.console import money
from opsm.host.customers import IdentificationError, identification
from opsm.host.console.i18n import Label, Problem, foreign
from opsm.host.sts.keys import check_pan

ADMIN, VENDOR = "admin", "vendor"
SESSION_SECONDS = 8 * 3600       # from login
IDLE_SECONDS = 2 * 3600          # from the last request
_TOUCH_SECONDS = 60              # a session's last request is written at most once a minute
FREE_FAILURES = 4                # failed logins under one name that cost nothing
MAX_WAIT = 60                    # seconds: the longest any name waits
FORGET_SECONDS = 15 * 60
PRODUCT_DEFAULTS = {"description": "Energía Eléctrica Kilo Vatio hora (kWh)", "price_cents": "50000",
                    "vat_bp": "1900", "currency": "COP"}
LICENCE_FIELDS = ("holder", "expires_at", "max_customers", "invoice_first", "invoice_last")
SELLER_FIELDS = ("name", "address", "contact", "terms")
CUSTOMER_FIELDS = ("customer_id", "name", "phone", "email", "address", "meter_pan")
_USER_FIELDS = ("id", "email", "name", "role", "locked")


class Refused(Problem):
    """A rule of the licence or of the roles said no."""


def login_delay(failures: int) -> int:
    """Seconds the next try under a name waits after `failures` failures in a row."""
    return 0 if failures <= FREE_FAILURES else min(MAX_WAIT, 1 << (failures - FREE_FAILURES - 1))


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


class Records:
    def __init__(self, store):
        self.store = store

    # --- settings: product, licence, seller, the signing secret ----------------------------

    def setting(self, name: str, default: str | None = None) -> str | None:
        rows = self.store.query("SELECT value FROM console_settings WHERE name = ?", (name,))
        return rows[0][0] if rows else default

    def set_settings(self, values: dict) -> None:
        for name, value in values.items():
            self.store.execute("INSERT INTO console_settings (name, value) VALUES (?, ?) ON CONFLICT (name) "
                               "DO UPDATE SET value = excluded.value", (name, str(value)))
        self.store.db.commit()

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
        if self.store.query("SELECT 1 FROM console_users WHERE email = ?", (email,)):
            raise Problem("user.exists", email)
        return email

    def add_user(self, email: str, name: str, role: str, password_hash: str) -> int:
        """A new account (its password checked and hashed by the caller: passwords.check_strength, hashed)."""
        email = self.check_new_user(email, name, role)
        self.store.execute("INSERT INTO console_users (email, name, role, password_hash, created_at) "
                           "VALUES (?, ?, ?, ?, ?)", (email, name.strip(), role, password_hash, int(time.time())))
        self.store.db.commit()
        return self.store.query("SELECT id FROM console_users WHERE email = ?", (email,))[0][0]

    def users(self) -> list:
        return [dict(zip(_USER_FIELDS, row)) for row in self.store.query(
            "SELECT %s FROM console_users ORDER BY id" % ", ".join(_USER_FIELDS))]

    def user(self, user_id: int) -> dict | None:
        rows = self.store.query("SELECT %s FROM console_users WHERE id = ?" % ", ".join(_USER_FIELDS), (user_id,))
        return dict(zip(_USER_FIELDS, rows[0])) if rows else None

    def credentials(self, email: str) -> tuple:
        """(user, password hash) of the account with `email`; (None, None) when there is none."""
        rows = self.store.query("SELECT %s, password_hash FROM console_users WHERE email = ?" % ", ".join(
            _USER_FIELDS), (email.strip().lower(),))
        return (dict(zip(_USER_FIELDS, rows[0][:-1])), rows[0][-1]) if rows else (None, None)

    def password_hash(self, user_id: int) -> str:
        return self.store.query("SELECT password_hash FROM console_users WHERE id = ?", (user_id,))[0][0]

    def set_password(self, user_id: int, password_hash: str) -> None:
        """A new password; every session of the account ends."""
        with self.store.transaction():
            self.store.execute("UPDATE console_users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
            self.store.execute("DELETE FROM console_sessions WHERE user_id = ?", (user_id,))

    def set_locked(self, user_id: int, locked: bool) -> None:
        """Lock (every session ends, logins are refused like a wrong password) or unlock an account."""
        if self.user(user_id) is None:
            raise Refused("user.unknown")
        with self.store.transaction():
            self.store.execute("UPDATE console_users SET locked = ? WHERE id = ?", (int(locked), user_id))
            if locked:
                self.store.execute("DELETE FROM console_sessions WHERE user_id = ?", (user_id,))

    # --- sessions --------------------------------------------------------------------------

    def open_session(self, user_id: int, now: float | None = None) -> tuple:
        """(the cookie's session id, the session's CSRF token) of a new session; ended ones are swept."""
        now = int(now if now is not None else time.time())
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        with self.store.transaction():
            self.store.execute("DELETE FROM console_sessions WHERE created_at <= ? OR seen_at <= ?",
                               (now - SESSION_SECONDS, now - IDLE_SECONDS))
            self.store.execute("INSERT INTO console_sessions (id, user_id, csrf, created_at, seen_at) "
                               "VALUES (?, ?, ?, ?, ?)", (_digest(token), user_id, csrf, now, now))
        return token, csrf

    def session(self, token: str, now: float | None = None) -> dict | None:
        """{"user", "csrf"} of the live session with this cookie id (its account unlocked); None otherwise."""
        if not token:
            return None
        now = int(now if now is not None else time.time())
        rows = self.store.query("SELECT user_id, csrf, created_at, seen_at FROM console_sessions WHERE id = ?",
                                (_digest(token),))
        if not rows:
            return None
        user_id, csrf, created_at, seen_at = rows[0]
        user = self.user(user_id)
        if created_at <= now - SESSION_SECONDS or seen_at <= now - IDLE_SECONDS or not user or user["locked"]:
            self.close_session(token)
            return None
        if now - seen_at >= _TOUCH_SECONDS:
            self.store.execute("UPDATE console_sessions SET seen_at = ? WHERE id = ?", (now, _digest(token)))
            self.store.db.commit()
        return {"user": user, "csrf": csrf}

    def close_session(self, token: str) -> None:
        self.store.execute("DELETE FROM console_sessions WHERE id = ?", (_digest(token),))
        self.store.db.commit()

    # --- login throttle --------------------------------------------------------------------

    def login_wait(self, names: tuple, now: float | None = None) -> int:
        """Whole seconds before a login under all of `names` may be tried (0: now)."""
        now_ms = int((now if now is not None else time.time()) * 1000)
        wait = 0
        for name in names:
            rows = self.store.query("SELECT failures, last_at FROM console_throttle WHERE name = ?", (name,))
            if rows and now_ms - rows[0][1] <= FORGET_SECONDS * 1000:
                wait = max(wait, rows[0][1] + 1000 * login_delay(rows[0][0]) - now_ms)
        return math.ceil(wait / 1000)

    def login_attempt(self, names: tuple, now: float | None = None) -> int:
        """0 when a login may be tried now: the try is counted as a failure under each name (until
        login_succeeded), before its password is checked, so tries sent at once cannot slip past the count.
        Otherwise the whole seconds to wait, and nothing is counted."""
        wait = self.login_wait(names, now)
        if wait:
            return wait
        now_ms = int((now if now is not None else time.time()) * 1000)
        with self.store.transaction():
            self.store.execute("DELETE FROM console_throttle WHERE last_at < ?", (now_ms - FORGET_SECONDS * 1000,))
            for name in names:
                self.store.execute("INSERT INTO console_throttle (name, failures, last_at) VALUES (?, 1, ?) "
                                   "ON CONFLICT (name) DO UPDATE SET failures = console_throttle.failures + 1, "
                                   "last_at = excluded.last_at", (name, now_ms))
        return 0

    def login_succeeded(self, reset: tuple, undo: tuple) -> None:
        """After a right password: the failures under `reset` are forgotten, the try is taken back under `undo`."""
        with self.store.transaction():
            for name in reset:
                self.store.execute("DELETE FROM console_throttle WHERE name = ?", (name,))
            for name in undo:
                self.store.execute("UPDATE console_throttle SET failures = failures - 1 WHERE name = ? AND "
                                   "failures > 0", (name,))

    # --- customers -------------------------------------------------------------------------

    def customer(self, customer_id: str) -> dict | None:
        try:  # as typed at the counter, in any spelling of it
            customer_id = identification(customer_id)
        except IdentificationError:
            customer_id = customer_id.strip()
        rows = self.store.query("SELECT %s, owner_id FROM customers WHERE customer_id = ?" % ", ".join(
            CUSTOMER_FIELDS), (customer_id,))
        return dict(zip(CUSTOMER_FIELDS + ("owner_id",), rows[0])) if rows else None

    def sees(self, user: dict, customer: dict) -> bool:
        """Whether `user` sees the customer's data: an administrator always, a vendor its own or those it sold to."""
        if user["role"] == ADMIN or customer["owner_id"] == user["id"]:
            return True
        return bool(self.store.query("SELECT 1 FROM invoices WHERE vendor_id = ? AND customer_id = ? LIMIT 1",
                                     (user["id"], customer["customer_id"])))

    def customers(self, viewer: dict, search: str = "", limit: int = 200) -> list:
        """Customers `viewer` sees whose identification or name contains `search` (any case), by name, at most
        `limit`."""
        pattern = "%" + search.strip().lower() + "%"
        where, params = "(LOWER(customer_id) LIKE ? OR LOWER(name) LIKE ?)", [pattern, pattern]
        if viewer["role"] != ADMIN:
            where += (" AND (owner_id = ? OR EXISTS (SELECT 1 FROM invoices i WHERE i.vendor_id = ? AND "
                      "i.customer_id = customers.customer_id))")
            params += [viewer["id"], viewer["id"]]
        return [dict(zip(CUSTOMER_FIELDS + ("owner_id",), row)) for row in self.store.query(
            "SELECT %s, owner_id FROM customers WHERE %s ORDER BY name, customer_id LIMIT %d" % (
                ", ".join(CUSTOMER_FIELDS), where, limit), params)]

    def add_customer(self, fields: dict, owner_id: int) -> None:
        """Refused with the seed's messages for a known identification or a full licence."""
        problem = self.add_customers([fields], owner_id)[0]
        if problem is not None:
            raise problem

    def add_customers(self, rows: list, owner_id: int) -> list:
        """Each row added or refused by itself, in one transaction: None or the Problem, row by row."""
        limit = self.licence()["max_customers"]
        count = self.store.query("SELECT COUNT(*) FROM customers")[0][0]
        results, now = [], int(time.time())
        with self.store.transaction():
            for fields in rows:
                try:
                    if getattr(fields, "problems", None):  # a cell the row reader refused (digits lost...)
                        raise Problem("import.cell", fields.problems[0])
                    values = _customer_fields(fields)
                    if self.customer(values["customer_id"]):
                        raise Refused("customer.exists")
                    if limit and count >= int(limit):
                        raise Refused("customer.limit", limit)
                except Problem as problem:
                    results.append(problem)
                    continue
                self.store.execute("INSERT INTO customers (%s, owner_id, smart, shared, bill_access, updated_at) "
                                   "VALUES (%s, ?, 1, 0, 1, ?)" % (", ".join(CUSTOMER_FIELDS),
                                                                   ", ".join("?" * len(CUSTOMER_FIELDS))),
                                   tuple(values[k] for k in CUSTOMER_FIELDS) + (owner_id, now))
                count += 1
                results.append(None)
        return results

    def update_customer(self, fields: dict, user: dict) -> None:
        values = _customer_fields(fields)
        current = self.customer(values["customer_id"])
        if current is None:
            raise Refused("customer.unknown")
        if user["role"] != ADMIN and current["owner_id"] != user["id"]:
            raise Refused("customer.not_yours")
        self.store.execute("UPDATE customers SET %s, updated_at = ? WHERE customer_id = ?" % ", ".join(
            "%s = ?" % k for k in CUSTOMER_FIELDS[1:]), tuple(values[k] for k in CUSTOMER_FIELDS[1:]) + (
            int(time.time()), values["customer_id"]))
        self.store.db.commit()

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
        newest = self.store.query("SELECT MAX(number) FROM invoices WHERE number >= ?", (first,))[0][0]
        number = first if newest is None else newest + 1
        return None if last is not None and number > last else number

    def sell(self, key: str, customer: dict, vendor: dict, product: dict, total_cents: int, issue) -> int:
        """The number of the invoice the recharge form with `key` made.

        The first time, the sale: issue(tenths) gives the token (a dict with "token" and "amount_tenths"), and
        the invoice and its charge are written with the key, all while no other connection sells (a second
        console process waits), so the same form sent twice, at once or later, finds the first sale and issues
        nothing. Refused when the key was used for another sale (another vendor, customer or amount)."""
        with self.store.exclusive("console.sales"):
            rows = self.store.query("SELECT number, vendor_id, customer_id, total_cents FROM invoices "
                                    "WHERE sale_key = ?", (key,))
            if rows:
                if tuple(rows[0][1:]) != (vendor["id"], customer["customer_id"], total_cents):
                    raise Refused("recharge.key_used")
                return rows[0][0]
            self.check_can_sell()
            number = self.next_invoice_number()
            token = issue(money.kwh_tenths(total_cents, product["price_cents"]))
            now = int(time.time())
            self.store.execute("""INSERT INTO invoices (number, customer_id, vendor_id, issued_at, description,
                                  price_cents, vat_bp, currency, total_cents, vat_cents, kwh_tenths, meter_pan, token,
                                  sale_key) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                               (number, customer["customer_id"], vendor["id"], now, product["description"],
                                product["price_cents"], product["vat_bp"], product["currency"], total_cents,
                                money.vat_inside(total_cents, product["vat_bp"]), token["amount_tenths"],
                                customer["meter_pan"], token["token"], key))
            self.store.execute("INSERT INTO charges (customer_id, document, billed_at, amount_cents, currency, kwh) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (customer["customer_id"], str(number), now, total_cents,
                                                             product["currency"], token["amount_tenths"] / 10))
        return number

    def invoice(self, number: int) -> dict | None:
        rows = self._invoices("WHERE i.number = ?", (number,))
        return rows[0] if rows else None

    def invoices(self, vendor_id: int | None = None, customer_id: str | None = None, first: int = 0,
                 end: int = 1 << 62) -> list:
        """Invoices issued in [first, end), newest first, optionally of one vendor or one customer."""
        where, params = ["i.issued_at >= ? AND i.issued_at < ?"], [first, end]
        if vendor_id is not None:
            where.append("i.vendor_id = ?")
            params.append(vendor_id)
        if customer_id:
            where.append("i.customer_id = ?")
            params.append(customer_id)
        return self._invoices("WHERE " + " AND ".join(where), params)

    def _invoices(self, where: str, params) -> list:
        names = ("number", "customer_id", "vendor_id", "issued_at", "description", "price_cents", "vat_bp",
                 "currency", "total_cents", "vat_cents", "kwh_tenths", "meter_pan", "token", "customer_name",
                 "phone", "vendor_name")
        rows = self.store.query("""SELECT i.number, i.customer_id, i.vendor_id, i.issued_at, i.description,
                                   i.price_cents, i.vat_bp, i.currency, i.total_cents, i.vat_cents, i.kwh_tenths,
                                   i.meter_pan, i.token, c.name, c.phone, u.name
                                   FROM invoices i JOIN customers c ON c.customer_id = i.customer_id
                                   JOIN console_users u ON u.id = i.vendor_id %s ORDER BY i.number DESC""" % where,
                                params)
        return [dict(zip(names, row)) for row in rows]


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
