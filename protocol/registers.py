"""The meter's registers: one table that every protocol reading the meter derives from.

Each row: OBIS code (IEC 62056-6-1), unit, decimals, and the key of the value in the
meter's snapshot (Meter.snapshot(), integers in milli-units or whole Wh). The IEC
62056-21 readout uses the C.D.E part of the code as its address.
"""

# (OBIS, unit, decimals, snapshot key)
REGISTERS = (
    ("0.0.96.1.0.255", "", 0, "serial"),
    ("1.0.1.8.0.255", "kWh", 3, "import_wh"),      # active energy import +A
    ("1.0.2.8.0.255", "kWh", 3, "export_wh"),      # active energy export -A
    ("1.0.3.8.0.255", "kvarh", 3, "import_varh"),  # reactive energy import +R
    ("1.0.4.8.0.255", "kvarh", 3, "export_varh"),  # reactive energy export -R
    ("1.0.1.7.0.255", "kW", 3, "power_w"),         # instantaneous active power
    ("1.0.32.7.0.255", "V", 3, "voltage_mv"),      # inverter output voltage
    ("1.0.31.7.0.255", "A", 3, "current_ma"),      # load current
    ("1.0.14.7.0.255", "Hz", 3, "freq_mhz"),
    ("1.0.13.7.0.255", "", 3, "pf_milli"),         # power factor
    ("0.0.96.6.3.255", "V", 3, "battery_mv"),      # battery bank voltage
    ("0.0.19.10.0.255", "kWh", 3, "credit_wh"),    # credit available
    ("0.0.96.3.10.255", "", 0, "relay"),           # disconnect control output state (1 closed)
)


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
    return [(iec21_address(obis), formatted(snapshot[key], decimals), unit)
            for obis, unit, decimals, key in REGISTERS]
