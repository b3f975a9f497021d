"""`opsm fw` and `opsm demo`: the firmware on its way to a board, and the whole path shown on one machine."""

import json
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
@click.option("--fw-key", default=None, help="Name of the entity's firmware master key in the key file: the meter "
              "gets its firmware key (opsm fw sign signs its images under it). Default: 'firmware' when the key "
              "file has it; a meter without one refuses every image.")
@reports_errors
def fw_provision(db, keyfile, pan, out, credentials_path, entity, utc_offset_min, friendly_hours, low_credit_wh,
                 battery_cut_mv, battery_restore_mv, battery, fw_key):
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
    from opsm.host import fwimage

    meter_row = open_registry(db).meter(pan)
    store = KeyStore.open(keyfile, read_passphrase())
    key = store.get(meter_row["vending_key"])
    if fw_key is None and "firmware" not in store.keys:
        firmware_key = None
        click.echo("no firmware master key ('firmware') in %s: this meter will refuse every firmware image "
                   "(opsm keys add firmware --generate 32, then provision again)" % keyfile, err=True)
    else:
        firmware_key = fwimage.derive_key(store.get(fw_key or "firmware"), pan)
    fwbuild.write_provision(meter_row, key, out, credentials_path,
                            {name: value for name, value in settings.items() if value is not None}, firmware_key)
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
    from opsm.protocol.fw_image import ImageError

    master = KeyStore.open(keyfile, read_passphrase()).get(fw_key) if verify else None
    try:
        doc = fwimage.inspect(image, payload, master, board, running, allow_older)
    except ImageError as exc:
        raise CliError(fwimage.explain(exc)) from None
    emit(doc, as_json, "\n".join("%-15s %s" % (name, doc[name]) for name in
                                 ("format", "board", "version", "payload_bytes", "payload_sha256", "built",
                                  "key_id", "files", "verified")))


_LINK_OPTIONS = ("host", "port", "hdlc", "device", "baud", "optical", "client_sap", "password", "hls_keys",
                 "invocation_counter")


@fw.command("push")
@dlms_target
@click.argument("image", required=False, type=click.Path(exists=True, dir_okay=False))
@click.option("--inventory", "inventory_path", default=None, type=click.Path(exists=True, dir_okay=False),
              help="Push to every meter of this inventory (as for `opsm harvest`), each its image of --images, "
                   "instead of IMAGE to one meter.")
@click.option("--credentials", type=click.Path(exists=True, dir_okay=False), default=None,
              help="With --inventory: TOML of the meters' secrets ([name] password = ..., or ek/ak).")
@click.option("--images", "images_dir", default=None,
              help="With --inventory: the folder `opsm fw sign --inventory` wrote (payload.bin, SERIAL.head).")
@click.option("--concurrency", type=int, default=50, show_default=True,
              help="With --inventory: meters pushed to at the same time.")
@click.option("--retries", type=int, default=2, show_default=True,
              help="With --inventory: extra attempts for a meter whose link fails; each resumes the transfer.")
@click.option("--allow-older", is_flag=True, help="Ask the meters to take an image older than the firmware they run "
              "(a downgrade; it must still be signed for each meter).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@reports_errors
def fw_push(target, image, inventory_path, credentials, images_dir, concurrency, retries, allow_older, as_json):
    """Send a signed image (opsm fw sign) to one meter over DLMS image transfer, then verify and activate it;
    run again after a broken link: only the blocks the meter lacks are sent.

    With --inventory, every meter of it gets its own image of --images; exit 0 only when every meter is
    activated or up to date. Run it again to resume the meters left unfinished (finished ones are skipped)."""
    from opsm.host import fwimage, fwpush
    from opsm.protocol.fw_image import ImageError

    if inventory_path is not None:
        _push_fleet(target, image, inventory_path, credentials, images_dir, concurrency, retries, allow_older, as_json)
        return
    for name, value in (("--images", images_dir), ("--credentials", credentials)):
        if value is not None:
            raise click.UsageError("%s: only with --inventory (one meter takes IMAGE)" % name)
    if image is None:
        raise click.UsageError("IMAGE: give a signed image file, or --inventory and --images for a fleet")
    with open(image, "rb") as f:
        data = f.read()
    try:
        fwpush.identifier(data)
    except ImageError as exc:  # not an image
        raise CliError("%s: %s" % (image, fwimage.explain(exc))) from None

    def progress(sent, to_send):
        if sent == to_send or sent % 64 == 0:
            click.echo("%d/%d blocks" % (sent, to_send), err=True)

    summary = None
    try:
        with target.client("meter: %s (pushing again resumes)") as client:
            summary = fwpush.push(client, data, progress, allow_older)
    except CliError:
        if summary is None:
            raise  # activated, the meter restarts into the image: the release finds the link gone
    emit(summary, as_json, "%(status)s: %(identifier)s, %(bytes)d bytes, %(sent)d of %(blocks)d blocks sent" % summary)


def _push_fleet(target, image, inventory_path, credentials, images_dir, concurrency, retries, allow_older, as_json):
    """`opsm fw push --inventory`: every meter its image, the report, exit 1 unless all are activated or up to date."""
    import time

    from opsm.host import fwpush, inventory

    context = click.get_current_context()
    given = (["IMAGE"] if image is not None else []) + [
        param.opts[0] for param in context.command.params if param.name in _LINK_OPTIONS
        and context.get_parameter_source(param.name) != click.core.ParameterSource.DEFAULT]
    if given:
        raise click.UsageError("--inventory: the inventory says how each meter is reached and --images holds their "
                               "images; leave out %s" % ", ".join(given))
    if images_dir is None:
        raise click.UsageError("--images: required with --inventory (the folder opsm fw sign --inventory wrote)")
    meters = inventory.load(inventory_path, credentials)
    last = [0.0]

    def progress(done, total, sent):
        now = time.monotonic()
        if done == total or now - last[0] >= 1.0:
            last[0] = now
            click.echo("fw push: %d/%d meters done, %d blocks sent" % (done, total, sent), err=True)

    started = time.monotonic()
    rows = fwpush.push_fleet(meters, images_dir, concurrency, progress, target.timeout, retries,
                             allow_older=allow_older)
    show_fleet_push(fwpush.summary(rows, time.monotonic() - started), as_json)


def show_fleet_push(summary: dict, as_json: bool) -> None:
    """A fleet push's report (a line per meter, then the totals) or its JSON; exit 0 only when every meter is
    activated or up to date, else 1."""
    import sys

    from opsm.host import fwpush

    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
    else:
        for row in summary["results"]:
            click.echo(fwpush.report_line(row))
        click.echo("%(activated)d activated, %(up_to_date)d up to date, %(refused)d refused, %(unreachable)d "
                   "unreachable, %(failed)d failed, %(no_image)d without an image, of %(meters)d meters; "
                   "%(blocks_sent)d blocks sent in %(seconds).2f s" % summary)
    sys.exit(0 if summary["ok"] else 1)


@click.command()
@click.option("--workdir", default=None, help="Where the demo keeps its registry, key file, flash and screens "
                                                "(default opsm-demo in the current directory; emptied first).")
@reports_errors
def demo(workdir):
    """Register a demo meter, sell a token, and decode it with the firmware under MicroPython."""
    from opsm.host.demo import run_demo

    run_demo(workdir)
