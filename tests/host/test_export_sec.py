"""`opsm export sec`: Chile's SEC feed from a harvested store, to files and to receiving web services on 127.0.0.1."""

import contextlib
import datetime
import http.server
import ipaddress
import json
import os
import pathlib
import shutil
import socket
import sqlite3
import ssl
import threading
import time
import types
import zoneinfo

import jsonschema
import pytest
from click.testing import CliRunner
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from opsm.host import readings, sec
from opsm.host.cli import cli
from opsm.host.store import Store
from tests.host import exportdata
from tests.host.test_export_smec import full_disk

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


def run(db, *args, env=None):
    return CliRunner().invoke(cli, ["export", "sec", "--db", str(db), "--distributor", DISTRIBUTOR,
                                    *(str(a) for a in args)], env=env)


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
    assert "post: must be an https:// URL (plain http only with --insecure-http, for tests), got 'ftp://x'" in run(
        db, "--initial", "--date", AS_OF, "--post", "ftp://x").output
    result = CliRunner().invoke(cli, ["export", "sec", "--db", str(db), "--initial", "--date", AS_OF, "--out", out])
    assert result.exit_code == 1 and "distributor: the customer register names several" in result.output

    # a document the schema refuses is never written, and nothing is remembered
    sql(db, "UPDATE customers SET email = 'nobody' WHERE customer_id = ?", (ANA,))
    result = run(db, "--initial", "--date", AS_OF, "--out", out)
    assert result.exit_code == 1 and "data/correo" in result.output and ANA in result.output
    assert not out.exists() or list(out.iterdir()) == []
    assert "no initial load" in run(db, "--delta", "--date", AS_OF, "--out", out).output


TOKEN = "s3c-t0ken.Abc_~+/xyz="


def certificate(folder: pathlib.Path, name: str, issuer: tuple | None = None, client: bool = False) -> tuple:
    """(certificate file, key file, certificate, key): a CA for 127.0.0.1 signing itself, or a distributor's client
    certificate signed by `issuer` (its certificate and key); key files 0600."""
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    issuer_name, signer = (issuer[0].subject, issuer[1]) if issuer else (subject, key)
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(subject).issuer_name(issuer_name).public_key(key.public_key())
               .serial_number(x509.random_serial_number()).not_valid_before(now - datetime.timedelta(hours=1))
               .not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False))
    if client:
        builder = (builder.add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
                   .add_extension(x509.ExtendedKeyUsage([x509.oid.ExtendedKeyUsageOID.CLIENT_AUTH]), critical=False)
                   .add_extension(x509.AuthorityKeyIdentifier.from_issuer_public_key(signer.public_key()),
                                  critical=False))
    else:
        builder = (builder.add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
                   .add_extension(x509.SubjectAlternativeName([x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                                  critical=False))
    cert = builder.sign(signer, hashes.SHA256())
    cert_file, key_file = folder / ("%s.pem" % name.replace(" ", "-")), folder / ("%s.key" % name.replace(" ", "-"))
    cert_file.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    key_file.chmod(0o600)
    return cert_file, key_file, cert, key


@pytest.fixture(scope="module")
def pki(tmp_path_factory):
    """The receiver's own CA-certificate for 127.0.0.1, and a client CA with the distributor's certificate."""
    folder = tmp_path_factory.mktemp("pki")
    server = certificate(folder, "SEC receiver test CA")
    client_ca = certificate(folder, "Client test CA")
    client = certificate(folder, DISTRIBUTOR, issuer=(client_ca[2], client_ca[3]), client=True)
    token_file = folder / "token"
    token_file.write_text(TOKEN + "\n")
    token_file.chmod(0o600)
    return types.SimpleNamespace(ca=server[0], server=server, client_ca=client_ca[0], cert=client[0], key=client[1],
                                 token_file=token_file, folder=folder)


def server_tls(pki, client_certificates: bool = False) -> ssl.SSLContext:
    tls = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    tls.load_cert_chain(pki.server[0], pki.server[1])
    if client_certificates:
        tls.verify_mode = ssl.CERT_REQUIRED
        tls.load_verify_locations(pki.client_ca)
    return tls


def acknowledged(status="accepted", batch=0, received=0, code=200):
    """A reply that acknowledges the request it answers (batch and count offset by `batch` and `received`)."""
    def reply(data):
        header = json.loads(data)
        return code, {"Content-Type": "application/json"}, json.dumps(
            {"status": status, "batch": header["header"]["batch"] + batch,
             "received": len(header["operations"]) + received}).encode()
    return reply


ACK = acknowledged()


class Receiver:
    """A receiving web service on 127.0.0.1: each request gets the next reply (status, headers, body, or a function
    of the request's body giving them); the last repeats. With `token`, a request without that bearer token gets 401."""

    def __init__(self, replies: list, tls: ssl.SSLContext | None = None, token: str | None = TOKEN):
        self.requests: list = []   # (monotonic time, headers, body, method, client certificate subject or None)
        receiver = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):
                length = int(self.headers.get("Content-Length") or 0)
                data = self.rfile.read(length)
                peer = self.connection.getpeercert() if tls is not None else None
                subject = dict(item[0] for item in peer["subject"]) if peer else None
                receiver.requests.append((time.monotonic(), self.headers, data, self.command, subject))
                if token is not None and self.headers.get("Authorization") != "Bearer " + token:
                    status, headers, text = 401, {}, b"unknown token"
                else:
                    reply = replies[min(len(receiver.requests), len(replies)) - 1]
                    status, headers, text = reply(data) if callable(reply) else reply
                self.send_response(status)
                for name, value in headers.items():
                    self.send_header(name, value)
                self.send_header("Content-Length", str(len(text)))
                self.end_headers()
                self.wfile.write(text)

            do_GET = do_POST

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
def receiving(replies, tls=None, token=TOKEN):
    receiver = Receiver(replies, tls, token)
    try:
        yield receiver
    finally:
        receiver.close()


def post(db, receiver, pki, *args, token=TOKEN):
    """Run a POST to the receiver over https (its CA given), the token in OPSM_SEC_TOKEN (none if token is None)."""
    https = receiver.url.startswith("https")
    env = {"OPSM_SEC_TOKEN": token}
    result = CliRunner().invoke(cli, ["export", "sec", "--db", str(db), "--distributor", DISTRIBUTOR, "--post",
                                      receiver.url, *(["--ca-file", str(pki.ca)] if https else ["--insecure-http"]),
                                      *(str(a) for a in args)], env=env)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert "Traceback" not in result.output
    return result


def posted(db, receiver, pki, *args, token=TOKEN) -> dict:
    result = post(db, receiver, pki, "--json", *args, token=token)
    assert result.exit_code == 0, result.output
    return json.loads(result.output)


def not_delivered(db) -> None:
    """The state did not advance: no batch was recorded as delivered."""
    result = run(db, "--delta", "--date", AS_OF, "--out", db.parent / "unused")
    assert "delta: no initial load was delivered yet" in result.output


def test_a_post_refused_with_503_is_retried_with_the_same_idempotency_key(db, tmp_path, pki):
    with receiving([(503, {"Retry-After": "1"}, b"busy"), ACK], server_tls(pki)) as receiver:
        summary = posted(db, receiver, pki, "--initial", "--date", AS_OF, "--retries", "2")
    assert summary["destination"] == receiver.url
    (first, first_headers, first_body, *_), (second, headers, data, *_) = receiver.requests
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


def test_a_refusal_is_not_retried_and_an_unreachable_receiver_keeps_the_changes(db, tmp_path, pki):
    out = tmp_path / "out"
    delivered(db, "--initial", "--date", AS_OF, "--out", out)
    value = change_one_reading(db)
    with receiving([(400, {}, b"batch refused: key unknown\nsecond line")], server_tls(pki)) as receiver:
        result = post(db, receiver, pki, "--delta", "--date", AS_OF)
    assert result.exit_code == 1 and len(receiver.requests) == 1
    assert "HTTP 400: batch refused: key unknown" in result.output and "second line" not in result.output

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        closed = types.SimpleNamespace(url="https://127.0.0.1:%d/sec" % s.getsockname()[1])
    result = post(db, closed, pki, "--delta", "--date", AS_OF, "--retries", "1", "--timeout", "2")
    assert result.exit_code == 1 and closed.url in result.output and "after 2 attempt(s)" in result.output
    _, document = delivered(db, "--delta", "--date", AS_OF, "--out", out)
    assert document["header"]["batch"] == 2
    assert [(op["op"], op["data"]["valor"]) for op in document["operations"]] == [("update", value)]


def test_https_to_a_receiver_with_a_private_ca(db, tmp_path, pki):
    with receiving([ACK], server_tls(pki)) as receiver:
        result = run(db, "--initial", "--date", AS_OF, "--post", receiver.url, env={"OPSM_SEC_TOKEN": TOKEN})
        assert result.exit_code == 1 and "certificate verify failed" in result.output and "--ca-file" in result.output
        summary = posted(db, receiver, pki, "--initial", "--date", AS_OF)
    assert summary["batch"] == 1 and len(receiver.requests) == 1
    assert json.loads(receiver.requests[0][2])["header"]["kind"] == "initial"
    result = run(db, "--initial", "--date", AS_OF, "--post", receiver.url, "--ca-file", tmp_path / "missing.pem",
                 env={"OPSM_SEC_TOKEN": TOKEN})
    assert result.exit_code == 1 and "ca-file: cannot read" in result.output


def test_a_batch_is_delivered_with_a_bearer_token_from_a_file_or_the_environment(db, pki):
    with receiving([ACK], server_tls(pki)) as receiver:
        summary = posted(db, receiver, pki, "--initial", "--date", AS_OF, "--token-file", pki.token_file, token=None)
        assert summary["destination"] == receiver.url and summary["batch"] == 1
        assert receiver.requests[0][1]["Authorization"] == "Bearer " + TOKEN
        summary = posted(db, receiver, pki, "--delta", "--date", AS_OF)  # OPSM_SEC_TOKEN
        assert summary["batch"] == 2 and summary["previous_batch"] == 1
        assert receiver.requests[1][1]["Authorization"] == "Bearer " + TOKEN

        result = post(db, receiver, pki, "--delta", "--date", AS_OF, token="an0ther-token")
        assert result.exit_code == 1 and "HTTP 401: unknown token" in result.output
        assert "an0ther-token" not in result.output  # the token is never shown
    assert len(receiver.requests) == 3


def test_the_token_never_comes_from_the_command_line_and_a_post_needs_credentials(db, pki, tmp_path):
    with receiving([ACK], server_tls(pki)) as receiver:
        result = post(db, receiver, pki, "--initial", "--date", AS_OF, "--token", TOKEN)
        assert result.exit_code != 0 and "No such option '--token'" in result.output
        result = post(db, receiver, pki, "--initial", "--date", AS_OF, token=None)
        assert result.exit_code == 1 and (
            "post: the receiver needs credentials: a bearer token (--token-file FILE or OPSM_SEC_TOKEN) and/or a "
            "client certificate (--client-cert)") in result.output
        result = post(db, receiver, pki, "--initial", "--date", AS_OF, "--token-file", pki.token_file)
        assert result.exit_code == 1 and "token: give --token-file or OPSM_SEC_TOKEN, not both" in result.output
        shared = tmp_path / "shared-token"
        shared.write_text(TOKEN)
        shared.chmod(0o644)
        result = post(db, receiver, pki, "--initial", "--date", AS_OF, "--token-file", shared, token=None)
        assert result.exit_code == 1 and "token-file: %s has mode 0644" % shared in result.output
        assert "chmod 600 %s" % shared in result.output
        for text, message in (("", "token-file: %s is empty"), ("two\nlines", "token-file: %s: the token must be one "
                                                                             "line of letters, digits and -._~+/")):
            shared.write_text(text)
            shared.chmod(0o600)
            result = post(db, receiver, pki, "--initial", "--date", AS_OF, "--token-file", shared, token=None)
            assert result.exit_code == 1 and message % shared in result.output
        result = post(db, receiver, pki, "--initial", "--date", AS_OF, token="bad token\r\nX-Evil: 1")
        assert result.exit_code == 1 and "OPSM_SEC_TOKEN: the token must be one line of letters" in result.output
        result = post(db, receiver, pki, "--initial", "--date", AS_OF, "--token-file", tmp_path / "none", token=None)
        assert result.exit_code == 1 and "token-file: cannot read %s" % (tmp_path / "none") in result.output
        result = run(db, "--initial", "--date", AS_OF, "--out", tmp_path / "out", "--token-file", pki.token_file)
        assert result.exit_code == 1 and "token-file: only with --post" in result.output
    assert receiver.requests == []
    not_delivered(db)


def test_a_client_certificate_authenticates_the_distributor(db, pki, tmp_path):
    with receiving([ACK], server_tls(pki, client_certificates=True), token=None) as receiver:
        result = post(db, receiver, pki, "--initial", "--date", AS_OF)  # a token, but no certificate
        assert result.exit_code == 1 and "post: TLS with %s failed" % receiver.url in result.output
        assert "CERTIFICATE" in result.output.upper() and "--client-cert" in result.output
        assert receiver.requests == []
        not_delivered(db)
        summary = posted(db, receiver, pki, "--initial", "--date", AS_OF, "--client-cert", pki.cert, "--client-key",
                         pki.key, token=None)
    assert summary["batch"] == 1 and receiver.requests[0][4] == {"commonName": DISTRIBUTOR}
    assert "Authorization" not in receiver.requests[0][1]

    open_key = tmp_path / "open.key"
    open_key.write_bytes(pki.key.read_bytes())
    open_key.chmod(0o640)
    result = run(db, "--delta", "--date", AS_OF, "--post", "https://127.0.0.1:9/sec", "--client-cert", pki.cert,
                 "--client-key", open_key)
    assert result.exit_code == 1 and "client-key: %s has mode 0640" % open_key in result.output
    result = run(db, "--delta", "--date", AS_OF, "--post", "https://127.0.0.1:9/sec", "--client-cert", pki.ca,
                 "--client-key", pki.key)
    assert result.exit_code == 1 and "client-cert: %s and %s are not a certificate and its key" % (
        pki.ca, pki.key) in result.output
    result = run(db, "--delta", "--date", AS_OF, "--post", "http://127.0.0.1:9/sec", "--insecure-http",
                 "--client-cert", pki.cert, "--client-key", pki.key)
    assert result.exit_code == 1 and "client-cert: needs an https:// URL" in result.output


def test_plain_http_only_with_insecure_http(db, pki):
    with receiving([ACK]) as receiver:
        result = run(db, "--initial", "--date", AS_OF, "--post", receiver.url, env={"OPSM_SEC_TOKEN": TOKEN})
        assert result.exit_code == 1 and ("post: must be an https:// URL (plain http only with --insecure-http, for "
                                          "tests), got %r" % receiver.url) in result.output
        assert receiver.requests == []
        summary = posted(db, receiver, pki, "--initial", "--date", AS_OF)
    assert summary["batch"] == 1 and len(receiver.requests) == 1
    for url in ("ftp://x", "https:///nohost"):
        result = run(db, "--initial", "--date", AS_OF, "--post", url, env={"OPSM_SEC_TOKEN": TOKEN})
        assert result.exit_code == 1 and "post: must be an https:// URL" in result.output


@pytest.mark.parametrize("code", [301, 302, 303, 307, 308])
def test_a_redirect_is_a_failure_and_is_never_followed(db, pki, code):
    with receiving([ACK], server_tls(pki)) as elsewhere:
        with receiving([(code, {"Location": elsewhere.url}, b"moved")], server_tls(pki)) as receiver:
            result = post(db, receiver, pki, "--initial", "--date", AS_OF, "--retries", "2")
    assert result.exit_code == 1
    assert ("post: %s answered HTTP %d, a redirect to %s: not followed (give the receiver's own URL)"
            % (receiver.url, code, elsewhere.url)) in result.output
    assert len(receiver.requests) == 1 and elsewhere.requests == []
    not_delivered(db)


def _answer(status=None, batch=None, received=None, **extra):
    """A reply computed from the request: the acknowledgement's fields, None for the right value, ... to leave out."""
    def reply(data):
        document = json.loads(data)
        right = {"status": "ok", "batch": document["header"]["batch"], "received": len(document["operations"])}
        body = {name: right[name] if value is None else value
                for name, value in (("status", status), ("batch", batch), ("received", received)) if value is not ...}
        return 200, {"Content-Type": "application/json"}, json.dumps(dict(body, **extra)).encode()
    return reply


@pytest.mark.parametrize("reply, reason", [
    ((200, {}, b"ok"), "the answer is not JSON: ok"),
    ((200, {}, b"<html><body>Welcome</body></html>"), "the answer is not JSON: <html><body>Welcome"),
    ((200, {}, b"[]"), "the answer is not a JSON object"),
    ((204, {}, b""), "HTTP 204 is not an acknowledgement (expected 200, 201 or 202)"),
    ((200, {}, b"{}"), "status: missing"),
    (_answer(status="error", message="rut invalid"), "status: must be 'ok' or 'accepted', got 'error'"),
    (_answer(batch=2), "batch: must echo the batch sent, 1, got 2"),
    (_answer(batch="1"), "batch: must echo the batch sent, 1, got '1'"),
    (_answer(batch=...), "batch: missing"),
    (_answer(received=0), "received: must echo the count of operations sent"),
    (_answer(received=...), "received: missing"),
])
def test_an_answer_that_is_not_the_acknowledgement_is_not_a_delivery(db, pki, reply, reason):
    with receiving([reply], server_tls(pki)) as receiver:
        result = post(db, receiver, pki, "--initial", "--date", AS_OF, "--retries", "2")
    assert result.exit_code == 1 and len(receiver.requests) == 1
    assert "post: %s: bad acknowledgement: %s" % (receiver.url, reason) in result.output, result.output
    not_delivered(db)


def test_the_acknowledgement_format_is_configurable(db, pki, tmp_path):
    def lote(data):
        document = json.loads(data)
        return 201, {}, json.dumps({"resultado": "recibido", "lote": {
            "numero": document["header"]["batch"], "registros": len(document["operations"])}}).encode()

    spec = tmp_path / "ack.json"
    spec.write_text(json.dumps({"http_status": [201], "status_field": "resultado", "status_values": ["recibido"],
                                "batch_field": "lote.numero", "received_field": "lote.registros"}))
    with receiving([lote], server_tls(pki)) as receiver:
        result = post(db, receiver, pki, "--initial", "--date", AS_OF)  # the default acknowledgement: refused
        assert result.exit_code == 1 and "bad acknowledgement: status: missing" in result.output
        summary = posted(db, receiver, pki, "--initial", "--date", AS_OF, "--ack-spec", spec)
    assert summary["batch"] == 1 and len(receiver.requests) == 2
    for text, message in (("{", "ack-spec: %s is not JSON" % spec),
                          ('{"http_status": [302]}', "ack-spec: http_status: must be a list of 2xx codes, got [302]"),
                          ('{"status_values": []}', "ack-spec: status_values: must be a list of strings"),
                          ('{"batch_field": ""}', "ack-spec: batch_field: must be a field name"),
                          ('{"count": "n"}', "ack-spec: unknown field 'count'")):
        spec.write_text(text)
        result = run(db, "--delta", "--date", AS_OF, "--post", receiver.url, "--ack-spec", spec,
                     env={"OPSM_SEC_TOKEN": TOKEN})
        assert result.exit_code == 1 and message in result.output, result.output


def test_a_full_disk_writes_no_feed_file_and_advances_nothing(db, tmp_path, monkeypatch):
    out = tmp_path / "out"
    out.mkdir()
    full_disk(monkeypatch, out, free=4096)
    result = run(db, "--initial", "--date", AS_OF, "--out", out)
    monkeypatch.undo()
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert "out: cannot write %s: No space left on device" % (out / "sec-initial-2024-03-31-000001.json") in \
        result.output
    assert os.listdir(out) == []
    not_delivered(db)


def test_a_batch_the_database_cannot_record_leaves_no_feed_file(db, tmp_path, monkeypatch, pki):
    def locked(*args):
        raise sqlite3.OperationalError("database is locked")

    monkeypatch.setattr(sec, "remember", locked)
    out = tmp_path / "out"
    result = run(db, "--initial", "--date", AS_OF, "--out", out)
    assert result.exit_code == 1 and isinstance(result.exception, SystemExit), repr(result.exception)
    assert ("db: cannot record batch 1 as delivered: database is locked; %s was removed"
            % (out / "sec-initial-2024-03-31-000001.json")) in result.output
    assert os.listdir(out) == []
    with receiving([ACK], server_tls(pki)) as receiver:
        result = post(db, receiver, pki, "--initial", "--date", AS_OF)
    assert result.exit_code == 1 and ("db: %s acknowledged batch 1 but recording it failed: database is locked; the "
                                      "next run sends it again with the same Idempotency-Key" % receiver.url
                                      ) in result.output
    monkeypatch.undo()
    not_delivered(db)


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
