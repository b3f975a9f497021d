"""The Celery application of the distributed head-end: a shard of a run is one task, read by the existing asyncio
harvester with the worker's own concurrency into the shared database; Redis is the broker. A firmware push is a task
per shard too, pushed by fwpush.push_fleet; its outcomes go to the worker's log and to the task's result (Redis).

A task is acknowledged only once its shard is stored (late acknowledgement), so a worker killed mid-shard leaves
the message in Redis, and another worker takes it again when the visibility time-out has passed. Taking it again
is safe: the meters this run has stored already are skipped, and the store keeps one reading per meter and run
(store.save), so every meter is stored once however often its shard is delivered. The messages hold the run and
shard numbers only: the inventory rows are in the database, and the secrets (the credentials file) and the
database URL stay with the workers.
"""

import asyncio
import dataclasses
import datetime
import zoneinfo

from celery import Celery, beat
from celery.schedules import crontab, schedule as every
from celery.utils.log import get_task_logger

from opsm.host import fwpush, harvest, inventory
from opsm.host.headend import shards
from opsm.host.store import Store

BROKER = "redis://127.0.0.1:6379/0"
QUEUE = "opsm-harvest"
VISIBILITY_TIMEOUT_S = 3600  # longer than a shard takes: a message unacknowledged this long is delivered again
RELOAD_SCHEDULES_S = 30      # beat reads the database's schedules again this often


def _transport(visibility_timeout_s: float) -> dict:
    """Redis gives an unacknowledged message back once it is visibility_timeout old, when a worker sweeps for such
    messages: kombu sweeps every interval x throttle seconds (100 s by default); here every tenth of the time-out
    (at most 60 s), so a dead worker's shard waits about 1.1 time-outs."""
    return {"visibility_timeout": visibility_timeout_s, "unacked_restore_throttle": 1,
            "unacked_restore_interval": max(1, min(60, int(visibility_timeout_s / 10)))}


app = Celery("opsm.headend")
app.conf.update(
    broker_url=BROKER,
    task_acks_late=True,                # the message stays until the shard is stored
    task_reject_on_worker_lost=True,    # a pool process that dies gives its message back at once
    worker_prefetch_multiplier=1,       # a worker holds one shard at a time; the rest stay for the other workers
    task_default_queue=QUEUE,
    task_serializer="json", accept_content=["json"],
    task_ignore_result=True,            # what a run did is in the database
    broker_connection_retry_on_startup=True,
    broker_transport_options=_transport(VISIBILITY_TIMEOUT_S),
    worker_hijack_root_logger=False,
    timezone="UTC",
)


@dataclasses.dataclass
class Worker:
    """What a worker holds that never travels through the broker."""

    db: str = ""
    credentials: dict = dataclasses.field(default_factory=dict)  # inventory.load_credentials
    concurrency: int = 50  # meters in flight per shard: what this machine's links and file descriptors take


WORKER = Worker()
log = get_task_logger(__name__)


def configure(broker: str, visibility_timeout_s: float = VISIBILITY_TIMEOUT_S) -> None:
    app.conf.broker_url = broker
    app.conf.result_backend = broker  # a firmware push's outcomes (the harvest's are in the database)
    app.conf.broker_transport_options = _transport(visibility_timeout_s)


# --- runs ----------------------------------------------------------------------------------

def submit(store, rows: list, shard_count: int, inventory_name: str, origin: str, options: dict | None = None) -> int:
    """Begin a run of the inventory's rows (inventory.Meter.row(), checked) split into shards by site and queue a
    task per shard; the run's (harvest) id. options: the harvester's per-meter bounds (timeout, retries,
    meter_deadline, max_reply_bytes, max_blocks)."""
    parts = shards.split(rows, shard_count)
    harvest_id = store.begin_run(inventory_name, parts, origin)
    for number in range(len(parts)):
        harvest_shard.apply_async((harvest_id, number, options or {}))
    return harvest_id


def requeue(store, harvest_id: int, options: dict | None = None) -> int:
    """Queue again every shard of a run not finished (messages lost with a broker that restarted without its data,
    or a submit cut between the database and the broker); how many. A shard queued twice is still stored once."""
    pending = store.unfinished_shards(harvest_id)
    for number in pending:
        harvest_shard.apply_async((harvest_id, number, options or {}))
    return len(pending)


def _meter(row: dict, where: str):
    """(the row's meter with this worker's credentials, None), or (the meter without credentials, why this worker
    cannot reach it): the failure is stored or reported under the meter, so a run says which worker lacks which
    entry."""
    try:
        return inventory.from_row(row, WORKER.credentials, where), None
    except inventory.InventoryError as exc:
        bare = inventory.from_row(dict(row, client="16", credentials=""), {}, where)
        return bare, "this worker cannot read it: %s" % exc


@app.task(name="opsm.harvest_shard", bind=True)
def harvest_shard(self, harvest_id: int, shard: int, options: dict) -> dict:
    """Read one shard of a run into the database; {"read", "failed", "skipped"} (skipped: stored before)."""
    with Store.open(WORKER.db) as store:
        rows = store.take_shard(harvest_id, shard, self.request.hostname or "worker")
        if rows is None:
            return {"read": 0, "failed": 0, "skipped": 0, "finished_before": True}
        stored = store.stored_in(harvest_id)
        meters = []
        for row in rows:
            if row["device_id"] in stored:
                continue
            meter, problem = _meter(row, "run %d shard %d" % (harvest_id, shard))
            if problem is None:
                meters.append(meter)
                continue
            reading = harvest.Reading()
            reading.error = problem
            store.save(harvest_id, meter, reading)
        results = asyncio.run(harvest.harvest(meters, store, WORKER.concurrency, harvest_id=harvest_id,
                                              **options))
        store.finish_shard(harvest_id, shard)
    return {"read": sum(r.ok and r.stored for r in results.values()),
            "failed": sum(not r.ok and r.stored for r in results.values()),
            "skipped": len(rows) - sum(r.stored for r in results.values())}


# --- firmware push ----------------------------------------------------------------------------

def submit_fw_push(rows: list, shard_count: int, images_dir: str, options: dict) -> list:
    """Queue a firmware push of the inventory's rows (inventory.Meter.row(), checked) split into shards by site: a
    task per shard; their AsyncResults. images_dir: the folder of `opsm fw sign --inventory`, at that path on the
    workers; options: push_fleet's timeout and retries."""
    return [fw_push_shard.apply_async((part, images_dir, options)) for part in shards.split(rows, shard_count)]


@app.task(name="opsm.fw_push_shard", bind=True, ignore_result=False)
def fw_push_shard(self, rows: list, images_dir: str, options: dict) -> list:
    """Push one shard's meters their images (fwpush.push_fleet, the worker's concurrency); an outcome dict per meter,
    each also logged. Delivered again after a worker died, it resumes: the meters keep their blocks, and the ones
    done are skipped."""
    where = "fw push %s" % self.request.id
    meters, refused = [], []
    for row in rows:
        meter, problem = _meter(row, where)
        if problem is None:
            meters.append(meter)
        else:
            refused.append(fwpush.not_pushed(meter, problem))
    outcomes = refused + fwpush.push_fleet(meters, images_dir, WORKER.concurrency, **options)
    for row in outcomes:
        log.info("fw push: %s", fwpush.report_line(row))
    return outcomes


# --- schedules -----------------------------------------------------------------------------

@app.task(name="opsm.run_schedule")
def run_schedule(name: str) -> int | None:
    """Submit the run a schedule stands for (beat sends this when it is due); the run's id, None if it is gone."""
    with Store.open(WORKER.db) as store:
        found = store.schedules(name)
        if not found:
            return None
        plan = found[0]
        return submit(store, plan["meters"], plan["shards"], plan["inventory"], name)


class LocalCrontab(crontab):
    """A crontab whose hours are the site's (a time zone of its own), where celery's are the application's."""

    def __init__(self, zone: zoneinfo.ZoneInfo, **fields):
        self.zone = zone
        super().__init__(**fields)

    @property
    def tz(self):
        return self.zone


def beat_entry(plan: dict) -> dict:
    """A schedule of the database as a beat entry: every N seconds, or daily at its hour in its time zone."""
    if plan["every_s"]:
        when = every(datetime.timedelta(seconds=plan["every_s"]))
    else:
        when = LocalCrontab(zoneinfo.ZoneInfo(plan["timezone"]), minute=plan["at_minute"], hour=plan["at_hour"])
    return {"task": "opsm.run_schedule", "schedule": when, "args": (plan["name"],)}


class StoredSchedules(beat.Scheduler):
    """beat's entries are the database's schedules, read again every RELOAD_SCHEDULES_S: a schedule added, changed
    or removed with `opsm headend schedule` takes effect without restarting beat, and an entry that stays keeps
    when it last ran."""

    sync_every = RELOAD_SCHEDULES_S

    def setup_schedule(self) -> None:
        self._load()

    def sync(self) -> None:
        self._load()

    def _load(self) -> None:
        with Store.open(WORKER.db) as store:
            plans = store.schedules()
        self.merge_inplace({plan["name"]: beat_entry(plan) for plan in plans})
