"""`opsm headend`: the head-end beyond one machine: Celery workers harvesting shards, runs, schedules, and the
notifications meters push."""

import json
import os
import re
import socket
import sys
import time
import zoneinfo

import click

from opsm.host.cli_common import CliError, db_option, reports_errors
from opsm.host.cli_harvest import meter_bounds
from opsm.host.cli_headend_listen import listen_command

BROKER_HELP = "Redis URL of the Celery broker."


def broker_option(function):
    return click.option("--broker", envvar="OPSM_BROKER", show_envvar=True, default="redis://127.0.0.1:6379/0",
                        show_default=True, help=BROKER_HELP)(function)


def _open_store(db: str):
    from opsm.host import store

    return store.Store.open(db)


def _checked_rows(inventory_path: str, credentials: str | None) -> list:
    """The inventory's rows, every row checked as `opsm harvest` checks them (credentials by name only)."""
    from opsm.host import inventory

    return [meter.row() for meter in inventory.load(inventory_path, credentials)]


@click.group()
def headend():
    """Distributed harvest (Celery and Redis) into a shared database, schedules, and pushed notifications.

    Start Redis (Debian: apt install redis-server; redis-server --port 6379), one or more workers on each
    machine, then submit runs or add schedules and start one beat."""


@headend.command("worker")
@broker_option
@db_option
@click.option("--credentials", type=click.Path(exists=True, dir_okay=False), default=None,
              help="TOML of the meters' secrets ([name] password = ..., or ek/ak): they stay on this machine.")
@click.option("--concurrency", type=click.IntRange(1), default=50, show_default=True,
              help="Meters read at the same time within a shard.")
@click.option("--processes", type=click.IntRange(1), default=1, show_default=True,
              help="Shards read at the same time by this worker (a process each).")
@click.option("--name", default=None, help="The worker's name (default: opsm@HOST.PID).")
@click.option("--visibility-timeout", type=click.FloatRange(1), default=3600, show_default=True,
              help="Seconds after which a shard whose worker died (no acknowledgement) is given to another worker; "
              "longer than a shard takes.")
@reports_errors
def worker(broker, db, credentials, concurrency, processes, name, visibility_timeout):
    """Read shards of runs as they are queued, until stopped (Ctrl-C: finishes the shard in hand first)."""
    from opsm.host import inventory
    from opsm.host.headend import tasks

    secrets = inventory.load_credentials(credentials)
    _open_store(db).close()  # migrated, and reachable, before any shard is taken
    tasks.configure(broker, visibility_timeout)
    tasks.WORKER.db, tasks.WORKER.credentials, tasks.WORKER.concurrency = db, secrets, concurrency
    tasks.app.worker_main(["worker", "--loglevel", "INFO", "--queues", tasks.QUEUE,
                           "--hostname", name or "opsm@%s.%d" % (socket.gethostname(), os.getpid()),
                           "--pool", "solo" if processes == 1 else "prefork", "--concurrency", str(processes),
                           "--without-gossip", "--without-mingle"])


@headend.command("submit")
@click.option("--inventory", "inventory_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="CSV or TOML, as for `opsm harvest`.")
@click.option("--credentials", type=click.Path(exists=True, dir_okay=False), default=None,
              help="To check that every credentials name exists (the workers hold their own copy).")
@click.option("--shards", type=click.IntRange(1), default=8, show_default=True,
              help="Split the inventory into this many shards by site (address), one task each.")
@meter_bounds
@broker_option
@db_option
@click.option("--wait", is_flag=True, help="Wait until the run is done; exit 2 if a meter failed.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@reports_errors
def submit(inventory_path, credentials, shards, timeout, retries, meter_deadline, max_reply_bytes, max_blocks, broker,
           db, wait, as_json):
    """Begin a run of an inventory: its shards are queued for the workers; prints the run's number."""
    from opsm.host.headend import tasks

    rows = _checked_rows(inventory_path, credentials)
    tasks.configure(broker)
    options = {"timeout": timeout, "retries": retries, "meter_deadline": meter_deadline,
               "max_reply_bytes": max_reply_bytes, "max_blocks": max_blocks}
    with _open_store(db) as store:
        run = tasks.submit(store, rows, shards, os.path.basename(inventory_path), "submit", options)
        progress = store.run_progress(run)
        if not wait:
            _say(progress, as_json, "run %(harvest_id)d: %(meters)d meters in %(shards)d shards queued")
            return
        while progress["finished_at"] is None:
            time.sleep(0.5)
            progress = store.run_progress(run)
        _show_run(store, progress, as_json)
    sys.exit(2 if progress["failed"] else 0)


def _say(progress: dict, as_json: bool, line: str) -> None:
    click.echo(json.dumps(progress, sort_keys=True) if as_json else line % progress)


def _show_run(store, progress: dict, as_json: bool) -> None:
    failures = store.run_failures(progress["harvest_id"])
    if as_json:
        click.echo(json.dumps(dict(progress, failures={d: {"attempts": a, "error": e} for d, a, e in failures}),
                              sort_keys=True))
        return
    states = ", ".join("%d %s" % (n, state) for state, n in sorted(progress["shard_states"].items()))
    seconds = (progress["finished_at"] or int(time.time())) - progress["started_at"]
    click.echo("run %d (%s, %s): %d of %d meters read, %d failed; shards: %s; %d delivered more than once; %d s"
               % (progress["harvest_id"], progress["origin"], progress["inventory"], progress["read"],
                  progress["meters"], progress["failed"], states, progress["redelivered"], seconds))
    for device, attempts, error in failures:
        click.echo("  failed %s (%d attempts): %s" % (device, attempts, error))


@headend.command("status")
@click.argument("run", type=int, required=False)
@db_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object.")
@reports_errors
def status(run, db, as_json):
    """A run's progress and failures (default: the newest runs), and the dead letters: meters whose last run
    failed them, retried by every run until one reads them."""
    with _open_store(db) as store:
        if run is not None:
            progress = store.run_progress(run)
            if progress is None:
                raise CliError("RUN: no distributed run %d in %s" % (run, db))
            _show_run(store, progress, as_json)
            return
        runs = [store.run_progress(r["harvest_id"]) for r in store.runs()]
        dead = store.dead_letters()
    if as_json:
        click.echo(json.dumps({"runs": runs, "dead_letters": dead}, sort_keys=True))
        return
    for progress in runs:
        click.echo("run %(harvest_id)d (%(origin)s, %(inventory)s): %(read)d of %(meters)d read, %(failed)d failed"
                   % progress + ("" if progress["finished_at"] else ", running"))
    click.echo("%d dead letters" % len(dead))
    for letter in dead:
        click.echo("  %(device_id)s: failed %(failures)d runs in a row, last in run %(harvest_id)d: %(last_reason)s"
                   % letter)


@headend.command("requeue")
@click.argument("run", type=int)
@broker_option
@db_option
@reports_errors
def requeue(run, broker, db):
    """Queue again the shards of a run that are not done (the broker lost them); a shard queued twice is still
    stored once."""
    from opsm.host.headend import tasks

    tasks.configure(broker)
    with _open_store(db) as store:
        if store.run_progress(run) is None:
            raise CliError("RUN: no distributed run %d in %s" % (run, db))
        click.echo("run %d: %d shards queued again" % (run, tasks.requeue(store, run)))


@headend.group("schedule")
def schedule():
    """Periodic runs, submitted by `opsm headend beat`."""


_AT = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@schedule.command("add")
@click.argument("name")
@click.option("--inventory", "inventory_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="CSV or TOML, as for `opsm harvest`; its rows are kept in the database.")
@click.option("--credentials", type=click.Path(exists=True, dir_okay=False), default=None,
              help="To check that every credentials name exists (the workers hold their own copy).")
@click.option("--at", "at_text", default=None, help="Daily at this local time, HH:MM (24 h).")
@click.option("--timezone", default="UTC", show_default=True, help="IANA time zone of --at, e.g. America/Santiago.")
@click.option("--every", "every_s", type=click.IntRange(1), default=None, help="Every N seconds instead of daily.")
@click.option("--shards", type=click.IntRange(1), default=8, show_default=True, help="Shards of each run.")
@db_option
@reports_errors
def schedule_add(name, inventory_path, credentials, at_text, timezone, every_s, shards, db):
    """Add or replace a schedule: a run of the inventory daily at a local hour (or every N seconds)."""
    if (at_text is None) == (every_s is None):
        raise CliError("--at or --every: give exactly one")
    at = None
    if at_text is not None:
        match = _AT.match(at_text)
        if not match:
            raise CliError("--at: write a time HH:MM from 00:00 to 23:59, got %r" % at_text)
        at = (int(match.group(1)), int(match.group(2)))
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise CliError("--timezone: must be an IANA time zone such as America/Santiago, got %r" % timezone) from None
    rows = _checked_rows(inventory_path, credentials)
    with _open_store(db) as store:
        store.put_schedule(name, os.path.basename(inventory_path), rows, at, timezone, every_s, shards)
    when = ("every %d s" % every_s) if every_s else "daily at %s %s" % (at_text, timezone)
    click.echo("schedule %s: %d meters in %d shards, %s" % (name, len(rows), shards, when))


@schedule.command("list")
@db_option
@reports_errors
def schedule_list(db):
    """Every schedule."""
    with _open_store(db) as store:
        for plan in store.schedules():
            when = ("every %d s" % plan["every_s"]) if plan["every_s"] else "daily at %02d:%02d %s" % (
                plan["at_hour"], plan["at_minute"], plan["timezone"])
            click.echo("%s: %s, %d meters, %d shards, %s" % (plan["name"], plan["inventory"], len(plan["meters"]),
                                                             plan["shards"], when))


@schedule.command("remove")
@click.argument("name")
@db_option
@reports_errors
def schedule_remove(name, db):
    with _open_store(db) as store:
        if not store.drop_schedule(name):
            raise CliError("NAME: no schedule %r" % name)
    click.echo("schedule %s removed" % name)


@headend.command("beat")
@broker_option
@db_option
@click.option("--max-interval", type=click.FloatRange(0.1), default=30.0, show_default=True,
              help="Seconds beat sleeps at most between two looks at the schedules.")
@reports_errors
def beat(broker, db, max_interval):
    """Submit the schedules' runs when they are due (one beat for the whole head-end), until stopped."""
    from opsm.host.headend import tasks

    _open_store(db).close()
    tasks.configure(broker)
    tasks.WORKER.db = db
    tasks.app.Beat(scheduler=tasks.StoredSchedules, max_interval=max_interval, loglevel="INFO").run()


@headend.command("fw-push")
@click.option("--inventory", "inventory_path", required=True, type=click.Path(exists=True, dir_okay=False),
              help="CSV or TOML, as for `opsm harvest`.")
@click.option("--credentials", type=click.Path(exists=True, dir_okay=False), default=None,
              help="To check that every credentials name exists (the workers hold their own copy).")
@click.option("--images", "images_dir", required=True,
              help="The folder `opsm fw sign --inventory` wrote, at the same path on every worker.")
@click.option("--shards", type=click.IntRange(1), default=8, show_default=True,
              help="Split the inventory into this many shards by site (address), one task each.")
@click.option("--timeout", type=click.FloatRange(0, min_open=True), default=10.0, show_default=True,
              help="Seconds to wait for each answer.")
@click.option("--retries", type=click.IntRange(0), default=2, show_default=True,
              help="Extra attempts for a meter whose link fails; each resumes the transfer.")
@broker_option
@click.option("--wait", is_flag=True, help="Wait for every shard and print the report; exit 1 unless every meter is "
              "activated or up to date.")
@click.option("--json", "as_json", is_flag=True, help="With --wait: the report as one JSON object.")
@reports_errors
def fw_push(inventory_path, credentials, images_dir, shards, timeout, retries, broker, wait, as_json):
    """Push each meter its signed image (opsm fw sign --inventory) from the workers, a task per shard; the outcomes
    go to the workers' logs (and, with --wait, here). Run again to resume unfinished meters."""
    from opsm.host import fwpush
    from opsm.host.cli_fw import show_fleet_push
    from opsm.host.headend import tasks

    images_dir = os.path.abspath(images_dir)
    fwpush.Images(images_dir)  # a folder that is no signed fleet's is refused here, not in every worker
    rows = _checked_rows(inventory_path, credentials)
    tasks.configure(broker)
    started = time.monotonic()
    results = tasks.submit_fw_push(rows, shards, images_dir, {"timeout": timeout, "retries": retries})
    if not wait:
        click.echo("firmware push: %d meters in %d shards queued; the outcomes go to the workers' logs"
                   % (len(rows), len(results)))
        return
    outcomes = [row for result in results for row in result.get()]
    show_fleet_push(dict(fwpush.summary(outcomes, time.monotonic() - started), shards=len(results)), as_json)


headend.add_command(listen_command)
