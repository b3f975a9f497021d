"""What the vending console keeps: its users, the product, the licence, invoices; customers shared with the exports.

Everything lives in the operations database (host/store.py: SQLite by default, PostgreSQL
through a URL). An invoice is also stored as a charge of its customer, so the SEC feed and
the customer report see every sale. Money is in cents, energy in tenths of a kWh, VAT in
basis points (host/console/money.py).
"""

import datetime
import secrets
import time

from host.console import money, passwords
from host.sts.keys import check_pan

ADMIN, VENDOR = "admin", "vendor"
LOCK_AFTER = 5           # failed logins in a row
LOCK_SECONDS = 15 * 60
PRODUCT_DEFAULTS = {"description": "Energía Eléctrica Kilo Vatio hora (kWh)", "price_cents": "50000",
                    "vat_bp": "1900", "currency": "COP"}
LICENCE_FIELDS = ("holder", "expires_at", "max_customers", "invoice_first", "invoice_last")
SELLER_FIELDS = ("name", "address", "contact", "terms")
CUSTOMER_FIELDS = ("customer_id", "name", "phone", "email", "address", "meter_pan")


class Refused(ValueError):
    """A rule of the licence or of the roles said no; the message is for the person at the screen."""


class Records:
    def __init__(self, store):
        self.store = store

    # --- settings: product, licence, seller, the session secret -----------------------------

    def setting(self, name: str, default: str | None = None) -> str | None:
        rows = self.store.query("SELECT value FROM console_settings WHERE name = ?", (name,))
        return rows[0][0] if rows else default

    def set_settings(self, values: dict) -> None:
        for name, value in values.items():
            self.store.execute("INSERT INTO console_settings (name, value) VALUES (?, ?) ON CONFLICT (name) "
                               "DO UPDATE SET value = excluded.value", (name, str(value)))
        self.store.db.commit()

    def session_secret(self) -> str:
        """Signs the session cookies; made once, so sessions survive a restart."""
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

    def add_user(self, email: str, name: str, role: str, password: str) -> int:
        email = email.strip().lower()
        if "@" not in email:
            raise ValueError("email: must be an e-mail address, got %r" % email)
        if not name.strip():
            raise ValueError("name: must not be empty")
        if role not in (ADMIN, VENDOR):
            raise ValueError("role: must be admin or vendor, got %r" % role)
        passwords.check_strength(password)
        if self.store.query("SELECT 1 FROM console_users WHERE email = ?", (email,)):
            raise ValueError("email: a user with %s already exists" % email)
        self.store.execute("INSERT INTO console_users (email, name, role, password_hash, created_at) "
                           "VALUES (?, ?, ?, ?, ?)", (email, name.strip(), role, passwords.hashed(password),
                                                      int(time.time())))
        self.store.db.commit()
        return self.store.query("SELECT id FROM console_users WHERE email = ?", (email,))[0][0]

    def users(self) -> list:
        return [dict(zip(("id", "email", "name", "role"), row)) for row in self.store.query(
            "SELECT id, email, name, role FROM console_users ORDER BY id")]

    def user(self, user_id: int) -> dict | None:
        rows = self.store.query("SELECT id, email, name, role FROM console_users WHERE id = ?", (user_id,))
        return dict(zip(("id", "email", "name", "role"), rows[0])) if rows else None

    def login(self, email: str, password: str, now: float | None = None) -> dict:
        """The user, or Refused: wrong e-mail or password (one message for both), or locked after failures."""
        now = int(now if now is not None else time.time())
        rows = self.store.query("SELECT id, password_hash, failed_logins, locked_until FROM console_users "
                                "WHERE email = ?", (email.strip().lower(),))
        if not rows:
            passwords.matches(password, passwords.decoy())  # as long as a wrong password takes
            raise Refused("login.wrong")
        user_id, stored, failures, locked_until = rows[0]
        if locked_until > now:
            raise Refused("login.locked:" + _clock(locked_until))
        if not passwords.matches(password, stored):
            failures += 1
            locked_until = now + LOCK_SECONDS if failures >= LOCK_AFTER else 0
            self.store.execute("UPDATE console_users SET failed_logins = ?, locked_until = ? WHERE id = ?",
                               (0 if locked_until else failures, locked_until, user_id))
            self.store.db.commit()
            raise Refused("login.locked:" + _clock(locked_until) if locked_until else "login.wrong")
        self.store.execute("UPDATE console_users SET failed_logins = 0 WHERE id = ?", (user_id,))
        self.store.db.commit()
        return self.user(user_id)

    def change_password(self, user_id: int, current: str, new: str) -> None:
        stored = self.store.query("SELECT password_hash FROM console_users WHERE id = ?", (user_id,))[0][0]
        if not passwords.matches(current, stored):
            raise Refused("account.wrong")
        passwords.check_strength(new)
        self.store.execute("UPDATE console_users SET password_hash = ? WHERE id = ?", (passwords.hashed(new), user_id))
        self.store.db.commit()

    # --- customers -------------------------------------------------------------------------

    def customer(self, customer_id: str) -> dict | None:
        rows = self.store.query("SELECT %s, owner_id FROM customers WHERE customer_id = ?" % ", ".join(
            CUSTOMER_FIELDS), (customer_id.strip(),))
        return dict(zip(CUSTOMER_FIELDS + ("owner_id",), rows[0])) if rows else None

    def customers(self, search: str = "", limit: int = 200) -> list:
        """Customers whose identification or name contains `search` (any case), by name, at most `limit`."""
        pattern = "%" + search.strip().lower() + "%"
        return [dict(zip(CUSTOMER_FIELDS + ("owner_id",), row)) for row in self.store.query(
            "SELECT %s, owner_id FROM customers WHERE LOWER(customer_id) LIKE ? OR LOWER(name) LIKE ? "
            "ORDER BY name, customer_id LIMIT %d" % (", ".join(CUSTOMER_FIELDS), limit), (pattern, pattern))]

    def add_customer(self, fields: dict, owner_id: int) -> None:
        """Refused with the seed's messages for a known identification or a full licence."""
        values = _customer_fields(fields)
        if self.customer(values["customer_id"]):
            raise Refused("customer.exists")
        limit = self.licence()["max_customers"]
        count = self.store.query("SELECT COUNT(*) FROM customers")[0][0]
        if limit and count >= int(limit):
            raise Refused("customer.limit:" + limit)
        self.store.execute("INSERT INTO customers (%s, owner_id, smart, shared, bill_access, updated_at) "
                           "VALUES (%s, ?, 1, 0, 1, ?)" % (", ".join(CUSTOMER_FIELDS),
                                                           ", ".join("?" * len(CUSTOMER_FIELDS))),
                           tuple(values[k] for k in CUSTOMER_FIELDS) + (owner_id, int(time.time())))
        self.store.db.commit()

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
            raise Refused("licence.expired:" + _clock(int(licence["expires_at"])))
        if self.next_invoice_number() is None:
            raise Refused("licence.invoices")

    def next_invoice_number(self) -> int | None:
        licence = self.licence()
        first = int(licence["invoice_first"] or 1)
        last = int(licence["invoice_last"]) if licence["invoice_last"] else None
        newest = self.store.query("SELECT MAX(number) FROM invoices WHERE number >= ?", (first,))[0][0]
        number = first if newest is None else newest + 1
        return None if last is not None and number > last else number

    def record_sale(self, customer: dict, vendor: dict, product: dict, total_cents: int, tenths: int,
                    token: str) -> int:
        """The invoice and its charge in one transaction; its number."""
        number = self.next_invoice_number()
        if number is None:
            raise Refused("licence.invoices")
        now = int(time.time())
        vat = money.vat_inside(total_cents, product["vat_bp"])
        with self.store.transaction():
            self.store.execute("""INSERT INTO invoices (number, customer_id, vendor_id, issued_at, description,
                                  price_cents, vat_bp, currency, total_cents, vat_cents, kwh_tenths, meter_pan, token)
                                  VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                               (number, customer["customer_id"], vendor["id"], now, product["description"],
                                product["price_cents"], product["vat_bp"], product["currency"], total_cents, vat,
                                tenths, customer["meter_pan"], token))
            self.store.execute("INSERT INTO charges (customer_id, document, billed_at, amount_cents, currency, kwh) "
                               "VALUES (?, ?, ?, ?, ?, ?)", (customer["customer_id"], str(number), now, total_cents,
                                                             product["currency"], tenths / 10))
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
        raise ValueError("customer_id: must not be empty")
    if len(values["customer_id"]) > 40:
        raise ValueError("customer_id: must be at most 40 characters")
    if not values["name"]:
        raise ValueError("name: must not be empty")
    if values["email"] and "@" not in values["email"]:
        raise ValueError("email: must be an e-mail address, got %r" % values["email"])
    if values["meter_pan"]:
        try:
            check_pan(values["meter_pan"])
        except ValueError as exc:
            raise ValueError("meter_pan: " + str(exc).split(": ", 1)[1]) from None
    return {k: v or None for k, v in values.items()} | {"customer_id": values["customer_id"], "name": values["name"]}


def _clock(seconds: int) -> str:
    return datetime.datetime.fromtimestamp(seconds).strftime("%Y-%m-%d %H:%M:%S")
