"""`opsm customers`, `opsm export` and `opsm report`: the harvested readings on their way to the platforms
that settle and publish them (AMM's SMEC, Chile's SEC and Gestiona Energía) and to the customer.

host/cli.py adds these groups to `opsm`; every command reports bad input through
reports_errors (a message naming the field and the rule, exit status 1).
"""

import json

import click

from host import customers as register
from host import smec
from host.cli_errors import reports_errors
from host.store import Store

DB_HELP = "Harvest database: a file path, sqlite:///PATH or postgresql://user:password@host/db."


def db_option(function):
    return click.option("--db", envvar="OPSM_HARVEST_DB", show_envvar=True, default="harvest.sqlite",
                        help=DB_HELP)(function)


@click.group()
def customers():
    """The customer register: who is supplied through which meter, and what they were charged."""


@customers.command("import")
@click.argument("path")
@db_option
@reports_errors
def customers_import(path, db):
    """Add or update customers from PATH (.csv, .xlsx or .toml); nothing is stored if a row is bad."""
    rows = register.load_customers(path)
    store = Store.open(db)
    try:
        register.save_customers(store, rows)
    finally:
        store.close()
    click.echo("%d customers stored" % len(rows))


@customers.command("charges")
@click.argument("path")
@db_option
@reports_errors
def customers_charges(path, db):
    """Add what customers were charged from PATH (.csv, .xlsx or .toml); documents already stored are kept."""
    store = Store.open(db)
    try:
        rows = register.load_charges(path, register.customer_ids(store))
        new = register.save_charges(store, rows)
    finally:
        store.close()
    click.echo("%d charges stored (%d already known)" % (new, len(rows) - new))


@click.group()
def export():
    """Files and feeds for the market and the regulators."""


@click.group()
def report():
    """Reports for people."""


@export.command("smec")
@click.option("--month", required=True, help="The month to load, YYYY-MM (hours in the AMM's time zone).")
@click.option("--channels", "channels_path", required=True,
              help="Channel map: channel, device_id, quantity, multiplier, participant (.csv, .xlsx, .toml).")
@click.option("--out", required=True, help="Folder for the workbooks and the constancia.")
@click.option("--zip", "as_zip", is_flag=True, help="Pack the workbooks in .zip batches of at most 20 (LOTE upload).")
@click.option("--allow-incomplete", is_flag=True, help="Write channels with missing hours (left empty) anyway.")
@click.option("--timezone", default="America/Guatemala", show_default=True, help="Whose hours the rows are.")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as JSON.")
@db_option
@reports_errors
def export_smec(month, channels_path, out, as_zip, allow_incomplete, timezone, as_json, db):
    """Direct@mm "Formato carga de medición" workbooks of a month's hourly channel readings for the SMEC."""
    store = Store.open(db)
    try:
        summary = smec.export(store, channels_path, month, out, as_zip, allow_incomplete, timezone)
    finally:
        store.close()
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    click.echo("%d channels of %s in %d workbook(s): %s" % (summary["channels"], month, summary["workbooks"],
                                                             ", ".join(summary["files"])))
    for number in summary["incomplete"]:
        click.echo("incomplete: channel %d" % number)
    for number, marks in sorted(summary["marked"].items()):
        click.echo("%s channel %d" % (marks, number))
