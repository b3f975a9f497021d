"""Harvested data for the export tests: meters whose registers grow by a known amount every hour.

Stored through Store.save, exactly as the harvester stores a reading: the hourly profile
(+A, +R, -R) and the 15-minute profile (+A, -A), so the exports meet what they meet in use.
"""

from opsm.host import readings
from opsm.host.harvest import Reading
from opsm.host.inventory import Meter
from opsm.host.store import Store

QUARTER, HOURLY = "1.0.99.1.0.255", "1.0.99.2.0.255"
QUARTER_COLUMNS = (readings.QUANTITIES["KwhD"], readings.QUANTITIES["KwhR"], "1.0.32.7.0.255")
HOURLY_COLUMNS = (readings.QUANTITIES["KwhD"], readings.QUANTITIES["KvarhD"], readings.QUANTITIES["KvarhR"],
                  "0.0.96.6.3.255", "0.0.19.10.0.255")


def growth(device: int, obis: str, hour: int) -> int:
    """Wh (or varh) the register grows in the hour starting `hour` hours after 1970: varies by hour of day."""
    quantity = list(readings.QUANTITIES.values()).index(obis)
    return (37 * device + 11 * quantity + 7 * (hour % 24) + hour % 5) % 90 + 10 * (quantity % 2 == 0)


def register(device: int, obis: str, t: int) -> int:
    """The register at whole-hour time t (a closed form of the sum of growth), offset per device."""
    hours = t // 3600
    cycle = sum(growth(device, obis, h) for h in range(120))  # growth repeats every 120 hours (lcm of 24, 5)
    full, rest = divmod(hours, 120)
    return 1000000 * (device + 1) + full * cycle + sum(growth(device, obis, h) for h in range(full * 120, hours))


def meter(device: int, timezone: str = "America/Guatemala") -> Meter:
    return Meter("M%03d" % device, "OPS%08d" % (device + 1), "127.0.0.1", 4059 + device, "dlms-tcp", 16, {},
                 timezone)


def populate(store: Store, device: int, first: int, last: int, timezone: str = "America/Guatemala",
             skip: tuple = (), quarter: bool = True) -> None:
    """Hours first..last (seconds, whole hours) of one meter, minus the captures at times in `skip`."""
    reading = Reading()
    reading.ok = True
    reading.read_at = last
    reading.registers = {"0.0.96.1.0.255": "OPS%08d" % (device + 1), readings.IMPORT_WH: register(
        device, readings.IMPORT_WH, last)}
    times = [t for t in range(first, last + 1, 3600) if t not in skip]
    hourly = [(t,) + tuple(register(device, o, t) for o in HOURLY_COLUMNS[:3]) + (25600, 5000) for t in times]
    reading.profiles = [(HOURLY, HOURLY_COLUMNS, hourly)]
    if quarter:
        rows = [(t, register(device, QUARTER_COLUMNS[0], t), register(device, QUARTER_COLUMNS[1], t), 120000)
                for t in times]
        reading.profiles.append((QUARTER, QUARTER_COLUMNS, rows))
    reading.events = [(first + 7200, 1), (first + 86400, 2)]
    harvest_id = store.begin_harvest(1)
    store.save(harvest_id, meter(device, timezone), reading)
    store.end_harvest(harvest_id, 0)
