"""`opsm`: the command line of the OPSM-SP-230 open prepaid meter tools."""

import contextlib
import decimal
import json
import os
import sys

import click

from opsm.protocol.sts_amount import encode_amount

from opsm.host import families
from opsm.host.cli_common import CliError, db_option, home_option, missing_extra, read_passphrase, reports_errors
from opsm.host.keystore import KeyStore
from opsm.host.registry import Registry
from opsm.host.sts import keys as sts_keys
from opsm.host.sts import tokens as sts_tokens
from opsm.host.vending import TEST_CONTROLS, Vendor


def emit(obj: dict, as_json: bool, text: str) -> None:
    click.echo(json.dumps(obj, sort_keys=True) if as_json else text)


def hex_bytes(name: str, value: str, sizes: tuple = ()) -> bytes:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise ValueError("%s: must be hexadecimal, got %r" % (name, value)) from None
    if sizes and len(raw) not in sizes:
        raise ValueError("%s: must be %s bytes, got %d" % (name, " or ".join(map(str, sizes)), len(raw)))
    return raw


def hex_int(name: str, text: str, bits: int) -> int:
    """A hexadecimal field of at most `bits` bits."""
    try:
        value = int(text, 16)
    except ValueError:
        raise ValueError("%s: must be hexadecimal, got %r" % (name, text)) from None
    if not 0 <= value < 1 << bits:
        raise ValueError("%s: must fit %d bits (at most %x), got %s" % (name, bits, (1 << bits) - 1, text))
    return value


def kwh_to_tenths(value: str) -> int:
    """kWh as typed -> tenths, rounded up (the customer never gets less than paid for)."""
    try:
        kwh = decimal.Decimal(value)
    except decimal.InvalidOperation:
        raise ValueError("kwh: must be a number, got %r" % value) from None
    if not kwh.is_finite() or kwh < 0:
        raise ValueError("kwh: must be a positive number, got %r" % value)
    return int((kwh * 10).to_integral_value(rounding=decimal.ROUND_CEILING))


def ea_number(value: str, derive_only: bool = False) -> int:
    """EA code; EA07 (STA) only where nothing is encrypted (deriving keys)."""
    allowed = ("07", "7", "09", "9", "11") if derive_only else ("09", "9", "11")
    if value not in allowed:
        raise ValueError("ea: must be 09 (DES) or 11 (MISTY1)%s; the STA cipher (EA07) is not shipped"
                         % (" or 07 (key derivation only)" if derive_only else ""))
    return int(value)


def open_registry(db: str) -> Registry:
    """--db: a SQLite file (its folder is made), sqlite:///PATH, or a postgresql:// URL."""
    path = db[len("sqlite:///"):] if db.startswith("sqlite:///") else db
    if "://" not in path:
        os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    return Registry(db)


def vendor(db: str, keyfile: str, operator: str) -> Vendor:
    return Vendor(open_registry(db), KeyStore.open(keyfile, read_passphrase()), operator)


class OpsmGroup(click.Group):
    """Every error exits with status 1 and a message, usage errors included."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        try:
            code = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.exceptions.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            exc.show()
            sys.exit(1)
        except ModuleNotFoundError as exc:
            error = missing_extra(exc)
            if error is None:
                raise
            error.show()
            sys.exit(1)
        if standalone_mode:
            sys.exit(code if isinstance(code, int) else 0)
        return code


@click.group(cls=OpsmGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(None, "-V", "--version", package_name="opsm")
def cli():
    """Tools for the OPSM-SP-230 open prepaid meter: tokens, meters, keys, demo."""


@cli.group()
def token():
    """20-digit recharge codes: derive keys, build, parse, issue (STS and OpenPAYGO)."""


@token.command("derive-key")
@click.option("--dkga", type=click.Choice(["02", "04"]), required=True, help="Key derivation algorithm.")
@click.option("--vending-key", required=True, help="Vending key, hex.")
@click.option("--pan", required=True, help="18-digit meter PAN.")
@click.option("--sgc", required=True, help="6-digit supply group code.")
@click.option("--ti", type=int, required=True, help="Tariff index.")
@click.option("--krn", type=int, required=True, help="Key revision number.")
@click.option("--kt", type=int, required=True, help="Key type (0-3).")
@click.option("--base-date", type=click.Choice(["1993", "2014", "2035"]), default="1993", show_default=True)
@click.option("--ea", default=None, help="Encryption algorithm 11 (MISTY1), 09 (DES) or 07 (STA, key only); "
              "default 11 for DKGA-04, 09 for DKGA-02.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def derive_key(dkga, vending_key, pan, sgc, ti, krn, kt, base_date, ea, as_json):
    """Print the decoder key (big-endian hex) for a meter."""
    ea_value = ea_number(ea if ea else ("11" if dkga == "04" else "09"), derive_only=True)
    vk = hex_bytes("vending-key", vending_key)
    if dkga == "02":
        if ea_value == 11:
            raise ValueError("ea: DKGA-02 derives 64-bit keys, not MISTY1 keys")
        key = sts_keys.dkga02(vk, pan, sgc, ti, krn, kt)
    else:
        key = sts_keys.dkga04(vk, pan, sgc, ti, krn, kt, int(base_date), ea_value)
    emit({"decoder_key": key.hex(), "dkga": dkga, "ea": "%02d" % ea_value}, as_json, key.hex())


@token.command("build")
@click.option("--ea", default="11", show_default=True, help="11 (MISTY1) or 09 (DES).")
@click.option("--decoder-key", default="", help="Decoder key, hex (not needed for class 1).")
@click.option("--class", "token_class", type=int, required=True, help="Token class 0, 1 or 2.")
@click.option("--subclass", type=int, required=True, help="Token subclass 0-15.")
@click.option("--random", "random_nibble", type=int, default=0, show_default=True, help="Random nibble 0-15.")
@click.option("--tid", type=int, default=None, help="Token identifier, minutes since the base date.")
@click.option("--value-field", default=None, help="Raw 16-bit value field, hex.")
@click.option("--kwh", default=None, help="Amount in kWh (or W for power limits), encoded rounding up.")
@click.option("--mfr", type=int, default=0, show_default=True, help="Class 1: manufacturer code.")
@click.option("--control", default=None, help="Class 1: control field, hex.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def build(ea, decoder_key, token_class, subclass, random_nibble, tid, value_field, kwh, mfr, control, as_json):
    """Build one token from its fields and print the 20 digits."""
    if token_class == 1:
        if control is None:
            raise ValueError("control: class 1 tokens need --control")
        code = sts_tokens.meter_test_token(subclass, mfr, hex_int("control", control, 36 if subclass == 0 else 28))
    else:
        if token_class == 2 and subclass in (3, 4, 8, 9):
            raise ValueError("subclass: key change tokens come in sets, use 'opsm token keychange'")
        key = hex_bytes("decoder-key", decoder_key, (8, 16))
        if tid is None:
            raise ValueError("tid: class %d tokens need --tid" % token_class)
        if (value_field is None) == (kwh is None):
            raise ValueError("value-field/kwh: give exactly one of --value-field and --kwh")
        if kwh is not None:
            field = encode_amount(kwh_to_tenths(kwh))
        else:
            field = hex_int("value-field", value_field, 16)
        code = sts_tokens.tid_token(token_class, subclass, tid, field, random_nibble, ea_number(ea), key)
    emit({"token": code}, as_json, code)


@token.command("parse")
@click.argument("token_digits", metavar="TOKEN")
@click.option("--ea", default="11", show_default=True, help="11 (MISTY1) or 09 (DES).")
@click.option("--decoder-key", default="", help="Decoder key, hex (not needed for class 1).")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def parse(token_digits, ea, decoder_key, as_json):
    """Decrypt a token and print its fields."""
    key = hex_bytes("decoder-key", decoder_key, (8, 16)) if decoder_key else b""
    fields = sts_tokens.parse(token_digits, ea_number(ea), key)
    text = "\n".join("%s: %s" % (k, fields[k]) for k in sorted(fields))
    emit(fields, as_json, text)


@token.command("issue")
@home_option
@click.option("--meter", "pan", required=True, help="Meter PAN (registered).")
@click.option("--kwh", required=True, help="Credit per token in kWh (rounded up to what a token carries).")
@click.option("--count", type=int, default=1, show_default=True, help="Tokens in the batch.")
@click.option("--operator", default=lambda: os.environ.get("USER", "operator"), help="Who issues.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def issue(db, keyfile, pan, kwh, count, operator, as_json):
    """Issue credit tokens for a registered meter (STS: TID = UTC minutes now; OpenPAYGO: next counts)."""
    issued = vendor(db, keyfile, operator).credit(pan, kwh_to_tenths(kwh), count)
    text = "\n".join("%s  %.1f kWh" % (t["token"], t["amount_tenths"] / 10) for t in issued)
    emit({"meter": pan, "tokens": issued}, as_json, text)


@token.command("keychange")
@home_option
@click.option("--meter", "pan", default=None, help="Registered meter: derive the new key from the registry.")
@click.option("--krn", type=int, default=None, help="New key revision number (default: next).")
@click.option("--kt", type=int, default=None, help="New key type 1-3 (default: unchanged).")
@click.option("--ti", type=int, default=None, help="New tariff index (default: unchanged).")
@click.option("--ken", type=int, default=None, help="Key expiry number 0-255 (255: never).")
@click.option("--rollover", is_flag=True, help="Move to the next base date and clear the TID memory.")
@click.option("--new-vending-key", default=None, help="Name of the vending key for the new key.")
@click.option("--ea", default="11", show_default=True, help="Without --meter: 11 (MISTY1) or 09 (DES).")
@click.option("--decoder-key", default=None, help="Without --meter: the current decoder key, hex.")
@click.option("--new-key", default=None, help="Without --meter: the new decoder key, hex.")
@click.option("--sgc", type=int, default=0, help="Without --meter: supply group code for 128-bit sets.")
@click.option("--operator", default=lambda: os.environ.get("USER", "operator"), help="Who issues.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def keychange(db, keyfile, pan, krn, kt, ti, ken, rollover, new_vending_key, ea, decoder_key, new_key,
              sgc, operator, as_json):
    """Issue the key change token set (2 tokens for 64-bit keys, 4 for 128-bit)."""
    if pan:
        item = vendor(db, keyfile, operator).key_change(pan, krn, kt, ti, ken, rollover, new_vending_key)
        tokens = item["tokens"]
    else:
        if not decoder_key or not new_key:
            raise ValueError("meter: give --meter, or --decoder-key and --new-key")
        tokens = sts_tokens.key_change_set(
            ea_number(ea), hex_bytes("decoder-key", decoder_key, (8, 16)), hex_bytes("new-key", new_key, (8, 16)),
            krn if krn is not None else 1, kt if kt is not None else 2, ti if ti is not None else 1,
            ken if ken is not None else 255, rollover, sgc)
    emit({"tokens": tokens}, as_json, "\n".join(tokens))


@token.command("manage")
@home_option
@click.option("--meter", "pan", required=True, help="Meter PAN (registered).")
@click.option("--function", type=click.Choice(families.functions() + [families.TEST]),
              required=True, help="disable-payg and counter-sync are for OpenPAYGO meters.")
@click.option("--value", default="0", show_default=True,
              help="max-power/phase-unbalance: W; clear-credit: register (ffff = all, hex); tariff: rate.")
@click.option("--control", "controls", multiple=True, type=click.Choice(sorted(TEST_CONTROLS)),
              help="test: what the meter tests or shows (repeatable).")
@click.option("--mfr", type=int, default=0, show_default=True, help="test: manufacturer code (0 = any).")
@click.option("--operator", default=lambda: os.environ.get("USER", "operator"), help="Who issues.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def manage(db, keyfile, pan, function, value, controls, mfr, operator, as_json):
    """Issue a management (class 2) or test/display (class 1) token."""
    v = vendor(db, keyfile, operator)
    if function == "test":
        item = v.test(pan, list(controls), mfr)
    else:
        if function == "clear-credit":
            number = hex_int("value", value, 16)
        else:
            try:
                number = int(value)
            except ValueError:
                raise ValueError("value: must be a whole number, got %r" % value) from None
        item = v.management(pan, function, number)
    emit(item, as_json, item["token"])


def _register_openpaygo() -> None:
    from opsm.host.cli_openpaygo import openpaygo_decode, openpaygo_issue

    token.add_command(openpaygo_issue)
    token.add_command(openpaygo_decode)


@cli.group()
def meter():
    """The meter registry."""


@meter.command("add")
@home_option
@click.option("--pan", required=True, help="18-digit meter PAN.")
@click.option("--profile", type=click.Choice(families.names()), default=families.DEFAULT.name, show_default=True,
              help="The family of codes the meter's firmware accepts.")
@click.option("--sgc", default=None, help="STS: 6-digit supply group code.")
@click.option("--ti", type=int, default=1, show_default=True)
@click.option("--krn", type=int, default=1, show_default=True)
@click.option("--kt", type=int, default=2, show_default=True)
@click.option("--ken", type=int, default=255, show_default=True, help="Key expiry number (255: never).")
@click.option("--base-date", type=click.Choice(["1993", "2014", "2035"]), default="2014", show_default=True)
@click.option("--dkga", type=click.Choice(["02", "04"]), default="04", show_default=True)
@click.option("--ea", default="11", show_default=True)
@click.option("--vending-key", "key_name", default="default", show_default=True,
              help="Name in the key file: the vending key (STS) or the device's secret key (OpenPAYGO).")
@click.option("--extended", is_flag=True, help="OpenPAYGO: 12-digit extended tokens.")
@click.option("--restricted", is_flag=True, help="OpenPAYGO: keys 1-4 only.")
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def meter_add(db, keyfile, pan, profile, sgc, ti, krn, kt, ken, base_date, dkga, ea, key_name, extended,
              restricted, as_json):
    """Register a meter."""
    key = KeyStore.open(keyfile, read_passphrase()).get(key_name)
    registry = open_registry(db)
    family = families.by_name(profile)
    options = dict(sgc=sgc, ti=ti, krn=krn, kt=kt, ken=ken, base_year=int(base_date), ea=ea_number(ea), dkga=dkga,
                   extended=extended, restricted=restricted)  # each family takes its own
    family.check_key(key, key_name, pan, family.meter_fields(options))  # the key must suit it before it is registered
    row = registry.add(pan, family, key_name, options)
    emit(row, as_json, "registered %s (%s)" % (pan, family.summary(row)))


@meter.command("list")
@home_option
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object.")
@reports_errors
def meter_list(db, keyfile, as_json):
    """List registered meters."""
    rows = open_registry(db).meters()
    text = "\n".join("%s  %s" % (r["pan"], families.of(r).status(r)) for r in rows)
    emit({"meters": rows}, as_json, text or "no meters")


@cli.group()
def keys():
    """The encrypted vending key file."""


@keys.command("init")
@home_option
@reports_errors
def keys_init(db, keyfile):
    """Create an empty key file (0600), encrypted under a passphrase."""
    KeyStore.create(keyfile, read_passphrase(confirm=True))
    click.echo("created %s" % keyfile)


@keys.command("add")
@home_option
@click.argument("name")
@click.option("--hex", "key_hex", default=None, help="The key, hex.")
@click.option("--generate", type=int, default=None, help="Generate a random key of this many bytes.")
@reports_errors
def keys_add(db, keyfile, name, key_hex, generate):
    """Add a named vending key."""
    if (key_hex is None) == (generate is None):
        raise ValueError("key: give exactly one of --hex and --generate")
    key = hex_bytes("hex", key_hex) if key_hex is not None else os.urandom(generate)
    store = KeyStore.open(keyfile, read_passphrase())
    store.add(name, key)
    store.save()
    click.echo("added %s (%d bytes)" % (name, len(key)))


@keys.command("list")
@home_option
@reports_errors
def keys_list(db, keyfile):
    """List key names and sizes (never the keys)."""
    store = KeyStore.open(keyfile, read_passphrase())
    for name, key in sorted(store.keys.items()):
        click.echo("%s  %d bytes" % (name, len(key)))


@cli.group(invoke_without_command=True)
@click.option("--speed", type=float, default=60.0, show_default=True,
              help="Virtual seconds per wall second between typed lines (0: only :advance moves time).")
@click.option("--dlms-port", type=int, default=None, help="Also serve the meter's DLMS/COSEM TCP wrapper (0: any).")
@click.option("--iec21-port", type=int, default=None, help="Also serve its IEC 62056-21 readout on TCP (0: any).")
@click.pass_context
def sim(ctx, speed, dlms_port, iec21_port):
    """The meter on a virtual board: interactive (no subcommand) or scenario files."""
    if ctx.invoked_subcommand is not None:
        return
    import tempfile

    from opsm.simulator.interactive import Console

    with tempfile.TemporaryDirectory() as flash:
        console = Console(flash, speed, click.echo)
        ports = {name: port for name, port in (("dlms", dlms_port), ("iec21", iec21_port)) if port is not None}
        if ports:
            click.echo("ports: %s" % json.dumps(console.serve(ports), sort_keys=True))
        click.echo("Keypad: 0-9 A-D * #, then Enter. :advance 30m, :load 800, :png FILE, :quit")
        console.draw()
        for line in sys.stdin:
            if not console.handle(line):
                break


@sim.command("scenarios")
def sim_scenarios():
    """List the scenarios that come with opsm (play one with `opsm sim run NAME`)."""
    from opsm.simulator import scenario

    for name in scenario.shipped():
        click.echo(name)


@sim.command("run")
@click.argument("files", nargs=-1, required=True, metavar="FILE|NAME...")
@click.option("--runtime", type=click.Choice(["cpython", "micropython"]), default="cpython", show_default=True,
              help="In-process under CPython, or the MicroPython unix port in a subprocess.")
@reports_errors
def sim_run(files, runtime):
    """Play scenario files, or shipped scenarios by name; one JSON summary per scenario; exit 1 if any
    expectation fails."""
    from opsm.simulator import scenario

    failed = 0
    for path in files:
        summary = scenario.run(scenario.find(path), runtime)
        failed += not summary["ok"]
        click.echo(json.dumps(summary, sort_keys=True))
    if failed:
        raise CliError("%d of %d scenarios failed" % (failed, len(files)))


def _port_options(f):
    """Options shared by `sim serve` and `sim fleet`: security, faults, trace, speed."""
    f = click.option("--speed", type=float, default=60.0, show_default=True,
                     help="Virtual seconds per wall second.")(f)
    f = click.option("--lls-password", default=None,
                     help="LLS secret of the management client (SAP 17); default: the meter's setting, OPSM-SP-230.")(f)
    f = click.option("--hls-keys", type=click.Path(exists=True, dir_okay=False), default=None,
                     help="File with 'ek = HEX' and 'ak = HEX': enables client 1, HLS-GMAC, suite 0.")(f)
    f = click.option("--faults", default="", help="Faults on every connection, e.g. "
                     "latency=50,drop=0.1,corrupt=0.05,disconnect_after=3,hang_after=5,seed=7; hostile meters: "
                     "trickle=2.5 (a byte every 2.5 s), endless=blocks or endless=segments.")(f)
    f = click.option("--trace", "trace_dir", type=click.Path(file_okay=False), default=None,
                     help="Write a hex trace (RX/TX lines) per connection into this folder.")(f)
    return f


def _serve_options(faults, trace_dir, lls_password, hls_keys, meters):
    from opsm.simulator.serve import Faults

    spec = Faults.parse(faults) if faults else None
    if trace_dir:
        os.makedirs(trace_dir, exist_ok=True)
    return {"lls_password": lls_password.encode() if lls_password else None, "keys_file": hls_keys, "trace_dir": trace_dir,
            "faults": {n: spec for n in meters} if spec else {}}


@sim.command("serve")
@click.option("--dlms-port", type=int, default=4059, show_default=True, help="DLMS/COSEM TCP wrapper port (0: any).")
@click.option("--hdlc-port", type=int, default=None, help="DLMS/COSEM over HDLC on TCP (0: any).")
@click.option("--iec21-port", type=int, default=None, help="IEC 62056-21 mode C readout on TCP (0: any).")
@click.option("--iec21-pty", is_flag=True, help="The optical port on a pseudo-terminal: mode C, and mode E to HDLC.")
@click.option("--modbus-port", type=int, default=None, help="Modbus TCP (0: any).")
@click.option("--modbus-rtu-pty", is_flag=True,
              help="Modbus RTU on a serial line: prints the path of its far end (a pseudo-terminal) to open.")
@click.option("--modbus-unit", type=click.IntRange(1, 247), default=1, show_default=True, help="Modbus RTU unit id.")
@click.option("--scenario", type=click.Path(exists=True, dir_okay=False), default=None,
              help="Play this scenario's steps first, then serve the meter as they left it.")
@_port_options
@reports_errors
def sim_serve(dlms_port, hdlc_port, iec21_port, iec21_pty, modbus_port, modbus_rtu_pty, modbus_unit, scenario, speed,
              lls_password, hls_keys, faults, trace_dir):
    """Serve one live virtual meter on 127.0.0.1 until Ctrl-C; prints its ports as one JSON line."""
    import asyncio
    import tempfile

    from opsm.simulator import board, serve
    from opsm.simulator.scenario import load

    scenario_run = board.module("simulator.scenario_run")

    ports = {name: port for name, port in (("dlms", dlms_port), ("hdlc", hdlc_port), ("iec21", iec21_port),
                                           ("modbus", modbus_port)) if port is not None}
    with tempfile.TemporaryDirectory() as folder:
        if scenario:
            run = scenario_run.steps(load(scenario), folder)[0]
        else:
            run = scenario_run.Run({"name": "serve", "meter": dict(serve.DEMO_METER), "system": dict(serve.DEMO_SYSTEM)}, folder)
        if not run.meter.settings.get("serial"):
            run.meter.set_setting("serial", "OPS00000001")
        meters = serve.MeterPorts([run], speed, **_serve_options(faults, trace_dir, lls_password, hls_keys, [0]))

        def started(mapping):
            click.echo(json.dumps({name: values[0] for name, values in mapping.items()}, sort_keys=True))
            sys.stdout.flush()

        try:
            asyncio.run(meters.serve(ports, started=started, optical_pty=iec21_pty, modbus_rtu_pty=modbus_rtu_pty,
                                     modbus_unit=modbus_unit))
        except KeyboardInterrupt:
            pass


@sim.command("fleet")
@click.option("--count", type=int, default=1, show_default=True, help="Meters, each with its own serial.")
@click.option("--base-port", type=int, default=7001, show_default=True,
              help="Port of the first meter for the first protocol; the others follow (0: any free ports).")
@click.option("--protocol", "protocols", default="dlms", show_default=True,
              help="Comma-separated: dlms, hdlc, iec21, modbus; each protocol takes the next block of COUNT ports.")
@click.option("--fault-meters", default="", help="Comma-separated meter numbers (0-based) the --faults apply to "
              "(default: all).")
@click.option("--history", default="", help="Recharge every meter and let it live this long first (e.g. 1d): "
              "profiles and events to harvest.")
@_port_options
@reports_errors
def sim_fleet(count, base_port, protocols, fault_meters, history, speed, lls_password, hls_keys, faults, trace_dir):
    """Serve N virtual meters on 127.0.0.1 until Ctrl-C; prints the ports as one JSON line."""
    from opsm.simulator import board
    from opsm.simulator.serve import run_fleet

    duration_ms = board.module("simulator.scenario_run").duration_ms

    history_ms = duration_ms(history) if history else 0
    names = [p.strip() for p in protocols.split(",") if p.strip()]
    base_ports = {name: (base_port + k * count if base_port else 0) for k, name in enumerate(names)}
    try:
        meters = [int(n) for n in fault_meters.split(",") if n.strip()] or list(range(count))
    except ValueError:
        raise CliError("--fault-meters: write meter numbers separated by commas") from None

    def started(mapping):
        click.echo(json.dumps(mapping, sort_keys=True))
        sys.stdout.flush()

    try:
        run_fleet(count, base_ports, speed, started, history_ms,
                  **_serve_options(faults, trace_dir, lls_password, hls_keys, meters))
    except KeyboardInterrupt:
        pass


@cli.group()
def fw():
    """Firmware: build the board tree, flash MicroPython, deploy, provision."""


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


@cli.command()
@click.option("--workdir", default=None, help="Where the demo keeps its registry, key file, flash and screens "
                                                "(default opsm-demo in the current directory; emptied first).")
@reports_errors
def demo(workdir):
    """Register a demo meter, sell a token, and decode it with the firmware under MicroPython."""
    from opsm.host.demo import run_demo

    run_demo(workdir)


@cli.group()
def dlms():
    """Talk to a meter over DLMS/COSEM: read it, deliver a token, switch its relay."""


def _dlms_options(f):
    for option in reversed((
            click.option("--host", default="127.0.0.1", show_default=True),
            click.option("--port", type=int, default=4059, show_default=True),
            click.option("--hdlc", is_flag=True, help="HDLC framing over TCP (default: the TCP wrapper)."),
            click.option("--serial", "device", default="", help="HDLC on this serial port instead of TCP."),
            click.option("--baud", type=int, default=9600, show_default=True),
            click.option("--optical", is_flag=True, help="With --serial: IEC 62056-21 mode E opening (optical probe)."),
            click.option("--client", "client_sap", type=click.Choice(["16", "17", "1"]), default=None,
                         help="16 public, 17 LLS, 1 HLS-GMAC (default: 17 with --password, 1 with --hls-keys)."),
            click.option("--password", default=None, help="LLS secret (management client 17)."),
            click.option("--hls-keys", type=click.Path(exists=True, dir_okay=False), default=None,
                         help="File with 'ek = HEX' and 'ak = HEX' (client 1, suite 0)."),
            click.option("--invocation-counter", type=int, default=None,
                         help="HLS: our invocation counter to start from (default: the time, so it always grows)."),
            click.option("--timeout", type=float, default=10.0, show_default=True))):
        f = option(f)
    return f


def _dlms_session(host, port, hdlc, device, baud, optical, client_sap, password, hls_keys, invocation_counter,
                  timeout):
    from opsm.host import dlms as D
    from opsm.protocol.cosem_server import Keys

    keys = None
    if hls_keys:
        with open(hls_keys) as f:
            keys = Keys.parse(f.read(), b"")  # the meter's system title comes in its AARE
    sap = int(client_sap) if client_sap else (1 if keys else (17 if password is not None else 16))
    counter = invocation_counter if invocation_counter is not None else D.growing_counter()
    try:
        return D.open_session(host, port, "hdlc" if hdlc else "wrapper", sap, (password or "").encode(), keys,
                              invocation_counter=counter, timeout=timeout, serial=device, baudrate=baud,
                              optical=optical)
    except D.CosemError as exc:
        raise CliError("meter: %s" % exc) from None


@contextlib.contextmanager
def _dlms_client(host, port, hdlc, device, baud, optical, client_sap, password, hls_keys, invocation_counter,
                 timeout, refused="meter: %s"):
    """An associated client for one command: released at the end, the link closed whatever happens, and
    a meter's refusal a CLI error (`refused` % the reason)."""
    from opsm.host import dlms as D

    link, client = _dlms_session(host, port, hdlc, device, baud, optical, client_sap, password, hls_keys,
                                 invocation_counter, timeout)
    try:
        yield client
        client.release()
    except D.CosemError as exc:
        raise CliError(refused % exc) from None
    finally:
        link.close()


@dlms.command("read")
@_dlms_options
@click.option("--profile", default=None, help="Also read this profile (e.g. 1.0.99.1.0.255).")
@click.option("--hours", type=int, default=0, help="With --profile: only the last N hours (selective access by range).")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def dlms_read(host, port, hdlc, device, baud, optical, client_sap, password, hls_keys, invocation_counter, timeout,
              profile, hours, as_json):
    """Every register of the map, the clock, and optionally a load profile."""
    from opsm.host import dlms as D
    from opsm.protocol import axdr
    from opsm.protocol import registers as M
    from opsm.protocol.cosem_client import range_selection

    with _dlms_client(host, port, hdlc, device, baud, optical, client_sap, password, hls_keys, invocation_counter,
                      timeout) as client:
        values = D.read_registers(client)
        rows = []
        if profile:
            selection = b""
            if hours:
                now = values[M.CLOCK_OBIS]
                selection = range_selection(axdr.date_time(now - hours * 3600, 0), axdr.date_time(now, 0))
            rows = D.read_profile(client, profile, selection)
    out = {"registers": values, "profile": [list(r) for r in rows]} if profile else {"registers": values}
    emit(out, as_json, "\n".join("%-16s %s" % item for item in values.items()) +
         ("\n%d profile rows" % len(rows) if profile else ""))


@dlms.command("token")
@click.argument("token")
@_dlms_options
@reports_errors
def dlms_token(token, host, port, hdlc, device, baud, optical, client_sap, password, hls_keys, invocation_counter,
               timeout):
    """Deliver a recharge code through the token gateway (0.0.19.40.0.255): applied as if typed."""
    from opsm.host import dlms as D
    from opsm.protocol.cosem_objects import TOKEN_GATEWAY_OBIS

    if not token.isdigit():
        raise CliError("token: must be digits only")
    link, client = _dlms_session(host, port, hdlc, device, baud, optical, client_sap, password, hls_keys,
                                 invocation_counter, timeout)
    try:
        try:
            client.enter_token(token)
            accepted = True
        except D.CosemError:
            accepted = False
        status = client.get(115, TOKEN_GATEWAY_OBIS, 6)[0]
        client.release()
    finally:
        link.close()
    click.echo(json.dumps({"accepted": accepted, "token_status": status}))
    if not accepted:
        raise CliError("the meter refused the code (token status %d)" % status)


@dlms.command("relay")
@click.argument("action", type=click.Choice(["disconnect", "reconnect"]))
@_dlms_options
@reports_errors
def dlms_relay(action, host, port, hdlc, device, baud, optical, client_sap, password, hls_keys, invocation_counter,
               timeout):
    """Remote disconnect or reconnect (disconnect control 0.0.96.3.10.255); credit and battery rules still apply."""
    from opsm.protocol import registers as M

    relay = M.by_key("relay").obis
    with _dlms_client(host, port, hdlc, device, baud, optical, client_sap, password, hls_keys, invocation_counter,
                      timeout) as client:
        client.action(70, relay, 1 if action == "disconnect" else 2, b"\x0f\x00")
        closed = client.get(70, relay, 2)
    click.echo(json.dumps({"relay": "closed" if closed else "open"}))


@dlms.command("clock")
@_dlms_options
@click.option("--set", "set_to", default=None,
              help="'now' (this computer's UTC clock) or a UTC time YYYY-MM-DDTHH:MM[:SS]; without it, read only.")
@reports_errors
def dlms_clock(host, port, hdlc, device, baud, optical, client_sap, password, hls_keys, invocation_counter, timeout,
               set_to):
    """Read the meter's clock, or set it (a management association: LLS or HLS). The meter refuses a step
    back of more than 5 minutes, and a second one within a day of its running time."""
    import datetime

    from opsm.host import dlms as D
    from opsm.protocol import civil
    from opsm.protocol import registers as M

    def iso(seconds: int) -> str:
        return datetime.datetime.fromtimestamp(seconds + civil.UNIX_2000, datetime.timezone.utc).isoformat()

    target = None
    if set_to:
        try:
            when = datetime.datetime.now(datetime.timezone.utc) if set_to == "now" else \
                datetime.datetime.fromisoformat(set_to).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise CliError("--set: 'now' or a UTC time YYYY-MM-DDTHH:MM[:SS], got %r" % set_to) from None
        target = int(when.timestamp()) - civil.UNIX_2000
    with _dlms_client(host, port, hdlc, device, baud, optical, client_sap, password, hls_keys, invocation_counter,
                      timeout, "meter: %s (a clock refused goes to its event log)") as client:
        before = D.clock_seconds(client.get(M.CLOCK, M.CLOCK_OBIS, 2))
        if target is not None:
            D.set_clock(client, target)
        after = D.clock_seconds(client.get(M.CLOCK, M.CLOCK_OBIS, 2))
    click.echo(json.dumps({"before": iso(before), "clock": iso(after)}))


@dlms.command("credentials")
@_dlms_options
@click.option("--new-password", default=None, help="The management client's (17) new LLS secret, 8-32 characters.")
@click.option("--new-keys", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File with the new 'ek = HEX', 'ak = HEX' and 'kek = HEX': sent wrapped under the current kek.")
@reports_errors
def dlms_credentials(host, port, hdlc, device, baud, optical, client_sap, password, hls_keys, invocation_counter,
                     timeout, new_password, new_keys):
    """Change the meter's own DLMS secrets over an HLS association (--hls-keys with the current ek, ak and kek)."""
    from opsm.host import dlms as D
    from opsm.protocol.acse import check_lls_secret
    from opsm.protocol.cosem_server import Keys

    if not hls_keys:
        raise CliError("--hls-keys: secrets change only in an HLS association (the file with the current keys)")
    if not new_password and not new_keys:
        raise CliError("give --new-password and/or --new-keys")
    if new_password is not None:
        try:
            check_lls_secret(new_password.encode())  # the meter's own rule
        except ValueError as exc:
            raise CliError("--new-password: %s" % str(exc).split(": ", 1)[1]) from None
    with open(hls_keys) as f:
        current = Keys.parse(f.read(), b"")
    keys = None
    if new_keys:
        with open(new_keys) as f:
            keys = Keys.parse(f.read(), b"")
        if not current.kek or not keys.kek:
            raise CliError("kek: both key files need the master key (kek = HEX) to wrap and replace it")
    with _dlms_client(host, port, hdlc, device, baud, optical, "1", None, hls_keys, invocation_counter,
                      timeout) as client:
        if new_password:
            D.set_lls_secret(client, new_password.encode())
        if keys is not None:
            D.transfer_keys(client, current.kek, {"ek": keys.ek, "ak": keys.ak, "kek": keys.kek})
    click.echo(json.dumps({"lls_password": bool(new_password), "keys": bool(keys)}))


@cli.command("harvest")
@click.option("--inventory", "inventory_path", required=True, type=click.Path(dir_okay=False),
              help="CSV or TOML: device_id, serial, host, port, protocol, client, credentials, timezone.")
@click.option("--credentials", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML: [name] password = ..., or ek/ak in hexadecimal.")
@db_option
@click.option("--concurrency", type=int, default=50, show_default=True, help="Meters read at the same time.")
@click.option("--since", default=None, help="Profiles from this UTC time on (YYYY-MM-DD or YYYY-MM-DDTHH:MM); "
              "default: after the newest stored row.")
@click.option("--timeout", type=float, default=10.0, show_default=True, help="Seconds to wait for each answer.")
@click.option("--retries", type=int, default=2, show_default=True, help="Extra attempts for a meter that fails.")
@click.option("--meter-deadline", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True,
              help="Seconds one meter may take in all: connection, association, every read, release, retries; "
              "a meter still at it fails with 'deadline N s passed after K reads'.")
@click.option("--harvest-deadline", type=click.FloatRange(0, min_open=True), default=None, show_default="no bound",
              help="Seconds the whole harvest may take; meters not done by then fail with that reason.")
@click.option("--max-reply-bytes", type=click.IntRange(1), default=1 << 20, show_default=True,
              help="Bytes one read may bring, all its blocks (the meter's full hourly profile, 840 rows, is "
              "35 KB); a larger reply fails the meter.")
@click.option("--max-blocks", type=click.IntRange(1), default=256, show_default=True,
              help="GET blocks one read may take (the full hourly profile takes 35), and HDLC segments one "
              "reply; more fail the meter.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: totals and every failure.")
def harvest_command(inventory_path, credentials, db, concurrency, since, timeout, retries, meter_deadline,
                    harvest_deadline, max_reply_bytes, max_blocks, as_json):
    """Read every meter of an inventory into the database. Exit 0: all read; 2: some failed; 1: bad input.

    Each meter has a deadline for its whole session and caps on what one read may bring: a meter that
    trickles, or sends blocks forever, fails with the reason stored; the rest of the fleet is read."""
    import asyncio
    import datetime

    from rich.console import Console
    from rich.progress import Progress
    from rich.table import Table

    from opsm.host import harvest, inventory, store

    try:
        meters = inventory.load(inventory_path, credentials)
        since_s = 0
        if since:
            try:
                since_s = int(datetime.datetime.fromisoformat(since).replace(
                    tzinfo=datetime.timezone.utc).timestamp())
            except ValueError:
                raise CliError("--since: write a UTC date YYYY-MM-DD or YYYY-MM-DDTHH:MM, got %r" % since) from None
        if concurrency < 1:
            raise CliError("--concurrency: must be at least 1")
        db_store = store.Store.open(db)
    except ValueError as exc:
        raise CliError(str(exc)) from None
    console = Console(stderr=True)
    start = datetime.datetime.now()
    with db_store, Progress(console=console, transient=True, disable=as_json or not console.is_terminal) as bar:
        task = bar.add_task("harvesting", total=len(meters))
        results = asyncio.run(harvest.harvest(meters, db_store, concurrency, since_s, timeout, retries,
                                              progress=lambda m, r: bar.advance(task),
                                              meter_deadline=meter_deadline, harvest_deadline=harvest_deadline,
                                              max_reply_bytes=max_reply_bytes, max_blocks=max_blocks))
    seconds = (datetime.datetime.now() - start).total_seconds()
    failed = {device: r for device, r in results.items() if not r.ok}
    summary = {"meters": len(meters), "read": len(meters) - len(failed), "failed": len(failed),
               "seconds": round(seconds, 2), "meters_per_second": round(len(meters) / seconds, 1) if seconds else 0,
               "failures": {d: {"error": r.error, "attempts": r.attempts} for d, r in failed.items()},
               "clock_drift_s": {d: r.clock_drift_s for d, r in results.items() if r.clock_drift_s is not None}}
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
    else:
        click.echo("%(read)d of %(meters)d meters read in %(seconds).2f s (%(meters_per_second).1f meters/s)" % summary)
        drifting = {d: s for d, s in summary["clock_drift_s"].items() if abs(s) > 60}
        for device, drift in sorted(drifting.items()):
            click.echo("clock drift %+d s: %s" % (drift, device))
        if failed:
            table = Table(title="Meters not read")
            for column in ("device_id", "attempts", "reason"):
                table.add_column(column)
            for device, r in sorted(failed.items()):
                table.add_row(device, str(r.attempts), r.error)
            Console().print(table)
    sys.exit(2 if failed else 0)


_register_openpaygo()


def _register_exports() -> None:
    from opsm.host.cli_console import vend
    from opsm.host.cli_export import customers, export, report

    for group in (customers, export, report, vend):
        cli.add_command(group)


_register_exports()


def main() -> None:
    cli.main(prog_name="opsm")


if __name__ == "__main__":
    main()
