"""`opsm customers`, `opsm export` and `opsm report`: the harvested readings on their way to the platforms
that settle and publish them (AMM's SMEC, Chile's SEC and Gestiona Energía) and to the customer.

host/cli.py adds these groups to `opsm`; every command reports bad input through
reports_errors (a message naming the field and the rule, exit status 1).
"""

import json

import click

from opsm.host import customers as register
from opsm.host.cli_common import db_option, reports_errors
from opsm.host.store import Store


@click.group()
def customers():
    """The customer register: who is supplied through which meter, and what they were charged."""


@customers.command("import")
@click.argument("path")
@db_option
@reports_errors
def customers_import(path, db):
    """Add or update customers from PATH (.xlsx, .xls, .csv or .toml); nothing is stored if a row is bad."""
    rows = register.load_customers(path)
    with Store.open(db) as store:
        register.save_customers(store, rows)
    click.echo("%d customers stored" % len(rows))


@customers.command("template")
@click.argument("kind", type=click.Choice(["channel", "charge", "customer", "meter"]))
@click.argument("out")
@reports_errors
def customers_template(kind, out):
    """Write OUT, an .xlsx with the header row of a KIND of row file (customer, charge, the harvester's meter
    inventory, the SMEC channel map), every column formatted as text."""
    from opsm.host import outfile, rowfile

    with outfile.replacing(out) as temporary, open(temporary, "wb") as f:
        f.write(rowfile.template(kind))
    click.echo("wrote %s" % out)


@customers.command("charges")
@click.argument("path")
@db_option
@reports_errors
def customers_charges(path, db):
    """Add what customers were charged from PATH (.xlsx, .xls, .csv or .toml); documents already stored are kept."""
    with Store.open(db) as store:
        rows = register.load_charges(path, register.customer_ids(store))
        new = register.save_charges(store, rows)
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
    from opsm.host import smec  # xlwt and reportlab load for this command only

    with Store.open(db) as store:
        summary = smec.export(store, channels_path, month, out, as_zip, allow_incomplete, timezone)
    if as_json:
        click.echo(json.dumps(summary, sort_keys=True))
        return
    click.echo("%d channels of %s in %d workbook(s): %s" % (summary["channels"], month, summary["workbooks"],
                                                             ", ".join(summary["files"])))
    for number in summary["incomplete"]:
        click.echo("incomplete: channel %d" % number)
    for number, marks in sorted(summary["marked"].items()):
        click.echo("%s channel %d" % (marks, number))


@report.command("customer")
@click.option("--device", required=True, help="The meter, by its device_id in the harvester's inventory.")
@click.option("--out", required=True, help="The PDF to write.")
@click.option("--month", default=None, help="The last month shown, YYYY-MM [default: the newest month read].")
@click.option("--lang", type=click.Choice(("es", "en")), default="es", show_default=True, help="Language.")
@db_option
@reports_errors
def report_customer(device, out, month, lang, db):
    """A customer's PDF: 36 months of consumption and charges, 12 of consumption and injections, the meter's
    registers and events."""
    from opsm.host import report as customer_report  # reportlab loads for this command only

    with Store.open(db) as store:
        months = customer_report.write(store, device, out, month, lang)
    click.echo("%s: %s to %s" % (out, months[0], months[-1]))


@export.command("gestiona")
@click.option("--out", required=True, help="The workbook to write, FILE.xlsx.")
@click.option("--skip-incomplete", is_flag=True,
              help="Leave out customers the inventory cannot take (a field it needs empty, a region the platform "
                   "does not know; warned on stderr) instead of refusing the export.")
@click.option("--period", type=click.IntRange(2000, 2100), default=None,
              help="The year the units report their consumption for (Estado reporte de consumos) [default: this year].")
@db_option
@reports_errors
def export_gestiona(out, skip_incomplete, period, db):
    """Gestiona Energía's unit inventory (Edificios, Unidades, Energéticos, N° de Cliente, Medidores, Estado reporte
    de consumos) from the customer register."""
    from opsm.host import gestiona

    if not out.lower().endswith(".xlsx"):
        raise ValueError("out: must be a FILE.xlsx (an Excel workbook), got %r" % out)
    with Store.open(db) as store:
        customers = gestiona.load(store)
    sheets, skipped = gestiona.inventory(customers, skip_incomplete, period)
    for reason in skipped:
        click.echo("skipped %s" % reason, err=True)
    gestiona.export(out, sheets)
    click.echo("%s: %s" % (out, ", ".join("%d %s" % (len(sheet.rows), sheet.name) for sheet in sheets)))


@export.command("sec")
@click.option("--initial", is_flag=True, help="The initial load: every record as an insert; starts the feed anew.")
@click.option("--delta", is_flag=True, help="The changes since the last delivered batch (insert/update/delete).")
@click.option("--date", "as_of", required=True, help="The local day the records describe, YYYY-MM-DD.")
@click.option("--out", default=None, help="Write sec-KIND-DATE-BATCH.json into this folder.")
@click.option("--post", "url", default=None, help="POST the document to this https:// URL.")
@db_option
@click.option("--distributor", default=None,
              help="The distributor the feed is for (default: the one the customer register names).")
@click.option("--retries", type=click.IntRange(0, 20), default=4, show_default=True,
              help="POST: further attempts after a connection error, time-out, 429 or 5xx.")
@click.option("--timeout", type=click.FloatRange(0.1, 600), default=30.0, show_default=True,
              help="POST: seconds to wait for each attempt.")
@click.option("--ca-file", default=None, help="POST: PEM file of the CA that signed the receiver's certificate.")
@click.option("--token-file", default=None,
              help="POST: file (mode 0600) holding the bearer token; or set OPSM_SEC_TOKEN. Never on the command line.")
@click.option("--client-cert", default=None, help="POST: the distributor's TLS client certificate (PEM).")
@click.option("--client-key", default=None,
              help="POST: the client certificate's private key (PEM, unencrypted, mode 0600) "
                   "[default: in --client-cert].")
@click.option("--ack-spec", default=None,
              help="POST: JSON file describing the receiver's acknowledgement [default: HTTP 200/201/202 with "
                   '{"status": "ok"|"accepted", "batch": N, "received": COUNT}].')
@click.option("--insecure-http", is_flag=True,
              help="POST: allow a plain http:// URL (tests only: the batch and the token travel unencrypted).")
@click.option("--json", "as_json", is_flag=True, help="Print the summary as one JSON object.")
@reports_errors
def export_sec(initial, delta, as_of, out, url, db, distributor, retries, timeout, ca_file, token_file, client_cert,
               client_key, ack_spec, insecure_http, as_json):
    """Chile's SEC feed of what the information platform shows: the network, customers and their supplies, 36
    months of consumption and charges, 12 of consumption and injections, bills, annexes and documents as
    references, EG contracts and remanentes, the meters' registers (host/schemas/sec-feed.schema.json); the state
    advances only once the batch is delivered (the file written whole, or the POST acknowledged)."""
    from opsm.host import sec

    if initial == delta:
        raise ValueError("kind: give one of --initial or --delta")
    if (out is None) == (url is None):
        raise ValueError("destination: give one of --out DIR or --post URL")
    day = sec.as_of_date(as_of)
    if out is not None:
        for option, value in (("token-file", token_file), ("client-cert", client_cert), ("client-key", client_key),
                              ("ack-spec", ack_spec), ("ca-file", ca_file)):
            if value is not None:
                raise ValueError("%s: only with --post" % option)
        deliver = sec.writer(out)
    else:
        ack = sec.Acknowledgement.load(ack_spec) if ack_spec is not None else None
        deliver = sec.poster(url, retries, timeout, ca_file, token=sec.bearer_token(token_file),
                             client_cert=client_cert, client_key=client_key, insecure_http=insecure_http, ack=ack)
    with Store.open(db) as store:
        summary = sec.export(store, "initial" if initial else "delta", day, distributor, deliver)
    counts = summary["counts"]
    click.echo(json.dumps(summary, sort_keys=True) if as_json else
               "sec %s batch %d as of %s: %d inserts, %d updates, %d deletes -> %s" % (
                   summary["kind"], summary["batch"], summary["as_of"], counts["insert"], counts["update"],
                   counts["delete"], summary["destination"]))
