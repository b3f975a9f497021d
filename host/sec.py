"""The feed a Chilean distributor sends to SEC's public-information platform (Anexo 1, sections 2 to 6).

The document (host/schemas/sec-feed.schema.json, whose version every header carries) is a header and a list of
operations on records. Each record has a type, a key that never changes and data, kept fine-grained so that
one changed element, bill or reading changes one record: the network's (host/sec_network.py: regions down to
poles, spans and equipment, VNR codes, demands) and each customer's (host/sec_customers.py: the customer, the
supply, months of consumption and charges, bills and annexes and documents as references, the EG's contract
and remanentes, the meter's registers). A feed holds the whole network and the customers whose distributor
is the feed's, or who name none.

The initial load ("carga inicial") lists every record as an insert; `--initial` when a feed
already exists starts it anew. A delta compares the records with the digests of what SEC
holds (sec_records): insert for a new key, update with the full new data, delete with the
key only. The document is checked against the schema before it leaves, and the state
advances only once the file is written whole or the receiver acknowledged the POST: a failed
delivery is rebuilt the same (batch number, operations, Idempotency-Key).

A POST goes over https only (plain http with --insecure-http, for tests), carries a bearer
token (from a 0600 file or OPSM_SEC_TOKEN, never the command line) and/or a TLS client
certificate, is never redirected, and counts as delivered only when the answer is the
acknowledgement (class Acknowledgement: by default HTTP 200/201/202 and
{"status": "ok"|"accepted", "batch": <the batch>, "received": <the number of operations>};
SEC's document leaves the web service "por definir", so --ack-spec adapts it).
"""

import dataclasses
import datetime
import email.utils
import functools
import hashlib
import http.client
import json
import os
import pathlib
import re
import ssl
import stat
import time
import urllib.error
import urllib.parse
import urllib.request

import jsonschema

from opsm.host import outfile, sec_customers, sec_network
from opsm.host.sec_customers import utc_text

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent / "schemas" / "sec-feed.schema.json"
SCHEMA_VERSION = 2  # the schema's $id urn:opsm:sec-feed:2; a change of the records' shape is a new version
OPS = ("insert", "update", "delete")
UNITS = sec_customers.UNITS  # OBIS -> the unit name registro records carry (tests/host/test_register_map.py)
# every record type, parents first: inserts go in this order, deletes in the reverse (children first)
TYPES = ("vnr", "region", "comuna", "subestacion", "alimentador", "demanda_alimentador", "poste", "transformador",
         "demanda_transformador", "vano", "equipo", "cliente", "suministro", "consumo_cargo", "consumo_inyeccion",
         "boleta", "contrato_eg", "remanente", "documento", "registro")
_RANK = {record_type: rank for rank, record_type in enumerate(TYPES)}
BACKOFF_S = 0.5
MAX_WAIT_S = 300.0  # the longest wait between attempts, whatever a Retry-After asks: a daily job must end


def canonical(value) -> str:
    """One text per value (sorted keys, no spaces): what record keys and digests are made of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(value) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def record_key(record_type: str, key: dict) -> str:
    """The stored identity of a record (sec_records.record_key); a delete is rebuilt from it."""
    return canonical({"type": record_type, "key": key})


# --- the records -------------------------------------------------------------------------

def as_of_date(text: str) -> datetime.date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError("date: must be YYYY-MM-DD, got %r" % text) from None


def default_distributor(store) -> str:
    """The one distributor the customer register names; any other feed needs --distributor."""
    names = store.distributors()
    if len(names) != 1:
        named = "several (%s)" % ", ".join(names) if names else "none"
        raise ValueError("distributor: the customer register names %s; give the feed's with --distributor NAME"
                         % named)
    return names[0]


def records(store, distributor: str, as_of: datetime.date) -> list:
    """Every record of the feed, by type in the order of TYPES."""
    out, meters = sec_network.network_records(store, as_of), set()
    for customer in sec_customers.customers(store, distributor):
        out += sec_customers.customer_records(store, customer, as_of)
        if customer["device_id"]:
            meters.add(customer["device_id"])  # a shared meter's registers are listed once
    for device in sorted(meters):
        out += sec_customers.register_records(store, device, as_of)
    return sorted(out, key=lambda record: _RANK[record.type])  # stable: each type keeps the order it was read in


# --- the document ------------------------------------------------------------------------

def last_batch(store):
    return store.last_sec_batch()


def check_delta(store, distributor: str) -> None:
    """A delta continues a feed: it needs a delivered initial load, for the same distributor."""
    initial = store.sec_initial_distributor()
    if initial is None:
        raise ValueError("delta: no initial load was delivered yet; send one with --initial first")
    if initial != distributor:
        raise ValueError("distributor: the feed's initial load was for %r, got %r (an --initial load starts the "
                         "feed anew)" % (initial, distributor))


def _children_first(key: str) -> tuple:
    return -_RANK[json.loads(key)["type"]], key


def operations(built: list, held: dict) -> list:
    """insert for a key SEC does not hold, update for one whose data changed, delete for one no longer built."""
    out = []
    for record in built:
        digest = held.get(record_key(record.type, record.key))
        if digest is None:
            out.append(record.operation("insert"))
        elif digest != sha256(record.data):
            out.append(record.operation("update"))
    gone = held.keys() - {record_key(record.type, record.key) for record in built}
    return out + [{"op": "delete", **json.loads(key)} for key in sorted(gone, key=_children_first)]


def build(store, kind: str, as_of: datetime.date, distributor: str | None = None) -> dict:
    """The feed document of a batch: every record ("initial") or the changes since what SEC holds ("delta")."""
    distributor = distributor or default_distributor(store)
    held: dict = {}
    if kind == "delta":
        check_delta(store, distributor)
        held = store.sec_held()
    ops = operations(records(store, distributor, as_of), held)
    previous = last_batch(store)
    header = {"schema_version": SCHEMA_VERSION, "distributor": distributor, "generated_at": utc_text(time.time()),
              "as_of": as_of.isoformat(), "kind": kind, "batch": (previous or 0) + 1, "previous_batch": previous,
              "counts": {op: sum(1 for o in ops if o["op"] == op) for op in OPS}}
    return {"header": header, "operations": ops}


@functools.cache
def validator() -> jsonschema.Draft202012Validator:
    schema = json.loads(SCHEMA_PATH.read_text(encoding="utf-8"))
    return jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER)


def validate(document: dict) -> None:
    """Refuse what SEC's schema would: nothing leaves that does not match host/schemas/sec-feed.schema.json."""
    error = jsonschema.exceptions.best_match(validator().iter_errors(document))
    if error is None:
        return
    path = list(error.absolute_path)
    where = "/".join(str(part) for part in path) or "document"
    if len(path) > 1 and path[0] == "operations":
        operation = document["operations"][path[1]]
        where += " (%s %s)" % (operation.get("type"), canonical(operation.get("key")))
    raise ValueError("%s: %s, by host/schemas/sec-feed.schema.json" % (where, error.message))


def body(document: dict) -> bytes:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def idempotency_key(document: dict) -> str:
    """The same for every delivery of a batch (its generation time left out), so a receiver knows a retry."""
    header = {name: value for name, value in document["header"].items() if name != "generated_at"}
    content = sha256({"header": header, "operations": document["operations"]})
    return "opsm-sec-%d-%s" % (document["header"]["batch"], content[:32])


def remember(store, document: dict, destination: str) -> None:
    """Make a delivered batch what the next delta is computed against, in one transaction."""
    ops = document["operations"]
    store.record_sec_batch(document["header"], destination,
                           dropped=[record_key(op["type"], op["key"]) for op in ops if op["op"] != "insert"],
                           held=[(record_key(op["type"], op["key"]), sha256(op["data"]))
                                 for op in ops if op["op"] != "delete"])


def export(store, kind: str, as_of: datetime.date, distributor: str | None, deliver) -> dict:
    """Build, check, deliver (deliver(document) -> where it went), then remember; the header and destination.

    Nothing is remembered unless the delivery succeeded (the file written whole, the POST acknowledged). When
    remembering fails, a written file is taken back (deliver.undo), so the folder never holds a batch the
    database does not; an acknowledged POST cannot be taken back, and the next run sends the same batch again."""
    document = build(store, kind, as_of, distributor)
    validate(document)
    destination = deliver(document)
    try:
        remember(store, document, destination)
    except BaseException as exc:
        undo = getattr(deliver, "undo", None)
        if undo is not None:
            undo(destination)
        if isinstance(exc, ValueError) or not isinstance(exc, Exception):
            raise
        batch, reason = document["header"]["batch"], str(exc) or type(exc).__name__
        if undo is not None:
            raise ValueError("db: cannot record batch %d as delivered: %s; %s was removed"
                             % (batch, reason, destination)) from exc
        raise ValueError("db: %s acknowledged batch %d but recording it failed: %s; the next run sends it again "
                         "with the same Idempotency-Key" % (destination, batch, reason)) from exc
    return dict(document["header"], destination=destination)


# --- delivery to a folder ----------------------------------------------------------------

def write(folder: str, document: dict) -> str:
    """The document as sec-KIND-DATE-BATCH.json in folder, whole or not at all; its path."""
    header = document["header"]
    path = os.path.join(folder, "sec-%s-%s-%06d.json" % (header["kind"], header["as_of"], header["batch"]))
    with outfile.replacing(path) as temporary:
        with open(temporary, "wb") as out:
            out.write(body(document))
    return path


class FileDelivery:
    """deliver() for --out: the document written whole (host/outfile.replacing); undo() takes it back."""

    def __init__(self, folder: str):
        self.folder = folder

    def __call__(self, document: dict) -> str:
        return write(self.folder, document)

    def undo(self, path: str) -> None:
        try:
            os.unlink(path)
        except FileNotFoundError:
            pass
        except OSError as exc:
            raise ValueError("out: cannot remove %s, a batch not recorded as delivered: %s; remove it by hand"
                             % (path, exc.strerror)) from None


def writer(folder: str) -> FileDelivery:
    return FileDelivery(folder)


# --- delivery to a receiver --------------------------------------------------------------

TOKEN_ENV = "OPSM_SEC_TOKEN"
_BEARER = re.compile(r"[A-Za-z0-9\-._~+/]+=*")  # RFC 6750 b64token: nothing that could break the header
ACK_BYTES = 64 * 1024  # the longest answer read: an acknowledgement is a few fields


def _shown(value) -> str:
    text = json.dumps(value, ensure_ascii=False) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _either(values) -> str:
    values = [repr(v) if isinstance(v, str) else str(v) for v in values]
    return values[0] if len(values) == 1 else "%s or %s" % (", ".join(values[:-1]), values[-1])


_MISSING = object()


def _field(answer: dict, name: str):
    """The value at a field name, dots going into nested objects; _MISSING when absent."""
    value = answer
    for part in name.split("."):
        if not isinstance(value, dict) or part not in value:
            return _MISSING
        value = value[part]
    return value


@dataclasses.dataclass(frozen=True)
class Acknowledgement:
    """What the receiver must answer for a batch to count as delivered.

    SEC's document leaves the web service's format to be defined ("por definir por la SEC"), so the default
    is ours: HTTP 200, 201 or 202 with a JSON object {"status": "ok" | "accepted", "batch": <the header's
    batch>, "received": <the number of operations sent>}. The batch and the count must echo what was sent, so
    an answer from anything but a receiver that read this batch (a proxy's page, a login form, another
    batch's reply) is no delivery. --ack-spec FILE (JSON, the fields below, dots for nested fields) adapts
    it to the receiver SEC puts in place."""

    http_status: tuple = (200, 201, 202)
    status_field: str = "status"
    status_values: tuple = ("ok", "accepted")
    batch_field: str = "batch"
    received_field: str = "received"

    @classmethod
    def load(cls, path: str) -> "Acknowledgement":
        try:
            with open(path, encoding="utf-8") as f:
                spec = json.load(f)
        except OSError as exc:
            raise ValueError("ack-spec: cannot read %s: %s" % (path, exc.strerror)) from None
        except ValueError:
            raise ValueError("ack-spec: %s is not JSON" % path) from None
        if not isinstance(spec, dict):
            raise ValueError("ack-spec: %s must hold a JSON object" % path)
        known = [field.name for field in dataclasses.fields(cls)]
        for name in spec:
            if name not in known:
                raise ValueError("ack-spec: unknown field %r (known: %s)" % (name, ", ".join(known)))
        codes = spec.get("http_status", list(cls.http_status))
        if not (isinstance(codes, list) and codes and all(
                isinstance(c, int) and not isinstance(c, bool) and 200 <= c <= 299 for c in codes)):
            raise ValueError("ack-spec: http_status: must be a list of 2xx codes, got %s" % _shown(codes))
        values = spec.get("status_values", list(cls.status_values))
        if not (isinstance(values, list) and values and all(isinstance(v, str) and v for v in values)):
            raise ValueError("ack-spec: status_values: must be a list of strings, got %s" % _shown(values))
        names = {}
        for name in ("status_field", "batch_field", "received_field"):
            value = spec.get(name, getattr(cls, name))
            if not (isinstance(value, str) and value and all(value.split("."))):
                raise ValueError("ack-spec: %s: must be a field name (dots for nested fields), got %s"
                                 % (name, _shown(value)))
            names[name] = value
        return cls(http_status=tuple(codes), status_values=tuple(values), **names)

    def problem(self, status: int, raw: bytes, document: dict) -> str | None:
        """Why the answer does not acknowledge the document; None when it does."""
        if status not in self.http_status:
            return "HTTP %d is not an acknowledgement (expected %s)" % (status, _either(self.http_status))
        if len(raw) > ACK_BYTES:
            return "the answer is longer than %d KiB" % (ACK_BYTES // 1024)
        try:
            answer = json.loads(raw.decode("utf-8"))
        except ValueError:
            return "the answer is not JSON: %s" % first_line(raw)
        if not isinstance(answer, dict):
            return "the answer is not a JSON object"
        expected = ((self.status_field, None, None),
                    (self.batch_field, document["header"]["batch"], "must echo the batch sent, %d"),
                    (self.received_field, len(document["operations"]),
                     "must echo the count of operations sent, %d"))
        for name, wanted, rule in expected:
            value = _field(answer, name)
            if value is _MISSING:
                return "%s: missing" % name
            if wanted is None:
                if value not in self.status_values or not isinstance(value, str):
                    return "%s: must be %s, got %s" % (name, _either(self.status_values), _shown(value))
            elif not (isinstance(value, int) and not isinstance(value, bool) and value == wanted):
                return "%s: %s, got %s" % (name, rule % wanted, _shown(value))
        return None


def _private_file(option: str, path: str) -> None:
    """Refuse a secret (token, private key) that group or others may read (POSIX)."""
    try:
        mode = stat.S_IMODE(os.stat(path).st_mode)
    except OSError as exc:
        raise ValueError("%s: cannot read %s: %s" % (option, path, exc.strerror)) from None
    if os.name != "nt" and mode & 0o077:
        raise ValueError("%s: %s has mode 0%o: others could read the secret in it; allow its owner only with: "
                         "chmod 600 %s" % (option, path, mode, path))


def bearer_token(token_file: str | None, environ=None) -> str | None:
    """The bearer token from token_file (mode 0600) or OPSM_SEC_TOKEN, never from the command line; None without."""
    environ = os.environ if environ is None else environ
    from_environment = environ.get(TOKEN_ENV)
    if token_file is not None and from_environment is not None:
        raise ValueError("token: give --token-file or %s, not both" % TOKEN_ENV)
    if token_file is not None:
        _private_file("token-file", token_file)
        try:
            with open(token_file, encoding="utf-8") as f:
                text = f.read(4096)
        except (OSError, UnicodeDecodeError) as exc:
            raise ValueError("token-file: cannot read %s: %s" % (token_file, getattr(exc, "strerror", None) or
                                                                  "not UTF-8 text")) from None
        source = "token-file: %s" % token_file
    elif from_environment is not None:
        text, source = from_environment, TOKEN_ENV
    else:
        return None
    token = text.strip()
    if not token:
        raise ValueError("%s is empty" % source)
    if not _BEARER.fullmatch(token):
        raise ValueError("%s: the token must be one line of letters, digits and -._~+/ (an RFC 6750 bearer token)"
                         % source)
    return token


def tls_context(ca_file: str | None, client_cert: str | None = None, client_key: str | None = None) -> ssl.SSLContext:
    """The system's CAs, or only those of ca_file for a receiver with a private CA; with client_cert, the
    distributor's certificate and key (PEM, the key unencrypted and 0600; in client_cert itself without client_key)
    for a receiver that authenticates clients by TLS."""
    try:
        context = ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError as exc:
        raise ValueError("ca-file: must be PEM certificates, %r is not: %s" % (ca_file, exc.reason)) from None
    except OSError as exc:
        raise ValueError("ca-file: cannot read %r: %s" % (ca_file, exc.strerror)) from None
    if client_cert is None:
        return context
    key = client_key or client_cert
    _private_file("client-key" if client_key else "client-cert", key)
    asked = []

    def no_passphrase():
        asked.append(True)
        return b""

    try:
        context.load_cert_chain(client_cert, client_key, password=no_passphrase)
    except ssl.SSLError as exc:
        if asked:
            raise ValueError("client-key: %s is encrypted; give the key unencrypted, in a file of mode 0600" % key
                             ) from None
        pair = "%s and %s are" % (client_cert, client_key) if client_key else "%s does not hold" % client_cert
        raise ValueError("client-cert: %s not a certificate and its key (PEM): %s" % (pair, exc.reason)) from None
    except OSError as exc:
        raise ValueError("client-cert: cannot read %s: %s" % (client_cert, exc.strerror)) from None
    return context


class Retryable(Exception):
    """A failure a later attempt may not meet; `wait` is what the receiver asked for (None: back off)."""

    def __init__(self, reason: str, wait: float | None = None):
        super().__init__(reason)
        self.wait = wait


def retry_after(value: str | None) -> float | None:
    """Seconds a Retry-After header asks to wait (delta-seconds or an HTTP date), None without one."""
    if not value:
        return None
    if value.strip().isdigit():
        seconds = float(value)
    else:
        try:
            seconds = email.utils.parsedate_to_datetime(value).timestamp() - time.time()
        except (TypeError, ValueError):
            return None
    return min(max(seconds, 0.0), MAX_WAIT_S)


def backoff(attempt: int) -> float:
    return min(BACKOFF_S * 2 ** attempt, MAX_WAIT_S)


def first_line(raw: bytes) -> str:
    lines = raw.decode("utf-8", "replace").strip().splitlines()
    return lines[0][:200] if lines else "(empty body)"


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is answered as the HTTPError it is: never followed (the batch and the token stay where sent)."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):
        return None


def _tls_failure(url: str, error: ssl.SSLError, client_cert: bool) -> ValueError:
    if isinstance(error, ssl.SSLCertVerificationError):
        return ValueError("post: %s: certificate verify failed: %s (a private CA goes in --ca-file)"
                          % (url, error.verify_message))
    reason = error.reason or str(error)
    if client_cert:
        hint = "the receiver may have refused the client certificate (--client-cert, --client-key)"
    else:
        hint = "the receiver may want a client certificate: --client-cert and --client-key"
    return ValueError("post: TLS with %s failed: %s (%s)" % (url, reason, hint))


def send(opener, request: urllib.request.Request, timeout: float, ack: Acknowledgement, document: dict,
         client_cert: bool = False) -> None:
    """One attempt: Retryable for what may pass later (no connection, time-out, 429, 5xx), ValueError otherwise
    (a refusal, a redirect, a TLS failure, an answer that is not the acknowledgement)."""
    url = request.full_url
    try:
        with opener.open(request, timeout=timeout) as response:
            status, raw = response.status, response.read(ACK_BYTES + 1)
    except urllib.error.HTTPError as exc:
        if 300 <= exc.code < 400:
            raise ValueError("post: %s answered HTTP %d, a redirect to %s: not followed (give the receiver's own URL)"
                             % (url, exc.code, exc.headers.get("Location") or "nowhere")) from None
        if exc.code == 429 or exc.code >= 500:
            raise Retryable("HTTP %d" % exc.code, retry_after(exc.headers.get("Retry-After"))) from None
        raise ValueError("post: %s answered HTTP %d: %s" % (url, exc.code, first_line(exc.read(ACK_BYTES)))) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLError):
            raise _tls_failure(url, exc.reason, client_cert) from None
        raise Retryable(str(exc.reason)) from None
    except ssl.SSLError as exc:  # an alert after the handshake, met reading the answer
        raise _tls_failure(url, exc, client_cert) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise Retryable(str(exc) or type(exc).__name__) from None
    problem = ack.problem(status, raw, document)
    if problem is not None:
        raise ValueError("post: %s: bad acknowledgement: %s; the batch is not recorded as delivered" % (url, problem))


class PostDelivery:
    """deliver() for --post: the document POSTed with its Idempotency-Key and credentials, retried with
    exponential backoff (or as Retry-After asks); the URL once the acknowledgement checks out."""

    def __init__(self, url: str, opener, retries: int, timeout: float, token: str | None, ack: Acknowledgement,
                 client_cert: bool = False):
        self.url, self.opener, self.retries, self.timeout = url, opener, retries, timeout
        self.token, self.ack, self.client_cert = token, ack, client_cert

    def __call__(self, document: dict) -> str:
        headers = {"Content-Type": "application/json", "Accept": "application/json",
                   "Idempotency-Key": idempotency_key(document)}
        if self.token is not None:
            headers["Authorization"] = "Bearer " + self.token
        request = urllib.request.Request(self.url, data=body(document), method="POST", headers=headers)
        for attempt in range(self.retries + 1):
            try:
                send(self.opener, request, self.timeout, self.ack, document, self.client_cert)
                return self.url
            except Retryable as exc:
                failure = exc
                if attempt < self.retries:
                    time.sleep(exc.wait if exc.wait is not None else backoff(attempt))
        raise ValueError("post: %s failed after %d attempt(s): %s" % (self.url, self.retries + 1, failure))


def poster(url: str, retries: int, timeout: float, ca_file: str | None = None, *, token: str | None = None,
           client_cert: str | None = None, client_key: str | None = None, insecure_http: bool = False,
           ack: Acknowledgement | None = None) -> PostDelivery:
    """A delivery to URL, its address, credentials and CA checked before anything is built: https only (plain
    http with insecure_http, for tests), a bearer token and/or a client certificate."""
    parts = urllib.parse.urlsplit(url)
    if not (parts.hostname and (parts.scheme == "https" or (parts.scheme == "http" and insecure_http))):
        raise ValueError("post: must be an https:// URL (plain http only with --insecure-http, for tests), got %r"
                         % url)
    if client_key is not None and client_cert is None:
        raise ValueError("client-key: goes with --client-cert")
    if client_cert is not None and parts.scheme != "https":
        raise ValueError("client-cert: needs an https:// URL")
    if token is None and client_cert is None:
        raise ValueError("post: the receiver needs credentials: a bearer token (--token-file FILE or %s) and/or a "
                         "client certificate (--client-cert)" % TOKEN_ENV)
    context = tls_context(ca_file, client_cert, client_key)
    opener = urllib.request.build_opener(urllib.request.HTTPSHandler(context=context), _NoRedirect())
    return PostDelivery(url, opener, retries, timeout, token, ack or Acknowledgement(), client_cert is not None)
