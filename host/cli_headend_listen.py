"""`opsm headend listen`: receive the event notifications meters push, check them, store them (host/headend/listen.py)."""

import json

import click

from opsm.host.cli_common import CliError, db_option


@click.command("listen")
@click.option("--port", type=click.IntRange(0, 65535), default=4060, show_default=True,
              help="TCP port the meters push to (0: a free one, printed).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on (0.0.0.0: every one).")
@click.option("--inventory", "inventory_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The meters that may push (the harvester's inventory).")
@click.option("--credentials", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML: a meter with ek and ak must push ciphered notifications, under those keys.")
@db_option
@click.option("--deadline", type=click.FloatRange(0, min_open=True), default=30.0, show_default=True,
              help="Seconds a connection may take to send its notifications and close; a slower one is dropped.")
@click.option("--max-connections", type=click.IntRange(1), default=200, show_default=True,
              help="Connections open at once; one more is closed at once.")
def listen_command(port, host, inventory_path, credentials, db, deadline, max_connections):
    """Receive the DataNotifications meters push on their events, until Ctrl-C or SIGTERM.

    Prints one JSON line once listening ({"host": ..., "port": ...}); each stored event and each refused
    frame (with why) is logged on stderr. Exit 1: bad inventory, credentials or database."""
    import asyncio
    import logging
    import signal

    from opsm.host import inventory
    from opsm.host.headend.listen import Listener

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        listener = Listener(inventory.load(inventory_path, credentials), db, deadline_s=deadline,
                            max_connections=max_connections)
    except ValueError as exc:
        raise CliError(str(exc)) from None

    async def serve() -> None:
        loop = asyncio.get_running_loop()
        stop = asyncio.Event()
        for number in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(number, stop.set)
        try:
            bound = await listener.start(host, port)
            click.echo(json.dumps({"host": host, "port": bound}))
            await stop.wait()
        finally:
            await listener.close()

    try:
        asyncio.run(serve())
    except (ValueError, OSError) as exc:  # the database (StoreError), or the address taken
        raise CliError(str(exc)) from None
