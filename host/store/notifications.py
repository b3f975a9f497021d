"""Notifications meters push (host/headend/listen.py): the events they carry, the last invocation counter accepted
from each meter, and the frames refused.

Pushed events have a table of their own, not the harvested `events`: the harvester resumes a meter's event log
after MAX(occurred_at) in `events`, so a pushed event stored there would make the next harvest skip the older
events it has not fetched yet. Times are seconds since 1970-01-01 UTC.
"""

from opsm.protocol import events

MAX_REFUSALS = 100_000  # refused frames kept, the newest
_EVENT_COLUMNS = ("device_id", "sequence", "occurred_at", "code", "payload_a", "payload_b", "credit_wh",
                  "relay_closed", "priority", "sent_at", "invocation_counter", "received_at", "peer")


class NotificationTables:
    def store_push(self, device_id: str, note, received_at: int, peer: str) -> str | None:
        """Store a pushed event (a headend.notification.Notification) unless it is a replay: None when stored,
        else why not, and nothing is written. The check and the writes are one transaction that holds the meter's
        lock, so a restarted listener, or two listeners on one database, refuse a counter or an event twice."""
        with self.exclusive("pushed events of " + device_id):
            counter = note.invocation_counter
            if counter is not None:
                last = self.query("SELECT invocation_counter FROM push_counters WHERE device_id = ?", (device_id,))
                if last and counter <= last[0][0]:
                    return "replay: invocation counter %d not above the last accepted %d" % (counter, last[0][0])
            if note.code == events.PUSH_TEST:  # no event of the log: its counter is spent, nothing is stored
                self._spend_counter(device_id, counter, received_at)
                return None
            if self.query("SELECT 1 FROM pushed_events WHERE device_id = ? AND sequence = ?",
                          (device_id, note.invoke_id)):
                return "replay: event %d of the meter's log already stored" % note.invoke_id
            self.execute("INSERT INTO pushed_events (%s) VALUES (%s)" % (", ".join(_EVENT_COLUMNS),
                                                                         ", ".join("?" * len(_EVENT_COLUMNS))),
                         (device_id, note.invoke_id, note.occurred_at, note.code, note.payload_a, note.payload_b,
                          note.credit_wh, int(note.relay_closed), int(note.priority), note.sent_at, counter,
                          received_at, peer))
            self._spend_counter(device_id, counter, received_at)
        return None

    def _spend_counter(self, device_id: str, counter: int | None, received_at: int) -> None:
        """The meter's last accepted invocation counter is now `counter` (None: a plain notification, no counter)."""
        if counter is not None:
            self.execute("""INSERT INTO push_counters (device_id, invocation_counter, updated_at) VALUES (?, ?, ?)
                            ON CONFLICT (device_id) DO UPDATE SET invocation_counter = excluded.invocation_counter,
                            updated_at = excluded.updated_at""", (device_id, counter, received_at))

    def refuse_push(self, peer: str, received_at: int, reason: str, frame_head: str,
                    keep: int = MAX_REFUSALS) -> None:
        """A refused frame: who sent it, when, why, and its first bytes in hexadecimal. Only the newest `keep` are
        kept: a peer sending garbage on every connection must not fill the disk."""
        with self.transaction():
            self.execute("INSERT INTO push_refusals (peer, received_at, reason, frame_head) VALUES (?, ?, ?, ?)",
                         (peer, received_at, reason, frame_head))
            self.execute("DELETE FROM push_refusals WHERE id <= (SELECT MAX(id) FROM push_refusals) - ?", (keep,))
