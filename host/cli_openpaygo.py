"""`opsm token openpaygo-issue` and `openpaygo-decode`: OpenPAYGO tokens from the command line.

Options are validated here rather than by click types so that every bad input ends
the same way: a message naming the option on stderr and exit status 1.
"""

import json

import click

from opsm.host.openpaygo_vend import bitmap_from_counts, counts_from_bitmap, generate, parse_key
from opsm.protocol.openpaygo import (ADD_TIME, COUNTER_SYNC, DISABLE_PAYG, MAX_STARTING_CODE, SET_TIME,
                                OpenPaygoDecoder, OpenPaygoState)
from opsm.protocol.token_result import FORMAT, MESSAGES

_KINDS = {"add": ADD_TIME, "set": SET_TIME, "disable": DISABLE_PAYG, "sync": COUNTER_SYNC}


def _error(option: str, message: str) -> click.ClickException:
    return click.ClickException("%s: %s" % (option, message))   # exit status 1


def _int(option: str, text: str, low: int = 0, high: int = -1) -> int:
    try:
        value = int(text, 10)
    except ValueError:
        raise _error(option, "must be an integer, got %r" % text) from None
    if value < low or 0 <= high < value:
        bounds = "%d..%d" % (low, high) if high >= 0 else ">= %d" % low
        raise _error(option, "must be %s, got %d" % (bounds, value))
    return value


def _settings(key_hex, starting_code, divider):
    """--key, --starting-code, --divider -> (key bytes, starting code or None, divider)."""
    if key_hex is None:
        raise _error("--key", "required (32 hexadecimal characters)")
    try:
        key = parse_key(key_hex)
    except ValueError:
        raise _error("--key", "must be 32 hexadecimal characters, got %r" % key_hex) from None
    start = None
    if starting_code is not None:
        start = _int("--starting-code", starting_code, 0, MAX_STARTING_CODE)
    return key, start, 1 if divider is None else _int("--divider", divider, 1)


def _common(command):
    """Options shared by both commands."""
    for decorator in reversed((
        click.option("--key", "key_hex", metavar="HEX",
                     help="Secret key, 32 hexadecimal characters."),
        click.option("--starting-code", metavar="N",
                     help="Starting code (default: derived from the key)."),
        click.option("--extended/--standard", default=False,
                     help="12-digit extended tokens (default: 9-digit standard)."),
        click.option("--restricted", is_flag=True, help="Keys 1-4 only (15 or 20 digits)."),
        click.option("--divider", metavar="N", help="Value divider (default 1)."),
        click.option("--json", "as_json", is_flag=True, help="Print one JSON object."),
    )):
        command = decorator(command)
    return command


@click.command("openpaygo-issue")
@_common
@click.option("--count", metavar="N", help="Last count used for this device (required).")
@click.option("--kind", metavar="add|set|disable|sync", default="add", show_default=True,
              help="Token kind.")
@click.option("--value", metavar="X", help="Value to add or set, before the divider.")
def openpaygo_issue(key_hex, starting_code, extended, restricted, divider, as_json, count, kind,
                    value):
    """Issue the next OpenPAYGO token after --count."""
    key, start, div = _settings(key_hex, starting_code, divider)
    if count is None:
        raise _error("--count", "required (the last count used for this device)")
    last = _int("--count", count)
    if kind not in _KINDS:
        raise _error("--kind", "must be one of add, set, disable, sync, got %r" % kind)
    number = None
    if value is not None:
        try:
            number = float(value)
        except ValueError:
            raise _error("--value", "must be a number, got %r" % value) from None
    try:
        new_count, token = generate(key.hex(), last, _KINDS[kind], number, start, extended,
                                    restricted, div)
    except ValueError as exc:   # generate names the field: "value: ..."
        field, _, message = str(exc).partition(": ")
        raise _error("--" + field.replace("_", "-"), message) from None
    out = {"token": token, "count": new_count, "kind": _KINDS[kind], "extended": extended,
           "restricted": restricted}
    text = "%s  (count %d)" % (token, new_count)
    click.echo(json.dumps(out, sort_keys=True) if as_json else text)


@click.command("openpaygo-decode")
@_common
@click.option("--count", metavar="N", help="The meter's max count (default 0: a new meter).")
@click.option("--used-counts", metavar="N,N,...",
              help="Counts already used, as the reference decoder lists them.")
@click.argument("token")
def openpaygo_decode(key_hex, starting_code, extended, restricted, divider, as_json, count,
                     used_counts, token):
    """Decode TOKEN as a meter in that state would; shows the state after accepting it.

    Exit status 0 whether the token is accepted or not: see "ok" and "reason".
    """
    key, start, div = _settings(key_hex, starting_code, divider)
    max_count = 0 if count is None else _int("--count", count)
    used = [_int("--used-counts", item.strip(), 0, max_count)
            for item in (used_counts or "").split(",") if item.strip()]
    state = OpenPaygoState(max_count, bitmap_from_counts(max_count, used))
    decoder = OpenPaygoDecoder(key, start, extended, restricted, div, state=state)
    result = decoder.decode(token)
    out = {"ok": result.ok, "reason": result.reason, "kind": result.kind, "value": result.value,
           "count": result.count}
    if result.ok:
        decoder.commit(result)
        out["amount"] = result.value / div
        text = "%s value %d (amount %g) at count %d" % (result.kind, result.value, out["amount"],
                                                          result.count)
    else:
        digits = decoder.chain.restricted_digits if restricted else decoder.chain.digits
        out["message"] = ("El codigo debe tener %d digitos%s" % (digits, " (1-4)" if restricted else "")
                          if result.reason == FORMAT else MESSAGES[result.reason])
        text = "rejected: %s (%s)" % (result.reason, out["message"])
    out["max_count"] = state.max_count
    out["used_counts"] = counts_from_bitmap(state.max_count, state.used)
    click.echo(json.dumps(out, sort_keys=True) if as_json else text)
