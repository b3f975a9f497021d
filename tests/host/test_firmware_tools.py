"""Firmware build, flash and deploy commands, provisioning, and the 24-hour soak."""

import json
import os
import stat
import subprocess

import pytest
from click.testing import CliRunner

from opsm.host import fwbuild, soak
from opsm.simulator import board
from opsm.host.cli import cli


def run(*args, code=0):
    result = CliRunner().invoke(cli, [str(a) for a in args])
    assert result.exit_code == code, result.output
    return result.output


@pytest.mark.parametrize("board", sorted(fwbuild.BOARDS))
def test_build_compiles_every_module_for_the_board(board, tmp_path):
    out = tmp_path / board
    run("fw", "build", "--board", board, "--out", out)
    lib = out / "lib"
    names = {p.name for p in lib.glob("*.mpy")} | {"protocol/" + p.name for p in (lib / "protocol").glob("*.mpy")}
    expected = {t[:-3] + ".mpy" for _, t in fwbuild.firmware_sources() if t not in fwbuild.ROOT_MODULES}
    assert names == expected | {"board.mpy", "build_config.mpy"}
    assert {p.name for p in out.glob("*.mpy")} == {"bootslot.mpy"}  # beside boot.py: the slot chooser is in no slot
    assert "ticks_host.mpy" not in names and "framebuf_host.mpy" not in names  # CPython only
    for path in lib.rglob("*.mpy"):
        assert path.read_bytes()[:2] == b"M\x06"  # .mpy version 6: any MicroPython 1.19+
    assert (out / "main.py").read_text().strip().endswith("app.run()")
    assert (out / "boot.py").exists()


def _watchdog(lib):
    """What a built tree's build_config says, read by MicroPython from the .mpy itself."""
    from opsm.simulator.unix_port import micropython_command

    out = subprocess.run(micropython_command() + ["-c", "import build_config; print(build_config.WATCHDOG)"],
                         env=dict(os.environ, MICROPYPATH=str(lib)), capture_output=True, text=True, timeout=60)
    return out.stdout.strip()


def test_a_production_build_arms_the_watchdog_and_a_development_build_does_not(tmp_path):
    run("fw", "build", "--board", "esp32", "--out", tmp_path / "prod")
    run("fw", "build", "--board", "esp32", "--out", tmp_path / "dev", "--dev")
    assert _watchdog(tmp_path / "prod" / "lib") == "True" and _watchdog(tmp_path / "dev" / "lib") == "False"
    assert not (tmp_path / "prod" / "build_config.py").exists()  # only the compiled module ships


def test_failed_build_leaves_no_tree(tmp_path, monkeypatch):
    bad = tmp_path / "broken.py"
    bad.write_text("def f(:\n")
    monkeypatch.setattr(fwbuild, "firmware_sources", lambda: [(str(bad), "broken.py")])
    with pytest.raises(fwbuild.BuildError, match="broken"):
        fwbuild.build("esp32", str(tmp_path / "out"))
    assert not (tmp_path / "out").exists() and not (tmp_path / "out.tmp").exists()


def test_flash_and_deploy_dry_runs():
    out = run("fw", "flash", "--board", "esp32", "--port", "/dev/ttyUSB0", "--firmware", "ESP32_GENERIC.bin",
              "--dry-run")
    assert "esptool --chip esp32 --port /dev/ttyUSB0 erase-flash" in out
    assert "write-flash 0x1000 ESP32_GENERIC.bin" in out
    out = run("fw", "flash", "--board", "esp32s3", "--port", "/dev/ttyACM0", "--firmware", "S3.bin", "--dry-run")
    assert "write-flash 0 S3.bin" in out
    assert run("fw", "flash", "--board", "pico", "--port", "/media/RPI-RP2", "--firmware", "RPI_PICO.uf2",
               "--dry-run").strip() == "cp RPI_PICO.uf2 /media/RPI-RP2"
    out = run("fw", "deploy", "--board", "pico", "--port", "/dev/ttyACM0", "--dry-run")
    assert out.startswith("mpremote connect /dev/ttyACM0 fs cp -r") and out.strip().endswith("+ reset")
    out = run("fw", "deploy", "--board", "esp32s3", "--port", "/dev/ttyACM0", "--romfs", "--dry-run")
    assert out.startswith("mpremote connect /dev/ttyACM0 romfs deploy") and "build/esp32s3/lib" in out
    assert "fs cp" in out and "bootslot.mpy :" in out and out.strip().endswith("+ reset")
    assert "board" in run("fw", "build", "--board", "stm32", code=1)
    assert "port" in run("fw", "deploy", "--board", "pico", code=1)
    assert "uf2" in run("fw", "flash", "--board", "pico", "--port", "/x", "--firmware", "a.bin", "--dry-run", code=1)


def test_provision_writes_the_first_key_privately(home):
    run("keys", "init")
    run("keys", "add", "default", "--hex", "abababababababab949494949494949401234567")
    run("meter", "add", "--pan", "600727000000000009", "--sgc", "123457", "--base-date", "2014")
    path = home / "provision.json"
    run("fw", "provision", "--meter", "600727000000000009", "--out", path, "--credentials", home / "headend.toml")
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    assert stat.S_IMODE(os.stat(home / "headend.toml").st_mode) == 0o600
    doc = json.loads(path.read_text())
    assert doc["profile"] == "sts" and doc["base_year"] == 2014 and len(doc["key"]) == 32
    expected = json.loads(run("token", "derive-key", "--dkga", "04", "--vending-key",
                              "abababababababab949494949494949401234567", "--pan", "600727000000000009",
                              "--sgc", "123457", "--ti", 1, "--krn", 1, "--kt", 2, "--base-date", 2014, "--json"))
    assert doc["key"] == expected["decoder_key"]
    assert doc["settings"] == {"serial": "600727000000000009"}  # the meter's own number for DLMS
    assert "fw_key" not in doc  # no firmware master key in the key file: no image will verify on this meter


def test_provision_gives_the_meter_its_firmware_key(home):
    from opsm.host import fwimage

    run("keys", "init")
    run("keys", "add", "default", "--hex", "abababababababab949494949494949401234567")
    run("keys", "add", "firmware", "--hex", "11" * 32)
    run("meter", "add", "--pan", "600727000000000009", "--sgc", "123457", "--base-date", "2014")
    path = home / "provision.json"
    run("fw", "provision", "--meter", "600727000000000009", "--out", path, "--credentials", home / "headend.toml")
    fw_key = json.loads(path.read_text())["fw_key"]
    assert fw_key == fwimage.derive_key(bytes([0x11] * 32), "600727000000000009").hex()
    fw_update = board.module("fw_update")
    assert fw_update.firmware_key(str(home) + "/") == bytes.fromhex(fw_key)  # where the meter reads it
    assert "'nope'" in run("fw", "provision", "--meter", "600727000000000009", "--out", home / "p2.json",
                           "--credentials", home / "h2.toml", "--fw-key", "nope", code=1)


def test_provision_carries_the_field_settings_and_refuses_what_the_meter_would(home):
    run("keys", "init")
    run("keys", "add", "default", "--hex", "abababababababab949494949494949401234567")
    run("meter", "add", "--pan", "600727000000000009", "--sgc", "123457", "--base-date", "2014")
    path = home / "provision.json"
    common = ("fw", "provision", "--meter", "600727000000000009", "--out", path, "--credentials", home / "he.toml")
    output = run(*common, "--battery-cut-mv", "25000", code=1)
    assert "battery_restore_mv: must be above battery_cut_mv" in output
    assert not path.exists() and not (home / "he.toml").exists()  # nothing half-written
    assert "--friendly-hours" in run(*common, "--friendly-hours", "18:6", code=1)
    run(*common, "--entity", "Cooperativa Rio Claro", "--utc-offset-min", "-240", "--friendly-hours", "18-6",
        "--low-credit-wh", "3000", "--battery", "lifepo4", "--battery-cut-mv", "24000", "--battery-restore-mv",
        "26000")
    assert json.loads(path.read_text())["settings"] == {
        "serial": "600727000000000009", "entity": "Cooperativa Rio Claro", "utc_offset_min": -240,
        "friendly_start_h": 18, "friendly_end_h": 6, "low_credit_wh": 3000, "battery": "lifepo4",
        "battery_cut_mv": 24000, "battery_restore_mv": 26000}


def test_soak_runs_a_day_of_the_whole_firmware(capfd):
    assert soak.main(["--no-update", "--heap", "96K"]) == 0  # the target (docs/firmware-update.md, "Heap on the meter")
    out = capfd.readouterr().out
    assert "peak_heap_bytes=" in out and "FAILED" not in out
    assert "relay_switchings=4" in out


def test_soak_with_a_firmware_update_transfers_verifies_and_activates(capfd):
    """The update's firmware parts in the day, within the 96 KB budget (issue 19)."""
    assert soak.main(["--heap", "96K"]) == 0
    out = capfd.readouterr().out
    assert "firmware_blocks=" in out and "firmware_status=6" in out and "FAILED" not in out
    blocks = int(out.split("firmware_blocks=")[1].split()[0])
    assert blocks > 700  # a whole production image, 192 bytes a block
