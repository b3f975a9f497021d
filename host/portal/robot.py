"""A robot check for the portal's registration and login forms that needs no third-party service.

The Anexo 1 draws a "no soy un robot" box on both forms. Sending every visitor's address to
an outside service is not ours to do, so the check is made here from four parts:

- a small sum or difference ("7 + 5 = ?") drawn as an SVG of jittered strokes among noise
  lines (no <text>: the digits are lines, not characters to copy), with the same question in
  words ("¿Cuánto es siete más cinco?") for screen readers;
- a token that binds the answer to the form: its time, a random nonce, an HMAC of the answer
  and an HMAC over all of it with the server's secret, so it cannot be forged, altered or
  moved to another form, and says nothing of the answer without the secret;
- single use: a token is spent on its first check, right or wrong (a wrong answer gets a new
  question, so answers cannot be tried one by one on one token), and refused after `ttl`;
- a honeypot field (HONEYPOT) that people never see and form-filling bots fill, and a minimum
  time between drawing the form and sending it.

What it stops: scripts that post the form blindly, replay a captured form, fill every field,
or post faster than a person; and plain mass registration, which then has to be targeted at
this site. What it does not stop: a script written for this page (the question in words is
readable, by design, and the strokes are easy for a machine to read), or people paid to
answer. It is not a CAPTCHA against a determined attacker: logins still need their own
limits on failed attempts.

Spent tokens are kept in this process's memory until they expire (UsedTokens). Several server
processes (or machines) must share one store instead, e.g. a database table whose key is the
nonce: give RobotCheck any object with the same add(nonce, until, now) -> bool.
"""

import base64
import collections
import hashlib
import heapq
import hmac
import math
import secrets
import threading
import time
import xml.etree.ElementTree as ET

from opsm.host.portal import charts

HONEYPOT = "sitio_web"  # the hidden field's name: hide it with CSS, not type="hidden", which bots skip
WORDS = ("cero", "uno", "dos", "tres", "cuatro", "cinco", "seis", "siete", "ocho", "nueve", "diez", "once", "doce",
         "trece", "catorce", "quince", "dieciséis", "diecisiete", "dieciocho", "diecinueve", "veinte")
WIDTH, HEIGHT = 200, 64
# Strokes of each character on a 4 x 6 grid, y down
GLYPHS = {
    "0": [[(1, 0), (3, 0), (4, 1), (4, 5), (3, 6), (1, 6), (0, 5), (0, 1), (1, 0)]],
    "1": [[(1, 1), (2, 0), (2, 6)], [(1, 6), (3, 6)]],
    "2": [[(0, 1), (1, 0), (3, 0), (4, 1), (4, 2), (0, 6), (4, 6)]],
    "3": [[(0, 0), (4, 0), (2, 2.5), (3.5, 3), (4, 4.5), (3, 6), (1, 6), (0, 5)]],
    "4": [[(3, 6), (3, 0), (0, 4), (4, 4)]],
    "5": [[(4, 0), (0, 0), (0, 2.5), (3, 2.5), (4, 3.5), (4, 5), (3, 6), (0, 6)]],
    "6": [[(3.5, 0), (1, 0), (0, 1.5), (0, 5), (1, 6), (3, 6), (4, 5), (4, 3.5), (3, 2.5), (0, 2.8)]],
    "7": [[(0, 0), (4, 0), (1.5, 6)]],
    "8": [[(1, 3), (0, 2), (0, 1), (1, 0), (3, 0), (4, 1), (4, 2), (3, 3), (1, 3), (0, 4), (0, 5), (1, 6), (3, 6),
           (4, 5), (4, 4), (3, 3)]],
    "9": [[(4, 3.2), (1, 3.5), (0, 2.5), (0, 1), (1, 0), (3, 0), (4, 1), (4, 4.5), (3, 6), (0.5, 6)]],
    "+": [[(2, 1.5), (2, 4.5)], [(0.5, 3), (3.5, 3)]],
    "-": [[(0.5, 3), (3.5, 3)]],
    "=": [[(0.5, 2.2), (3.5, 2.2)], [(0.5, 3.8), (3.5, 3.8)]],
    "?": [[(0, 1), (1, 0), (3, 0), (4, 1), (4, 2), (2, 3.5), (2, 4.5)], [(2, 5.6), (2, 6)]],
}
INK = ("#1d2733", "#1f3b63", "#5b1f3b", "#1f5a3b")

Challenge = collections.namedtuple("Challenge", "token svg question")
Challenge.__doc__ = """What the form shows: the token (a hidden field), the drawn question (inline SVG) and the
question in words (for screen readers: the SVG's <title>, and a visually hidden label)."""


class RobotError(ValueError):
    """The check said no; str() is the message for the person, in Spanish."""


class UsedTokens:
    """Nonces of spent tokens, each kept until its token would have expired anyway."""

    def __init__(self):
        self._until, self._queue, self._lock = {}, [], threading.Lock()

    def add(self, nonce: str, until: float, now: float) -> bool:
        """Mark the nonce spent; False when it already was."""
        with self._lock:
            while self._queue and self._queue[0][0] <= now:
                self._until.pop(heapq.heappop(self._queue)[1], None)
            if nonce in self._until:
                return False
            self._until[nonce] = until
            heapq.heappush(self._queue, (until, nonce))
            return True


class RobotCheck:
    """The check of one form ("registro", "login"): challenge() when drawing it, check() when it comes back."""

    def __init__(self, secret: bytes, form: str, ttl: float = 900, min_seconds: float = 3,
                 used: UsedTokens | None = None, clock=time.time):
        if len(secret) < 16:
            raise ValueError("secret: must be 16 bytes or more")
        self.secret, self.form, self.ttl, self.min_seconds = secret, form, ttl, min_seconds
        self.used, self.clock = used or UsedTokens(), clock

    def challenge(self) -> Challenge:
        first, second = 2 + secrets.randbelow(19), 1 + secrets.randbelow(9)
        plus = secrets.randbelow(2) == 0 or second > first
        answer = first + second if plus else first - second
        issued, nonce = int(self.clock()), secrets.token_urlsafe(12)
        body = "%d.%s.%s" % (issued, nonce, self._mac("answer", nonce, str(answer)))
        question = "¿Cuánto es %s %s %s?" % (WORDS[first], "más" if plus else "menos", WORDS[second])
        return Challenge("%s.%s" % (body, self._mac("token", body)),
                         drawing("%d%s%d=?" % (first, "+" if plus else "-", second), question), question)

    def check(self, token: str, answer: str, honeypot: str = "") -> None:
        """None when a person seems to have filled the form; RobotError otherwise. Spends the token."""
        parts = token.split(".") if isinstance(token, str) else []
        if len(parts) != 4 or not parts[0].isdigit() or not hmac.compare_digest(
                parts[3], self._mac("token", ".".join(parts[:3]))):
            raise RobotError("El formulario no es válido; cárguelo de nuevo.")
        issued, nonce, answer_mac = int(parts[0]), parts[1], parts[2]
        now = self.clock()
        if now - issued > self.ttl:
            raise RobotError("El formulario expiró; responda la nueva pregunta.")
        if not self.used.add(nonce, issued + self.ttl, now):
            raise RobotError("Este formulario ya se envió; responda la nueva pregunta.")
        if honeypot:
            raise RobotError("No se pudo comprobar que una persona llenó el formulario.")
        if now - issued < self.min_seconds:
            raise RobotError("El formulario se envió demasiado rápido; espere unos segundos y vuelva a enviarlo.")
        if not hmac.compare_digest(answer_mac, self._mac("answer", nonce, (answer or "").strip())):
            raise RobotError("La respuesta no es correcta; responda la nueva pregunta.")

    def _mac(self, purpose: str, *parts: str) -> str:
        text = "|".join((purpose, self.form) + parts).encode()
        return base64.urlsafe_b64encode(hmac.digest(self.secret, text, hashlib.sha256)[:18]).decode()


def drawing(text: str, question: str) -> str:
    """`text` as jittered strokes among noise curves: an inline <svg>, named by `question`."""
    rand = secrets.SystemRandom()
    root = charts.svg_root(WIDTH, HEIGHT, question, "Pregunta dibujada; la misma pregunta está escrita en el título.",
                           "robot-" + secrets.token_hex(4))
    charts.element(root, "rect", width=WIDTH, height=HEIGHT, fill="#f3f5f8")
    for _ in range(5):  # noise under and over the strokes alike
        curve = (0, rand.uniform(0, HEIGHT), rand.uniform(40, 90), rand.uniform(-20, HEIGHT + 20),
                 rand.uniform(110, 160), rand.uniform(-20, HEIGHT + 20), WIDTH, rand.uniform(0, HEIGHT))
        charts.element(root, "path", fill="none", stroke="#8a94a0", stroke_width=rand.uniform(0.8, 1.6),
                       d="M%.1f %.1f C%.1f %.1f %.1f %.1f %.1f %.1f" % curve)
    step = (WIDTH - 20) / len(text)
    for n, char in enumerate(text):
        size, angle = rand.uniform(5.5, 7), math.radians(rand.uniform(-14, 14))
        left, top = 10 + n * step + rand.uniform(0, step - 4 * size * 0.7), rand.uniform(6, HEIGHT - 6 * size - 6)
        for stroke in GLYPHS[char]:
            points = []
            for x, y in stroke:
                x, y = (x - 2 + rand.uniform(-0.25, 0.25)) * size * 0.7, (y - 3 + rand.uniform(-0.25, 0.25)) * size
                points.append("%.1f,%.1f" % (left + 2 * size * 0.7 + x * math.cos(angle) - y * math.sin(angle),
                                             top + 3 * size + x * math.sin(angle) + y * math.cos(angle)))
            charts.element(root, "polyline", fill="none", stroke=rand.choice(INK), stroke_width=rand.uniform(2, 3),
                           stroke_linecap="round", stroke_linejoin="round", points=" ".join(points))
    for _ in range(40):
        charts.element(root, "circle", cx=rand.uniform(0, WIDTH), cy=rand.uniform(0, HEIGHT),
                       r=rand.uniform(0.5, 1.5), fill=rand.choice(INK))
    return ET.tostring(root, encoding="unicode")
