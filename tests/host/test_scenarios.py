"""The scenario library plays green, and `opsm sim run` reports failures and bad files."""

import json
import pathlib

import pytest
from click.testing import CliRunner

from opsm.host.cli import cli
from opsm.simulator import scenario

LIBRARY = sorted((pathlib.Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_library_scenario_passes_the_same_on_both_runtimes(path):
    summary = scenario.run(str(path))
    assert summary["ok"], summary["failures"]
    assert scenario.run(str(path), "micropython") == summary  # same firmware, same seed, same story


def test_library_covers_the_stories():
    names = {p.stem for p in LIBRARY}
    assert {"recharge", "exhaustion_cut", "wrong_codes_lockout", "power_cut_keeps_credit", "low_battery",
            "admin_subsidy_advance", "key_change", "power_cut_during_recharge", "thirty_days"} <= names


def test_power_cut_scenario_really_cuts():
    summary = scenario.run(str(LIBRARY[0].parent / "power_cut_during_recharge.toml"))
    assert summary["ok"] and summary["power_losses"] == 1


def test_cli_prints_a_summary_and_fails_on_a_broken_expectation(tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text((LIBRARY[0].parent / "recharge.toml").read_text().replace("credit_kwh = 25.6", "credit_kwh = 99.0", 1))
    result = CliRunner().invoke(cli, ["sim", "run", "--runtime", "micropython",
                                      str(LIBRARY[0].parent / "recharge.toml"), str(bad)])
    assert result.exit_code == 1
    lines = [json.loads(line) for line in result.output.splitlines() if line.startswith("{")]
    assert [line["ok"] for line in lines] == [True, False]
    assert "credit_kwh is 25.600, expected 99.0" in lines[1]["failures"][0]
    assert "1 of 2 scenarios failed" in result.output


@pytest.mark.parametrize("text,field", [
    ("name = 'x'\n", "[meter]"),
    ("[meter]\nkey = 'zz'\n", "meter"),
    ("[meter]\nkey = '" + "00" * 16 + "'\n[[step]]\nadvance = '3 weeks'\n", "advance"),
    ("[meter]\nkey = '" + "00" * 16 + "'\n[[step]]\nwait = 3\n", "step 1: wait: unknown field"),
    ("[meter\n", "bad.toml"),
])
def test_bad_scenario_files_name_the_field(tmp_path, text, field):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["sim", "run", str(path)])
    assert result.exit_code == 1 and field in result.output and "Traceback" not in result.output


# --- the loader refuses mistakes before anything runs: each names the step (1-based) and the field ---

KEY = "f94b6ed353c3bfdb113e2d3a7ea3c41d"
METER = "[meter]\nkey = '%s'\nbase_year = 1993\n" % KEY
GOOD_STEP = "[[step]]\nadvance = '1m'\n"


def load_error(tmp_path, text):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(scenario.ScenarioError) as caught:
        scenario.load(str(path))
    return str(caught.value).replace(str(path), "bad.toml")


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_library_scenario_loads(path):
    doc = scenario.load(str(path))  # a new scenario with a typo fails here
    assert doc["step"] and doc["name"]


def test_system_schema_follows_the_solar_home():
    import inspect

    from opsm.simulator import board
    SolarHome = board.module("simulator.solar").SolarHome

    assert set(scenario.SYSTEM) == set(inspect.signature(SolarHome).parameters)


def test_steps_instead_of_step(tmp_path):
    message = load_error(tmp_path, METER + "[[steps]]\nkeys = '*1234*'\n")
    assert message.startswith("bad.toml: [[steps]]: unknown table") and "did you mean [[step]]?" in message


def test_unknown_top_level_table(tmp_path):
    message = load_error(tmp_path, METER + "[sytem]\nseed = 3\n" + GOOD_STEP)
    assert message.startswith("bad.toml: [sytem]: unknown table") and "did you mean [system]?" in message


def test_unknown_top_level_key(tmp_path):
    message = load_error(tmp_path, "nmae = 'x'\n" + METER + GOOD_STEP)
    assert message.startswith("bad.toml: nmae: unknown field") and "did you mean name?" in message


def test_unknown_meter_field(tmp_path):
    message = load_error(tmp_path, METER + "bse_year = 2014\n" + GOOD_STEP)
    assert message.startswith("bad.toml: meter.bse_year: unknown field") and "did you mean base_year?" in message
    assert "start_s" in message  # the allowed fields are listed


def test_unknown_system_field(tmp_path):
    message = load_error(tmp_path, METER + "[system]\nseed = 3\npv_w = 400\n" + GOOD_STEP)
    assert message.startswith("bad.toml: system.pv_w: unknown field") and "did you mean pv_wp?" in message


def test_typo_in_an_expect_key(tmp_path):
    message = load_error(tmp_path, METER + GOOD_STEP + "[[step]]\nexpect = { credit_kw = 1.0 }\n")
    assert message.startswith("bad.toml: step 2: expect.credit_kw: unknown field")
    assert "did you mean credit_kwh?" in message


def test_unknown_step_field(tmp_path):
    message = load_error(tmp_path, METER + GOOD_STEP + GOOD_STEP + "[[step]]\nkey = '*1*'\n")
    assert message.startswith("bad.toml: step 3: key: unknown field") and "did you mean keys?" in message


@pytest.mark.parametrize("keys,bad", [("*1234E*", "'E'"), ("*12 34*", "' '"), ("*12a4*", "'a'"), ("", "empty")])
def test_bad_key_characters(tmp_path, keys, bad):
    message = load_error(tmp_path, METER + GOOD_STEP + "[[step]]\nkeys = '%s'\n" % keys)
    assert message.startswith("bad.toml: step 2: keys: must be keypad keys: 0-9, A-D, * and #"), message
    assert bad in message


def test_zero_steps(tmp_path):
    assert load_error(tmp_path, METER).startswith("bad.toml: [[step]]: missing")
    assert load_error(tmp_path, "step = []\n" + METER).startswith("bad.toml: [[step]]: must be [[step]] tables, one at")


STEP_MISTAKES = [  # the steps after a good [meter]
    (GOOD_STEP + "[[step]]\nexpect = { credit_kwh = '25' }\n", "step 2: expect.credit_kwh", "must be a number"),
    (GOOD_STEP + "[[step]]\nexpect = { energy_kwh = nan }\n", "step 2: expect.energy_kwh", "must be a number"),
    (GOOD_STEP + "[[step]]\nexpect = { tolerance_kwh = -1 }\n", "step 2: expect.tolerance_kwh",
     "must be a number >= 0"),
    (GOOD_STEP + "[[step]]\nexpect = { relay = 'shut' }\n", "step 2: expect.relay", "must be one of 'open', 'closed'"),
    (GOOD_STEP + "[[step]]\nexpect = { screen = 3 }\n", "step 2: expect.screen", "must be text"),
    (GOOD_STEP + "[[step]]\nexpect = { events = ['recharged'] }\n", "step 2: expect.events",
     "'recharged' is not an event name"),
    (GOOD_STEP + "[[step]]\nexpect = { events = 'recharge' }\n", "step 2: expect.events", "must be a list"),
    (GOOD_STEP + "[[step]]\nexpect = {}\n", "step 2: expect", "name at least one of"),
    (GOOD_STEP + "[[step]]\nexpect = 3\n", "step 2: expect", "must be a table"),
    ("[[step]]\nload_w = -5\n", "step 1: load_w", "must be a number >= 0"),
    ("[[step]]\nload_w = 'lots'\n", "step 1: load_w", "must be a number >= 0"),
    ("[[step]]\nload_w = true\n", "step 1: load_w", "must be a number >= 0 (got true)"),
    ("[[step]]\npf_milli = 0\n", "step 1: pf_milli", "must be an integer from 1 to 1000"),
    ("[[step]]\npf_milli = 1001\n", "step 1: pf_milli", "must be an integer from 1 to 1000"),
    ("[[step]]\nadvance = '3 weeks'\n", "step 1: advance", "must be a duration"),
    ("[[step]]\nadvance = 90\n", "step 1: advance", "must be a duration"),
    ("[[step]]\nadvance = '0m'\n", "step 1: advance", "must be a duration"),
    ("[[step]]\nadvance = 'infh'\n", "step 1: advance", "must be a duration"),
    ("[[step]]\npower_cut = 'yes'\n", "step 1: power_cut", "must be true or false"),
    ("[[step]]\nrtc_lost = true\n", "step 1: rtc_lost", "needs power_cut = true"),
    ("[[step]]\ncut_at_write = 0\n", "step 1: cut_at_write", "must be an integer >= 1"),
    ("[[step]]\nbattery_mv = 25.6\n", "step 1: battery_mv", "must be an integer >= 0"),
    ("[[step]]\ncloud = 0.5\n", "step 1: cloud", "needs a [system] table"),
    ("[system]\n[[step]]\ncloud = 1.5\n", "step 1: cloud", "must be a number from 0 to 1"),
    ("[[step]]\nport_token = '12AB'\n", "step 1: port_token", "must be digits"),
    ("[[step]]\n", "step 1", "name at least one of"),
    ("[step]\nkeys = '1'\n", "[step]", "must be"),
    # [system]
    ("[system]\nsoc = 2\n" + GOOD_STEP, "system.soc", "must be a number from 0 to 1"),
    ("[system]\nbattery = 'nicd'\n" + GOOD_STEP, "system.battery", "must be one of 'lead-acid', 'lifepo4'"),
    ("[system]\nseed = 1.5\n" + GOOD_STEP, "system.seed", "must be an integer"),
    ("[system]\nbattery_wh = 0\n" + GOOD_STEP, "system.battery_wh", "must be a number > 0"),
    ("[system]\nclear_sky = 1\n" + GOOD_STEP, "system.clear_sky", "must be true or false"),
]

METER_MISTAKES = [  # whole files
    ("[meter]\nkey = 'zz'\n", "meter.key", "hexadecimal"),
    ("[meter]\nkey = '%s0'\n" % KEY, "meter.key", "hexadecimal"),
    ("[meter]\nkey = 42\n", "meter.key", "hexadecimal"),
    (METER + "ea = 10\n", "meter.ea", "must be one of 9, 11"),
    ("[meter]\nkey = '%s'\nbase_year = 2000\n" % KEY, "meter.base_year", "must be one of 1993, 2014, 2035"),
    (METER + "lls_password = 'short'\n", "meter.lls_password", "8-32 printable ASCII characters"),
    (METER + "hls = { ek = '%s', ak = '%s' }\n" % (KEY, KEY), "meter.hls.kek", "missing"),
    (METER + "hls = { ek = 'zz', ak = '%s', kek = '%s' }\n" % (KEY, KEY), "meter.hls.ek", "32 hexadecimal digits"),
    (METER + "start_s = -1\n", "meter.start_s", "must be an integer >= 0"),
    (METER + "ea = 9\n", "meter.key", "16 hexadecimal digits for ea = 9 (got 32 digits)"),
    ("[meter]\nbase_year = 1993\n", "meter.key", "missing"),
    ("name = 'x'\n", "[meter]", "missing"),
    ("name = 3\n" + METER, "name", "must be text"),
]


def ids(cases):
    return ["%s-%d" % (field, n) for n, (_, field, _) in enumerate(cases)]


@pytest.mark.parametrize("steps,field,rule", STEP_MISTAKES, ids=ids(STEP_MISTAKES))
def test_bad_step_and_system_values_name_the_step_and_the_field(tmp_path, steps, field, rule):
    message = load_error(tmp_path, METER + steps)
    assert message.startswith("bad.toml: %s: " % field), message
    assert rule in message, message


@pytest.mark.parametrize("text,field,rule", METER_MISTAKES, ids=ids(METER_MISTAKES))
def test_bad_meter_values_name_the_field(tmp_path, text, field, rule):
    message = load_error(tmp_path, text + GOOD_STEP)
    assert message.startswith("bad.toml: %s: " % field), message
    assert rule in message, message


def test_bad_file_refused_before_a_micropython_run(tmp_path, monkeypatch):
    path = tmp_path / "bad.toml"
    path.write_text(METER + "[[step]]\nexpect = { credit_kw = 1.0 }\n")

    def no_run(*args, **kwargs):
        raise AssertionError("the scenario ran")

    monkeypatch.setattr(scenario.subprocess, "run", no_run)
    monkeypatch.setattr(scenario, "play", no_run)
    for runtime in scenario.RUNTIMES:
        with pytest.raises(scenario.ScenarioError, match="step 1: expect.credit_kw: unknown field"):
            scenario.run(str(path), runtime)


def test_cli_shows_a_bad_file_without_a_traceback(tmp_path):
    path = tmp_path / "bad.toml"
    path.write_text(METER + GOOD_STEP + GOOD_STEP + "[[step]]\nexpect = { credit_kwh = 'x' }\n")
    result = CliRunner().invoke(cli, ["sim", "run", str(path)])
    assert result.exit_code == 1 and "Traceback" not in result.output
    assert "%s: step 3: expect.credit_kwh: must be a number" % path in result.output
