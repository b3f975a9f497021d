"""The harvester's inventory: which meters to read, where, how, with which credentials.

A row per meter (.xlsx, .xls or CSV with a header, or TOML with a [[meter]] table per meter; host/rowfile.py
reads them, and refuses a column not named here):
    device_id    the head-end's name for the meter (AMM's PrimeRead: DeviceID), unique
    serial       the meter's serial number (checked against what the meter says)
    host, port   IP address or name and TCP port (a NAT/PAT plan: one address, many ports);
                 for the serial protocols host is the device path and port the baud rate
    protocol     dlms-tcp, dlms-hdlc-tcp, dlms-hdlc-serial, iec21-serial or modbus-tcp
    client       DLMS client SAP: 16 public, 17 LLS, 1 HLS-GMAC (default 16)
    credentials  a name in the credentials file (password, or ek and ak), empty for none
    timezone     IANA time zone of the meter's site, e.g. America/Guatemala
Every row is checked; all errors are reported together, each naming the row and column (in English, and
in Spanish through InventoryError.text("es")).
"""

import tomllib
import zoneinfo

from opsm.host import rowfile
from opsm.host.rowfile import Rule

PROTOCOLS = ("dlms-tcp", "dlms-hdlc-tcp", "dlms-hdlc-serial", "iec21-serial", "modbus-tcp")
FIELDS = ("device_id", "serial", "host", "port", "protocol", "client", "credentials", "timezone")
METERS = rowfile.Table("meter", FIELDS[:5], FIELDS[5:])
SERIAL_PROTOCOLS = ("dlms-hdlc-serial", "iec21-serial")

_EMPTY = Rule("required", "must not be empty", "no puede estar vacío")
_HOST = Rule("host", "must be an address (or the device path for a serial protocol)",
             "debe ser una dirección (o la ruta del dispositivo en un protocolo serie)")
_PROTOCOL = Rule("protocol", "must be one of " + ", ".join(PROTOCOLS), "debe ser uno de " + ", ".join(PROTOCOLS))
_BAUD = Rule("baud", "must be a baud rate", "debe ser una velocidad en baudios")
_PORT = Rule("port", "must be a TCP port 1..65535", "debe ser un puerto TCP 1..65535")
_CLIENT = Rule("client", "must be 16 (public), 17 (LLS) or 1 (HLS-GMAC)",
               "debe ser 16 (público), 17 (LLS) o 1 (HLS-GMAC)")
_CREDENTIALS = Rule("credentials", "must name an entry of the credentials file",
                    "debe nombrar una entrada del archivo de credenciales")
_TIMEZONE = Rule("timezone", "must be an IANA time zone such as America/Guatemala",
                 "debe ser una zona horaria IANA como America/Guatemala")
_NEEDS = {16: ("no credentials", "no lleva credenciales"), 1: ("keys (ek, ak)", "necesita llaves (ek, ak)"),
          17: ("a password", "necesita una contraseña")}


class InventoryError(ValueError):
    """Every problem found in an inventory, one per line; `problems` holds them (rowfile.Problem)."""

    def __init__(self, problems):
        self.problems = [problems] if isinstance(problems, str) else list(problems)
        super().__init__("\n".join(self.problems))

    def text(self, lang: str = "es") -> str:
        return "\n".join(p.text(lang) if isinstance(p, rowfile.Problem) else p for p in self.problems)


class Meter:
    def __init__(self, device_id: str, serial: str, host: str, port: int, protocol: str, client: int,
                 credentials: dict, timezone: str, credentials_name: str = ""):
        self.device_id = device_id
        self.serial = serial
        self.host = host
        self.port = port
        self.protocol = protocol
        self.client = client
        self.credentials = credentials  # {"password": bytes} or {"ek": bytes, "ak": bytes} or {}
        self.timezone = timezone
        self.credentials_name = credentials_name  # the entry of the credentials file they came from

    def row(self) -> dict:
        """The meter as an inventory row, credentials by name only: what may leave the machine holding the secrets
        (a distributed run's shards are stored in the database, and the workers hold the credentials file)."""
        return {"device_id": self.device_id, "serial": self.serial, "host": self.host, "port": str(self.port),
                "protocol": self.protocol, "client": str(self.client), "credentials": self.credentials_name,
                "timezone": self.timezone}

    def __repr__(self) -> str:
        return "Meter(%s %s %s:%d)" % (self.device_id, self.protocol, self.host, self.port)


def load_credentials(path: str | None) -> dict:
    """name -> {"password": bytes} and/or {"ek": bytes, "ak": bytes, "kek": bytes}, from a TOML file of
    [name] tables (what `opsm fw provision` appends: a meter's LLS secret and HLS keys together)."""
    if not path:
        return {}
    with open(path, "rb") as f:
        try:
            doc = tomllib.load(f)
        except tomllib.TOMLDecodeError as exc:
            raise InventoryError("%s: not valid TOML: %s" % (path, exc)) from None
    out = {}
    for name, entry in doc.items():
        if not isinstance(entry, dict) or not ("password" in entry or "ek" in entry):
            raise InventoryError("%s: %s: must be a table with password, or ek and ak" % (path, name))
        secret: dict = {}
        if "password" in entry:
            secret["password"] = str(entry["password"]).encode()
        if "ek" in entry:
            try:
                keys = {k: bytes.fromhex(str(entry[k])) for k in ("ek", "ak", "kek")[:3 if "kek" in entry else 2]}
            except (KeyError, ValueError):
                raise InventoryError("%s: %s: needs ek and ak in hexadecimal" % (path, name)) from None
            if any(len(v) != 16 for v in keys.values()):
                raise InventoryError("%s: %s: ek, ak (and kek) must be 16 bytes (32 hex digits)" % (path, name))
            secret.update(keys)
        out[name] = secret
    return out


def _check(row: dict, credentials: dict, bad) -> Meter:
    device_id, serial, host = row.get("device_id", ""), row.get("serial", ""), row.get("host", "")
    protocol = row.get("protocol", "")
    if not device_id:
        bad("device_id", _EMPTY)
    if not serial:
        bad("serial", _EMPTY)
    if not host:
        bad("host", _HOST)
    if protocol not in PROTOCOLS:
        bad("protocol", _PROTOCOL)
    port = 0
    try:
        port = int(row.get("port", ""))
        if not 1 <= port <= (4000000 if protocol in SERIAL_PROTOCOLS else 65535):
            raise ValueError
    except ValueError:
        bad("port", _BAUD if protocol in SERIAL_PROTOCOLS else _PORT)
    client = 16
    if row.get("client"):
        try:
            client = int(row["client"])
            if client not in (1, 16, 17):
                raise ValueError
        except ValueError:
            bad("client", _CLIENT)
    name = row.get("credentials", "")
    secret: dict = {}
    if name:
        if name not in credentials:
            bad("credentials", _CREDENTIALS)
        else:
            secret = credentials[name]
            wanted = "ek" if client == 1 else "password"
            if client == 16 or wanted not in secret:
                en, es = _NEEDS[client]
                bad("credentials", Rule("client_credentials", "client %d needs %s" % (client, en),
                                        "el cliente %d %s" % (client, es)))
    elif client != 16:
        bad("credentials", Rule("client_credentials", "client %d needs credentials" % client,
                                "el cliente %d necesita credenciales" % client))
    timezone = row.get("timezone") or "UTC"
    try:
        zoneinfo.ZoneInfo(timezone)
    except (zoneinfo.ZoneInfoNotFoundError, ValueError):
        bad("timezone", _TIMEZONE)
    return Meter(device_id, serial, host, port, protocol, client, secret, timezone, name)


def load(path: str, credentials_path: str | None = None) -> list:
    """The meters of an inventory file; InventoryError lists every bad row and field."""
    credentials = load_credentials(credentials_path)
    try:
        meters, problems = rowfile.checked(path, METERS.kind, METERS.required,
                                           lambda row, bad: _check(row, credentials, bad), "device_id",
                                           lambda meter: meter.device_id, optional=METERS.optional)
    except rowfile.RowFileError as exc:
        raise InventoryError(exc.problems) from None
    if problems:
        raise InventoryError(problems)
    return meters


def from_row(row: dict, credentials: dict, where: str) -> Meter:
    """A meter from an inventory row kept elsewhere (Meter.row(): a shard of a distributed run), checked as a file's
    row is, its credentials resolved in `credentials` (load_credentials); InventoryError names `where` and the field."""
    problems: list = []

    def bad(column, rule):
        problems.append(rowfile.Problem(where, None, column, rule, row.get(column, "")))

    meter = _check(row, credentials, bad)
    if problems:
        raise InventoryError(problems)
    return meter
