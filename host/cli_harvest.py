"""`opsm harvest`: read every meter of an inventory into the operations database."""

import json
import sys

import click

from opsm.host.cli_common import CliError, db_option


def meter_bounds(f):
    """The harvester's bounds on each meter: time-outs, retries, its deadline and the caps on a read (`opsm harvest`
    and `opsm headend submit`)."""
    f = click.option("--max-blocks", type=click.IntRange(1), default=256, show_default=True,
                     help="GET blocks one read may take (the full hourly profile takes 35), and HDLC segments one "
                     "reply; more fail the meter.")(f)
    f = click.option("--max-reply-bytes", type=click.IntRange(1), default=1 << 20, show_default=True,
                     help="Bytes one read may bring, all its blocks (the meter's full hourly profile, 840 rows, is "
                     "35 KB); a larger reply fails the meter.")(f)
    f = click.option("--meter-deadline", type=click.FloatRange(0, min_open=True), default=60.0, show_default=True,
                     help="Seconds one meter may take in all: connection, association, every read, release, "
                     "retries; a meter still at it fails with 'deadline N s passed after K reads'.")(f)
    f = click.option("--retries", type=click.IntRange(0), default=2, show_default=True, help="Extra attempts for a meter that fails.")(f)
    f = click.option("--timeout", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
                     help="Seconds to wait for each answer.")(f)
    return f


@click.command("harvest")
@click.option("--inventory", "inventory_path", required=True, type=click.Path(dir_okay=False),
              help="CSV or TOML: device_id, serial, host, port, protocol, client, credentials, timezone.")
@click.option("--credentials", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML: [name] password = ..., or ek/ak in hexadecimal.")
@db_option
@click.option("--concurrency", type=int, default=50, show_default=True, help="Meters read at the same time.")
@click.option("--since", default=None, help="Profiles from this UTC time on (YYYY-MM-DD or YYYY-MM-DDTHH:MM); "
              "default: after the newest stored row.")
@meter_bounds
@click.option("--harvest-deadline", type=click.FloatRange(0, min_open=True), default=None, show_default="no bound",
              help="Seconds the whole harvest may take; meters not done by then fail with that reason.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object: totals and every failure.")
def harvest_command(inventory_path, credentials, db, concurrency, since, timeout, retries, meter_deadline,
                    max_reply_bytes, max_blocks, harvest_deadline, as_json):
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
