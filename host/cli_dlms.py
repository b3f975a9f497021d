"""`opsm dlms`: talk to one meter over DLMS/COSEM. Every command takes the same options for which meter and
how (`dlms_target`), gathered into one `DlmsTarget`."""

import contextlib
import dataclasses
import functools
import json

import click

from opsm.host.cli_common import CliError, emit, reports_errors


def _read_keys(path: str):
    from opsm.protocol.dlms_security import Keys

    with open(path) as f:
        return Keys.parse(f.read(), b"")  # the meter's system title comes in its AARE


@dataclasses.dataclass(frozen=True)
class DlmsTarget:
    """The meter a command talks to: the link (TCP wrapper, HDLC over TCP, or HDLC on a serial port, through
    an optical probe or not) and the association (client, LLS secret or HLS key file, invocation counter)."""

    host: str
    port: int
    hdlc: bool
    device: str
    baud: int
    optical: bool
    client_sap: str | None
    password: str | None
    hls_keys: str | None
    invocation_counter: int | None
    timeout: float

    @contextlib.contextmanager
    def client(self, refused: str = "meter: %s"):
        """An associated client for one command: released at the end, the link closed whatever happens, and
        a meter's refusal a CLI error (`refused` % the reason)."""
        from opsm.host import dlms as D

        keys = _read_keys(self.hls_keys) if self.hls_keys else None
        sap = int(self.client_sap) if self.client_sap else (1 if keys else (17 if self.password is not None else 16))
        counter = self.invocation_counter if self.invocation_counter is not None else D.growing_counter()
        try:
            link, client = D.open_session(self.host, self.port, "hdlc" if self.hdlc else "wrapper", sap,
                                          (self.password or "").encode(), keys, invocation_counter=counter,
                                          timeout=self.timeout, serial=self.device, baudrate=self.baud,
                                          optical=self.optical)
        except D.CosemError as exc:
            raise CliError("meter: %s" % exc) from None
        try:
            yield client
            client.release()
        except D.CosemError as exc:
            raise CliError(refused % exc) from None
        finally:
            link.close()


_TARGET_OPTIONS = (
    click.option("--host", default="127.0.0.1", show_default=True),
    click.option("--port", type=int, default=4059, show_default=True),
    click.option("--hdlc", is_flag=True, help="HDLC framing over TCP (default: the TCP wrapper)."),
    click.option("--serial", "device", default="", help="HDLC on this serial port instead of TCP."),
    click.option("--baud", type=int, default=9600, show_default=True),
    click.option("--optical", is_flag=True, help="With --serial: IEC 62056-21 mode E opening (optical probe)."),
    click.option("--client", "client_sap", type=click.Choice(["16", "17", "1"]), default=None,
                 help="16 public, 17 LLS, 1 HLS-GMAC (default: 17 with --password, 1 with --hls-keys)."),
    click.option("--password", default=None, help="LLS secret (management client 17)."),
    click.option("--hls-keys", type=click.Path(exists=True, dir_okay=False), default=None,
                 help="File with 'ek = HEX' and 'ak = HEX' (client 1, suite 0)."),
    click.option("--invocation-counter", type=int, default=None,
                 help="HLS: our invocation counter to start from (default: the time, so it always grows)."),
    click.option("--timeout", type=float, default=10.0, show_default=True))


def dlms_target(command):
    """The options that name the meter and the association, passed to `command` as one `target`."""
    fields = [field.name for field in dataclasses.fields(DlmsTarget)]

    @functools.wraps(command)
    def with_target(*args, **kwargs):
        target = DlmsTarget(**{name: kwargs.pop(name) for name in fields})
        return command(*args, target=target, **kwargs)

    for option in reversed(_TARGET_OPTIONS):
        with_target = option(with_target)
    return with_target


@click.group()
def dlms():
    """Talk to a meter over DLMS/COSEM: read it, deliver a token, switch its relay, set where it pushes its events."""


@dlms.command("read")
@dlms_target
@click.option("--profile", default=None, help="Also read this profile (e.g. 1.0.99.1.0.255).")
@click.option("--hours", type=int, default=0, help="With --profile: only the last N hours (selective access by range).")
@click.option("--json", "as_json", is_flag=True)
@reports_errors
def dlms_read(target, profile, hours, as_json):
    """Every register of the map, the clock, and optionally a load profile."""
    from opsm.host import dlms as D
    from opsm.protocol import axdr
    from opsm.protocol import registers as M
    from opsm.protocol.cosem_client import range_selection

    with target.client() as client:
        values = D.read_registers(client)
        rows = []
        if profile:
            selection = b""
            if hours:
                now = values[M.CLOCK_OBIS]
                selection = range_selection(axdr.date_time(now - hours * 3600, 0), axdr.date_time(now, 0))
            rows = D.read_profile(client, profile, selection)
    out = {"registers": values, "profile": [list(r) for r in rows]} if profile else {"registers": values}
    emit(out, as_json, "\n".join("%-16s %s" % item for item in values.items()) +
         ("\n%d profile rows" % len(rows) if profile else ""))


@dlms.command("token")
@click.argument("token")
@dlms_target
@reports_errors
def dlms_token(token, target):
    """Deliver a recharge code through the token gateway (0.0.19.40.0.255): applied as if typed."""
    from opsm.host import dlms as D
    from opsm.protocol.cosem_objects import TOKEN_GATEWAY_OBIS

    if not token.isdigit():
        raise CliError("token: must be digits only")
    with target.client() as client:
        try:
            client.enter_token(token)
            accepted = True
        except D.CosemError:
            accepted = False
        status = client.get(115, TOKEN_GATEWAY_OBIS, 6)[0]
    click.echo(json.dumps({"accepted": accepted, "token_status": status}))
    if not accepted:
        raise CliError("the meter refused the code (token status %d)" % status)


@dlms.command("relay")
@click.argument("action", type=click.Choice(["disconnect", "reconnect"]))
@dlms_target
@reports_errors
def dlms_relay(action, target):
    """Remote disconnect or reconnect (disconnect control 0.0.96.3.10.255); credit and battery rules still apply."""
    from opsm.protocol import registers as M

    relay = M.by_key("relay").obis
    with target.client() as client:
        client.action(70, relay, 1 if action == "disconnect" else 2, b"\x0f\x00")
        closed = client.get(70, relay, 2)
    click.echo(json.dumps({"relay": "closed" if closed else "open"}))


@dlms.command("clock")
@dlms_target
@click.option("--set", "set_to", default=None,
              help="'now' (this computer's UTC clock) or a UTC time YYYY-MM-DDTHH:MM[:SS]; without it, read only.")
@reports_errors
def dlms_clock(target, set_to):
    """Read the meter's clock, or set it (a management association: LLS or HLS). The meter refuses a step
    back of more than 5 minutes, and a second one within a day of its running time."""
    import datetime

    from opsm.host import dlms as D
    from opsm.protocol import civil
    from opsm.protocol import registers as M

    def iso(seconds: int) -> str:
        return datetime.datetime.fromtimestamp(seconds + civil.UNIX_2000, datetime.timezone.utc).isoformat()

    when_s = None
    if set_to:
        try:
            when = datetime.datetime.now(datetime.timezone.utc) if set_to == "now" else \
                datetime.datetime.fromisoformat(set_to).replace(tzinfo=datetime.timezone.utc)
        except ValueError:
            raise CliError("--set: 'now' or a UTC time YYYY-MM-DDTHH:MM[:SS], got %r" % set_to) from None
        when_s = int(when.timestamp()) - civil.UNIX_2000
    with target.client("meter: %s (a clock refused goes to its event log)") as client:
        before = D.clock_seconds(client.get(M.CLOCK, M.CLOCK_OBIS, 2))
        if when_s is not None:
            D.set_clock(client, when_s)
        after = D.clock_seconds(client.get(M.CLOCK, M.CLOCK_OBIS, 2))
    click.echo(json.dumps({"before": iso(before), "clock": iso(after)}))


@dlms.command("credentials")
@dlms_target
@click.option("--new-password", default=None, help="The management client's (17) new LLS secret, 8-32 characters.")
@click.option("--new-keys", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File with the new 'ek = HEX', 'ak = HEX' and 'kek = HEX': sent wrapped under the current kek.")
@reports_errors
def dlms_credentials(target, new_password, new_keys):
    """Change the meter's own DLMS secrets over an HLS association (--hls-keys with the current ek, ak and kek)."""
    from opsm.host import dlms as D
    from opsm.protocol.acse import check_lls_secret

    if not target.hls_keys:
        raise CliError("--hls-keys: secrets change only in an HLS association (the file with the current keys)")
    if not new_password and not new_keys:
        raise CliError("give --new-password and/or --new-keys")
    if new_password is not None:
        try:
            check_lls_secret(new_password.encode())  # the meter's own rule
        except ValueError as exc:
            raise CliError("--new-password: %s" % str(exc).split(": ", 1)[1]) from None
    current = _read_keys(target.hls_keys)
    keys = None
    if new_keys:
        keys = _read_keys(new_keys)
        if not current.kek or not keys.kek:
            raise CliError("kek: both key files need the master key (kek = HEX) to wrap and replace it")
    with dataclasses.replace(target, client_sap="1", password=None).client() as client:
        if new_password:
            D.set_lls_secret(client, new_password.encode())
        if keys is not None:
            D.transfer_keys(client, current.kek, {"ek": keys.ek, "ak": keys.ak, "kek": keys.kek})
    click.echo(json.dumps({"lls_password": bool(new_password), "keys": bool(keys)}))


@dlms.command("push-setup")
@dlms_target
@click.option("--destination", default=None, metavar="HOST:PORT",
              help="Where the meter pushes its events (DataNotifications on the TCP wrapper); 'off' stops pushing.")
@click.option("--retries", type=click.IntRange(0, 10), default=None, help="Tries after a failed send.")
@click.option("--delay", type=click.IntRange(0, 3600), default=None, help="Seconds between two tries.")
@click.option("--test", is_flag=True, help="Then ask the meter for a test push (method 1: event code 0).")
@reports_errors
def dlms_push_setup(target, destination, retries, delay, test):
    """Read the meter's push setup (0.0.25.9.0.255), or change it over a management association (LLS or HLS);
    each change is a field setting, saved by the meter at once."""
    from opsm.protocol import axdr
    from opsm.protocol import registers as M
    from opsm.protocol.push import parse_destination

    text = None
    if destination is not None:
        text = "" if destination == "off" else destination
        if text:
            try:
                parse_destination(text)  # the meter's own rule
            except ValueError as exc:
                raise CliError("--destination: %s" % exc) from None
    changes = []
    if text is not None:  # send_destination_and_method: TCP, "host:port", A-XDR
        data = bytearray()
        axdr.put_header(data, axdr.STRUCTURE, 3)
        axdr.put(data, axdr.ENUM, 0)
        axdr.put(data, axdr.OCTET_STRING, text.encode())
        axdr.put(data, axdr.ENUM, 0)
        changes.append((3, bytes(data)))
    for attribute, tag, value in ((6, axdr.UNSIGNED, retries), (7, axdr.LONG_UNSIGNED, delay)):
        if value is not None:
            data = bytearray()
            axdr.put(data, tag, value)
            changes.append((attribute, bytes(data)))
    with target.client("meter: %s (the public client only reads; other-reason 250: a value the meter refuses; "
                       "a test push needs a destination)") as client:
        for attribute, data in changes:
            client.set(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, attribute, data)
        if test:
            client.action(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 1, b"\x0f\x00")
        _, sent_to, _ = client.get(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 3)
        retries = client.get(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 6)
        delay = client.get(M.PUSH_SETUP, M.PUSH_SETUP_OBIS, 7)
    click.echo(json.dumps({"destination": sent_to.decode(), "retries": retries, "delay_s": delay, "test": test}))
