"""What the exports remember between runs: the SEC feed's batches and the digests of the records SEC holds
(host/sec.py), and the statistics of AMM channels' complete months (host/smec.py)."""

import time


class ExportTables:
    # --- the SEC feed --------------------------------------------------------------------

    def last_sec_batch(self) -> int | None:
        return self.query("SELECT MAX(id) FROM sec_batches")[0][0]

    def sec_initial_distributor(self) -> str | None:
        """The distributor of the newest initial load delivered, None before the first."""
        rows = self.query("SELECT distributor FROM sec_batches WHERE kind = 'initial' ORDER BY id DESC LIMIT 1")
        return rows[0][0] if rows else None

    def sec_held(self) -> dict:
        """record key -> digest of every record SEC holds."""
        return dict(self.query("SELECT record_key, digest FROM sec_records"))

    def record_sec_batch(self, header: dict, destination: str, dropped: list, held: list) -> None:
        """A delivered batch (its document's header), in one transaction: the keys of `dropped` (updated or
        deleted records) are forgotten, `held` (key, digest) stored; an initial load forgets every earlier record."""
        with self.transaction():
            if header["kind"] == "initial":
                self.execute("DELETE FROM sec_records")
            for key in dropped:
                self.execute("DELETE FROM sec_records WHERE record_key = ?", (key,))
            self.insert_ignore("sec_records", ("record_key", "digest", "batch"),
                               [(key, digest, header["batch"]) for key, digest in held])
            counts = header["counts"]
            self.execute("INSERT INTO sec_batches (id, kind, as_of, distributor, created_at, inserts, updates, "
                         "deletes, destination) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         (header["batch"], header["kind"], header["as_of"], header["distributor"], int(time.time()),
                          counts["insert"], counts["update"], counts["delete"], destination))

    # --- SMEC's channel months -----------------------------------------------------------

    def smec_months(self, month: str) -> dict:
        """channel -> (device_id, quantity, multiplier, maximum, total) of the month, as each channel was mapped."""
        return {row[0]: row[1:] for row in self.query(
            "SELECT channel, device_id, quantity, multiplier, maximum, total FROM smec_months WHERE month = ?",
            (month,))}

    def remember_smec_months(self, months: list) -> None:
        """(channel, month, device_id, quantity, multiplier, maximum, total) rows, replacing those stored, in one
        transaction."""
        with self.transaction():
            for row in months:
                self.execute("""INSERT INTO smec_months (channel, month, device_id, quantity, multiplier, maximum,
                                total) VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, month) DO UPDATE SET
                                device_id = excluded.device_id, quantity = excluded.quantity,
                                multiplier = excluded.multiplier, maximum = excluded.maximum,
                                total = excluded.total""", row)
