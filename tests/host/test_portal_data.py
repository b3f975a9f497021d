"""The information platform's data (SEC, Anexo 1): the network's import (samples/network/), its checks, UTM and
WGS84, and the queries the pages make of the store, on SQLite and PostgreSQL."""

import json
import math
import pathlib
import shutil
import types

import pytest
from click.testing import CliRunner

from opsm.host import network, readings
from opsm.host.cli import cli
from opsm.host.rowfile import RowFileError
from opsm.host.store import AlreadyStored, Store
from opsm.host.store.network import TABLES
from opsm.protocol import registers as regmap

ROOT = pathlib.Path(__file__).resolve().parents[2]
SAMPLES = ROOT / "samples" / "network"


@pytest.fixture(params=["sqlite", "postgresql"])
def url(request, tmp_path):
    return str(tmp_path / "portal.sqlite") if request.param == "sqlite" else request.getfixturevalue("postgres_db")


@pytest.fixture
def samples(tmp_path):
    """A copy of samples/network/ to spoil."""
    return pathlib.Path(shutil.copytree(SAMPLES, tmp_path / "network"))


def rows_in(path: pathlib.Path) -> int:
    return len([line for line in path.read_text(encoding="utf-8").splitlines()[1:] if line.strip()])


def flat(positions: list) -> list:
    return [value for position in positions for value in position]


def imported(url: str, folder) -> Store:
    store = Store.open(url)
    network.import_files(store, network.files_in(str(folder)))
    return store


# --- the import ----------------------------------------------------------------------------------------------

def test_every_kind_the_store_keeps_has_its_columns_and_a_sample():
    assert set(network.KINDS) == set(TABLES)
    assert {path.stem for path in SAMPLES.glob("*.csv")} == set(TABLES)


def test_the_samples_go_in_whole_and_come_back_as_the_pages_ask(url):
    with imported(url, SAMPLES) as store:
        assert store.network_counts() == {kind: rows_in(SAMPLES / (kind + ".csv")) for kind in TABLES}
        assert store.regions() == [{"cut": "10", "name": "Los Lagos"}]
        assert store.comunas("10") == [{"cut": "10101", "name": "Puerto Montt"}, {"cut": "10109",
                                                                                    "name": "Puerto Varas"}]
        assert store.substations("10101") == [{"id": "SE-PMO", "name": "Subestación Puerto Montt"}]
        assert store.substations("10109") == []
        assert [f["id"] for f in store.feeders("SE-PMO")] == ["AL-PMO-1", "AL-PMO-2"]
        assert store.transformers("AL-PMO-1") == [{"id": "TD-00001", "name": "TD Cardonal 1"},
                                                  {"id": "TD-00002", "name": "TD Cardonal 2"}]

        substation = store.substation("SE-PMO")
        assert substation["power_transformers"] == ["PMO-TP1 66/23 kV 30 MVA", "PMO-TP2 66/23 kV 30 MVA"]
        assert [t["id"] for t in substation["transformers"]] == ["TD-00001", "TD-00002"]
        assert substation["breadcrumb"] == [{"level": "region", "id": "10", "name": "Los Lagos"},
                                            {"level": "comuna", "id": "10101", "name": "Puerto Montt"}]

        feeder = store.feeder("AL-PMO-2")
        assert (feeder["kind"], feeder["owner"], feeder["purchase_node"]) == (
            "sub-alimentador", "Distribuidora Vecina S.A.", "Nodo Alerce 23 kV")
        assert feeder["demands"] == [{"month": "2025-03", "max_kw": 1880.0, "min_kw": -120.0}]
        feeder = store.feeder("AL-PMO-1")
        assert feeder["geometry"]["type"] == "LineString" and len(feeder["geometry"]["coordinates"]) == 4
        assert [d["month"] for d in feeder["demands"]] == ["2025-03", "2025-02", "2025-01"]  # newest first
        assert feeder["short_circuit_kva"] == 182000 and feeder["capacity_kva"] == 9500
        assert [b["name"] for b in feeder["breadcrumb"]] == ["Los Lagos", "Puerto Montt", "Subestación Puerto Montt"]

        # lon, lat given: x, y computed in the point's zone; x, y given: lon, lat computed
        given_wgs84, given_utm = store.transformer("TD-00001"), store.transformer("TD-00002")
        assert (given_wgs84["lon"], given_wgs84["lat"], given_wgs84["datum"], given_wgs84["zone"]) == (
            -72.935, -41.4655, "WGS84", "18S")
        assert given_wgs84["x"] == pytest.approx(672446.73, abs=0.01)
        assert given_wgs84["y"] == pytest.approx(5407507.71, abs=0.01)
        assert (given_utm["x"], given_utm["y"]) == (672701.25, 5407668.26)
        assert (given_utm["lon"], given_utm["lat"]) == pytest.approx((-72.932, -41.464), abs=1e-6)
        assert given_wgs84["monitored"] is True and given_utm["monitored"] is False
        assert [d["max_kw"] for d in given_wgs84["demands"]] == [58.9, 52.4]
        assert given_utm["demands"] == []  # not in the SMMC: no demands shown
        assert (given_wgs84["kind"], given_wgs84["phases"], given_utm["kind"], given_utm["phases"]) == (
            "trifásico", "RST", "monofásico", "S")
        assert (given_wgs84["feeder_name"], given_wgs84["substation_name"], given_wgs84["comuna_name"]) == (
            "Cardonal", "Subestación Puerto Montt", "Puerto Montt")
        assert [b["level"] for b in given_wgs84["breadcrumb"]] == ["region", "comuna", "substation", "feeder"]

        assert store.vnr_code(" TD-3F-75 ") == {
            "code": "TD-3F-75", "description": "Transformador trifásico 75 kVA", "recargos_1": 6250000,
            "montaje": 720000, "stotal_1": 6970000, "ing_gg": 836400, "stotal_2": 7806400, "int_int": 234192,
            "total": 8040592}
        assert store.vnr_code("NADA") is None
        assert store.transformer("TD-99999") is None and store.feeder("X") is None and store.substation("X") is None


def test_searches_inside_a_feeder_and_for_a_transformer(url):
    with imported(url, SAMPLES) as store:
        assert [p["plate"] for p in store.find_in_feeder("AL-PMO-1", "pole", "p-10000")] == [
            "P-100001", "P-100002", "P-100003"]
        assert [p["plate"] for p in store.find_in_feeder("AL-PMO-1", "pole", "", limit=1, offset=1)] == ["P-100002"]
        assert store.find_in_feeder("AL-PMO-2", "pole", "P-100001") == []  # another feeder's
        assert store.find_in_feeder("AL-PMO-1", "pole", "%") == []  # a wildcard is a character like any other
        span = store.find_in_feeder("AL-PMO-1", "span", "200003")[0]
        assert (span["origin"], span["destination"], span["length_m"], span["phases"], span["capacity_a"]) == (
            "P-100002", "P-100003", 301.3, 3, 275.0)
        equipment = store.find_in_feeder("AL-PMO-1", "equipment", "reg")[0]
        assert (equipment["kind"], equipment["capacity"], equipment["capacity_unit"], equipment["ratio"],
                equipment["voltage_setpoints"]) == ("regulador de tensión", 500.0, "kVA", "13800/120",
                                                    "120 V ± 1,5 %")
        assert store.transformer_on_pole("P-100003")["id"] == "TD-00002"
        assert store.transformer_on_pole("P-100001") is None


def test_the_feeder_plan_draws_spans_without_a_line_of_their_own_from_pole_to_pole(url):
    with imported(url, SAMPLES) as store:
        plan = store.feeder_plan("AL-PMO-1")
        spans = {span["id"]: span["geometry"] for span in plan["spans"]}
        assert spans["V-200001"] == {"type": "LineString", "coordinates": [[-72.9424, -41.4693], [-72.938, -41.467]]}
        assert flat(spans["V-200003"]["coordinates"]) == pytest.approx([-72.935, -41.4655, -72.932, -41.464], abs=1e-6)
        assert [len(plan[k]) for k in ("equipment", "transformers", "poles")] == [2, 2, 3]
        assert store.feeder_plan("AL-PMO-2")["spans"] == [] and store.feeder_plan("X") is None


def test_an_import_again_updates_and_adds_nothing_twice(url, samples):
    with imported(url, samples) as store:
        feeders = samples / "feeder.csv"
        feeders.write_text(feeders.read_text(encoding="utf-8").replace("Cardonal", "Cardonal Norte"), encoding="utf-8")
        counts = store.network_counts()
        network.import_files(store, network.files_in(str(samples)))
        assert store.network_counts() == counts
        assert store.feeder("AL-PMO-1")["name"] == "Cardonal Norte"
        assert store.feeder("AL-PMO-1")["geometry"] is not None  # a feeder's row leaves its line alone
        network.import_files(store, [("pole", str(samples / "pole.csv"))])  # parents already stored
        assert store.network_counts() == counts


def test_the_cli_imports_a_folder_or_files_of_a_kind(tmp_path):
    db = str(tmp_path / "cli.sqlite")
    result = CliRunner().invoke(cli, ["portal", "import", "--db", db, str(SAMPLES)])
    assert result.exit_code == 0, result.output
    assert "3 pole" in result.output and "1 feeder_geometry" in result.output
    result = CliRunner().invoke(cli, ["portal", "import", "--db", db, "pole", str(SAMPLES / "pole.csv")])
    assert (result.exit_code, result.output) == (0, "3 pole stored\n")
    result = CliRunner().invoke(cli, ["portal", "import", "--db", db, "poste", str(SAMPLES / "pole.csv")])
    assert result.exit_code == 1 and "kind: must be one of region, comuna" in result.output


# --- refused rows: each names file, row, column and rule, and nothing is stored ------------------------------

BAD_ROWS = [
    ("region.csv", "100,Tarapacá", "region.csv row 3: cut: must be a region's CUT code: 2 digits"),
    ("region.csv", "10,Otra", "region.csv row 3: cut: '10' is also on row 2"),
    ("comuna.csv", "09101,Temuco,10", "comuna.csv row 4: cut: must begin with its region's code 10"),
    ("comuna.csv", "09101,Temuco,09", "comuna.csv row 4: region: must be a region of this import or of the "
                                      "database, got '09'"),
    ("feeder.csv", "AL-X,X,SE-PMO,troncal,,,,", "feeder.csv row 4: kind: must be alimentador or sub-alimentador, "
                                                "got 'troncal'"),
    ("feeder.csv", "AL-X,X,SE-PMO,sub-alimentador,,Nodo,,", "feeder.csv row 4: owner: a sub-alimentador must name "
                                                             "its owner"),
    ("feeder.csv", "AL-X,X,SE-PMO,alimentador,,,-5,", "feeder.csv row 4: short_circuit_kva: must be a number, 0 or "
                                                      "more, got '-5'"),
    ("feeder.csv", "AL-X,X,SE-NADA,alimentador,,,,", "feeder.csv row 4: substation: must be a substation of this "
                                                     "import or of the database, got 'SE-NADA'"),
    ("transformer.csv", "TD-X,X,AL-PMO-1,15,,,,monofásico,RS,,,,,-72.93,-41.46,,",
     "transformer.csv row 4: phases: a monofásico transformer has 1 phase(s)"),
    ("transformer.csv", "TD-X,X,AL-PMO-1,15,,,,monofasico,R,,,,,,,,", "transformer.csv row 4: x: give the location"),
    ("transformer.csv", "TD-X,X,AL-PMO-1,15,,,,Monofasico,R,,,,,-72.93,-41.46,,quizás",
     "transformer.csv row 4: monitored: must be yes or no"),
    ("transformer.csv", "TD-X,X,AL-PMO-1,15,,,,monofásico,R,,,,,-72.93,-41.46,NO-EXISTE,",
     "transformer.csv row 4: vnr_code: must be a VNR code of this import or of the database, got 'NO-EXISTE'"),
    ("pole.csv", "P-X,AL-PMO-1,672701.25,5407668.26,NAD27,18S,,,,,", "pole.csv row 5: datum: must be WGS84, "
                                                                      "SIRGAS-Chile 2016, SIRGAS-Chile 2002 or PSAD56"),
    ("pole.csv", "P-X,AL-PMO-1,672701.25,5407668.26,WGS84,18H,,,,,", "pole.csv row 5: zone: must be a UTM zone and "
                                                                     "hemisphere such as 18S or 19S, got '18H'"),
    ("pole.csv", "P-X,AL-PMO-1,672701.25,,WGS84,18S,,,,,", "pole.csv row 5: y: must not be empty"),
    ("pole.csv", "P-X,AL-PMO-1,67270125,5407668.26,WGS84,18S,,,,,", "pole.csv row 5: x: must be a UTM easting"),
    ("pole.csv", "P-X,AL-PMO-1,,,,,-272.9,-41.4,,,", "pole.csv row 5: lon: must be a longitude from -180 to 180"),
    ("span.csv", "V-X,AL-PMO-1,P-100001,P-100002,12,,,,,4", "span.csv row 5: phases: must be 1, 2 or 3, got '4'"),
    ("vnr.csv", "X,x,1.5,1,1,1,1,1,1", "vnr.csv row 7: recargos_1: must be whole pesos (digits only), 0 or more, "
                                       "got '1.5'"),
    ("equipment.csv", "EQ-X,AL-PMO-1,fusible,100,,,,,,,,,,,,", "equipment.csv row 4: capacity_unit: must be A or kVA"),
    ("feeder_demand.csv", "AL-PMO-1,2025-13,10,5", "feeder_demand.csv row 6: month: must be a month YYYY-MM"),
    ("feeder_demand.csv", "AL-PMO-1,2025-04,10,50", "feeder_demand.csv row 6: max_kw: must be min_kw or more"),
    ("feeder_demand.csv", "AL-PMO-1,2025-03,10,5", "feeder_demand.csv row 6: month: ('AL-PMO-1', '2025-03') is also "
                                                   "on row 4"),
    ("transformer_demand.csv", "TD-00009,2025-03,10,5", "transformer_demand.csv row 4: transformer: must be a "
                                                        "transformer of this import or of the database"),
]


@pytest.mark.parametrize("name, line, message", BAD_ROWS, ids=[message for _, _, message in BAD_ROWS])
def test_a_bad_row_is_refused_by_file_row_column_and_rule_and_nothing_is_stored(tmp_path, samples, name, line,
                                                                                 message):
    path = samples / name
    path.write_text(path.read_text(encoding="utf-8") + line + "\n", encoding="utf-8")
    store = Store.open(str(tmp_path / "bad.sqlite"))
    with pytest.raises(RowFileError) as caught:
        network.import_files(store, network.files_in(str(samples)))
    assert len(caught.value.problems) == 1, str(caught.value)
    problem = caught.value.problems[0]
    assert problem.path == str(path)
    assert str(problem).startswith(str(samples) + "/" + message), str(problem)
    assert not any(store.network_counts().values())


def test_utm_and_lon_lat_of_one_row_must_agree(samples, tmp_path):
    path = samples / "pole.csv"
    path.write_text(path.read_text(encoding="utf-8") + "P-X,AL-PMO-1,672701.25,5407668.26,WGS84,19S,-72.932,-41.464,"
                    ",,\n", encoding="utf-8")
    with pytest.raises(RowFileError) as caught:
        network.import_files(Store.open(str(tmp_path / "x.sqlite")), network.files_in(str(samples)))
    problem = caught.value.problems[0]
    assert (problem.row, problem.column, problem.code) == (5, "lon", "location_mismatch")
    assert "check the zone and the datum" in str(problem)
    assert problem.text("es").endswith("revise el huso y el datum; se recibió «-72.932»")


def test_every_problem_of_every_file_is_reported_together_in_english_and_spanish(samples, tmp_path):
    (samples / "transformer_demand.csv").write_text("transformer,month,max_kw,min_kw,nota\n", encoding="utf-8")
    span = samples / "span.csv"
    span.write_text(span.read_text(encoding="utf-8").replace("448.5", "largo"), encoding="utf-8")
    with pytest.raises(RowFileError) as caught:
        network.import_files(Store.open(str(tmp_path / "x.sqlite")), network.files_in(str(samples)))
    lines = str(caught.value).splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith("span.csv row 2: length_m: must be a number, 0 or more, got 'largo'")
    assert "transformer_demand.csv: header: unknown column(s) nota" in lines[1]
    spanish = caught.value.text("es")
    assert "span.csv, fila 2, columna length_m: debe ser un número, 0 o más; se recibió «largo»" in spanish


def test_an_element_in_two_files_of_its_kind_is_refused(tmp_path):
    more = tmp_path / "more-regions.toml"
    more.write_text('[[region]]\ncut = "11"\nname = "Aysén"\n\n[[region]]\ncut = "10"\nname = "Otra"\n',
                    encoding="utf-8")
    with pytest.raises(RowFileError) as caught:
        network.load(Store.open(str(tmp_path / "x.sqlite")), [("region", str(SAMPLES / "region.csv")),
                                                              ("region", str(more))])
    assert str(caught.value) == "%s row 2: cut: '10' is also in %s row 2" % (more, SAMPLES / "region.csv")


def test_a_folder_holds_only_network_files(samples):
    (samples / "notas.txt").write_text("x")
    with pytest.raises(RowFileError, match="notas.txt: not a kind of network file"):
        network.files_in(str(samples))


GEOJSON_PROBLEMS = [
    ({"type": "Feature"}, "not_a_collection", "must be a GeoJSON FeatureCollection"),
    ({"type": "FeatureCollection", "features": [{"properties": {"feeder": "AL-9"}, "geometry": {
        "type": "LineString", "coordinates": [[-72.9, -41.4], [-72.8, -41.4]]}}]},
     "unknown", "feature 1: feeder: must be a feeder of this import or of the database, got 'AL-9'"),
    ({"type": "FeatureCollection", "features": [{"properties": {"span": "V-200001"}, "geometry": {
        "type": "MultiLineString", "coordinates": [[[-72.9, -41.4], [-72.8, -41.4]]]}}]},
     "span_multiline", "feature 1: geometry: must be a LineString"),
    ({"type": "FeatureCollection", "features": [{"properties": {"feeder": "AL-PMO-1"}, "geometry": {
        "type": "LineString", "coordinates": [[-72.9, -141.4], [-72.8, -41.4]]}}]},
     "out_of_range", "feature 1: geometry: must be a LineString"),
    ({"type": "FeatureCollection", "features": [{"properties": {"feeder": "AL-PMO-1", "span": "V-200001"},
                                                 "geometry": None}]},
     "two_targets", "feature 1: properties: must name one feeder or one span"),
    ({"type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "EPSG:999999"}}, "features": []},
     "crs", "crs: must name a coordinate reference system PROJ knows"),
]


@pytest.mark.parametrize("doc, _, message", GEOJSON_PROBLEMS, ids=[name for _, name, _ in GEOJSON_PROBLEMS])
def test_a_bad_geojson_feature_is_refused_and_nothing_is_stored(samples, tmp_path, doc, _, message):
    (samples / "more.geojson").write_text(json.dumps(doc))
    store = Store.open(str(tmp_path / "x.sqlite"))
    with pytest.raises(RowFileError) as caught:
        network.import_files(store, network.files_in(str(samples)))
    assert [str(p) for p in caught.value.problems if message in str(p)], str(caught.value)
    assert not any(store.network_counts().values())


def test_a_geojson_in_utm_is_brought_to_wgs84(samples, tmp_path):
    (samples / "feeders.geojson").write_text(json.dumps({
        "type": "FeatureCollection", "crs": {"type": "name", "properties": {"name": "urn:ogc:def:crs:EPSG::32718"}},
        "features": [{"type": "Feature", "properties": {"feeder": "AL-PMO-2"}, "geometry": {
            "type": "LineString", "coordinates": [[671818.69, 5407100.53], [672192.21, 5407347.14]]}}]}))
    with imported(str(tmp_path / "x.sqlite"), samples) as store:
        line = store.feeder("AL-PMO-2")["geometry"]["coordinates"]
    assert flat(line) == pytest.approx([-72.9424, -41.4693, -72.938, -41.467], abs=1e-7)


def test_a_write_the_database_refuses_half_way_leaves_nothing(url):
    with Store.open(url) as store:
        batch = network.load(store, network.files_in(str(SAMPLES)))
        batch["transformer"][0]["kind"] = "pentafásico"  # past the checks: the table's CHECK refuses it
        with pytest.raises(Exception):
            store.save_network(batch)
        assert not any(store.network_counts().values())


# --- UTM and WGS84 ---------------------------------------------------------------------------------------------

def krueger_utm(lon: float, lat: float, zone: int) -> tuple:
    """WGS84 UTM (south) by Krüger's series in Karney's form (to n³: well under a millimetre here), written
    from the formulas, not from PROJ."""
    a, f, k0 = 6378137.0, 1 / 298.257223563, 0.9996
    n = f / (2 - f)
    big_a = a / (1 + n) * (1 + n ** 2 / 4 + n ** 4 / 64)
    alpha = (n / 2 - 2 * n ** 2 / 3 + 5 * n ** 3 / 16, 13 * n ** 2 / 48 - 3 * n ** 3 / 5, 61 * n ** 3 / 240)
    phi, lam = math.radians(lat), math.radians(lon - (zone * 6 - 183))
    c = 2 * math.sqrt(n) / (1 + n)
    t = math.sinh(math.atanh(math.sin(phi)) - c * math.atanh(c * math.sin(phi)))
    xi, eta = math.atan2(t, math.cos(lam)), math.atanh(math.sin(lam) / math.sqrt(1 + t * t))
    east = 500000 + k0 * big_a * (eta + sum(al * math.cos(2 * j * xi) * math.sinh(2 * j * eta)
                                            for j, al in enumerate(alpha, 1)))
    north = 10_000_000 + k0 * big_a * (xi + sum(al * math.sin(2 * j * xi) * math.cosh(2 * j * eta)
                                                for j, al in enumerate(alpha, 1)))
    return east, north


@pytest.mark.parametrize("lon, lat, zone", [(-72.5904, -38.7359, "18S"), (-70.6693, -33.4489, "19S"),
                                            (-71.7244, -46.5416, "19S"), (-73.7624, -42.4801, "18S")])
def test_utm_agrees_with_kruegers_series_and_comes_back(lon, lat, zone):
    x, y, found = network.to_utm(lon, lat)
    assert found == zone
    assert (x, y) == pytest.approx(krueger_utm(lon, lat, int(zone[:-1])), abs=0.01)
    assert network.to_wgs84(x, y, "WGS84", zone) == pytest.approx((lon, lat), abs=2e-7)  # x, y to the cm


def test_a_central_meridian_and_the_datums():
    assert network.to_utm(-75.0, -0.000001)[:2] == pytest.approx((500000.0, 9999999.89), abs=0.01)
    assert network.utm_zone(-72.0001, -40) == "18S" and network.utm_zone(-71.9999, -40) == "19S"
    x, y, _ = network.to_utm(-72.5904, -38.7359)
    # SIRGAS-Chile is WGS84 to the decimetre; PSAD56 (the older South American datum) is hundreds of metres off
    assert network.distance_m(network.to_wgs84(x, y, "SIRGAS-Chile 2016", "18S"), (-72.5904, -38.7359)) < 1
    assert 200 < network.distance_m(network.to_wgs84(x, y, "PSAD56", "18S"), (-72.5904, -38.7359)) < 600
    with pytest.raises(network.Invalid):
        network.to_wgs84(x, y, "PSAD56", "40S")


# --- customers' pages ---------------------------------------------------------------------------------------

def a_customer(store, rut="12345678-5", number="100001", device=None):
    from opsm.host import customers as register

    register.save_customers(store, [(rut, "Ana Pérez", device, "ana@example.cl", "+56 9 1234 5678", "Los Aromos 120",
                                     "Puerto Montt", None, "Los Lagos", None, None, number, "Demo", "BT1", 5.5, 1, 0,
                                     1)])


def test_a_customers_months_come_from_the_meter_else_from_the_bills(url):
    with imported(url, SAMPLES) as store:
        a_customer(store, device="M1")
        store.save_supplies({
            "supply": [{"customer_id": "12345678-5", "transformer": "TD-00001", "billing_day": 8, "generation": True}],
            "bill": [{"customer_id": "12345678-5", "number": str(n), "kind": "suministro", "issued_on": "x",
                      "period": month, "kwh_consumed": 100.0 + n, "kwh_injected": None, "amount_clp": 20000 + n,
                      "pdf": b"%PDF-1.4 " + bytes([n])} for n, month in enumerate(("2025-01", "2025-02", "2025-03"))]
            + [{"customer_id": "12345678-5", "number": "AI-1", "kind": "inyeccion", "issued_on": "x",
                "period": "2025-03", "kwh_consumed": None, "kwh_injected": 40.0, "amount_clp": 3000, "pdf": None}]})
        tz = readings.timezone(store, "M1")
        starts = [readings.month_start(m, tz) for m in ("2025-02", "2025-03", "2025-04")]
        reading = types.SimpleNamespace(ok=True, error=None, read_at=starts[-1], clock_drift_s=0, attempts=1,
                                        events=[], registers={regmap.by_key("import_wh").obis: 9.0}, profiles=[(
                                            regmap.PROFILES[0].obis, (readings.IMPORT_WH, readings.EXPORT_WH),
                                            [(starts[0], 0.0, 0.0), (starts[1], 150000.0, 0.0)])])
        meter = types.SimpleNamespace(device_id="M1", serial="S1", host="h", port=1, protocol="dlms-tcp",
                                      timezone="UTC")
        store.save(store.begin_harvest(1), meter, reading)

        months = store.customer_months("12345678-5", count=4)
        assert [m["month"] for m in months] == ["2024-12", "2025-01", "2025-02", "2025-03"]  # to the newest bill
        assert [(m["consumption_kwh"], m["consumption_from"]) for m in months] == [
            (None, None), (100.0, "bill"), (150.0, "meter"), (102.0, "bill")]
        assert [(m["injection_kwh"], m["injection_from"]) for m in months] == [
            (None, None), (None, None), (0.0, "meter"), (40.0, "bill")]
        assert [(m["charges_clp"], m["injection_clp"], m["net_clp"]) for m in months] == [
            (None, None, None), (20000, None, 20000), (20001, None, 20001), (20002, 3000, 17002)]

        assert [b["number"] for b in store.customer_bills("12345678-5")] == ["2", "1", "0"]
        assert store.customer_bills("12345678-5", "inyeccion")[0]["has_pdf"] is False
        assert store.customer_bill("12345678-5", "1")["pdf"] == b"%PDF-1.4 \x01"
        assert store.customer_bill("98765432-5", "1") is None  # a bill is found only under its customer
        registers = store.customer_registers("12345678-5")
        assert [(r["obis"], r["value"], r["unit"]) for r in registers] == [(regmap.by_key("import_wh").obis, 9.0,
                                                                             "Wh")]
        assert store.transformer_of_customer("100001")["id"] == "TD-00001"
        technical = store.customer_technical("12345678-5")
        assert (technical["service_kw"], technical["transformer_kva"], technical["transformer_voltage"]) == (
            5.5, 75.0, "23/0.4 kV")
        general = store.customer_general("12345678-5")
        assert (general["billing_day"], general["generation"], general["comuna"]) == (8, True, "Puerto Montt")


def test_a_prepaid_customers_charges_are_its_purchases(tmp_path):
    from opsm.host import customers as register

    with Store.open(str(tmp_path / "x.sqlite")) as store:
        a_customer(store)
        register.save_charges(store, [("12345678-5", "F1", 1740830400, 500000, "CLP", 20.0)])  # 2025-03-01 12:00
        months = store.customer_months("12345678-5", "2025-03", 2)
        assert [(m["charges_clp"], m["consumption_kwh"]) for m in months] == [(0, None), (5000, None)]
        assert store.customer_registers("12345678-5") == [] and store.customer_remanentes("12345678-5") == []


def test_the_sec_search_finds_customers_by_number_address_or_rut(url):
    with Store.open(url) as store:
        a_customer(store)
        a_customer(store, "7654321-6", "100002")
        assert [c["customer_id"] for c in store.find_customers("rut", "12.345.678")] == ["12345678-5"]
        assert [c["client_number"] for c in store.find_customers("number", "10000")] == ["100001", "100002"]
        assert len(store.find_customers("address", "AROMOS")) == 2
        assert store.find_customers("address", "_") == []
        assert store.customer_of_number("100002") == "7654321-6" and store.customer_of_number("1") is None


def test_accounts_have_unique_names_and_scrypt_hashes(url):
    from opsm.host.console import passwords

    with Store.open(url) as store:
        a_customer(store)
        user = store.add_portal_user("ana", passwords.hashed("una clave larga"), "ana@example.cl", "12345678-5",
                                     "cliente", "12345678-5", 1)
        with pytest.raises(AlreadyStored):
            store.add_portal_user("ana", "x", None, None, "publico", None, 2)
        account, stored = store.portal_credentials("ana")
        assert account == store.portal_user(user) and account["profile"] == "cliente"
        assert passwords.matches("una clave larga", stored)
        store.set_portal_password(user, passwords.hashed("otra clave larga"))
        assert passwords.matches("otra clave larga", store.portal_credentials("ana")[1])
        assert store.portal_credentials("nadie") == (None, None)
        assert [u["name"] for u in store.portal_users()] == ["ana"]
