"""Energy out of the harvested profiles: hourly and monthly, in the meter's local time.

Energies are registers that only grow (Wh, varh), captured in the load profiles at every
boundary; the energy of an interval is the register at its end minus the register at its
start. Both profiles are used: the hourly one keeps +A, +R and -R for weeks, the
15-minute one keeps +A and -A, and each captures at every whole hour. An interval whose
boundary is missing, or whose register went backwards (a replaced meter), has no energy:
None, never a guessed value.
"""

import datetime
import zoneinfo

from opsm.protocol import registers

# The energies a market or regulator asks for, by their AMM names (Direct@mm "Magnitudes a registrar"):
# AMM name -> the register map's key (stored under its OBIS code).
QUANTITY_KEYS = {
    "KwhD": "import_wh",      # active energy delivered to the customer (+A)
    "KvarhD": "import_varh",  # reactive energy, import (+R)
    "KwhR": "export_wh",      # active energy received from the customer (-A)
    "KvarhR": "export_varh",  # reactive energy, export (-R)
}
QUANTITIES = {name: registers.by_key(key).obis for name, key in QUANTITY_KEYS.items()}  # AMM name -> OBIS
IMPORT_WH, EXPORT_WH = QUANTITIES["KwhD"], QUANTITIES["KwhR"]


def month_start(month: str, tz: zoneinfo.ZoneInfo) -> int:
    """Seconds since 1970 UTC of local midnight starting month "YYYY-MM"; ValueError for a bad month."""
    try:
        year, number = (int(part) for part in month.split("-"))
        start = datetime.datetime(year, number, 1, tzinfo=tz)
    except ValueError:
        raise ValueError("month: must be YYYY-MM, got %r" % month) from None
    if len(month) != 7:
        raise ValueError("month: must be YYYY-MM, got %r" % month)
    return int(start.timestamp())


def shift(month: str, count: int) -> str:
    """The month `count` months after (negative: before) "YYYY-MM"."""
    year, number = (int(part) for part in month.split("-"))
    index = year * 12 + number - 1 + count
    return "%04d-%02d" % (index // 12, index % 12 + 1)


def months_ending(last: str, count: int) -> list:
    """`count` months in order, the last one being `last`."""
    return [shift(last, n - count + 1) for n in range(count)]


def month_of(seconds: int, tz: zoneinfo.ZoneInfo) -> str:
    return datetime.datetime.fromtimestamp(seconds, tz).strftime("%Y-%m")


def timezone(store, device_id: str) -> zoneinfo.ZoneInfo:
    """The time zone the harvester's inventory gave the meter (UTC when it was never harvested)."""
    meter = store.harvested_meter(device_id)
    return zoneinfo.ZoneInfo(meter[1] if meter else "UTC")


def differences(values: dict, boundaries: list) -> list:
    """The growth of a register over each interval between consecutive boundaries, None where unknown."""
    out = []
    for start, end in zip(boundaries, boundaries[1:]):
        a, b = values.get(start), values.get(end)
        out.append(b - a if a is not None and b is not None and b >= a else None)
    return out


def hour_boundaries(month: str, tz: zoneinfo.ZoneInfo) -> list:
    """Every hour boundary of a local month, from its first midnight to the next month's."""
    start, end = month_start(month, tz), month_start(shift(month, 1), tz)
    return list(range(start, end + 1, 3600))


def hourly(store, device_id: str, obis_codes: tuple, month: str, tz: zoneinfo.ZoneInfo) -> dict:
    """obis -> the register's growth in each hour of the month (672 to 744 values, None where unknown);
    one query per meter, the 15-minute captures between hours left out."""
    boundaries = hour_boundaries(month, tz)
    hours = set(boundaries)
    values: dict = {obis: {} for obis in obis_codes}
    for obis, t, value in store.captures_between(device_id, obis_codes, boundaries[0], boundaries[-1]):
        if t in hours:
            values[obis][t] = value
    return {obis: differences(values[obis], boundaries) for obis in obis_codes}


def monthly(store, device_id: str, obis: str, months: list, tz: zoneinfo.ZoneInfo) -> list:
    """The register's growth over each of consecutive `months`, None where a boundary is missing."""
    boundaries = [month_start(m, tz) for m in months] + [month_start(shift(months[-1], 1), tz)]
    return differences(store.captures_at(device_id, obis, boundaries), boundaries)


def monthly_charges(store, customer_id: str, months: list, tz: zoneinfo.ZoneInfo) -> list:
    """Cents charged to the customer in each month (0 for a month without charges)."""
    first, end = month_start(months[0], tz), month_start(shift(months[-1], 1), tz)
    totals = dict.fromkeys(months, 0)
    for billed_at, amount in store.charges_between(customer_id, first, end):
        totals[month_of(billed_at, tz)] += amount
    return [totals[m] for m in months]
