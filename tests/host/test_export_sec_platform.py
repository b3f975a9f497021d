"""`opsm export sec` of everything the information platform shows: a synthetic distributor's network and
customers (host/synth.py) in an initial load and in deltas of exactly what changed."""

import collections
import hashlib
import json
import pathlib
import shutil

import jsonschema
import pytest
from click.testing import CliRunner

from opsm.host import sec, synth
from opsm.host.cli import cli
from opsm.host.store import Store

ROOT = pathlib.Path(__file__).resolve().parents[2]
MONTH, AS_OF = "2025-06", "2025-07-31"  # the synthetic bills of June are issued in July
CUSTOMERS = 12


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory) -> pathlib.Path:
    db = tmp_path_factory.mktemp("platform") / "synth.sqlite"
    with Store.open(str(db)) as store:
        synth.create(store, seed=17, customers=CUSTOMERS, last_month=MONTH)
    return db


@pytest.fixture
def db(synthetic, tmp_path) -> pathlib.Path:
    return pathlib.Path(shutil.copy(synthetic, tmp_path / "synth.sqlite"))


def delivered(db, kind: str, out) -> dict:
    """The document of a batch written to `out` through the CLI."""
    result = CliRunner().invoke(cli, ["export", "sec", "--db", str(db), "--" + kind, "--date", AS_OF, "--out",
                                      str(out), "--json"])
    assert result.exit_code == 0, result.output
    return json.loads(pathlib.Path(json.loads(result.output)["destination"]).read_text(encoding="utf-8"))


def count(db, text: str) -> int:
    with Store.open(str(db)) as store:
        return store.query(text)[0][0]


def test_the_initial_load_holds_every_kind_the_platform_shows(db, tmp_path):
    document = delivered(db, "initial", tmp_path / "out")
    schema = json.loads((ROOT / "host" / "schemas" / "sec-feed.schema.json").read_text(encoding="utf-8"))
    jsonschema.Draft202012Validator.check_schema(schema)
    jsonschema.Draft202012Validator(schema, format_checker=jsonschema.Draft202012Validator.FORMAT_CHECKER).validate(
        document)
    assert schema["$id"] == "urn:opsm:sec-feed:%d" % sec.SCHEMA_VERSION
    assert document["header"]["schema_version"] == sec.SCHEMA_VERSION == 2
    with Store.open(str(db)) as store:
        network, supplies = store.network_counts(), store.supply_counts()
    monitored = count(db, "SELECT COUNT(*) FROM transformers WHERE monitored = 1")
    remanentes = count(db, "SELECT COUNT(*) FROM remanentes WHERE month > '2020-07' AND month <= '2025-07'")
    registers = count(db, "SELECT COUNT(*) FROM (SELECT DISTINCT device_id, obis FROM register_values) r")
    expected = {
        "region": network["region"], "comuna": network["comuna"], "subestacion": network["substation"],
        "alimentador": network["feeder"], "poste": network["pole"], "transformador": network["transformer"],
        "vano": network["span"], "equipo": network["equipment"], "vnr": network["vnr"],
        "demanda_alimentador": 12 * network["feeder"], "demanda_transformador": 12 * monitored,
        "cliente": CUSTOMERS, "suministro": CUSTOMERS, "consumo_cargo": 36 * CUSTOMERS,
        "consumo_inyeccion": 12 * CUSTOMERS, "boleta": supplies["bill"], "contrato_eg": supplies["generation_contract"],
        "remanente": remanentes, "documento": supplies["document"], "registro": registers}
    assert dict(collections.Counter(op["type"] for op in document["operations"])) == expected
    assert all(expected.values()) and set(expected) == set(sec.TYPES)
    assert {op["op"] for op in document["operations"]} == {"insert"}
    assert document["header"]["counts"] == {"insert": sum(expected.values()), "update": 0, "delete": 0}
    # by type, parents first, as SEC would insert them
    kinds = [op["type"] for op in document["operations"]]
    assert kinds == sorted(kinds, key=sec.TYPES.index) and kinds[0] == "vnr" and kinds[-1] == "registro"


def test_records_carry_the_stored_values_and_documents_as_references(db, tmp_path):
    document = delivered(db, "initial", tmp_path / "out")
    ops = {sec.record_key(op["type"], op["key"]): op["data"] for op in document["operations"]}
    with Store.open(str(db)) as store:
        transformer = store.transformer(sorted(store.network_keys("transformer"))[0])
        generator = next(c["customer_id"] for c in store.customers_of_distributor(synth.DISTRIBUTOR)
                         if store.generation_contract(c["customer_id"]))
        bill = store.customer_bill(generator, store.customer_bills(generator, "inyeccion")[0]["number"])
        paper = store.customer_document(generator, store.customer_documents(generator)[0]["file_name"])
        general, technical = store.customer_general(generator), store.customer_technical(generator)
        demand = store.demands("feeder", transformer["feeder"])[0]
    assert ops[sec.record_key("transformador", {"id": transformer["id"]})] == {
        "nombre": transformer["name"], "alimentador": transformer["feeder"], "capacidad_kva": transformer["capacity_kva"],
        "conexion": transformer["connection"], "tension": transformer["voltage"], "numero": transformer["pole"],
        "tipo": transformer["kind"], "fases": transformer["phases"], "codigo_vnr": transformer["vnr_code"],
        "monitoreado": transformer["monitored"], "ubicacion": {
            "x": transformer["x"], "y": transformer["y"], "datum": "WGS84", "zona": transformer["zone"],
            "lon": transformer["lon"], "lat": transformer["lat"]}}
    assert ops[sec.record_key("boleta", {"rut": generator, "numero": bill["number"]})] == {
        "tipo": "inyeccion", "emitida": bill["issued_on"], "periodo": bill["period"], "kwh_consumidos": None,
        "kwh_inyectados": bill["kwh_injected"], "monto_clp": bill["amount_clp"],
        "pdf_sha256": hashlib.sha256(bill["pdf"]).hexdigest()}
    assert ops[sec.record_key("documento", {"rut": generator, "archivo": paper["file_name"]})] == {
        "tipo": paper["kind"], "pdf_sha256": hashlib.sha256(paper["pdf"]).hexdigest()}
    assert ops[sec.record_key("suministro", {"rut": generator})] == {
        "transformador": technical["transformer"], "dia_facturacion": general["billing_day"], "generacion": True}
    assert ops[sec.record_key("demanda_alimentador", {"alimentador": transformer["feeder"], "mes": MONTH})] == {
        "maxima_kw": demand["max_kw"], "minima_kw": demand["min_kw"]} and demand["month"] == MONTH
    assert b"%PDF" not in sec.body(document)  # references only: no document's bytes leave


REISSUED = b"%PDF-1.4 reissued copy"


def change_one_transformer_and_one_bill(store) -> tuple:
    """Through the platform's store: a transformer's capacity and a bill's copy (a reissued PDF, which no
    monthly figure totals); their keys."""
    transformer = store.transformer(sorted(store.network_keys("transformer"))[0])
    store.save_network({"transformer": [dict(transformer, capacity_kva=transformer["capacity_kva"] + 5,
                                             monitored=int(transformer["monitored"]))]})
    rut = store.customers_of_distributor(synth.DISTRIBUTOR)[0]["customer_id"]
    bill = store.customer_bill(rut, store.customer_bills(rut)[0]["number"])
    store.save_supplies({"bill": [dict(bill, pdf=REISSUED)]})
    return ({"id": transformer["id"]}, transformer["capacity_kva"] + 5), ({"rut": rut, "numero": bill["number"]},
                                                                          hashlib.sha256(REISSUED).hexdigest())


def test_a_delta_holds_exactly_the_changed_transformer_and_bill(db, tmp_path):
    out = tmp_path / "out"
    delivered(db, "initial", out)
    with Store.open(str(db)) as store:
        (transformer, kva), (bill, amount) = change_one_transformer_and_one_bill(store)
    document = delivered(db, "delta", out)
    sec.validate(document)
    assert [(op["op"], op["type"], op["key"]) for op in document["operations"]] == [
        ("update", "transformador", transformer), ("update", "boleta", bill)]
    assert document["operations"][0]["data"]["capacidad_kva"] == kva
    assert document["operations"][1]["data"]["pdf_sha256"] == amount
    assert document["header"]["counts"] == {"insert": 0, "update": 2, "delete": 0}

    document = delivered(db, "delta", out)  # nothing changed since
    assert document["operations"] == [] and document["header"]["counts"] == {"insert": 0, "update": 0, "delete": 0}
    assert (document["header"]["batch"], document["header"]["previous_batch"]) == (3, 2)


def test_a_bills_new_amount_updates_the_bill_and_the_months_charges_the_customer_sees(db, tmp_path):
    """The feed's monthly charges are the platform's (a month's supply bill, else the register's charges)."""
    out = tmp_path / "out"
    delivered(db, "initial", out)
    with Store.open(str(db)) as store:
        rut = store.customers_of_distributor(synth.DISTRIBUTOR)[0]["customer_id"]
        bill = store.customer_bill(rut, store.customer_bills(rut)[0]["number"])
        store.save_supplies({"bill": [dict(bill, amount_clp=bill["amount_clp"] + 1000)]})
        shown = {m["month"]: m for m in store.customer_months(rut, MONTH)}
    document = delivered(db, "delta", out)
    assert [(op["op"], op["type"], op["key"]) for op in document["operations"]] == [
        ("update", "consumo_cargo", {"rut": rut, "mes": bill["period"]}),
        ("update", "boleta", {"rut": rut, "numero": bill["number"]})]
    month, billed = (op["data"] for op in document["operations"])
    assert billed["monto_clp"] == bill["amount_clp"] + 1000
    assert month["cargo_centavos"] == shown[bill["period"]]["charges_clp"] * 100 == billed["monto_clp"] * 100


@pytest.mark.parametrize("table, record_type, column, field", [
    ("customer_documents", "documento", "file_name", "archivo"),
    ("remanentes", "remanente", "month", "mes"),
    ("poles", "poste", "plate", "placa"),
])
def test_a_record_that_disappeared_is_exactly_one_deletion(db, tmp_path, table, record_type, column, field):
    out = tmp_path / "out"
    initial = delivered(db, "initial", out)
    gone = next(op["key"] for op in initial["operations"] if op["type"] == record_type)
    with Store.open(str(db)) as store:  # the platform's store deletes nothing: as a distributor's database would
        where = "%s = ?" % column + (" AND customer_id = ?" if "rut" in gone else "")
        store.execute("DELETE FROM %s WHERE %s" % (table, where), (gone[field],) + ((gone["rut"],) if "rut" in gone
                                                                                      else ()))
        store.db.commit()
    document = delivered(db, "delta", out)
    assert document["operations"] == [{"op": "delete", "type": record_type, "key": gone}]
    assert delivered(db, "delta", out)["operations"] == []


def test_a_customer_gone_is_deleted_children_first(db, tmp_path):
    out = tmp_path / "out"
    delivered(db, "initial", out)
    with Store.open(str(db)) as store:
        rut = next(c["customer_id"] for c in store.customers_of_distributor(synth.DISTRIBUTOR)
                   if store.generation_contract(c["customer_id"]))
        for table in ("customer_documents", "remanentes", "generation_contracts", "bills", "supplies", "customers"):
            store.execute("DELETE FROM %s WHERE customer_id = ?" % table, (rut,))
        store.db.commit()
    ops = delivered(db, "delta", out)["operations"]
    assert {op["op"] for op in ops} == {"delete"} and {op["key"].get("rut") for op in ops} - {None, rut} == set()
    kinds = [op["type"] for op in ops]
    assert kinds == sorted(kinds, key=lambda kind: -sec.TYPES.index(kind))
    assert kinds[0] == "registro" and kinds[-1] == "cliente" and "documento" in kinds and "boleta" in kinds


def test_a_document_of_another_version_is_refused(db, tmp_path):
    with Store.open(str(db)) as store:
        document = sec.build(store, "initial", sec.as_of_date(AS_OF))
    document["operations"] = document["operations"][:3]
    sec.validate(document)
    document["header"]["schema_version"] = 1
    with pytest.raises(ValueError, match="header/schema_version: 2 was expected"):
        sec.validate(document)
    del document["header"]["schema_version"]
    with pytest.raises(ValueError, match="'schema_version' is a required property"):
        sec.validate(document)


def test_postgresql_feeds_the_platform_too(postgres_db, tmp_path):
    with Store.open(postgres_db) as store:
        synth.create(store, seed=17, customers=3, last_month=MONTH)
    document = delivered(postgres_db, "initial", tmp_path)
    assert {op["type"] for op in document["operations"]} >= set(sec.TYPES) - {"contrato_eg", "remanente", "documento"}
    with Store.open(postgres_db) as store:
        (transformer, _), (bill, _) = change_one_transformer_and_one_bill(store)
    document = delivered(postgres_db, "delta", tmp_path)
    assert [(op["op"], op["type"], op["key"]) for op in document["operations"]] == [
        ("update", "transformador", transformer), ("update", "boleta", bill)]


def test_a_feed_delivered_under_version_1_continues_with_the_new_kinds_inserted(db, tmp_path):
    out = tmp_path / "out"
    initial = delivered(db, "initial", out)
    version_1 = ("cliente", "consumo_cargo", "consumo_inyeccion", "registro")
    with Store.open(str(db)) as store:  # what SEC holds after a version 1 load: its four types only
        for key in store.sec_held():
            if json.loads(key)["type"] not in version_1:
                store.execute("DELETE FROM sec_records WHERE record_key = ?", (key,))
        store.db.commit()
    document = delivered(db, "delta", out)
    added = [op for op in initial["operations"] if op["type"] not in version_1]
    assert document["operations"] == added and {op["op"] for op in added} == {"insert"}
