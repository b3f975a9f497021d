"""The meter's register map: one table that every protocol reading the meter derives from.

The DLMS/COSEM objects (protocol/cosem_objects.py), the IEC 62056-21 readout, the
Modbus table (protocol/modbus_map.py) and the harvester's reading plan all come from
REGISTERS and PROFILES. A value lives in the meter's snapshot (Meter.snapshot(): integers
in the unit and scaler given here) under its key.
"""

from protocol import axdr

# Interface classes (IEC 62056-6-2)
DATA = 1
REGISTER = 3
PROFILE_GENERIC = 7
CLOCK = 8
ASSOCIATION_LN = 15
IEC_HDLC_SETUP = 23
TCP_UDP_SETUP = 41
SECURITY_SETUP = 64
DISCONNECT_CONTROL = 70
ACCOUNT = 111
CREDIT = 112
CHARGE = 113
TOKEN_GATEWAY = 115

# Units (IEC 62056-6-2 table of units)
UNIT_SECOND = 7
UNIT_CURRENCY = 10
UNIT_W = 27
UNIT_VA = 28
UNIT_VAR = 29
UNIT_WH = 30
UNIT_VARH = 32
UNIT_A = 33
UNIT_V = 35
UNIT_HZ = 44
UNIT_NONE = 255

# (OBIS, class, snapshot key, A-XDR type, scaler, unit, IEC 62056-21 unit, IEC 62056-21 decimals, Modbus)
# The DLMS value is snapshot[key] * 10**scaler unit; the readout shows snapshot[key] / 10**decimals
# in its own unit (Wh are read out as kWh). Modbus: True when the value has holding registers.
REGISTERS = (
    ("0.0.96.1.0.255", DATA, "serial", axdr.OCTET_STRING, 0, UNIT_NONE, "", 0, False),
    ("1.0.1.8.0.255", REGISTER, "import_wh", axdr.DOUBLE_LONG_UNSIGNED, 0, UNIT_WH, "kWh", 3, True),     # +A
    ("1.0.2.8.0.255", REGISTER, "export_wh", axdr.DOUBLE_LONG_UNSIGNED, 0, UNIT_WH, "kWh", 3, True),     # -A
    ("1.0.3.8.0.255", REGISTER, "import_varh", axdr.DOUBLE_LONG_UNSIGNED, 0, UNIT_VARH, "kvarh", 3, True),  # +R
    ("1.0.4.8.0.255", REGISTER, "export_varh", axdr.DOUBLE_LONG_UNSIGNED, 0, UNIT_VARH, "kvarh", 3, True),  # -R
    ("1.0.1.7.0.255", REGISTER, "power_w", axdr.DOUBLE_LONG, 0, UNIT_W, "kW", 3, True),
    ("1.0.32.7.0.255", REGISTER, "voltage_mv", axdr.DOUBLE_LONG_UNSIGNED, -3, UNIT_V, "V", 3, True),  # inverter output
    ("1.0.31.7.0.255", REGISTER, "current_ma", axdr.DOUBLE_LONG_UNSIGNED, -3, UNIT_A, "A", 3, True),  # load current
    ("1.0.14.7.0.255", REGISTER, "freq_mhz", axdr.DOUBLE_LONG_UNSIGNED, -3, UNIT_HZ, "Hz", 3, True),
    ("1.0.13.7.0.255", REGISTER, "pf_milli", axdr.LONG, -3, UNIT_NONE, "", 3, True),
    ("0.0.96.6.3.255", REGISTER, "battery_mv", axdr.DOUBLE_LONG_UNSIGNED, -3, UNIT_V, "V", 3, True),  # battery bank
    ("0.0.19.10.0.255", CREDIT, "credit_wh", axdr.DOUBLE_LONG, 0, UNIT_WH, "kWh", 3, True),  # credit available
    ("0.0.96.3.10.255", DISCONNECT_CONTROL, "relay", axdr.BOOLEAN, 0, UNIT_NONE, "", 0, True),  # 1 closed
)

CLOCK_OBIS = "0.0.1.0.0.255"

# The field settings a management association reads and writes: (OBIS, class, setting, A-XDR type,
# attribute). The setting is its name in firmware/lib/settings.py, which also holds its rule;
# the Data objects (manufacturer-specific group C = 128) are the meter's own, the two others are
# attributes of standard objects: the credit's warning_threshold and the clock's time_zone (minutes
# from local time to UTC: the setting negated). Append only: an ADMIN event names a row by its place.
SETTINGS = (
    ("0.0.128.0.0.255", DATA, "entity", axdr.VISIBLE_STRING, 2),         # the name on the main screen
    ("0.0.128.0.1.255", DATA, "friendly_start_h", axdr.INTEGER, 2),      # no cut from this local hour
    ("0.0.128.0.2.255", DATA, "friendly_end_h", axdr.INTEGER, 2),        # to this one (-1: none)
    ("0.0.128.0.3.255", DATA, "battery_cut_mv", axdr.LONG_UNSIGNED, 2),  # supply cut below, mV
    ("0.0.128.0.4.255", DATA, "battery_restore_mv", axdr.LONG_UNSIGNED, 2),  # and back above, mV
    ("0.0.19.10.0.255", CREDIT, "low_credit_wh", axdr.DOUBLE_LONG, 5),   # low-credit warning, Wh
    (CLOCK_OBIS, CLOCK, "utc_offset_min", axdr.LONG, 3),                 # -(minutes east of UTC)
)
EVENT_CODE_OBIS = "0.0.96.11.0.255"   # the last event's code; the event log's second column

# (OBIS, capture period s (0: on event), columns after the clock as snapshot keys)
# Rows come from the meter's load profiles (firmware/lib/loadprofile.py) in this order,
# and the event log (firmware/lib/eventlog.py) for the last one.
PROFILES = (
    ("1.0.99.1.0.255", 900, ("import_wh", "export_wh", "voltage_mv")),
    ("1.0.99.2.0.255", 3600, ("import_wh", "import_varh", "export_varh", "battery_mv", "credit_wh")),
    ("0.0.99.98.0.255", 0, ("event_code",)),
)


def obis_bytes(obis: str) -> bytes:
    """The 6 bytes of "A.B.C.D.E.F"."""
    return bytes(int(part) for part in obis.split("."))


def register(key: str):
    """The REGISTERS row holding snapshot[key]."""
    for row in REGISTERS:
        if row[2] == key:
            return row
    raise KeyError(key)


def setting_at(ln, attribute: int) -> int:
    """The SETTINGS row index of an object's attribute (logical name bytes), or -1."""
    for at, row in enumerate(SETTINGS):
        if row[4] == attribute and obis_bytes(row[0]) == ln:
            return at
    return -1


def iec21_address(obis: str) -> str:
    """C.D.E of A.B.C.D.E.F."""
    return ".".join(obis.split(".")[2:5])


def formatted(value, decimals: int) -> str:
    if decimals == 0 or isinstance(value, str):
        return str(value)
    sign = "-" if value < 0 else ""
    value = -value if value < 0 else value
    step = 10 ** decimals
    return "%s%d.%0*d" % (sign, value // step, decimals, value % step)


def iec21_data_sets(snapshot: dict) -> list:
    """(address, value, unit) for the IEC 62056-21 readout."""
    return [(iec21_address(row[0]), formatted(snapshot[row[2]], row[7]), row[6]) for row in REGISTERS]
