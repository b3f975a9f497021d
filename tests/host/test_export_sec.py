"""`opsm export sec`: Chile's SEC feed from a harvested store, to files and to receiving web services on 127.0.0.1."""

import contextlib
import datetime
import http.server
import ipaddress
import json
import pathlib
import shutil
import socket
import ssl
import threading
import time
import zoneinfo

import jsonschema
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from host import readings, sec
from host.cli import cli
from host.store import Store
from tests.host import exportdata

ROOT = pathlib.Path(__file__).resolve().parents[2]
SANTIAGO = "America/Santiago"
TZ = zoneinfo.ZoneInfo(SANTIAGO)
AS_OF = "2024-03-31"
FIRST, LAST = readings.month_start("2023-12", TZ), readings.month_start("2024-04", TZ)
JANUARY = readings.month_start("2024-01", TZ)  # a missing capture: December and January unknown
DISTRIBUTOR = "Distribuidora Sur"
ANA, BRUNO, CARLA = "11111111-1", "22222222-2", "33333333-3"
CUSTOMERS = ("customer_id,name,device_id,email,phone,address,comuna,region,client_number,distributor,connected_kw\n"
             "%s,Ana Pérez,M000,ana@example.cl,+56 9 1234 5678,Los Olmos 12,Temuco,La Araucanía,100200,%s,5.5\n"
             "%s,Bruno Díaz,,,,Calle Larga 3,Angol,La Araucanía,100201,,\n"
             "44444444-4,Otra Empresa,,,,,,,,Otra Distribuidora,\n" % (ANA, DISTRIBUTOR, BRUNO))
CHARGES = ("customer_id,document,billed_on,amount,currency\n"
           "%s,B-1,2021-04-15,9000,CLP\n"      # the first of the 36 months
           "%s,B-0,2021-03-31,7000,CLP\n"      # before them
           "%s,B-2,2024-02-10,10000,CLP\n"
           "%s,B-3,2024-02-20,500.50,CLP\n"
           "%s,B-4,2024-03-05,200,CLP\n"
           "%s,B-5,2024-04-02,300,CLP\n" % ((ANA,) * 6))   # after the as_of day


def run(db, *args):
    return CliRunner().invoke(cli, ["export", "sec", "--db", str(db), "--distributor", DISTRIBUTOR,
                                    *(str(a) for a in args)])


def delivered(db, *args) -> tuple:
    """Run to --out or --post with --json: (summary, document written or None)."""
    result = run(db, "--json", *args)
    assert result.exit_code == 0, result.output
    summary = json.loads(result.output)
    path = pathlib.Path(summary["destination"])
    return summary, json.loads(path.read_text(encoding="utf-8")) if path.is_file() else None


def by_key(document) -> dict:
    return {sec.record_key(op["type"], op["key"]): op for op in document["operations"]}


def op_of(document, record_type, **key) -> dict:
    return by_key(document)[sec.record_key(record_type, key)]


def expected_kwh(obis, month) -> float:
    start, end = readings.month_start(month, TZ), readings.month_start(readings.shift(month, 1), TZ)
    return sum(exportdata.growth(0, obis, hour) for hour in range(start // 3600, end // 3600)) / 1000


@pytest.fixture(scope="module")
def harvested(tmp_path_factory) -> pathlib.Path:
    """One meter in Santiago harvested from December 2023 to April 1 2024, three customers and their charges."""
    folder = tmp_path_factory.mktemp("sec")
    db = folder / "base.sqlite"
    store = Store.open(str(db))
    exportdata.populate(store, 0, FIRST, LAST, SANTIAGO, skip=(JANUARY,))
    store.close()
    for command, name, text in (("import", "customers.csv", CUSTOMERS), ("charges", "charges.csv", CHARGES)):
        (folder / name).write_text(text, encoding="utf-8")
        result = CliRunner().invoke(cli, ["customers", command, str(folder / name), "--db", str(db)])
        assert result.exit_code == 0, result.output
    return db


@pytest.fixture
def db(harvested, tmp_path) -> pathlib.Path:
    return pathlib.Path(shutil.copy(harvested, tmp_path / "harvest.sqlite"))


def sql(db, text, params=()) -> None:
    store = Store.open(str(db))
    store.execute(text, params)
    store.db.commit()
    store.close()


def change_one_reading(db) -> float:
    """Add 5 Wh to the meter's newest +A register reading; the new value."""
    store = Store.open(str(db))
    store.execute("UPDATE register_values SET value = value + 5 WHERE device_id = 'M000' AND obis = ? AND read_at = ?",
                  (readings.IMPORT_WH, LAST))
    store.db.commit()
    value = store.query("SELECT value FROM register_values WHERE device_id = 'M000' AND obis = ? AND read_at = ?",
                        (readings.IMPORT_WH, LAST))[0][0]
    store.close()
    return value


def test_the_initial_load_matches_the_schema_and_the_stored_readings(db, tmp_path):
    summary, document = delivered(db, "--initial", "--date", AS_OF, "--out", tmp_path / "out")
    schema = json.loads((ROOT / "host" / "schemas" / "sec-feed.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(
        document)
    header = document["header"]
    assert pathlib.Path(summary["destination"]).name == "sec-initial-2024-03-31-000001.json"
    assert (header["kind"], header["batch"], header["previous_batch"], header["distributor"]) == (
        "initial", 1, None, DISTRIBUTOR)
    ops = document["operations"]
    assert {op["op"] for op in ops} == {"insert"} and header["counts"] == {"insert": len(ops), "update": 0,
                                                                            "delete": 0}
    # two customers of the feed (one with a meter), the other distributor's left out; 13 registers of the meter
    assert sorted({op["key"].get("rut") for op in ops if op["type"] != "registro"}) == [ANA, BRUNO]
    assert len(ops) == 2 * (1 + 36 + 12) + len([op for op in ops if op["type"] == "registro"])
    assert op_of(document, "cliente", rut=ANA)["data"] == {
        "nombre": "Ana Pérez", "correo": "ana@example.cl", "telefono": "+56 9 1234 5678", "direccion": "Los Olmos 12",
        "comuna": "Temuco", "region": "La Araucanía", "numero_cliente": "100200", "medidor": "M000",
        "capacidad_empalme_kw": 5.5}
    for month in ("2024-02", "2024-03"):
        assert op_of(document, "consumo_cargo", rut=ANA, mes=month)["data"]["consumo_kwh"] == expected_kwh(
            readings.IMPORT_WH, month)
        assert op_of(document, "consumo_inyeccion", rut=ANA, mes=month)["data"] == {
            "consumo_kwh": expected_kwh(readings.IMPORT_WH, month),
            "inyeccion_kwh": expected_kwh(readings.EXPORT_WH, month)}
    assert op_of(document, "consumo_cargo", rut=ANA, mes="2024-02")["data"]["cargo_centavos"] == 1000000 + 50050
    assert op_of(document, "consumo_cargo", rut=ANA, mes="2024-03")["data"] == {
        "consumo_kwh": expected_kwh(readings.IMPORT_WH, "2024-03"), "cargo_centavos": 20000, "moneda": "CLP"}
    assert op_of(document, "consumo_cargo", rut=ANA, mes="2021-04")["data"]["cargo_centavos"] == 900000
    assert "2021-03" not in {op["key"].get("mes") for op in ops}
    # a missing boundary: the months on both sides unknown (null), a month without charges 0
    assert op_of(document, "consumo_cargo", rut=ANA, mes="2024-01")["data"] == {
        "consumo_kwh": None, "cargo_centavos": 0, "moneda": "CLP"}
    assert op_of(document, "consumo_inyeccion", rut=ANA, mes="2023-12")["data"]["inyeccion_kwh"] is None
    assert {op["data"]["consumo_kwh"] for op in ops if op["key"].get("rut") == BRUNO and "mes" in op["key"]} == {None}
    assert op_of(document, "registro", medidor="M000", obis=readings.IMPORT_WH)["data"] == {
        "valor": exportdata.register(0, readings.IMPORT_WH, LAST), "unidad": "Wh", "leido_en": "2024-04-01T03:00:00Z"}
    assert op_of(document, "registro", medidor="M000", obis="0.0.96.1.0.255")["data"]["valor"] == "OPS00000001"


def test_a_month_in_progress_and_later_readings_are_left_out(db, tmp_path):
    _, document = delivered(db, "--initial", "--date", "2024-03-15", "--out", tmp_path / "out")
    assert op_of(document, "consumo_cargo", rut=ANA, mes="2024-03")["data"] == {
        "consumo_kwh": None, "cargo_centavos": None, "moneda": "CLP"}
    assert op_of(document, "consumo_cargo", rut=ANA, mes="2024-02")["data"]["consumo_kwh"] == expected_kwh(
        readings.IMPORT_WH, "2024-02")
    assert [op for op in document["operations"] if op["type"] == "registro"] == []  # read on April 1


def test_deltas_carry_exactly_what_changed(db, tmp_path):
    out = tmp_path / "out"
    delivered(db, "--initial", "--date", AS_OF, "--out", out)
    summary, document = delivered(db, "--delta", "--date", AS_OF, "--out", out)
    assert (document["operations"], document["header"]["batch"], document["header"]["previous_batch"]) == ([], 2, 1)
    assert pathlib.Path(summary["destination"]).name == "sec-delta-2024-03-31-000002.json"

    value = change_one_reading(db)
    _, document = delivered(db, "--delta", "--date", AS_OF, "--out", out)
    assert document["operations"] == [{"op": "update", "type": "registro",
                                       "key": {"medidor": "M000", "obis": readings.IMPORT_WH},
                                       "data": {"valor": value, "unidad": "Wh", "leido_en": "2024-04-01T03:00:00Z"}}]

    (tmp_path / "new.csv").write_text("customer_id,name,distributor\n%s,Carla Soto,%s\n" % (CARLA, DISTRIBUTOR))
    assert CliRunner().invoke(cli, ["customers", "import", str(tmp_path / "new.csv"), "--db", str(db)]).exit_code == 0
    _, document = delivered(db, "--delta", "--date", AS_OF, "--out", out)
    ops = document["operations"]
    assert {(op["op"], op["key"]["rut"]) for op in ops} == {("insert", CARLA)} and len(ops) == 1 + 36 + 12
    assert document["header"]["counts"] == {"insert": 49, "update": 0, "delete": 0}

    sql(db, "DELETE FROM customers WHERE customer_id = ?", (BRUNO,))
    _, document = delivered(db, "--delta", "--date", AS_OF, "--out", out)
    ops = document["operations"]
    assert {(op["op"], op["key"]["rut"]) for op in ops} == {("delete", BRUNO)} and len(ops) == 1 + 36 + 12
    assert all("data" not in op for op in ops)
    assert document["header"]["batch"] == 5


def test_a_delta_needs_an_initial_load_and_bad_input_writes_nothing(db, tmp_path):
    out = tmp_path / "out"
    result = run(db, "--delta", "--date", AS_OF, "--out", out)
    assert result.exit_code == 1 and "delta: no initial load was delivered yet" in result.output
    result = run(db, "--initial", "--date", "2024-02-30", "--out", out)
    assert result.exit_code == 1 and "date: must be YYYY-MM-DD, got '2024-02-30'" in result.output
    assert "kind: give one of --initial or --delta" in run(db, "--initial", "--delta", "--date", AS_OF, "--out",
                                                           out).output
    assert "destination: give one of --out" in run(db, "--initial", "--date", AS_OF).output
    assert "post: must be an http:// or https:// URL, got 'ftp://x'" in run(db, "--initial", "--date", AS_OF,
                                                                            "--post", "ftp://x").output
    result = CliRunner().invoke(cli, ["export", "sec", "--db", str(db), "--initial", "--date", AS_OF, "--out", out])
    assert result.exit_code == 1 and "distributor: the customer register names several" in result.output

    # a document the schema refuses is never written, and nothing is remembered
    sql(db, "UPDATE customers SET email = 'nobody' WHERE customer_id = ?", (ANA,))
    result = run(db, "--initial", "--date", AS_OF, "--out", out)
    assert result.exit_code == 1 and "data/correo" in result.output and ANA in result.output
    assert not out.exists() or list(out.iterdir()) == []
    assert "no initial load" in run(db, "--delta", "--date", AS_OF, "--out", out).output


class Receiver:
    """A receiving web service on 127.0.0.1: each POST gets the next reply (status, headers, body); the last repeats."""

    def __init__(self, replies: list, tls: ssl.SSLContext | None = None):
        self.requests: list = []   # (monotonic time, headers, body)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                data = self.rfile.read(int(self.headers["Content-Length"]))
                receiver.requests.append((time.monotonic(), self.headers, data))
                status, headers, text = replies[min(len(receiver.requests), len(replies)) - 1]
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        if tls is not None:
            self.server.socket = tls.wrap_socket(self.server.socket, server_side=True)
        self.url = "%s://127.0.0.1:%d/sec/feed" % ("https" if tls else "http", self.server.server_address[1])
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@contextlib.contextmanager
def receiving(replies, tls=None):
    receiver = Receiver(replies, tls)
    try:
        yield receiver
    finally:
        receiver.close()


def test_a_post_refused_with_503_is_retried_with_the_same_idempotency_key(db, tmp_path):
    with receiving([(503, {"Retry-After": "1"}, b"busy"), (202, {}, b"accepted")]) as receiver:
        summary, _ = delivered(db, "--initial", "--date", AS_OF, "--post", receiver.url, "--retries", "2")
    assert summary["destination"] == receiver.url
    (first, first_headers, first_body), (second, headers, data) = receiver.requests
    assert second - first >= 0.9  # the Retry-After, not the shorter backoff
    assert headers["Idempotency-Key"] == first_headers["Idempotency-Key"] and data == first_body
    assert headers["Idempotency-Key"].startswith("opsm-sec-1-")
    assert headers["Content-Type"] == "application/json"
    accepted = json.loads(data)
    sec.validate(accepted)
    accepted["header"]["generated_at"] = "2030-01-01T00:00:00Z"  # a rebuilt batch: the same key
    assert sec.idempotency_key(accepted) == headers["Idempotency-Key"]
    assert accepted["header"]["counts"]["insert"] == len(accepted["operations"]) > 98
    _, document = delivered(db, "--delta", "--date", AS_OF, "--out", tmp_path / "out")
    assert (document["header"]["previous_batch"], document["operations"]) == (1, [])


def test_a_refusal_is_not_retried_and_an_unreachable_receiver_keeps_the_changes(db, tmp_path):
    out = tmp_path / "out"
    delivered(db, "--initial", "--date", AS_OF, "--out", out)
    value = change_one_reading(db)
    with receiving([(400, {}, b"batch refused: key unknown\nsecond line")]) as receiver:
        result = run(db, "--delta", "--date", AS_OF, "--post", receiver.url)
    assert result.exit_code == 1 and len(receiver.requests) == 1
    assert "HTTP 400: batch refused: key unknown" in result.output and "second line" not in result.output

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = "http://127.0.0.1:%d/sec" % s.getsockname()[1]
    result = run(db, "--delta", "--date", AS_OF, "--post", closed, "--retries", "1", "--timeout", "2")
    assert result.exit_code == 1 and closed in result.output and "after 2 attempt(s)" in result.output
    _, document = delivered(db, "--delta", "--date", AS_OF, "--out", out)
    assert document["header"]["batch"] == 2
    assert [(op["op"], op["data"]["valor"]) for op in document["operations"]] == [("update", value)]


def self_signed(folder: pathlib.Path) -> tuple:
    """A certificate for 127.0.0.1 that is its own CA: (certificate file, key file)."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "SEC receiver test CA")])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (x509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
                   .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
                   .not_valid_after(now + datetime.timedelta(days=1))
                   .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False)
                   .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
                   .sign(key, hashes.SHA256()))
    cert_file, key_file = folder / "ca.pem", folder / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return cert_file, key_file


def test_https_to_a_receiver_with_a_private_ca(db, tmp_path):
    cert_file, key_file = self_signed(tmp_path)
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(cert_file, key_file)
    with receiving([(200, {}, b"ok")], tls) as receiver:
        result = run(db, "--initial", "--date", AS_OF, "--post", receiver.url)
        assert result.exit_code == 1 and "certificate verify failed" in result.output and "--ca-file" in result.output
        summary, _ = delivered(db, "--initial", "--date", AS_OF, "--post", receiver.url, "--ca-file", cert_file)
    assert summary["batch"] == 1 and len(receiver.requests) == 1
    assert json.loads(receiver.requests[0][2])["header"]["kind"] == "initial"
    result = run(db, "--initial", "--date", AS_OF, "--post", receiver.url, "--ca-file", tmp_path / "missing.pem")
    assert result.exit_code == 1 and "ca-file: cannot read" in result.output


def test_retry_after_in_seconds_or_as_a_date():
    assert sec.retry_after("2") == 2.0
    in_ten = datetime.datetime.now(datetime.UTC) + datetime.timedelta(seconds=10)
    assert 8 < sec.retry_after(in_ten.strftime("%a, %d %b %Y %H:%M:%S GMT")) <= 10
    assert sec.retry_after("86400") == sec.MAX_WAIT_S and sec.retry_after("soon") is None
    assert sec.retry_after(None) is None and sec.backoff(0) < sec.backoff(1) < sec.backoff(2)


def test_postgresql_keeps_the_same_state(postgres_db, tmp_path):
    store = Store.open(postgres_db)
    exportdata.populate(store, 0, readings.month_start("2024-03", TZ), LAST, SANTIAGO)
    store.execute("INSERT INTO customers (customer_id, name, device_id, distributor, smart, shared, bill_access) "
                  "VALUES (?, ?, ?, ?, 1, 0, 1)", (ANA, "Ana Pérez", "M000", DISTRIBUTOR))
    store.db.commit()
    store.close()
    delivered(postgres_db, "--initial", "--date", AS_OF, "--out", tmp_path)
    value = change_one_reading(postgres_db)
    _, document = delivered(postgres_db, "--delta", "--date", AS_OF, "--out", tmp_path)
    assert [(op["op"], op["key"]["obis"], op["data"]["valor"]) for op in document["operations"]] == [
        ("update", readings.IMPORT_WH, value)]
