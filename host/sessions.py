"""Sessions a web app keeps in the operations database, so a restart keeps them and several server processes
share them: the vending console's rules, for any app whose store has a table of them (the information platform's).

The cookie holds a random id; the store only its SHA-256 (the table holds no live cookie), with the account's id,
the session's CSRF token, when it started and when it was last seen. A session ends at logout, `lifetime` seconds
after login or `idle` seconds after its last request; an ended one is deleted when found, and every ended one when
a new one starts. The last request is written at most once a minute: reading a page seldom writes.
"""

import hashlib
import secrets
import time

TOUCH_SECONDS = 60


class SessionTable:
    """One app's sessions over its store's four methods: start(digest, account id, csrf, now, started_before,
    seen_before) sweeping those started or seen at those times or earlier, find(digest) -> (account id, csrf,
    started at, seen at) or None, touch(digest, now), end(digest)."""

    def __init__(self, start, find, touch, end, lifetime: int, idle: int, clock=time.time):
        self._start, self._find, self._touch, self._end = start, find, touch, end
        self.lifetime, self.idle, self.clock = lifetime, idle, clock

    def open(self, account_id: int) -> tuple:
        """(the cookie's session id, the session's CSRF token) of a new session."""
        now = int(self.clock())
        token, csrf = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
        self._start(digest(token), account_id, csrf, now, now - self.lifetime, now - self.idle)
        return token, csrf

    def find(self, token: str) -> tuple | None:
        """(account id, CSRF token) of the live session with this cookie id; None otherwise."""
        found = self._find(digest(token)) if token else None
        if found is None:
            return None
        account_id, csrf, started_at, seen_at = found
        now = int(self.clock())
        if started_at <= now - self.lifetime or seen_at <= now - self.idle:
            self.close(token)
            return None
        if now - seen_at >= TOUCH_SECONDS:
            self._touch(digest(token), now)
        return account_id, csrf

    def close(self, token: str) -> None:
        self._end(digest(token))


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()
