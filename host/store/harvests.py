"""Harvested readings: each harvest, each meter's reading, and what exports and reports ask of them.

Writes are idempotent (profile rows and events are keyed by meter, time and column, and
inserting one twice stores nothing), and each meter's reading is one transaction, so a harvest
cut at any moment leaves the database consistent and the next run resumes after the newest
stored row. Times are seconds since 1970-01-01 UTC.
"""

import time

_TIMES_PER_QUERY = 500  # an IN (...) list's parameters, under SQLite's limit


class HarvestTables:
    # --- a harvest -----------------------------------------------------------------------

    def begin_harvest(self, meters: int) -> int:
        with self.transaction():
            return self.insert_harvest(meters)

    def insert_harvest(self, meters: int) -> int:
        """A new harvest of `meters`, starting now, inside the caller's transaction; its id."""
        now = int(time.time())
        if self.dialect == "postgresql":
            return self.query("INSERT INTO harvests (started_at, meters) VALUES (?, ?) RETURNING id", (now, meters))[0][0]
        return self.execute("INSERT INTO harvests (started_at, meters) VALUES (?, ?)", (now, meters)).lastrowid

    def end_harvest(self, harvest_id: int, failed: int) -> None:
        with self.transaction():
            self.execute("UPDATE harvests SET finished_at = ?, failed = ? WHERE id = ?", (int(time.time()), failed,
                                                                                         harvest_id))

    def newest(self, device_id: str, profile: str) -> int:
        """Time of the newest stored row of a profile (or event), 0 when none: where to resume."""
        if profile == "events":
            rows = self.query("SELECT MAX(occurred_at) FROM events WHERE device_id = ?", (device_id,))
        else:
            rows = self.query("SELECT MAX(captured_at) FROM profile_values WHERE device_id = ? AND profile = ?",
                              (device_id, profile))
        return rows[0][0] or 0

    def save(self, harvest_id: int, meter, reading) -> int | None:
        """One meter's reading in one transaction; the number of new profile rows and events, or None when this
        harvest holds the meter's reading already (a shard delivered twice: what the first delivery stored stands,
        so a meter is stored once per harvest however often it is read). A meter that failed goes to the dead
        letters with its reason; one read leaves them."""
        with self.transaction():
            # first, so a second delivery of the same meter stops here (it waits for the first one's commit)
            claimed = self.execute("""INSERT INTO readings (harvest_id, device_id, read_at, ok, error, clock_drift_s,
                                      attempts) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT DO NOTHING""",
                                   (harvest_id, meter.device_id, reading.read_at, 1 if reading.ok else 0,
                                    reading.error, reading.clock_drift_s, reading.attempts)).rowcount
            if claimed != 1:
                return None
            self.execute("""INSERT INTO meters (device_id, serial, host, port, protocol, timezone, last_read)
                            VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE SET
                            serial = excluded.serial, host = excluded.host, port = excluded.port,
                            protocol = excluded.protocol, timezone = excluded.timezone,
                            last_read = COALESCE(excluded.last_read, meters.last_read)""",
                         (meter.device_id, meter.serial, meter.host, meter.port, meter.protocol, meter.timezone,
                          reading.read_at if reading.ok else None))
            new = 0
            if reading.ok:
                registers = [(meter.device_id, reading.read_at, obis, None if isinstance(v, str) else float(v),
                              v if isinstance(v, str) else None) for obis, v in reading.registers.items()]
                self.insert_ignore("register_values", ("device_id", "read_at", "obis", "value", "text"), registers)
                for profile, columns, rows in reading.profiles:
                    values = [(meter.device_id, profile, row[0], obis, float(value))
                              for row in rows for obis, value in zip(columns, row[1:])]
                    new += self.insert_ignore("profile_values", ("device_id", "profile", "captured_at", "obis",
                                                                  "value"), values) // max(1, len(columns))
                new += self.insert_ignore("events", ("device_id", "occurred_at", "code"),
                                           [(meter.device_id, t, code) for t, code in reading.events])
                self.execute("DELETE FROM dead_letters WHERE device_id = ?", (meter.device_id,))
            else:
                self.execute("""INSERT INTO dead_letters (device_id, failures, first_failed_at, last_failed_at,
                                last_reason, harvest_id) VALUES (?, 1, ?, ?, ?, ?) ON CONFLICT (device_id) DO UPDATE
                                SET failures = dead_letters.failures + 1, last_failed_at = excluded.last_failed_at,
                                last_reason = excluded.last_reason, harvest_id = excluded.harvest_id""",
                             (meter.device_id, reading.read_at, reading.read_at, reading.error, harvest_id))
            self.execute("UPDATE readings SET new_rows = ? WHERE harvest_id = ? AND device_id = ?",
                         (new, harvest_id, meter.device_id))
        return new

    # --- the meters harvested ------------------------------------------------------------

    def harvested_meter(self, device_id: str) -> tuple | None:
        """(serial, time zone name, last read) of a meter the harvester met, None for another."""
        rows = self.query("SELECT serial, timezone, last_read FROM meters WHERE device_id = ?", (device_id,))
        return rows[0] if rows else None

    def harvested_meter_ids(self) -> set:
        return {row[0] for row in self.query("SELECT device_id FROM meters")}

    # --- profiles, registers, events -----------------------------------------------------

    def captures_at(self, device_id: str, obis: str, times: list) -> dict:
        """time -> the register's value captured exactly then, for those of `times` that were captured."""
        found: dict = {}
        wanted = sorted(set(times))
        for start in range(0, len(wanted), _TIMES_PER_QUERY):
            chunk = wanted[start:start + _TIMES_PER_QUERY]
            found.update(self.query("SELECT captured_at, value FROM profile_values WHERE device_id = ? AND obis = ? "
                                    "AND captured_at IN (%s)" % ", ".join("?" * len(chunk)), [device_id, obis] + chunk))
        return found

    def captures_between(self, device_id: str, obis_codes: tuple, first: int, last: int) -> list:
        """(obis, time, value) of every capture of the registers from `first` to `last`, both included."""
        return self.query("SELECT obis, captured_at, value FROM profile_values WHERE device_id = ? AND captured_at "
                          "BETWEEN ? AND ? AND obis IN (%s)" % ", ".join("?" * len(obis_codes)),
                          [device_id, first, last] + list(obis_codes))

    def newest_capture(self, device_id: str) -> int | None:
        """Time of the meter's newest profile capture, of any profile; None without one."""
        return self.query("SELECT MAX(captured_at) FROM profile_values WHERE device_id = ?", (device_id,))[0][0]

    def has_captures(self, device_id: str, first: int, last: int) -> bool:
        """Whether the meter has a profile capture from `first` to `last`, both included."""
        return bool(self.query("SELECT 1 FROM profile_values WHERE device_id = ? AND captured_at BETWEEN ? AND ? "
                               "LIMIT 1", (device_id, first, last)))

    def newest_register_values(self, device_id: str, until: int | None = None) -> list:
        """(obis, read at, value, text) of the newest reading of each register (read at `until` or before), by OBIS."""
        bound, params = ("AND read_at <= ?", (device_id, until)) if until is not None else ("", (device_id,))
        return self.query("""SELECT r.obis, r.read_at, r.value, r.text FROM register_values r
                             JOIN (SELECT obis, MAX(read_at) AS read_at FROM register_values
                                   WHERE device_id = ? %s GROUP BY obis) newest
                               ON newest.obis = r.obis AND newest.read_at = r.read_at
                             WHERE r.device_id = ? ORDER BY r.obis""" % bound, params + (device_id,))

    def event_counts(self, device_id: str, first: int, end: int) -> list:
        """(code, count, last occurrence) of each kind of event in [first, end), by code."""
        return self.query("SELECT code, COUNT(*), MAX(occurred_at) FROM events WHERE device_id = ? AND "
                          "occurred_at >= ? AND occurred_at < ? GROUP BY code ORDER BY code", (device_id, first, end))
