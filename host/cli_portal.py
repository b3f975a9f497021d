"""`opsm portal`: the data of the distributor's information platform (SEC, Anexo 1) in the operations database:
a synthetic distributor for demos, the network's import, and the platform's accounts.

host/cli.py adds this group to `opsm`; bad input ends through reports_errors (a message naming the file, row,
column and rule; exit status 1).
"""

import os
import sys
import time

import click

from opsm.host.cli_common import db_option, reports_errors
from opsm.host.console import passwords
from opsm.host.customers import IdentificationError, identification
from opsm.host.store import AlreadyStored, Store
from opsm.host.store.portal_users import PROFILES

PASSWORD_VARIABLE = "OPSM_PORTAL_PASSWORD"
SECRET_VARIABLE = "OPSM_PORTAL_SECRET"  # signs the robot check's forms (`opsm portal serve`)


@click.group()
def portal():
    """The distributor's information platform (SEC, Anexo 1): its network, its customers' data, its accounts."""


@portal.command("synth")
@db_option
@click.option("--seed", type=int, default=17, show_default=True, help="The same seed makes the same distributor.")
@click.option("--customers", type=click.IntRange(2, 100000), default=300, show_default=True,
              help="How many customers (about one in ten with generation, EG).")
@click.option("--month", default=None, help="The newest month of bills and demands, YYYY-MM [default: last month].")
@reports_errors
def portal_synth(db, seed, customers, month):
    """Write a synthetic distributor into an empty database: network, customers, bills and annexes, EG contracts,
    remanentes, documents, harvested meters and one demo account per profile (passwords in docs/portal-data.md)."""
    from opsm.host import synth  # pyproj and reportlab load for this command only

    with Store.open(db) as store:
        counts = synth.create(store, seed, customers, month)
    for kind, count in counts.items():
        click.echo("%-20s %d" % (kind, count))
    for name, profile, password in synth.DEMO_ACCOUNTS:
        click.echo("demo account %s (%s), password %s" % (name, profile, password))


@portal.command("import")
@click.argument("kind", metavar="KIND|FOLDER")
@click.argument("files", nargs=-1, metavar="[FILE]...")
@db_option
@reports_errors
def portal_import(kind, files, db):
    """Add or update the network or the customers' data from row files of one KIND (.csv, .xlsx, .xls or .toml):
    the network's (region, comuna, substation, vnr, feeder, pole, transformer, span, equipment, feeder_demand,
    transformer_demand; geometry: GeoJSON files) or the customers' (supply, bill, generation_contract, remanente,
    document; the PDFs they name beside them); or from one FOLDER of either's KIND.csv files (and *.geojson, or
    PDFs). Every row of every file is checked first: nothing is stored unless all of them are valid (formats:
    docs/portal-data.md)."""
    from opsm.host import network, supply_import  # pyproj loads for this command only

    if files:
        if kind in supply_import.KINDS:
            importer = supply_import
        elif kind in network.KINDS or kind == network.GEOMETRY:
            importer = network
        else:
            kinds = list(network.KINDS) + [network.GEOMETRY] + list(supply_import.KINDS)
            raise ValueError("kind: must be one of %s or %s, got %r" % (", ".join(kinds[:-1]), kinds[-1], kind))
        pairs = [(kind, path) for path in files]
    elif os.path.isdir(kind):
        # a folder holds the customers' files when it holds any (the network's are refused there by name)
        stems = {os.path.splitext(name)[0].lower() for name in os.listdir(kind)}
        importer = supply_import if stems & set(supply_import.KINDS) else network
        pairs = importer.files_in(kind)
        if not pairs:
            raise ValueError("folder: %s holds no network or customers' files (KIND.csv, *.geojson)" % kind)
    else:
        raise ValueError("files: give KIND FILE... or one FOLDER, got %r alone" % kind)
    with Store.open(db) as store:
        counts = importer.import_files(store, pairs)
    click.echo(", ".join("%d %s" % (count, kind) for kind, count in counts.items()) + " stored")


@portal.group("user")
def portal_user():
    """The platform's accounts."""


@portal_user.command("add")
@click.option("--profile", type=click.Choice(PROFILES), required=True,
              help="publico (the network), cliente or eg (one customer's pages), sec (everything, the auditor).")
@click.option("--name", required=True, help="The user name typed at the login.")
@click.option("--customer", default=None, help="cliente and eg: the customer's N° de cliente (or RUT).")
@click.option("--email", default=None, help="The account's e-mail.")
@click.option("--rut", default=None, help="The account holder's RUT [default: the customer's].")
@db_option
@reports_errors
def portal_user_add(profile, name, customer, email, rut, db):
    """Add an account; its password from OPSM_PORTAL_PASSWORD, or asked at the terminal."""
    name = name.strip()
    if not name:
        raise ValueError("name: must not be empty")
    if email is not None and "@" not in email:
        raise ValueError("email: must be an e-mail address, got %r" % email)
    if (customer is None) == (profile in ("cliente", "eg")):
        raise ValueError("customer: give --customer for a cliente or eg account, and only for them")
    if rut is not None:
        try:
            rut = identification(rut, "rut")
        except IdentificationError as exc:
            raise ValueError("rut: %s, got %r" % (exc, rut)) from None
    password = _password()
    passwords.check_strength(password)
    with Store.open(db) as store:
        customer_id = _customer(store, customer, profile) if customer is not None else None
        try:
            user_id = store.add_portal_user(name, passwords.hashed(password), email, rut or customer_id, profile,
                                            customer_id, int(time.time()))
        except AlreadyStored:
            raise ValueError("name: %r is taken" % name) from None
    click.echo("account %d: %s (%s)%s" % (user_id, name, profile, ", customer %s" % customer_id if customer_id else ""))


def _password() -> str:
    password = os.environ.get(PASSWORD_VARIABLE)
    if password is not None:
        return password
    if not sys.stdin.isatty():
        raise ValueError("password: set %s or run from a terminal" % PASSWORD_VARIABLE)
    return click.prompt("Password", hide_input=True, confirmation_prompt=True)


def _customer(store, text: str, profile: str) -> str:
    """The customer_id of the customer with N° de cliente (or RUT) `text`; an eg account's must have generation."""
    found = store.customer_of_number(text)
    if found is None:
        try:
            written = identification(text)
        except IdentificationError:
            written = text.strip()
        found = written if store.customer_general(written) else None
    if found is None:
        raise ValueError("customer: no customer with N° de cliente or RUT %r" % text)
    if profile == "eg" and not store.customer_general(found)["generation"]:
        raise ValueError("customer: %s has no generation (EG) in its supply; give --profile cliente" % found)
    return found


@portal.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (loopback: this machine "
              "only; put a TLS proxy in front to publish it).")
@click.option("--port", default=8090, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--tile-url", default=None, help="Map tiles behind the network's maps, a {z}/{x}/{y} template such as "
              "https://tile.openstreetmap.org/{z}/{x}/{y}.png (respect the server's usage policy) [default: none, the "
              "maps draw the network alone].")
@click.option("--tile-attribution", default="© OpenStreetMap", show_default=True,
              help="The tile server's required attribution, written on each map.")
@db_option
@reports_errors
def portal_serve(host, port, tile_url, tile_attribution, db):
    """Serve the information platform (Público, Cliente, Cliente EG, Usuario SEC). The secret that signs the
    robot checks of the login and registration forms comes from OPSM_PORTAL_SECRET (16 bytes or more), or is
    made for this process (give every process of one site the same one). Sessions live in the database."""
    import secrets

    import uvicorn

    from opsm.host.portal.app import create_app

    secret = os.environ.get(SECRET_VARIABLE, "").encode() or secrets.token_bytes(32)
    if len(secret) < 16:
        raise ValueError("%s: must be 16 bytes or more" % SECRET_VARIABLE)
    click.echo("information platform on http://%s:%d/" % (host, port))
    uvicorn.run(create_app(db, secret, tile_url=tile_url, tile_attribution=tile_attribution), host=host, port=port,
                log_level="warning")
