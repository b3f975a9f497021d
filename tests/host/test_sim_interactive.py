"""`opsm sim`: keys typed in the terminal reach the firmware; the screen comes back as text."""

from click.testing import CliRunner

from opsm.host.cli import cli


def test_type_a_code_advance_and_save_the_screen(tmp_path):
    png = tmp_path / "screen.png"
    keys = "*63638916334124550935*\n:advance 2m\n:png %s\n:load 1000\n:advance 1h\nxyz\n:bogus\n:quit\n" % png
    result = CliRunner().invoke(cli, ["sim", "--speed", "0"], input=keys)
    assert result.exit_code == 0, result.output
    out = result.output
    assert "RECARGA ACEPTADA" in out and "+25.60" in out
    assert "relay closed  credit 25.5" in out                             # after the 2 minutes, the home using it
    assert "energy 1.002 kWh" in out and "credit 24.598 kWh" in out       # an hour at 1 kW and 2 min of the home
    assert "error: keys are 0-9, A-D, * and #; not 'xyz'" in out and "commands: :advance" in out
    assert png.read_bytes()[:4] == b"\x89PNG"


def test_speed_moves_virtual_time_between_lines():
    result = CliRunner().invoke(cli, ["sim", "--speed", "36000000"], input="\n:quit\n")
    assert result.exit_code == 0
    hours = [float(line.split()[0][2:]) for line in result.output.splitlines() if line.startswith("t=")]
    assert hours[0] == 0.0 and hours[-1] > 0.0


def test_the_interactive_meter_serves_its_ports(tmp_path):
    import json

    from opsm.host import dlms as D
    from opsm.protocol import registers as M
    from opsm.simulator.interactive import Console

    console = Console(str(tmp_path), 0, lambda line: None)
    ports = console.serve({"dlms": 0})
    assert console.handle("*63638916334124550935*\n")
    link, client = D.open_session(port=ports["dlms"])
    assert client.get(M.CREDIT, "0.0.19.10.0.255", 2) == 25600  # what was typed, read over the port
    client.release()
    link.close()
    result = CliRunner().invoke(cli, ["sim", "--speed", "0", "--dlms-port", "0"], input=":quit\n")
    assert json.loads(result.output.splitlines()[0][len("ports: "):])["dlms"] > 0
