"""The information platform's accounts: a profile each (publico, cliente, eg, sec), and for a cliente or an eg
the customer whose pages it opens; their sessions; the robot check's spent tokens (every server process shares
them, so a form is sent once whichever process it reaches).

Password hashes come in ready (host/console/passwords.py hashes them); so do session digests and times
(host/sessions.py keeps the rules, as for the console's sessions). Failed logins are counted in the
console's throttle table under any name the caller chooses (ConsoleTables.login_failures,
count_login_failure, forget_login_failures): the platform's names start with "portal:", so its accounts
and the console's never share a count.
"""

from opsm.host.store.database import AlreadyStored, unique_violation

PROFILES = ("publico", "cliente", "eg", "sec")
USER_FIELDS = ("id", "name", "email", "rut", "profile", "customer_id", "created_at")


class PortalUserTables:
    def add_portal_user(self, name: str, password_hash: str, email: str | None, rut: str | None, profile: str,
                        customer_id: str | None, created_at: int) -> int:
        """The new account's id; AlreadyStored when the name is taken."""
        try:
            with self.transaction():
                self.execute("INSERT INTO portal_users (name, password_hash, email, rut, profile, customer_id, "
                             "created_at) VALUES (?, ?, ?, ?, ?, ?, ?)",
                             (name, password_hash, email, rut, profile, customer_id, created_at))
        except Exception as exc:
            if not unique_violation(exc):
                raise
            raise AlreadyStored({"name": name}) from None
        return self.query("SELECT id FROM portal_users WHERE name = ?", (name,))[0][0]

    def portal_users(self) -> list:
        """Every account (USER_FIELDS), by id."""
        return self.dicts("SELECT %s FROM portal_users ORDER BY id" % ", ".join(USER_FIELDS))

    def portal_user(self, user_id: int) -> dict | None:
        rows = self.dicts("SELECT %s FROM portal_users WHERE id = ?" % ", ".join(USER_FIELDS), (user_id,))
        return rows[0] if rows else None

    def portal_credentials(self, name: str) -> tuple:
        """(account, password hash) of the account named `name`; (None, None) when there is none."""
        rows = self.dicts("SELECT %s, password_hash FROM portal_users WHERE name = ?" % ", ".join(USER_FIELDS),
                          (name,))
        if not rows:
            return None, None
        return {field: rows[0][field] for field in USER_FIELDS}, rows[0]["password_hash"]

    def set_portal_password(self, user_id: int, password_hash: str) -> None:
        """A new password hash, and every session of the account ended, together."""
        with self.transaction():
            self.execute("UPDATE portal_users SET password_hash = ? WHERE id = ?", (password_hash, user_id))
            self.execute("DELETE FROM portal_sessions WHERE user_id = ?", (user_id,))

    # --- sessions, by the digest of their cookie's id ------------------------------------

    def start_portal_session(self, session_id: str, user_id: int, csrf: str, now: int, started_before: int,
                             seen_before: int) -> None:
        """A new session; those started or last seen at those times or earlier are swept in the same transaction."""
        with self.transaction():
            self.execute("DELETE FROM portal_sessions WHERE created_at <= ? OR seen_at <= ?",
                         (started_before, seen_before))
            self.execute("INSERT INTO portal_sessions (id, user_id, csrf, created_at, seen_at) VALUES (?, ?, ?, ?, ?)",
                         (session_id, user_id, csrf, now, now))

    def portal_session(self, session_id: str) -> tuple | None:
        """(account id, CSRF token, started at, last seen at) of the session."""
        rows = self.query("SELECT user_id, csrf, created_at, seen_at FROM portal_sessions WHERE id = ?",
                          (session_id,))
        return rows[0] if rows else None

    def touch_portal_session(self, session_id: str, now: int) -> None:
        with self.transaction():
            self.execute("UPDATE portal_sessions SET seen_at = ? WHERE id = ?", (now, session_id))

    def end_portal_session(self, session_id: str) -> None:
        with self.transaction():
            self.execute("DELETE FROM portal_sessions WHERE id = ?", (session_id,))

    # --- the robot check's spent tokens --------------------------------------------------

    def spend_robot_token(self, nonce: str, expires_at: float, now: float) -> bool:
        """Mark the token spent; False when it already was. Those expired at `now` are forgotten first."""
        try:
            with self.transaction():
                self.execute("DELETE FROM portal_robot_tokens WHERE expires_at <= ?", (now,))
                self.execute("INSERT INTO portal_robot_tokens (nonce, expires_at) VALUES (?, ?)", (nonce, expires_at))
        except Exception as exc:
            if not unique_violation(exc):
                raise
            return False
        return True
