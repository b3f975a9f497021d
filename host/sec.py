"""The feed a Chilean distributor sends to SEC's public-information platform (Anexo 1, sections 4 to 6).

The document (host/schemas/sec-feed.schema.json) is a header and a list of operations on records.
Each record has a type, a key that never changes and data, kept fine-grained so that one
changed reading changes one record:
    cliente            rut -> nombre, correo, teléfono, dirección, comuna, región, N° de cliente,
                       medidor, capacidad del empalme
    consumo_cargo      rut, mes -> consumo_kwh, cargo_centavos, moneda: the 36 months ending at the
                       as_of month
    consumo_inyeccion  rut, mes -> consumo_kwh, inyeccion_kwh: the 12 months ending at the as_of month
    registro           medidor, obis -> valor, unidad, leido_en: the newest reading of each register
                       of a customer's meter (IEC 62056-6-1 codes, units of protocol/registers.py)
A feed holds the customers whose distributor is the feed's, or who name none. Months are
local to the customer's meter (readings.timezone). Nothing after the end of the as_of day
counts: a month not ended by then has null consumption and charges (a month in progress
would change every day), registers read later are left out; so a date gives the same records
whenever it is built.

The initial load ("carga inicial") lists every record as an insert; `--initial` when a feed
already exists starts it anew. A delta compares the records with the digests of what SEC
holds (sec_records): insert for a new key, update with the full new data, delete with the
key only. The document is checked against the schema before it leaves, and the state
advances only once the file is written or the receiver accepted the POST: a failed
delivery is rebuilt the same (batch number, operations, Idempotency-Key).
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
import time
import urllib.error
import urllib.parse
import urllib.request

import jsonschema

from host import outfile, readings
from protocol import registers as regmap
from protocol.modbus_map import UNIT_NAMES

SCHEMA_PATH = pathlib.Path(__file__).resolve().parent / "schemas" / "sec-feed.schema.json"
CHARGE_MONTHS, INJECTION_MONTHS = 36, 12  # Anexo 1, 5.2 III and IV
DEFAULT_CURRENCY = "CLP"
OPS = ("insert", "update", "delete")
UNITS = {row[0]: UNIT_NAMES.get(row[5]) or None for row in regmap.REGISTERS}
BACKOFF_S = 0.5
MAX_WAIT_S = 300.0  # the longest wait between attempts, whatever a Retry-After asks: a daily job must end
_CUSTOMER_COLUMNS = ("customer_id", "name", "email", "phone", "address", "comuna", "region", "client_number",
                     "device_id", "connected_kw")
_CLIENTE_FIELDS = ("nombre", "correo", "telefono", "direccion", "comuna", "region", "numero_cliente", "medidor",
                   "capacidad_empalme_kw")


def canonical(value) -> str:
    """One text per value (sorted keys, no spaces): what record keys and digests are made of."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def sha256(value) -> str:
    return hashlib.sha256(canonical(value).encode()).hexdigest()


def record_key(record_type: str, key: dict) -> str:
    """The stored identity of a record (sec_records.record_key); a delete is rebuilt from it."""
    return canonical({"type": record_type, "key": key})


@dataclasses.dataclass(frozen=True)
class Record:
    type: str
    key: dict
    data: dict

    def operation(self, op: str) -> dict:
        return {"op": op, "type": self.type, "key": self.key, "data": self.data}


# --- the records -------------------------------------------------------------------------

def as_of_date(text: str) -> datetime.date:
    try:
        if not re.fullmatch(r"\d{4}-\d{2}-\d{2}", text):
            raise ValueError
        return datetime.date.fromisoformat(text)
    except ValueError:
        raise ValueError("date: must be YYYY-MM-DD, got %r" % text) from None


def day_end(as_of: datetime.date, tz) -> int:
    """Seconds since 1970 of the local midnight ending `as_of`: nothing after it is reported."""
    following = as_of + datetime.timedelta(days=1)
    return int(datetime.datetime(following.year, following.month, following.day, tzinfo=tz).timestamp())


def utc_text(seconds: float) -> str:
    return datetime.datetime.fromtimestamp(seconds, datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def default_distributor(store) -> str:
    """The one distributor the customer register names; any other feed needs --distributor."""
    names = [row[0] for row in store.query("SELECT DISTINCT distributor FROM customers WHERE distributor IS NOT NULL "
                                           "ORDER BY distributor")]
    if len(names) != 1:
        named = "several (%s)" % ", ".join(names) if names else "none"
        raise ValueError("distributor: the customer register names %s; give the feed's with --distributor NAME"
                         % named)
    return names[0]


def customers(store, distributor: str) -> list:
    """The feed's customers, as dicts by column name, in customer_id order."""
    rows = store.query("SELECT %s FROM customers WHERE distributor = ? OR distributor IS NULL ORDER BY customer_id"
                       % ", ".join(_CUSTOMER_COLUMNS), (distributor,))
    return [dict(zip(_CUSTOMER_COLUMNS, row)) for row in rows]


def cliente(customer: dict) -> Record:
    values = [customer[column] for column in _CUSTOMER_COLUMNS[1:]]
    return Record("cliente", {"rut": customer["customer_id"]}, dict(zip(_CLIENTE_FIELDS, values)))


def currency_of(store, customer_id: str) -> str:
    """The currency of the customer's charges (CLP before the first one)."""
    found = [row[0] for row in store.query("SELECT DISTINCT currency FROM charges WHERE customer_id = ? "
                                           "ORDER BY currency", (customer_id,))]
    if len(found) > 1:
        raise ValueError("charges: customer %r is charged in %s; the SEC feed takes one currency per customer"
                         % (customer_id, " and ".join(found)))
    return found[0] if found else DEFAULT_CURRENCY


def kwh(store, device_id, obis: str, months: list, tz) -> list:
    """The register's growth in each month in kWh, None where unknown (or without a meter)."""
    if not device_id:
        return [None] * len(months)
    return [None if wh is None else wh / 1000 for wh in readings.monthly(store, device_id, obis, months, tz)]


def ended_only(values: list, ended: list) -> list:
    return [value if done else None for value, done in zip(values, ended)]


def monthly_records(store, customer: dict, as_of: datetime.date) -> list:
    """consumo_cargo for 36 months and consumo_inyeccion for 12, ending at the as_of month."""
    rut, device = customer["customer_id"], customer["device_id"]
    tz = readings.timezone(store, device)
    months = readings.months_ending(as_of.strftime("%Y-%m"), CHARGE_MONTHS)
    ended = [readings.month_start(readings.shift(month, 1), tz) <= day_end(as_of, tz) for month in months]
    consumption = ended_only(kwh(store, device, readings.IMPORT_WH, months, tz), ended)
    charges = ended_only(readings.monthly_charges(store, rut, months, tz), ended)
    recent = months[-INJECTION_MONTHS:]
    injection = ended_only(kwh(store, device, readings.EXPORT_WH, recent, tz), ended[-INJECTION_MONTHS:])
    currency = currency_of(store, rut)
    records = [Record("consumo_cargo", {"rut": rut, "mes": month},
                      {"consumo_kwh": used, "cargo_centavos": charged, "moneda": currency})
               for month, used, charged in zip(months, consumption, charges)]
    return records + [Record("consumo_inyeccion", {"rut": rut, "mes": month},
                             {"consumo_kwh": used, "inyeccion_kwh": injected})
                      for month, used, injected in zip(recent, consumption[-INJECTION_MONTHS:], injection)]


def register_records(store, device_id: str, as_of: datetime.date) -> list:
    """The newest reading of each register the meter reported up to the end of the as_of day."""
    end = day_end(as_of, readings.timezone(store, device_id))
    rows = store.query("""SELECT r.obis, r.read_at, r.value, r.text FROM register_values r
                          JOIN (SELECT obis, MAX(read_at) AS read_at FROM register_values
                                WHERE device_id = ? AND read_at <= ? GROUP BY obis) newest
                            ON newest.obis = r.obis AND newest.read_at = r.read_at
                          WHERE r.device_id = ? ORDER BY r.obis""", (device_id, end, device_id))
    return [Record("registro", {"medidor": device_id, "obis": obis},
                   {"valor": value if text is None else text, "unidad": UNITS.get(obis), "leido_en": utc_text(read_at)})
            for obis, read_at, value, text in rows]


def records(store, distributor: str, as_of: datetime.date) -> list:
    """Every record of the feed, each customer's together, then the registers of their meters."""
    out, meters = [], set()
    for customer in customers(store, distributor):
        out.append(cliente(customer))
        out += monthly_records(store, customer, as_of)
        if customer["device_id"]:
            meters.add(customer["device_id"])  # a shared meter's registers are listed once
    for device in sorted(meters):
        out += register_records(store, device, as_of)
    return out


# --- the document ------------------------------------------------------------------------

def last_batch(store):
    return store.query("SELECT MAX(id) FROM sec_batches")[0][0]


def check_delta(store, distributor: str) -> None:
    """A delta continues a feed: it needs a delivered initial load, for the same distributor."""
    rows = store.query("SELECT distributor FROM sec_batches WHERE kind = 'initial' ORDER BY id DESC LIMIT 1")
    if not rows:
        raise ValueError("delta: no initial load was delivered yet; send one with --initial first")
    if rows[0][0] != distributor:
        raise ValueError("distributor: the feed's initial load was for %r, got %r (an --initial load starts the "
                         "feed anew)" % (rows[0][0], distributor))


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
    return out + [{"op": "delete", **json.loads(key)} for key in sorted(gone)]


def build(store, kind: str, as_of: datetime.date, distributor: str | None = None) -> dict:
    """The feed document of a batch: every record ("initial") or the changes since what SEC holds ("delta")."""
    distributor = distributor or default_distributor(store)
    held: dict = {}
    if kind == "delta":
        check_delta(store, distributor)
        held = dict(store.query("SELECT record_key, digest FROM sec_records"))
    ops = operations(records(store, distributor, as_of), held)
    previous = last_batch(store)
    header = {"distributor": distributor, "generated_at": utc_text(time.time()), "as_of": as_of.isoformat(),
              "kind": kind, "batch": (previous or 0) + 1, "previous_batch": previous,
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
    header, ops = document["header"], document["operations"]
    with store.transaction():
        if header["kind"] == "initial":
            store.execute("DELETE FROM sec_records")
        for op in ops:
            if op["op"] != "insert":
                store.execute("DELETE FROM sec_records WHERE record_key = ?", (record_key(op["type"], op["key"]),))
        store.insert_ignore("sec_records", ("record_key", "digest", "batch"),
                            [(record_key(op["type"], op["key"]), sha256(op["data"]), header["batch"])
                             for op in ops if op["op"] != "delete"])
        counts = header["counts"]
        store.execute("INSERT INTO sec_batches (id, kind, as_of, distributor, created_at, inserts, updates, deletes, "
                      "destination) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                      (header["batch"], header["kind"], header["as_of"], header["distributor"], int(time.time()),
                       counts["insert"], counts["update"], counts["delete"], destination))


def export(store, kind: str, as_of: datetime.date, distributor: str | None, deliver) -> dict:
    """Build, check, deliver (deliver(document) -> where it went), then remember; the header and destination."""
    document = build(store, kind, as_of, distributor)
    validate(document)
    destination = deliver(document)
    remember(store, document, destination)
    return dict(document["header"], destination=destination)


# --- delivery ----------------------------------------------------------------------------

def write(folder: str, document: dict) -> str:
    """The document as sec-KIND-DATE-BATCH.json in folder, whole or not at all; its path."""
    header = document["header"]
    path = os.path.join(folder, "sec-%s-%s-%06d.json" % (header["kind"], header["as_of"], header["batch"]))
    with outfile.replacing(path) as temporary:
        with open(temporary, "wb") as out:
            out.write(body(document))
    return path


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


def tls_context(ca_file: str | None) -> ssl.SSLContext:
    """The system's CAs, or only those of ca_file for a receiver with a private CA."""
    try:
        return ssl.create_default_context(cafile=ca_file)
    except ssl.SSLError as exc:
        raise ValueError("ca-file: must be PEM certificates, %r is not: %s" % (ca_file, exc.reason)) from None
    except OSError as exc:
        raise ValueError("ca-file: cannot read %r: %s" % (ca_file, exc.strerror)) from None


def send(request: urllib.request.Request, timeout: float, context: ssl.SSLContext) -> None:
    """One attempt: Retryable for what may pass later (no connection, time-out, 429, 5xx), ValueError otherwise."""
    url = request.full_url
    try:
        with urllib.request.urlopen(request, timeout=timeout, context=context) as response:
            response.read()
    except urllib.error.HTTPError as exc:
        if exc.code == 429 or exc.code >= 500:
            raise Retryable("HTTP %d" % exc.code, retry_after(exc.headers.get("Retry-After"))) from None
        raise ValueError("post: %s answered HTTP %d: %s" % (url, exc.code, first_line(exc.read()))) from None
    except urllib.error.URLError as exc:
        if isinstance(exc.reason, ssl.SSLCertVerificationError):
            raise ValueError("post: %s: certificate verify failed: %s (a private CA goes in --ca-file)"
                             % (url, exc.reason.verify_message)) from None
        if isinstance(exc.reason, ssl.SSLError):
            raise ValueError("post: TLS with %s failed: %s" % (url, exc.reason.reason)) from None
        raise Retryable(str(exc.reason)) from None
    except (TimeoutError, ConnectionError, http.client.HTTPException) as exc:
        raise Retryable(str(exc) or type(exc).__name__) from None


def post(url: str, context: ssl.SSLContext, retries: int, timeout: float, document: dict) -> str:
    """POST the document, retrying with exponential backoff (or as Retry-After asks); the URL once accepted."""
    request = urllib.request.Request(url, data=body(document), method="POST", headers={
        "Content-Type": "application/json", "Idempotency-Key": idempotency_key(document)})
    for attempt in range(retries + 1):
        try:
            send(request, timeout, context)
            return url
        except Retryable as exc:
            failure = exc
            if attempt < retries:
                time.sleep(exc.wait if exc.wait is not None else backoff(attempt))
    raise ValueError("post: %s failed after %d attempt(s): %s" % (url, retries + 1, failure))


def poster(url: str, retries: int, timeout: float, ca_file: str | None):
    """A delivery to URL, its address and CA checked before anything is built."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError("post: must be an http:// or https:// URL, got %r" % url)
    return functools.partial(post, url, tls_context(ca_file), retries, timeout)


def writer(folder: str):
    return functools.partial(write, folder)
