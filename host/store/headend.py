"""The distributed head-end's runs: a harvest split into shards (each its inventory rows, credentials by name),
who took each shard and how often, the dead letters, and the periodic schedules.

A shard is taken in a transaction that counts its deliveries, so a shard a killed worker left is seen taken
twice; the run ends (the harvest's finished_at and failed count) in the transaction that finishes its last
shard, under a lock on the run, so two workers finishing together end it once.
"""

import json
import time


class HeadendTables:
    # --- runs and their shards -----------------------------------------------------------

    def begin_run(self, inventory: str, shards: list, origin: str) -> int:
        """A harvest of `shards` (lists of inventory rows: inventory.Meter.row()), from `origin` ("submit" or the
        schedule's name); its id, which is the harvest's."""
        with self.transaction():
            harvest_id = self.insert_harvest(sum(len(rows) for rows in shards))
            self.execute("INSERT INTO headend_runs (harvest_id, inventory, shards, origin) VALUES (?, ?, ?, ?)",
                         (harvest_id, inventory, len(shards), origin))
            for number, rows in enumerate(shards):
                self.execute("""INSERT INTO headend_shards (harvest_id, shard, meters, meter_count, state, deliveries)
                                VALUES (?, ?, ?, ?, 'queued', 0)""", (harvest_id, number, json.dumps(rows), len(rows)))
        return harvest_id

    def take_shard(self, harvest_id: int, shard: int, worker: str) -> list | None:
        """The shard's inventory rows, counting this delivery; None when it is finished already (a message
        delivered again after its work was done) or unknown."""
        with self.transaction():
            rows = self.query("SELECT meters, state FROM headend_shards WHERE harvest_id = ? AND shard = ?",
                              (harvest_id, shard))
            if not rows or rows[0][1] == "done":
                return None
            self.execute("""UPDATE headend_shards SET state = 'running', deliveries = deliveries + 1, worker = ?,
                            started_at = ? WHERE harvest_id = ? AND shard = ?""",
                         (worker, int(time.time()), harvest_id, shard))
        return json.loads(rows[0][0])

    def unfinished_shards(self, harvest_id: int) -> list:
        """The numbers of the run's shards not done, in order."""
        return [row[0] for row in self.query("SELECT shard FROM headend_shards WHERE harvest_id = ? AND state <> 'done' "
                                             "ORDER BY shard", (harvest_id,))]

    def stored_in(self, harvest_id: int) -> set:
        """The meters this harvest has stored a reading of: a shard delivered again skips them."""
        return {row[0] for row in self.query("SELECT device_id FROM readings WHERE harvest_id = ?", (harvest_id,))}

    def finish_shard(self, harvest_id: int, shard: int) -> bool:
        """Mark the shard done; the last one ends the harvest. Whether this ended it."""
        now = int(time.time())
        with self.exclusive("headend-run-%d" % harvest_id):
            self.execute("UPDATE headend_shards SET state = 'done', finished_at = ? WHERE harvest_id = ? AND shard = ?",
                         (now, harvest_id, shard))
            left = self.query("SELECT COUNT(*) FROM headend_shards WHERE harvest_id = ? AND state <> 'done'",
                              (harvest_id,))[0][0]
            ended = self.query("SELECT finished_at FROM harvests WHERE id = ?", (harvest_id,))[0][0]
            if left or ended is not None:
                return False
            failed = self.query("SELECT COUNT(*) FROM readings WHERE harvest_id = ? AND ok = 0", (harvest_id,))[0][0]
            self.execute("UPDATE harvests SET finished_at = ?, failed = ? WHERE id = ?", (now, failed, harvest_id))
        return True

    def runs(self, limit: int = 10) -> list:
        """The newest distributed runs: dicts of harvest_id, origin, inventory, shards, started_at, finished_at."""
        return self.dicts("""SELECT r.harvest_id, r.origin, r.inventory, r.shards, h.started_at, h.finished_at
                             FROM headend_runs r JOIN harvests h ON h.id = r.harvest_id
                             ORDER BY r.harvest_id DESC LIMIT ?""", (limit,))

    def run_progress(self, harvest_id: int) -> dict | None:
        """What a run has done: meters, read, failed, the shards by state, shards delivered more than once, times."""
        head = self.dicts("""SELECT r.harvest_id, r.origin, r.inventory, r.shards, h.meters, h.started_at, h.finished_at
                             FROM headend_runs r JOIN harvests h ON h.id = r.harvest_id WHERE r.harvest_id = ?""",
                          (harvest_id,))
        if not head:
            return None
        progress = head[0]
        counts = dict(self.query("SELECT ok, COUNT(*) FROM readings WHERE harvest_id = ? GROUP BY ok", (harvest_id,)))
        progress["read"], progress["failed"] = counts.get(1, 0), counts.get(0, 0)
        progress["shard_states"] = dict(self.query("SELECT state, COUNT(*) FROM headend_shards WHERE harvest_id = ? "
                                                   "GROUP BY state", (harvest_id,)))
        progress["redelivered"] = self.query("SELECT COUNT(*) FROM headend_shards WHERE harvest_id = ? AND "
                                             "deliveries > 1", (harvest_id,))[0][0]
        return progress

    def run_failures(self, harvest_id: int) -> list:
        """(device_id, attempts, reason) of the meters the run could not read, by device."""
        return self.query("SELECT device_id, attempts, error FROM readings WHERE harvest_id = ? AND ok = 0 "
                          "ORDER BY device_id", (harvest_id,))

    def dead_letters(self) -> list:
        """Meters whose last run failed them: dicts of device_id, failures (runs in a row), first and last failure
        time, last_reason, harvest_id; most failures first."""
        return self.dicts("""SELECT device_id, failures, first_failed_at, last_failed_at, last_reason, harvest_id
                             FROM dead_letters ORDER BY failures DESC, device_id""")

    # --- schedules ------------------------------------------------------------------------

    def put_schedule(self, name: str, inventory: str, rows: list, at: tuple | None, timezone: str,
                     every_s: int | None, shards: int) -> None:
        """Add or replace a schedule: daily at `at` (hour, minute) in `timezone`, or every `every_s` seconds."""
        hour, minute = at if at else (None, None)
        with self.transaction():
            self.execute("""INSERT INTO headend_schedules (name, inventory, meters, at_hour, at_minute, timezone,
                            every_s, shards, created_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE
                            SET inventory = excluded.inventory, meters = excluded.meters, at_hour = excluded.at_hour,
                            at_minute = excluded.at_minute, timezone = excluded.timezone, every_s = excluded.every_s,
                            shards = excluded.shards, created_at = excluded.created_at""",
                         (name, inventory, json.dumps(rows), hour, minute, timezone, every_s, shards, int(time.time())))

    def schedules(self, name: str | None = None) -> list:
        """Every schedule (or the one named): dicts of name, inventory, meters (rows), at_hour, at_minute, timezone,
        every_s, shards."""
        where, params = ("WHERE name = ?", (name,)) if name is not None else ("", ())
        found = self.dicts("SELECT name, inventory, meters, at_hour, at_minute, timezone, every_s, shards "
                           "FROM headend_schedules %s ORDER BY name" % where, params)
        for schedule in found:
            schedule["meters"] = json.loads(schedule["meters"])
        return found

    def drop_schedule(self, name: str) -> bool:
        with self.transaction():
            return self.execute("DELETE FROM headend_schedules WHERE name = ?", (name,)).rowcount == 1
