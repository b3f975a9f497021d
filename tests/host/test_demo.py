"""`opsm demo` (what `make demo` runs) sells a code and the MicroPython firmware takes it once."""

from click.testing import CliRunner

from host.cli import cli


def test_demo_story(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--workdir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    assert "+25.0 kWh" in result.output and "Codigo ya usado" in result.output
    assert (tmp_path / "demo" / "meter.a").exists() and (tmp_path / "demo" / "registry.sqlite").exists()
