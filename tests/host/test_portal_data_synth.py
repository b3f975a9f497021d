"""The synthetic distributor (host/synth.py) and `opsm portal synth` / `opsm portal user add`: real CUT codes and
UTM zones, valid RUTs, the counts it promises, the same distributor from the same seed, and a customer's
36 months as the pages ask for them."""

import pytest
from click.testing import CliRunner

from opsm.host import customers as register
from opsm.host import network, synth
from opsm.host.cli import cli
from opsm.host.console import passwords
from opsm.host.store import Store
from opsm.protocol import registers as regmap

LAST_MONTH = "2025-06"
CUSTOMERS = 60
# CUT codes as the Subsecretaría de Desarrollo Regional publishes them
KNOWN_CUT = {"09": "La Araucanía", "10": "Los Lagos", "11": "Aysén del General Carlos Ibáñez del Campo",
             "09101": "Temuco", "09120": "Villarrica", "09203": "Curacautín", "10101": "Puerto Montt",
             "10201": "Castro", "10301": "Osorno", "10402": "Futaleufú", "11101": "Coyhaique", "11401": "Chile Chico"}


@pytest.fixture(scope="module")
def store(tmp_path_factory):
    with Store.open(str(tmp_path_factory.mktemp("synth") / "synth.sqlite")) as opened:
        opened.counts = synth.create(opened, 17, CUSTOMERS, LAST_MONTH)
        yield opened


def every_customer(store) -> list:
    return store.find_customers("rut", "", limit=10 * CUSTOMERS)


def cascade(store):
    """(region, comuna, substation, feeder, transformer) of every transformer, walking the pages' filters."""
    for region in store.regions():
        for comuna in store.comunas(region["cut"]):
            for substation in store.substations(comuna["cut"]):
                for feeder in store.feeders(substation["id"]):
                    for transformer in store.transformers(feeder["id"]):
                        yield region, comuna, substation, feeder, transformer


def test_the_counts_it_promises(store):
    counts = store.network_counts()
    assert counts["region"] == 3 and 3 <= counts["substation"] <= 5
    substations = [s for r in store.regions() for c in store.comunas(r["cut"]) for s in store.substations(c["cut"])]
    feeders = [store.feeder(f["id"]) for s in substations for f in store.feeders(s["id"])]
    assert all(2 <= len(store.feeders(s["id"])) <= 3 for s in substations)
    subs = [f for f in feeders if f["kind"] == "sub-alimentador"]
    assert len(subs) == 1 and subs[0]["owner"] == synth.NEIGHBOUR and subs[0]["purchase_node"]
    assert all(f["owner"] is None for f in feeders if f["kind"] == "alimentador")
    assert counts["pole"] == counts["span"] >= 30 * len(feeders)
    assert all(f["transformers"] and f["geometry"]["type"] == "MultiLineString" for f in feeders)
    assert all(3 <= len(store.feeder_plan(f["id"])["equipment"]) <= 5 for f in feeders)
    assert all(len(store.demands("feeder", f["id"], 100)) == synth.DEMAND_MONTHS for f in feeders)
    assert counts["feeder_demand"] == synth.DEMAND_MONTHS * len(feeders)
    monitored = [t for *_, t in cascade(store) if store.transformer(t["id"])["monitored"]]
    assert monitored and counts["transformer_demand"] == synth.DEMAND_MONTHS * len(monitored)
    assert counts["vnr"] == len(synth.VNR)

    people = every_customer(store)
    generators = [c for c in people if c["generation"]]
    assert len(people) == CUSTOMERS and 1 <= len(generators) <= CUSTOMERS // 4
    supplies = store.supply_counts()
    assert supplies["generation_contract"] == len(generators) and supplies["supply"] == CUSTOMERS
    assert supplies["document"] >= 2 * len(generators)
    annexes = sum(len(store.customer_bills(c["customer_id"], "inyeccion", 100)) for c in generators)
    assert supplies["bill"] == synth.BILL_MONTHS * CUSTOMERS + annexes and annexes > 0
    assert store.counts["harvested_meter"] >= CUSTOMERS // 3 and store.counts["portal_user"] == 4


def test_regions_and_comunas_carry_their_real_cut_codes(store):
    names = {r["cut"]: r["name"] for r in store.regions()}
    for region in store.regions():
        for comuna in store.comunas(region["cut"]):
            assert comuna["cut"].startswith(region["cut"]) and len(comuna["cut"]) == 5
            names[comuna["cut"]] = comuna["name"]
    assert {cut: names[cut] for cut in KNOWN_CUT} == KNOWN_CUT


def test_every_place_is_near_its_comuna_and_in_its_own_utm_zone(store):
    centres = {cut: (lon, lat) for _, _, comunas in synth.REGIONS for cut, _, lat, lon, _ in comunas}
    zones = set()
    for region, comuna, substation, feeder, transformer in cascade(store):
        plan = store.feeder_plan(feeder["id"])
        for row in [store.substation(substation["id"])] + plan["poles"] + plan["transformers"] + plan["equipment"]:
            assert row["zone"] == network.utm_zone(row["lon"], row["lat"]) and row["datum"] == "WGS84"
            assert network.distance_m(network.to_wgs84(row["x"], row["y"], "WGS84", row["zone"]),
                                      (row["lon"], row["lat"])) < 0.05
            assert network.distance_m((row["lon"], row["lat"]), centres[comuna["cut"]]) < 10_000
            zones.add(row["zone"])
    assert zones == {"18S", "19S"}
    substations = [store.substation(s["id"]) for r in store.regions() for c in store.comunas(r["cut"])
                   for s in store.substations(c["cut"])]
    assert "19S" in {s["zone"] for s in substations}


def test_spans_are_drawn_and_measured(store):
    for *_, feeder, _ in cascade(store):
        for span in store.feeder_plan(feeder["id"])["spans"]:
            start, end = span["geometry"]["coordinates"]
            assert span["length_m"] == pytest.approx(network.distance_m(start, end), abs=0.06)
            assert 60 < span["length_m"] < 140 and span["phases"] in (1, 2, 3)
            assert store.vnr_code(span["vnr_code"])["total"] > 0


def rut_digit(body: int) -> str:
    """The RUT's check digit written again from the rule (modulo 11, weights 2 to 7 from the right)."""
    digits = [int(d) for d in reversed(str(body))]
    rest = 11 - sum(d * (2 + i % 6) for i, d in enumerate(digits)) % 11
    return "0" if rest == 11 else "K" if rest == 10 else str(rest)


def test_every_rut_has_its_check_digit(store):
    ruts = [c["customer_id"] for c in every_customer(store)] + [u["rut"] for u in store.portal_users()]
    assert len({c["customer_id"] for c in every_customer(store)}) == CUSTOMERS
    for rut in ruts:
        body, digit = rut.split("-")
        assert digit == rut_digit(int(body)) and register.identification(rut, "rut") == rut


def test_the_same_seed_makes_the_same_distributor(store, tmp_path):
    with Store.open(str(tmp_path / "again.sqlite")) as again:
        synth.create(again, 17, CUSTOMERS, LAST_MONTH)
        assert every_customer(again) == every_customer(store)
        assert again.network_counts() == store.network_counts()
        assert list(cascade(again)) == list(cascade(store))
        rut = every_customer(store)[0]["customer_id"]
        number = store.customer_bills(rut)[0]["number"]
        assert again.customer_bill(rut, number) == store.customer_bill(rut, number)
        assert again.customer_months(rut) == store.customer_months(rut)
    with Store.open(str(tmp_path / "other.sqlite")) as other:
        synth.create(other, 18, 5, LAST_MONTH)
        assert {c["customer_id"] for c in every_customer(other)}.isdisjoint(
            c["customer_id"] for c in every_customer(store))
        with pytest.raises(ValueError, match="empty database"):
            synth.create(other, 18, 5, LAST_MONTH)


def test_a_customers_36_months_bills_and_meter(store):
    accounts = {u["profile"]: u for u in store.portal_users()}
    cliente, eg = accounts["cliente"]["customer_id"], accounts["eg"]["customer_id"]
    for rut in (cliente, eg):
        months = store.customer_months(rut)
        bills = store.customer_bills(rut)
        assert len(months) == len(bills) == 36 and months[-1]["month"] == LAST_MONTH == bills[0]["period"]
        assert [m["month"] for m in months] == [b["period"] for b in reversed(bills)]
        assert {m["consumption_from"] for m in months} == {"meter"}  # the demo's customers are harvested
        assert [m["consumption_kwh"] for m in months] == [b["kwh_consumed"] for b in reversed(bills)]
        assert [m["charges_clp"] for m in months] == [b["amount_clp"] for b in reversed(bills)]
        assert store.customer_bill(rut, bills[5]["number"])["pdf"].startswith(b"%PDF")
    recent = store.customer_months(eg, count=12)
    annexes = {b["period"]: b for b in store.customer_bills(eg, "inyeccion")}
    assert [m["injection_kwh"] for m in recent] == [annexes[m["month"]]["kwh_injected"] for m in recent]
    assert all(m["net_clp"] == m["charges_clp"] - m["injection_clp"] for m in recent)

    general, technical = store.customer_general(eg), store.customer_technical(eg)
    assert general["generation"] is True and general["region"] and 1 <= general["billing_day"] <= 28
    assert technical["transformer_kva"] > 0 and technical["service_kw"] in synth.SUPPLY_KW
    contract = store.generation_contract(eg)
    assert contract["liquidation_date"] > LAST_MONTH and contract["zone"] in ("18S", "19S")
    remanentes = store.customer_remanentes(eg)
    assert 0 < len(remanentes) <= 60 and remanentes == sorted(remanentes, key=lambda r: r["month"], reverse=True)
    assert {d["kind"] for d in store.customer_documents(eg)} >= {"contrato", "protocolo"}
    document = store.customer_documents(eg)[0]
    assert store.customer_document(eg, document["file_name"])["pdf"].startswith(b"%PDF")
    registers = {r["obis"]: r for r in store.customer_registers(eg)}
    assert registers[regmap.by_key("import_wh").obis]["unit"] == "Wh"
    assert registers[regmap.by_key("export_wh").obis]["value"] > 0

    unharvested = next(c["customer_id"] for c in every_customer(store)
                       if not store.customer_registers(c["customer_id"]))
    assert {m["consumption_from"] for m in store.customer_months(unharvested)} == {"bill"}


def test_the_cascade_and_the_details_agree(store):
    for region, comuna, substation, feeder, transformer in cascade(store):
        detail = store.transformer(transformer["id"])
        assert [b["id"] for b in detail["breadcrumb"]] == [region["cut"], comuna["cut"], substation["id"], feeder["id"]]
        assert store.transformer_on_pole(detail["pole"])["feeder"] == feeder["id"]
        assert store.find_in_feeder(feeder["id"], "pole", detail["pole"])[0]["plate"] == detail["pole"]
    people = every_customer(store)
    number = people[0]["client_number"]
    assert store.transformer_of_customer(number)["id"] == store.customer_technical(people[0]["customer_id"])[
        "transformer"]


def test_the_demo_accounts_open_with_their_published_passwords(store):
    for name, profile, password in synth.DEMO_ACCOUNTS:
        account, stored = store.portal_credentials(name)
        assert account["profile"] == profile and passwords.matches(password, stored)
    eg = store.portal_credentials("demo-eg")[0]["customer_id"]
    assert store.customer_general(eg)["generation"] and store.customer_remanentes(eg)


def test_the_cli_writes_a_distributor_and_adds_accounts(tmp_path, monkeypatch):
    db = str(tmp_path / "cli.sqlite")
    result = CliRunner().invoke(cli, ["portal", "synth", "--db", db, "--customers", "12", "--month", LAST_MONTH])
    assert result.exit_code == 0, result.output
    assert "customer             12" in result.output and "demo account demo-eg (eg), password" in result.output
    result = CliRunner().invoke(cli, ["portal", "synth", "--db", db])
    assert result.exit_code == 1 and "empty database" in result.output
    result = CliRunner().invoke(cli, ["portal", "synth", "--db", str(tmp_path / "x.sqlite"), "--month", "2025-13"])
    assert result.exit_code == 1 and "month: must be YYYY-MM" in result.output

    with Store.open(db) as store:
        people = every_customer(store)
    plain = next(c for c in people if not c["generation"])
    monkeypatch.setenv("OPSM_PORTAL_PASSWORD", "una clave larga")

    def add(*args):
        return CliRunner().invoke(cli, ["portal", "user", "add", "--db", db] + list(args))

    result = add("--profile", "cliente", "--name", "ana", "--customer", plain["client_number"])
    assert result.exit_code == 0 and "customer %s" % plain["customer_id"] in result.output, result.output
    assert add("--profile", "cliente", "--name", "ana", "--customer", plain["client_number"]).output.endswith(
        "name: 'ana' is taken\n")
    assert "has no generation" in add("--profile", "eg", "--name", "x", "--customer", plain["customer_id"]).output
    assert "only for them" in add("--profile", "sec", "--name", "x", "--customer", plain["customer_id"]).output
    assert "check digit" in add("--profile", "sec", "--name", "x", "--rut", "12.345.678-4").output
    result = add("--profile", "sec", "--name", "auditor", "--rut", "12.345.678-5")
    assert result.exit_code == 0, result.output
    monkeypatch.setenv("OPSM_PORTAL_PASSWORD", "corta")
    assert "at least 10 characters" in add("--profile", "publico", "--name", "y").output
    with Store.open(db) as store:
        assert store.portal_credentials("auditor")[0]["rut"] == "12345678-5"
        assert passwords.matches("una clave larga", store.portal_credentials("ana")[1])


def test_the_synthetic_distributor_on_postgresql(postgres_db):
    with Store.open(postgres_db) as store:
        counts = synth.create(store, 5, 15, LAST_MONTH)
        assert counts["customer"] == 15 and store.supply_counts()["bill"] == counts["bill"]
        eg = store.portal_credentials("demo-eg")[0]["customer_id"]
        months = store.customer_months(eg)
        assert len(months) == 36 and {m["consumption_from"] for m in months} == {"meter"}
        bill = store.customer_bills(eg)[0]
        assert store.customer_bill(eg, bill["number"])["pdf"].startswith(b"%PDF") and bill["has_pdf"] is True
        assert list(cascade(store)) and store.find_customers("rut", eg[:5])
