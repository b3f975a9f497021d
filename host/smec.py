"""Hourly channel readings for Guatemala's SMEC, uploaded through the AMM's Direct@mm.

The "Formato carga de medición" workbook (.xls, BIFF8): up to 20 channel columns, the
first row holds each column's AMM channel number, then one row per hour of the month in
order (672 to 744 rows), each cell the energy of that hour in kWh or kvarh. A Large User
loads KwhD and KvarhD for each meter, generators, GDRs, transmitters and distributors
KwhD, KvarhD, KwhR and KvarhR, in that order. A batch upload is a .zip of at most 20
workbooks.

Before anything is written, the checks Direct@mm makes on a load: channels with missing
hours are incomplete (refused unless allowed; their missing hours stay empty cells, never
a guessed zero); `*` when a channel's maximum is above the average of its previous six
months' maxima, `**` when its sum is above the average of their sums. Only complete
previous months count; their statistics are kept in the store (smec_months) so a month's
export reads one month of profiles, not seven.

The channel map (CSV, .xlsx, or TOML with a [[channel]] table per row):
    channel      AMM channel number (a positive integer), unique
    device_id    the meter in the harvester's inventory
    quantity     KwhD, KvarhD, KwhR or KvarhR
    multiplier   the installation's CT x VT ratio applied to the meter's energy (default 1)
    participant  gran-usuario, generador, gdr, transportista or distribuidor
"""

import os
import re
import zipfile
import zoneinfo

import xlwt

from opsm.host import outfile, readings, rowfile
from opsm.host.smec_constancia import write_pdf, write_text

LARGE_USER = "gran-usuario"
ALL_QUANTITIES = ("KwhD", "KvarhD", "KwhR", "KvarhR")
PARTICIPANTS = {LARGE_USER: ALL_QUANTITIES[:2], "generador": ALL_QUANTITIES, "gdr": ALL_QUANTITIES,
                "transportista": ALL_QUANTITIES, "distribuidor": ALL_QUANTITIES}
COLUMNS_PER_WORKBOOK = 20
WORKBOOKS_PER_ZIP = 20
MAX_HOURS = 744
HISTORY_MONTHS = 6
SHEET = "Hoja1"  # the name Excel in Spanish gives the template's only sheet
AMM_TIMEZONE = "America/Guatemala"


class SmecError(ValueError):
    """Every problem found, one per line."""


class Channel:
    def __init__(self, number: int, device_id: str, quantity: str, multiplier: float, participant: str):
        self.number = number
        self.device_id = device_id
        self.quantity = quantity
        self.multiplier = multiplier
        self.participant = participant
        # filled by measure(): kWh (or kvarh) per hour, None where the hour is missing
        self.values: list = []
        self.maximum = 0.0
        self.total = 0.0
        self.history: list = []  # (maximum, total) of the complete previous months, newest first

    @property
    def missing(self) -> list:
        return [hour for hour, value in enumerate(self.values) if value is None]

    def averages(self) -> tuple:
        """(average maximum, average sum) of the complete previous months, (None, None) without any."""
        if not self.history:
            return None, None
        # rounded like the values themselves, so six equal maxima average to that maximum, not a hair below
        return (round(sum(m for m, _ in self.history) / len(self.history), 6),
                round(sum(t for _, t in self.history) / len(self.history), 6))

    @property
    def marks(self) -> tuple:
        """Direct@mm's marks: "*" maximum above the average maximum, "**" sum above the average sum."""
        average_max, average_sum = self.averages()
        if average_max is None or self.missing:
            return ()
        return (("*",) if self.maximum > average_max else ()) + (("**",) if self.total > average_sum else ())


def _channel(row: dict, bad) -> Channel:
    number = 0
    try:
        number = int(row.get("channel", ""))
        if number <= 0:
            raise ValueError
    except ValueError:
        bad("channel", "must be an AMM channel number (a positive integer)")
    device_id = row.get("device_id", "")
    if not device_id:
        bad("device_id", "must name a meter of the harvest database")
    quantity = row.get("quantity", "")
    if quantity not in ALL_QUANTITIES:
        bad("quantity", "must be one of " + ", ".join(ALL_QUANTITIES))
    multiplier = 1.0
    if row.get("multiplier"):
        try:
            multiplier = float(row["multiplier"].replace(",", "."))
            if not 0 < multiplier < 1e9:
                raise ValueError
        except ValueError:
            bad("multiplier", "must be a number above 0")
    participant = row.get("participant", "").lower()
    if participant not in PARTICIPANTS:
        bad("participant", "must be one of " + ", ".join(PARTICIPANTS))
    return Channel(number, device_id, quantity, multiplier, participant)


def _check_meters(channels: list, errors: list) -> None:
    """Each meter loads exactly the quantities of its kind of participant, each on one channel."""
    by_device: dict = {}
    for channel in channels:
        by_device.setdefault(channel.device_id, []).append(channel)
    for device_id, group in by_device.items():
        kinds = {c.participant for c in group}
        if len(kinds) > 1:
            errors.append("device %s: participant: one meter must have one kind of participant, got %s" % (
                device_id, ", ".join(sorted(kinds))))
            continue
        wanted = PARTICIPANTS.get(group[0].participant)
        if wanted is None:
            continue
        quantities = [c.quantity for c in group]
        if sorted(quantities) != sorted(wanted):
            errors.append("device %s: quantity: a %s loads %s, one channel each; the map has %s" % (
                device_id, group[0].participant, ", ".join(wanted), ", ".join(quantities)))


def load_channels(path: str) -> list:
    """The channel map in upload order (meters as first met, their quantities in AMM order)."""
    try:
        channels, errors = rowfile.checked(path, "channel", rowfile.CHANNELS.required, _channel, "channel",
                                           lambda c: c.number, optional=rowfile.CHANNELS.optional)
    except rowfile.RowFileError as exc:
        raise SmecError(str(exc)) from None
    _check_meters(channels, errors)
    if errors:
        raise SmecError("\n".join(errors))
    devices = list(dict.fromkeys(c.device_id for c in channels))
    return sorted(channels, key=lambda c: (devices.index(c.device_id), ALL_QUANTITIES.index(c.quantity)))


def _month_values(store, channels: list, month: str, tz) -> dict:
    """channel number -> kWh per hour of the month (None where missing), one query per meter."""
    out = {}
    by_device: dict = {}
    for channel in channels:
        by_device.setdefault(channel.device_id, []).append(channel)
    for device_id, group in by_device.items():
        hourly = readings.hourly(store, device_id, tuple(readings.QUANTITIES[c.quantity] for c in group), month, tz)
        for channel in group:
            scale = channel.multiplier / 1000.0
            out[channel.number] = [None if wh is None else round(wh * scale, 6)
                                   for wh in hourly[readings.QUANTITIES[channel.quantity]]]
    return out


def _history(store, channels: list, month: str, tz) -> list:
    """Each channel's (maximum, total) over its complete months among the six before `month`; the statistics
    computed for want of stored ones, as rows to remember."""
    computed_rows = []
    for back in range(1, HISTORY_MONTHS + 1):
        earlier = readings.shift(month, -back)
        stored = store.smec_months(earlier)
        unknown = [c for c in channels if stored.get(c.number, ())[:3] != (c.device_id, c.quantity, c.multiplier)]
        computed = _month_values(store, unknown, earlier, tz) if unknown else {}
        for channel in channels:
            values = computed.get(channel.number)
            if values is None:
                channel.history.append(tuple(stored[channel.number][3:]))
            elif None not in values:
                statistics = (max(values), round(sum(values), 6))
                channel.history.append(statistics)
                computed_rows.append(_month_row(channel, earlier, statistics))
    return computed_rows


def _month_row(channel: Channel, month: str, statistics: tuple) -> tuple:
    """A row of the store's smec_months: the channel's (maximum, total) in `month`, as it is mapped now."""
    return (channel.number, month, channel.device_id, channel.quantity, channel.multiplier) + statistics


def measure(store, channels: list, month: str, tz: zoneinfo.ZoneInfo) -> None:
    """Fill each channel's hourly values, maximum, sum and history; SmecError for a map the data cannot serve."""
    hours = len(readings.hour_boundaries(month, tz)) - 1
    if hours > MAX_HOURS:
        raise SmecError("month: %s has %d hours in %s; a Direct@mm workbook takes at most %d" % (
            month, hours, tz.key, MAX_HOURS))
    unknown = sorted({c.device_id for c in channels} - store.harvested_meter_ids())
    if unknown:
        raise SmecError("device_id: not in the harvest database: " + ", ".join(unknown))
    values = _month_values(store, channels, month, tz)
    if all(v is None for c in channels for v in values[c.number]):
        raise SmecError("month: no readings stored for %s on any channel of the map" % month)
    for channel in channels:
        channel.values = values[channel.number]
        present = [v for v in channel.values if v is not None]
        channel.maximum = max(present) if present else 0.0
        channel.total = round(sum(present), 6)
    complete = _history(store, channels, month, tz)
    complete += [_month_row(c, month, (c.maximum, c.total)) for c in channels if not c.missing]
    store.remember_smec_months(complete)


def workbook_groups(channels: list) -> list:
    """Channels in workbooks of at most 20 columns, a meter's channels never split across two."""
    groups: list = [[]]
    for device_id in dict.fromkeys(c.device_id for c in channels):
        meter = [c for c in channels if c.device_id == device_id]
        if len(groups[-1]) + len(meter) > COLUMNS_PER_WORKBOOK:
            groups.append([])
        groups[-1].extend(meter)
    return groups


def write_workbook(path: str, channels: list) -> None:
    book = xlwt.Workbook()
    sheet = book.add_sheet(SHEET)
    for column, channel in enumerate(channels):
        sheet.write(0, column, channel.number)
        for hour, value in enumerate(channel.values):
            if value is not None:
                sheet.write(hour + 1, column, value)
    with outfile.replacing(path) as temporary:
        book.save(temporary)


def _zip(path: str, members: list) -> None:
    with outfile.replacing(path) as temporary:
        with zipfile.ZipFile(temporary, "w", zipfile.ZIP_DEFLATED) as archive:
            for member in members:
                archive.write(member, os.path.basename(member))


def previous_set(out: str, stem: str) -> list:
    """The files of an earlier export of the month in `out` (workbooks, zips, constancia): the new set replaces them."""
    pattern = re.compile(re.escape(stem) + r"-(\d{2,}\.xls|lote-\d+\.zip|constancia\.(txt|pdf))")
    try:
        return sorted(name for name in os.listdir(out) if pattern.fullmatch(name))
    except OSError:
        return []


def export(store, channels_path: str, month: str, out: str, as_zip: bool = False, allow_incomplete: bool = False,
           timezone: str = AMM_TIMEZONE) -> dict:
    """Check, then write the month's workbooks (or zips of them) and the constancia, all or nothing; what was written.

    The set is staged in `out` and renamed into place together (host/outfile.staged), replacing the set of an
    earlier export of the month; on any failure (a full disk, say) `out` is left as it was and the OutputError
    names the file and the reason."""
    try:
        tz = zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        raise SmecError("timezone: must be an IANA time zone such as America/Guatemala, got %r" % timezone) from None
    readings.month_start(month, tz)  # a malformed month fails here, naming the field
    channels = load_channels(channels_path)
    measure(store, channels, month, tz)
    incomplete = [c for c in channels if c.missing]
    if incomplete and not allow_incomplete:
        raise SmecError("month %s: incomplete channels (use --allow-incomplete to load them anyway):\n%s" % (
            month, "\n".join("channel %d (%s %s): %d of %d hours missing, first at hour %d" % (
                c.number, c.device_id, c.quantity, len(c.missing), len(c.values), c.missing[0] + 1)
                for c in incomplete)))
    stem = "SMEC-%s" % month.replace("-", "")
    books = [("%s-%02d.xls" % (stem, n), group) for n, group in enumerate(workbook_groups(channels), 1)]
    written = []
    with outfile.staged(out, previous_set(out, stem)) as staging:
        if as_zip:
            paths = []
            for name, group in books:
                paths.append(staging.scratch(name))
                write_workbook(paths[-1], group)
            for n in range(0, len(paths), WORKBOOKS_PER_ZIP):
                written.append("%s-lote-%d.zip" % (stem, n // WORKBOOKS_PER_ZIP + 1))
                _zip(staging.file(written[-1]), paths[n:n + WORKBOOKS_PER_ZIP])
        else:
            for name, group in books:
                written.append(name)
                write_workbook(staging.file(name), group)
        written.append(stem + "-constancia.txt")
        write_text(staging.file(written[-1]), month, channels)
        written.append(stem + "-constancia.pdf")
        write_pdf(staging.file(written[-1]), month, channels)
    written = [os.path.join(out, name) for name in written]
    return {"month": month, "channels": len(channels), "workbooks": len(books), "files": written,
            "incomplete": [c.number for c in incomplete],
            "marked": {c.number: " ".join(c.marks) for c in channels if c.marks}}
