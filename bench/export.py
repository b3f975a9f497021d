"""A month of 1 000 AMM channels to Direct@mm workbooks, against the floor of the same work.

The store (a fresh SQLite file) holds 250 generator meters (4 channels each: KwhD, KvarhD,
KwhR, KvarhR) for the month and the six before it, as the harvester stores them: the hourly
profile (+A, +R, -R) every hour and the 15-minute profile (+A, -A) every 15 minutes in the
exported month (every hour before it, to keep the set-up short).

Measured in the same run, each timed with time.perf_counter:
  cold   host/smec.py export() of the month as `opsm export smec` runs it, the first time: it
         reads the month and the six before it from the profiles (Direct@mm's * and **
         checks) and keeps the complete months' statistics in the store.
  warm   the same export again, the usual monthly run: the six months' statistics come
         from the store, only the month is read.
  floor  the least any exporter does for the same files: fetch the month's rows of the
         four registers with one query per meter (no checks), and write the same numbers
         into the same number of workbooks with xlwt, nothing else.
Target (SPEC 9): a month of 1 000 channels to SMEC workbooks in <= 10 s (the warm run; the
cold one is printed too). The ratio warm / floor says what the checks and the constancia cost.

    .venv/bin/python bench/export.py [--channels 1000]
Exit status 1 if the target is missed or a workbook does not read back as written.
"""

import argparse
import os
import sys
import tempfile
import time
import zoneinfo

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import xlrd
import xlwt

from opsm.host import readings, smec
from opsm.host.store import Store

MONTH = "2026-03"
TZ = zoneinfo.ZoneInfo(smec.AMM_TIMEZONE)
HOURLY = ("1.0.99.2.0.255", (readings.QUANTITIES["KwhD"], readings.QUANTITIES["KvarhD"],
                             readings.QUANTITIES["KvarhR"]))
QUARTER = ("1.0.99.1.0.255", (readings.QUANTITIES["KwhD"], readings.QUANTITIES["KwhR"]))


def build(path: str, meters: int) -> None:
    """Seven months of profiles for `meters` meters, straight into the harvester's tables."""
    store = Store.open(path)
    first = readings.month_start(readings.shift(MONTH, -smec.HISTORY_MONTHS), TZ)
    month, end = readings.month_start(MONTH, TZ), readings.month_start(readings.shift(MONTH, 1), TZ)
    for device in range(meters):
        device_id = "G%04d" % device
        store.execute("INSERT INTO meters (device_id, serial, host, port, protocol, timezone) VALUES "
                      "(?, ?, '127.0.0.1', 4059, 'dlms-tcp', ?)", (device_id, "OPS%08d" % device, TZ.key))
        rows = []
        for profile, columns in (HOURLY, QUARTER):
            for n, obis in enumerate(columns):
                value = 1000.0 * device
                for t in range(first, end + 1, 900):
                    if t % 3600 and (profile == HOURLY[0] or t < month):
                        continue
                    rows.append((device_id, profile, t, obis, value))
                    value += (t // 900 + 7 * n + device) % 40
        store.db.cursor().executemany("INSERT INTO profile_values (device_id, profile, captured_at, obis, value) "
                                      "VALUES (?, ?, ?, ?, ?)", rows)
    store.db.commit()
    store.close()


def channel_map(path: str, meters: int) -> None:
    with open(path, "w") as f:
        f.write("channel,device_id,quantity,multiplier,participant\n")
        for device in range(meters):
            for n, quantity in enumerate(smec.ALL_QUANTITIES):
                f.write("%d,G%04d,%s,1,generador\n" % (1000 + 4 * device + n, device, quantity))


def floor(path: str, meters: int, out: str) -> float:
    """Fetch the month's rows, one query per meter, and write the numbers with xlwt alone."""
    started = time.perf_counter()
    store = Store.open(path)
    boundaries = readings.hour_boundaries(MONTH, TZ)
    hours = set(boundaries)
    columns = []
    for device in range(meters):
        values: dict = {obis: {} for obis in readings.QUANTITIES.values()}
        for obis, t, value in store.query("SELECT obis, captured_at, value FROM profile_values WHERE device_id = ? "
                                          "AND captured_at BETWEEN ? AND ?", ("G%04d" % device, boundaries[0],
                                                                              boundaries[-1])):
            if t in hours:
                values[obis][t] = value
        for obis in readings.QUANTITIES.values():
            series = [values[obis][t] for t in boundaries]
            columns.append([(b - a) / 1000 for a, b in zip(series, series[1:])])
    store.close()
    for book_number, first in enumerate(range(0, len(columns), smec.COLUMNS_PER_WORKBOOK)):
        book = xlwt.Workbook()
        sheet = book.add_sheet(smec.SHEET)
        for column, values in enumerate(columns[first:first + smec.COLUMNS_PER_WORKBOOK]):
            sheet.write(0, column, first + column)
            for hour, value in enumerate(values):
                sheet.write(hour + 1, column, value)
        book.save(os.path.join(out, "floor-%02d.xls" % book_number))
    return time.perf_counter() - started


def ours(path: str, channels_path: str, out: str) -> tuple:
    started = time.perf_counter()
    store = Store.open(path)
    summary = smec.export(store, channels_path, MONTH, out)
    store.close()
    return time.perf_counter() - started, summary


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--channels", type=int, default=1000)
    args = parser.parse_args()
    meters = max(1, args.channels // 4)
    folder = tempfile.mkdtemp(prefix="bench-export-")
    db, channels_path = os.path.join(folder, "harvest.sqlite"), os.path.join(folder, "channels.csv")
    started = time.perf_counter()
    build(db, meters)
    channel_map(channels_path, meters)
    print("set-up: %d meters, %d channels, 7 months of profiles in %.1f s" % (meters, 4 * meters,
                                                                           time.perf_counter() - started))
    cold, summary = ours(db, channels_path, os.path.join(folder, "cold"))
    warm, summary = ours(db, channels_path, os.path.join(folder, "warm"))
    os.makedirs(os.path.join(folder, "floor"))
    bottom = floor(db, meters, os.path.join(folder, "floor"))
    sheet = xlrd.open_workbook(summary["files"][0]).sheet_by_index(0)
    hours = len(readings.hour_boundaries(MONTH, TZ)) - 1
    readable = (sheet.nrows, sheet.ncols) == (hours + 1, smec.COLUMNS_PER_WORKBOOK) and sheet.cell_value(0, 0) == 1000
    print("ours cold: %d channels x %d hours, %d workbooks + constancia in %.2f s (six months read)" % (
        summary["channels"], hours, summary["workbooks"], cold))
    print("ours warm: %.2f s (target <= 10 s: %s)" % (warm, "met" if warm <= 10 else "MISSED"))
    print("floor (fetch + xlwt only): %.2f s" % bottom)
    print("ours warm / floor: %.2f   ours cold / floor: %.2f" % (warm / bottom, cold / bottom))
    print("workbook reads back with xlrd: %s" % ("yes" if readable else "NO"))
    return 0 if warm <= 10 and readable else 1


if __name__ == "__main__":
    sys.exit(main())
