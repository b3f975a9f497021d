"""`opsm fw` and `opsm demo`: the firmware on its way to a board, and the whole path shown on one machine."""

import os

import click

from opsm.host.cli_common import (CliError, DEFAULT_HOME, emit, home_option, open_registry, read_passphrase,
                                  reports_errors)
from opsm.host.cli_dlms import dlms_target
from opsm.host.keystore import KeyStore


@click.group()
def fw():
    """Firmware: build the board tree, flash MicroPython, deploy, provision, sign, push over DLMS."""


@fw.command("build")
@click.option("--board", required=True, help="esp32s3, esp32 or pico.")
@click.option("--out", default=None, help="Output folder (default build/BOARD in the current directory).")
@click.option("--dev", is_flag=True, help="Development build: the watchdog stays off (soft resets, REPL).")
@reports_errors
def fw_build(board, out, dev):
    """Compile the deployable tree: boot.py, main.py and lib/*.mpy (production: watchdog on)."""
    from opsm.host import fwbuild

    click.echo(fwbuild.build(board, out, dev))


@fw.command("flash")
@click.option("--board", required=True, help="esp32s3, esp32 or pico.")
@click.option("--port", default="", help="Serial port (ESP32) or the RPI-RP2 drive (Pico).")
@click.option("--firmware", default="", help="MicroPython image: .bin for ESP32, .uf2 for the Pico.")
@click.option("--dry-run", is_flag=True, help="Print the commands only.")
@reports_errors
def fw_flash(board, port, firmware, dry_run):
    """Erase the board and write MicroPython (esptool, or a .uf2 copy for the Pico)."""
    from opsm.host import fwbuild

    for command in fwbuild.flash(board, port, firmware, dry_run):
        click.echo(" ".join(command))


@fw.command("deploy")
@click.option("--board", required=True, help="esp32s3, esp32 or pico.")
@click.option("--port", default="", help="Serial port of the board.")
@click.option("--tree", default=None, help="The built tree (default build/BOARD in the current directory).")
@click.option("--romfs", is_flag=True, help="Modules into the board's ROMFS partition (run from flash).")
@click.option("--dry-run", is_flag=True, help="Print the commands only.")
@reports_errors
def fw_deploy(board, port, tree, romfs, dry_run):
    """Put a built tree (opsm fw build) on the board with mpremote and reset it."""
    from opsm.host import fwbuild

    for command in fwbuild.deploy(board, port, dry_run, romfs, tree):
        click.echo(" ".join(command))


@fw.command("provision")
@home_option
@click.option("--meter", "pan", required=True, help="Registered meter.")
@click.option("--out", required=True, help="Where to write provision.json (copy it to the board's root).")
@click.option("--credentials", "credentials_path", required=True,
              help="The head-end's credentials file (TOML): the meter's DLMS secrets are appended as [PAN].")
@click.option("--entity", default=None, help="The entity's name on the main screen (24 characters at most).")
@click.option("--utc-offset-min", type=int, default=None, help="Local time's minutes east of UTC (Chile: -240).")
@click.option("--friendly-hours", default=None, metavar="FROM-TO",
              help="Local hours in which credit running out does not cut the supply, e.g. 18-6.")
@click.option("--low-credit-wh", type=int, default=None, help="Credit under which the meter warns, Wh.")
@click.option("--battery-cut-mv", type=int, default=None, help="Battery voltage that cuts the supply, mV.")
@click.option("--battery-restore-mv", type=int, default=None, help="Battery voltage that restores it, mV.")
@click.option("--battery", type=click.Choice(["lead-acid", "lifepo4"]), default=None, help="Battery chemistry.")
@reports_errors
def fw_provision(db, keyfile, pan, out, credentials_path, entity, utc_offset_min, friendly_hours, low_credit_wh,
                 battery_cut_mv, battery_restore_mv, battery):
    """Write the meter's first key, profile, its own DLMS secrets and its field settings for its first boot
    (keep both files secret). Field settings left out take the firmware's defaults; a management
    association changes them later (docs/dlms.md)."""
    from opsm.host import fwbuild

    settings = {"serial": pan, "entity": entity, "utc_offset_min": utc_offset_min, "low_credit_wh": low_credit_wh,
                "battery_cut_mv": battery_cut_mv, "battery_restore_mv": battery_restore_mv, "battery": battery}
    if friendly_hours is not None:
        hours = friendly_hours.split("-")
        if len(hours) != 2 or not all(h.strip().isdigit() for h in hours):
            raise click.BadParameter("write two local hours FROM-TO, e.g. 18-6", param_hint="--friendly-hours")
        settings["friendly_start_h"], settings["friendly_end_h"] = int(hours[0]), int(hours[1])
    meter_row = open_registry(db).meter(pan)
    key = KeyStore.open(keyfile, read_passphrase()).get(meter_row["vending_key"])
    fwbuild.write_provision(meter_row, key, out, credentials_path,
                            {name: value for name, value in settings.items() if value is not None})
    click.echo("wrote %s and [%s] in %s (0600)" % (out, pan, credentials_path))


FW_KEY_HELP = "Name of the entity's firmware master key in the key file (opsm keys add firmware --generate 32)."


def keyfile_option(function):
    """--keyfile alone: signing and inspecting need the key file, not the registry."""
    return click.option("--keyfile", envvar="OPSM_KEYFILE", show_envvar=True,
                        default=lambda: os.path.join(DEFAULT_HOME, "vending-keys.json"),
                        help="Encrypted vending key file.")(function)


@fw.command("sign")
@keyfile_option
@click.option("--board", required=True, help="esp32s3, esp32 or pico.")
@click.option("--version", "version", required=True, metavar="MAJOR.MINOR.PATCH", help="The firmware's version.")
@click.option("--tree", default=None, help="A built tree (opsm fw build); default: a production build made now.")
@click.option("--serial", default=None, help="Sign for this meter: --out is its image file.")
@click.option("--inventory", "inventory_path", default=None,
              help="Sign for every meter of this inventory (its serial column): --out is a folder with "
                   "payload.bin and SERIAL.head per meter (a meter's image: its head, then the payload).")
@click.option("--out", required=True, help="Image file (--serial) or folder (--inventory).")
@click.option("--fw-key", default="firmware", show_default=True, help=FW_KEY_HELP)
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@reports_errors
def fw_sign(keyfile, board, version, tree, serial, inventory_path, out, fw_key, as_json):
    """Pack a built tree into a firmware image signed for one meter or for each meter of an inventory."""
    from opsm.host import fwimage

    if (serial is None) == (inventory_path is None):
        raise click.UsageError("give exactly one of --serial and --inventory")
    serials = fwimage.inventory_serials(inventory_path) if inventory_path else None
    master = KeyStore.open(keyfile, read_passphrase()).get(fw_key)
    summary = fwimage.sign(board, version, master, out, tree, serial, serials)
    emit(summary, as_json, "signed %(board)s %(version)s (%(payload_bytes)d bytes) for %(meters)d meter(s): %(out)s"
         % summary)


@fw.command("inspect")
@keyfile_option
@click.argument("image")
@click.option("--payload", default=None, help="The payload, when IMAGE is a meter's head (opsm fw sign --inventory).")
@click.option("--verify", is_flag=True, help="Check it as the meter would, with its key from the key file.")
@click.option("--fw-key", default="firmware", show_default=True, help=FW_KEY_HELP)
@click.option("--board", default=None, help="With --verify: the meter's board (default: the image's).")
@click.option("--running", default=None, metavar="MAJOR.MINOR.PATCH",
              help="With --verify: the meter's running version (default 0.0.0: any image is newer).")
@click.option("--allow-older", is_flag=True, help="With --verify: a downgrade is asked for.")
@click.option("--json", "as_json", is_flag=True, help="Print the manifest as JSON.")
@reports_errors
def fw_inspect(keyfile, image, payload, verify, fw_key, board, running, allow_older, as_json):
    """Print an image's manifest; with --verify, refuse it as the meter would (the reason, exit 1)."""
    from opsm.host import fwimage

    master = KeyStore.open(keyfile, read_passphrase()).get(fw_key) if verify else None
    doc = fwimage.inspect(image, payload, master, board, running, allow_older)
    emit(doc, as_json, "\n".join("%-15s %s" % (name, doc[name]) for name in
                                 ("format", "board", "version", "payload_bytes", "payload_sha256", "built",
                                  "key_id", "files", "verified")))


@fw.command("push")
@dlms_target
@click.argument("image", type=click.Path(exists=True, dir_okay=False))
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@reports_errors
def fw_push(target, image, as_json):
    """Send a signed image (opsm fw sign) to one meter over DLMS image transfer, then verify and activate it;
    run again after a broken link: only the blocks the meter lacks are sent."""
    from opsm.host import fwpush

    with open(image, "rb") as f:
        data = f.read()
    try:
        fwpush.identifier(data)
    except ValueError as exc:  # fw_image.ImageError: not an image
        raise CliError("%s: %s" % (image, exc)) from None

    def progress(sent, to_send):
        if sent == to_send or sent % 64 == 0:
            click.echo("%d/%d blocks" % (sent, to_send), err=True)

    with target.client("meter: %s (pushing again resumes)") as client:
        summary = fwpush.push(client, data, progress)
    emit(summary, as_json, "%(status)s: %(identifier)s, %(bytes)d bytes, %(sent)d of %(blocks)d blocks sent" % summary)


@click.command()
@click.option("--workdir", default=None, help="Where the demo keeps its registry, key file, flash and screens "
                                                "(default opsm-demo in the current directory; emptied first).")
@reports_errors
def demo(workdir):
    """Register a demo meter, sell a token, and decode it with the firmware under MicroPython."""
    from opsm.host.demo import run_demo

    run_demo(workdir)
