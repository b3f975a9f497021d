"""`opsm token`, `opsm meter` and `opsm keys`: recharge codes, the meter registry and the vending key file."""

import decimal
import os

import click

from opsm.protocol.sts_amount import encode_amount

from opsm.host import families
from opsm.host.cli_common import emit, home_option, open_registry, read_passphrase, reports_errors
from opsm.host.keystore import KeyStore
from opsm.host.sts import keys as sts_keys
from opsm.host.sts import tokens as sts_tokens
from opsm.host.vending import TEST_CONTROLS, Vendor


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


def vendor(db: str, keyfile: str, operator: str) -> Vendor:
    return Vendor(open_registry(db), KeyStore.open(keyfile, read_passphrase()), operator)


@click.group()
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


@click.group()
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


@click.group()
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
