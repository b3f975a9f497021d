"""The meter's register map: one table that every view of the meter derives from.

REGISTERS (a row per value: OBIS, class, attribute, type, scaler and unit, names, IEC 62056-21
unit and decimals, Modbus address, snapshot key), SETTINGS (the field settings) and PROFILES
(OBIS, capture period, columns as register keys, capacity) feed the COSEM objects
(protocol/cosem_objects.py), the IEC 62056-21 readout (iec21_data_sets), the Modbus table
(protocol/modbus_map.py), the harvester's reading plan (host/harvest.py), the readings, reports
and exports (host/) and docs/dlms.md; the firmware's load profiles (firmware/lib/loadprofile.py
LAYOUTS, captured by Meter.second through Meter.value(key)) hold the map's layouts without
importing it. tests/host/test_register_map.py fails when any of them drifts. A value lives in the
meter's snapshot (Meter.snapshot(): integers in the unit and scaler given here) under its key.

Rows are namedtuples (MicroPython has them). The firmware loads this module with its optical port
(readout, DLMS), so every row and string here is heap on a board: keep rows flat and few.
"""

from collections import namedtuple

from . import axdr

# Interface classes (IEC 62056-6-2)
DATA = 1
REGISTER = 3
PROFILE_GENERIC = 7
CLOCK = 8
ASSOCIATION_LN = 15
IEC_HDLC_SETUP = 23
PUSH_SETUP = 40
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

# A value of the meter: its COSEM object and the attribute that holds it (the value is
# snapshot[key] * 10**scaler in the DLMS unit), its names, and where the other views put it:
# the IEC 62056-21 readout shows snapshot[key] / 10**decimals in iec_unit (Wh are read out as
# kWh; decimals None: not in the readout), Modbus holds it from address `modbus` (None: not there).
# A Setting's fields are a Register's first five.
Register = namedtuple("Register",
                      "obis class_id key type attribute scaler unit iec_unit decimals modbus name_en name_es")
# A field setting a management association reads and writes: the setting is its name (key) in
# firmware/lib/settings.py, which also holds its rule.
Setting = namedtuple("Setting", "obis class_id key type attribute")
# A profile generic: captured every period_s seconds (0: on event), the clock then `columns`
# (register keys), the newest `capacity` rows kept.
Profile = namedtuple("Profile", "obis period_s columns capacity")

CLOCK_OBIS = "0.0.1.0.0.255"
CREDIT_OBIS = "0.0.19.10.0.255"  # the credit's current amount, and its warning threshold (a field setting)
PUSH_SETUP_OBIS = "0.0.25.9.0.255"  # where and how the meter pushes its events (field settings)

# Names: English, then Spanish. Keys, OBIS codes and Modbus addresses are published: append only.
REGISTERS = (
    Register("0.0.96.1.0.255", DATA, "serial", axdr.OCTET_STRING, 2, 0, UNIT_NONE, "", 0, 24,
             "Serial number", "Número de serie"),
    Register("1.0.1.8.0.255", REGISTER, "import_wh", axdr.DOUBLE_LONG_UNSIGNED, 2, 0, UNIT_WH, "kWh", 3, 0,
             "Active energy import (+A)", "Energía activa consumida (+A)"),
    Register("1.0.2.8.0.255", REGISTER, "export_wh", axdr.DOUBLE_LONG_UNSIGNED, 2, 0, UNIT_WH, "kWh", 3, 2,
             "Active energy export (-A)", "Energía activa inyectada (-A)"),
    Register("1.0.3.8.0.255", REGISTER, "import_varh", axdr.DOUBLE_LONG_UNSIGNED, 2, 0, UNIT_VARH, "kvarh", 3, 4,
             "Reactive energy import (+R)", "Energía reactiva consumida (+R)"),
    Register("1.0.4.8.0.255", REGISTER, "export_varh", axdr.DOUBLE_LONG_UNSIGNED, 2, 0, UNIT_VARH, "kvarh", 3, 6,
             "Reactive energy export (-R)", "Energía reactiva inyectada (-R)"),
    Register("1.0.1.7.0.255", REGISTER, "power_w", axdr.DOUBLE_LONG, 2, 0, UNIT_W, "kW", 3, 8,
             "Active power, instantaneous (import positive)", "Potencia activa instantánea"),
    Register("1.0.32.7.0.255", REGISTER, "voltage_mv", axdr.DOUBLE_LONG_UNSIGNED, 2, -3, UNIT_V, "V", 3, 10,
             "Voltage, inverter output", "Tensión de salida del inversor"),
    Register("1.0.31.7.0.255", REGISTER, "current_ma", axdr.DOUBLE_LONG_UNSIGNED, 2, -3, UNIT_A, "A", 3, 12,
             "Current, load", "Corriente de carga"),
    Register("1.0.14.7.0.255", REGISTER, "freq_mhz", axdr.DOUBLE_LONG_UNSIGNED, 2, -3, UNIT_HZ, "Hz", 3, 14,
             "Frequency", "Frecuencia"),
    Register("1.0.13.7.0.255", REGISTER, "pf_milli", axdr.LONG, 2, -3, UNIT_NONE, "", 3, 16,
             "Power factor", "Factor de potencia"),
    Register("0.0.96.6.3.255", REGISTER, "battery_mv", axdr.DOUBLE_LONG_UNSIGNED, 2, -3, UNIT_V, "V", 3, 18,
             "Battery bank voltage", "Tensión del banco de baterías"),
    Register(CREDIT_OBIS, CREDIT, "credit_wh", axdr.DOUBLE_LONG, 2, 0, UNIT_WH, "kWh", 3, 20,
             "Credit available", "Crédito disponible"),
    Register("0.0.96.3.10.255", DISCONNECT_CONTROL, "relay", axdr.BOOLEAN, 2, 0, UNIT_NONE, "", 0, 22,
             "Relay: 1 closed (supply on), 0 open", "Relé: 1 cerrado (con suministro), 0 abierto"),
    Register("0.0.96.11.0.255", DATA, "event_code", axdr.LONG_UNSIGNED, 2, 0, UNIT_NONE, None, None, None,
             "Last event code", "Código del último evento"),  # the event log's column
)

# The Data objects (manufacturer-specific group C = 128) are the meter's own, the others are
# attributes of standard objects: the credit's warning_threshold, the clock's time_zone (minutes
# from local time to UTC: the setting negated) and the push setup's destination ("host:port" in its
# send_destination_and_method structure; "" = no push), retries and repetition delay.
# Append only: an ADMIN event names a row by its place.
SETTINGS = (
    Setting("0.0.128.0.0.255", DATA, "entity", axdr.VISIBLE_STRING, 2),         # the name on the main screen
    Setting("0.0.128.0.1.255", DATA, "friendly_start_h", axdr.INTEGER, 2),      # no cut from this local hour
    Setting("0.0.128.0.2.255", DATA, "friendly_end_h", axdr.INTEGER, 2),        # to this one (-1: none)
    Setting("0.0.128.0.3.255", DATA, "battery_cut_mv", axdr.LONG_UNSIGNED, 2),  # supply cut below, mV
    Setting("0.0.128.0.4.255", DATA, "battery_restore_mv", axdr.LONG_UNSIGNED, 2),  # and back above, mV
    Setting(CREDIT_OBIS, CREDIT, "low_credit_wh", axdr.DOUBLE_LONG, 5),   # low-credit warning, Wh
    Setting(CLOCK_OBIS, CLOCK, "utc_offset_min", axdr.LONG, 3),           # -(minutes east of UTC)
    Setting(PUSH_SETUP_OBIS, PUSH_SETUP, "push_to", axdr.STRUCTURE, 3),
    Setting(PUSH_SETUP_OBIS, PUSH_SETUP, "push_retries", axdr.UNSIGNED, 6),
    Setting(PUSH_SETUP_OBIS, PUSH_SETUP, "push_delay_s", axdr.LONG_UNSIGNED, 7),
)

# The load profiles (firmware/lib/loadprofile.py) in this order, then the event log
# (firmware/lib/eventlog.py: two segments of 128 events).
PROFILES = (
    Profile("1.0.99.1.0.255", 900, ("import_wh", "export_wh", "voltage_mv"), 96 * 7),  # 7 days
    Profile("1.0.99.2.0.255", 3600, ("import_wh", "import_varh", "export_varh", "battery_mv", "credit_wh"),
            24 * 35),  # 35 days
    Profile("0.0.99.98.0.255", 0, ("event_code",), 2 * 128),
)


def obis_bytes(obis: str) -> bytes:
    """The 6 bytes of "A.B.C.D.E.F"."""
    return bytes(int(part) for part in obis.split("."))


def by_key(key: str) -> Register:
    """The REGISTERS row of snapshot[key]."""
    for row in REGISTERS:
        if row.key == key:
            return row
    raise KeyError(key)


def setting_at(ln, attribute: int) -> int:
    """The SETTINGS row index of an object's attribute (logical name bytes), or -1."""
    for at, row in enumerate(SETTINGS):
        if row.attribute == attribute and obis_bytes(row.obis) == ln:
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
    return [(iec21_address(row.obis), formatted(snapshot[row.key], row.decimals), row.iec_unit)
            for row in REGISTERS if row.decimals is not None]
