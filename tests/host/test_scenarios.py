"""The scenario library plays green, and `opsm sim run` reports failures and bad files."""

import json
import pathlib

import pytest
from click.testing import CliRunner

from host.cli import cli
from simulator import scenario

LIBRARY = sorted((pathlib.Path(__file__).resolve().parents[2] / "scenarios").glob("*.toml"))


@pytest.mark.parametrize("path", LIBRARY, ids=lambda p: p.stem)
def test_library_scenario_passes_the_same_on_both_runtimes(path):
    summary = scenario.run(str(path))
    assert summary["ok"], summary["failures"]
    assert scenario.run(str(path), "micropython") == summary  # same firmware, same seed, same story


def test_library_covers_the_stories():
    names = {p.stem for p in LIBRARY}
    assert {"recharge", "exhaustion_cut", "wrong_codes_lockout", "power_cut_keeps_credit", "low_battery",
            "admin_subsidy_emergency", "key_change", "power_cut_during_recharge", "thirty_days"} <= names


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
    ("[meter]\nkey = '" + "00" * 16 + "'\n[[step]]\nwait = 3\n", "unknown field wait"),
    ("[meter\n", "bad.toml"),
])
def test_bad_scenario_files_name_the_field(tmp_path, text, field):
    path = tmp_path / "bad.toml"
    path.write_text(text)
    result = CliRunner().invoke(cli, ["sim", "run", str(path)])
    assert result.exit_code == 1 and field in result.output and "Traceback" not in result.output
