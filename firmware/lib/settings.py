"""What the entity sets in the admin menu, kept as JSON inside a power-safe record.

Settings change a few times in a meter's life, so a readable JSON payload (the
record adds the sequence number and CRC) is worth its few hundred bytes.
"""

import json

try:
    from micropython import const
except ImportError:
    def const(x):  # type: ignore[misc]
        return x

# Integers, one a line: name, default, minimum, maximum (strings are checked by the admin
# menu). One flat tuple: a dict of (default, minimum, maximum) would hold 13 more objects.
_INTS = const((
    "credito_wh", 0, 0, 999900,          # CREDITO: the last advance the entity granted
    "credito_grant", 0, 0, 0xFFFF,       # its number: the ledger applies grant n+1 once (ledger.advance)
    "subsidio_wh", 0, 0, 999900,         # SUBSIDIO: kWh granted per month
    "fecha", 0, 0, 99991231,             # FECHA: date the meter went into service, YYYYMMDD
    "utc_offset_min", -300, -720, 840,   # local time for months and friendly hours (Colombia: -300)
    "friendly_start_h", -1, -1, 23,      # -1: no friendly hours
    "friendly_end_h", -1, -1, 23,
    "low_credit_wh", 2000, 0, 999900,
    "battery_cut_mv", 22800, 18000, 30000,
    "battery_restore_mv", 24800, 18000, 32000,
    "min_switch_s", 60, 0, 3600,
    "remote_open", 0, 0, 1,              # 1: the head-end disconnected the supply (DLMS disconnect control)
    "dlms_counter", 0, 0, 0xFFFFFFFF,    # DLMS suite 0: invocation counters below this may have been used
    "push_retries", 3, 0, 10,            # DLMS push: tries after a failed send, each push_delay_s later
    "push_delay_s", 60, 0, 3600,
))
# UID: entity NIT/CC, DID: cedula (the DLMS secrets are in credentials.py's record, not here)
_STRINGS = {"entity": "OPSM-SP-230", "uid": "", "did": "", "serial": "", "push_to": ""}  # push_to: "" = no push
_CHOICES = {"battery": ("lead-acid", "lifepo4")}  # first: default
# Held only once set (get() gives their default until then): a meter that never pushes spends no heap on them
_LAZY = ("push_to", "push_retries", "push_delay_s")


def _int_at(name) -> int:
    """Where an integer setting's name is in _INTS, or -1."""
    for at in range(0, len(_INTS), 4):
        if _INTS[at] == name:
            return at
    return -1


class Settings:
    def __init__(self, values=None):
        self.values: dict = {}
        for at in range(0, len(_INTS), 4):
            if _INTS[at] not in _LAZY:
                self.values[_INTS[at]] = _INTS[at + 1]
        for name, default in _STRINGS.items():
            if name not in _LAZY:
                self.values[name] = default
        for name, options in _CHOICES.items():
            self.values[name] = options[0]
        if values:
            for name, value in values.items():
                self._set(name, value)
            self._check()

    def get(self, name: str):
        values = self.values
        if name in values or name not in _LAZY:
            return values[name]
        at = _int_at(name)
        return _INTS[at + 1] if at >= 0 else _STRINGS[name]

    def set(self, name: str, value) -> None:
        """One setting by its rule; refused, with nothing changed, if it breaks a rule between two."""
        old = self.values[name] if name in self.values else None
        self._set(name, value)
        try:
            self._check()
        except ValueError:
            self.values[name] = old
            raise

    def _check(self) -> None:
        # The supply comes back well above where it was cut, or it would chatter at one voltage.
        if self.values["battery_restore_mv"] <= self.values["battery_cut_mv"]:
            raise ValueError("battery_restore_mv: must be above battery_cut_mv (hysteresis)")

    def _set(self, name: str, value) -> None:
        at = _int_at(name)
        if at >= 0:
            low, high = _INTS[at + 2], _INTS[at + 3]
            if not isinstance(value, int) or not low <= value <= high:
                raise ValueError("%s: must be a whole number %d..%d" % (name, low, high))
        elif name in _CHOICES:
            if value not in _CHOICES[name]:
                raise ValueError("%s: must be one of %s" % (name, ", ".join(_CHOICES[name])))
        elif name == "push_to" and value != "":  # "host:port" of the head-end's push receiver
            from protocol.push import parse_destination  # only on a meter that pushes

            try:
                parse_destination(value)
            except ValueError as e:
                raise ValueError("%s: %s" % (name, e))
        elif name in _STRINGS:
            if not isinstance(value, str) or len(value) > 24:
                raise ValueError("%s: must be text of at most 24 characters" % name)
        else:
            raise ValueError("%s: no such setting" % name)
        self.values[name] = value

    def pack(self) -> bytes:
        return json.dumps(self.values).encode()


def unpack_settings(data) -> Settings:
    try:
        values = json.loads(bytes(data).decode())
    except ValueError:
        raise ValueError("settings: record is not JSON")
    # Unknown names from a newer firmware are dropped rather than refusing to boot.
    return Settings({k: v for k, v in values.items() if _int_at(k) >= 0 or k in _STRINGS or k in _CHOICES})
