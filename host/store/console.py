"""The vending console's tables: settings, accounts, sessions, the login throttle, customers, invoices.

Hashes, session digests and times come in ready (host/console/records.py makes them); the
rules about them live there. A sale is written while no other connection sells (sell_once).
"""

USER_FIELDS = ("id", "email", "name", "role", "locked")
CUSTOMER_FIELDS = ("customer_id", "name", "phone", "email", "address", "meter_pan")  # what the console edits
_INVOICE_COLUMNS = ("number", "customer_id", "vendor_id", "issued_at", "description", "price_cents", "vat_bp",
                    "currency", "total_cents", "vat_cents", "kwh_tenths", "meter_pan", "token")
_INVOICE_FIELDS = _INVOICE_COLUMNS + ("customer_name", "phone", "vendor_name")


class ConsoleTables:
    # --- settings ------------------------------------------------------------------------

    def console_setting(self, name: str) -> str | None:
        rows = self.query("SELECT value FROM console_settings WHERE name = ?", (name,))
        return rows[0][0] if rows else None

    def set_console_settings(self, values: dict) -> None:
        with self.transaction():
            for name, value in values.items():
                self.execute("INSERT INTO console_settings (name, value) VALUES (?, ?) ON CONFLICT (name) "
                             "DO UPDATE SET value = excluded.value", (name, str(value)))

    # --- accounts ------------------------------------------------------------------------

    def add_console_user(self, email: str, name: str, role: str, password_hash: str, created_at: int) -> int:
        """The new account's id."""
        with self.transaction():
            self.execute("INSERT INTO console_users (email, name, role, password_hash, created_at) "
                         "VALUES (?, ?, ?, ?, ?)", (email, name, role, password_hash, created_at))
            return self.query("SELECT id FROM console_users WHERE email = ?", (email,))[0][0]

    def console_users(self) -> list:
        return [dict(zip(USER_FIELDS, row)) for row in self.query(
            "SELECT %s FROM console_users ORDER BY id" % ", ".join(USER_FIELDS))]

    def console_user(self, user_id: int) -> dict | None:
        rows = self.query("SELECT %s FROM console_users WHERE id = ?" % ", ".join(USER_FIELDS), (user_id,))
        return dict(zip(USER_FIELDS, rows[0])) if rows else None

    def console_credentials(self, email: str) -> tuple:
        """(account, password hash) of the account with `email`; (None, None) when there is none."""
        rows = self.query("SELECT %s, password_hash FROM console_users WHERE email = ?" % ", ".join(USER_FIELDS),
                          (email,))
        return (dict(zip(USER_FIELDS, rows[0][:-1])), rows[0][-1]) if rows else (None, None)

    def console_password_hash(self, user_id: int) -> str:
        return self.query("SELECT password_hash FROM console_users WHERE id = ?", (user_id,))[0][0]

    def set_console_password(self, user_id: int, password_hash: str) -> None:
        """A new password hash, and every session of the account ended, together."""
        with self.transaction():
            self.execute("UPDATE console_users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
            self.execute("DELETE FROM console_sessions WHERE user_id = ?", (user_id,))

    def set_console_user_locked(self, user_id: int, locked: bool) -> None:
        """Lock (and end every session of) or unlock the account, together."""
        with self.transaction():
            self.execute("UPDATE console_users SET locked = ? WHERE id = ?", (int(locked), user_id))
            if locked:
                self.execute("DELETE FROM console_sessions WHERE user_id = ?", (user_id,))

    # --- sessions, by the digest of their cookie's id ------------------------------------

    def start_console_session(self, session_id: str, user_id: int, csrf: str, now: int, started_before: int,
                              seen_before: int) -> None:
        """A new session; those started or last seen at those times or earlier are swept in the same transaction."""
        with self.transaction():
            self.execute("DELETE FROM console_sessions WHERE created_at <= ? OR seen_at <= ?",
                         (started_before, seen_before))
            self.execute("INSERT INTO console_sessions (id, user_id, csrf, created_at, seen_at) VALUES (?, ?, ?, ?, ?)",
                         (session_id, user_id, csrf, now, now))

    def console_session(self, session_id: str) -> tuple | None:
        """(user id, CSRF token, started at, last seen at) of the session."""
        rows = self.query("SELECT user_id, csrf, created_at, seen_at FROM console_sessions WHERE id = ?",
                          (session_id,))
        return rows[0] if rows else None

    def touch_console_session(self, session_id: str, now: int) -> None:
        with self.transaction():
            self.execute("UPDATE console_sessions SET seen_at = ? WHERE id = ?", (now, session_id))

    def end_console_session(self, session_id: str) -> None:
        with self.transaction():
            self.execute("DELETE FROM console_sessions WHERE id = ?", (session_id,))

    # --- failed logins, per name; times in milliseconds ---------------------------------

    def login_failures(self, name: str) -> tuple | None:
        """(failures in a row, time of the last) under `name`."""
        rows = self.query("SELECT failures, last_at FROM console_throttle WHERE name = ?", (name,))
        return rows[0] if rows else None

    def count_login_failure(self, names: tuple, now_ms: int, forget_before_ms: int) -> None:
        """One more failure under each name, at `now_ms`; names whose last failure is older than
        `forget_before_ms` are forgotten first, in the same transaction."""
        with self.transaction():
            self.execute("DELETE FROM console_throttle WHERE last_at < ?", (forget_before_ms,))
            for name in names:
                self.execute("INSERT INTO console_throttle (name, failures, last_at) VALUES (?, 1, ?) "
                             "ON CONFLICT (name) DO UPDATE SET failures = console_throttle.failures + 1, "
                             "last_at = excluded.last_at", (name, now_ms))

    def forget_login_failures(self, reset: tuple, undo: tuple) -> None:
        """The failures under `reset` forgotten, one taken back under each of `undo`, together."""
        with self.transaction():
            for name in reset:
                self.execute("DELETE FROM console_throttle WHERE name = ?", (name,))
            for name in undo:
                self.execute("UPDATE console_throttle SET failures = failures - 1 WHERE name = ? AND failures > 0",
                             (name,))

    # --- customers -----------------------------------------------------------------------

    def console_customer(self, customer_id: str) -> dict | None:
        """CUSTOMER_FIELDS and owner_id of the customer."""
        rows = self.query("SELECT %s, owner_id FROM customers WHERE customer_id = ?" % ", ".join(CUSTOMER_FIELDS),
                          (customer_id,))
        return dict(zip(CUSTOMER_FIELDS + ("owner_id",), rows[0])) if rows else None

    def console_customers(self, search: str, seller_id: int | None, limit: int) -> list:
        """Customers whose identification or name contains `search` (any case), by name, at most `limit`; with
        `seller_id`, only those that account registered or sold to."""
        pattern = "%" + search.strip().lower() + "%"
        where, params = "(LOWER(customer_id) LIKE ? OR LOWER(name) LIKE ?)", [pattern, pattern]
        if seller_id is not None:
            where += (" AND (owner_id = ? OR EXISTS (SELECT 1 FROM invoices i WHERE i.vendor_id = ? AND "
                      "i.customer_id = customers.customer_id))")
            params += [seller_id, seller_id]
        return [dict(zip(CUSTOMER_FIELDS + ("owner_id",), row)) for row in self.query(
            "SELECT %s, owner_id FROM customers WHERE %s ORDER BY name, customer_id LIMIT %d" % (
                ", ".join(CUSTOMER_FIELDS), where, limit), params)]

    def sold_to(self, vendor_id: int, customer_id: str) -> bool:
        return bool(self.query("SELECT 1 FROM invoices WHERE vendor_id = ? AND customer_id = ? LIMIT 1",
                               (vendor_id, customer_id)))

    def customer_count(self) -> int:
        return self.query("SELECT COUNT(*) FROM customers")[0][0]

    def add_console_customers(self, customers: list, owner_id: int, now: int) -> None:
        """Customers (dicts of CUSTOMER_FIELDS) registered by the account `owner_id`, in one transaction."""
        with self.transaction():
            for values in customers:
                self.execute("INSERT INTO customers (%s, owner_id, smart, shared, bill_access, updated_at) "
                             "VALUES (%s, ?, 1, 0, 1, ?)" % (", ".join(CUSTOMER_FIELDS),
                                                             ", ".join("?" * len(CUSTOMER_FIELDS))),
                             tuple(values[k] for k in CUSTOMER_FIELDS) + (owner_id, now))

    def update_console_customer(self, values: dict, now: int) -> None:
        """The customer's CUSTOMER_FIELDS set to `values` (its customer_id says which)."""
        with self.transaction():
            self.execute("UPDATE customers SET %s, updated_at = ? WHERE customer_id = ?" % ", ".join(
                "%s = ?" % k for k in CUSTOMER_FIELDS[1:]), tuple(values[k] for k in CUSTOMER_FIELDS[1:]) + (
                now, values["customer_id"]))

    # --- invoices ------------------------------------------------------------------------

    def newest_invoice_number(self, first: int) -> int | None:
        """The highest invoice number from `first` on; None before the first such invoice."""
        return self.query("SELECT MAX(number) FROM invoices WHERE number >= ?", (first,))[0][0]

    def sell_once(self, key: str, new_invoice) -> dict:
        """The invoice (number, vendor_id, customer_id, total_cents) of the sale of the form with `key`.

        The first time, new_invoice() makes the sale and gives the invoice (a dict of its columns); it is written
        with the key, and as a charge of its customer, while no other connection sells (another console process
        waits), so a key sells once however often, and however fast, its form comes back. What new_invoice()
        raises writes nothing."""
        with self.exclusive("console.sales"):
            rows = self.query("SELECT number, vendor_id, customer_id, total_cents FROM invoices WHERE sale_key = ?",
                              (key,))
            if rows:
                return dict(zip(("number", "vendor_id", "customer_id", "total_cents"), rows[0]))
            invoice = new_invoice()
            self.execute("INSERT INTO invoices (%s, sale_key) VALUES (%s, ?)" % (
                ", ".join(_INVOICE_COLUMNS), ", ".join("?" * len(_INVOICE_COLUMNS))),
                tuple(invoice[k] for k in _INVOICE_COLUMNS) + (key,))
            self.execute("INSERT INTO charges (customer_id, document, billed_at, amount_cents, currency, kwh) "
                         "VALUES (?, ?, ?, ?, ?, ?)", (invoice["customer_id"], str(invoice["number"]),
                                                       invoice["issued_at"], invoice["total_cents"],
                                                       invoice["currency"], invoice["kwh_tenths"] / 10))
        return {k: invoice[k] for k in ("number", "vendor_id", "customer_id", "total_cents")}

    def invoice(self, number: int) -> dict | None:
        rows = self._invoices("WHERE i.number = ?", (number,))
        return rows[0] if rows else None

    def invoices(self, vendor_id: int | None, customer_id: str | None, first: int, end: int) -> list:
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
        rows = self.query("""SELECT i.number, i.customer_id, i.vendor_id, i.issued_at, i.description,
                             i.price_cents, i.vat_bp, i.currency, i.total_cents, i.vat_cents, i.kwh_tenths,
                             i.meter_pan, i.token, c.name, c.phone, u.name
                             FROM invoices i JOIN customers c ON c.customer_id = i.customer_id
                             JOIN console_users u ON u.id = i.vendor_id %s ORDER BY i.number DESC""" % where, params)
        return [dict(zip(_INVOICE_FIELDS, row)) for row in rows]
