"""`opsm vend serve`: the vending console on this machine's loopback, for the entity that sells recharges."""

import os

import click

from opsm.host.cli_common import DEFAULT_HOME, db_option, read_passphrase, reports_errors
from opsm.host.keystore import KeyStore


@click.group()
def vend():
    """The vending console: sell kWh, print recharge codes and receipts, sales reports."""


@vend.command("serve")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", default=8080, show_default=True, type=click.IntRange(0, 65535), help="TCP port.")
@click.option("--registry", envvar="OPSM_DB", show_envvar=True,
              default=lambda: os.path.join(DEFAULT_HOME, "registry.sqlite"), help="SQLite meter registry.")
@click.option("--keyfile", envvar="OPSM_KEYFILE", show_envvar=True,
              default=lambda: os.path.join(DEFAULT_HOME, "vending-keys.json"), help="Encrypted vending key file.")
@click.option("--admin-email", default="admin@localhost", show_default=True,
              help="The first administrator's e-mail, created on the first run (password: OPSM_ADMIN_PASSWORD, "
                   "or one is made and printed once).")
@db_option
@reports_errors
def vend_serve(host, port, registry, keyfile, admin_email, db):
    """Serve the console; the first run creates the first administrator."""
    import uvicorn

    from opsm.host.console.app import create_app, first_administrator

    keystore = KeyStore.open(keyfile, read_passphrase())
    made = first_administrator(db, admin_email, os.environ.get("OPSM_ADMIN_PASSWORD"))
    if made:
        click.echo("first administrator: %s, password %s (shown once: change it)" % (admin_email, made))
    elif made == "":
        click.echo("first administrator: %s (password from OPSM_ADMIN_PASSWORD)" % admin_email)
    os.makedirs(os.path.dirname(os.path.abspath(registry)), exist_ok=True)
    click.echo("vending console on http://%s:%d/" % (host, port))
    uvicorn.run(create_app(db, registry, keystore), host=host, port=port, log_level="warning")
