"""`opsm demo` (what `make demo` runs): a sale, the MicroPython meter, a day on the virtual board."""

from click.testing import CliRunner

from opsm.host.cli import cli


def test_demo_story(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "--workdir", str(tmp_path / "demo")])
    assert result.exit_code == 0, result.output
    out = result.output
    assert "+25.0 kWh" in out and "Codigo ya usado" in out  # MicroPython took the code once
    assert "credit exhausted, the relay cut the supply" in out and "SIN CREDITO" in out
    assert "supply restored" in out and "CONECTADO" in out
    screens = tmp_path / "demo" / "screens"
    for name in ("1-recharge", "2-cut", "3-restored"):
        data = (screens / (name + ".png")).read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 1000
    assert (tmp_path / "demo" / "meter.a").exists() and (tmp_path / "demo" / "registry.sqlite").exists()
